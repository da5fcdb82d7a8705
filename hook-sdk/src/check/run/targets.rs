//! Which targets a check runs against, and the targets no check tests.

use super::*;
use crate::check::select::Selection;
use crate::spec::Action;

impl CheckRunner {
    pub(super) async fn run_check(
        &self,
        spec: &Spec,
        check: &Check,
        ctx: &RunContext,
        (selection, ci): (&Selection, usize),
        vars: &mut Vars,
        secrets: &mut Secrets,
    ) -> Vec<CheckReport> {
        if matches!(check.action, Action::Http(_)) {
            return vec![self.run_instance(spec, check, ctx, None, vars, secrets).await];
        }
        let chosen = selection.targets.get(&ci).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (ti, e) in selection.unreadable.get(&ci).into_iter().flatten() {
            let t = &ctx.targets[*ti];
            out.push(CheckReport {
                target: Some(t.qualified()),
                ..setup_failure(check, e.clone())
            });
        }
        if chosen.is_empty() && out.is_empty() {
            let waived = selection.waived.get(&ci).is_some_and(|w| !w.is_empty());
            let skipped = |reason: String| vec![skipped(check, reason)];
            if waived {
                return skipped(format!(
                    "its targets skip their checks ({SKIP_VARIABLE}, allowed by the spec)"
                ));
            }
            match &check.select {
                Some(s) if s.fallback => return skipped("every target is tested by another check".into()),
                Some(_) => return skipped("selects none of this deployment's targets".into()),
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
            return vec![setup_failure(check, error)];
        }
        for ti in chosen {
            let target = &ctx.targets[ti];
            let report = match &check.action {
                Action::Metrics(m) => self.run_metrics(spec, check, m, ctx, target).await,
                _ => self.run_instance(spec, check, ctx, Some(target), vars, secrets).await,
            };
            out.push(report);
        }
        out
    }

    #[cfg(feature = "metrics")]
    async fn run_metrics(
        &self,
        spec: &Spec,
        check: &Check,
        metrics: &crate::spec::MetricsSpec,
        ctx: &RunContext,
        target: &Target,
    ) -> CheckReport {
        let timeout = check.timeout.or(spec.defaults.timeout).map_or(DEFAULT_TIMEOUT, |d| d.0);
        crate::check::metrics::run(
            self.cloudwatch.as_ref(),
            &check.name,
            metrics,
            target,
            ctx.traffic.as_ref(),
            (timeout, ctx.deadline),
        )
        .await
    }

    #[cfg(not(feature = "metrics"))]
    async fn run_metrics(
        &self,
        _: &Spec,
        check: &Check,
        _: &crate::spec::MetricsSpec,
        _: &RunContext,
        target: &Target,
    ) -> CheckReport {
        CheckReport {
            target: Some(target.qualified()),
            ..setup_failure(check, "this hook was built without hook-sdk's `metrics` feature".into())
        }
    }
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
            ..with_result(
                "every target is tested",
                CheckResult::Failed(CheckFailure::setup(error)),
            )
        });
    }
    out
}
