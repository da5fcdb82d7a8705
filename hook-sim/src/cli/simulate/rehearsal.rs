//! One deployment rehearsed from a read stack: what `simulate` runs once and prints, and
//! `audit` runs once per fault and seed and judges.

use std::sync::Arc;

use hook_sim::VersionFault;
use hook_sim::deploy::{DeploymentPlan, Traffic};
use hook_sim::schedule::TrafficRouting;
use hook_sim::stack::Template;
use hook_sim::stack::sam::read_setup;
use hook_sim::stack::setup::{CURRENT, Setup, TARGET};

use super::args::{IamMode, RehearsalArgs, StackArgs};
use super::binaries::{check_binaries, other_stacks, template_dir};
use super::build;
use super::error::SimulateError;
use super::render::{Printer, print_header};

/// A stack read, built and checked: ready to rehearse as many times as asked.
pub(crate) type Prepared = hook_sim::rehearsal::Stage;

/// What changes from one rehearsal of a prepared stack to the next.
pub(crate) struct RunOptions<'a> {
    /// The seed of the alias's random routing and of the faults' draws.
    pub(crate) seed: u64,
    /// Faults applied to the function's versions.
    pub(crate) faults: &'a [VersionFault],
    /// Print the live timeline as `simulate` does (its arguments), or nothing.
    pub(crate) live: Option<&'a StackArgs>,
}

pub(crate) use hook_sim::rehearsal::{Rehearsal, RehearsalError};

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
    // Each hook's spec, read once: a problem in it is the user's to fix; its longest baseline
    // sizes the traffic before the deployment.
    let specs: Vec<_> = setup
        .hooks
        .iter()
        .map(|(phase, h)| hook_sim::stack::specs::read(h, *phase, &hook_env))
        .collect();
    if let Some(problem) = specs.iter().find_map(|s| s.first_problem()) {
        return Err(SimulateError::Usage(problem.clone()));
    }
    let speed = args.speed.unwrap_or_else(|| default_speed(&setup.routing));
    let mut traffic = Traffic {
        per_minute: args.requests_per_minute,
        ..Traffic::default()
    };
    if !args.paths.is_empty() {
        traffic.paths = args.paths.clone();
    }
    let history = args
        .history
        .max(specs.iter().map(|s| s.baseline).max().unwrap_or_default());
    Ok(Prepared {
        setup,
        hook_env,
        versions: args.version_overrides(),
        enforcement: args.iam.into(),
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

/// Runs one deployment of a prepared stack, on a simulator of its own (the library's
/// rehearsal), printing it live when asked.
pub(crate) async fn rehearse(prepared: &Prepared, options: RunOptions<'_>) -> Result<Rehearsal, SimulateError> {
    let live = options.live.map(|stack| {
        let setup = &prepared.setup;
        let faults = options.faults;
        let printer = Arc::new(std::sync::Mutex::new(None::<Printer>));
        let set = printer.clone();
        hook_sim::rehearsal::Live {
            header: Box::new(move |plan: &DeploymentPlan, api_url: &str| {
                print_header(stack, setup, plan, api_url, faults);
                *set.lock().expect("poisoned") = Some(Printer {
                    alias: setup.alias.clone(),
                    hook_timeout: plan.hook_timeout,
                });
            }),
            on_event: Arc::new(move |entry: &hook_sim::deploy::TimelineEntry| {
                if let Some(p) = printer.lock().expect("poisoned").as_ref() {
                    p.print(entry);
                }
            }),
        }
    });
    let options = hook_sim::rehearsal::RunOptions {
        seed: options.seed,
        faults: options.faults,
        live,
    };
    hook_sim::rehearsal::rehearse(prepared, options)
        .await
        .map_err(|e| match e {
            RehearsalError::Start(e) => SimulateError::Start(e),
            RehearsalError::Runtime { function, source } => SimulateError::Runtime { function, source },
            other => SimulateError::Usage(other.to_string()),
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

/// 60, or faster so that shifting takes at most 10 s of wall time.
fn default_speed(routing: &TrafficRouting) -> f64 {
    let shifting = routing.steps().last().map_or(0.0, |s| s.at.as_secs_f64());
    (shifting / 10.0).max(60.0)
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
