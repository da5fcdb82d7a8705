//! Properties of the spec loader and the assertion engine, on generated input: nothing a spec
//! or an answer holds makes them panic, and a spec the loader accepts runs to a report.

use std::time::Duration;

use crate::assert::{Observation, evaluate, holds};
use crate::check::{CheckRunner, RunContext};
use crate::spec::{Predicate, Vars, load};
use crate::{Phase, Target};
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Scalars a spec or an answer might hold, the awkward ones included.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "200",
            "2xx",
            "< 1s",
            "<= 300ms",
            ">= 0.99",
            "5",
            "0",
            "-1",
            "1e400",
            "NaN",
            "$",
            "$..*",
            "$.a",
            "$[",
            "$.body.message",
            "^Hello",
            "(",
            "\\w{50}",
            "[a-z]+",
            "${env:HOME}",
            "${env:",
            "{{x}}",
            "{{",
            "{{target.version}}",
            "target",
            "alias",
            "current",
            "before",
            "after",
            "both",
            "none",
            "any",
            "Unhandled",
            "GET",
            "POST",
            "http://127.0.0.1:9/x?token=s3cr3t",
            "not-a-url",
            "ms",
            "10ms",
            "1h",
            "ünïcödé",
            "\u{0}",
        ])
        .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ]
}

/// JSON documents whose keys come from the spec's vocabulary (and a few others).
fn spec_like() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "version",
        "checks",
        "name",
        "phase",
        "invoke",
        "http",
        "payload",
        "qualifier",
        "url",
        "method",
        "headers",
        "body",
        "expect",
        "status",
        "json",
        "header",
        "duration",
        "function_error",
        "log",
        "max_memory",
        "repeat",
        "concurrency",
        "thresholds",
        "success_rate",
        "p95",
        "max",
        "retry",
        "attempts",
        "backoff",
        "timeout",
        "capture",
        "targets",
        "defaults",
        "vars",
        "fail_fast",
        "secrets",
        "allow_untested_target",
        "follow_redirects",
        "matches",
        "contains",
        "not",
        "count",
        "exists",
        "type",
        "in",
        "==",
        "!=",
        "<",
        ">=",
        "under",
        "$.statusCode",
        "$.body.message",
        "$..*",
        "x",
    ]);
    scalar().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

/// Specs built to mostly pass the loader: invoke and HTTP checks with generated expectations.
fn runnable_spec() -> impl Strategy<Value = Value> {
    let predicate = prop_oneof![
        scalar(),
        (
            prop::sample::select(vec![
                "==", "!=", "<", ">=", "contains", "matches", "exists", "not", "count", "in", "type"
            ]),
            scalar()
        )
            .prop_map(|(op, v)| {
                let v = match op {
                    "exists" => json!(true),
                    "type" => json!("string"),
                    "in" => json!([v]),
                    "not" | "count" => json!({"==": v}),
                    "matches" => json!(v.as_str().filter(|s| regex_ok(s)).unwrap_or("^H")),
                    _ => v,
                };
                json!({ op: v })
            }),
    ];
    let expect = (
        prop::option::of(predicate.clone()),
        prop::collection::vec(
            (
                prop::sample::select(vec!["$.statusCode", "$.body.message", "$..*", "$.a[0]", "$['x-y']"]),
                predicate.clone(),
            ),
            0..3,
        ),
        prop::option::of(prop::sample::select(vec!["none", "any", "Unhandled", "Handled"])),
    )
        .prop_map(|(status, json, fe)| {
            let mut e = Map::new();
            if let Some(s) = status {
                e.insert("status".into(), s);
            }
            if !json.is_empty() {
                e.insert(
                    "json".into(),
                    Value::Object(json.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
                );
            }
            if let Some(fe) = fe {
                e.insert("function_error".into(), json!(fe));
            }
            Value::Object(e)
        });
    let check = (
        any::<bool>(),
        expect,
        prop::option::of(1u32..6),
        prop::option::of(1u32..4),
        prop::option::of(prop::sample::select(vec![
            "target",
            "alias",
            "current",
            "7",
            "{{target.version}}",
        ])),
        prop::sample::select(vec!["before", "after", "both"]),
        spec_like(),
    )
        .prop_map(|(http, expect, repeat, concurrency, qualifier, phase, payload)| {
            let mut c = Map::new();
            c.insert("phase".into(), json!(phase));
            if http {
                c.insert("http".into(), json!({"url": "http://127.0.0.1:9/health?token=x"}));
            } else {
                let mut i = json!({"payload": payload});
                if let Some(q) = qualifier {
                    i["qualifier"] = json!(q);
                }
                c.insert("invoke".into(), i);
            }
            c.insert("expect".into(), expect);
            if let Some(n) = repeat {
                c.insert("repeat".into(), json!(n));
                if let Some(k) = concurrency {
                    c.insert("concurrency".into(), json!(k));
                }
            }
            Value::Object(c)
        });
    (prop::collection::vec(check, 1..4), any::<bool>()).prop_map(|(checks, fail_fast)| {
        let checks: Vec<Value> = checks
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c["name"] = json!(format!("check {i}"));
                c
            })
            .collect();
        // Half of them also test the target version before traffic, as BeforeAllowTraffic specs must.
        let mut checks = checks;
        if fail_fast {
            checks.push(json!({"name": "target", "phase": "before", "invoke": {}}));
        }
        json!({"version": 1, "fail_fast": fail_fast, "checks": checks})
    })
}

