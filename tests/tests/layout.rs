//! scripts/module-cycles, which `.ci/run` holds the workspace to: it finds the files that
//! import each other, directly or around a loop, and only those.

use std::path::Path;
use std::process::Command;

use integration_tests::{target_dir, workspace_root};

/// A crate's `src/` of `files` (path, text) in a fresh folder under `target/`.
fn crate_of(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let src = target_dir().join("module-cycles").join(name).join("src");
    let _ = std::fs::remove_dir_all(&src);
    for (path, text) in files {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    src
}

fn module_cycles(src: &Path) -> (i32, String) {
    let out = Command::new(workspace_root().join("scripts/module-cycles"))
        .arg(src)
        .output()
        .expect("scripts/module-cycles runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn files_that_import_each_other_are_a_loop() {
    let src = crate_of(
        "loops",
        &[
            ("lib.rs", "mod a;\nmod b;\nmod p;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B;\npub fn f() -> crate::a::A { crate::a::A }\n"),
            // A mod.rs and its child through `super::*`: the loop the layout forbids.
            ("p/mod.rs", "mod c;\nuse c::C;\npub struct P;\n"),
            ("p/c.rs", "use super::*;\npub struct C;\n"),
        ],
    );
    let (code, out) = module_cycles(&src);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("loop: a · b"), "{out}");
    assert!(out.contains("loop: p · p/c"), "{out}");
}

#[test]
fn re_exports_tests_and_one_way_imports_are_no_loop() {
    let src = crate_of(
        "clean",
        &[
            // The root re-exports `A`; `b` names it through the root, which leads to `a`.
            ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
            (
                "a.rs",
                "pub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::b::f;\n}\n",
            ),
            ("b.rs", "pub fn f() -> crate::A { crate::A }\n"),
        ],
    );
    let (code, out) = module_cycles(&src);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 imports between 3 files"), "{out}");
}
