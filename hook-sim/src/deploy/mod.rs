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

mod engine;
mod outcome;
mod plan;
#[cfg(test)]
mod tests;
mod timeline;
mod traffic;

pub use outcome::{DeploymentOutcome, Event, FinalStatus, Rollback, TimelineEntry, VersionTraffic};
pub use plan::{DeploymentPlan, HookEvent, HookPlan, Traffic};
