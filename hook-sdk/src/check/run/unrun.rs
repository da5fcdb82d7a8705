//! The reports of checks that do not run: skipped in this phase, left out after a failure or
//! at the deadline, or stopped by a set-up error before any call.

use tokio::time::Instant;

use super::context::RunContext;
use crate::check::select::SKIP_VARIABLE;
use crate::report::{CheckFailure, CheckReport, CheckResult};
use crate::spec::Check;

/// Why a check is not run at all, when it is not: the reasons that hold before any target is
/// chosen, in the order they are told.
#[derive(Clone, Copy)]
pub(super) struct Unrun<'a> {
    pub(super) every_target_waived: bool,
    pub(super) vars_error: Option<&'a str>,
    pub(super) stop: Option<&'a str>,
}

impl Unrun<'_> {
    pub(super) fn report(&self, check: &Check, ctx: &RunContext) -> Option<CheckReport> {
        if !check.runs_in(ctx.phase) {
            let only = match check.phase {
                crate::spec::PhaseFilter::Before => "BeforeAllowTraffic",
                _ => "AfterAllowTraffic",
            };
            return Some(skipped(check, format!("runs in {only} only")));
        }
        if self.every_target_waived {
            return Some(skipped(
                check,
                format!("every target skips its checks ({SKIP_VARIABLE}, allowed by the spec)"),
            ));
        }
        if let Some(e) = self.vars_error {
            return Some(setup_failure(check, e.to_string()));
        }
        if let Some(why) = self.stop {
            return Some(not_run(check, why.to_string()));
        }
        if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(not_run(check, "the hook ran out of time".into()));
        }
        None
    }
}

/// The report of a check that could not be made (see [`ErrorKind::Setup`](crate::report::ErrorKind::Setup)).
pub(super) fn setup_failure(check: &Check, error: String) -> CheckReport {
    setup_failure_named(&check.name, error)
}

/// The same, for a report of its own name (no check of the spec).
pub(super) fn setup_failure_named(name: &str, error: String) -> CheckReport {
    with_result(name, CheckResult::Failed(CheckFailure::setup(error)))
}

/// The report of a check that does not run here.
pub(super) fn skipped(check: &Check, reason: String) -> CheckReport {
    with_result(&check.name, CheckResult::Skipped { reason })
}

/// The report of a check left out.
pub(super) fn not_run(check: &Check, reason: String) -> CheckReport {
    with_result(&check.name, CheckResult::NotRun { reason })
}

fn with_result(name: &str, result: CheckResult) -> CheckReport {
    CheckReport {
        result,
        ..CheckReport::failed_before_run(name)
    }
}
