//! The real `pre-traffic` binary as a Lambda process, its Runtime API and AWS endpoints
//! served by hook-sim: which calls cross the wire, and that exactly one status is accepted.

use std::time::Duration;

use hook_sim::{
    Behavior, DeploymentSetup, Fault, FunctionSetup, LifecycleEventStatus, RevisionStorage, Service, lambda_appspec,
};
use integration_tests::{DEPLOYMENT, HOOK_NAME, HookSetup, NO_BINDING_TIMEOUT, hello_process, json};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(3);

fn appspec() -> String {
    lambda_appspec(
        "hello-fn",
        "live",
        "1",
        "2",
        &[
            ("BeforeAllowTraffic", HOOK_NAME),
            ("AfterAllowTraffic", "CodeDeployHook_post"),
        ],
    )
}

fn scripted_hello(v2: Behavior) -> FunctionSetup {
    FunctionSetup::new()
        .version("1", Behavior::hello("1"))
        .version("2", v2)
        .alias("live", "1")
}

/// The example pre-traffic hook, with a timeout that cannot bind: these cases are about what
/// it reports, not when.
async fn setup(storage: RevisionStorage) -> HookSetup {
    setup_with_timeout(storage, NO_BINDING_TIMEOUT).await
}

async fn setup_with_timeout(storage: RevisionStorage, timeout: Duration) -> HookSetup {
    HookSetup::start(
        "pre-traffic",
        DeploymentSetup::new(DEPLOYMENT, &appspec()).storage(storage),
        timeout,
    )
    .await
}

fn codedeploy_ops(h: &HookSetup) -> Vec<String> {
    h.sim.operations(Service::CodeDeploy)
}

fn invokes(h: &HookSetup) -> Vec<(String, Option<String>, serde_json::Value)> {
    h.sim
        .calls()
        .into_iter()
        .filter(|c| c.service == Service::Lambda)
        .map(|c| {
            (
                c.request["FunctionName"].as_str().unwrap_or_default().to_string(),
                c.request["Qualifier"].as_str().map(str::to_string),
                c.request["Payload"].clone(),
            )
        })
        .collect()
}

/// The error of each status report call, in order (None: accepted).
fn put_errors(h: &HookSetup) -> Vec<Option<String>> {
    h.sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == "PutLifecycleEventHookExecutionStatus")
        .map(|c| c.error)
        .collect()
}

fn statuses(h: &HookSetup) -> Vec<&'static str> {
    h.sim.statuses().into_iter().map(|s| s.status.as_str()).collect()
}

#[tokio::test]
async fn happy_path_invokes_the_target_version_and_reports_succeeded() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    let v2 = hello_process(&h.sim, "hello-fn", "2").await;
    h.function("hello-fn", scripted_hello(v2));

    let (execution, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(out.function_error, None, "hook failed: {}\n{}", out.json(), h.logs());
    assert_eq!(json(&out)["status"], "Succeeded", "{}", h.logs());
    assert_eq!(json(&out)["phase"], "BeforeAllowTraffic");
    assert_eq!(
        codedeploy_ops(&h),
        ["GetDeployment", "PutLifecycleEventHookExecutionStatus"]
    );
    // The spec's two checks, then the Rust check: every invoke of version 2.
    let sent = invokes(&h);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(f, q, _)| f == "hello-fn" && q.as_deref() == Some("2")),
        "{sent:?}"
    );
    assert_eq!(sent[0].2, json!({"name": "canary"}));
    assert_eq!(sent[1].2["rawQueryString"], "name=api");
    assert_eq!(sent[2].2, json!({"name": "version-probe"}));
    assert_eq!(statuses(&h), ["Succeeded"]);
    assert_eq!(
        h.sim.lifecycle_event_status(DEPLOYMENT, &execution),
        Some(LifecycleEventStatus::Succeeded)
    );
    // The target really ran as version 2 and answered the hello contract.
    let put = h
        .sim
        .calls()
        .into_iter()
        .find(|c| c.operation == "PutLifecycleEventHookExecutionStatus")
        .unwrap();
    assert_eq!(put.request["deploymentId"], DEPLOYMENT);
    assert_eq!(put.request["lifecycleEventHookExecutionId"], execution.as_str());
    // In Lambda the hook logs JSON lines that carry the deployment id.
    let lines: Vec<serde_json::Value> = h
        .hook
        .logs()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    let reported = lines
        .iter()
        .find(|l| l["message"] == "status reported")
        .expect("a status line");
    assert_eq!(reported["status"], "Succeeded");
    assert_eq!(reported["span"]["deployment_id"], DEPLOYMENT);
    let invoked = lines
        .iter()
        .find(|l| l["message"] == "target invoked")
        .expect("a target line");
    assert_eq!(invoked["target_function"], "hello-fn");
    assert_eq!(invoked["version"], "2");
    // The REPORT line of the target's log tail was read.
    assert!(invoked["reported_duration_ms"].is_number(), "{invoked}");
}

