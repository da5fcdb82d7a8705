//! One deployment rehearsed from a read stack, on a simulator of its own: the function's two
//! versions and its hooks as processes, CodeDeploy's engine, the alarms, IAM as the stack grants
//! it. `hook-sim simulate` runs one and prints it; `hook-sim audit` runs one per fault and seed
//! and judges them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::deploy::{DeploymentOutcome, DeploymentPlan, Phase, TimelineEntry, Traffic};
use crate::iam::Enforcement;
use crate::stack::setup::{CURRENT, FunctionRun, Setup, TARGET};
use crate::{Behavior, Concurrency, InvocationRecord, ProcessConfig, RuntimeFunction, Sim, VersionFault};

/// A stack read and checked, with what every rehearsal of it shares.
#[derive(Debug)]
pub struct Stage {
    /// What the stack deploys and how.
    pub setup: Setup,
    /// Environment added to every hook's process.
    pub hook_env: Vec<(String, String)>,
    /// Each version's binary and environment, where they differ from the stack's.
    pub versions: VersionOverrides,
    /// IAM refuses what the stack's roles do not allow, or only records it.
    pub enforcement: Enforcement,
    /// Simulated seconds per real second between events.
    pub speed: f64,
    /// The synthetic traffic through the alias.
    pub traffic: Traffic,
    /// How long the current version serves it before the deployment starts.
    pub history: Duration,
}

/// Each version's binary and environment beside the stack's own (`--current-bin`,
/// `--target-env`, ...).
#[derive(Debug, Clone, Default)]
pub struct VersionOverrides {
    /// Version 1's binary instead of the function's.
    pub current_bin: Option<PathBuf>,
    /// Version 2's binary instead of the function's.
    pub target_bin: Option<PathBuf>,
    /// Environment added to version 1's process.
    pub current_env: Vec<(String, String)>,
    /// Environment added to version 2's process.
    pub target_env: Vec<(String, String)>,
}

/// What changes from one rehearsal of a stage to the next.
pub struct RunOptions<'a> {
    /// The seed of the alias's random routing and of the faults' draws.
    pub seed: u64,
    /// Faults applied to the function's versions.
    pub faults: &'a [VersionFault],
    /// Who watches it as it runs, if anyone.
    pub live: Option<Live<'a>>,
}

/// Called once, before a rehearsal's deployment starts: its plan, and the URL of the HTTP API
/// in front of the alias.
pub type OnStart<'a> = Box<dyn FnOnce(&DeploymentPlan, &str) + Send + 'a>;

/// A watcher of a rehearsal as it runs.
pub struct Live<'a> {
    /// Called once, before the deployment starts.
    pub header: OnStart<'a>,
    /// Called with each event of the timeline as it happens.
    pub on_event: Arc<dyn Fn(&TimelineEntry) + Send + Sync>,
}

impl std::fmt::Debug for Live<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .field("live", &self.live.is_some())
            .finish()
    }
}

/// A deployment rehearsed: its outcome and what the processes said.
#[derive(Debug)]
pub struct Rehearsal {
    /// The seed it ran with.
    pub seed: u64,
    /// What CodeDeploy did.
    pub outcome: DeploymentOutcome,
    /// Each hook's log, by function name.
    pub hook_logs: BTreeMap<String, Vec<String>>,
    /// The end of the log of each version that failed an invocation.
    pub function_logs: BTreeMap<&'static str, Vec<String>>,
    /// The calls IAM refused.
    pub denials: Vec<crate::iam::Denial>,
    /// Every invocation of the deployed function, as its metrics count them.
    pub invocations: Vec<InvocationRecord>,
    /// Invocations of the target version a fault changed.
    pub faulted: u64,
}

