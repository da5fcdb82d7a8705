//! The CodeDeploy Lambda deployment engine: hooks, traffic shifting, alarms and rollback.
//!
//! [`Sim::deploy`](crate::Sim::deploy) runs one deployment of a function alias from a current to a target
//! version the way CodeDeploy does it:
//!
//! 1. **BeforeAllowTraffic**: the hook is invoked asynchronously (an `Event` invoke: on a
//!    function error Lambda tries twice more, one and then two minutes later) with
//!    `{"DeploymentId", "LifecycleEventHookExecutionId"}`, and CodeDeploy waits for its
//!    `PutLifecycleEventHookExecutionStatus`, one hour at most.
//! 2. **Traffic shifts** on the configuration's schedule ([`TrafficRouting::steps`](crate::schedule::TrafficRouting::steps)): the
//!    alias gets a weighted routing to the target version, then all of it.
//! 3. **AfterAllowTraffic**, like the first hook.
//! 4. **Succeeded**; or, when a hook reports `Failed`, stays silent past the timeout, or an
//!    alarm goes to `ALARM`, the alias goes back to the current version: rolled back.
//!
//! Synthetic traffic (HTTP API events through the alias, [`Traffic::per_minute`] requests a
//! simulated minute) runs for the whole deployment, and alarms are evaluated like
//! CloudWatch's over Lambda's metrics (`Errors`, `Invocations` by `Resource` and
//! `ExecutedVersion`, stamped with the invocation's start), in periods aligned on the wall
//! clock (a minute's start for 60 s), each evaluated [`METRIC_LAG`] after it ends, once
//! every invocation started in it has ended. The deployment starts at a second of the minute
//! drawn from [`DeploymentPlan::seed`] (the minute's start without a seed), after the current
//! version's traffic has run as long as the alarms look back.
//!
//! Time is simulated: between events (a request due, a period ending, a shift, a retry, the
//! hook timeout) the clock runs [`DeploymentPlan::speed`] times faster than real time, but
//! while any invocation runs it runs at real speed, and it never passes an event the
//! engine has not handled. So hooks and functions, real processes, keep their real
//! durations, and the outcome and its simulated times do not depend on the speed. The
//! timeline reports simulated time.

mod engine;
mod outcome;
mod plan;
#[cfg(test)]
mod tests;
mod timeline;
mod traffic;

pub use crate::metric::METRIC_LAG;
pub use outcome::{
    AlarmPeriod, AlarmTrace, DeploymentOutcome, Event, FinalStatus, Rollback, TimelineEntry, VersionTraffic,
};
pub use plan::{DeploymentPlan, HookPlan, Phase, Traffic, Trigger, TriggerEvent};
