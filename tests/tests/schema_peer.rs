//! The shipped JSON Schema, judged by an independent validator (Python `jsonschema`):
//! specs the loader accepts validate, and the mistakes it rejects are rejected by the schema too.

use std::process::Command;

use integration_tests::{target_dir, workspace_root};

const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = list(validator.iter_errors(yaml.safe_load(open(path))))
    print(path, "valid" if not errors else "invalid: " + errors[0].message)
"#;

fn validate(specs: &[(&str, &str)]) -> Vec<String> {
    let dir = target_dir().join("test-tmp").join("schema-peer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, text) in specs {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        paths.push(p.display().to_string());
    }
    let python = target_dir().join("venv/bin/python");
    if !python.exists() {
        let status = Command::new(workspace_root().join("scripts/python-tools"))
            .status()
            .unwrap();
        assert!(status.success(), "scripts/python-tools failed");
    }
    let out = Command::new(python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(workspace_root().join("hook-runner/hook-spec.schema.json"))
        .args(&paths)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.rsplit_once('/').map_or(l, |(_, name)| name).to_string())
        .collect()
}

const DESIGN_EXAMPLE: &str = include_str!("../../hook-spec/tests/specs/design.yaml");

#[test]
fn the_schema_agrees_with_the_loader() {
    let cases = [
        ("design.yaml", DESIGN_EXAMPLE, true),
        (
            "unknown-key.yaml",
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expct: {}\n",
            false,
        ),
        (
            "bad-operator.yaml",
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect: { json: { $.x: { match: a } } }\n",
            false,
        ),
        (
            "bad-phase.yaml",
            "version: 1\nchecks:\n  - name: a\n    phase: during\n    invoke: {}\n",
            false,
        ),
        (
            "bad-duration.yaml",
            "version: 1\ndefaults: { timeout: 5 }\nchecks:\n  - name: a\n    invoke: {}\n",
            false,
        ),
        (
            "metrics.yaml",
            "version: 1\nchecks:\n  - name: a\n    metrics: { window: 30m, inconclusive: pass, expect: { p99: \"< 1.2 × current\" } }\n",
            true,
        ),
        (
            "metrics-unknown-key.yaml",
            "version: 1\nchecks:\n  - name: a\n    metrics: { windw: 30m, expect: { p99: \"< 1s\" } }\n",
            false,
        ),
        (
            "metrics-bad-policy.yaml",
            "version: 1\nchecks:\n  - name: a\n    metrics: { inconclusive: maybe, expect: { p99: \"< 1s\" } }\n",
            false,
        ),
        (
            "version-2.yaml",
            "version: 2\nchecks:\n  - name: a\n    invoke: {}\n",
            false,
        ),
    ];
    let examples: Vec<(String, String)> = ["pre-traffic.yaml", "post-traffic.yaml", "smoke.yaml"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                std::fs::read_to_string(workspace_root().join("hook-examples").join(n)).unwrap(),
            )
        })
        .collect();
    let mut cases: Vec<(&str, &str, bool)> = cases.to_vec();
    cases.extend(examples.iter().map(|(n, t)| (n.as_str(), t.as_str(), true)));
    let specs: Vec<(&str, &str)> = cases.iter().map(|(n, t, _)| (*n, *t)).collect();
    let verdicts = validate(&specs);
    for ((name, text, valid), verdict) in cases.iter().zip(&verdicts) {
        assert_eq!(verdict.ends_with(" valid"), *valid, "{name}: schema says {verdict}");
        assert_eq!(
            hook_sdk::spec::load(text, name).is_ok(),
            *valid,
            "{name}: the loader disagrees"
        );
    }
}
