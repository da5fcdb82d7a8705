//! The specs of the template's hook-runner hooks, read before anything runs: a spec of the
//! user's own that is missing or does not load is a set-up error (`simulate`, `audit`) or a
//! problem (`check`), never a verdict on the version.

use std::path::{Path, PathBuf};

use super::setup::FunctionRun;

/// Why `hook`'s spec cannot be used, when it names one (`HOOK_SPEC` inline, or a
/// `HOOK_SPEC_FILE` relative to its code folder) and it is missing or does not load; `extra`
/// is the environment added to every hook (`--hook-env`, `--spec`), which wins.
pub fn spec_problem(hook: &FunctionRun, extra: &[(String, String)]) -> Option<String> {
    load(hook, extra)?.err()
}

/// How long before the deployment the current version's figures reach back in the metrics
/// checks of the specs hook-sim can read (`HOOK_SPEC`, `HOOK_SPEC_FILE`): the longest `watch`
/// baseline, if any. A spec built into a binary is out of its sight.
pub fn longest_baseline<'a>(
    hooks: impl IntoIterator<Item = &'a FunctionRun>,
    extra: &[(String, String)],
) -> std::time::Duration {
    hooks
        .into_iter()
        .filter_map(|h| load(h, extra)?.ok())
        .flat_map(|spec| {
            spec.checks
                .iter()
                .filter_map(|c| match &c.action {
                    hook_spec::Action::Metrics(m) => m.watch.map(|w| w.baseline.0),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or_default()
}

/// Why `hook`'s Lambda timeout cannot hold its spec's longest watching metrics check (its
/// `watch` and half a minute to report), when it cannot: in AWS the check fails at once,
/// saying so, and the deployment rolls back.
pub fn watch_problem(hook: &FunctionRun, extra: &[(String, String)]) -> Option<String> {
    let spec = load(hook, extra)?.ok()?;
    let longest = spec
        .checks
        .iter()
        .filter_map(|c| match &c.action {
            hook_spec::Action::Metrics(m) => m.watch.map(|w| w.length.0),
            _ => None,
        })
        .max()?;
    let needs = longest + std::time::Duration::from_secs(30);
    (hook.timeout < needs).then(|| {
        format!(
            "{}'s spec watches {} after the shift, and its Timeout is {} s: the check would fail at once in AWS; \
             raise the hook's Timeout to at least {} s (at most 900), or shorten `watch`",
            hook.logical_id,
            hook_spec::Dur(longest),
            hook.timeout.as_secs(),
            needs.as_secs().div_ceil(60) * 60
        )
    })
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
