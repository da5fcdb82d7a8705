//! Spec checks run by hook-sdk's CheckRunner with the real Lambda client and reqwest,
//! against hook-sim's Lambda endpoint and HTTP API.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hook_sdk::check::{CheckRunner, RunContext};
use hook_sdk::report::Outcome;
use hook_sdk::spec::{Vars, load};
use hook_sdk::{Phase, Target};
use hook_sim::{Behavior, FunctionSetup, Service, Sim};
use serde_json::json;

/// The SDK configuration of a client of `sim`, as a hook loads it (`hook_sdk::aws`: one
/// HTTPS client shared by the Lambda and CloudWatch clients made from it).
async fn sdk_config(sim: &Sim) -> aws_config::SdkConfig {
    hook_sdk::aws::loader()
        .endpoint_url(sim.endpoint_url())
        .region(aws_config::Region::new(hook_sim::REGION))
        .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
        .load()
        .await
}

async fn runner(sim: &Sim) -> CheckRunner {
    CheckRunner::new(aws_sdk_lambda::Client::new(&sdk_config(sim).await))
}

fn target() -> Target {
    Target {
        logical_id: "HelloFunction".into(),
        function: "hello-fn".into(),
        alias: Some("live".into()),
        current_version: Some("1".into()),
        target_version: "2".into(),
    }
}

fn ctx(sim: &Sim, phase: Phase) -> RunContext {
    let api = sim.api_url("hello-fn", "live");
    RunContext {
        phase,
        targets: vec![target()],
        deployment_id: Some("d-1".into()),
        vars: Vars::with_env(Arc::new(move |n| (n == "API_URL").then(|| api.clone()))),
        deadline: None,
        source: Some("smoke.yaml".into()),
        traffic: None,
    }
}

/// Runs the spec `yaml` in BeforeAllowTraffic against `sim`.
async fn run(sim: &Sim, yaml: &str) -> hook_sdk::report::Report {
    let spec = load(yaml, "s.yaml").unwrap();
    runner(sim).await.run(&spec, &ctx(sim, Phase::BeforeAllowTraffic)).await
}

fn hello_sim(sim: &Sim, v2: Behavior) {
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", v2)
            .alias("live", "2"),
    );
}

const SMOKE: &str = r#"version: 1
checks:
  - name: greets the canary
    invoke: { payload: { name: canary } }
    expect:
      function_error: none
      status: 200
      json:
        $.statusCode: 200
        $.body.message: { matches: "^Hello, canary" }
        $.body.version: "{{target.version}}"
      header: { content-type: application/json }
      duration: { under: 5s }
      reported_duration: { under: 1s }
    capture:
      greeting: $.body.message
  - name: health through the API
    http: { url: "${env:API_URL}/health?name=api" }
    expect:
      status: 200
      json: { $.message: "Hello, api!" }
      header: { content-type: { contains: json } }
  - name: uses the capture
    invoke: { payload: { name: "{{greeting}}" }, qualifier: alias }
    expect:
      json: { $.body.message: "Hello, Hello, canary!!" }
  - name: after traffic only
    phase: after
    invoke: {}
"#;

