//! The renderers against golden files in `hook-sdk/tests/golden/`.
//! `UPDATE_GOLDEN=1 cargo test -p hook-sdk golden` writes them anew.

use std::path::PathBuf;

use super::fixture::report;
use super::{render_json, render_json_lines, render_junit, render_text};

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 writes it anew)",
        path.display()
    );
}

#[test]
fn golden_text() {
    golden("report.txt", &render_text(&report(), false));
}

#[test]
fn golden_text_colour() {
    golden("report.ansi.txt", &render_text(&report(), true));
}

#[test]
fn golden_json() {
    golden("report.json", &render_json(&report()));
}

#[test]
fn golden_json_lines() {
    golden("report.jsonl", &(render_json_lines(&report()).join("\n") + "\n"));
}

#[test]
fn golden_junit() {
    golden("report.junit.xml", &render_junit(&report()));
}
