//! The engine: the lifecycle of one deployment, its hooks, shifts, alarms and rollback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alarm::{Alarm, StateValue};
use crate::codedeploy::{DeploymentStatus, LifecycleEventStatus};
use crate::metric::METRIC_LAG;
use crate::{AliasRouting, DeploymentSetup, FunctionSetup, Sim};

use super::outcome::*;
use super::plan::*;
use super::timeline::{Sink, Timeline};
use super::traffic::TrafficRun;

pub(super) struct AlarmState {
    pub(super) alarm: Alarm,
    /// The start of its first period (simulated, absolute), on the wall clock's period grid.
    pub(super) first: Duration,
    /// The value of each full period evaluated so far (`None`: no data).
    pub(super) values: Vec<Option<f64>>,
    /// Its state after the last evaluation (INSUFFICIENT_DATA before the first).
    pub(super) state: StateValue,
    /// The periods evaluated since the deployment started.
    pub(super) trace: Vec<AlarmPeriod>,
}

pub(super) struct Run<'a> {
    pub(super) sim: &'a Sim,
    pub(super) plan: &'a DeploymentPlan,
    pub(super) timeline: Arc<Timeline>,
    pub(super) alarms: Mutex<Vec<AlarmState>>,
    pub(super) traffic: tokio::sync::Mutex<Option<TrafficRun>>,
    pub(super) background: Mutex<Vec<JoinHandle<()>>>,
    /// Lambda's retries of hook invocations that failed after their hook reported: due at a
    /// simulated time, whatever the status.
    pub(super) retries: Arc<Mutex<Vec<RetryDue>>>,
    /// Wakes the engine when a retry is scheduled from the background.
    pub(super) wake: Arc<tokio::sync::Notify>,
}

/// A hook invocation Lambda will retry.
pub(super) struct RetryDue {
    /// When (simulated, absolute).
    at: Duration,
    event: Phase,
    function: String,
    execution: String,
    /// The attempt it will be, and the most there are.
    attempt: u32,
    attempts: u32,
}

/// What follows a hook invocation that ends after its hook reported: Lambda retries a
/// function error all the same (the status stands; a second one is refused).
#[derive(Clone)]
struct AfterStatus {
    state: Arc<crate::SimState>,
    timeline: Arc<Timeline>,
    retries: Arc<Mutex<Vec<RetryDue>>>,
    wake: Arc<tokio::sync::Notify>,
    event: Phase,
    function: String,
    execution: String,
    attempt: u32,
    attempts: u32,
}

impl AfterStatus {
    fn ended(&self, outcome: Option<crate::invocation::InvokeOutcome>) {
        let Some(outcome) = outcome.filter(|o| o.function_error.is_some()) else {
            return;
        };
        let retried = self.attempt < self.attempts;
        self.timeline.emit(Event::HookFailedAfterReporting {
            lifecycle_event: self.event,
            function: self.function.clone(),
            attempt: self.attempt,
            error: String::from_utf8_lossy(&outcome.payload).into_owned(),
            retried,
        });
        if retried {
            let at = self.state.recorder.clock.now() + RETRY_DELAYS[self.attempt as usize - 1];
            self.retries.lock().expect("poisoned").push(RetryDue {
                at,
                event: self.event,
                function: self.function.clone(),
                execution: self.execution.clone(),
                attempt: self.attempt + 1,
                attempts: self.attempts,
            });
            self.wake.notify_one();
        }
    }

    /// Waits for `invocation` in the background, then [`ended`](Self::ended).
    fn watch(self, invocation: JoinHandle<Option<crate::invocation::InvokeOutcome>>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let outcome = invocation.await.ok().flatten();
            self.ended(outcome);
        })
    }
}

/// How fast the traffic before the deployment runs (simulated time against real).
const WARM_UP_SPEED: f64 = 100_000.0;

