//! `hook-sim simulate`: a function's CodeDeploy deployment, from its SAM template, run
//! locally by hook-sim with the real function and hook binaries.
//!
//! `setup` is what a simulation runs, which `template` reads from a SAM template
//! (`cloudformation` from the plain CloudFormation the Serverless Framework and CDK emit), with
//! `functions` (how each runs, hooks included), `configs`, `alarms`, `triggers` and `roles`; `build` runs cargo for it, `render` prints the
//! live timeline and the summary; this module holds the options and runs the deployment.

mod build;
pub(crate) mod check;
mod rehearsal;
mod render;
mod serve;

pub(crate) use serve::{METRICS_AT_ONCE_WARNING, serve_stack};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use hook_sim::VersionFault;
use hook_sim::deploy::FinalStatus;
use hook_sim::schedule::TrafficRouting;
use hook_sim::stack::{StackError, Template};

pub(crate) use self::rehearsal::{Prepared, Rehearsal, RunOptions, prepare, rehearse};
use self::render::print_summary;
use crate::cli::key_value;
use hook_sim::stack::setup::{Setup, TARGET};

pub(crate) const EXAMPLES: &str = "\
Examples:
  hook-sim simulate                                   the HelloFunction canary of ./template.yaml
  hook-sim simulate --build                           build the binaries first (cargo build --release)
  hook-sim simulate --target-env HELLO_FAULT=error    the pre-traffic hook catches it: rolled back
  hook-sim simulate --target-env HELLO_FAULT=flaky    errors under traffic fire the alarm: rolled back
  hook-sim simulate --config Linear10PercentEvery1Minute --speed 600
  hook-sim simulate --parameter PreTrafficHookKind=spec --report json
  hook-sim simulate --parameter PreTrafficHookKind=spec --spec my-checks.yaml

Exit status: 0 the deployment succeeded, 1 it was rolled back, 2 bad usage or set-up.";

/// The stack and how its functions run: what `simulate` deploys and `serve` serves.
#[derive(Args, Debug, Clone)]
pub(crate) struct StackArgs {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    pub(crate) template: PathBuf,
    /// The logical id of the function (default: `simulate` deploys the one function with an
    /// enabled DeploymentPreference, `serve` serves every function deployed gradually).
    #[arg(long, value_name = "LOGICAL_ID")]
    pub(crate) function: Option<String>,
    /// Environment of the current version's process, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub(crate) current_env: Vec<(String, String)>,
    /// Environment of the target version's process, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub(crate) target_env: Vec<(String, String)>,
    /// The current version's binary (default: the function's own).
    #[arg(long, value_name = "PATH")]
    pub(crate) current_bin: Option<PathBuf>,
    /// The target version's binary (default: the function's own).
    #[arg(long, value_name = "PATH")]
    pub(crate) target_bin: Option<PathBuf>,
    /// The binary of a function of the template, LOGICAL_ID=PATH (repeatable).
    #[arg(long = "bin", value_name = "LOGICAL_ID=PATH", value_parser = key_value)]
    pub(crate) bins: Vec<(String, String)>,
    /// Another stack's template whose exports this one imports (`Fn::ImportValue`), such as a
    /// hook shared by many stacks (repeatable). Simulated as the stack named after its folder.
    #[arg(long = "with", value_name = "TEMPLATE")]
    pub(crate) with: Vec<PathBuf>,
    /// A template parameter, NAME=VALUE (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = key_value)]
    pub(crate) parameters: Vec<(String, String)>,
    /// The stack name the template is simulated as (`AWS::StackName`).
    #[arg(long, default_value = "sam-app")]
    pub(crate) stack_name: String,
    /// Build the workspace binaries the template names first (`cargo build --release --bin ...`).
    #[arg(long)]
    pub(crate) build: bool,
    /// The Python that runs `python3.x` functions: it needs the Lambda runtime interface
    /// client (`pip install awslambdaric`).
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub(crate) python: PathBuf,
    /// The Node.js that runs `nodejs*` functions (hook-sim brings the Runtime API loop).
    #[arg(long, value_name = "PATH", default_value = "node")]
    pub(crate) node: PathBuf,
    /// Only reading the template (`check`): a function whose binary cannot be told is no error.
    #[arg(skip)]
    pub(crate) reading_only: bool,
}

impl StackArgs {
    /// Each version's binary and environment, from these options.
    pub(crate) fn version_overrides(&self) -> hook_sim::rehearsal::VersionOverrides {
        hook_sim::rehearsal::VersionOverrides {
            current_bin: self.current_bin.clone(),
            target_bin: self.target_bin.clone(),
            current_env: self.current_env.clone(),
            target_env: self.target_env.clone(),
        }
    }

