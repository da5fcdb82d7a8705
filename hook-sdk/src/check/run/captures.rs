//! Variables: the spec's own, a target's, and what checks capture from their answers.

use super::secrets::Secrets;
use crate::assert::Observation;
use crate::redact::is_credential_header;
use crate::report::AssertionResult;
use crate::report::{CheckFailure, CheckReport, CheckResult};
use crate::spec::limits::MAX_CAPTURE_BYTES;
use crate::spec::{Capture, Check, Spec, Vars};
use crate::target::Target;

/// Sets the spec's `vars`, in order; the first that cannot be set is the run's set-up error
/// (later ones follow from it).
pub(super) fn set_spec_vars(spec: &Spec, vars: &mut Vars, secrets: &mut Secrets) -> Option<String> {
    let mut first_error = None;
    for (name, value) in &spec.vars {
        let rendered = vars.render(value).and_then(|v| {
            secrets.named(name, &v);
            vars.set_within(name, v)
        });
        if let Err(e) = rendered {
            first_error.get_or_insert(format!("vars.{name}: {e}"));
        }
    }
    first_error
}

/// The variables of a check against `target` (`{{target.function}}`…): the run's, and the
/// target's.
pub(super) fn with_target(vars: &Vars, target: Option<&Target>) -> Vars {
    let mut local = vars.clone();
    if let Some(t) = target {
        local.set("target.function", t.function.clone());
        local.set("target.version", t.target_version.clone());
        local.set("target.logical_id", t.logical_id.clone());
        if let Some(a) = &t.alias {
            local.set("target.alias", a.clone());
        }
        if let Some(c) = &t.current_version {
            local.set("target.current_version", c.clone());
        }
    }
    local
}

/// Takes a passed check's captures from its answer into `vars`; a capture that finds nothing,
/// or more than a variable may hold, fails the check with an assertion that says so.
pub(super) fn capture(
    check: &Check,
    obs: &Observation,
    vars: &mut Vars,
    secrets: &mut Secrets,
    assertions: &mut Vec<AssertionResult>,
) {
    for (name, capture) in &check.capture {
        let failed = match obs.captured(capture) {
            Ok(v) => {
                secrets.named(name, &v);
                if matches!(capture, Capture::Header(h) if is_credential_header(h)) {
                    secrets.redactor.add(&v);
                }
                match vars.set_within(name, v) {
                    Ok(()) => None,
                    Err(e) => Some(("room for the value".to_string(), e.to_string())),
                }
            }
            Err(actual) => Some((format!("a value of at most {} KiB", MAX_CAPTURE_BYTES / 1024), actual)),
        };
        if let Some((expected, actual)) = failed {
            assertions.push(AssertionResult {
                query: format!("capture {name}"),
                expected,
                actual,
                passed: false,
            });
        }
    }
}

/// Records the variables `check` captures that are still not set after it ran.
pub(super) fn note_uncaptured(check: &Check, vars: &Vars, uncaptured: &mut Vec<(String, String)>) {
    for name in check.capture.keys() {
        if vars.get(name).is_none() && !uncaptured.iter().any(|(n, _)| n == name) {
            uncaptured.push((name.clone(), check.name.clone()));
        }
    }
}

/// A check that fails on a variable an earlier check should have captured says so, instead of
/// calling it unknown (the spec is valid: the capture did not happen).
pub(super) fn explain_uncaptured(report: &mut CheckReport, uncaptured: &[(String, String)]) {
    for (name, by) in uncaptured {
        let unknown = format!("unknown variable {{{{{name}}}}}");
        let why = format!("{{{{{name}}}}} has no value: `{by}` captures it, and it did not pass");
        if let CheckResult::Failed(CheckFailure::Error { message, .. }) = &mut report.result
            && message.contains(&unknown)
        {
            *message = format!("{why}, so this check cannot run");
        }
        for a in &mut report.assertions {
            if a.expected.contains(&unknown) {
                a.expected = why.clone();
            }
        }
    }
}
