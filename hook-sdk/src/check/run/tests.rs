use std::time::Duration;

use super::*;
use crate::event::Phase;
use crate::spec::load;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

fn target() -> Target {
    Target {
        logical_id: "F".into(),
        function: "fn".into(),
        alias: None,
        current_version: None,
        target_version: "2".into(),
    }
}

fn ctx() -> RunContext {
    RunContext {
        phase: Phase::BeforeAllowTraffic,
        targets: vec![target()],
        deployment_id: None,
        vars: Vars::default(),
        deadline: None,
        source: None,
        traffic: None,
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_the_backoff_between_attempts() {
    let failing = || {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(r#"{"errorMessage":"warming"}"#))
            .build()
    };
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .output(failing)
        .times(2)
        .output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(r#"{"statusCode":200}"#))
                .build()
        })
        .build();
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&invoke]);
    let spec = load(
        "version: 1\nchecks:\n  - name: eventually\n    invoke: {}\n    retry: { attempts: 3, backoff: 200ms }\n    expect: { status: 200 }\n",
        "s.yaml",
    )
    .unwrap();
    let started = Instant::now();
    let report = CheckRunner::new(lambda).run(&spec, &ctx()).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.checks[0].attempts, 3);
    assert_eq!(invoke.num_calls(), 3);
    // Two pauses of 200 ms of tokio's paused clock, no real waiting.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

/// A Lambda that answers every invoke with `payload`, as version 2.
fn answering(payload: &'static str) -> aws_sdk_lambda::Client {
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .output(move || {
            InvokeOutput::builder()
                .status_code(200)
                .executed_version("2")
                .payload(Blob::new(payload))
                .build()
        })
        .repeatedly()
        .build();
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&invoke])
}

