//! `hook-sim simulate`: a function's CodeDeploy deployment, from its SAM template, run
//! locally by hook-sim with the real function and hook binaries.
//!
//! `setup` is what a simulation runs, which `template` reads from a SAM template
//! (`cloudformation` from the plain CloudFormation the Serverless Framework and CDK emit), with
//! `functions` (how each runs, hooks included), `configs`, `alarms`, `triggers` and `roles`; `build` runs cargo for it, `render` prints the
//! live timeline and the summary; this module holds the options and runs the deployment.

mod args;
mod binaries;
mod build;
pub(crate) mod check;
mod error;
mod rehearsal;
mod render;
mod serve;

pub(crate) use serve::{METRICS_AT_ONCE_WARNING, serve_stack};

use std::process::ExitCode;

use hook_sim::deploy::FinalStatus;

pub(crate) use self::rehearsal::{Prepared, Rehearsal, RunOptions, prepare, rehearse};
use self::render::print_summary;
pub(crate) use args::{EXAMPLES, IamMode, RehearsalArgs, ReportFormat, SimulateArgs, StackArgs};
pub(crate) use error::{SimulateError, listen_hint};

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

/// A seed for a run that names none: from the clock, small enough to type back.
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    nanos % 1_000_000
}
