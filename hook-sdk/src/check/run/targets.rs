//! Which targets a check runs against, and the targets no check tests.

use super::context::RunContext;
use super::unrun::{setup_failure, setup_failure_named, skipped};
use crate::check::select::{Facts, SKIP_VARIABLE, Selection};
use crate::report::CheckReport;
use crate::spec::Check;

/// The targets of check `ci` (indexes into `ctx.targets`), and the reports it has already:
/// a set-up failure for each target whose facts could not be read, or why it runs against
/// none. An HTTP check has no target.
pub(super) fn choose(
    check: &Check,
    ctx: &RunContext,
    (selection, ci): (&Selection, usize),
) -> (Vec<usize>, Vec<CheckReport>) {
    let chosen = selection.targets.get(&ci).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (ti, e) in selection.unreadable.get(&ci).into_iter().flatten() {
        let t = &ctx.targets[*ti];
        out.push(CheckReport {
            target: Some(t.qualified()),
            ..setup_failure(check, e.clone())
        });
    }
    if !chosen.is_empty() || !out.is_empty() {
        return (chosen, out);
    }
    (
        Vec::new(),
        vec![why_none(
            check,
            ctx,
            selection.waived.get(&ci).is_some_and(|w| !w.is_empty()),
        )],
    )
}

/// The report of a check that runs against no target: skipped when that is the spec's choice,
/// a set-up failure when it names targets the deployment does not have.
fn why_none(check: &Check, ctx: &RunContext, waived: bool) -> CheckReport {
    if waived {
        return skipped(
            check,
            format!("its targets skip their checks ({SKIP_VARIABLE}, allowed by the spec)"),
        );
    }
    match &check.select {
        Some(s) if s.fallback => return skipped(check, "every target is tested by another check".into()),
        Some(_) => return skipped(check, "selects none of this deployment's targets".into()),
        None => {}
    }
    let known: Vec<String> = ctx
        .targets
        .iter()
        .map(|t| format!("{} ({})", t.logical_id, t.function))
        .collect();
    let error = match &check.targets {
        Some(names) => format!(
            "no target named {}: the deployment's targets are {}",
            names.join(", "),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
        None => "the deployment has no target to invoke".to_string(),
    };
    setup_failure(check, error)
}

/// A target no check tests fails: a hook shared by many stacks never passes a function its
/// spec forgot.
pub(super) fn uncovered(
    selection: &Selection,
    ctx: &RunContext,
    facts: &[Option<Result<Facts, String>>],
) -> Vec<CheckReport> {
    let mut out = Vec::new();
    for ti in &selection.uncovered {
        let t = &ctx.targets[*ti];
        let tags = match &facts[*ti] {
            Some(Ok(f)) if !f.tags.is_empty() => format!(
                " (its tags: {})",
                f.tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let error = format!(
            "no check of the spec selects {}{tags} in {}: add a check whose `select` matches it, \
             or one with `select: {{ fallback: true }}`",
            t.function, ctx.phase
        );
        out.push(CheckReport {
            target: Some(t.qualified()),
            ..setup_failure_named("every target is tested", error)
        });
    }
    out
}
