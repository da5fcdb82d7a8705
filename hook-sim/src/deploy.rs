//! The CodeDeploy Lambda deployment engine: hooks, traffic shifting, alarms and rollback.
//!
//! [`Sim::deploy`] runs one deployment of a function alias from a current to a target
//! version the way CodeDeploy does it:
//!
//! 1. **BeforeAllowTraffic**: the hook is invoked asynchronously (an `Event` invoke: on a
//!    function error Lambda tries twice more, one and then two minutes later) with
//!    `{"DeploymentId", "LifecycleEventHookExecutionId"}`, and CodeDeploy waits for its
//!    `PutLifecycleEventHookExecutionStatus`, one hour at most.
//! 2. **Traffic shifts** on the configuration's schedule ([`TrafficRouting::steps`]): the
//!    alias gets a weighted routing to the target version, then all of it.
//! 3. **AfterAllowTraffic**, like the first hook.
//! 4. **Succeeded**; or, when a hook reports `Failed`, stays silent past the timeout, or an
//!    alarm goes to `ALARM`, the alias goes back to the current version: rolled back.
//!
//! Synthetic traffic (HTTP API events through the alias) runs for the whole deployment,
//! and alarms are evaluated like CloudWatch's over Lambda's metrics (`Errors`,
//! `Invocations` by `Resource` and `ExecutedVersion`), period by period. Alarms are also
//! checked before each shift and before the deployment completes, on the period so far when
//! that can only make it worse (sums and maxima compared with a greater-than).
//!
//! Time is scaled by [`DeploymentPlan::speed`]: CodeDeploy's waits (traffic intervals, the
//! hook timeout, Lambda's retry delays) and alarm periods run that many times faster. Hooks
//! and functions are real processes and run in real time: their own timeouts are not scaled.
//! The timeline reports simulated time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alarm::Alarm;
use crate::codedeploy::{DeploymentStatus, LifecycleEventStatus};
use crate::schedule::TrafficRouting;
use crate::{AliasRouting, Behavior, DeploymentSetup, FunctionSetup, Sim, State_};

/// A lifecycle event of a Lambda deployment that runs a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LifecycleEvent {
    /// Before any traffic shifts.
    BeforeAllowTraffic,
    /// After all traffic has shifted.
    AfterAllowTraffic,
}

impl LifecycleEvent {
    /// The name CodeDeploy uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::BeforeAllowTraffic => "BeforeAllowTraffic",
            LifecycleEvent::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook of the deployment: a Lambda function, usually a real binary ([`Behavior::Process`]).
#[derive(Debug, Clone)]
pub struct Hook {
    /// When it runs.
    pub event: LifecycleEvent,
    /// Its function name (real hooks are named `CodeDeployHook_*`).
    pub function: String,
    /// What it does.
    pub behavior: Behavior,
}

/// Synthetic traffic: HTTP API events (`GET /hello?name=user-N`) through the alias.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Real time between two requests.
    pub every: Duration,
    /// Requests in flight at most.
    pub concurrency: usize,
}

impl Default for Traffic {
    /// A request every 10 ms (100 a second of wall time), 16 in flight at most.
    fn default() -> Self {
        Traffic {
            every: Duration::from_millis(10),
            concurrency: 16,
        }
    }
}

/// One deployment to run.
#[derive(Debug, Clone)]
pub struct DeploymentPlan {
    /// `d-...`.
    pub deployment_id: String,
    /// The CodeDeploy application.
    pub application: String,
    /// The deployment group.
    pub group: String,
    /// The resource name in the AppSpec (the function's logical id).
    pub resource: String,
    /// The function name.
    pub function: String,
    /// The alias whose traffic shifts.
    pub alias: String,
    /// The version the alias is on.
    pub current_version: String,
    /// What the current version does.
    pub current: Behavior,
    /// The version the alias moves to.
    pub target_version: String,
    /// What the target version does.
    pub target: Behavior,
    /// The deployment configuration's name.
    pub config_name: String,
    /// Its traffic routing.
    pub routing: TrafficRouting,
    /// The hooks, at most one an event.
    pub hooks: Vec<Hook>,
    /// The alarms.
    pub alarms: Vec<Alarm>,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// How long CodeDeploy waits for a hook's status (simulated; one hour).
    pub hook_timeout: Duration,
    /// Synthetic traffic, or none.
    pub traffic: Option<Traffic>,
}

