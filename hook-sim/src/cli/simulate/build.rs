//! Building the workspace binaries a template names, before a simulation.

use std::path::Path;

use super::error::SimulateError;
use hook_sim::stack::setup::Setup;

pub(super) fn build(setup: &Setup, base: &Path) -> Result<(), SimulateError> {
    let mut bins: Vec<&str> = std::iter::once(&setup.function)
        .chain(setup.hooks.iter().map(|(_, h)| h))
        .filter_map(|f| f.cargo_bin.as_deref())
        .collect();
    bins.sort_unstable();
    bins.dedup();
    if bins.is_empty() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(&cargo);
    // From the workspace the template is in, whichever member's folder holds it: the binaries
    // may be any member's (a template beside one crate names another's `hook-runner`).
    let (start, workspace) = hook_sim::stack::functions::workspace_of(base);
    match &workspace {
        Some(root) => {
            cmd.current_dir(root).arg("build").arg("--workspace");
        }
        None => {
            cmd.current_dir(start).arg("build");
        }
    }
    cmd.arg("--release");
    unwinds(&cargo, workspace.as_deref().unwrap_or(start))?;
    for b in &bins {
        cmd.args(["--bin", b]);
    }
    eprintln!(
        "building: cargo build{} --release --bin {}{}",
        if workspace.is_some() { " --workspace" } else { "" },
        bins.join(" --bin "),
        workspace.map(|w| format!(" (in {})", w.display())).unwrap_or_default()
    );
    let status = cmd.status().map_err(|source| SimulateError::Cargo {
        cargo: cargo.clone(),
        source,
    })?;
    if !status.success() {
        return Err(SimulateError::Build(status));
    }
    Ok(())
}

/// hook-sdk's panic guard alone, with the profile the build will use: a workspace that would
/// build its hooks with `panic = "abort"` fails here in a second or two, instead of when cargo
/// reaches the guard near the end of a build of the AWS SDK. A workspace without hook-sdk has
/// no guard to build; then nothing is said.
fn unwinds(cargo: &str, dir: &Path) -> Result<(), SimulateError> {
    let out = std::process::Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--quiet", "-p", "hook-sdk-unwind"])
        .output()
        .map_err(|source| SimulateError::Cargo {
            cargo: cargo.to_string(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("hook-sdk needs panic") {
        eprint!("{stderr}");
        return Err(SimulateError::Build(out.status));
    }
    Ok(())
}