#[tokio::test]
async fn function_error_reports_failed() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    h.function(
        "hello-fn",
        scripted_hello(Behavior::FunctionError {
            error_type: "RuntimeError".into(),
            message: "boom in v2".into(),
        }),
    );

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(out.function_error, None, "{}", h.logs());
    let body = json(&out);
    assert_eq!(body["status"], "Failed");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("greets the canary [hello-fn:2]: function_error expected none, actual Unhandled")
            && reason.contains("boom in v2"),
        "{reason}"
    );
    assert_eq!(statuses(&h), ["Failed"]);
    assert_eq!(
        codedeploy_ops(&h),
        ["GetDeployment", "PutLifecycleEventHookExecutionStatus"]
    );
}

#[tokio::test]
async fn bad_status_code_reports_failed() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    h.function(
        "hello-fn",
        scripted_hello(Behavior::Respond(json!({"statusCode": 500, "body": "oops"}))),
    );

    let (_, out) = h.run("BeforeAllowTraffic").await;

    let reason = json(&out)["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("greets the canary [hello-fn:2]: json $.statusCode expected == 200, actual 500"),
        "{reason}\n{}",
        h.logs()
    );
    assert_eq!(statuses(&h), ["Failed"]);
}

#[tokio::test]
async fn string_revision_is_discovered() {
    let h = setup(RevisionStorage::String).await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(json(&out)["status"], "Succeeded", "{}", h.logs());
    assert_eq!(
        codedeploy_ops(&h),
        ["GetDeployment", "PutLifecycleEventHookExecutionStatus"]
    );
    assert_eq!(invokes(&h).len(), 3);
}

#[tokio::test]
async fn revision_without_content_uses_get_application_revision() {
    let h = setup(RevisionStorage::ApplicationRevision).await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(json(&out)["status"], "Succeeded", "{}", h.logs());
    assert_eq!(
        codedeploy_ops(&h),
        [
            "GetDeployment",
            "GetApplicationRevision",
            "PutLifecycleEventHookExecutionStatus"
        ]
    );
}

#[tokio::test]
async fn s3_revision_fails_with_advice() {
    let h = setup(RevisionStorage::S3 {
        bucket: "b".into(),
        key: "k.zip".into(),
    })
    .await;
    let (_, out) = h.run("BeforeAllowTraffic").await;
    let reason = json(&out)["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("stored as S3") && reason.contains("HOOK_TARGET"),
        "{reason}"
    );
    assert_eq!(statuses(&h), ["Failed"]);
    assert!(invokes(&h).is_empty());
}

#[tokio::test]
async fn two_functions_in_one_appspec_are_both_tested() {
    let spec = json!({
        "version": 0.0,
        "Resources": [
            {"HelloFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "hello-fn", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}},
            {"OtherFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "other-fn", "Alias": "live", "CurrentVersion": "6", "TargetVersion": "7"}}}
        ],
        "Hooks": [{"BeforeAllowTraffic": HOOK_NAME}]
    })
    .to_string();
    let h = HookSetup::start(
        "pre-traffic",
        DeploymentSetup::new(DEPLOYMENT, &spec),
        NO_BINDING_TIMEOUT,
    )
    .await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));
    h.function("other-fn", FunctionSetup::new().version("7", Behavior::hello("7")));

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(json(&out)["status"], "Succeeded", "{}", h.logs());
    let called: Vec<(String, Option<String>)> = invokes(&h).into_iter().map(|(f, q, _)| (f, q)).collect();
    let pair = [
        ("hello-fn".to_string(), Some("2".to_string())),
        ("other-fn".to_string(), Some("7".to_string())),
    ];
    // Each check (two from the spec, one in Rust) tests both functions, each at its version.
    assert_eq!(called, [pair.clone(), pair.clone(), pair].concat());
    assert_eq!(statuses(&h), ["Succeeded"]);
}