    /// How the library reads the stack, from these options.
    pub(crate) fn read_options(&self) -> hook_sim::stack::setup::ReadOptions {
        hook_sim::stack::setup::ReadOptions {
            function: self.function.clone(),
            bins: self.bins.clone(),
            build: self.build,
            python: self.python.clone(),
            node: self.node.clone(),
            reading_only: self.reading_only,
        }
    }
}

/// What every rehearsal of a stack shares: `simulate` runs one, `audit` many.
#[derive(Args, Debug, Clone)]
pub(crate) struct RehearsalArgs {
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    /// The deployment configuration, instead of DeploymentPreference.Type: a predefined one
    /// (`Linear10PercentEvery1Minute`, `CodeDeployDefault.LambdaCanary10Percent5Minutes`, ...)
    /// or the logical id of an AWS::CodeDeploy::DeploymentConfig in the template.
    #[arg(long, value_name = "NAME")]
    pub(crate) config: Option<String>,
    /// Simulated seconds per real second between events (default: 60, or more so that shifting
    /// traffic takes at most 10 s). Hooks and functions run in real time, and simulated time
    /// with them while one runs: the speed changes how long the run takes, not its outcome.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub(crate) speed: Option<f64>,
    /// Environment of every hook's process, KEY=VALUE (repeatable): `HOOK_SPEC_FILE=$PWD/my.yaml`
    /// points hook-runner at your own spec.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    pub(crate) hook_env: Vec<(String, String)>,
    /// Your own spec for the template's hook-runner hooks (those whose environment names a
    /// `HOOK_SPEC_FILE`, or that run hook-runner): sets their `HOOK_SPEC_FILE` to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,
    /// IAM: `enforce` refuses every call the template's roles do not allow, as AWS does (a hook
    /// that may not report, a hook CodeDeploy's role may not invoke); `warn` lets such calls
    /// through and lists them at the end.
    #[arg(long, value_enum, default_value_t = IamMode::Enforce)]
    pub(crate) iam: IamMode,
    /// The synthetic traffic through the alias while the deployment runs: requests a simulated
    /// minute. Every verdict on errors under traffic depends on it: use your own figure.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) requests_per_minute: u32,
    /// A path the synthetic traffic requests with GET (repeatable: requested in turn; default
    /// /hello). It may carry a query: `/orders?id=7`.
    #[arg(long = "path", value_name = "PATH")]
    pub(crate) paths: Vec<String>,
    /// How long the current version serves that traffic before the deployment starts: what a
    /// watching metrics check compares the new version with (its `baseline`), and alarms look
    /// back on. At least the longest baseline of the hook-runner specs hook-sim can read.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = history)]
    pub(crate) history: std::time::Duration,
}

/// `--history`: a duration from 0 to 3 hours.
fn history(text: &str) -> Result<std::time::Duration, String> {
    let d = hook_spec::Dur::parse(text).map_err(|e| format!("{e} (like 5m)"))?.0;
    if d > std::time::Duration::from_secs(3 * 3600) {
        return Err(format!("`{text}` is longer than 3h"));
    }
    Ok(d)
}

impl std::ops::Deref for RehearsalArgs {
    type Target = StackArgs;
    fn deref(&self) -> &StackArgs {
        &self.stack
    }
}

/// Options of `hook-sim simulate`.
#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    pub(crate) rehearsal: RehearsalArgs,
    /// A fault applied to a version from outside it (repeatable), whatever its runtime:
    /// `error`, `delay=1s`, `http-status=500`, `init-error`, `timeout`, `body=$.PATH=JSON`,
    /// each with `,rate=PERCENT%`, `,after=DURATION` (after the version first serves traffic
    /// through the alias) and `,version=target|current` (the target by default). E.g.
    /// `--fault error,rate=5%`.
    #[arg(long = "fault", value_name = "FAULT")]
    pub(crate) faults: Vec<VersionFault>,
    /// The seed of the weighted alias's random routing and of the faults' draws (default: a
    /// new one each run, printed, so that a run can be replayed).
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// The report: a live timeline, or one JSON document at the end.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) report: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum IamMode {
    Enforce,
    Warn,
}

impl From<IamMode> for hook_sim::iam::Enforcement {
    fn from(mode: IamMode) -> Self {
        match mode {
            IamMode::Enforce => hook_sim::iam::Enforcement::Enforce,
            IamMode::Warn => hook_sim::iam::Enforcement::Warn,
        }
    }
}