/// Why a rehearsal could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RehearsalError {
    /// hook-sim's endpoints could not start.
    #[error("cannot start hook-sim on 127.0.0.1")]
    Start(#[source] std::io::Error),
    /// A function's Runtime API could not start.
    #[error("cannot start a Lambda Runtime API for {function}")]
    Runtime {
        /// The function.
        function: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How many of a failing version's last log lines a rehearsal keeps.
const FUNCTION_LOG_TAIL: usize = 20;

/// Runs one deployment of `stage`, on a simulator of its own.
pub async fn rehearse(stage: &Stage, options: RunOptions<'_>) -> Result<Rehearsal, RehearsalError> {
    let setup = &stage.setup;
    let sim = Sim::start().await.map_err(RehearsalError::Start)?;
    sim.set_enforcement(stage.enforcement);
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
                process_config(&h.with_api(&api_url), "$LATEST", None, &stage.hook_env),
            )
        })
        .collect();
    let spawn_err = |function: &str| {
        let function = function.to_string();
        move |source| RehearsalError::Runtime { function, source }
    };
    let Versions {
        current,
        target,
        environments,
    } = start_versions(&sim, &function, &stage.versions).await?;
    processes.extend([current.clone(), target.clone()]);
    let mut plan = DeploymentPlan::new(&function.name, Behavior::Process(current), Behavior::Process(target))
        .config(&setup.config_name, setup.routing)
        .speed(stage.speed)
        .seed(options.seed)
        .traffic(Some(stage.traffic.clone()));
    plan.resource = function.logical_id.clone();
    plan.tags = function.tags.clone();
    plan.environments = environments;
    plan.alias = setup.alias.clone();
    plan.application = setup.application.clone();
    plan.group = setup.group.clone();
    plan.codedeploy_role = Some(setup.codedeploy_role.clone());
    plan.history = stage.history;
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
        Some(live) => {
            (live.header)(&plan, &api_url);
            sim.deploy_with(&plan, move |entry| (live.on_event)(entry)).await
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

/// The function's two versions, running.
#[derive(Debug)]
pub struct Versions {
    /// Version 1.
    pub current: Arc<RuntimeFunction>,
    /// Version 2.
    pub target: Arc<RuntimeFunction>,
    /// What `GetFunction` shows of each version's configured environment (current, target).
    pub environments: (BTreeMap<String, String>, BTreeMap<String, String>),
}

/// Starts version 1 and version 2 of `function` (with their overrides), sharing the function's
/// concurrency.
pub async fn start_versions(
    sim: &Sim,
    function: &FunctionRun,
    overrides: &VersionOverrides,
) -> Result<Versions, RehearsalError> {
    let current_config = process_config(
        function,
        CURRENT,
        overrides.current_bin.as_ref(),
        &overrides.current_env,
    );
    let mut target_config = process_config(function, TARGET, overrides.target_bin.as_ref(), &overrides.target_env);
    target_config.concurrency = current_config.concurrency.clone();
    let environments = (
        current_config.env.iter().cloned().collect(),
        target_config.env.iter().cloned().collect(),
    );
    let spawn_err = |source| RehearsalError::Runtime {
        function: function.name.clone(),
        source,
    };
    let current = sim.runtime(current_config).await.map_err(spawn_err)?;
    let target = sim.runtime(target_config).await.map_err(spawn_err)?;
    Ok(Versions {
        current,
        target,
        environments,
    })
}

/// How a version of `f` runs: its binary (or `binary` instead), runtime, limits and
/// environment, plus `extra` variables.
fn process_config(
    f: &FunctionRun,
    version: &str,
    binary: Option<&PathBuf>,
    extra: &[(String, String)],
) -> ProcessConfig {
    let mut config = ProcessConfig::new(&f.name, binary.unwrap_or(&f.binary))
        .version(version)
        .timeout(f.timeout);
    config.memory_mb = f.memory_mb;
    if binary.is_none() {
        config.args = f.args.clone();
        config.runtime = f.runtime.clone();
        config.handler = f.handler.clone();
    }
    config.concurrency = f
        .reserved_concurrency
        .map_or_else(Concurrency::unreserved, Concurrency::reserved);
    config.task_root = f.task_root.clone();
    config.env = f.env.clone();
    config.env.extend(extra.iter().cloned());
    config
}