#[tokio::test]
async fn throttled_status_report_is_retried() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));
    h.sim.inject("PutLifecycleEventHookExecutionStatus", Fault::Throttle, 2);

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(json(&out)["status"], "Succeeded", "{}", h.logs());
    assert_eq!(json(&out)["delivery"], json!({"outcome": "Accepted", "attempts": 3}));
    let puts = put_errors(&h);
    assert_eq!(
        puts,
        [
            Some("ThrottlingException".to_string()),
            Some("ThrottlingException".to_string()),
            None
        ]
    );
    assert_eq!(statuses(&h), ["Succeeded"]);
}

#[tokio::test]
async fn redelivered_event_meets_already_completed_and_stops() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));

    let (execution, first) = h.run("BeforeAllowTraffic").await;
    assert_eq!(json(&first)["status"], "Succeeded", "{}", h.logs());
    // Lambda delivers asynchronous events up to three times: the second delivery runs
    // its checks again, and CodeDeploy refuses its report.
    let second = h.deliver(&execution).await;

    assert_eq!(
        second.function_error,
        None,
        "a redelivery must not fail the invocation: {}",
        second.json()
    );
    assert_eq!(
        json(&second)["delivery"],
        json!({"outcome": "AlreadyCompleted", "attempts": 1})
    );
    let puts = put_errors(&h);
    assert_eq!(
        puts,
        [None, Some("LifecycleEventAlreadyCompletedException".to_string())]
    );
    assert_eq!(statuses(&h), ["Succeeded"]);
    assert!(h.logs().contains("already has a status"), "{}", h.logs());
}

#[tokio::test]
async fn hanging_target_reports_failed_before_the_deadline() {
    let h = setup_with_timeout(RevisionStorage::AppSpecContent, TIMEOUT).await;
    h.function("hello-fn", scripted_hello(Behavior::Hang));

    let sent = h.sim.elapsed();
    let (execution, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(
        out.function_error,
        None,
        "the hook itself must not time out: {}\n{}",
        out.json(),
        h.logs()
    );
    let status = h
        .sim
        .statuses()
        .into_iter()
        .find(|s| s.execution_id == execution)
        .expect("a status");
    assert_eq!(status.status, "Failed");
    assert!(
        status.at < sent + TIMEOUT,
        "Failed arrived {:?} after the event, past the {TIMEOUT:?} deadline",
        status.at - sent
    );
    let reason = json(&out)["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("no answer within") && reason.contains("the hook's time ran out"),
        "{reason}"
    );
    assert_eq!(statuses(&h), ["Failed"]);
}

#[tokio::test]
async fn malformed_event_is_a_lambda_error_naming_the_field() {
    let h = setup(RevisionStorage::AppSpecContent).await;
    let out = h.hook.invoke(br#"{"DeploymentId": "d-HOOKSIM01"}"#.to_vec()).await;

    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    let body = out.json();
    assert_eq!(body["errorType"], "HookSdk.MalformedEvent", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("LifecycleEventHookExecutionId"),
        "{body}"
    );
    assert!(
        codedeploy_ops(&h).is_empty(),
        "no report without ids: {:?}",
        codedeploy_ops(&h)
    );
}

#[tokio::test]
async fn panicking_handler_in_a_release_build_reports_failed() {
    let h = HookSetup::start(
        "panicking-hook",
        DeploymentSetup::new(DEPLOYMENT, &appspec()),
        NO_BINDING_TIMEOUT,
    )
    .await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));

    let (_, out) = h.run("BeforeAllowTraffic").await;

    assert_eq!(out.function_error, None, "{}\n{}", out.json(), h.logs());
    let reason = json(&out)["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("the handler panicked: deliberate panic in a hook with 1 target(s)"),
        "{reason}"
    );
    assert_eq!(statuses(&h), ["Failed"]);
    // The process survived the panic and serves the next event.
    assert!(h.hook.pid().await.is_some(), "the hook process died");
}

#[tokio::test]
async fn hook_not_named_in_the_appspec_reports_failed() {
    let spec = lambda_appspec(
        "hello-fn",
        "live",
        "1",
        "2",
        &[("BeforeAllowTraffic", "CodeDeployHook_other")],
    );
    let h = HookSetup::start(
        "pre-traffic",
        DeploymentSetup::new(DEPLOYMENT, &spec),
        NO_BINDING_TIMEOUT,
    )
    .await;
    h.function("hello-fn", scripted_hello(Behavior::hello("2")));

    let (_, out) = h.run("BeforeAllowTraffic").await;

    let reason = json(&out)["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("cannot tell this hook's phase"), "{reason}");
    assert_eq!(statuses(&h), ["Failed"]);
    assert!(invokes(&h).is_empty());
}