fn regex_ok(s: &str) -> bool {
    crate::spec::Pattern::new(s).is_ok()
}

/// What the mocked target answers.
fn answer() -> impl Strategy<Value = (Vec<u8>, Option<&'static str>)> {
    (
        prop_oneof![
            spec_like().prop_map(|v| v.to_string().into_bytes()),
            spec_like().prop_map(|v| json!({"statusCode": 200, "body": v.to_string()})
                .to_string()
                .into_bytes()),
            prop::collection::vec(any::<u8>(), 0..64),
        ],
        prop::option::of(prop::sample::select(vec!["Unhandled", "Handled"])),
    )
}

/// The report of `spec` run against a target whose every invoke answers `payload` (with
/// `function_error`), as version 2.
fn report_of(
    spec: &crate::spec::Spec,
    payload: Vec<u8>,
    function_error: Option<&'static str>,
    (phase, vars, deadline): (Phase, Vars, Option<Duration>),
) -> crate::report::Report {
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .output(move || {
            let mut out = InvokeOutput::builder()
                .status_code(200)
                .executed_version("2")
                .payload(Blob::new(payload.clone()));
            if let Some(fe) = function_error {
                out = out.function_error(fe);
            }
            out.build()
        })
        .repeatedly()
        .build();
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&invoke]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = RunContext {
            phase,
            targets: vec![Target {
                logical_id: "F".into(),
                function: "fn".into(),
                alias: Some("live".into()),
                current_version: Some("1".into()),
                target_version: "2".into(),
            }],
            deployment_id: Some("d-1".into()),
            vars,
            deadline: deadline.map(|d| tokio::time::Instant::now() + d),
            source: None,
            traffic: None,
        };
        CheckRunner::new(lambda).run(spec, &ctx).await
    })
}

fn run_spec(spec: &crate::spec::Spec, payload: Vec<u8>, function_error: Option<&'static str>, phase: Phase) {
    let report = report_of(
        spec,
        payload,
        function_error,
        (phase, Vars::default(), Some(Duration::from_secs(5))),
    );
    // A report for every check, and no pass without a check that passed.
    assert!(report.checks.len() >= spec.checks.len());
    if report.passed() {
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.outcome() == crate::report::Outcome::Passed)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_text(text in "(?s).{0,300}") {
        let _ = load(&text, "p.yaml");
    }

    #[test]
    fn the_loader_never_panics_on_spec_like_documents(doc in spec_like()) {
        let _ = load(&doc.to_string(), "p.json");
        let _ = load(&format!("version: 1\nchecks: [{doc}]\n"), "p.yaml");
    }

    #[test]
    fn assertions_never_panic(expected in spec_like(), actual in prop::option::of(spec_like())) {
        if let Ok(p) = Predicate::from_value(expected) {
            let _ = holds(&p, actual.as_ref(), &Vars::default());
            let _ = p.to_string();
        }
    }

    #[test]
    fn every_expectation_is_judged_without_panic(doc in runnable_spec(), (payload, fe) in answer(), status in 100u16..600) {
        if let Ok(spec) = load(&doc.to_string(), "p.json") {
            for check in &spec.checks {
                for obs in [
                    Observation::from_invoke(&payload, fe.map(str::to_string), Duration::from_millis(3)),
                    Observation::from_http(status, vec![("content-type".into(), "x".into())], &payload, Duration::ZERO),
                ] {
                    let _ = evaluate(&check.expect, &obs, &Vars::default(), &crate::redact::Redactor::new());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_spec_the_loader_accepts_runs_to_a_report(doc in runnable_spec(), (payload, fe) in answer(), before in any::<bool>()) {
        if let Ok(spec) = load(&doc.to_string(), "p.json") {
            let phase = if before { Phase::BeforeAllowTraffic } else { Phase::AfterAllowTraffic };
            run_spec(&spec, payload, fe, phase);
        }
    }
}

#[test]
fn the_generator_makes_specs_the_loader_accepts() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = runnable_spec();
    let accepted = (0..200)
        .filter(|_| load(&strategy.new_tree(&mut runner).unwrap().current().to_string(), "p.json").is_ok())
        .count();
    // Otherwise the property over accepted specs would hold vacuously.
    assert!(accepted >= 60, "only {accepted} of 200 generated specs load");
}

/// A secret built of characters that reports never hold otherwise (so that any 4-character
/// piece of it found in a report is a leak), quotes, backslashes, newlines and unicode included.
/// No digit: a report's own figures (durations, sizes) hold every digit, in an order that
/// depends on how fast the run was.
fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['Q', 'Z', 'K', 'W', 'J', '"', '\\', '\n', 'é', '漢', '🔑', ' ']),
        8..40,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>())
    .prop_filter("a secret has at least 4 characters that are no escape", |s| {
        s.chars().filter(|c| "QZKWJé漢🔑".contains(*c)).count() >= 4
    })
}