impl std::ops::Deref for SimulateArgs {
    type Target = RehearsalArgs;
    fn deref(&self) -> &RehearsalArgs {
        &self.rehearsal
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Text,
    Json,
}

/// Runs `hook-sim simulate`.
pub(crate) async fn simulate(args: SimulateArgs) -> ExitCode {
    match run(args).await {
        Ok(FinalStatus::Succeeded) => ExitCode::SUCCESS,
        Ok(FinalStatus::RolledBack) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", crate::cli::error_text(&e));
            ExitCode::from(2)
        }
    }
}

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

/// The hooks' environment: `--hook-env`, then `--spec` as `HOOK_SPEC_FILE` (a full path, since
/// each hook runs in its own folder).
fn hook_env(args: &RehearsalArgs, setup: &Setup) -> Result<Vec<(String, String)>, SimulateError> {
    let mut env = args.hook_env.clone();
    let Some(spec) = &args.spec else {
        return Ok(env);
    };
    let path =
        std::fs::canonicalize(spec).map_err(|e| SimulateError::Usage(format!("--spec {}: {e}", spec.display())))?;
    if !path.is_file() {
        return Err(SimulateError::Usage(format!(
            "--spec {}: not a file (give the YAML file of your checks)",
            spec.display()
        )));
    }
    let reads_specs = setup.hooks.iter().any(|(_, h)| {
        h.env.iter().any(|(k, _)| k == "HOOK_SPEC_FILE")
            || h.cargo_bin.as_deref() == Some("hook-runner")
            || h.binary.file_name().is_some_and(|n| n == "hook-runner")
    });
    if !reads_specs {
        let hooks: Vec<&str> = setup.hooks.iter().map(|(_, h)| h.logical_id.as_str()).collect();
        return Err(SimulateError::Usage(format!(
            "--spec: no hook of this deployment runs hook-runner ({}), so none would read it; \
             choose the template's spec hook (template.yaml: --parameter PreTrafficHookKind=spec) \
             or give a hook the hook-runner binary",
            if hooks.is_empty() {
                "it has no hooks".to_string()
            } else {
                format!("its hooks: {}", hooks.join(", "))
            }
        )));
    }
    env.retain(|(k, _)| k != "HOOK_SPEC_FILE");
    env.push(("HOOK_SPEC_FILE".to_string(), path.display().to_string()));
    Ok(env)
}

async fn run(args: SimulateArgs) -> Result<FinalStatus, SimulateError> {
    let prepared = rehearsal::prepare(&args)?;
    let text = args.report == ReportFormat::Text;
    let options = RunOptions {
        seed: args.seed.unwrap_or_else(new_seed),
        faults: &args.faults,
        live: text.then_some(&args.stack),
    };
    let rehearsal = rehearsal::rehearse(&prepared, options).await?;
    if text {
        print_summary(
            &rehearsal.outcome,
            &rehearsal.hook_logs,
            &prepared.setup.function.name,
            &rehearsal.function_logs,
        );
        print_denials(&rehearsal.denials, args.iam);
    } else {
        let report = rehearsal::json_report(&args, &prepared, &rehearsal, &args.faults);
        say!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
    }
    Ok(rehearsal.outcome.status)
}

/// The calls IAM refused, each once: what the roles of the template would let no one do in AWS.
fn print_denials(denials: &[hook_sim::iam::Denial], mode: IamMode) {
    if denials.is_empty() {
        return;
    }
    say!(
        "\nIAM {} {} call(s) the template's roles do not allow{}:",
        if mode == IamMode::Enforce {
            "refused"
        } else {
            "would refuse"
        },
        denials.len(),
        if mode == IamMode::Enforce {
            " (as AWS would; --iam warn lets them through)"
        } else {
            " (let through: --iam warn)"
        }
    );
    for d in denials {
        say!("  ✘ {d}");
    }
}

/// Says so when `python` is not the version the function's runtime names (`python3.12`): it
/// runs, but what differs between the two is not rehearsed.
fn warn_python_version(python: &Path, function: &str, runtime: &str) {
    let Some(wanted) = runtime.strip_prefix("python") else {
        return;
    };
    let version = std::process::Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(version) = version
        && version != wanted
    {
        eprintln!(
            "warning: {function} is a {runtime} function and {} is Python {version}: it runs, but what differs \
             between the two is not rehearsed; pass --python PATH of a Python {wanted}",
            python.display()
        );
    }
}

