//! The options of `simulate` (and of `audit`, `serve` and `check`, which read a stack the same
//! way): the stack, the rehearsal, the report.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hook_sim::VersionFault;

use crate::cli::key_value;

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
pub(super) fn history(text: &str) -> Result<std::time::Duration, String> {
    let d = hook_spec::Dur::parse(text).map_err(|e| format!("{e} (like 5m)"))?.0;
    if d > std::time::Duration::from_secs(3 * 3600) {
        return Err(format!("`{text}` is longer than 3h"));
    }
    Ok(d)
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Text,
    Json,
}

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

impl std::ops::Deref for RehearsalArgs {
    type Target = StackArgs;
    fn deref(&self) -> &StackArgs {
        &self.stack
    }
}

impl std::ops::Deref for SimulateArgs {
    type Target = RehearsalArgs;
    fn deref(&self) -> &RehearsalArgs {
        &self.rehearsal
    }
}