/// Every 4-character piece of `text` that holds two or more of the secret's own letters.
fn telling_pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(4)
        .filter(|w| w.iter().filter(|c| "QZKWJé漢🔑".contains(**c)).count() >= 2)
        .map(|w| w.iter().collect())
        .collect()
}

/// The ways an answer may carry the secret: as is in text, inside a JSON string, as an
/// ASCII-only JSON encoder writes it, and JSON inside a JSON string (API Gateway's `body`).
fn embed(secret: &str, how: u8, pad: usize) -> Vec<u8> {
    let padding = "x".repeat(pad);
    match how % 4 {
        0 => format!("{padding}{secret} tail").into_bytes(),
        1 => serde_json::to_vec(&json!({"statusCode": 200, "pad": padding, "echo": secret})).unwrap(),
        2 => {
            let mut ascii = String::new();
            for c in serde_json::to_string(secret).unwrap().chars() {
                if c.is_ascii() {
                    ascii.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        ascii.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
            format!(r#"{{"statusCode":200,"pad":"{padding}","echo":{ascii}}}"#).into_bytes()
        }
        _ => {
            let body = json!({"pad": padding, "echo": secret}).to_string();
            serde_json::to_vec(&json!({"statusCode": 200, "body": body})).unwrap()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any secret echoed at any offset of any answer appears in no report, rendered in any
    /// format, whole or as a piece left at a clip.
    #[test]
    fn no_piece_of_a_secret_reaches_any_report(secret in secret(), how in any::<u8>(), pad in 0usize..700) {
        let spec = load(
            "version: 1\nchecks:\n  - name: echo\n    invoke: { payload: { token: \"${env:API_TOKEN}\" } }\n    \
             expect:\n      body: { contains: never-there }\n      json: { $.echo: nope, $.body: nope }\n      \
             status: 201\n",
            "s.yaml",
        )
        .unwrap();
        let payload = embed(&secret, how, pad);
        let value = secret.clone();
        let vars = Vars::with_env(std::sync::Arc::new(move |n| (n == "API_TOKEN").then(|| value.clone())));
        let report = report_of(&spec, payload, Some("Unhandled"), (Phase::BeforeAllowTraffic, vars, None));
        prop_assert!(!report.passed());
        let outputs = [
            crate::report::render_text(&report, false),
            crate::report::render_text(&report, true),
            crate::report::render_json(&report),
            crate::report::render_json_lines(&report).join("\n"),
            crate::report::render_junit(&report),
            report.failure_summary().unwrap_or_default(),
            format!("{report:?}"),
        ];
        let once = serde_json::to_string(&secret).unwrap();
        let twice = serde_json::to_string(&once).unwrap();
        let thrice = serde_json::to_string(&twice).unwrap();
        let mut pieces = telling_pieces(&secret);
        for form in [&once, &twice, &thrice] {
            pieces.extend(telling_pieces(form));
        }
        for out in &outputs {
            for piece in &pieces {
                prop_assert!(!out.contains(piece.as_str()), "{piece:?} of {secret:?} in:\n{out}");
            }
        }
    }
}