impl DeploymentPlan {
    /// Alias `live` of `function` from version 1 to 2, all at once, no hooks or alarms, real
    /// time, default traffic.
    pub fn new(function: &str, current: Behavior, target: Behavior) -> Self {
        DeploymentPlan {
            deployment_id: new_deployment_id(),
            application: "hook-sim-app".to_string(),
            group: "hook-sim-group".to_string(),
            resource: "Function".to_string(),
            function: function.to_string(),
            alias: "live".to_string(),
            current_version: "1".to_string(),
            current,
            target_version: "2".to_string(),
            target,
            config_name: "CodeDeployDefault.LambdaAllAtOnce".to_string(),
            routing: TrafficRouting::AllAtOnce,
            hooks: Vec::new(),
            alarms: Vec::new(),
            speed: 1.0,
            hook_timeout: Duration::from_secs(3600),
            traffic: Some(Traffic::default()),
        }
    }

    /// Sets the deployment configuration.
    pub fn config(mut self, name: &str, routing: TrafficRouting) -> Self {
        self.config_name = name.to_string();
        self.routing = routing;
        self
    }

    /// Adds a hook (replacing one of the same event).
    pub fn hook(mut self, event: LifecycleEvent, function: &str, behavior: Behavior) -> Self {
        self.hooks.retain(|h| h.event != event);
        self.hooks.push(Hook {
            event,
            function: function.to_string(),
            behavior,
        });
        self
    }

    /// Adds an alarm.
    pub fn alarm(mut self, alarm: Alarm) -> Self {
        self.alarms.push(alarm);
        self
    }

    /// Sets the time scale: simulated seconds per real second.
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    /// Sets the synthetic traffic.
    pub fn traffic(mut self, traffic: Option<Traffic>) -> Self {
        self.traffic = traffic;
        self
    }

    /// The hook of an event.
    pub fn hook_of(&self, event: LifecycleEvent) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.event == event)
    }

    /// The AppSpec CodeDeploy holds for this deployment.
    pub fn appspec(&self) -> String {
        let hooks: Vec<(&str, &str)> = self
            .hooks
            .iter()
            .map(|h| (h.event.as_str(), h.function.as_str()))
            .collect();
        crate::codedeploy::appspec(
            &self.resource,
            &self.function,
            &self.alias,
            &self.current_version,
            &self.target_version,
            &hooks,
        )
    }
}

fn new_deployment_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    // splitmix64 of the clock and a counter: every character varies.
    let mut x = nanos.wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = String::from("d-");
    for _ in 0..9 {
        id.push(ALPHABET[(x % 36) as usize] as char);
        x /= 36;
    }
    id
}