/// Checks that `python` runs and has the runtime interface client a `python3.x` function
/// runs under.
fn check_python(python: &Path, function: &str, runtime: &str) -> Result<(), SimulateError> {
    let probe = std::process::Command::new(python)
        .args(["-c", "import awslambdaric"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => {
            warn_python_version(python, function, runtime);
            Ok(())
        }
        Ok(_) => Err(SimulateError::Usage(format!(
            "{function} is a Python function, and {} cannot import awslambdaric (Lambda's runtime \
             interface client): `{} -m pip install awslambdaric`, or pass --python PATH of a Python that has it",
            python.display(),
            python.display()
        ))),
        Err(e) => Err(SimulateError::Usage(format!(
            "{function} is a Python function, and {} does not run ({e}): pass --python PATH",
            python.display()
        ))),
    }
}

/// Checks that `node` runs, and writes the Runtime API loop a `nodejs*` function runs under.
fn check_node(node: &Path, function: &str) -> Result<(), SimulateError> {
    let probe = std::process::Command::new(node)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Err(SimulateError::Usage(format!(
            "{function} is a Node.js function, and {} does not run: install Node.js, or pass --node PATH",
            node.display()
        )));
    }
    let path = hook_sim::stack::functions::node_runtime_path();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(hook_sim::stack::functions::NODE_RUNTIME) {
        std::fs::write(&path, hook_sim::stack::functions::NODE_RUNTIME)
            .map_err(|e| SimulateError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The template's directory: `""` for a template in the working directory, so that paths
/// beside it read `target/release/hello`.
fn template_dir(template: &Path) -> PathBuf {
    template.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The stacks besides `template` whose functions its hooks may be: those given with `--with`,
/// each named after its folder, and the template's nested applications (a local `Location`,
/// with the parameters it gives them).
fn other_stacks(args: &StackArgs, template: &Template) -> Result<Vec<Template>, StackError> {
    let mut stacks = args
        .with
        .iter()
        .map(|path| {
            let stack = template_dir(path)
                .file_name()
                .map_or("shared".to_string(), |n| n.to_string_lossy().into_owned());
            Template::load(path, &[], &stack, TARGET)
        })
        .collect::<Result<Vec<_>, _>>()?;
    stacks.extend(template.nested_applications()?);
    Ok(stacks)
}

/// Every binary the setup runs exists (or its interpreter works); else what to do.
fn check_binaries(args: &StackArgs, setup: &Setup, hooks: bool) -> Result<(), SimulateError> {
    // Each binary, with the option that chose it (if one did).
    let mut binaries = vec![
        (&setup.function, args.current_bin.as_ref().map(|p| (p, "--current-bin"))),
        (&setup.function, args.target_bin.as_ref().map(|p| (p, "--target-bin"))),
    ];
    if hooks {
        binaries.extend(setup.hooks.iter().map(|(_, h)| (h, None)));
    }
    // Both versions run one function's interpreter: checked (and warned about) once.
    let mut interpreted = std::collections::BTreeSet::new();
    for (f, over) in binaries {
        let path = over.map_or(&f.binary, |(p, _)| p);
        let interpreter = over.is_none() && (f.runtime.starts_with("python") || f.runtime.starts_with("nodejs"));
        if interpreter && !interpreted.insert(f.logical_id.clone()) {
            continue;
        }
        if over.is_none() && f.runtime.starts_with("python") {
            check_python(&args.python, &f.logical_id, &f.runtime)?;
            continue;
        }
        if over.is_none() && f.runtime.starts_with("nodejs") {
            check_node(&args.node, &f.logical_id)?;
            continue;
        }
        if !path.is_file() {
            let from_bin = args.bins.iter().any(|(id, _)| *id == f.logical_id);
            let how = match (&f.cargo_bin, over) {
                (_, Some((_, flag))) => format!("check the path given to {flag}"),
                _ if from_bin => format!("check the path given to --bin {}=PATH", f.logical_id),
                (Some(bin), None) => format!(
                    "build it with `cargo build --release --bin {bin}`, or add --build{}",
                    if bin == "hook-runner" {
                        " (without Rust: `pip install` hook-runner's wheel, README.md#install, puts it on the PATH)"
                    } else {
                        ""
                    }
                ),
                (None, None) => format!("pass --bin {}=PATH", f.logical_id),
            };
            return Err(SimulateError::Usage(format!(
                "{} (the binary of {}) does not exist: {how}",
                path.display(),
                f.logical_id
            )));
        }
    }

    Ok(())
}

/// 60, or faster so that shifting takes at most 10 s of wall time.
fn default_speed(routing: &TrafficRouting) -> f64 {
    let shifting = routing.steps().last().map_or(0.0, |s| s.at.as_secs_f64());
    (shifting / 10.0).max(60.0)
}

/// A seed for a run that names none: from the clock, small enough to type back.
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    nanos % 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_speed_keeps_shifting_under_ten_seconds() {
        assert_eq!(default_speed(&TrafficRouting::AllAtOnce), 60.0);
        let linear = TrafficRouting::predefined("Linear10PercentEvery10Minutes").unwrap();
        assert_eq!(default_speed(&linear), 540.0);
    }
}
