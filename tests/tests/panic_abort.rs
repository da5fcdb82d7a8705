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

/// `simulate --build` builds the guard alone first, with the profile its build will use: a
/// workspace that would build its hooks with `panic = "abort"` stops there, before cargo
/// compiles anything else (the guard has no dependencies), with the guard's message.
#[test]
fn simulate_build_stops_at_the_guard_before_building_anything_else() {
    let dir = target_dir().join("panic-abort-simulate");
    let out = Command::new(integration_tests::release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args(["simulate", "--build", "--speed", "100000"])
        // As `cargo lambda build --release` sets it when the profile says nothing.
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_TARGET_DIR", &dir)
        .output()
        .expect("hook-sim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hook-sdk needs panic = \"unwind\""), "{stderr}");
    assert!(stderr.contains("cargo build failed"), "{stderr}");
    // Nothing but the guard was compiled: no AWS SDK, no binary.
    let deps: Vec<String> = std::fs::read_dir(dir.join("release/deps"))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    assert!(deps.iter().all(|f| f.contains("hook_sdk_unwind")), "{deps:?}");
    assert!(!dir.join("release/hello").exists());
}