/// What happened, when.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Simulated time since the deployment started.
    #[serde(rename = "at_s", serialize_with = "crate::duration::secs")]
    pub at: Duration,
    /// Real time since the deployment started.
    #[serde(rename = "real_ms", serialize_with = "crate::duration::millis")]
    pub real: Duration,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// A step of the deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The deployment started: the alias serves the current version.
    DeploymentStarted {
        /// `d-...`.
        deployment_id: String,
        /// The configuration.
        config: String,
    },
    /// CodeDeploy invoked a hook (Lambda's async invoke; attempts 2 and 3 are its retries).
    HookInvoked {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
        /// 1, 2 or 3.
        attempt: u32,
    },
    /// A hook's invocation ended in a function error.
    HookInvocationFailed {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
        /// 1, 2 or 3.
        attempt: u32,
        /// The error payload.
        error: String,
        /// Whether Lambda tries again.
        retried: bool,
    },
    /// A hook's invocation ended without a status reported.
    HookReturnedWithoutStatus {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
    },
    /// A hook reported its status.
    HookReported {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
        /// `Succeeded` or `Failed`.
        status: LifecycleEventStatus,
        /// Real time from the first invoke to the report.
        #[serde(rename = "took_ms", serialize_with = "crate::duration::millis")]
        took: Duration,
    },
    /// A hook did not report within the timeout.
    HookTimedOut {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
    },
    /// The alias's routing changed.
    TrafficShifted {
        /// The share on the target version, 0 to 1.
        weight: f64,
        /// 1-based step.
        step: usize,
        /// Steps in all.
        steps: usize,
    },
    /// An alarm went to `ALARM`.
    AlarmFired {
        /// The alarm.
        alarm: String,
        /// The breaching value of the last period.
        value: f64,
        /// What it watches.
        condition: String,
    },
    /// The alias went back to the current version.
    RolledBack {
        /// Why.
        reason: Rollback,
    },
    /// The alias serves the target version: done.
    DeploymentSucceeded,
}

/// Why a deployment rolled back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Rollback {
    /// A hook reported `Failed`.
    HookFailed {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
    },
    /// A hook did not report in time.
    HookTimedOut {
        /// The lifecycle event.
        lifecycle_event: LifecycleEvent,
        /// The hook function.
        function: String,
    },
    /// An alarm fired.
    Alarm {
        /// The alarm.
        alarm: String,
        /// The breaching value.
        value: f64,
    },
}

impl Rollback {
    /// CodeDeploy's `errorInformation.code` for it.
    pub fn error_code(&self) -> &'static str {
        match self {
            Rollback::HookFailed { .. } => "HOOK_EXECUTION_FAILURE",
            Rollback::HookTimedOut { .. } => "TIMEOUT",
            Rollback::Alarm { .. } => "ALARM_ACTIVE",
        }
    }
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::HookFailed {
                lifecycle_event,
                function,
            } => write!(f, "the {lifecycle_event} hook {function} reported Failed"),
            Rollback::HookTimedOut {
                lifecycle_event,
                function,
            } => write!(f, "the {lifecycle_event} hook {function} did not report in time"),
            Rollback::Alarm { alarm, value } => write!(f, "alarm {alarm} fired (value {value})"),
        }
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FinalStatus {
    /// All traffic is on the target version.
    Succeeded,
    /// All traffic is back on the current version.
    RolledBack,
}

/// Requests of the synthetic traffic one version served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionTraffic {
    /// Requests.
    pub requests: u64,
    /// Function errors among them.
    pub errors: u64,
}

/// The result of [`Sim::deploy`].
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentOutcome {
    /// `d-...`.
    pub deployment_id: String,
    /// How it ended.
    pub status: FinalStatus,
    /// Why it rolled back.
    pub rollback: Option<Rollback>,
    /// The largest share of traffic the target version got.
    pub max_weight: f64,
    /// Synthetic traffic by version.
    pub traffic: BTreeMap<String, VersionTraffic>,
    /// Everything that happened.
    pub timeline: Vec<TimelineEntry>,
    /// Simulated duration.
    #[serde(rename = "simulated_s", serialize_with = "crate::duration::secs")]
    pub simulated: Duration,
    /// Real duration.
    #[serde(rename = "real_ms", serialize_with = "crate::duration::millis")]
    pub real: Duration,
}

type Sink = Arc<dyn Fn(&TimelineEntry) + Send + Sync>;

struct Timeline {
    start: Instant,
    speed: f64,
    entries: Mutex<Vec<TimelineEntry>>,
    sink: Option<Sink>,
}

impl Timeline {
    fn simulated(&self) -> Duration {
        self.start.elapsed().mul_f64(self.speed)
    }