/// Lambda's async invoke retries: one minute before the second attempt, two before the third.
pub(super) const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// How a hook attempt's wait ended.
enum AttemptEnd {
    Status(crate::HookStatusRecord),
    Returned(Option<crate::invocation::InvokeOutcome>),
}

impl Sim {
    /// Runs a deployment to its end (see the [module](crate::deploy) docs).
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
                .alias(&plan.alias, &plan.current_version)
                .tags(&plan.tags)
                .version_environment(&plan.current_version, &plan.environments.0)
                .version_environment(&plan.target_version, &plan.environments.1),
        );
        for hook in &plan.hooks {
            self.add_function(
                &hook.function,
                FunctionSetup::new().version("$LATEST", hook.behavior.clone()),
            );
        }
        *self.state.routing_seed.lock().expect("poisoned") = plan.seed;
        let clock = &self.state.recorder.clock;
        // The traffic before the deployment is only the current version's: it runs as fast
        // as its invocations allow, whatever the speed.
        clock.set_speed(plan.speed.max(WARM_UP_SPEED));
        // The current version's traffic runs before the deployment, as long as the alarms
        // look back (and their data takes to arrive): what they say when it starts. The
        // deployment starts at a second of the minute drawn from the seed (0 without one),
        // and CloudWatch's periods are aligned on the wall clock, not on the deployment.
        let look_back = |a: &Alarm| a.period * a.evaluation_range() as u32;
        let lead = match plan.traffic {
            Some(_) if !plan.alarms.is_empty() => {
                plan.alarms
                    .iter()
                    .map(|a| look_back(a) + a.period)
                    .max()
                    .unwrap_or_default()
                    + METRIC_LAG
            }
            _ => Duration::ZERO,
        };
        let history = match plan.traffic {
            Some(_) if !plan.history.is_zero() => plan.history + METRIC_LAG,
            _ => Duration::ZERO,
        };
        let lead = lead.max(history);
        let offset = plan.seed.map_or(Duration::ZERO, |s| {
            Duration::from_millis(crate::function::splitmix64(s ^ 0x05EC_04D5) % 60_000)
        });
        let start_sim = clock.next_in_minute(clock.now() + lead, offset);
        let alarm_states: Vec<AlarmState> = plan
            .alarms
            .iter()
            .map(|a| AlarmState {
                alarm: a.clone(),
                first: match plan.traffic {
                    Some(_) => clock.align_down(start_sim.saturating_sub(look_back(a) + METRIC_LAG), a.period),
                    None => clock.align_down(start_sim, a.period),
                },
                values: Vec::new(),
                state: StateValue::InsufficientData,
                trace: Vec::new(),
            })
            .collect();
        let origin = alarm_states
            .iter()
            .map(|a| a.first)
            .chain(
                (!history.is_zero())
                    .then(|| clock.align_down(start_sim.saturating_sub(history), Duration::from_secs(60))),
            )
            .min()
            .unwrap_or(start_sim);
        clock.arrive(origin);
        let traffic = plan
            .traffic
            .as_ref()
            .map(|t| TrafficRun::new(self.state.clone(), &plan.function, &plan.alias, t, origin));
        let counts = traffic.as_ref().map(|t| t.counts.clone()).unwrap_or_default();
        let run = Run {
            sim: self,
            plan,
            timeline: Arc::new(Timeline {
                state: self.state.clone(),
                start_sim,
                start: Instant::now(),
                entries: Mutex::new(Vec::new()),
                sink,
            }),
            alarms: Mutex::new(alarm_states),
            traffic: tokio::sync::Mutex::new(traffic),
            background: Mutex::new(Vec::new()),
            retries: Arc::default(),
            wake: Arc::default(),
        };
        let mut max_weight = 0.0;
        let result = run.lifecycle(&mut max_weight, &counts).await;

        if let Some(t) = run.traffic.lock().await.as_mut() {
            t.stop();
        }
        for task in run.background.lock().expect("poisoned").drain(..) {
            task.abort();
        }
        let mut rollback_deployment_id = None;
        let (status, deployment_status) = match &result {
            Ok(()) => {
                self.set_deployment_status(&plan.deployment_id, DeploymentStatus::Succeeded, None);
                run.notify(TriggerEvent::DeploymentSuccess);
                run.timeline.emit(Event::DeploymentSucceeded);
                (FinalStatus::Succeeded, DeploymentStatus::Succeeded)
            }
            Err(reason) => {
                let _ = self.route_alias(&plan.function, &plan.alias, AliasRouting::to(&plan.current_version));
                self.set_target_weight(&plan.deployment_id, 0.0);
                self.skip_pending_events(&plan.deployment_id);
                let status = if matches!(reason, Rollback::Alarm { .. } | Rollback::AlarmBeforeStart { .. }) {
                    DeploymentStatus::Stopped
                } else {
                    DeploymentStatus::Failed
                };
                self.set_deployment_status(
                    &plan.deployment_id,
                    status,
                    Some((reason.error_code(), &reason.error_message())),
                );
                run.notify(match status {
                    DeploymentStatus::Stopped => TriggerEvent::DeploymentStop,
                    _ => TriggerEvent::DeploymentFailure,
                });
                rollback_deployment_id = Some(self.record_rollback(plan));
                run.notify(TriggerEvent::DeploymentRollback);
                run.timeline.emit(Event::RolledBack { reason: reason.clone() });
                (FinalStatus::RolledBack, status)
            }
        };
        let timeline = run.timeline.entries.lock().expect("poisoned").clone();
        let alarms = run
            .alarms
            .lock()
            .expect("poisoned")
            .iter()
            .map(|a| AlarmTrace {
                alarm: a.alarm.name.clone(),
                condition: a.alarm.to_string(),
                periods: a.trace.clone(),
                state: a.state,
            })
            .collect();
        let traffic = counts.lock().expect("poisoned").clone();
        let simulated = run.timeline.simulated();
        self.state.sleepers.lock().expect("poisoned").clear();
        self.state.recorder.clock.release();
        DeploymentOutcome {
            deployment_id: plan.deployment_id.clone(),
            status,
            error_code: result.as_ref().err().map(|r| r.error_code().to_string()),
            rollback: result.err(),
            deployment_status,
            rollback_deployment_id,
            max_weight,
            traffic,
            simulated,
            real: run.timeline.start.elapsed(),
            timeline,
            started: run.timeline.start_sim,
            alarms,
        }
    }
}

