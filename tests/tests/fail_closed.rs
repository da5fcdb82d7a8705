//! The hook's promise for every valid spec, on the wire: never `Succeeded` without proof, never
//! die before reporting, never print a secret. Each case runs the release `hook-runner` as a
//! Lambda process against hook-sim and expects exactly one report with the right status.

use std::sync::{Arc, Mutex};

use hook_sim::{Behavior, DeploymentSetup, Fault, FunctionSetup, Service, Sim, lambda_appspec};
use integration_tests::{DEPLOYMENT, HOOK_NAME, HookSetup, NO_BINDING_TIMEOUT};
use serde_json::{Value, json};

/// Peak RSS a hook may reach in any bounded case: a 128 MB Lambda with room to spare.
const RSS_BOUND_KB: u64 = 100 * 1024;

fn hello(v2: Behavior) -> FunctionSetup {
    FunctionSetup::new()
        .version("1", Behavior::hello("1"))
        .version("2", v2)
        .alias("live", "1")
}

/// `hook-runner` with `spec` as the hook of `phase`, and `hello-fn` whose version 2 is `v2`.
async fn hook_in(phase: &str, spec: &str, v2: Behavior, env: &[(&str, &str)]) -> HookSetup {
    let appspec = lambda_appspec("hello-fn", "live", "1", "2", &[(phase, HOOK_NAME)]);
    let mut all = vec![("HOOK_SPEC", spec)];
    all.extend_from_slice(env);
    let h = HookSetup::start_with_env(
        "hook-runner",
        DeploymentSetup::new(DEPLOYMENT, &appspec),
        NO_BINDING_TIMEOUT,
        &all,
    )
    .await;
    h.function("hello-fn", hello(v2));
    h
}

async fn hook(spec: &str, v2: Behavior) -> HookSetup {
    hook_in("BeforeAllowTraffic", spec, v2, &[]).await
}

/// Runs the lifecycle event; asserts exactly one accepted report and returns the response.
async fn run(h: &HookSetup, phase: &str) -> Value {
    let (_, out) = h.run(phase).await;
    assert_eq!(out.function_error, None, "{}\n{}", out.json(), h.logs());
    let statuses = h.sim.statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}\n{}", h.logs());
    let response = out.json();
    assert_eq!(response["status"], statuses[0].status.as_str());
    response
}

/// Runs the lifecycle event of `phase`: one `Failed` report whose reason holds `why`.
async fn fails(h: &HookSetup, phase: &str, why: &str) -> Value {
    let response = run(h, phase).await;
    assert_eq!(response["status"], "Failed", "{}", h.logs());
    assert!(reason(&response).contains(why), "{}", reason(&response));
    response
}

fn reason(response: &Value) -> String {
    response["reason"].as_str().unwrap_or_default().to_string()
}

/// The JSON record the hook logged for each check.
fn check_records(h: &HookSetup) -> Vec<Value> {
    h.hook
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["record"] == "check")
        .collect()
}

fn invokes(h: &HookSetup) -> usize {
    h.sim.calls().iter().filter(|c| c.service == Service::Lambda).count()
}

/// Runs the lifecycle event of a bounded case: one `Failed` report saying `why`, and a peak RSS
/// within the bound.
async fn fails_within_memory(h: &HookSetup, why: &str) {
    fails(h, "BeforeAllowTraffic", why).await;
    let rss = peak_rss_kb(h).await;
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
}

async fn peak_rss_kb(h: &HookSetup) -> u64 {
    let kb = h
        .hook
        .peak_rss_kb()
        .await
        .expect("the hook process is alive and has a peak RSS");
    eprintln!("peak RSS of the hook: {kb} kB");
    kb
}

const STEADY_P95_ONLY: &str = r#"version: 1
checks:
  - name: steady
    invoke: { payload: { name: canary } }
    repeat: 5
    thresholds: { p95: "< 1s" }
"#;