    fn emit(&self, event: Event) {
        let real = self.start.elapsed();
        let entry = TimelineEntry {
            at: real.mul_f64(self.speed),
            real,
            event,
        };
        if let Some(sink) = &self.sink {
            sink(&entry);
        }
        self.entries.lock().expect("timeline poisoned").push(entry);
    }

    /// The real duration of a simulated one.
    fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed)
    }
}

struct AlarmState {
    alarm: Alarm,
    /// Breach of each full period evaluated so far.
    breaches: Vec<bool>,
}

struct Run<'a> {
    sim: &'a Sim,
    plan: &'a DeploymentPlan,
    timeline: Arc<Timeline>,
    /// The recorder's clock when the deployment started.
    record_start: Duration,
    alarms: Mutex<Vec<AlarmState>>,
    background: Mutex<Vec<JoinHandle<()>>>,
}

/// Lambda's async invoke retries: one minute before the second attempt, two before the third.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

impl Sim {
    /// Runs a deployment to its end (see the [module](self) docs).
    pub async fn deploy(&self, plan: &DeploymentPlan) -> DeploymentOutcome {
        self.run_deployment(plan, None).await
    }

    /// Runs a deployment, handing each timeline entry to `on_event` as it happens.
    pub async fn deploy_with(
        &self,
        plan: &DeploymentPlan,
        on_event: impl Fn(&TimelineEntry) + Send + Sync + 'static,
    ) -> DeploymentOutcome {
        self.run_deployment(plan, Some(Arc::new(on_event))).await
    }

    async fn run_deployment(&self, plan: &DeploymentPlan, sink: Option<Sink>) -> DeploymentOutcome {
        assert!(
            plan.speed.is_finite() && plan.speed > 0.0,
            "speed must be a positive number, not {}",
            plan.speed
        );
        self.add_function(
            &plan.function,
            FunctionSetup::new()
                .version(&plan.current_version, plan.current.clone())
                .version(&plan.target_version, plan.target.clone())
                .alias(&plan.alias, &plan.current_version),
        );
        for hook in &plan.hooks {
            self.add_function(
                &hook.function,
                FunctionSetup::new().version("$LATEST", hook.behavior.clone()),
            );
        }
        let mut setup = DeploymentSetup::new(&plan.deployment_id, &plan.appspec()).config(&plan.config_name);
        setup.application = plan.application.clone();
        setup.group = plan.group.clone();
        self.add_deployment(setup);

        let run = Run {
            sim: self,
            plan,
            timeline: Arc::new(Timeline {
                start: Instant::now(),
                speed: plan.speed,
                entries: Mutex::new(Vec::new()),
                sink,
            }),
            record_start: self.elapsed(),
            alarms: Mutex::new(
                plan.alarms
                    .iter()
                    .map(|a| AlarmState {
                        alarm: a.clone(),
                        breaches: Vec::new(),
                    })
                    .collect(),
            ),
            background: Mutex::new(Vec::new()),
        };
        run.timeline.emit(Event::DeploymentStarted {
            deployment_id: plan.deployment_id.clone(),
            config: plan.config_name.clone(),
        });
        let counts: Arc<Mutex<BTreeMap<String, VersionTraffic>>> = Arc::default();
        let traffic = plan.traffic.clone().map(|t| {
            tokio::spawn(synthetic_traffic(
                self.state.clone(),
                plan.function.clone(),
                plan.alias.clone(),
                t,
                counts.clone(),
            ))
        });

        let mut max_weight = 0.0;
        let result = run.lifecycle(&mut max_weight).await;

        if let Some(t) = traffic {
            t.abort();
        }
        for task in run.background.lock().expect("poisoned").drain(..) {
            task.abort();
        }
        let status = match &result {
            Ok(()) => {
                self.set_deployment_status(&plan.deployment_id, DeploymentStatus::Succeeded, None);
                run.timeline.emit(Event::DeploymentSucceeded);
                FinalStatus::Succeeded
            }
            Err(reason) => {
                let _ = self.route_alias(&plan.function, &plan.alias, AliasRouting::to(&plan.current_version));
                let status = if matches!(reason, Rollback::Alarm { .. }) {
                    DeploymentStatus::Stopped
                } else {
                    DeploymentStatus::Failed
                };
                self.set_deployment_status(
                    &plan.deployment_id,
                    status,
                    Some((reason.error_code(), &reason.to_string())),
                );
                run.timeline.emit(Event::RolledBack { reason: reason.clone() });
                FinalStatus::RolledBack
            }
        };
        let timeline = run.timeline.entries.lock().expect("poisoned").clone();
        let traffic = counts.lock().expect("poisoned").clone();
        DeploymentOutcome {
            deployment_id: plan.deployment_id.clone(),
            status,
            rollback: result.err(),
            max_weight,
            traffic,
            simulated: run.timeline.simulated(),
            real: run.timeline.start.elapsed(),
            timeline,
        }
    }
}

