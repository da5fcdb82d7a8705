//! What a hook crate's features cost: hook-sdk's `testing` feature, in a hook's
//! `[dev-dependencies]`, changes no feature of any other crate, so `cargo test` and
//! `cargo build` of the hook share one build of the AWS SDK.

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::workspace_root;

/// Every crate and feature hook-sdk's own build enables (`cargo tree -e features`), with
/// `features` given to hook-sdk.
fn feature_tree(features: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "tree",
            "--offline",
            "-p",
            "hook-sdk",
            "-e",
            "normal,build,features",
            "--prefix",
            "none",
        ])
        .args(features.iter().flat_map(|f| ["-F", f]))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_string())
        .collect()
}

#[test]
fn the_testing_feature_builds_the_aws_sdk_as_a_hooks_build_does() {
    let plain = feature_tree(&[]);
    let testing = feature_tree(&["testing"]);
    let added: Vec<&String> = testing.difference(&plain).collect();
    let removed: Vec<&String> = plain.difference(&testing).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the testing feature changed the build: added {added:#?}, removed {removed:#?}"
    );
    // The tree is a real one: the AWS crates are in it with their features.
    assert!(
        plain.iter().any(|l| l.starts_with("aws-sdk-lambda feature ")),
        "{plain:#?}"
    );
    assert!(plain.iter().any(|l| l.starts_with("percent-encoding v")), "{plain:#?}");
}