#[tokio::test]
async fn a_repeat_without_success_rate_fails_when_the_target_never_ran() {
    let h = hook(STEADY_P95_ONLY, Behavior::hello("2")).await;
    h.sim.inject(
        "Invoke",
        Fault::Error {
            status: 403,
            error_type: "AccessDeniedException".into(),
            message: "not allowed to invoke hello-fn".into(),
        },
        5,
    );
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Failed", "{}", h.logs());
    let r = reason(&response);
    assert!(
        r.contains("steady [hello-fn:2]: every run expected 5 of 5 runs pass (set thresholds.success_rate to tolerate failures), actual 0 of 5; a failed run: call expected an answer"),
        "{r}"
    );
    assert!(r.contains("AccessDenied"), "{r}");
    let rec = &check_records(&h)[0];
    assert_eq!(rec["stats"]["runs"], 5);
    assert_eq!(rec["stats"]["passed"], 0);
    assert_eq!(rec["stats"]["failed"], 5);
    assert_eq!(rec["stats"]["p95_ms"], Value::Null, "no latency from failed calls");
    assert_eq!(rec["assertions"][0]["query"], "every run");
    assert_eq!(rec["assertions"][0]["actual"], "0 of 5");
    assert_eq!(rec["assertions"][1]["actual"], "no passed run");
}

#[tokio::test]
async fn a_repeat_without_success_rate_fails_on_function_errors() {
    let empty_thresholds = STEADY_P95_ONLY.replace("{ p95: \"< 1s\" }", "{}");
    for spec in [STEADY_P95_ONLY, empty_thresholds.as_str()] {
        let v2 = Behavior::FunctionError {
            error_type: "Boom".into(),
            message: "version 2 is broken".into(),
        };
        let h = hook(spec, v2).await;
        fails(&h, "BeforeAllowTraffic", "every run expected 5 of 5 runs pass").await;
        assert_eq!(invokes(&h), 5);
    }
}

#[tokio::test]
async fn checks_without_expectations_want_a_success() {
    // An invoke with no `expect` on an HTTP-style 500.
    let spec = "version: 1\nchecks:\n  - name: invoke\n    invoke: {}\n";
    let h = hook(spec, Behavior::Respond(json!({"statusCode": 500, "body": "oops"}))).await;
    fails(
        &h,
        "BeforeAllowTraffic",
        "status expected 2xx (the default when no status is expected), actual 500",
    )
    .await;

    // An HTTP check with no `expect` on a 503, from an API served by another hook-sim.
    let api = api_answering(json!({"statusCode": 503, "body": "unavailable"})).await;
    let spec =
        "version: 1\nchecks:\n  - name: health\n    phase: after\n    http: { url: \"${env:API_URL}/health\" }\n";
    let h = hook_in(
        "AfterAllowTraffic",
        spec,
        Behavior::hello("2"),
        &[("API_URL", &api.url)],
    )
    .await;
    let response = fails(&h, "AfterAllowTraffic", "health: status expected 2xx").await;
    assert!(reason(&response).contains("actual 503"), "{}", reason(&response));

    // `not: 500` over an answer that has no status at all.
    let spec = "version: 1\nchecks:\n  - name: not 500\n    invoke: {}\n    expect: { status: { not: 500 } }\n";
    let h = hook(spec, Behavior::Respond(json!({"ok": true}))).await;
    fails(&h, "BeforeAllowTraffic", "status expected not (== 500), actual nothing").await;
}

/// An HTTP API on its own hook-sim, answering every request with `answer` and keeping the
/// events it received.
struct Api {
    _sim: Sim,
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
}

async fn api_answering(answer: Value) -> Api {
    let sim = Sim::start().await.unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    sim.add_function(
        "api-fn",
        FunctionSetup::new()
            .version(
                "1",
                Behavior::Custom(Arc::new(move |event| {
                    seen.lock().unwrap().push(event.clone());
                    Behavior::Respond(answer.clone())
                })),
            )
            .alias("live", "1"),
    );
    let url = sim.api_url("api-fn", "live");
    Api {
        _sim: sim,
        url,
        received,
    }
}

/// `hook-runner` as BeforeAllowTraffic hook with `spec`, `API_URL` pointing at `api`.
async fn hook_with_api(spec: &str, api: &Api) -> HookSetup {
    hook_in(
        "BeforeAllowTraffic",
        spec,
        Behavior::hello("2"),
        &[("API_URL", &api.url)],
    )
    .await
}

