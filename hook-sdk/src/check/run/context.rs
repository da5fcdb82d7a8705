//! What a run needs besides the spec: the phase, the targets, variables, the deadline, and the
//! deployment's traffic shifting that metrics checks look at.

use std::fmt;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::event::Phase;
use crate::spec::Vars;
use crate::target::Target;

/// The time a metrics check covers, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// From.
    pub start: SystemTime,
    /// To.
    pub end: SystemTime,
    /// What it is, for reports: `traffic shifting` (the deployment's `AllowTraffic` event).
    pub what: String,
}

/// `12:01:00–12:06:00 UTC (traffic shifting)`.
impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hms = |t: SystemTime| {
            let s = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            }
            .rem_euclid(86_400);
            format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        };
        write!(f, "{}–{} UTC ({})", hms(self.start), hms(self.end), self.what)
    }
}

/// What a run needs besides the spec.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The phase the checks run in; checks of other phases are skipped.
    pub phase: Phase,
    /// The targets invoke checks test.
    pub targets: Vec<Target>,
    /// The deployment, for `{{deployment.id}}`.
    pub deployment_id: Option<String>,
    /// Variables (and the environment for `${env:...}`).
    pub vars: Vars,
    /// No attempt starts or lasts past this; checks left are reported as not run.
    pub deadline: Option<Instant>,
    /// The spec's source, for reports.
    pub source: Option<String>,
    /// The deployment's traffic shifting (its `AllowTraffic` event), the default window of
    /// metrics checks; `None` outside a deployment.
    pub traffic: Option<Result<TimeWindow, TrafficError>>,
}

/// Why the deployment's traffic shifting, a metrics check's default window, is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// CodeDeploy did not say (no access, no such deployment…).
    #[error(
        "{message} (the hook's role needs codedeploy:ListDeploymentTargets and codedeploy:GetDeploymentTarget \
         for a metrics check's default window; or give the check a `window: 30m`)"
    )]
    Unreadable {
        /// What CodeDeploy's answer was, causes included.
        message: String,
    },
    /// Traffic is still shifting: the window has no end yet.
    #[error("traffic is still shifting in {deployment_id}: AllowTraffic has not ended")]
    StillShifting {
        /// The deployment.
        deployment_id: String,
    },
    /// No traffic has shifted yet.
    #[error("{deployment_id} has not shifted traffic yet (no AllowTraffic event has started)")]
    NotStarted {
        /// The deployment.
        deployment_id: String,
    },
    /// This build of hook-sdk cannot read metrics.
    #[error("hook-sdk was built without its `metrics` feature")]
    NoMetricsFeature,
}
