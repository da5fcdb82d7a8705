//! Building the workspace binaries a template names, before a simulation.

use std::path::Path;

use super::SimulateError;
use super::setup::Setup;

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
    let (start, workspace) = super::setup::workspace_of(base);
    match &workspace {
        Some(root) => {
            cmd.current_dir(root).arg("build").arg("--workspace");
        }
        None => {
            cmd.current_dir(start).arg("build");
        }
    }
    cmd.arg("--release");
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
