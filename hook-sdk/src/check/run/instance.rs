//! One check against one target: its call made from the spec, then run once with retries or
//! repeated ([`super::retry`], [`super::repeat`]), and its captures taken.

use tokio::time::Instant;

use super::call::{Attempt, Call, Caller, DEFAULT_TIMEOUT, Limits};
use super::captures;
use super::context::RunContext;
use super::secrets::Secrets;
use crate::redact::is_credential_header;
use crate::report::{CheckFailure, CheckReport, CheckResult};
use crate::spec::{Check, Spec, Vars};
use crate::target::Target;

pub(super) async fn run_instance(
    caller: &Caller,
    spec: &Spec,
    check: &Check,
    ctx: &RunContext,
    target: Option<&Target>,
    vars: &mut Vars,
    secrets: &mut Secrets,
) -> CheckReport {
    let started = Instant::now();
    // HTTP checks see the target's variables too when the deployment has just one.
    let var_target = target.or(match ctx.targets.as_slice() {
        [only] => Some(only),
        _ => None,
    });
    let local = captures::with_target(vars, var_target);
    let mut report = CheckReport {
        target: target.map(Target::qualified),
        ..CheckReport::failed_before_run(&check.name)
    };
    let call = match caller.prepare(check, target, &local) {
        Ok(call) => call,
        Err(e) => {
            report.result = CheckResult::Failed(CheckFailure::setup(e));
            report.duration = started.elapsed();
            return report;
        }
    };
    if let Call::Http(req) = &call {
        for (name, value) in &req.headers {
            if is_credential_header(name) {
                secrets.redactor.add(value);
            }
        }
    }
    report.target = call.label();
    let limits = Limits {
        timeout: check.timeout.or(spec.defaults.timeout).map_or(DEFAULT_TIMEOUT, |d| d.0),
        deadline: ctx.deadline,
    };
    if let Some(n) = check.repeat {
        super::repeat::repeat(caller, &call, check, &local, n, limits, secrets, &mut report).await;
    } else {
        let (attempts, last) = super::retry::retry(caller, &call, check, spec, &local, limits, secrets).await;
        report.attempts = attempts;
        report.result = match last {
            Attempt::Answered {
                mut assertions,
                observation,
                ..
            } => {
                if assertions.iter().all(|a| a.passed) {
                    captures::capture(check, &observation, vars, secrets, &mut assertions);
                }
                let passed = assertions.iter().all(|a| a.passed);
                report.assertions = assertions;
                CheckResult::by_expectations(passed)
            }
            Attempt::Failed { failure, .. } => CheckResult::Failed(failure.into()),
        };
    }
    report.duration = started.elapsed();
    report
}