#[tokio::test]
async fn a_healthy_version_passes_every_check() {
    let sim = Sim::start().await.unwrap();
    hello_sim(&sim, Behavior::hello("2"));
    let spec = load(SMOKE, "smoke.yaml").unwrap();
    let report = runner(&sim)
        .await
        .run(&spec, &ctx(&sim, Phase::BeforeAllowTraffic))
        .await;

    assert!(report.passed(), "{}", hook_sdk::report::render_text(&report, false));
    let outcomes: Vec<Outcome> = report.checks.iter().map(|c| c.outcome()).collect();
    assert_eq!(
        outcomes,
        [Outcome::Passed, Outcome::Passed, Outcome::Passed, Outcome::Skipped]
    );
    assert_eq!(report.checks[0].target.as_deref(), Some("hello-fn:2"));
    assert_eq!(report.checks[2].target.as_deref(), Some("hello-fn:live"));
    // What crossed the wire: two invokes with their qualifiers, one HTTP API request.
    let calls = sim.calls();
    let invokes: Vec<(String, String)> = calls
        .iter()
        .filter(|c| c.service == Service::Lambda)
        .map(|c| {
            (
                c.request["Qualifier"].as_str().unwrap().to_string(),
                c.request["Payload"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        invokes,
        [("2".into(), "canary".into()), ("live".into(), "Hello, canary!".into())]
    );
    assert_eq!(calls.iter().filter(|c| c.service == Service::HttpApi).count(), 1);
}

#[tokio::test]
async fn a_failing_assertion_shows_expected_and_actual() {
    let sim = Sim::start().await.unwrap();
    hello_sim(
        &sim,
        Behavior::Respond(json!({"statusCode": 200, "body": "{\"message\":\"Goodbye\"}"})),
    );
    let report = run(&sim, "version: 1\nchecks:\n  - name: greets\n    invoke: { payload: { name: canary } }\n    expect:\n      json:\n        $.body.message: { matches: \"^Hello\" }\n").await;
    assert!(!report.passed());
    let failed = report.checks[0].failures().next().unwrap();
    assert_eq!(failed.query, "json $.body.message");
    assert_eq!(failed.expected, "matches /^Hello/");
    assert_eq!(failed.actual, "\"Goodbye\"");
    let text = hook_sdk::report::render_text(&report, false);
    assert!(
        text.contains("      expected: matches /^Hello/\n      actual:   \"Goodbye\""),
        "{text}"
    );
}

#[tokio::test]
async fn retry_until_it_passes() {
    let sim = Sim::start().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    hello_sim(
        &sim,
        Behavior::Custom(Arc::new(move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                Behavior::FunctionError {
                    error_type: "Warming".into(),
                    message: "not yet".into(),
                }
            } else {
                Behavior::Respond(json!({"statusCode": 200}))
            }
        })),
    );
    let report = run(&sim, "version: 1\ndefaults: { retry: { attempts: 3, backoff: 0ms } }\nchecks:\n  - name: eventually\n    invoke: {}\n    expect: { status: 200 }\n").await;
    assert!(report.passed(), "{}", hook_sdk::report::render_text(&report, false));
    assert_eq!(report.checks[0].attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

fn flaky(every: usize) -> Behavior {
    let n = Arc::new(AtomicUsize::new(0));
    Behavior::Custom(Arc::new(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) % every == every - 1 {
            Behavior::Respond(json!({"statusCode": 500}))
        } else {
            Behavior::Respond(json!({"statusCode": 200}))
        }
    }))
}

#[tokio::test]
async fn thresholds_judge_all_runs() {
    let sim = Sim::start().await.unwrap();
    hello_sim(&sim, flaky(10));
    let spec = |rate: &str| {
        load(
            &format!(
                "version: 1\nchecks:\n  - name: load\n    invoke: {{}}\n    expect: {{ status: 200 }}\n    repeat: 50\n    concurrency: 10\n    thresholds: {{ success_rate: \"{rate}\", p95: \"< 5s\", max: \"< 10s\" }}\n"
            ),
            "s.yaml",
        )
        .unwrap()
    };
    let r = runner(&sim).await;
    let strict = r.run(&spec(">= 0.95"), &ctx(&sim, Phase::BeforeAllowTraffic)).await;
    let check = &strict.checks[0];
    assert_eq!(check.outcome(), Outcome::Failed);
    let stats = check.stats.as_ref().unwrap();
    assert_eq!((stats.runs, stats.passed), (50, 45));
    assert_eq!(check.assertions[0].actual, "0.9 (45 of 50)");
    assert!(!check.assertions[0].passed && check.assertions[1].passed && check.assertions[2].passed);
    assert_eq!(check.sample_failure[0].query, "status");

    let lenient = r.run(&spec(">= 0.85"), &ctx(&sim, Phase::BeforeAllowTraffic)).await;
    assert!(lenient.passed(), "{}", hook_sdk::report::render_text(&lenient, false));
    assert_eq!(sim.calls().iter().filter(|c| c.service == Service::Lambda).count(), 100);
}

#[tokio::test]
async fn a_hanging_target_times_out_and_fail_fast_stops_the_rest() {
    let sim = Sim::start().await.unwrap();
    hello_sim(&sim, Behavior::Hang);
    let report = run(&sim, "version: 1\nfail_fast: true\nchecks:\n  - name: hangs\n    invoke: {}\n    timeout: 200ms\n  - name: never runs\n    invoke: {}\n").await;
    assert_eq!(report.checks[0].outcome(), Outcome::Failed);
    assert!(
        report.checks[0].error().unwrap().starts_with("no answer within 200ms"),
        "{:?}",
        report.checks[0]
    );
    assert_eq!(report.checks[1].outcome(), Outcome::NotRun);
    let summary = report.failure_summary().unwrap();
    assert!(summary.contains("1 of 2 checks failed, 1 not run"), "{summary}");
}

#[tokio::test]
async fn nothing_in_this_phase_is_not_a_pass() {
    let sim = Sim::start().await.unwrap();
    hello_sim(&sim, Behavior::hello("2"));
    let report = run(
        &sim,
        "version: 1\nchecks:\n  - name: later\n    phase: after\n    invoke: {}\n",
    )
    .await;
    assert!(!report.passed());
    assert!(
        report
            .failure_summary()
            .unwrap()
            .contains("no check of the spec runs in BeforeAllowTraffic")
    );
}

#[tokio::test]
async fn unknown_target_and_missing_env_fail_with_reasons() {
    let sim = Sim::start().await.unwrap();
    hello_sim(&sim, Behavior::hello("2"));
    let report = run(&sim, "version: 1\nchecks:\n  - name: other\n    targets: [OtherFunction]\n    invoke: {}\n  - name: api\n    http: { url: \"${env:NOT_SET}/x\" }\n").await;
    assert_eq!(
        report.checks[0].error(),
        Some("no target named OtherFunction: the deployment's targets are HelloFunction (hello-fn)")
    );
    assert_eq!(
        report.checks[1].error(),
        Some("environment variable NOT_SET is not set (used as ${env:NOT_SET})")
    );
    assert!(sim.calls().is_empty(), "nothing was sent");
}

// ---- A hook shared by many stacks: checks chosen by what each function is ----

fn fleet_target(name: &str, version: &str) -> Target {
    Target {
        logical_id: name.into(),
        function: name.into(),
        alias: Some("live".into()),
        current_version: None,
        target_version: version.into(),
    }
}

fn fleet_ctx(targets: Vec<Target>) -> RunContext {
    RunContext {
        phase: Phase::BeforeAllowTraffic,
        targets,
        deployment_id: Some("d-1".into()),
        vars: Vars::default(),
        deadline: None,
        source: Some("shared.yaml".into()),
        traffic: None,
    }
}

const FLEET: &str = r#"version: 1
allow_skip: true
checks:
  - name: orders answer
    select: { tags: { smoke-suite: orders } }
    invoke: { payload: { name: orders } }
    expect: { json: { $.body.message: { matches: "^Hello, orders" } } }
  - name: payments answer
    select: { functions: ["payments-*"] }
    invoke: { payload: { name: payments } }
    expect: { json: { $.statusCode: 200 } }
"#;

fn fleet_sim(sim: &Sim) {
    sim.add_function(
        "orders-api",
        FunctionSetup::new()
            .version("4", Behavior::hello("4"))
            .tag("smoke-suite", "orders"),
    );
    sim.add_function("payments-eu", FunctionSetup::new().version("9", Behavior::hello("9")));
    sim.add_function(
        "stray-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .tag("team", "none"),
    );
}

#[tokio::test]
async fn each_function_of_a_fleet_gets_the_checks_that_select_it() {
    let sim = Sim::start().await.unwrap();
    fleet_sim(&sim);
    let spec = load(FLEET, "shared.yaml").unwrap();
    let targets = vec![fleet_target("orders-api", "4"), fleet_target("payments-eu", "9")];
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets)).await;
    let seen: Vec<(String, Option<String>, Outcome)> = report
        .checks
        .iter()
        .map(|c| (c.name.clone(), c.target.clone(), c.outcome()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "orders answer".to_string(),
                Some("orders-api:4".to_string()),
                Outcome::Passed
            ),
            (
                "payments answer".to_string(),
                Some("payments-eu:9".to_string()),
                Outcome::Passed
            ),
        ],
        "{report:#?}"
    );
    assert!(report.passed());
    // The tags were read with GetFunction on the real wire, once per target.
    let reads: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == "GetFunction")
        .collect();
    assert_eq!(reads.len(), 2);
}

