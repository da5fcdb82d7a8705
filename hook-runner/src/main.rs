//! `hook-runner`: a CodeDeploy lifecycle hook driven by a check spec, and a CLI for specs
//! and deployments.
//!
//! In Lambda (`AWS_LAMBDA_RUNTIME_API` set, no arguments) it is a complete hook: the spec
//! comes from `HOOK_SPEC` (inline YAML or JSON) or `HOOK_SPEC_FILE` (default
//! `hook-spec.yaml` beside the binary). Elsewhere it validates specs, runs them against a
//! deployed version, and prints the spec's JSON Schema. (Simulating a whole deployment is
//! `hook-sim simulate`: the Lambda artifact carries nothing it does not run.)

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use hook_sdk::check::{CheckRunner, RunContext};
use hook_sdk::report::{Outcome, render_json, render_junit, render_text};
use hook_sdk::spec::{self, Spec, SpecError, Vars};

/// Writes to standard output; a closed pipe (`hook-runner schema | head -1`) ends the
/// program quietly with the status a shell expects of it, not a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = write!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("hook-runner: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}
use hook_sdk::{Hook, Phase, Target};

const EXAMPLES: &str = "\
Examples:
  hook-runner validate hook-examples/smoke.yaml
  hook-runner run hook-examples/smoke.yaml --function hello-fn --qualifier 7
  hook-runner run hook-examples/smoke.yaml --function hello-fn --qualifier 7 --alias live --phase after --report junit --out checks.xml
  hook-runner schema > hook-spec.schema.json

In Lambda (AWS_LAMBDA_RUNTIME_API set) with no arguments, hook-runner is the hook itself:
  HOOK_SPEC       the spec, inline (YAML or JSON)
  HOOK_SPEC_FILE  a spec file, relative to the working directory (/var/task in Lambda);
                  default: hook-spec.yaml beside the binary";

#[derive(Parser)]
#[command(name = "hook-runner", version, about = "CodeDeploy lifecycle hooks from a check spec", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Checks spec files and shows every error with its location: the shape of each check,
    /// the rules between keys, and every `{{variable}}` nothing defines. Exit 1 when one is
    /// invalid.
    Validate {
        /// Spec files (YAML or JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A variable the run gives (`run --var NAME=VALUE`), so `{{NAME}}` is known (repeatable).
        #[arg(long = "var", value_name = "NAME")]
        vars: Vec<String>,
    },
    /// Runs a spec's checks against a deployed function version with your AWS credentials.
    /// Reports nothing to CodeDeploy. Exit 0: every check passed; 1: a check failed; 2: the
    /// run could not be made as asked (bad usage, an invalid spec, or a set-up error such as
    /// missing credentials, an unknown function or an unset variable).
    Run(RunArgs),
    /// Prints the JSON Schema of the spec format, for editors.
    Schema,
    /// Runs as the Lambda hook (what happens with no arguments in Lambda).
    Lambda,
}

#[derive(Parser)]
struct RunArgs {
    /// The spec file.
    file: PathBuf,
    /// The function to test (name or ARN).
    #[arg(long)]
    function: String,
    /// The version under test (what `TargetVersion` would be).
    #[arg(long)]
    qualifier: String,
    /// The alias, for checks with `qualifier: alias`, `{{target.alias}}` and metrics checks
    /// (which read the traffic through it; give them a `window:`, there is no deployment).
    #[arg(long)]
    alias: Option<String>,
    /// The version traffic moves away from, for `qualifier: current` and metrics checks'
    /// thresholds relative to `current`.
    #[arg(long)]
    current: Option<String>,
    /// The phase to run the checks of: before (BeforeAllowTraffic) or after (AfterAllowTraffic).
    #[arg(long, default_value = "before")]
    phase: Phase,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    report: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A variable for `{{NAME}}`, NAME=VALUE (repeatable).
    #[arg(long = "var", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// Colours in the text report: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    /// Whether to colour output going to a terminal or not (`NO_COLOR`: no-color.org).
    fn enabled(self, terminal: bool) -> bool {
        self.enabled_with(terminal, std::env::var_os("NO_COLOR"))
    }

    fn enabled_with(self, terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            // Set and not empty, whatever its value, says no colour.
            ColorArg::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// `report` in `format`; colour only for text that asks for it.
fn rendered(report: &hook_sdk::report::Report, format: ReportFormat, color: bool) -> String {
    match format {
        ReportFormat::Text => render_text(report, color),
        ReportFormat::Json => render_json(report),
        ReportFormat::Junit => render_junit(report),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Junit,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// Where the Lambda hook finds its spec.
#[allow(clippy::result_large_err)] // read once at start
fn lambda_spec() -> Result<Spec, SpecError> {
    if let Ok(inline) = std::env::var("HOOK_SPEC")
        && !inline.trim().is_empty()
    {
        return spec::load(&inline, "HOOK_SPEC");
    }
    let path = match std::env::var_os("HOOK_SPEC_FILE") {
        Some(p) => PathBuf::from(p),
        None => beside_binary("hook-spec.yaml"),
    };
    spec::load_file(&path)
}

fn beside_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .or_else(|| std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from))
        .unwrap_or_default()
        .join(name)
}

async fn lambda() -> ExitCode {
    let spec = lambda_spec();
    if let Err(e) = &spec {
        // Printed before logging starts; every invocation also reports Failed with it.
        eprintln!("hook-runner: the check spec could not be read; every invocation reports Failed:\n{e}");
    }
    match Hook::new().spec_result(spec).run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hook-runner: {e}");
            ExitCode::FAILURE
        }
    }
}