impl Run<'_> {
    async fn lifecycle(&self, max_weight: &mut f64) -> Result<(), Rollback> {
        let plan = self.plan;
        if let Some(hook) = plan.hook_of(LifecycleEvent::BeforeAllowTraffic) {
            self.run_hook(hook).await?;
        }
        let steps = plan.routing.steps();
        let shift_start = Instant::now();
        for (i, step) in steps.iter().enumerate() {
            self.guarded(tokio::time::sleep_until(shift_start + self.timeline.real(step.at)))
                .await?;
            self.check_alarms(true)?;
            let routing = if step.weight >= 1.0 {
                AliasRouting::to(&plan.target_version)
            } else {
                AliasRouting::weighted(&plan.current_version, &plan.target_version, step.weight)
            };
            // The alias exists: run_deployment added the function.
            let _ = self.sim.route_alias(&plan.function, &plan.alias, routing);
            *max_weight = step.weight;
            self.timeline.emit(Event::TrafficShifted {
                weight: step.weight,
                step: i + 1,
                steps: steps.len(),
            });
        }
        if let Some(hook) = plan.hook_of(LifecycleEvent::AfterAllowTraffic) {
            self.run_hook(hook).await?;
        }
        self.check_alarms(true)
    }

    /// Runs `f`, unless an alarm fires first.
    async fn guarded<T>(&self, f: impl Future<Output = T>) -> Result<T, Rollback> {
        tokio::select! {
            biased;
            out = f => Ok(out),
            reason = self.watch_alarms() => Err(reason),
        }
    }

    async fn run_hook(&self, hook: &Hook) -> Result<(), Rollback> {
        let plan = self.plan;
        let execution = self.sim.open_lifecycle_event(&plan.deployment_id, hook.event.as_str());
        let started = Instant::now();
        let invoker = tokio::spawn(invoke_hook(
            self.sim.state.clone(),
            self.timeline.clone(),
            hook.clone(),
            plan.deployment_id.clone(),
            execution.clone(),
        ));
        self.background.lock().expect("poisoned").push(invoker);
        let waited = self
            .guarded(tokio::time::timeout(
                self.timeline.real(plan.hook_timeout),
                self.sim.wait_for_status(&execution),
            ))
            .await?;
        match waited {
            Ok(record) => {
                self.timeline.emit(Event::HookReported {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                    status: record.status,
                    took: started.elapsed(),
                });
                if record.status == LifecycleEventStatus::Succeeded {
                    Ok(())
                } else {
                    Err(Rollback::HookFailed {
                        lifecycle_event: hook.event,
                        function: hook.function.clone(),
                    })
                }
            }
            Err(_) => {
                self.sim
                    .complete_lifecycle_event(&plan.deployment_id, &execution, LifecycleEventStatus::Failed);
                self.timeline.emit(Event::HookTimedOut {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                });
                Err(Rollback::HookTimedOut {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                })
            }
        }
    }

    /// Waits for the next period boundary of any alarm, evaluates, and returns when one fires.
    async fn watch_alarms(&self) -> Rollback {
        loop {
            let next = {
                let alarms = self.alarms.lock().expect("poisoned");
                alarms
                    .iter()
                    .map(|a| a.alarm.period * (a.breaches.len() as u32 + 1))
                    .min()
            };
            let Some(next) = next else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(self.timeline.start + self.timeline.real(next)).await;
            if let Err(reason) = self.check_alarms(false) {
                return reason;
            }
        }
    }

    /// Evaluates every full period not evaluated yet, and with `partial` the period so far
    /// when its breach is final. `Err` when an alarm fires.
    fn check_alarms(&self, partial: bool) -> Result<(), Rollback> {
        // Real → simulated time goes through floats: a boundary slept until may come out a
        // nanosecond short. A microsecond of slack makes it count, so the watcher never spins.
        let now = self.timeline.simulated() + Duration::from_micros(1);
        let invocations = self.sim.state.recorder.invocations();
        let mut alarms = self.alarms.lock().expect("poisoned");
        for state in alarms.iter_mut() {
            let period = state.alarm.period;
            let mut last_value = None;
            while period * (state.breaches.len() as u32 + 1) <= now {
                let from = period * state.breaches.len() as u32;
                let value = self.datapoint(&state.alarm, &invocations, from, from + period);
                state
                    .breaches
                    .push(value.is_some_and(|v| state.alarm.comparison.holds(v, state.alarm.threshold)));
                last_value = value;
            }
            let mut breaches = state.breaches.clone();
            if partial && state.alarm.partial_is_final() {
                let from = period * state.breaches.len() as u32;
                let value = self.datapoint(&state.alarm, &invocations, from, now + Duration::from_nanos(1));
                if let Some(v) = value.filter(|v| state.alarm.comparison.holds(*v, state.alarm.threshold)) {
                    breaches.push(true);
                    last_value = Some(v);
                }
            }
            let window = state.alarm.evaluation_periods.max(1) as usize;
            let recent = &breaches[breaches.len().saturating_sub(window)..];
            let breaching = recent.iter().filter(|b| **b).count();
            if breaching >= state.alarm.datapoints_to_alarm.max(1) as usize && breaches.last() == Some(&true) {
                let value = last_value.unwrap_or(f64::NAN);
                self.timeline.emit(Event::AlarmFired {
                    alarm: state.alarm.name.clone(),
                    value,
                    condition: state.alarm.to_string(),
                });
                return Err(Rollback::Alarm {
                    alarm: state.alarm.name.clone(),
                    value,
                });
            }
        }
        Ok(())
    }

    /// The alarm's value over simulated `[from, to)`, `None` without data.
    fn datapoint(
        &self,
        alarm: &Alarm,
        invocations: &[crate::InvocationRecord],
        from: Duration,
        to: Duration,
    ) -> Option<f64> {
        let in_period: Vec<&crate::InvocationRecord> = invocations
            .iter()
            .filter(|i| i.function == self.plan.function && i.at >= self.record_start)
            .filter(|i| {
                let at = (i.at - self.record_start).mul_f64(self.plan.speed);
                at >= from && at < to
            })
            .collect();
        alarm.source.value(&in_period)
    }
}