#[tokio::test]
async fn a_target_no_check_selects_fails_unless_a_fallback_tests_it() {
    let sim = Sim::start().await.unwrap();
    fleet_sim(&sim);
    let spec = load(FLEET, "shared.yaml").unwrap();
    let targets = vec![fleet_target("orders-api", "4"), fleet_target("stray-fn", "1")];
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets.clone())).await;
    assert!(!report.passed());
    let last = report.checks.last().unwrap();
    assert_eq!(last.name, "every target is tested");
    assert_eq!(last.target.as_deref(), Some("stray-fn:1"));
    assert!(last.is_setup_error());
    let error = last.error().unwrap();
    assert!(
        error.contains("no check of the spec selects stray-fn (its tags: team=none) in BeforeAllowTraffic"),
        "{error}"
    );
    // The payments check selects neither: skipped, not failed.
    let payments = report.checks.iter().find(|c| c.name == "payments answer").unwrap();
    assert_eq!(payments.outcome(), Outcome::Skipped);
    assert_eq!(payments.note(), Some("selects none of this deployment's targets"));

    let with_fallback =
        format!("{FLEET}  - name: answers at all\n    select: {{ fallback: true }}\n    invoke: {{}}\n");
    let spec = load(&with_fallback, "shared.yaml").unwrap();
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets)).await;
    assert!(report.passed(), "{report:#?}");
    let fallback: Vec<_> = report.checks.iter().filter(|c| c.name == "answers at all").collect();
    assert_eq!(fallback.len(), 1, "only the target no other check selects");
    assert_eq!(fallback[0].target.as_deref(), Some("stray-fn:1"));
}