impl Sim {
    /// Records the rollback as CodeDeploy does: a deployment of its own (the alias back from
    /// the target to the current version, no hooks, created by `codeDeployRollback`), and
    /// each deployment's `rollbackInfo` naming the other. Returns its id.
    fn record_rollback(&self, plan: &DeploymentPlan) -> String {
        let id = super::plan::new_deployment_id();
        let appspec = crate::codedeploy::appspec(
            &plan.resource,
            &plan.function,
            &plan.alias,
            &plan.target_version,
            &plan.current_version,
            &[],
        );
        let mut setup = DeploymentSetup::new(&id, &appspec).config(&plan.config_name);
        setup.application = plan.application.clone();
        setup.group = plan.group.clone();
        self.add_deployment(setup);
        self.set_deployment_status(&id, DeploymentStatus::Succeeded, None);
        let now = self.state.recorder.clock.wall();
        let mut deployments = self.state.deployments.lock().expect("poisoned");
        if let Some(d) = deployments.get_mut(&id) {
            d.creator = "codeDeployRollback";
            d.target_weight = 1.0;
            for name in crate::codedeploy::LAMBDA_LIFECYCLE_EVENTS {
                let status = if name.ends_with("AllowTraffic") && name != "AllowTraffic" {
                    LifecycleEventStatus::Skipped
                } else {
                    LifecycleEventStatus::Succeeded
                };
                d.set_event(name, status, now);
            }
            d.rollback_info = Some(json!({"rollbackTriggeringDeploymentId": plan.deployment_id}));
        }
        if let Some(d) = deployments.get_mut(&plan.deployment_id) {
            d.rollback_info = Some(json!({
                "rollbackDeploymentId": id,
                "rollbackMessage": format!("Deployment {} was rolled back by deployment {id}.", plan.deployment_id),
            }));
        }
        id
    }
}

