//! How a phase's work ends: passed, or a [`Failure`] that says why the hook reports `Failed`.
//! Every way the work can end has its own variant, so that none is reported as another.

use std::fmt;
use std::time::Duration;

use crate::event::Phase;

/// How a phase's work ended: `Ok` passes, `Err` says why the hook reports `Failed`.
pub(crate) type Verdict = Result<(), Failure>;

/// What the spec's checks leave when they pass: the targets whose checks were skipped as the
/// spec allows (they count as tested for BeforeAllowTraffic's proof).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChecksPassed {
    pub(crate) waived: Vec<String>,
}

/// Why a phase's work failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A setting of the hook (`HOOK_TARGET`, `HOOK_PHASE`, an endpoint) is wrong.
    Settings(String),
    /// The deployment and its targets could not be discovered.
    Discovery(String),
    /// The hook's spec could not be read.
    Spec(String),
    /// The hook has neither checks nor a handler for the phase.
    NoHandler(Phase),
    /// The spec's checks failed: their summary.
    #[cfg_attr(not(feature = "checks"), allow(dead_code))]
    Checks(String),
    /// The phase's handler returned an error (its message, redacted).
    Handler(String),
    /// BeforeAllowTraffic never invoked these targets' new versions.
    Untested(Vec<String>),
    /// The work did not end before the time kept for reporting.
    Overrun {
        /// The time the work had.
        work: Duration,
        /// The time kept for the report.
        reserve: Duration,
    },
    /// The work panicked: its message.
    Panicked(String),
    /// The work's task ended without a verdict (it was cancelled).
    Ended(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Settings(m) | Failure::Discovery(m) | Failure::Checks(m) | Failure::Handler(m) => f.write_str(m),
            Failure::Spec(e) => write!(f, "the check spec could not be read: {e}"),
            Failure::NoHandler(phase) => write!(
                f,
                "this hook runs in {phase} but has no handler for it: register one with Hook::{}",
                match phase {
                    Phase::BeforeAllowTraffic => "before_allow_traffic",
                    Phase::AfterAllowTraffic => "after_allow_traffic",
                }
            ),
            Failure::Untested(targets) => write!(
                f,
                "BeforeAllowTraffic never ran the version under test ({}): nothing proved it healthy before it \
                 gets traffic. Invoke it (an `invoke:` check, or TargetFunction::invoke), or opt out with \
                 `allow_untested_target: true` in the spec or Hook::allow_untested_target()",
                targets.join(", ")
            ),
            Failure::Overrun { work, reserve } => write!(
                f,
                "the checks did not finish in {:.1} s, the invocation's time less a {:.1} s reserve for reporting",
                work.as_secs_f64(),
                reserve.as_secs_f64()
            ),
            Failure::Panicked(m) => write!(f, "the handler panicked: {m}"),
            Failure::Ended(m) => write!(f, "the handler task ended: {m}"),
        }
    }
}
