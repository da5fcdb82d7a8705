//! hook-sdk refuses to build with `panic = "abort"`: such a hook would die without reporting.

use std::process::Command;

use integration_tests::{target_dir, workspace_root};

#[test]
fn building_hook_sdk_with_panic_abort_fails_and_says_how_to_fix_it() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "check",
            "--quiet",
            "-p",
            "hook-sdk",
            "--lib",
            "--message-format",
            "short",
            "--config",
            "profile.dev.panic=\"abort\"",
            "--target-dir",
        ])
        // Its own target directory: the abort build shares nothing with the normal one.
        .arg(target_dir().join("panic-abort-check"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "hook-sdk built with panic = \"abort\":\n{stderr}"
    );
    assert!(
        stderr.contains("hook-sdk needs panic = \"unwind\"") && stderr.contains("[profile.release]"),
        "{stderr}"
    );
}