#[tokio::test]
async fn tags_that_cannot_be_read_are_a_set_up_error() {
    let sim = Sim::start().await.unwrap();
    fleet_sim(&sim);
    sim.inject(
        "GetFunction",
        hook_sim::Fault::Error {
            status: 403,
            error_type: "AccessDeniedException".into(),
            message: "not allowed: lambda:GetFunction".into(),
        },
        10,
    );
    let spec = load(FLEET, "shared.yaml").unwrap();
    let report = runner(&sim)
        .await
        .run(&spec, &fleet_ctx(vec![fleet_target("orders-api", "4")]))
        .await;
    assert!(!report.passed());
    let c = &report.checks[0];
    assert_eq!((c.name.as_str(), c.outcome()), ("orders answer", Outcome::Failed));
    assert!(c.is_setup_error());
    assert!(
        c.error().unwrap().contains("the hook needs lambda:GetFunction on it"),
        "{c:?}"
    );
    assert!(sim.calls().iter().all(|c| c.operation != "Invoke"), "nothing ran");
}

#[tokio::test]
async fn a_version_skips_its_checks_only_when_the_spec_allows_and_says_so() {
    let sim = Sim::start().await.unwrap();
    sim.add_function(
        "orders-api",
        FunctionSetup::new()
            .version("4", Behavior::Respond(json!({"statusCode": 500})))
            .version_env("4", "HOOK_SKIP_CHECKS", "INC-4711 hotfix, approved by alice")
            .version_env("4", "DB_PASSWORD", "hunter2hunter2")
            .tag("smoke-suite", "orders"),
    );
    let targets = || vec![fleet_target("orders-api", "4")];
    let spec = load(FLEET, "shared.yaml").unwrap();
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets())).await;
    assert!(report.passed(), "{report:#?}");
    assert!(report.every_target_waived);
    assert_eq!(report.waivers.len(), 1);
    let w = &report.waivers[0];
    assert!(w.granted);
    assert_eq!(
        w.line(),
        "CHECKS SKIPPED for orders-api:4: \"INC-4711 hotfix, approved by alice\" (HOOK_SKIP_CHECKS of the version; allowed by `allow_skip: true` in shared.yaml)"
    );
    assert!(sim.calls().iter().all(|c| c.operation != "Invoke"), "no check ran");
    // Loud in every rendering; the version's other variables never appear.
    let text = hook_sdk::report::render_text(&report, false);
    assert!(text.starts_with("⚠ CHECKS SKIPPED for orders-api:4"), "{text}");
    assert!(text.contains("PASSED WITHOUT CHECKS"), "{text}");
    let lines = hook_sdk::report::render_json_lines(&report);
    assert!(lines[0].contains("\"record\":\"waiver\""), "{lines:?}");
    let junit = hook_sdk::report::render_junit(&report);
    assert!(
        junit.contains("<property name=\"waiver\" value=\"CHECKS SKIPPED for orders-api:4"),
        "{junit}"
    );
    let everything = format!("{text}{lines:?}{junit}{}", hook_sdk::report::render_json(&report));
    assert!(!everything.contains("hunter2"), "{everything}");

    // Without `allow_skip` the request is refused, recorded, and the checks run (and fail here).
    let strict = FLEET.replace("allow_skip: true\n", "");
    let spec = load(&strict, "shared.yaml").unwrap();
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets())).await;
    assert!(!report.passed());
    assert!(!report.waivers[0].granted);
    assert!(
        report.waivers[0]
            .line()
            .contains("refused: the spec does not set `allow_skip: true`; the checks ran"),
        "{}",
        report.waivers[0].line()
    );
    assert_eq!(report.checks[0].outcome(), Outcome::Failed);

    // A skip needs a reason.
    sim.add_function(
        "orders-api",
        FunctionSetup::new()
            .version("4", Behavior::hello("4"))
            .version_env("4", "HOOK_SKIP_CHECKS", "  ")
            .tag("smoke-suite", "orders"),
    );
    let spec = load(FLEET, "shared.yaml").unwrap();
    let report = runner(&sim).await.run(&spec, &fleet_ctx(targets())).await;
    assert!(!report.waivers[0].granted);
    assert!(
        report.waivers[0]
            .line()
            .contains("HOOK_SKIP_CHECKS is empty: a skip needs a reason")
    );
    assert_eq!(report.checks[0].outcome(), Outcome::Passed, "the checks ran");
}

