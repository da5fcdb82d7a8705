//! One deployment rehearsed from a read stack: what `simulate` runs once and prints, and
//! `audit` runs once per fault and seed and judges.

use std::collections::BTreeMap;
use std::sync::Arc;

use hook_sim::deploy::{DeploymentOutcome, DeploymentPlan, Phase, Traffic};
use hook_sim::stack::Template;
use hook_sim::{Behavior, InvocationRecord, ProcessConfig, RuntimeFunction, Sim, VersionFault};

use super::render::{Printer, print_header};
use super::{
    IamMode, RehearsalArgs, SimulateError, StackArgs, Versions, build, check_binaries, default_speed, hook_env,
    other_stacks, process_config, start_versions, template_dir,
};
use hook_sim::stack::sam::read_setup;
use hook_sim::stack::setup::{CURRENT, Setup, TARGET};

/// A stack read, built and checked: ready to rehearse as many times as asked.
pub(crate) struct Prepared {
    pub(crate) setup: Setup,
    /// The hooks' extra environment (`--hook-env`, `--spec`).
    hook_env: Vec<(String, String)>,
    /// Simulated seconds per real second.
    pub(crate) speed: f64,
    /// The synthetic traffic.
    pub(crate) traffic: Traffic,
    /// How long the current version serves it before the deployment.
    pub(crate) history: std::time::Duration,
}

/// What changes from one rehearsal of a prepared stack to the next.
pub(crate) struct RunOptions<'a> {
    /// The seed of the alias's random routing and of the faults' draws.
    pub(crate) seed: u64,
    /// Faults applied to the function's versions.
    pub(crate) faults: &'a [VersionFault],
    /// Print the live timeline as `simulate` does (its arguments), or nothing.
    pub(crate) live: Option<&'a StackArgs>,
}

/// A deployment rehearsed: its outcome and what the processes said.
pub(crate) struct Rehearsal {
    pub(crate) seed: u64,
    pub(crate) outcome: DeploymentOutcome,
    /// Each hook's log, by function name.
    pub(crate) hook_logs: BTreeMap<String, Vec<String>>,
    /// The end of the log of each version that failed an invocation.
    pub(crate) function_logs: BTreeMap<&'static str, Vec<String>>,
    pub(crate) denials: Vec<hook_sim::iam::Denial>,
    /// Every invocation of the deployed function, as its metrics count them.
    pub(crate) invocations: Vec<InvocationRecord>,
    /// Invocations of the target version a fault changed.
    pub(crate) faulted: u64,
}

/// How many of a failing version's last log lines the summary shows.
const FUNCTION_LOG_TAIL: usize = 20;

/// Reads the stack, builds it when asked, and checks that everything it runs is there.
pub(crate) fn prepare(args: &RehearsalArgs) -> Result<Prepared, SimulateError> {
    if let Some(speed) = args.speed
        && !(speed.is_finite() && speed > 0.0 && speed <= 1e6)
    {
        return Err(SimulateError::Usage(format!(
            "--speed {speed}: give a number of simulated seconds per real second, above 0 and at most 1000000"
        )));
    }
    if args.requests_per_minute == 0 || args.requests_per_minute > 60_000 {
        return Err(SimulateError::Usage(format!(
            "--requests-per-minute {}: give a number of requests a simulated minute from 1 to 60000",
            args.requests_per_minute
        )));
    }
    if let Some(bad) = args
        .paths
        .iter()
        .find(|p| !p.starts_with('/') || p.contains(char::is_whitespace))
    {
        return Err(SimulateError::Usage(format!(
            "--path {bad:?}: give a path that starts with / and holds no spaces, such as /hello or /orders?id=7"
        )));
    }
    let template = Template::load(&args.template, &args.parameters, &args.stack_name, TARGET)?;
    let base = template_dir(&args.template);
    let others = other_stacks(args, &template)?;
    check_bins(args, &template, &others)?;
    let setup = read_setup(
        &template,
        &others,
        &args.read_options(),
        args.config.as_deref(),
        true,
        &base,
    )?;
    if args.build {
        build::build(&setup, &base)?;
    }
    check_binaries(args, &setup, true)?;
    let hook_env = hook_env(args, &setup)?;
    if let Some(problem) = setup
        .hooks
        .iter()
        .find_map(|(_, h)| hook_sim::stack::specs::spec_problem(h, &hook_env))
    {
        return Err(SimulateError::Usage(problem));
    }
    let speed = args.speed.unwrap_or_else(|| default_speed(&setup.routing));
    let mut traffic = Traffic {
        per_minute: args.requests_per_minute,
        ..Traffic::default()
    };
    if !args.paths.is_empty() {
        traffic.paths = args.paths.clone();
    }
    let history = args.history.max(hook_sim::stack::specs::longest_baseline(
        setup.hooks.iter().map(|(_, h)| h),
        &hook_env,
    ));
    Ok(Prepared {
        setup,
        hook_env,
        speed,
        traffic,
        history,
    })
}

