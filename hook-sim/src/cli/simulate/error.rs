//! Why a simulation could not run: the set-up errors of `simulate`, `serve` and `audit`.

use hook_sim::stack::StackError;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SimulateError {
    /// The template cannot be simulated.
    #[error(transparent)]
    Template(#[from] StackError),
    /// An option is wrong, or a binary is missing; the message says what to do.
    #[error("{0}")]
    Usage(String),
    /// hook-sim's endpoints could not start.
    #[error("cannot start hook-sim on 127.0.0.1")]
    Start(#[source] std::io::Error),
    /// `serve` could not listen on the port asked for.
    #[error("cannot listen on 127.0.0.1:{port} ({source}){}", listen_hint(source))]
    Listen {
        /// The port.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// A function's Runtime API could not start.
    #[error("cannot start a Lambda Runtime API for {function}")]
    Runtime {
        /// The function.
        function: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// cargo could not be run.
    #[error("cannot run {cargo}")]
    Cargo {
        /// The cargo command.
        cargo: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `cargo build` failed.
    #[error("cargo build failed ({0}): see its output above")]
    Build(std::process::ExitStatus),
}

/// What to do when a port cannot be listened on.
pub(crate) fn listen_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            ": another process listens there (an earlier `hook-sim serve`?): stop it, pick another --port, or --port 0 for any free one"
        }
        std::io::ErrorKind::PermissionDenied => ": ports below 1024 need privileges: pick another --port, or --port 0",
        _ => "",
    }
}