/// A metrics check over the wire: the real aws-sdk-cloudwatch asks hook-sim's GetMetricData
/// for both versions' figures through the alias, and the thresholds, the sample counts and
/// the inconclusive policy decide.
#[tokio::test]
async fn a_metrics_check_compares_the_new_version_with_the_current_one() {
    let sim = Sim::start().await.unwrap();
    sim.publish_metrics_at_once(true);
    let slow = Behavior::Delay(std::time::Duration::from_millis(60), Box::new(Behavior::hello("2")));
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", slow)
            .alias_weighted("live", "1", "2", 0.5),
    );
    let config = sdk_config(&sim).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    for _ in 0..12 {
        lambda
            .invoke()
            .function_name("hello-fn")
            .qualifier("live")
            .send()
            .await
            .unwrap();
    }
    let runner = CheckRunner::new(lambda).with_cloudwatch(aws_sdk_cloudwatch::Client::new(&config));
    let after = RunContext {
        phase: Phase::AfterAllowTraffic,
        ..ctx(&sim, Phase::AfterAllowTraffic)
    };
    let check = |body: &str| {
        let yaml = format!("version: 1\nchecks:\n  - name: canary\n    metrics:\n{body}");
        load(&yaml, "m.yaml").unwrap()
    };

    // Slower than 1.2 × the current version: failed, naming both figures.
    let spec = check(
        "      window: 10m\n      min_samples: 5\n      expect:\n        p99: \"< 1.2 × current\"\n        error_rate: \"<= current + 0.5%\"\n",
    );
    let report = runner.run(&spec, &after).await;
    let c = &report.checks[0];
    assert_eq!(c.outcome(), Outcome::Failed, "{c:#?}");
    assert_eq!(c.target.as_deref(), Some("hello-fn:live"));
    assert_eq!(c.assertions[0].actual, "6 (version 2) · 6 (version 1)", "{c:#?}");
    let p99 = &c.assertions[1];
    assert!(!p99.passed && p99.query == "p99 Duration", "{p99:?}");
    assert!(p99.expected.starts_with("< 1.2 × current (so < "), "{p99:?}");
    assert!(
        p99.actual.contains("(version 2) · ") && p99.actual.ends_with("(version 1)"),
        "{p99:?}"
    );
    assert!(c.assertions[2].passed, "no errors either side: {:?}", c.assertions[2]);
    let reason = report.failure_summary().unwrap();
    assert!(reason.contains("p99 Duration expected < 1.2 × current"), "{reason}");
    let text = hook_sdk::report::render_text(&report, false);
    assert!(
        text.contains("through alias live · version 2 against version 1"),
        "{text}"
    );
    let m = c.metrics.as_ref().unwrap();
    assert_eq!(
        (m.target_version.as_str(), m.current_version.as_deref()),
        ("2", Some("1"))
    );

    // An absolute bound the new version meets: passed, its figures shown.
    let spec = check(
        "      window: 10m\n      min_samples: 5\n      expect:\n        p99: \"< 5s\"\n        errors: \"== 0\"\n",
    );
    let report = runner.run(&spec, &after).await;
    assert_eq!(report.checks[0].outcome(), Outcome::Passed, "{:#?}", report.checks[0]);
    let text = hook_sdk::report::render_text(&report, false);
    assert!(text.contains("✔ errors: 0 (version 2) · 0 (version 1)"), "{text}");

    // Too few invocations: inconclusive, Failed by default, Passed when the spec says so.
    let spec = check("      window: 10m\n      expect:\n        p99: \"< 5s\"\n");
    let report = runner.run(&spec, &after).await;
    let c = &report.checks[0];
    assert_eq!(c.outcome(), Outcome::Failed);
    let error = c.error().unwrap();
    assert!(
        error.starts_with("inconclusive: version 2 served 6 invocations") && error.contains("min_samples 50"),
        "{error}"
    );
    assert!(c.error_kind().is_none(), "a verdict of the data, not a set-up error");
    let spec = check("      window: 10m\n      inconclusive: pass\n      expect:\n        p99: \"< 5s\"\n");
    let report = runner.run(&spec, &after).await;
    assert_eq!(report.checks[0].outcome(), Outcome::Passed);
    assert!(report.checks[0].note().unwrap().contains("inconclusive: pass"));

    // The default window is the deployment's traffic shifting: outside one it is a set-up error...
    let spec = check("      min_samples: 5\n      expect:\n        p99: \"< 5s\"\n");
    let report = runner.run(&spec, &after).await;
    assert!(report.checks[0].is_setup_error(), "{:#?}", report.checks[0]);
    // ...and within one, its times bound the figures: a window before the traffic has none.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let before_traffic = RunContext {
        traffic: Some(Ok(hook_sdk::check::TimeWindow {
            start: long_ago,
            end: long_ago + std::time::Duration::from_secs(300),
            what: "traffic shifting".into(),
        })),
        ..after.clone()
    };
    let report = runner.run(&spec, &before_traffic).await;
    let c = &report.checks[0];
    assert_eq!(c.outcome(), Outcome::Failed);
    assert!(c.error().unwrap().contains("version 2 served 0 invocations"), "{c:#?}");
    let now = RunContext {
        traffic: Some(Ok(hook_sdk::check::TimeWindow {
            start: std::time::SystemTime::now() - std::time::Duration::from_secs(300),
            end: std::time::SystemTime::now() + std::time::Duration::from_secs(1),
            what: "traffic shifting".into(),
        })),
        ..after.clone()
    };
    assert_eq!(runner.run(&spec, &now).await.checks[0].outcome(), Outcome::Passed);
    assert!(
        sim.calls()
            .iter()
            .filter(|c| c.service == Service::CloudWatch)
            .all(|c| c.status == 200)
    );
}