/// Every `--bin ID=PATH` names a function of the stacks: a typo is said, with the ids there are.
fn check_bins(args: &RehearsalArgs, template: &Template, others: &[Template]) -> Result<(), SimulateError> {
    let ids: Vec<String> = std::iter::once(template)
        .chain(others)
        .flat_map(|t| t.resources())
        .filter(|(_, ty)| hook_sim::stack::setup::FUNCTION_TYPES.contains(&ty.as_str()))
        .map(|(id, _)| id)
        .collect();
    for (id, path) in &args.bins {
        if ids.contains(id) {
            continue;
        }
        let options: Vec<&str> = ids.iter().map(String::as_str).collect();
        let hint = hook_spec::suggest(id, &options).map_or(String::new(), |s| format!(" (did you mean {s}?)"));
        return Err(SimulateError::Usage(format!(
            "--bin {id}={path}: the stack has no function {id}{hint}; its functions: {}",
            options.join(", ")
        )));
    }
    Ok(())
}

/// Runs one deployment of a prepared stack, on a simulator of its own.
pub(crate) async fn rehearse(
    args: &RehearsalArgs,
    prepared: &Prepared,
    options: RunOptions<'_>,
) -> Result<Rehearsal, SimulateError> {
    let setup = &prepared.setup;
    let sim = Sim::start().await.map_err(SimulateError::Start)?;
    sim.set_enforcement(args.iam.into());
    for (function, identity) in &setup.roles {
        sim.assume_role(function, identity.clone());
    }
    for grant in &setup.grants {
        sim.grant(grant.clone());
    }
    let api_url = sim.api_url(&setup.function.name, &setup.alias);
    let function = setup.function.with_api(&api_url);
    for fault in options.faults {
        sim.inject_version_fault(
            &function.name,
            fault.version.resolve(CURRENT, TARGET),
            fault.clone(),
            options.seed,
        );
    }
    let mut processes: Vec<Arc<RuntimeFunction>> = Vec::new();
    let hook_configs: Vec<(Phase, ProcessConfig)> = setup
        .hooks
        .iter()
        .map(|(event, h)| {
            (
                *event,
                process_config(&h.with_api(&api_url), "$LATEST", None, &prepared.hook_env),
            )
        })
        .collect();
    let spawn_err = |function: &str| {
        let function = function.to_string();
        move |source| SimulateError::Runtime { function, source }
    };
    let Versions {
        current,
        target,
        environments,
    } = start_versions(&sim, &function, args).await?;
    processes.extend([current.clone(), target.clone()]);
    let mut plan = DeploymentPlan::new(&function.name, Behavior::Process(current), Behavior::Process(target))
        .config(&setup.config_name, setup.routing)
        .speed(prepared.speed)
        .seed(options.seed)
        .traffic(Some(prepared.traffic.clone()));
    plan.resource = function.logical_id.clone();
    plan.tags = function.tags.clone();
    plan.environments = environments;
    plan.alias = setup.alias.clone();
    plan.application = setup.application.clone();
    plan.group = setup.group.clone();
    plan.codedeploy_role = Some(setup.codedeploy_role.clone());
    plan.history = prepared.history;
    let mut hook_processes = BTreeMap::new();
    for ((event, config), (_, hook)) in hook_configs.into_iter().zip(&setup.hooks) {
        let name = config.name.clone();
        // One function may be the hook of both phases: one function, one process.
        let p = match hook_processes.get(&name) {
            Some(p) => Arc::clone(p),
            None => {
                let p = sim.runtime(config).await.map_err(spawn_err(&name))?;
                processes.push(p.clone());
                hook_processes.insert(name.clone(), p.clone());
                p
            }
        };
        plan = plan
            .hook(event, &name, Behavior::Process(p))
            .hook_retries(event, hook.max_retries);
    }
    for alarm in &setup.alarms {
        plan = plan.alarm(alarm.clone());
    }
    for trigger in &setup.triggers {
        plan = plan.trigger(trigger.clone());
    }

    let outcome = match options.live {
        Some(stack) => {
            print_header(stack, setup, &plan, &api_url, options.faults);
            let printer = Printer {
                alias: setup.alias.clone(),
                hook_timeout: plan.hook_timeout,
            };
            sim.deploy_with(&plan, move |entry| printer.print(entry)).await
        }
        None => sim.deploy(&plan).await,
    };
    for p in &processes {
        p.stop().await;
    }
    let hook_logs: BTreeMap<String, Vec<String>> = hook_processes
        .iter()
        .map(|(name, p)| (name.clone(), p.logs()))
        .collect();
    // The function's own account of its failures (what it wrote, as CloudWatch Logs would
    // have it): the end of each failing version's log.
    let invocations: Vec<InvocationRecord> = sim
        .invocations()
        .into_iter()
        .filter(|i| i.function == function.name)
        .collect();
    let function_logs: BTreeMap<&str, Vec<String>> = [(CURRENT, &processes[0]), (TARGET, &processes[1])]
        .into_iter()
        .filter(|(v, _)| invocations.iter().any(|i| i.executed_version == *v && i.error))
        .map(|(v, p)| {
            let logs = p.logs();
            (v, logs[logs.len().saturating_sub(FUNCTION_LOG_TAIL)..].to_vec())
        })
        .collect();
    let faulted = sim
        .faulted_invocations()
        .get(&(function.name.clone(), TARGET.to_string()))
        .copied()
        .unwrap_or(0);
    Ok(Rehearsal {
        seed: options.seed,
        outcome,
        hook_logs,
        function_logs,
        denials: sim.denials(),
        invocations,
        faulted,
    })
}

