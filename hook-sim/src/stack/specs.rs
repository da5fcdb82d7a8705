//! The specs of the template's hook-runner hooks, read before anything runs: a spec of the
//! user's own that is missing or does not load is a set-up error (`simulate`, `audit`) or a
//! problem (`check`), never a verdict on the version.

use std::path::{Path, PathBuf};

use super::setup::FunctionRun;
use crate::deploy::Phase;

/// What hook-sim reads of one hook's spec (`HOOK_SPEC` inline, or a `HOOK_SPEC_FILE` relative
/// to its code folder), loaded once; nothing for a hook that names none (a spec built into a
/// binary is out of its sight).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecReading {
    /// Why the spec cannot be used: missing, or it does not load.
    pub problem: Option<String>,
    /// Why the hook's Lambda timeout cannot hold the spec's longest watching metrics check
    /// (its `watch` and half a minute to report), when the hook runs in AfterAllowTraffic: in
    /// AWS the check fails at once, saying so, and the deployment rolls back.
    pub watch_problem: Option<String>,
    /// How far back before the deployment its watching metrics checks compare with (the
    /// longest `baseline`; zero without one).
    pub baseline: std::time::Duration,
    /// Whether the spec runs a metrics check (`None`: no spec that loads, so unknown).
    pub runs_metrics: Option<bool>,
    /// Whether a check of the spec that runs in the hook's phase invokes the function (`None`:
    /// unknown).
    pub invokes: Option<bool>,
}

impl SpecReading {
    /// The first problem, if any.
    pub fn first_problem(&self) -> Option<&String> {
        self.problem.as_ref().or(self.watch_problem.as_ref())
    }
}

/// Reads `hook`'s spec, the hook of `phase`; `extra` is the environment added to every hook
/// (`--hook-env`, `--spec`), which wins.
pub fn read(hook: &FunctionRun, phase: Phase, extra: &[(String, String)]) -> SpecReading {
    let spec = match load(hook, extra) {
        None => return SpecReading::default(),
        Some(Err(problem)) => {
            return SpecReading {
                problem: Some(problem),
                ..SpecReading::default()
            };
        }
        Some(Ok(spec)) => spec,
    };
    let watches: Vec<hook_spec::Watch> = spec
        .checks
        .iter()
        .filter_map(|c| match &c.action {
            hook_spec::Action::Metrics(m) => m.watch,
            _ => None,
        })
        .collect();
    let baseline = watches.iter().map(|w| w.baseline.0).max().unwrap_or_default();
    let longest = watches.iter().map(|w| w.length.0).max();
    // A metrics check runs in AfterAllowTraffic only.
    let watch_problem = longest
        .filter(|_| phase == Phase::AfterAllowTraffic)
        .map(|l| (l, l + std::time::Duration::from_secs(30)))
        .filter(|(_, needs)| hook.timeout < *needs)
        .map(|(longest, needs)| {
            format!(
                "{}'s spec watches {} after the shift, and its Timeout is {} s: the check would fail at once in AWS; \
                 raise the hook's Timeout to at least {} s (at most 900), or shorten `watch`",
                hook.logical_id,
                hook_spec::Dur(longest),
                hook.timeout.as_secs(),
                needs.as_secs().div_ceil(60) * 60
            )
        });
    SpecReading {
        problem: None,
        watch_problem,
        baseline,
        runs_metrics: Some(
            spec.checks
                .iter()
                .any(|c| matches!(c.action, hook_spec::Action::Metrics(_))),
        ),
        invokes: Some(
            spec.checks
                .iter()
                .any(|c| c.runs_in(phase) && matches!(c.action, hook_spec::Action::Invoke(_))),
        ),
    }
}

/// `hook`'s spec, when it names one: loaded, or why not.
fn load(hook: &FunctionRun, extra: &[(String, String)]) -> Option<Result<hook_spec::Spec, String>> {
    let get = |key: &str| {
        hook.env
            .iter()
            .chain(extra)
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let loaded = match (get("HOOK_SPEC"), get("HOOK_SPEC_FILE")) {
        (Some(inline), _) if !inline.trim().is_empty() => hook_spec::load(&inline, "HOOK_SPEC"),
        (_, Some(file)) => {
            let path = match &hook.task_root {
                Some(root) if Path::new(&file).is_relative() => root.join(&file),
                _ => PathBuf::from(&file),
            };
            if !path.is_file() {
                return Some(Err(format!(
                    "{} (HOOK_SPEC_FILE of {}) does not exist: write the spec there, or point HOOK_SPEC_FILE \
                     (or --spec) at it",
                    path.display(),
                    hook.logical_id
                )));
            }
            hook_spec::load_file(&path)
        }
        _ => return None,
    };
    Some(loaded.map_err(|e| {
        format!(
            "the spec of {} does not load — a mistake in the spec, not in the version: fix it and rehearse again\n{e}",
            hook.logical_id
        )
    }))
}
