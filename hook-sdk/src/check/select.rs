//! Which targets each invoke check tests: by name, by `select` (name patterns, tags), as a
//! fallback for the targets no other check selects; and the targets that skip their checks
//! as the spec allows.

use std::collections::{BTreeMap, BTreeSet};

use crate::appspec::function_name_of;
use crate::event::Phase;
use crate::report::Waiver;
use crate::spec::{Action, Check, Spec};
use crate::target::Target;

/// The environment variable a target version sets, with a reason, to skip its checks.
pub const SKIP_VARIABLE: &str = "HOOK_SKIP_CHECKS";

/// What the hook read of a target version with `lambda:GetFunction`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The function's tags.
    pub(crate) tags: BTreeMap<String, String>,
    /// `HOOK_SKIP_CHECKS` of the version's environment, when set.
    pub(crate) skip: Option<String>,
}

/// Whether the spec needs [`Facts`]: it selects by tags, or lets targets skip.
pub(crate) fn needs_facts(spec: &Spec) -> bool {
    spec.allow_skip
        || spec
            .checks
            .iter()
            .any(|c| c.select.as_ref().is_some_and(|s| !s.tags.is_empty()))
}

/// Reads the tags and the skip variable of a target version, by `deadline` if there is one.
pub(crate) async fn read_facts(
    lambda: &aws_sdk_lambda::Client,
    t: &Target,
    deadline: Option<tokio::time::Instant>,
) -> Result<Facts, String> {
    let call = lambda
        .get_function()
        .function_name(&t.function)
        .qualifier(&t.target_version)
        .send();
    let answer = match deadline {
        Some(d) => tokio::time::timeout_at(d, call).await.map_err(|_| {
            format!(
                "no answer from lambda:GetFunction for {} before the hook's time ran out",
                t.qualified()
            )
        })?,
        None => call.await,
    };
    let out = answer.map_err(|e| {
        format!(
            "cannot read the tags and environment of {} (the hook needs lambda:GetFunction on it): {}",
            t.qualified(),
            crate::error::error_chain(&e)
        )
    })?;
    // Only the one variable is kept: the others may hold secrets and are never looked at.
    let skip = out
        .configuration()
        .and_then(|c| c.environment())
        .and_then(|e| e.variables())
        .and_then(|v| v.get(SKIP_VARIABLE))
        .cloned();
    let tags = out
        .tags()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Facts { tags, skip })
}

/// The waivers the targets ask for, and which targets are skipped.
pub(crate) fn waivers(
    spec: &Spec,
    source: Option<&str>,
    targets: &[Target],
    facts: &[Option<Result<Facts, String>>],
    redactor: &crate::redact::Redactor,
) -> (Vec<Waiver>, BTreeSet<usize>) {
    let mut out = Vec::new();
    let mut waived = BTreeSet::new();
    for (i, t) in targets.iter().enumerate() {
        let Some(Ok(f)) = &facts[i] else { continue };
        let Some(reason) = &f.skip else { continue };
        let target = t.qualified();
        // Bounded, and redacted before it is cut: the reason is the version's own text, shown in
        // logs and reports.
        let reason = redactor.clip(reason.trim(), 500);
        let (granted, decided_by) = if reason.is_empty() {
            (false, format!("{SKIP_VARIABLE} is empty: a skip needs a reason"))
        } else if spec.allow_skip {
            (true, format!("`allow_skip: true` in {}", source.unwrap_or("the spec")))
        } else {
            (false, "the spec does not set `allow_skip: true`".to_string())
        };
        if granted {
            waived.insert(i);
        }
        out.push(Waiver {
            target,
            reason,
            granted,
            decided_by,
        });
    }
    (out, waived)
}

/// Which targets each check of the phase tests.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Per check (by index): the targets it tests.
    pub(crate) targets: BTreeMap<usize, Vec<usize>>,
    /// Per check: targets whose tags could not be read although the check selects by tags.
    pub(crate) unreadable: BTreeMap<usize, Vec<(usize, String)>>,
    /// Per check: the targets it would test that skip their checks.
    pub(crate) waived: BTreeMap<usize, Vec<usize>>,
    /// Targets no check tests when the spec selects (and has no fallback).
    pub(crate) uncovered: Vec<usize>,
}

fn named(check: &Check, t: &Target) -> bool {
    match &check.targets {
        None => true,
        Some(names) => names
            .iter()
            .any(|n| *n == t.logical_id || *n == t.function || function_name_of(&t.function) == n),
    }
}

/// Decides, for the phase, which targets each invoke or metrics check tests.
pub(crate) fn select(
    spec: &Spec,
    phase: Phase,
    targets: &[Target],
    facts: &[Option<Result<Facts, String>>],
    waived: &BTreeSet<usize>,
) -> Selection {
    let mut sel = Selection::default();
    let invokes: Vec<(usize, &Check)> = spec
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.runs_in(phase) && matches!(c.action, Action::Invoke(_) | Action::Metrics(_)))
        .collect();
    let mut covered = BTreeSet::new();
    let chosen = |ci: usize, check: &Check, sel: &mut Selection, covered: &mut BTreeSet<usize>| {
        let mut list = Vec::new();
        for (ti, t) in targets.iter().enumerate() {
            let yes = match &check.select {
                None => named(check, t),
                Some(s) if s.fallback => false,
                Some(s) if s.tags.is_empty() => s.matches(function_name_of(&t.function), &BTreeMap::new()),
                Some(s) => match &facts[ti] {
                    Some(Ok(f)) => s.matches(function_name_of(&t.function), &f.tags),
                    Some(Err(e)) => {
                        sel.unreadable.entry(ci).or_default().push((ti, e.clone()));
                        false
                    }
                    None => false,
                },
            };
            if yes {
                covered.insert(ti);
                if waived.contains(&ti) {
                    sel.waived.entry(ci).or_default().push(ti);
                } else {
                    list.push(ti);
                }
            }
        }
        sel.targets.insert(ci, list);
    };
    for (ci, check) in &invokes {
        if !check.select.as_ref().is_some_and(|s| s.fallback) {
            chosen(*ci, check, &mut sel, &mut covered);
        }
    }
    let left: Vec<usize> = (0..targets.len())
        .filter(|ti| !covered.contains(ti) && !waived.contains(ti))
        .collect();
    let fallbacks: Vec<usize> = invokes
        .iter()
        .filter(|(_, c)| c.select.as_ref().is_some_and(|s| s.fallback))
        .map(|(ci, _)| *ci)
        .collect();
    for ci in &fallbacks {
        sel.targets.insert(*ci, left.clone());
    }
    // Coverage holds in every phase a selecting spec runs, one with no invoke or metrics check
    // included: there every target is uncovered.
    let selects = spec.checks.iter().any(|c| c.select.is_some());
    if selects && fallbacks.is_empty() {
        // A target whose tags could not be read is reported by the checks that needed them.
        let unreadable: BTreeSet<usize> = sel.unreadable.values().flatten().map(|(ti, _)| *ti).collect();
        sel.uncovered = left.into_iter().filter(|ti| !unreadable.contains(ti)).collect();
    }
    sel
}
