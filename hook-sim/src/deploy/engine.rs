//! The engine: the lifecycle of one deployment, its hooks, shifts, alarms and rollback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alarm::Alarm;
use crate::codedeploy::{DeploymentStatus, LifecycleEventStatus};
use crate::{AliasRouting, DeploymentSetup, FunctionSetup, Sim, SimState};

use super::outcome::*;
use super::plan::*;
use super::timeline::{Sink, Timeline};
use super::traffic::synthetic_traffic;

pub(super) struct AlarmState {
    pub(super) alarm: Alarm,
    /// Breach of each full period evaluated so far.
    pub(super) breaches: Vec<bool>,
}

pub(super) struct Run<'a> {
    pub(super) sim: &'a Sim,
    pub(super) plan: &'a DeploymentPlan,
    pub(super) timeline: Arc<Timeline>,
    /// The recorder's clock when the deployment started.
    pub(super) record_start: Duration,
    pub(super) alarms: Mutex<Vec<AlarmState>>,
    pub(super) background: Mutex<Vec<JoinHandle<()>>>,
}

/// Lambda's async invoke retries: one minute before the second attempt, two before the third.
pub(super) const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

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
        if let Some(hook) = plan.hook_of(HookEvent::BeforeAllowTraffic) {
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
        if let Some(hook) = plan.hook_of(HookEvent::AfterAllowTraffic) {
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

    async fn run_hook(&self, hook: &HookPlan) -> Result<(), Rollback> {
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
pub(super) async fn invoke_hook(
    state: Arc<SimState>,
    timeline: Arc<Timeline>,
    hook: HookPlan,
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