/// The report of `simulate --report json`.
pub(crate) fn json_report(
    args: &RehearsalArgs,
    prepared: &Prepared,
    rehearsal: &Rehearsal,
    faults: &[VersionFault],
) -> serde_json::Value {
    let setup = &prepared.setup;
    let function = &setup.function;
    let denials = &rehearsal.denials;
    serde_json::json!({
        "template": args.template,
        "function": {
            "logical_id": function.logical_id,
            "name": function.name,
            "alias": setup.alias,
            "current_version": CURRENT,
            "target_version": TARGET,
        },
        "config": {"name": setup.config_name, "routing": setup.routing.to_string()},
        "speed": prepared.speed,
        "seed": rehearsal.seed,
        "faults": faults,
        "hooks": setup.hooks.iter().map(|(event, h)| serde_json::json!({
            "lifecycle_event": event.as_str(),
            "logical_id": h.logical_id,
            "function": h.name,
            "binary": h.binary,
        })).collect::<Vec<_>>(),
        "alarms": setup.alarms,
        "triggers": setup.triggers,
        "warnings": setup.warnings,
        "iam": {
            "mode": if args.iam == IamMode::Enforce { "enforce" } else { "warn" },
            "denied": denials.iter().map(|d| serde_json::json!({
                "principal": d.principal,
                "action": d.action,
                "resource": d.resource,
                "message": d.to_string(),
            })).collect::<Vec<_>>(),
        },
        "outcome": rehearsal.outcome,
        "hook_logs": rehearsal.hook_logs,
        "function_logs": rehearsal.function_logs,
    })
}
