//! Building the workspace binaries a template names, before a simulation.

use std::path::Path;

use super::SimulateError;
use super::setup::Setup;

pub(super) fn build(setup: &Setup, base: &Path) -> Result<(), SimulateError> {
    let mut bins: Vec<&str> = std::iter::once(&setup.function)
        .chain(setup.hooks.iter().map(|(_, h)| h))
        .filter_map(|f| f.cargo_bin.as_deref())
        .collect();
    bins.sort_unstable();
    bins.dedup();
    if bins.is_empty() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(&cargo);
    if !base.as_os_str().is_empty() {
        cmd.current_dir(base);
    }
    cmd.args(["build", "--release"]);
    for b in &bins {
        cmd.args(["--bin", b]);
    }
    eprintln!("building: cargo build --release --bin {}", bins.join(" --bin "));
    let status = cmd.status().map_err(|source| SimulateError::Cargo {
        cargo: cargo.clone(),
        source,
    })?;
    if !status.success() {
        return Err(SimulateError::Build(status));
    }
    Ok(())
}
