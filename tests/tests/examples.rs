//! The example hooks of hook-examples, as deployed: real binaries on the wire through
//! hook-sim, against the real `hello` binary (healthy, or faulty through HELLO_FAULT).

use std::time::Duration;

use hook_sim::{
    AliasRouting, Behavior, DeploymentSetup, FunctionSetup, LifecycleEventStatus, ProcessConfig, Service, Sim,
    lambda_appspec,
};
use integration_tests::{
    DEPLOYMENT, HOOK_NAME, HookSetup, NO_BINDING_TIMEOUT, hello_process, hello_process_with_env, release_bin,
    workspace_root,
};

/// Requests through the API while the canary takes half the traffic: 20 for each version,
/// over the post-traffic spec's `min_samples`.
const CANARY_REQUESTS: usize = 40;

fn appspec(phase: &str) -> String {
    lambda_appspec("hello-fn", "live", "1", "2", &[(phase, HOOK_NAME)])
}

async fn pre_traffic_against(fault: Option<&str>) -> (HookSetup, serde_json::Value) {
    // A deadline is the subject only with HELLO_FAULT=slow: elsewhere it cannot bind.
    let timeout = if fault == Some("slow") {
        Duration::from_secs(3)
    } else {
        NO_BINDING_TIMEOUT
    };
    let h = HookSetup::start(
        "pre-traffic",
        DeploymentSetup::new(DEPLOYMENT, &appspec("BeforeAllowTraffic")),
        timeout,
    )
    .await;
    let env: Vec<(&str, &str)> = fault.map(|f| vec![("HELLO_FAULT", f)]).unwrap_or_default();
    let v2 = hello_process_with_env(&h.sim, "hello-fn", "2", &env).await;
    h.function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", v2)
            .alias("live", "1"),
    );
    let body = run_ok(&h, "BeforeAllowTraffic").await;
    (h, body)
}

#[tokio::test]
async fn pre_traffic_passes_a_healthy_hello() {
    let (h, out) = pre_traffic_against(None).await;
    assert_eq!(out["status"], "Succeeded", "{out}\n{}", h.logs());
}

#[tokio::test]
async fn pre_traffic_fails_hello_fault_error() {
    let (h, out) = pre_traffic_against(Some("error")).await;
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("function_error expected none, actual Unhandled") && reason.contains("HELLO_FAULT=error"),
        "{reason}"
    );
    assert_eq!(h.sim.statuses().len(), 1);
}

#[tokio::test]
async fn pre_traffic_fails_hello_fault_status500() {
    let (_, out) = pre_traffic_against(Some("status500")).await;
    assert_eq!(out["status"], "Failed");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("json $.statusCode expected == 200, actual 500"),
        "{out}"
    );
}

#[tokio::test]
async fn pre_traffic_fails_hello_fault_slow_before_its_deadline() {
    let (h, out) = pre_traffic_against(Some("slow")).await;
    assert_eq!(out["status"], "Failed");
    assert!(
        out["reason"].as_str().unwrap().contains("the hook's time ran out"),
        "{out}"
    );
    assert_eq!(h.sim.statuses().len(), 1);
}