/// A custom metric the function publishes itself (sent here with the real SDK's
/// PutMetricData), compared version against version by the dimension that holds the version.
#[tokio::test]
async fn a_metrics_check_compares_custom_metrics_by_their_version_dimension() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let sim = Sim::start().await.unwrap();
    sim.publish_metrics_at_once(true);
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", Behavior::hello("2"))
            .alias_weighted("live", "1", "2", 0.5),
    );
    let config = sdk_config(&sim).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    for _ in 0..10 {
        lambda
            .invoke()
            .function_name("hello-fn")
            .qualifier("live")
            .send()
            .await
            .unwrap();
    }
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    for (version, checkout_ms) in [("1", 100.0), ("2", 400.0)] {
        let datum = MetricDatum::builder()
            .metric_name("CheckoutLatency")
            .dimensions(Dimension::builder().name("Service").value("checkout").build())
            .dimensions(Dimension::builder().name("Version").value(version).build())
            .set_values(Some(vec![checkout_ms, checkout_ms - 10.0]))
            .set_counts(Some(vec![9.0, 1.0]))
            .build();
        cw.put_metric_data()
            .namespace("Shop")
            .metric_data(datum)
            .send()
            .await
            .unwrap();
    }
    let orders = MetricDatum::builder().metric_name("Orders").value(7.0).build();
    cw.put_metric_data()
        .namespace("Shop")
        .metric_data(orders)
        .send()
        .await
        .unwrap();
    let e = cw
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(MetricDatum::builder().metric_name("Errors").value(1.0).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterValue"),
        "AWS/ namespaces are AWS's"
    );

    let runner = CheckRunner::new(lambda).with_cloudwatch(cw);
    let after = RunContext {
        phase: Phase::AfterAllowTraffic,
        ..ctx(&sim, Phase::AfterAllowTraffic)
    };
    let yaml = r#"version: 1
checks:
  - name: checkout
    metrics:
      window: 10m
      min_samples: 5
      custom:
        - name: checkout p99
          namespace: Shop
          metric: CheckoutLatency
          dimensions: { Service: checkout }
          version_dimension: Version
          stat: p99
          unit: ms
          expect: "< 1.2 × current"
        - namespace: Shop
          metric: Orders
          stat: Sum
          expect: ">= 5"
"#;
    let report = runner.run(&load(yaml, "c.yaml").unwrap(), &after).await;
    let c = &report.checks[0];
    assert_eq!(c.outcome(), Outcome::Failed, "{c:#?}");
    let checkout = &c.assertions[1];
    assert_eq!(checkout.query, "checkout p99");
    assert_eq!(checkout.actual, "400ms (version 2) · 100ms (version 1)");
    assert_eq!(checkout.expected, "< 1.2 × current (so < 120ms)");
    assert!(!checkout.passed);
    let orders = &c.assertions[2];
    assert_eq!(orders.query, "Shop/Orders Sum");
    assert!(
        orders.passed && orders.actual == "7 (all versions: no version_dimension)",
        "{orders:?}"
    );
}
