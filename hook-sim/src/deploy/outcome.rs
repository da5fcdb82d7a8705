//! What a deployment did: its timeline, how it ended, the traffic each version served.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::codedeploy::LifecycleEventStatus;

use super::plan::Phase;

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
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
        /// 1, 2 or 3.
        attempt: u32,
    },
    /// A hook's invocation ended in a function error.
    HookInvocationFailed {
        /// The lifecycle event.
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
        /// 1, 2 or 3.
        attempt: u32,
        /// The error payload.
        error: String,
        /// Whether Lambda tries again.
        retried: bool,
    },
    /// A hook's invocation ended in a function error after its hook had reported: the status
    /// stands, but Lambda retries the invocation all the same (a retried hook runs again, and
    /// its second report is refused).
    HookFailedAfterReporting {
        /// The lifecycle event.
        lifecycle_event: Phase,
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
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
    },
    /// A hook reported its status.
    HookReported {
        /// The lifecycle event.
        lifecycle_event: Phase,
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
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
    },
    /// CodeDeploy's role may not invoke a hook: the lifecycle event fails before it runs.
    HookNotInvoked {
        /// The lifecycle event.
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
        /// IAM's denial.
        denial: String,
    },
    /// CodeDeploy's role may not publish to a trigger's topic: the notification is lost.
    NotificationDenied {
        /// The trigger (`TriggerName`).
        trigger: String,
        /// The trigger event.
        trigger_event: super::plan::TriggerEvent,
        /// IAM's denial.
        denial: String,
    },
    /// CodeDeploy published a notification to a trigger's SNS topic.
    Notified {
        /// The trigger (`TriggerName`).
        trigger: String,
        /// The trigger event.
        trigger_event: super::plan::TriggerEvent,
        /// The topic (`TriggerTargetArn`).
        topic: String,
        /// The message, as CodeDeploy's deployment-based triggers publish it.
        message: serde_json::Value,
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
        /// The value of the newest period (NaN: no data in it).
        value: f64,
        /// The datapoints of its evaluation range, oldest first, `-` for a period without data.
        datapoints: String,
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
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
    },
    /// A hook did not report in time.
    HookTimedOut {
        /// The lifecycle event.
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
    },
    /// CodeDeploy's role may not invoke a hook (`lambda:InvokeFunction`).
    HookNotInvoked {
        /// The lifecycle event.
        lifecycle_event: Phase,
        /// The hook function.
        function: String,
        /// CodeDeploy's role.
        role: String,
    },
    /// An alarm fired.
    Alarm {
        /// The alarm.
        alarm: String,
        /// The value of the newest period (NaN: no data in it).
        value: f64,
    },
    /// An alarm was in ALARM when the deployment started (the current version's traffic
    /// before it set it off): CodeDeploy stops the deployment before any hook runs.
    AlarmBeforeStart {
        /// The alarm.
        alarm: String,
        /// The value of the newest period (NaN: no data in it).
        value: f64,
    },
}

impl Rollback {
    /// CodeDeploy's `errorInformation.code` for it.
    pub fn error_code(&self) -> &'static str {
        match self {
            Rollback::HookFailed { .. } => "HOOK_EXECUTION_FAILURE",
            Rollback::HookTimedOut { .. } => "TIMEOUT",
            Rollback::HookNotInvoked { .. } => "IAM_ROLE_PERMISSIONS",
            Rollback::Alarm { .. } | Rollback::AlarmBeforeStart { .. } => "ALARM_ACTIVE",
        }
    }
}

