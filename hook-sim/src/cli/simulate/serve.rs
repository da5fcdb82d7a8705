//! `hook-sim serve --template`: a stack's functions, each with its two versions and alias,
//! served on the Lambda and CodeDeploy endpoints until stopped, to run checks against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long an execution environment of `serve` stays idle before its process is stopped.
/// Lambda does not document its own figure; idle environments are commonly seen reclaimed
/// after 5 to 15 minutes.
const IDLE_RECLAIM: Duration = Duration::from_secs(10 * 60);

use hook_sim::stack::{StackError, Template};
use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, RuntimeFunction, Sim, lambda_appspec};

use super::args::StackArgs;
use super::binaries::{check_binaries, other_stacks, template_dir};
use super::build;
use super::error::SimulateError;
use hook_sim::rehearsal::{Versions, start_versions};
use hook_sim::stack::cloudformation::code_deploy_aliases;
use hook_sim::stack::sam::{functions_with_preference, read_setup};
use hook_sim::stack::setup::{CURRENT, TARGET};

/// What `serve --metrics-at-once` says: it shows what CloudWatch would not show yet.
pub(crate) const METRICS_AT_ONCE_WARNING: &str = "warning: --metrics-at-once: GetMetricData shows each \
     invocation as soon as it ends; CloudWatch publishes Lambda's metrics about a minute after their \
     minute, so in AWS a check run this soon could see less (and be inconclusive)";

/// Serves the stack's deployed functions (or `--function`) until Ctrl-C: version 1 runs the
/// function's code with `--current-env`, version 2 with `--target-env`, the alias points at 1,
/// and a CodeDeploy deployment from 1 to 2 is there for a hook to discover.
pub(crate) async fn serve_stack(
    args: &StackArgs,
    port: u16,
    keep: usize,
    metrics_at_once: bool,
    faults: (&[hook_sim::VersionFault], u64),
) -> Result<(), SimulateError> {
    let template = Template::load(&args.template, &args.parameters, &args.stack_name, TARGET)?;
    let base = template_dir(&args.template);
    let others = other_stacks(args, &template)?;
    let ids = match &args.function {
        Some(id) => vec![id.clone()],
        None => {
            let mut ids = functions_with_preference(&template);
            ids.extend(code_deploy_aliases(&template).into_iter().map(|(_, f)| f));
            if ids.is_empty() {
                return Err(StackError::new(format!(
                    "{} has no function deployed gradually (a DeploymentPreference, or an alias CodeDeploy updates): \
                     name one with --function",
                    args.template.display()
                ))
                .into());
            }
            ids
        }
    };
    let sim = Sim::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|source| SimulateError::Listen { port, source })?;
    sim.keep_records(keep);
    sim.publish_metrics_at_once(metrics_at_once);
    if metrics_at_once {
        eprintln!("{METRICS_AT_ONCE_WARNING}");
    }
    say!("hook-sim serve: {}", args.template.display());
    let mut processes: Vec<Arc<RuntimeFunction>> = Vec::new();
    let mut example = None;
    for (n, id) in ids.iter().enumerate() {
        let mut one = args.clone();
        one.function = Some(id.clone());
        // The hooks are not served: a stack whose hooks live elsewhere needs no --with.
        let setup = read_setup(&template, &others, &one.read_options(), None, false, &base)?;
        if args.build {
            build::build(&setup, &base)?;
        }
        check_binaries(&one, &setup, false)?;
        let api_url = sim.api_url(&setup.function.name, &setup.alias);
        let function = setup.function.with_api(&api_url);
        let Versions {
            current,
            target,
            environments,
        } = start_versions(&sim, &function, &args.version_overrides())
            .await
            .map_err(|e| match e {
                hook_sim::rehearsal::RehearsalError::Runtime { function, source } => {
                    SimulateError::Runtime { function, source }
                }
                other => SimulateError::Usage(other.to_string()),
            })?;
        processes.extend([current.clone(), target.clone()]);
        sim.add_function(
            &function.name,
            FunctionSetup::new()
                .version(CURRENT, Behavior::Process(current))
                .version(TARGET, Behavior::Process(target))
                .alias(&setup.alias, CURRENT)
                .tags(&function.tags)
                .version_environment(CURRENT, &environments.0)
                .version_environment(TARGET, &environments.1),
        );
        for fault in faults.0 {
            let version = fault.version.resolve(CURRENT, TARGET);
            sim.inject_version_fault(&function.name, version, fault.clone(), faults.1);
            say!("           fault {fault} on version {version} (--seed {})", faults.1);
        }
        let deployment = format!("d-SERVE{:04}", n + 1);
        sim.add_deployment(DeploymentSetup::new(
            &deployment,
            &lambda_appspec(&function.name, &setup.alias, CURRENT, TARGET, &[]),
        ));
        say!(
            "function   {} ({id}, {}): versions {CURRENT} and {TARGET}, alias {} -> {CURRENT}",
            function.name,
            function.runtime,
            setup.alias
        );
        say!("           HTTP API {api_url}");
        say!(
            "deployment {deployment}: {} alias {} {CURRENT} -> {TARGET}",
            function.name,
            setup.alias
        );
        example.get_or_insert((function.name.clone(), setup.alias.clone()));
    }
    say!("");
    say!("export AWS_ENDPOINT_URL={}", sim.endpoint_url());
    if let Some((name, alias)) = &example {
        say!("hook-runner run SPEC --function {name} --qualifier {TARGET} --alias {alias} --current {CURRENT}");
    }
    say!("(no region or credentials needed against this endpoint; stop with Ctrl-C)");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    // Idle execution environments are reclaimed, as Lambda does after some minutes without an
    // invocation: a burst's processes do not stay for as long as serve runs.
    let reclaimer = {
        let processes = processes.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                for p in &processes {
                    p.reclaim_idle(IDLE_RECLAIM).await;
                }
            }
        })
    };
    let stopped = tokio::signal::ctrl_c().await;
    reclaimer.abort();
    for p in &processes {
        p.stop().await;
    }
    stopped.map_err(|e| SimulateError::Usage(format!("cannot wait for Ctrl-C: {e}")))
}