#[tokio::test]
async fn before_allow_traffic_specs_that_never_invoke_the_target_fail() {
    // Only an HTTP check (phase both): refused when the spec is read, located.
    let api = api_answering(json!({"statusCode": 200, "body": "ok"})).await;
    let health = "  - name: health\n    http: { url: \"${env:API_URL}/health\" }\n";
    let h = hook_with_api(&format!("version: 1\nchecks:\n{health}"), &api).await;
    fails(
        &h,
        "BeforeAllowTraffic",
        "HOOK_SPEC:3: checks[0]: no BeforeAllowTraffic check invokes the version under test",
    )
    .await;
    assert!(api.received.lock().unwrap().is_empty(), "no check ran");

    // Only `qualifier: current`.
    let spec = "version: 1\nchecks:\n  - name: old\n    invoke: { qualifier: current }\n";
    let h = hook(spec, Behavior::hello("2")).await;
    fails(&h, "BeforeAllowTraffic", "`old` invokes qualifier `current`").await;
    assert_eq!(invokes(&h), 0);

    // The explicit opt-out is honoured, and says what it is.
    let h = hook_with_api(
        &format!("version: 1\nallow_untested_target: true\nchecks:\n{health}"),
        &api,
    )
    .await;
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Succeeded", "{}", h.logs());
    assert_eq!(api.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_rust_hook_that_only_tests_the_alias_reports_failed() {
    let h = HookSetup::start(
        "untested-hook",
        DeploymentSetup::new(
            DEPLOYMENT,
            &lambda_appspec("hello-fn", "live", "1", "2", &[("BeforeAllowTraffic", HOOK_NAME)]),
        ),
        NO_BINDING_TIMEOUT,
    )
    .await;
    h.function("hello-fn", hello(Behavior::hello("2")));
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Failed", "{}", h.logs());
    assert!(
        reason(&response).contains("BeforeAllowTraffic never ran the version under test (hello-fn:2)"),
        "{}",
        reason(&response)
    );
    // The handler did invoke, through the alias, and Lambda ran version 1.
    assert_eq!(h.invoked_qualifiers(), ["live"]);
}

#[tokio::test]
async fn an_unbounded_repeat_is_refused_before_anything_runs() {
    let spec = "version: 1\nchecks:\n  - name: flood\n    invoke: {}\n    repeat: 1000000\n    concurrency: 1000000\n";
    let h = hook(spec, Behavior::hello("2")).await;
    fails_within_memory(
        &h,
        "HOOK_SPEC:3: checks[0]: check `flood`: `repeat: 1000000` is over the limit of 10000 runs",
    )
    .await;
    assert_eq!(invokes(&h), 0);
}

#[tokio::test]
async fn the_largest_repeat_stays_within_memory() {
    let spec = "version: 1\nchecks:\n  - name: most\n    invoke: { payload: { name: load } }\n    repeat: 10000\n    concurrency: 32\n    expect: { status: 200 }\n";
    let h = hook(spec, Behavior::hello("2")).await;
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Succeeded", "{}", h.logs());
    assert_eq!(invokes(&h), 10_000);
    let rss = peak_rss_kb(&h).await;
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
}

/// A JSON answer of about `bytes`, nested `depth` deep, each level holding a `message` with
/// the rest: what makes `$..message` expensive.
fn nested_answer(depth: usize, bytes: usize) -> Value {
    let pad = "x".repeat(bytes / depth);
    let mut doc = json!({"message": "leaf"});
    for _ in 0..depth {
        doc = json!({"message": doc, "pad": pad});
    }
    json!({"statusCode": 200, "body": doc})
}

#[tokio::test]
async fn answers_over_the_bound_fail_their_check_unread() {
    let spec = "version: 1\nchecks:\n  - name: deep\n    invoke: {}\n    expect:\n      json: { \"$..message\": { exists: true } }\n";
    let h = hook(spec, Behavior::Respond(nested_answer(120, 5 * 1024 * 1024))).await;
    fails_within_memory(&h, "over the 1048576 bytes a check reads").await;
}

#[tokio::test]
async fn queries_over_the_node_bound_fail_and_concurrent_large_answers_stay_within_memory() {
    // Answers just under the bound, 32 at a time, each queried with `$..` over 120 levels of
    // nesting whose matches hold far more than the node bound.
    let padded = |n: usize| {
        let mut doc = json!({"message": "leaf"});
        for _ in 0..120 {
            doc = json!({"message": doc, "pad": (0..n).collect::<Vec<_>>()});
        }
        json!({"statusCode": 200, "body": doc})
    };
    let answer = padded(1500);
    let size = answer.to_string().len();
    assert!(size > 600 * 1024 && size < 1024 * 1024, "{size}");
    let spec = "version: 1\nchecks:\n  - name: deep\n    invoke: {}\n    repeat: 64\n    concurrency: 32\n    expect:\n      json: { \"$..message\": { exists: true } }\n";
    let h = hook(spec, Behavior::Respond(answer)).await;
    fails_within_memory(&h, "the query matched more than 10000 values").await;
    assert_eq!(invokes(&h), 64);
}

#[tokio::test]
async fn regular_expressions_over_the_budget_are_refused_quickly() {
    let mut spec = "version: 1\nchecks:\n  - name: many\n    invoke: {}\n    expect:\n      json:\n".to_string();
    for i in 0..100 {
        spec.push_str(&format!("        $.f{i}: {{ matches: \"\\\\w{{200}}\" }}\n"));
    }
    assert!(spec.len() < 5000);
    let h = hook(&spec, Behavior::hello("2")).await;
    fails_within_memory(&h, "the regular expression compiles to more than 1024 KiB").await;

    // A 10 MB pattern, in a spec file: refused before it is read whole.
    let dir = integration_tests::target_dir().join("test-tmp").join("huge-pattern");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hook-spec.yaml");
    let huge = format!(
        "version: 1\nchecks:\n  - name: huge\n    invoke: {{}}\n    expect: {{ body: {{ matches: \"{}\" }} }}\n",
        "a".repeat(10 * 1024 * 1024)
    );
    std::fs::write(&file, huge).unwrap();
    let h = hook_in(
        "BeforeAllowTraffic",
        "",
        Behavior::hello("2"),
        &[("HOOK_SPEC_FILE", file.to_str().unwrap())],
    )
    .await;
    fails_within_memory(&h, "the spec is over 1024 KiB").await;
}

#[tokio::test]
async fn variables_that_double_each_other_are_bounded() {
    let mut spec = "version: 1\nvars:\n  v0: \"xxxxxxxxxxxxxxxx\"\n".to_string();
    for i in 1..40 {
        spec.push_str(&format!("  v{i}: \"{{{{v{0}}}}}{{{{v{0}}}}}\"\n", i - 1));
    }
    spec.push_str("checks:\n  - name: bomb\n    invoke: { payload: { x: \"{{v39}}\" } }\n");
    let h = hook(&spec, Behavior::hello("2")).await;
    fails_within_memory(&h, "fill in to more than 1024 KiB").await;
    assert_eq!(invokes(&h), 0);
}

/// Overrides narrow what the deployment asks, never loosen it: naming the current version (a
/// healthy one) instead of the deployment's target, or the other phase, reports Failed with no
/// check run.
#[tokio::test]
async fn overrides_that_loosen_the_deployment_report_failed() {
    let spec = "version: 1\nchecks:\n  - name: greets\n    invoke: { payload: { name: x } }\n";
    for (variable, value, why) in [
        (
            "HOOK_TARGET",
            "hello-fn:1",
            "HOOK_TARGET names hello-fn:1, which this deployment does not deploy (it deploys hello-fn:2)",
        ),
        (
            "HOOK_PHASE",
            "after",
            "HOOK_PHASE says AfterAllowTraffic, but the deployment runs this hook in BeforeAllowTraffic",
        ),
    ] {
        let h = hook_in("BeforeAllowTraffic", spec, Behavior::hello("2"), &[(variable, value)]).await;
        fails(&h, "BeforeAllowTraffic", why).await;
        assert_eq!(invokes(&h), 0);
    }
    // Naming the deployment's own target narrows nothing: the check runs and passes.
    let h = hook_in(
        "BeforeAllowTraffic",
        spec,
        Behavior::hello("2"),
        &[("HOOK_TARGET", "hello-fn:2")],
    )
    .await;
    assert_eq!(
        run(&h, "BeforeAllowTraffic").await["status"],
        "Succeeded",
        "{}",
        h.logs()
    );
}

/// AWS's own answers are bounded too: a GetDeployment answer of 40 MB (an AppSpec padded
/// beyond anything CloudFormation writes) fails the hook's discovery at once, and the hook
/// reports Failed within its memory bound instead of reading it whole.
#[tokio::test]
async fn an_aws_answer_over_the_bound_is_refused_unread() {
    let mut appspec: Value = serde_json::from_str(&lambda_appspec(
        "hello-fn",
        "live",
        "1",
        "2",
        &[("BeforeAllowTraffic", HOOK_NAME)],
    ))
    .unwrap();
    appspec["Padding"] = Value::String("x".repeat(40 * 1024 * 1024));
    let h = HookSetup::start_with_env(
        "hook-runner",
        DeploymentSetup::new(DEPLOYMENT, &appspec.to_string()),
        NO_BINDING_TIMEOUT,
        &[("HOOK_SPEC", "version: 1\nchecks:\n  - name: greets\n    invoke: {}\n")],
    )
    .await;
    h.function("hello-fn", hello(Behavior::hello("2")));
    fails_within_memory(&h, "over the 8388608 bytes a hook reads from AWS").await;
    assert_eq!(invokes(&h), 0);
}

const SECRET: &str = "TOPSECRET-7f3a";
/// A second secret, in a variable whose name does not look secret: only the URL redaction and
/// the credential header protect it.
const PLAIN_SECRET: &str = "TOPSECRET-plain-42";

/// A spec whose URL and headers carry secrets from the environment, against a closed port and
/// a target that echoes what it gets.
fn leaky_spec() -> String {
    r#"version: 1
checks:
  - name: echo
    invoke: { payload: { auth: "Bearer ${env:API_TOKEN}" } }
    expect: { json: { $.echo.auth: nope } }
  - name: health
    http:
      url: "${env:API_URL}/health?token=${env:PLAIN}"
      headers: { x-api-key: "${env:PLAIN}" }
    expect: { status: 200 }
"#
    .to_string()
}

#[tokio::test]
async fn secrets_never_reach_logs_reports_or_the_response() {
    // Nothing listens on port 9 of loopback: the HTTP check fails with a connection error,
    // whose message would quote the URL.
    let echo = Behavior::Custom(Arc::new(|event| {
        Behavior::Respond(json!({"statusCode": 401, "echo": event}))
    }));
    let h = hook_in(
        "BeforeAllowTraffic",
        &leaky_spec(),
        echo,
        &[
            ("API_TOKEN", SECRET),
            ("PLAIN", PLAIN_SECRET),
            ("API_URL", "http://127.0.0.1:9/api"),
        ],
    )
    .await;
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Failed");
    let everything = format!("{response}\n{}", h.logs());
    assert!(!everything.contains("TOPSECRET"), "{everything}");
    // What is not secret stays readable: the host and path of the URL, the echoed shape.
    assert!(
        everything.contains("http://127.0.0.1:9/api/health?token=***"),
        "{everything}"
    );
    assert!(everything.contains("Bearer ***"), "{everything}");
}

/// A secret with a quote, a backslash and a newline, echoed back inside a JSON answer at
/// offsets around the point where a report cuts what it shows: no piece of it reaches the
/// Lambda log or the response.
#[tokio::test]
async fn a_secret_echoed_across_a_clip_leaves_no_piece() {
    const ESCAPING: &str = "QZSECRET\"quo\\te\nQZLINE-2";
    let mut spec = "version: 1\nchecks:\n".to_string();
    for pad in (240..300).step_by(4) {
        spec.push_str(&format!(
            "  - name: pad{pad}\n    invoke: {{ payload: {{ pad: \"{}\", auth: \"${{env:API_TOKEN}}\" }} }}\n    \
             expect: {{ body: {{ contains: never-there }} }}\n",
            "x".repeat(pad)
        ));
    }
    let echo = Behavior::Custom(Arc::new(|event| {
        Behavior::Respond(json!({"statusCode": 200, "echo": event}))
    }));
    let h = hook_in("BeforeAllowTraffic", &spec, echo, &[("API_TOKEN", ESCAPING)]).await;
    let response = run(&h, "BeforeAllowTraffic").await;
    assert_eq!(response["status"], "Failed");
    let everything = format!("{response}\n{}", h.logs());
    assert!(
        everything.contains("… ("),
        "the answers are shown clipped: {everything}"
    );
    for piece in ["QZSE", "QZSECRET", "QZLI", "quo", "LINE-2"] {
        assert!(!everything.contains(piece), "{piece} in {everything}");
    }
}

#[tokio::test]
async fn secrets_never_reach_the_cli_reports() {
    let sim = Sim::start().await.unwrap();
    let echo = Behavior::Custom(Arc::new(|event| {
        Behavior::Respond(json!({"statusCode": 401, "echo": event}))
    }));
    sim.add_function("hello-fn", hello(echo));
    let dir = integration_tests::target_dir().join("test-tmp").join("secrets");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("leaky.yaml");
    std::fs::write(&spec, leaky_spec()).unwrap();
    let mut env = sim.aws_env();
    env.push(("API_TOKEN".into(), SECRET.into()));
    env.push(("PLAIN".into(), PLAIN_SECRET.into()));
    env.push(("API_URL".into(), "http://127.0.0.1:9/api".into()));
    for format in ["text", "json", "junit"] {
        let out_file = dir.join(format!("report.{format}"));
        let args: Vec<String> = [
            "run",
            spec.to_str().unwrap(),
            "--function",
            "hello-fn",
            "--qualifier",
            "2",
            "--report",
            format,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for out in [None, Some(out_file.clone())] {
            let mut args = args.clone();
            if let Some(f) = &out {
                args.extend(["--out".to_string(), f.display().to_string()]);
            }
            let env = env.clone();
            let output = tokio::task::spawn_blocking(move || {
                std::process::Command::new(integration_tests::release_bin("hook-runner"))
                    .args(&args)
                    .env_remove("AWS_LAMBDA_RUNTIME_API")
                    .envs(env)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            assert_eq!(output.status.code(), Some(1), "{output:?}");
            let mut all = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if let Some(f) = &out {
                all.push_str(&std::fs::read_to_string(f).unwrap());
            }
            assert!(!all.contains("TOPSECRET"), "{format}: {all}");
            assert!(all.contains("127.0.0.1:9/api/health"), "{format}: {all}");
        }
    }
}

#[tokio::test]
async fn redirects_are_not_followed_unless_a_check_opts_in_and_never_carry_headers_elsewhere() {
    let landing = api_answering(json!({"statusCode": 200, "body": "{\"ok\":true}"})).await;
    let redirect = api_answering(json!({
        "statusCode": 302,
        "headers": {"location": format!("{}/landing", landing.url)},
        "body": ""
    }))
    .await;
    let spec = |follow: bool| {
        format!(
            "version: 1\nchecks:\n  - name: moved\n    phase: after\n    http:\n      url: \"${{env:API_URL}}/start?token=${{env:PLAIN}}\"\n      headers: {{ x-token: \"${{env:PLAIN}}\", accept: application/json }}\n      follow_redirects: {follow}\n"
        )
    };
    let env = [("API_URL", redirect.url.as_str()), ("PLAIN", SECRET)];

    // By default the redirect is the answer, and a 302 is no success.
    let h = hook_in("AfterAllowTraffic", &spec(false), Behavior::hello("2"), &env).await;
    let response = run(&h, "AfterAllowTraffic").await;
    assert_eq!(response["status"], "Failed");
    assert!(reason(&response).contains("actual 302"), "{}", reason(&response));
    assert!(landing.received.lock().unwrap().is_empty());

    // Opted in: followed to the other origin without the check's headers or a Referer.
    let h = hook_in("AfterAllowTraffic", &spec(true), Behavior::hello("2"), &env).await;
    let response = run(&h, "AfterAllowTraffic").await;
    assert_eq!(response["status"], "Succeeded", "{}", h.logs());
    let first = redirect.received.lock().unwrap()[0]["headers"].clone();
    assert_eq!(first["x-token"], SECRET, "the first origin gets the headers: {first}");
    let received = landing.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let headers = received[0]["headers"].as_object().unwrap().clone();
    assert!(!headers.contains_key("x-token"), "{headers:?}");
    assert!(!headers.contains_key("referer"), "{headers:?}");
    assert!(!received[0].to_string().contains("TOPSECRET"), "{received:?}");
}