impl Rollback {
    /// CodeDeploy's `errorInformation.message` for it.
    pub fn error_message(&self) -> String {
        match self {
            Rollback::HookNotInvoked { role, .. } => format!(
                "The IAM role {role} does not give you permission to perform operations in the following AWS \
                 service: AWSLambda. Contact your AWS administrator if you need help. If you are an AWS \
                 administrator, you can grant permissions to your users or groups by creating IAM policies."
            ),
            other => other.to_string(),
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
            Rollback::HookNotInvoked {
                lifecycle_event,
                function,
                role,
            } => write!(
                f,
                "CodeDeploy's role {role} may not invoke the {lifecycle_event} hook {function} (lambda:InvokeFunction)"
            ),
            Rollback::Alarm { alarm, value } if value.is_nan() => {
                write!(f, "alarm {alarm} fired (no data in its newest period)")
            }
            Rollback::Alarm { alarm, value } => write!(f, "alarm {alarm} fired (value {value})"),
            Rollback::AlarmBeforeStart { alarm, value } if value.is_nan() => write!(
                f,
                "alarm {alarm} was already in ALARM when the deployment started (no data in its newest period, \
                 which its TreatMissingData counts as breaching): CodeDeploy stops the deployment before any hook runs"
            ),
            Rollback::AlarmBeforeStart { alarm, value } => write!(
                f,
                "alarm {alarm} was already in ALARM when the deployment started (value {value}, from the \
                 current version's traffic before it): CodeDeploy stops the deployment before any hook runs"
            ),
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
    /// Requests Lambda throttled (the function's concurrency limit was reached): the client
    /// got a 500 from the API.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled: u64,
    /// Answers with a 5xx `statusCode` and no function error: the API passed an error on to
    /// the user that Lambda's `Errors` metric does not count.
    #[serde(skip_serializing_if = "is_zero")]
    pub server_errors: u64,
}

impl VersionTraffic {
    /// Requests whose user got an error: function errors, throttles and 5xx answers.
    pub fn user_errors(&self) -> u64 {
        self.errors + self.throttled + self.server_errors
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one alarm saw during a deployment: each period it evaluated, and where it ended.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmTrace {
    /// The alarm.
    pub alarm: String,
    /// What it watches and when it fires, as a sentence.
    pub condition: String,
    /// The periods evaluated after the deployment started, oldest first.
    pub periods: Vec<AlarmPeriod>,
    /// Its state at the end.
    pub state: crate::alarm::StateValue,
}

/// One period an alarm evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmPeriod {
    /// Its start, simulated seconds since the deployment started (negative: before it).
    pub start_s: f64,
    /// Its value (`None`: no data).
    pub value: Option<f64>,
    /// Whether the value breaches the threshold.
    pub breaching: bool,
    /// The alarm's state after evaluating it.
    pub state: crate::alarm::StateValue,
}

/// The result of [`Sim::deploy`](crate::Sim::deploy).
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentOutcome {
    /// `d-...`.
    pub deployment_id: String,
    /// How it ended.
    pub status: FinalStatus,
    /// Why it rolled back.
    pub rollback: Option<Rollback>,
    /// The deployment's status as CodeDeploy reports it: `Succeeded`, `Failed` (a hook) or
    /// `Stopped` (an alarm).
    pub deployment_status: crate::DeploymentStatus,
    /// CodeDeploy's `errorInformation` code (`ALARM_ACTIVE`, `HOOK_EXECUTION_FAILURE`,
    /// `TIMEOUT`), when it did not succeed.
    pub error_code: Option<String>,
    /// The deployment CodeDeploy created to roll back, when it did.
    pub rollback_deployment_id: Option<String>,
    /// The largest share of traffic the target version got.
    pub max_weight: f64,
    /// Synthetic traffic by version.
    pub traffic: BTreeMap<String, VersionTraffic>,
    /// Everything that happened.
    pub timeline: Vec<TimelineEntry>,
    /// When the deployment started on the simulator's clock (the clock of
    /// [`InvocationRecord::at`](crate::InvocationRecord::at)).
    #[serde(skip)]
    pub started: Duration,
    /// What each alarm saw while the deployment ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmTrace>,
    /// Simulated duration.
    #[serde(rename = "simulated_s", serialize_with = "crate::duration::secs")]
    pub simulated: Duration,
    /// Real duration.
    #[serde(rename = "real_ms", serialize_with = "crate::duration::millis")]
    pub real: Duration,
}