fn validate(files: &[PathBuf], vars: &[String]) -> ExitCode {
    let mut bad = 0;
    let declared: Vec<&str> = vars.iter().map(|v| v.split('=').next().unwrap_or(v)).collect();
    for f in files {
        match spec::load_file_all(f, Some(&declared)) {
            Ok(s) => say!("{}: ok ({} checks)\n", f.display(), s.checks.len()),
            Err(errors) => {
                bad += 1;
                for e in &errors {
                    eprintln!("{e}\n");
                }
                eprintln!(
                    "{}: {} error{}\n",
                    f.display(),
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{bad} of {} spec files are invalid", files.len());
        ExitCode::from(1)
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let declared: Vec<&str> = args.vars.iter().map(|(k, _)| k.as_str()).collect();
    let spec = match spec::load_file_all(&args.file, Some(&declared)) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}\n");
            }
            eprintln!(
                "hook-runner: the spec is invalid ({} error{}); nothing was run",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            // A CI job that reads --out finds why, not nothing (the quoted lines' secrets masked).
            if let Some(path) = &args.out {
                let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n");
                let report = hook_sdk::report::Report {
                    source: Some(args.file.display().to_string()),
                    phase: None,
                    deployment_id: None,
                    checks: vec![hook_sdk::report::CheckReport {
                        result: hook_sdk::report::CheckResult::Failed(hook_sdk::report::CheckFailure::setup(text)),
                        ..hook_sdk::report::CheckReport::failed_before_run("the spec loads")
                    }],
                    waivers: Vec::new(),
                    every_target_waived: false,
                    duration: std::time::Duration::ZERO,
                };
                if let Err(e) = std::fs::write(path, rendered(&report, args.report, false)) {
                    eprintln!("cannot write {}: {e}", path.display());
                }
            }
            return ExitCode::from(2);
        }
    };
    let config = aws_config_for_run().await;
    if let Err(e) = credentials_resolve(&config).await {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let progress = std::io::stderr().is_terminal() && (args.report != ReportFormat::Text || args.out.is_some());
    let total = spec.checks.len();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut runner = CheckRunner::new(aws_sdk_lambda::Client::new(&config))
        .with_cloudwatch(aws_sdk_cloudwatch::Client::new(&config));
    if progress {
        runner = runner.on_check(move |c| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let mark = match c.outcome() {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
                Outcome::NotRun => "not run",
            };
            eprintln!("[{n}/{total}] {} … {mark}", c.name);
        });
    }
    let mut vars = Vars::default();
    for (k, v) in &args.vars {
        vars.set(k.clone(), v.clone());
    }
    let ctx = RunContext {
        phase: args.phase,
        targets: vec![Target {
            logical_id: "cli".to_string(),
            function: args.function.clone(),
            alias: args.alias.clone(),
            current_version: args.current.clone(),
            target_version: args.qualifier.clone(),
        }],
        deployment_id: None,
        vars,
        deadline: None,
        source: Some(args.file.display().to_string()),
        // Outside a deployment: a metrics check needs its own `window`.
        traffic: None,
    };
    let report = runner.run(&spec, &ctx).await;
    let rendered = rendered(
        &report,
        args.report,
        args.out.is_none() && args.color.enabled(std::io::stdout().is_terminal()),
    );
    match &args.out {
        None => say!("{rendered}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
            eprint!(
                "{}",
                summary(&report, path, args.color.enabled(std::io::stderr().is_terminal()))
            );
        }
    }
    let c = report.counts();
    let not_found = report.checks.iter().any(|c| {
        c.error()
            .is_some_and(|e| e.contains("ResourceNotFoundException") || e.contains("Function not found"))
    });
    let logical_id_shape = args.function.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && args.function.chars().all(|c| c.is_ascii_alphanumeric());
    if not_found && logical_id_shape {
        eprintln!(
            "hint: Lambda has no function {f}: --function takes the deployed function's name or ARN, not the \
             template's logical id. SAM names it STACK-{f}-RANDOM unless FunctionName says otherwise: \
             `aws cloudformation describe-stack-resource --stack-name STACK --logical-resource-id {f} \
             --query StackResourceDetail.PhysicalResourceId`",
            f = args.function
        );
    }
    if c.setup_errors > 0 {
        eprintln!(
            "hook-runner: {} of {} checks could not be made (set-up errors: see above); exit 2",
            c.setup_errors,
            report.checks.len()
        );
        ExitCode::from(2)
    } else if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What a run found, when the report went to a file: every check, passed ones too.
fn summary(report: &hook_sdk::report::Report, path: &Path, color: bool) -> String {
    let paint = |code: &str, t: &str| {
        if color {
            format!("\x1b[{code}m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    };
    let mut out = String::new();
    for c in &report.checks {
        // The function, not its version: the same line from one deployment to the next.
        out.push_str(&c.line().with_target(c.function()).short(color));
        out.push('\n');
    }
    let c = report.counts();
    let verdict = if report.passed() {
        paint("32", "PASSED")
    } else {
        paint("31", "FAILED")
    };
    let mut counts = format!("{} passed, {} failed", c.passed, c.failed - c.setup_errors);
    if c.setup_errors > 0 {
        let s = if c.setup_errors == 1 { "" } else { "s" };
        counts.push_str(&format!(", {} set-up error{s}", c.setup_errors));
    }
    if c.not_run > 0 {
        counts.push_str(&format!(", {} not run", c.not_run));
    }
    out.push_str(&format!("{verdict}: {counts} → {}\n", path.display()));
    out
}

/// The AWS configuration of `run`: the usual chain of region and credentials. Against a
/// loopback endpoint (hook-sim, a local stack) a missing region and missing credentials are
/// defaulted, and said so: such an endpoint checks neither.
async fn aws_config_for_run() -> aws_config::SdkConfig {
    let endpoint = ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
    let loopback = endpoint.as_deref().is_some_and(is_loopback);
    let mut loader = hook_sdk::aws::loader();
    if loopback && !credentials_configured() {
        eprintln!(
            "hook-runner: {} is a loopback endpoint and no AWS credentials are configured: using dummy credentials",
            endpoint.as_deref().unwrap_or_default()
        );
        loader = loader.credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "hook-runner-loopback",
        ));
    }
    let config = loader.load().await;
    if loopback && config.region().is_none() {
        eprintln!("hook-runner: no AWS region configured: using us-east-1 against the loopback endpoint");
        return config
            .into_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
    }
    config
}

/// Whether the configuration's credentials resolve: `Err` with what to do when none can be
/// found (rather than an SDK's `dispatch failure` on every check).
async fn credentials_resolve(config: &aws_config::SdkConfig) -> Result<(), String> {
    use aws_sdk_lambda::config::ProvideCredentials as _;
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials("no credentials provider is configured"));
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| no_credentials(&hook_sdk::CheckError::from(e).to_string()))
}

fn no_credentials(why: &str) -> String {
    format!(
        "hook-runner: no AWS credentials ({why}).\n\
         `run` invokes your function as you: sign in first (`aws sso login`, or `aws configure` and \
         AWS_PROFILE), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Against `hook-sim serve`, \
         export AWS_ENDPOINT_URL=http://127.0.0.1:4566 (any credentials then do). Nothing was run."
    )
}

/// Whether `url` names this machine.
fn is_loopback(url: &str) -> bool {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether any source of credentials the SDK reads is configured (environment, profile
/// files, web identity, container credentials).
fn credentials_configured() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|k| set(k))
    {
        return true;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .flatten()
    .any(|p| p.is_file())
}

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        None if in_lambda => lambda().await,
        Some(Command::Lambda) => lambda().await,
        None => {
            eprintln!("hook-runner: no command given (and not running in Lambda).\n\n{EXAMPLES}");
            ExitCode::from(2)
        }
        Some(Command::Validate { files, vars }) => validate(&files, &vars),
        Some(Command::Run(args)) => run(args).await,
        Some(Command::Schema) => {
            say!(
                "{}\n",
                serde_json::to_string_pretty(&spec::schema()).expect("schemas serialize")
            );
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_the_terminal_and_no_color() {
        let set = Some(std::ffi::OsString::from("1"));
        assert!(ColorArg::Auto.enabled_with(true, None));
        assert!(!ColorArg::Auto.enabled_with(true, set.clone()));
        assert!(ColorArg::Auto.enabled_with(true, Some(std::ffi::OsString::new())));
        assert!(!ColorArg::Auto.enabled_with(false, None));
        assert!(ColorArg::Always.enabled_with(false, set.clone()));
        assert!(!ColorArg::Never.enabled_with(true, None));
    }

    #[test]
    fn loopback_endpoints() {
        for url in [
            "http://127.0.0.1:4566",
            "http://localhost:9000/",
            "http://[::1]:80",
            "https://user@127.0.0.5",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://lambda.us-east-1.amazonaws.com",
            "http://10.0.0.1:1",
            "127.0.0.1",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