#[tokio::test]
async fn secrets_in_expectations_stay_out_of_the_report() {
    let spec = load(
        "version: 1\nchecks:\n  - name: token\n    invoke: {}\n    expect:\n      json: { $.token: { in: [\"${env:API_TOKEN}\"] } }\n      body: { not: { contains: \"${env:API_TOKEN}\" } }\n",
        "s.yaml",
    )
    .unwrap();
    let mut ctx = ctx();
    ctx.vars = Vars::with_env(Arc::new(|n| {
        (n == "API_TOKEN").then(|| "TOPSECRET-expected".to_string())
    }));
    let report = CheckRunner::new(answering(r#"{"token":"other"}"#))
        .run(&spec, &ctx)
        .await;
    assert!(!report.passed());
    let text = format!("{report:?}");
    assert!(!text.contains("TOPSECRET"), "{text}");
    assert!(text.contains("in [\\\"***\\\"]"), "{text}");
}

#[tokio::test]
async fn a_check_that_needs_a_capture_that_failed_says_so() {
    let spec = load(
        "version: 1\nchecks:\n  - name: greets\n    invoke: {}\n    capture: { greeting: { json: $.missing } }\n  - name: uses it\n    invoke: { payload: { say: \"{{greeting}}\" } }\n  - name: expects it\n    invoke: {}\n    expect: { json: { $.x: \"{{greeting}}\" } }\n",
        "s.yaml",
    )
    .unwrap();
    let report = CheckRunner::new(answering(r#"{"x":1}"#)).run(&spec, &ctx()).await;
    assert!(!report.passed());
    let said = serde_json::to_string(&report.checks[1..]).unwrap();
    assert!(!said.contains("unknown variable"), "{said}");
    assert!(
        said.contains("{{greeting}} has no value: `greets` captures it, and it did not pass"),
        "{said}"
    );
}

#[tokio::test]
async fn variables_and_captures_have_one_budget() {
    // Each value is under the bound for one rendering; together they are far over it.
    let mut text = "version: 1\nvars:\n  v0: \"xxxxxxxxxxxxxxxx\"\n".to_string();
    for i in 1..=15 {
        text.push_str(&format!("  v{i}: \"{{{{v{0}}}}}{{{{v{0}}}}}\"\n", i - 1));
    }
    for i in 0..8 {
        text.push_str(&format!("  copy{i}: \"{{{{v15}}}}\"\n"));
    }
    text.push_str("checks:\n  - name: a\n    invoke: {}\n");
    let spec = load(&text, "s.yaml").unwrap();
    let report = CheckRunner::new(answering("{}")).run(&spec, &ctx()).await;
    assert!(!report.passed());
    let error = report.checks[0].error().unwrap_or_default().to_string();
    assert!(
        error.contains("vars and captures hold more than 4096 KiB together"),
        "{error}"
    );
}

#[tokio::test]
async fn a_list_of_large_variables_is_one_expectation_and_its_text_is_clipped() {
    let mut text = "version: 1\nvars:\n  v0: \"xxxxxxxxxxxxxxxx\"\n".to_string();
    for i in 1..=14 {
        text.push_str(&format!("  v{i}: \"{{{{v{0}}}}}{{{{v{0}}}}}\"\n", i - 1));
    }
    // v14 is 256 KiB: eight of them in one `in` are over the 1 MiB a rendering may take.
    text.push_str("checks:\n  - name: a\n    invoke: {}\n    expect:\n      json: { $.x: { in: [");
    text.push_str(&["\"{{v14}}\""; 8].join(", "));
    text.push_str("] }, $.y: \"{{v14}}\" }\n");
    let spec = load(&text, "s.yaml").unwrap();
    let report = CheckRunner::new(answering(r#"{"x":1,"y":2}"#)).run(&spec, &ctx()).await;
    let a = &report.checks[0].assertions;
    assert!(
        !a[1].passed && a[1].expected.contains("fill in to more than 1024 KiB"),
        "{:?}",
        a[1]
    );
    // One large expectation is judged, and shown clipped.
    assert!(!a[2].passed);
    assert!(a[2].expected.len() < 1000, "{} bytes", a[2].expected.len());
}

#[tokio::test]
async fn coverage_holds_in_a_phase_without_invoke_checks() {
    // The spec selects in BeforeAllowTraffic; in AfterAllowTraffic it has no invoke check:
    // the target is tested by nothing there, and that fails.
    let spec = load(
        "version: 1\nchecks:\n  - name: orders\n    phase: before\n    select: { functions: [\"fn\"] }\n    invoke: {}\n",
        "s.yaml",
    )
    .unwrap();
    let after = RunContext {
        phase: Phase::AfterAllowTraffic,
        ..ctx()
    };
    let report = CheckRunner::new(answering("{}")).run(&spec, &after).await;
    assert!(!report.passed());
    let uncovered = report
        .checks
        .iter()
        .find(|c| c.name == "every target is tested")
        .unwrap();
    assert!(
        uncovered.error().unwrap().contains("no check of the spec selects fn"),
        "{uncovered:?}"
    );
    let before = CheckRunner::new(answering("{}")).run(&spec, &ctx()).await;
    assert!(before.passed(), "{before:#?}");
}

#[tokio::test]
async fn a_repeated_check_none_of_whose_runs_could_be_made_fails_as_a_set_up_error() {
    use aws_sdk_lambda::operation::invoke::InvokeError;
    use aws_sdk_lambda::types::error::ResourceNotFoundException;
    let missing = mock!(aws_sdk_lambda::Client::invoke).then_error(|| {
        InvokeError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Function not found: fn:2")
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .message("Function not found: fn:2")
                        .build(),
                )
                .build(),
        )
    });
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&missing]);
    // With a success rate the spec tolerates failed runs; runs that could not be made are a
    // set-up error all the same, and the report says why.
    let spec = load(
        "version: 1\nchecks:\n  - name: load\n    invoke: {}\n    repeat: 3\n    thresholds: { success_rate: '>= 0.5' }\n",
        "s.yaml",
    )
    .unwrap();
    let report = CheckRunner::new(lambda).run(&spec, &ctx()).await;
    let c = &report.checks[0];
    assert!(!report.passed(), "{c:?}");
    assert!(c.is_setup_error(), "{c:?}");
    assert!(c.error().unwrap().contains("Function not found: fn:2"), "{c:?}");
    assert_eq!(c.stats.as_ref().map(|s| (s.runs, s.passed)), Some((3, 0)));
    assert_eq!(c.sample_failure[0].query, "call");
}