/// Lambda's async invoke of a hook: up to three attempts while the event is still open.
async fn invoke_hook(
    state: Arc<State_>,
    timeline: Arc<Timeline>,
    hook: Hook,
    deployment_id: String,
    execution_id: String,
) {
    let payload = Sim::lifecycle_event_payload(&deployment_id, &execution_id);
    let still_open = || state.execution_status(&deployment_id, &execution_id) == Some(LifecycleEventStatus::InProgress);
    for attempt in 1..=3u32 {
        timeline.emit(Event::HookInvoked {
            lifecycle_event: hook.event,
            function: hook.function.clone(),
            attempt,
        });
        let Some(outcome) = crate::lambda_api::invoke_internal(&state, &hook.function, None, &payload).await else {
            return;
        };
        let open = still_open();
        if outcome.function_error.is_none() {
            if open {
                timeline.emit(Event::HookReturnedWithoutStatus {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                });
            }
            return;
        }
        let retried = open && attempt < 3;
        timeline.emit(Event::HookInvocationFailed {
            lifecycle_event: hook.event,
            function: hook.function.clone(),
            attempt,
            error: String::from_utf8_lossy(&outcome.payload).into_owned(),
            retried,
        });
        if !retried {
            return;
        }
        tokio::time::sleep(timeline.real(RETRY_DELAYS[attempt as usize - 1])).await;
        if !still_open() {
            return;
        }
    }
}

