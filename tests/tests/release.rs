//! scripts/release's pieces: what it says without building, the tree it refuses, and the
//! packing (scripts/release-pack) that makes the same bytes of the same inputs. The builds
//! themselves are cross builds of their own (about 8 minutes), made by the script, not here.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{target_dir, workspace_root};

fn scratch(name: &str) -> PathBuf {
    let dir = target_dir().join("test-tmp").join(format!("release-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn pack(args: &[&str], epoch: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(workspace_root().join("scripts/release-pack"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    if let Some(e) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", e);
    }
    run(&mut cmd)
}

/// Python's view of an archive: one line per entry, `name mode size`.
fn entries(archive: &Path) -> Vec<String> {
    let script = r#"
import sys, tarfile, zipfile
p = sys.argv[1]
if p.endswith((".zip", ".whl")):
    for i in zipfile.ZipFile(p).infolist():
        print(i.filename, oct(i.external_attr >> 16), i.file_size, i.date_time[0])
else:
    for i in tarfile.open(p).getmembers():
        print(i.name, oct(i.mode), i.size, i.mtime, i.uid)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_exe(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn help_says_what_a_release_holds_without_building() {
    // No cargo, rustup or python on the PATH: the help needs none of them.
    let (code, text) = run(Command::new(workspace_root().join("scripts/release"))
        .arg("--help")
        .env("PATH", "/usr/bin:/bin")
        .env("CARGO_HOME", "/nonexistent"));
    assert_eq!(code, 0, "{text}");
    for line in [
        "hook-runner-lambda-VERSION-arm64.zip",
        "hook-sim-VERSION-linux-ARCH.tar.gz",
        "SHA256SUMS",
        "usage: scripts/release [--allow-dirty] [--out DIR]",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let (code, text) = run(Command::new(workspace_root().join("scripts/release")).arg("--bogus"));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unknown argument --bogus"), "{text}");
}

#[test]
fn a_release_is_made_from_a_clean_tree_only() {
    // A repository of its own holding the script, with a change not committed.
    let repo = scratch("dirty");
    std::fs::create_dir_all(repo.join("scripts")).unwrap();
    std::fs::copy(workspace_root().join("scripts/release"), repo.join("scripts/release")).unwrap();
    std::fs::write(repo.join("Cargo.toml"), "[workspace.package]\nversion = \"0.1.0\"\n").unwrap();
    let git = |args: &[&str]| {
        let (code, text) = run(Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo));
        assert_eq!(code, 0, "git {args:?}: {text}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "release"]);
    std::fs::write(repo.join("Cargo.toml"), "[workspace.package]\nversion = \"0.2.0\"\n").unwrap();
    let (code, text) = run(Command::new(repo.join("scripts/release")).current_dir(&repo));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("the tree has changes (git status): commit them"),
        "{text}"
    );
    assert!(!repo.join("dist").exists(), "nothing made");
}

#[test]
fn a_lambda_bundle_is_one_executable_bootstrap_with_the_same_bytes_every_time() {
    let dir = scratch("zip");
    let bootstrap = dir.join("bootstrap");
    write_exe(&bootstrap, "#!/bin/sh\necho hook\n");
    let (a, b) = (dir.join("a.zip"), dir.join("b.zip"));
    assert_eq!(
        pack(&["lambda-zip", a.to_str().unwrap(), bootstrap.to_str().unwrap()], None).0,
        0
    );
    // Made again later, the file touched in between: the same bytes.
    write_exe(&bootstrap, "#!/bin/sh\necho hook\n");
    assert_eq!(
        pack(&["lambda-zip", b.to_str().unwrap(), bootstrap.to_str().unwrap()], None).0,
        0
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(entries(&a), ["bootstrap 0o100755 20 1980"]);
    // Another commit's time is another date in the archive.
    let c = dir.join("c.zip");
    let (code, text) = pack(
        &["lambda-zip", c.to_str().unwrap(), bootstrap.to_str().unwrap()],
        Some("1764892800"),
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(entries(&c), ["bootstrap 0o100755 20 2025"]);
}

#[test]
fn a_cli_tarball_holds_its_folder_in_name_order_whatever_the_order_given() {
    let dir = scratch("tar");
    let bin = dir.join("hook-sim");
    write_exe(&bin, "binary");
    let license = workspace_root().join("LICENSE");
    let (a, b) = (dir.join("a.tar.gz"), dir.join("b.tar.gz"));
    let top = "hook-sim-0.1.0-linux-x86_64";
    let args = |out: &Path, files: [&Path; 2]| {
        let mut v = vec!["tarball".to_string(), out.display().to_string(), top.to_string()];
        v.extend(files.iter().map(|f| f.display().to_string()));
        v
    };
    for (out, files) in [(&a, [&bin, &license]), (&b, [&license, &bin])] {
        let argv = args(out, files.map(PathBuf::as_path));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, text) = pack(&argv, Some("1764892800"));
        assert_eq!(code, 0, "{text}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let size = std::fs::metadata(&license).unwrap().len();
    assert_eq!(
        entries(&a),
        [
            format!("{top} 0o755 0 1764892800 0"),
            format!("{top}/LICENSE 0o644 {size} 1764892800 0"),
            format!("{top}/hook-sim 0o755 6 1764892800 0"),
        ]
    );
}

#[test]
fn sha256sums_checks_every_file_and_catches_a_changed_one() {
    let dir = scratch("sums");
    std::fs::write(dir.join("one.zip"), "one").unwrap();
    std::fs::write(dir.join("two.tar.gz"), "two").unwrap();
    let (code, text) = pack(&["sums", dir.to_str().unwrap()], None);
    assert_eq!(code, 0, "{text}");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert_eq!(
        sums,
        "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed  one.zip\n\
         3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3  two.tar.gz\n"
    );
    let check = || run(Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(&dir));
    assert_eq!(check().0, 0);
    std::fs::write(dir.join("two.tar.gz"), "changed").unwrap();
    let (code, text) = check();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("two.tar.gz: FAILED"), "{text}");
}

/// The workspace's `rust-version` is the highest any dependency declares (today the AWS SDK's):
/// no lower toolchain can build it, and cargo's resolver keeps every dependency within it.
/// (That our own code needs nothing newer, clippy's `incompatible_msrv` checks in `.ci/run`.)
#[test]
fn the_declared_rust_version_is_the_highest_a_dependency_needs() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let version = |v: &str| -> Vec<u32> {
        let mut parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
        parts.resize(3, 0); // "1.94" is 1.94.0
        parts
    };
    let mut declared = Vec::new();
    let mut needed = (Vec::new(), String::new());
    for p in meta["packages"].as_array().unwrap() {
        let Some(rv) = p["rust_version"].as_str() else { continue };
        if members.contains(&p["id"].as_str().unwrap()) {
            declared.push((p["name"].as_str().unwrap().to_string(), rv.to_string()));
        } else if version(rv) > needed.0 {
            needed = (
                version(rv),
                format!("{} {}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()),
            );
        }
    }
    assert_eq!(declared.len(), members.len(), "every crate declares it: {declared:?}");
    for (name, rv) in declared {
        assert_eq!(
            version(&rv),
            needed.0,
            "{name} declares {rv}; {} needs {:?}",
            needed.1,
            needed.0
        );
    }
}

/// The Lambda artifacts' build settings are one set: what scripts/lambda-env exports (for
/// scripts/sam-build, scripts/release, scripts/bootstrap-size) is what the Makefile exports to
/// the cargo builds of its recipes — the small profile, and not the release profile's defaults.
#[test]
fn the_makefile_and_the_scripts_build_lambda_artifacts_alike() {
    const VARS: &str =
        "$CARGO_PROFILE_RELEASE_LTO $CARGO_PROFILE_RELEASE_CODEGEN_UNITS $CARGO_PROFILE_RELEASE_OPT_LEVEL";
    let clean = |cmd: &mut Command| {
        for v in ["LTO", "CODEGEN_UNITS", "OPT_LEVEL"] {
            cmd.env_remove(format!("CARGO_PROFILE_RELEASE_{v}"));
        }
        cmd.current_dir(workspace_root());
    };
    let mut script = Command::new("bash");
    script.args(["-c", &format!("source scripts/lambda-env && echo {VARS}")]);
    clean(&mut script);
    let (code, from_script) = run(&mut script);
    assert_eq!(code, 0, "{from_script}");
    let mut make = Command::new("make");
    make.args([
        "--no-print-directory",
        "--eval",
        &format!("print-lambda-env: ; @echo {}", VARS.replace('$', "$$")),
        "print-lambda-env",
    ]);
    clean(&mut make);
    let (code, from_make) = run(&mut make);
    assert_eq!(code, 0, "{from_make}");
    assert_eq!(from_script.trim(), "fat 1 s");
    assert_eq!(from_make.trim(), from_script.trim());

    // cargo-lambda passes `--config profile.release.lto="thin"` and `codegen-units=1` (which
    // outrank the environment) for whichever of the two the release profile leaves unset: the
    // profile must set both for the variables above to be obeyed.
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("a [profile.release]")
        .split("\n[")
        .next()
        .unwrap();
    for key in ["lto", "codegen-units", "panic"] {
        assert!(
            release.lines().any(|l| l.trim_start().starts_with(&format!("{key} ="))),
            "[profile.release] must set {key}:\n{release}"
        );
    }
}

/// `scripts/sam-build` ends by listing the spec SpecHook reads in its build folder: the file
/// the template's `HOOK_SPEC_FILE` names, among those the Makefile copies there (it once listed
/// a file no build makes, and failed after a successful build).
#[test]
fn sam_build_looks_for_the_spec_the_hook_reads() {
    let root = integration_tests::workspace_root();
    let script = std::fs::read_to_string(root.join("scripts/sam-build")).unwrap();
    let listed = script
        .lines()
        .find_map(|l| l.strip_prefix("ls .aws-sam/build/SpecHook/"))
        .expect("sam-build lists SpecHook's spec")
        .trim();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let spec_file = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("HOOK_SPEC_FILE: "))
        .expect("SpecHook names its spec")
        .trim();
    assert_eq!(listed, spec_file);
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let (folder, name) = spec_file.rsplit_once('/').unwrap();
    assert!(
        makefile.contains(&format!("cp {folder}/*.yaml $(ARTIFACTS_DIR)/{folder}/")),
        "the Makefile copies {folder}/*.yaml into SpecHook's folder"
    );
    assert!(root.join(folder).join(name).is_file());
}

/// Without Rust: the two CLIs as binary wheels, installed by pip into a fresh venv, rehearse a
/// Python team's own stack (the Python example, copied out of this workspace, so no binary of
/// `target/` is in reach) with nothing but the venv on the PATH: no cargo, no rustc.
#[test]
fn the_wheels_install_with_pip_and_rehearse_a_python_stack_without_rust() {
    let dir = scratch("wheels");
    let machine = if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else {
        "x86_64"
    };
    // Built here, against this machine's glibc: tagged for this machine only (scripts/release
    // tags its glibc-2.17 builds manylinux).
    let platform = format!("linux_{machine}");
    let mut wheels = Vec::new();
    for name in ["hook-sim", "hook-runner"] {
        let (code, out) = pack(
            &[
                "wheel",
                dir.to_str().unwrap(),
                name,
                "0.1.0",
                &platform,
                integration_tests::release_bin(name).to_str().unwrap(),
                "a test",
            ],
            None,
        );
        assert_eq!(code, 0, "{out}");
        let wheel = PathBuf::from(out.trim());
        assert_eq!(
            wheel.file_name().unwrap().to_str().unwrap(),
            format!("{}-0.1.0-py3-none-{platform}.whl", name.replace('-', "_"))
        );
        wheels.push(wheel);
    }
    let venv = dir.join("venv");
    let (code, out) = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(Command::new(venv.join("bin/pip"))
        .args(["install", "--no-index", "--disable-pip-version-check", "--quiet"])
        .args(&wheels));
    assert_eq!(code, 0, "pip takes the wheels (their RECORD checked): {out}");
    for name in ["hook-sim", "hook-runner"] {
        assert!(venv.join("bin").join(name).is_file(), "{name} on the venv's PATH");
    }

    // A team's own project, outside this workspace: the Python example with its spec beside it.
    let project = std::env::temp_dir().join(format!("hook-sim-wheel-project-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    let examples = workspace_root().join("hook-examples");
    std::fs::create_dir_all(project.join("hello")).unwrap();
    for f in std::fs::read_dir(examples.join("python/hello")).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, project.join("hello").join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(examples.join("smoke.yaml"), project.join("smoke.yaml")).unwrap();
    let template = std::fs::read_to_string(examples.join("python/template.yaml"))
        .unwrap()
        .replace("CodeUri: ../..", "CodeUri: .")
        .replace("HOOK_SPEC_FILE: hook-examples/smoke.yaml", "HOOK_SPEC_FILE: smoke.yaml");
    std::fs::write(project.join("template.yaml"), template).unwrap();

    let path = venv.join("bin");
    let (code, _) = run(Command::new("/bin/sh")
        .args(["-c", "command -v cargo || command -v rustc"])
        .env("PATH", &path));
    assert_ne!(code, 0, "no Rust toolchain on the PATH");
    let out = Command::new(venv.join("bin/hook-sim"))
        .current_dir(&project)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &dir)
        .args(["simulate", "--python"])
        .arg(integration_tests::venv_bin("python"))
        .args(["--speed", "100000", "--seed", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("{}", venv.join("bin/hook-runner").display())),
        "the installed hook-runner runs the hooks: {text}"
    );
    assert!(text.contains("✔ Succeeded"), "{text}");
    std::fs::remove_dir_all(&project).unwrap();
}

#[test]
fn a_wheel_has_the_same_bytes_every_time_and_records_what_it_holds() {
    let dir = scratch("wheel-bytes");
    let exe = dir.join("tool");
    write_exe(&exe, "#!/bin/sh\necho tool\n");
    let make = |out: &Path| {
        std::fs::create_dir_all(out).unwrap();
        let (code, text) = pack(
            &[
                "wheel",
                out.to_str().unwrap(),
                "hook-sim",
                "0.1.0",
                "manylinux_2_17_x86_64.manylinux2014_x86_64",
                exe.to_str().unwrap(),
                "a summary",
            ],
            Some("1700000000"),
        );
        assert_eq!(code, 0, "{text}");
        PathBuf::from(text.trim())
    };
    let (a, b) = (make(&dir.join("a")), make(&dir.join("b")));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(
        a.file_name().unwrap().to_str().unwrap(),
        "hook_sim-0.1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    );
    let listed = entries(&a);
    let names: Vec<&str> = listed.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "hook_sim-0.1.0.data/scripts/hook-sim",
            "hook_sim-0.1.0.dist-info/METADATA",
            "hook_sim-0.1.0.dist-info/WHEEL",
            "hook_sim-0.1.0.dist-info/RECORD",
        ]
    );
    assert!(listed[0].contains(" 0o100755 "), "the binary is executable: {listed:?}");
}
