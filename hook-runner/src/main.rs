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
    /// Checks spec files and shows every error with its location; exit 1 when one is invalid.
    Validate {
        /// Spec files (YAML or JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Runs a spec's checks against a deployed function version with your AWS credentials.
    /// Reports nothing to CodeDeploy; the exit code is the outcome (0 passed, 1 failed).
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
    /// The alias, for checks with `qualifier: alias` and `{{target.alias}}`.
    #[arg(long)]
    alias: Option<String>,
    /// The version traffic moves away from, for `qualifier: current`.
    #[arg(long)]
    current: Option<String>,
    /// The phase to run the checks of.
    #[arg(long, value_enum, default_value_t = PhaseArg::Before)]
    phase: PhaseArg,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    report: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A variable for `{{NAME}}`, NAME=VALUE (repeatable).
    #[arg(long = "var", value_parser = key_value)]
    vars: Vec<(String, String)>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PhaseArg {
    Before,
    After,
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

fn validate(files: &[PathBuf]) -> ExitCode {
    let mut bad = 0;
    for f in files {
        match spec::load_file(f) {
            Ok(s) => println!("{}: ok ({} checks)", f.display(), s.checks.len()),
            Err(e) => {
                bad += 1;
                eprintln!("{e}\n");
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
    let spec = match spec::load_file(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let config = aws_config::load_from_env().await;
    let progress = std::io::stderr().is_terminal() && (args.report != ReportFormat::Text || args.out.is_some());
    let total = spec.checks.len();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut runner = CheckRunner::new(aws_sdk_lambda::Client::new(&config));
    if progress {
        runner = runner.on_check(move |c| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let mark = match c.outcome {
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
        phase: match args.phase {
            PhaseArg::Before => Phase::BeforeAllowTraffic,
            PhaseArg::After => Phase::AfterAllowTraffic,
        },
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
    };
    let report = runner.run(&spec, &ctx).await;
    let rendered = match args.report {
        ReportFormat::Text => render_text(&report, args.out.is_none() && std::io::stdout().is_terminal()),
        ReportFormat::Json => render_json(&report),
        ReportFormat::Junit => render_junit(&report),
    };
    match &args.out {
        None => print!("{rendered}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
            let c = report.counts();
            eprintln!(
                "{}: {} passed, {} failed → {}",
                if report.passed() { "PASSED" } else { "FAILED" },
                c.passed,
                c.failed + c.not_run,
                path.display()
            );
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
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
        Some(Command::Validate { files }) => validate(&files),
        Some(Command::Run(args)) => run(args).await,
        Some(Command::Schema) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&spec::schema()).expect("schemas serialize")
            );
            ExitCode::SUCCESS
        }
    }
}
