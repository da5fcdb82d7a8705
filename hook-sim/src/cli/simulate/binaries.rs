//! The stack's programs before anything runs: the other stacks it reads, where its files are,
//! and the binaries and interpreters its functions need, each said missing with what to do.

use std::path::{Path, PathBuf};

use hook_sim::stack::setup::{Setup, TARGET};
use hook_sim::stack::{StackError, Template};

use super::args::*;
use super::error::*;

/// The template's directory: `""` for a template in the working directory, so that paths
/// beside it read `target/release/hello`.
pub(super) fn template_dir(template: &Path) -> PathBuf {
    template.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The stacks besides `template` whose functions its hooks may be: those given with `--with`,
/// each named after its folder, and the template's nested applications (a local `Location`,
/// with the parameters it gives them).
pub(super) fn other_stacks(args: &StackArgs, template: &Template) -> Result<Vec<Template>, StackError> {
    let mut stacks = args
        .with
        .iter()
        .map(|path| {
            let stack = template_dir(path)
                .file_name()
                .map_or("shared".to_string(), |n| n.to_string_lossy().into_owned());
            Template::load(path, &[], &stack, TARGET)
        })
        .collect::<Result<Vec<_>, _>>()?;
    stacks.extend(template.nested_applications()?);
    Ok(stacks)
}

/// Every binary the setup runs exists (or its interpreter works); else what to do.
pub(super) fn check_binaries(args: &StackArgs, setup: &Setup, hooks: bool) -> Result<(), SimulateError> {
    // Each binary, with the option that chose it (if one did).
    let mut binaries = vec![
        (&setup.function, args.current_bin.as_ref().map(|p| (p, "--current-bin"))),
        (&setup.function, args.target_bin.as_ref().map(|p| (p, "--target-bin"))),
    ];
    if hooks {
        binaries.extend(setup.hooks.iter().map(|(_, h)| (h, None)));
    }
    // Both versions run one function's interpreter: checked (and warned about) once.
    let mut interpreted = std::collections::BTreeSet::new();
    for (f, over) in binaries {
        let path = over.map_or(&f.binary, |(p, _)| p);
        let interpreter = over.is_none() && (f.runtime.starts_with("python") || f.runtime.starts_with("nodejs"));
        if interpreter && !interpreted.insert(f.logical_id.clone()) {
            continue;
        }
        if over.is_none() && f.runtime.starts_with("python") {
            check_python(&args.python, &f.logical_id, &f.runtime)?;
            continue;
        }
        if over.is_none() && f.runtime.starts_with("nodejs") {
            check_node(&args.node, &f.logical_id)?;
            continue;
        }
        if !path.is_file() {
            let from_bin = args.bins.iter().any(|(id, _)| *id == f.logical_id);
            let how = match (&f.cargo_bin, over) {
                (_, Some((_, flag))) => format!("check the path given to {flag}"),
                _ if from_bin => format!("check the path given to --bin {}=PATH", f.logical_id),
                (Some(bin), None) => format!(
                    "build it with `cargo build --release --bin {bin}`, or add --build{}",
                    if bin == "hook-runner" {
                        " (without Rust: `pip install` hook-runner's wheel, README.md#install, puts it on the PATH)"
                    } else {
                        ""
                    }
                ),
                (None, None) => format!("pass --bin {}=PATH", f.logical_id),
            };
            return Err(SimulateError::Usage(format!(
                "{} (the binary of {}) does not exist: {how}",
                path.display(),
                f.logical_id
            )));
        }
    }

    Ok(())
}

/// Says so when `python` is not the version the function's runtime names (`python3.12`): it
/// runs, but what differs between the two is not rehearsed.
pub(super) fn warn_python_version(python: &Path, function: &str, runtime: &str) {
    let Some(wanted) = runtime.strip_prefix("python") else {
        return;
    };
    let version = std::process::Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(version) = version
        && version != wanted
    {
        eprintln!(
            "warning: {function} is a {runtime} function and {} is Python {version}: it runs, but what differs \
             between the two is not rehearsed; pass --python PATH of a Python {wanted}",
            python.display()
        );
    }
}

/// Checks that `python` runs and has the runtime interface client a `python3.x` function
/// runs under.
pub(super) fn check_python(python: &Path, function: &str, runtime: &str) -> Result<(), SimulateError> {
    let probe = std::process::Command::new(python)
        .args(["-c", "import awslambdaric"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => {
            warn_python_version(python, function, runtime);
            Ok(())
        }
        Ok(_) => Err(SimulateError::Usage(format!(
            "{function} is a Python function, and {} cannot import awslambdaric (Lambda's runtime \
             interface client): `{} -m pip install awslambdaric`, or pass --python PATH of a Python that has it",
            python.display(),
            python.display()
        ))),
        Err(e) => Err(SimulateError::Usage(format!(
            "{function} is a Python function, and {} does not run ({e}): pass --python PATH",
            python.display()
        ))),
    }
}

/// Checks that `node` runs, and writes the Runtime API loop a `nodejs*` function runs under.
pub(super) fn check_node(node: &Path, function: &str) -> Result<(), SimulateError> {
    let probe = std::process::Command::new(node)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Err(SimulateError::Usage(format!(
            "{function} is a Node.js function, and {} does not run: install Node.js, or pass --node PATH",
            node.display()
        )));
    }
    let path = hook_sim::stack::functions::node_runtime_path();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(hook_sim::stack::functions::NODE_RUNTIME) {
        std::fs::write(&path, hook_sim::stack::functions::NODE_RUNTIME)
            .map_err(|e| SimulateError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}