/// Requests through the alias at a steady pace until aborted.
async fn synthetic_traffic(
    state: Arc<State_>,
    function: String,
    alias: String,
    traffic: Traffic,
    counts: Arc<Mutex<BTreeMap<String, VersionTraffic>>>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(traffic.concurrency.max(1)));
    let mut tick = tokio::time::interval(traffic.every.max(Duration::from_micros(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = tokio::task::JoinSet::new();
    for n in 1u64.. {
        tick.tick().await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        while in_flight.try_join_next().is_some() {}
        let (state, function, alias, counts) = (state.clone(), function.clone(), alias.clone(), counts.clone());
        in_flight.spawn(async move {
            let _permit = permit;
            let event = crate::http_api::api_event(
                "GET",
                "/hello",
                &format!("name=user-{n}"),
                serde_json::Map::new(),
                "hook-sim-traffic",
                "",
            );
            if let Some(outcome) = crate::lambda_api::invoke_internal(&state, &function, Some(&alias), &event).await {
                let mut counts = counts.lock().expect("poisoned");
                let c = counts.entry(outcome.executed_version.clone()).or_default();
                c.requests += 1;
                c.errors += u64::from(outcome.function_error.is_some());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::TrafficRouting;

    /// Alias `live` of `fn` from 1 to 2 with a predefined config, at ×60.
    fn plan(config: &str, current: Behavior, target: Behavior) -> DeploymentPlan {
        DeploymentPlan::new("fn", current, target)
            .config(config, TrafficRouting::predefined(config).unwrap())
            .speed(60.0)
    }

    fn flaky(every: u64) -> Behavior {
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Behavior::Custom(Arc::new(move |_| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if i.is_multiple_of(every) {
                Behavior::FunctionError {
                    error_type: "Flaky".into(),
                    message: "on purpose".into(),
                }
            } else {
                Behavior::hello("2")
            }
        }))
    }

    fn shifts(outcome: &DeploymentOutcome) -> Vec<(u64, f64)> {
        outcome
            .timeline
            .iter()
            .filter_map(|e| match e.event {
                Event::TrafficShifted { weight, .. } => Some((e.at.as_secs(), weight)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn linear_config_shifts_every_interval() {
        let sim = Sim::start().await.unwrap();
        let plan = plan(
            "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            Behavior::hello("1"),
            Behavior::hello("2"),
        );
        let outcome = sim.deploy(&plan).await;
        assert_eq!(outcome.status, FinalStatus::Succeeded);
        let s = shifts(&outcome);
        assert_eq!(s.len(), 10);
        for (i, (at, weight)) in s.iter().enumerate() {
            assert_eq!(*at, 60 * i as u64, "step {i} at {at} s");
            assert!((weight - (i + 1) as f64 / 10.0).abs() < 1e-9);
        }
        assert_eq!(outcome.simulated.as_secs(), 540);
        assert_eq!(outcome.real.as_secs(), 9, "9 simulated minutes at ×60");
        assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("2"));
        let traffic = &outcome.traffic;
        assert!(traffic["1"].requests > traffic["2"].requests / 2, "{traffic:?}");
        assert_eq!(traffic["2"].errors, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_under_traffic_fire_the_alarm_and_roll_back() {
        let sim = Sim::start().await.unwrap();
        let alarm = Alarm::any_error("errors").through("live").version("2");
        let plan = plan("Canary10Percent5Minutes", Behavior::hello("1"), flaky(10)).alarm(alarm);
        let outcome = sim.deploy(&plan).await;
        assert_eq!(outcome.status, FinalStatus::RolledBack);
        assert!(
            matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, value }) if alarm == "errors" && *value >= 1.0),
            "{:?}",
            outcome.rollback
        );
        assert_eq!(shifts(&outcome), [(0, 0.1)], "never past the canary");
        assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("1"));
        let info = sim.deployment_info(&plan.deployment_id).unwrap();
        assert_eq!(info["status"], "Stopped");
        assert_eq!(info["errorInformation"]["code"], "ALARM_ACTIVE");
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_on_the_old_version_only_does_not_stop_the_new_one() {
        let sim = Sim::start().await.unwrap();
        let alarm = Alarm::any_error("errors of 2").version("2");
        let plan = plan("Canary10Percent5Minutes", flaky(3), Behavior::hello("2")).alarm(alarm);
        let outcome = sim.deploy(&plan).await;
        assert_eq!(outcome.status, FinalStatus::Succeeded, "{:?}", outcome.rollback);
        assert!(outcome.traffic["1"].errors > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_hook_times_out_after_an_hour_of_simulated_time() {
        let sim = Sim::start().await.unwrap();
        let plan = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2"))
            .hook(
                LifecycleEvent::BeforeAllowTraffic,
                "CodeDeployHook_silent",
                Behavior::Respond(json!({"ok": true})),
            )
            .speed(600.0);
        let outcome = sim.deploy(&plan).await;
        assert_eq!(
            outcome.rollback,
            Some(Rollback::HookTimedOut {
                lifecycle_event: LifecycleEvent::BeforeAllowTraffic,
                function: "CodeDeployHook_silent".into()
            })
        );
        assert_eq!(outcome.max_weight, 0.0);
        assert_eq!(outcome.simulated.as_secs(), 3600);
        assert_eq!(outcome.real.as_secs(), 6);
        assert!(
            outcome
                .timeline
                .iter()
                .any(|e| matches!(e.event, Event::HookReturnedWithoutStatus { .. }))
        );
        let info = sim.deployment_info(&plan.deployment_id).unwrap();
        assert_eq!(info["status"], "Failed");
        assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_hook_is_invoked_three_times_as_lambda_retries() {
        let sim = Sim::start().await.unwrap();
        let plan = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2"))
            .hook(
                LifecycleEvent::AfterAllowTraffic,
                "CodeDeployHook_crash",
                Behavior::FunctionError {
                    error_type: "Crash".into(),
                    message: "boom".into(),
                },
            )
            .speed(60.0);
        let outcome = sim.deploy(&plan).await;
        let attempts: Vec<(u64, u32)> = outcome
            .timeline
            .iter()
            .filter_map(|e| match e.event {
                Event::HookInvoked { attempt, .. } => Some((e.at.as_secs(), attempt)),
                _ => None,
            })
            .collect();
        assert_eq!(attempts, [(0, 1), (60, 2), (180, 3)]);
        assert_eq!(
            outcome.max_weight, 1.0,
            "AfterAllowTraffic runs after all traffic shifted"
        );
        assert!(matches!(outcome.rollback, Some(Rollback::HookTimedOut { .. })));
        assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("1"));
    }

    #[test]
    fn deployment_ids_look_like_codedeploys() {
        let id = new_deployment_id();
        assert_eq!(id.len(), 11);
        assert!(id.starts_with("d-"));
        assert!(id[2..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(id, new_deployment_id());
    }
}
