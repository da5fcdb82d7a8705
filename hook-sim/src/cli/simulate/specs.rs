//! The specs of the template's hook-runner hooks, read before anything runs: a spec of the
//! user's own that is missing or does not load is a set-up error (`simulate`, `audit`) or a
//! problem (`check`), never a verdict on the version.

use std::path::{Path, PathBuf};

use super::setup::FunctionRun;

/// Why `hook`'s spec cannot be used, when it names one (`HOOK_SPEC` inline, or a
/// `HOOK_SPEC_FILE` relative to its code folder) and it is missing or does not load; `extra`
/// is the environment added to every hook (`--hook-env`, `--spec`), which wins.
pub(crate) fn spec_problem(hook: &FunctionRun, extra: &[(String, String)]) -> Option<String> {
    let get = |key: &str| {
        hook.env
            .iter()
            .chain(extra)
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let loaded = match (get("HOOK_SPEC"), get("HOOK_SPEC_FILE")) {
        (Some(inline), _) if !inline.trim().is_empty() => hook_spec::load(&inline, "HOOK_SPEC").map(drop),
        (_, Some(file)) => {
            let path = match &hook.task_root {
                Some(root) if Path::new(&file).is_relative() => root.join(&file),
                _ => PathBuf::from(&file),
            };
            if !path.is_file() {
                return Some(format!(
                    "{} (HOOK_SPEC_FILE of {}) does not exist: write the spec there, or point HOOK_SPEC_FILE \
                     (or --spec) at it",
                    path.display(),
                    hook.logical_id
                ));
            }
            hook_spec::load_file(&path).map(drop)
        }
        _ => return None,
    };
    loaded.err().map(|e| {
        format!(
            "the spec of {} does not load — a mistake in the spec, not in the version: fix it and rehearse again\n{e}",
            hook.logical_id
        )
    })
}