/// post-traffic in AfterAllowTraffic, with API_URL on hook-sim's HTTP API and the alias on `alias_on`.
async fn post_traffic(alias_on: &str) -> (HookSetup, serde_json::Value) {
    let sim = Sim::start().await.unwrap();
    sim.add_deployment(DeploymentSetup::new(DEPLOYMENT, &appspec("AfterAllowTraffic")));
    let v2 = hello_process(&sim, "hello-fn", "2").await;
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", v2)
            .alias("live", alias_on),
    );
    // The canary as CodeDeploy runs it: while AllowTraffic is in progress, requests through
    // the API reach both versions; then all traffic is on `alias_on`. CloudWatch's figures of
    // that traffic are what the hook's metrics check reads.
    sim.set_target_event(DEPLOYMENT, "AllowTraffic", LifecycleEventStatus::InProgress);
    sim.route_alias("hello-fn", "live", AliasRouting::weighted("1", "2", 0.5))
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..CANARY_REQUESTS {
        let answer = http
            .get(format!("{}/hello", sim.api_url("hello-fn", "live")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    sim.route_alias("hello-fn", "live", AliasRouting::to(alias_on)).unwrap();
    sim.set_target_event(DEPLOYMENT, "AllowTraffic", LifecycleEventStatus::Succeeded);
    sim.publish_metrics_at_once(true);
    // Its metrics check watches 3 minutes after the shift: with no deployment engine here,
    // the simulated clock jumps to each reading.
    sim.skip_clock_waits(true);
    let config = ProcessConfig::new(HOOK_NAME, release_bin("post-traffic"))
        .timeout(NO_BINDING_TIMEOUT)
        .env("API_URL", &sim.api_url("hello-fn", "live"));
    let hook = sim.runtime(config).await.unwrap();
    let h = HookSetup { sim, hook };
    let body = run_ok(&h, "AfterAllowTraffic").await;
    (h, body)
}

/// Runs the hook in `phase`; the hook itself must not fail: its answer as JSON.
async fn run_ok(h: &HookSetup, phase: &str) -> serde_json::Value {
    let (_, out) = h.run(phase).await;
    assert_eq!(
        out.function_error,
        None,
        "the hook itself failed: {}\n{}",
        out.json(),
        h.logs()
    );
    out.json()
}

#[tokio::test]
async fn post_traffic_checks_the_api_and_the_alias() {
    let (h, out) = post_traffic("2").await;
    assert_eq!(out["status"], "Succeeded", "{out}\n{}", h.logs());
    let calls = h.sim.calls();
    let api_calls = calls.iter().filter(|c| c.service == Service::HttpApi).count();
    assert_eq!(
        api_calls,
        CANARY_REQUESTS + 1,
        "the canary's traffic and the hook's check"
    );
    let metrics = calls
        .iter()
        .filter(|c| c.service == Service::CloudWatch && c.operation == "GetMetricData")
        .count();
    assert_eq!(
        metrics, 8,
        "four readings (at the shift, then each minute of the 3-minute watch), two calls each (the new \
         version's window, the current version's)"
    );
    let alias_invokes = calls
        .iter()
        .filter(|c| c.service == Service::Lambda && c.request["Qualifier"] == "live")
        .count();
    assert_eq!(alias_invokes, 50 + 5, "50 under load, 5 routing probes");
}

#[tokio::test]
async fn post_traffic_fails_when_the_alias_still_routes_to_the_old_version() {
    let (_, out) = post_traffic("1").await;
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("json $.version expected == \"2\", actual \"1\""),
        "{reason}"
    );
}

/// hook-runner with hook-examples/smoke.yaml (and `env`) as the BeforeAllowTraffic hook of a
/// healthy version 2 of the real `hello`, run once.
async fn spec_hook_before_traffic(env: &[(&str, &str)]) -> (HookSetup, hook_sim::InvokeOutcome) {
    let smoke = workspace_root().join("hook-examples/smoke.yaml").display().to_string();
    let mut all = vec![("HOOK_SPEC_FILE", smoke.as_str())];
    all.extend_from_slice(env);
    let h = HookSetup::start_with_env(
        "hook-runner",
        DeploymentSetup::new(DEPLOYMENT, &appspec("BeforeAllowTraffic")),
        NO_BINDING_TIMEOUT,
        &all,
    )
    .await;
    let v2 = hello_process(&h.sim, "hello-fn", "2").await;
    h.function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", v2)
            .alias("live", "1"),
    );
    let (_, out) = h.run("BeforeAllowTraffic").await;
    (h, out)
}

#[tokio::test]
async fn the_spec_hook_runs_smoke_yaml() {
    let (h, out) = spec_hook_before_traffic(&[]).await;
    assert_eq!(out.json()["status"], "Succeeded", "{}\n{}", out.json(), h.logs());
    // 1 greeting + 20 under load, all of version 2.
    let invokes: Vec<String> = h
        .sim
        .calls()
        .iter()
        .filter(|c| c.service == Service::Lambda)
        .map(|c| c.request["Qualifier"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(invokes.len(), 21);
    assert!(invokes.iter().all(|q| q == "2"));
}

/// The check records are tracing events printed as raw JSON lines at any log level: with
/// `AWS_LAMBDA_LOG_LEVEL=error` the log keeps every check record and the summary, and no
/// info-level log line.
#[tokio::test]
async fn check_records_print_at_every_log_level() {
    let (h, out) = spec_hook_before_traffic(&[("AWS_LAMBDA_LOG_LEVEL", "error")]).await;
    assert_eq!(out.json()["status"], "Succeeded", "{}\n{}", out.json(), h.logs());
    let logs = h.logs();
    let records: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("record").is_some())
        .collect();
    assert!(
        records.iter().any(|r| r["record"] == "check") && records.iter().any(|r| r["record"] == "summary"),
        "{logs}"
    );
    assert!(!logs.contains("\"level\":\"INFO\""), "{logs}");
}