impl Run<'_> {
    fn clock(&self) -> &crate::clock::SimClock {
        &self.sim.state.recorder.clock
    }

    fn now(&self) -> Duration {
        self.timeline.simulated()
    }

    async fn lifecycle(
        &self,
        max_weight: &mut f64,
        counts: &Mutex<BTreeMap<String, VersionTraffic>>,
    ) -> Result<(), Rollback> {
        let plan = self.plan;
        let warm_up = self
            .advance_to(self.timeline.start_sim, std::future::pending::<()>())
            .await;
        self.clock().set_speed(plan.speed);
        // The deployment is created now (its `createTime`), after the traffic before it.
        let mut setup = DeploymentSetup::new(&plan.deployment_id, &plan.appspec()).config(&plan.config_name);
        setup.application = plan.application.clone();
        setup.group = plan.group.clone();
        self.sim.add_deployment(setup);
        // The outcome counts the deployment's traffic only.
        counts.lock().expect("poisoned").clear();
        self.timeline.emit(Event::DeploymentStarted {
            deployment_id: plan.deployment_id.clone(),
            config: plan.config_name.clone(),
        });
        self.notify(TriggerEvent::DeploymentStart);
        if let Err(Rollback::Alarm { alarm, value }) = warm_up {
            self.target_event("Start", LifecycleEventStatus::Failed);
            return Err(Rollback::AlarmBeforeStart { alarm, value });
        }
        self.target_event("Start", LifecycleEventStatus::Succeeded);
        self.phase("BeforeAllowTraffic", self.run_hook_of(Phase::BeforeAllowTraffic))
            .await?;
        let steps = plan.routing.steps();
        let shift_start = self.now();
        self.target_event("AllowTraffic", LifecycleEventStatus::InProgress);
        for (i, step) in steps.iter().enumerate() {
            if let Err(rollback) = self.advance(shift_start + step.at, std::future::pending::<()>()).await {
                self.target_event("AllowTraffic", LifecycleEventStatus::Failed);
                return Err(rollback);
            }
            let routing = if step.weight >= 1.0 {
                AliasRouting::to(&plan.target_version)
            } else {
                AliasRouting::weighted(&plan.current_version, &plan.target_version, step.weight)
            };
            // The alias exists: run_deployment added the function.
            let _ = self.sim.route_alias(&plan.function, &plan.alias, routing);
            self.sim.set_target_weight(&plan.deployment_id, step.weight);
            *max_weight = step.weight;
            self.timeline.emit(Event::TrafficShifted {
                weight: step.weight,
                step: i + 1,
                steps: steps.len(),
            });
        }
        self.target_event("AllowTraffic", LifecycleEventStatus::Succeeded);
        self.phase("AfterAllowTraffic", self.run_hook_of(Phase::AfterAllowTraffic))
            .await?;
        self.target_event("End", LifecycleEventStatus::Succeeded);
        Ok(())
    }

    /// Publishes `event` to every trigger that subscribes to it: CodeDeploy's message for
    /// deployment-based triggers, from the deployment as `GetDeployment` answers now.
    fn notify(&self, event: TriggerEvent) {
        let plan = self.plan;
        let Some(info) = self.sim.deployment_info(&plan.deployment_id) else {
            return;
        };
        for trigger in plan.triggers.iter().filter(|t| t.events.contains(&event)) {
            if let Some(role) = &plan.codedeploy_role
                && let Err(denial) = self
                    .sim
                    .state
                    .authorize_as(role, &crate::iam::Request::new("sns:Publish", &trigger.topic_arn))
            {
                self.timeline.emit(Event::NotificationDenied {
                    trigger: trigger.name.clone(),
                    trigger_event: event,
                    denial: denial.to_string(),
                });
                continue;
            }
            let mut message = json!({
                "region": crate::account::REGION,
                "accountId": crate::account::ACCOUNT_ID,
                "eventTriggerName": trigger.name,
                "applicationName": info["applicationName"],
                "deploymentId": plan.deployment_id,
                "deploymentGroupName": info["deploymentGroupName"],
                "createTime": info["createTime"].as_f64().map(|t| format!("{t:.3}")),
                "status": info["status"],
            });
            if let Some(t) = info["completeTime"].as_f64() {
                message["completeTime"] = json!(format!("{t:.3}"));
            }
            // As CodeDeploy's notifications carry it: a JSON text of counts as text.
            if let Some(overview) = info["deploymentOverview"].as_object() {
                let counts: serde_json::Map<String, serde_json::Value> = overview
                    .iter()
                    .filter(|(k, _)| k.as_str() != "Ready")
                    .map(|(k, v)| (k.clone(), json!(v.to_string())))
                    .collect();
                message["deploymentOverview"] = json!(serde_json::Value::Object(counts).to_string());
            }
            if let Some(e) = info.get("errorInformation") {
                message["errorInformation"] = json!({"ErrorCode": e["code"], "ErrorMessage": e["message"]});
            }
            self.timeline.emit(Event::Notified {
                trigger: trigger.name.clone(),
                trigger_event: event,
                topic: trigger.topic_arn.clone(),
                message,
            });
        }
    }

    /// Records a lifecycle event of the deployment's target (`GetDeploymentTarget`).
    fn target_event(&self, name: &str, status: LifecycleEventStatus) {
        self.sim.set_target_event(&self.plan.deployment_id, name, status);
    }

    /// Runs the hook of `event`, if any: `None` when there is none.
    async fn run_hook_of(&self, event: Phase) -> Option<Result<(), Rollback>> {
        match self.plan.hook_of(event) {
            Some(hook) => Some(self.run_hook(hook).await),
            None => None,
        }
    }

    /// A hook's lifecycle event, recorded as it runs and ends (Skipped without a hook).
    async fn phase(&self, name: &str, run: impl Future<Output = Option<Result<(), Rollback>>>) -> Result<(), Rollback> {
        self.target_event(name, LifecycleEventStatus::InProgress);
        match run.await {
            None => {
                self.target_event(name, LifecycleEventStatus::Skipped);
                Ok(())
            }
            Some(Ok(())) => {
                self.target_event(name, LifecycleEventStatus::Succeeded);
                Ok(())
            }
            Some(Err(rollback)) => {
                self.target_event(name, LifecycleEventStatus::Failed);
                Err(rollback)
            }
        }
    }

    /// Moves simulated time to `until` (since the deployment started), sending the traffic
    /// and evaluating the alarms due on the way, unless `interrupt` ends first (then its
    /// output, with the clock where it ended). `Err` when an alarm fires.
    async fn advance<T>(&self, until: Duration, interrupt: impl Future<Output = T>) -> Result<Option<T>, Rollback> {
        self.advance_to(self.timeline.start_sim + until, interrupt).await
    }

    /// [`advance`](Self::advance) to absolute simulated time `until`.
    async fn advance_to<T>(&self, until: Duration, interrupt: impl Future<Output = T>) -> Result<Option<T>, Rollback> {
        let mut interrupt = std::pin::pin!(interrupt);
        let mut pace = self.clock().pace_changes();
        loop {
            let background = self.next_background().await;
            let next = background.map_or(until, |b| b.min(until));
            self.clock().set_frontier(next);
            pace.mark_unchanged();
            let wait = self.clock().real_until(next);
            tokio::select! {
                biased;
                out = &mut interrupt => return Ok(Some(out)),
                _ = sleep_or_yield(wait) => {}
                // Real work started or ended: the wait is paced anew.
                _ = pace.changed() => continue,
                // A retry was scheduled: it may be the next event.
                _ = self.wake.notified() => continue,
                // A process waits on the clock: its time may be the next event.
                _ = self.sim.state.sleepers_changed.notified() => continue,
            }
            self.sim.state.sleepers.lock().expect("poisoned").retain(|t| *t > next);
            self.clock().arrive(next);
            if background.is_some_and(|b| b <= next) {
                self.run_background(next).await?;
            }
            if next >= until {
                return Ok(None);
            }
        }
    }

    /// The end of the next full period of `alarm` (absolute).
    fn period_end(&self, a: &AlarmState) -> Duration {
        a.first + a.alarm.period * (a.values.len() as u32 + 1)
    }

    /// When the next full period of `alarm` is evaluated (absolute): its data has arrived.
    fn evaluation(&self, a: &AlarmState) -> Duration {
        self.period_end(a) + METRIC_LAG
    }

    /// The simulated time (absolute) of the next request or alarm period end.
    async fn next_background(&self) -> Option<Duration> {
        let traffic = self.traffic.lock().await.as_ref().map(|t| t.next_at);
        let alarms = self
            .alarms
            .lock()
            .expect("poisoned")
            .iter()
            .map(|a| self.evaluation(a))
            .min();
        let retries = self.retries.lock().expect("poisoned").iter().map(|r| r.at).min();
        let sleepers = self.sim.state.sleepers.lock().expect("poisoned").iter().copied().min();
        [traffic, alarms, retries, sleepers].into_iter().flatten().min()
    }

    /// Evaluates the periods that end and sends the requests due at `now` (absolute), in
    /// that order: no request of the next period runs while the last one's are counted, so
    /// which invocation a version's process sees tenth does not depend on the speed.
    async fn run_background(&self, now: Duration) -> Result<(), Rollback> {
        let due = {
            let alarms = self.alarms.lock().expect("poisoned");
            alarms
                .iter()
                .filter(|a| self.evaluation(a) <= now)
                .map(|a| self.period_end(a))
                .max()
        };
        if let Some(period_end) = due {
            // The periods' metrics are complete once every invocation started in them ended:
            // Lambda ends each by its timeout, at most 15 minutes (a scripted `Hang` never ends,
            // so the wait is bounded by that too).
            let _ = tokio::time::timeout(
                Duration::from_secs(900),
                self.sim.state.recorder.settled(&self.plan.function, period_end),
            )
            .await;
            self.check_alarms(now)?;
        }
        if let Some(t) = self.traffic.lock().await.as_mut() {
            while t.next_at <= now {
                t.dispatch().await;
            }
        }
        let due: Vec<RetryDue> = {
            let mut retries = self.retries.lock().expect("poisoned");
            let (due, later) = retries.drain(..).partition(|r| r.at <= now);
            *retries = later;
            due
        };
        for retry in due {
            self.timeline.emit(Event::HookInvoked {
                lifecycle_event: retry.event,
                function: retry.function.clone(),
                attempt: retry.attempt,
            });
            let invocation = self.invoke_hook(&retry.function, &retry.execution);
            let watch = AfterStatus {
                state: self.sim.state.clone(),
                timeline: self.timeline.clone(),
                retries: self.retries.clone(),
                wake: self.wake.clone(),
                event: retry.event,
                function: retry.function,
                execution: retry.execution,
                attempt: retry.attempt,
                attempts: retry.attempts,
            }
            .watch(invocation);
            self.background.lock().expect("poisoned").push(watch);
        }
        Ok(())
    }

    /// Invokes a hook asynchronously, as CodeDeploy does, with its lifecycle event.
    fn invoke_hook(&self, function: &str, execution: &str) -> JoinHandle<Option<crate::invocation::InvokeOutcome>> {
        let payload = Sim::lifecycle_event_payload(&self.plan.deployment_id, execution);
        let (state, function) = (self.sim.state.clone(), function.to_string());
        // The hook runs in real time from now on: so does the clock until it ends (or waits on
        // the clock: crate::clock_api).
        let running = state.recorder.begin_invocation(&function);
        tokio::spawn(async move {
            let source = crate::lambda_api::Source::Hook { running };
            crate::lambda_api::invoke_internal(&state, &function, None, &payload, source).await
        })
    }

    async fn run_hook(&self, hook: &HookPlan) -> Result<(), Rollback> {
        let plan = self.plan;
        let state = self.sim.state.clone();
        let execution = self.sim.open_lifecycle_event(&plan.deployment_id, hook.event.as_str());
        // CodeDeploy invokes the hook as its role: a role that may not fails the event.
        if let Some(role) = &plan.codedeploy_role {
            let arn = format!(
                "arn:aws:lambda:{}:{}:function:{}",
                crate::account::REGION,
                crate::account::ACCOUNT_ID,
                hook.function
            );
            let request = crate::iam::function_request("lambda:InvokeFunction", &arn, &state.tags_of(&hook.function));
            if let Err(denial) = state.authorize_as(role, &request) {
                self.timeline.emit(Event::HookNotInvoked {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                    denial: denial.to_string(),
                });
                return Err(Rollback::HookNotInvoked {
                    lifecycle_event: hook.event,
                    function: hook.function.clone(),
                    role: role.role_arn.clone(),
                });
            }
        }
        let started = Instant::now();
        let deadline = self.now() + plan.hook_timeout;
        let mut ended = None;
        let attempts = 1 + hook.max_retries.min(2);
        for attempt in 1..=attempts {
            self.timeline.emit(Event::HookInvoked {
                lifecycle_event: hook.event,
                function: hook.function.clone(),
                attempt,
            });
            let mut invocation = self.invoke_hook(&hook.function, &execution);
            let after_status = AfterStatus {
                state: state.clone(),
                timeline: self.timeline.clone(),
                retries: self.retries.clone(),
                wake: self.wake.clone(),
                event: hook.event,
                function: hook.function.clone(),
                execution: execution.clone(),
                attempt,
                attempts,
            };
            let end = self
                .advance(deadline, async {
                    tokio::select! {
                        biased;
                        record = self.sim.wait_for_status(&execution) => AttemptEnd::Status(record),
                        outcome = &mut invocation => AttemptEnd::Returned(outcome.ok().flatten()),
                    }
                })
                .await;
            let end = match end {
                Ok(end) => end,
                Err(rollback) => {
                    invocation.abort();
                    return Err(rollback);
                }
            };
            match end {
                None => {
                    self.background.lock().expect("poisoned").push(tokio::spawn(async move {
                        let _ = invocation.await;
                    }));
                    break;
                }
                Some(AttemptEnd::Status(record)) => {
                    // The function may still be running: CodeDeploy does not wait for it, and
                    // Lambda retries it if it fails.
                    self.background
                        .lock()
                        .expect("poisoned")
                        .push(after_status.watch(invocation));
                    ended = Some(record);
                    break;
                }
                Some(AttemptEnd::Returned(outcome)) => {
                    if let Some(record) = self.status_of(&execution) {
                        after_status.ended(outcome);
                        ended = Some(record);
                        break;
                    }
                    let Some(outcome) = outcome else { break };
                    if outcome.function_error.is_none() {
                        self.timeline.emit(Event::HookReturnedWithoutStatus {
                            lifecycle_event: hook.event,
                            function: hook.function.clone(),
                        });
                        break;
                    }
                    let retry_at = (attempt < attempts).then(|| self.now() + RETRY_DELAYS[attempt as usize - 1]);
                    let retried = retry_at.is_some_and(|at| at < deadline);
                    self.timeline.emit(Event::HookInvocationFailed {
                        lifecycle_event: hook.event,
                        function: hook.function.clone(),
                        attempt,
                        error: String::from_utf8_lossy(&outcome.payload).into_owned(),
                        retried,
                    });
                    match retry_at.filter(|_| retried) {
                        Some(at) => {
                            self.advance(at, std::future::pending::<()>()).await?;
                        }
                        None => break,
                    }
                }
            }
        }
        let record = match ended {
            Some(record) => Some(record),
            // No status yet: CodeDeploy waits for one until the hour is up.
            None => self.advance(deadline, self.sim.wait_for_status(&execution)).await?,
        };
        match record {
            Some(record) => {
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
            None => {
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

    /// The status accepted for `execution`, if any.
    fn status_of(&self, execution: &str) -> Option<crate::HookStatusRecord> {
        self.sim.statuses().into_iter().find(|s| s.execution_id == execution)
    }

    /// Evaluates every full period that ended by `now` (absolute). `Err` when an alarm fires.
    fn check_alarms(&self, now: Duration) -> Result<(), Rollback> {
        let invocations = self.sim.state.recorder.invocations();
        let mut alarms = self.alarms.lock().expect("poisoned");
        for state in alarms.iter_mut() {
            let period = state.alarm.period;
            while self.evaluation(state) <= now {
                let from = state.first + period * state.values.len() as u32;
                let in_period: Vec<&crate::InvocationRecord> = invocations
                    .iter()
                    .filter(|i| i.at >= from && i.at < from + period)
                    .collect();
                let source = &state.alarm.source;
                let (value, samples) = match source {
                    // A custom metric: from the store, what CloudWatch shows by now.
                    crate::alarm::AlarmSource::Custom(c) => {
                        let clock = &self.sim.state.recorder.clock;
                        let epoch = clock.epoch_ms() as f64 / 1000.0;
                        let wall = |d: Duration| epoch + d.as_secs_f64();
                        let store = self.sim.state.recorder.custom.lock().expect("poisoned");
                        let count = crate::alarm::CustomMetric {
                            statistic: crate::alarm::Statistic::SampleCount,
                            ..c.clone()
                        };
                        (
                            store.value(c, wall(from), wall(from + period), wall(now)),
                            store.value(&count, wall(from), wall(from + period), wall(now)),
                        )
                    }
                    _ => (
                        source.value_in(&in_period, &self.plan.function),
                        source.samples_in(&in_period, &self.plan.function),
                    ),
                };
                state.values.push(value);
                // `EvaluateLowSampleCountPercentile: ignore`: too few samples in the newest
                // period, and the alarm is not evaluated this time.
                let too_few = state.alarm.ignore_low_samples
                    && source
                        .low_sample_bound()
                        .is_some_and(|bound| samples.unwrap_or(0.0) < bound);
                if too_few {
                    continue;
                }
                state.state = state.alarm.evaluate(&state.values, state.state);
                if from + period > self.timeline.start_sim {
                    let breaching = value.is_some_and(|v| state.alarm.comparison.holds(v, state.alarm.threshold));
                    state.trace.push(AlarmPeriod {
                        start_s: from.as_secs_f64() - self.timeline.start_sim.as_secs_f64(),
                        value,
                        breaching,
                        state: state.state,
                    });
                }
                if state.state == StateValue::Alarm {
                    let value = value.unwrap_or(f64::NAN);
                    let range = &state.values[state.values.len().saturating_sub(state.alarm.evaluation_range())..];
                    let datapoints = range
                        .iter()
                        .map(|v| v.map_or("-".to_string(), |v| format!("{}", (v * 1000.0).round() / 1000.0)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.timeline.emit(Event::AlarmFired {
                        alarm: state.alarm.name.clone(),
                        value,
                        datapoints,
                        condition: state.alarm.to_string(),
                    });
                    return Err(Rollback::Alarm {
                        alarm: state.alarm.name.clone(),
                        value,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Sleeps `wait`, or only yields when it is below the timer's millisecond resolution (at
/// high speeds most waits are), so that a fast simulation is not slowed to a tick a step.
async fn sleep_or_yield(wait: Duration) {
    if wait < Duration::from_millis(1) {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(wait).await;
    }
}
