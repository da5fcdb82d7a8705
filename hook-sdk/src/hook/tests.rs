//! The hook service with mocked AWS clients, on tokio's paused clock where time matters.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use tokio::time::Instant;

use super::*;
use crate::event::Phase;
use crate::status::HookStatus;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusOutput;
use aws_sdk_codedeploy::types::{AppSpecContent, DeploymentInfo, LifecycleEventStatus, RevisionLocation};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use tower::Service as _;

const SPEC: &str = r#"{"Resources":[{"F":{"Type":"AWS::Lambda::Function","Properties":{"Name":"fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}],"Hooks":[{"BeforeAllowTraffic":"pre"},{"AfterAllowTraffic":"post"}]}"#;

fn get_rule() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(|| {
        GetDeploymentOutput::builder()
            .deployment_info(
                DeploymentInfo::builder()
                    .revision(
                        RevisionLocation::builder()
                            .app_spec_content(AppSpecContent::builder().content(SPEC).build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

fn put_rule(expected: LifecycleEventStatus) -> Rule {
    mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
        .match_requests(move |r| r.status() == Some(&expected))
        .then_output(|| PutLifecycleEventHookExecutionStatusOutput::builder().build())
}

fn clients(get: &Rule, put: &Rule) -> Clients {
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [get, put]);
    Clients {
        codedeploy: codedeploy.clone(),
        status: codedeploy,
        lambda: mock_client!(aws_sdk_lambda, []),
        #[cfg(feature = "checks")]
        http: None,
        #[cfg(feature = "metrics")]
        cloudwatch: None,
        sdk_config: None,
    }
}

fn settings(name: &str) -> Result<DiscoverySettings, crate::DiscoveryError> {
    Ok(DiscoverySettings {
        function_name: name.into(),
        ..Default::default()
    })
}

fn event(deadline_in: Option<Duration>) -> LambdaEvent<serde_json::Value> {
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline_in.map_or(0, |d| {
        (SystemTime::now() + d)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    });
    LambdaEvent::new(
        serde_json::json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"}),
        context,
    )
}

/// Lambda answering every invoke as `executed` would.
fn invoke_rule(executed: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::invoke).then_output(move || {
        aws_sdk_lambda::operation::invoke::InvokeOutput::builder()
            .status_code(200)
            .executed_version(executed)
            .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"ok":true}"#))
            .build()
    })
}

fn clients_invoking(get: &Rule, put: &Rule, invoke: &Rule) -> Clients {
    Clients {
        lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [invoke]),
        ..clients(get, put)
    }
}

async fn invoking_target(ctx: HookContext) -> Result<(), crate::CheckError> {
    assert_eq!(ctx.targets()[0].target_version, "2");
    ctx.targets()[0].invoke_json(&serde_json::json!({})).await?;
    Ok(())
}

#[tokio::test]
async fn ok_handler_that_ran_the_target_reports_succeeded() {
    let (get, put, invoke) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded), invoke_rule("2"));
    let mut svc = Hook::new()
        .before_allow_traffic(invoking_target)
        .into_service(clients_invoking(&get, &put, &invoke), settings("pre"));
    let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
    assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
    assert_eq!(out.phase, Some(Phase::BeforeAllowTraffic));
    assert_eq!((put.num_calls(), invoke.num_calls()), (1, 1));
}

#[tokio::test]
async fn before_allow_traffic_that_never_ran_the_target_reports_failed() {
    // The handler says Ok, but tested nothing; then it invokes, but Lambda ran version 1
    // (an alias that still routes to the old version).
    for (invoke, calls) in [(None, 0), (Some(invoke_rule("1")), 1)] {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
        let hook = match &invoke {
            None => Hook::new().before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) }),
            Some(_) => Hook::new().before_allow_traffic(invoking_target),
        };
        let c = match &invoke {
            None => clients(&get, &put),
            Some(rule) => clients_invoking(&get, &put, rule),
        };
        let out = hook
            .into_service(c, settings("pre"))
            .call(event(Some(Duration::from_secs(3))))
            .await
            .unwrap();
        assert_eq!(out.status, HookStatus::Failed);
        let reason = out.reason.unwrap();
        assert!(
            reason.contains("BeforeAllowTraffic never ran the version under test (fn:2)"),
            "{reason}"
        );
        assert_eq!(put.num_calls(), 1);
        assert_eq!(invoke.map_or(0, |r| r.num_calls()), calls);
    }
}

#[tokio::test]
async fn the_untested_target_can_be_allowed_explicitly() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
    let out = Hook::new()
        .allow_untested_target()
        .before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
        .into_service(clients(&get, &put), settings("pre"))
        .call(event(Some(Duration::from_secs(3))))
        .await
        .unwrap();
    assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
}

#[tokio::test]
async fn after_allow_traffic_needs_no_invoke_of_the_version() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
    let out = Hook::new()
        .after_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
        .into_service(clients(&get, &put), settings("post"))
        .call(event(Some(Duration::from_secs(3))))
        .await
        .unwrap();
    assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
}

#[tokio::test]
async fn a_phase_without_handler_reports_failed() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
    let mut svc = Hook::new()
        .before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
        .into_service(clients(&get, &put), settings("post"));
    let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
    assert_eq!(out.status, HookStatus::Failed);
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("runs in AfterAllowTraffic but has no handler"),
        "{reason}"
    );
    assert!(reason.contains("after_allow_traffic"), "{reason}");
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn bad_settings_report_failed_without_discovery() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
    let mut svc = Hook::new()
        .any_phase(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
        .into_service(
            clients(&get, &put),
            Err(crate::DiscoveryError::BadPhaseOverride {
                message: "unknown phase `x`".into(),
            }),
        );
    let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
    assert_eq!(out.status, HookStatus::Failed);
    assert_eq!(out.reason.as_deref(), Some("HOOK_PHASE: unknown phase `x`"));
    assert_eq!(get.num_calls(), 0);
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_handler_is_stopped_at_the_reserve() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
    let mut svc = Hook::new()
        .before_allow_traffic(|_ctx: HookContext| async {
            std::future::pending::<()>().await;
            Ok::<_, crate::CheckError>(())
        })
        .into_service(clients(&get, &put), settings("pre"));
    let started = Instant::now();
    let out = svc.call(event(Some(Duration::from_secs(10)))).await.unwrap();
    assert_eq!(out.status, HookStatus::Failed);
    assert!(out.reason.unwrap().contains("did not finish"));
    // 10 s budget, 2 s reserve: stopped at about 8 s of (paused) time.
    let stopped = started.elapsed();
    assert!(
        stopped >= Duration::from_millis(7_900) && stopped < Duration::from_millis(8_100),
        "{stopped:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_deadline_falls_back_to_the_budget() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let mut svc = Hook::new()
        .allow_untested_target()
        .fallback_budget(Duration::from_secs(20))
        .before_allow_traffic(move |ctx: HookContext| {
            tx.lock().unwrap().send(ctx.time_left()).unwrap();
            async { Ok::<_, crate::CheckError>(()) }
        })
        .into_service(clients(&get, &put), settings("pre"));
    let out = svc.call(event(None)).await.unwrap();
    assert_eq!(out.status, HookStatus::Succeeded);
    let left = rx.recv().unwrap();
    // 20 s fallback less its 4 s reserve.
    assert!(
        left > Duration::from_millis(15_900) && left <= Duration::from_secs(16),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_malformed_event_is_an_error_and_reports_nothing() {
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
    let mut svc = Hook::new().into_service(clients(&get, &put), settings("pre"));
    let e = svc
        .call(LambdaEvent::new(
            serde_json::json!({"LifecycleEventHookExecutionId": "e"}),
            Default::default(),
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("missing field `DeploymentId`"), "{e}");
    let d: Diagnostic = e.into();
    assert_eq!(d.error_type, "HookSdk.MalformedEvent");
    assert_eq!(get.num_calls() + put.num_calls(), 0);
}

/// The JSON invokes a hook author reaches for: the target version, the alias and the current
/// version, each with its own qualifier.
#[tokio::test]
async fn json_invokes_of_the_version_the_alias_and_the_current_version() {
    let answer = |qualifier: &'static str, executed: &'static str| {
        mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(move |r| r.qualifier() == Some(qualifier) && r.payload().is_some())
            .then_output(move || {
                aws_sdk_lambda::operation::invoke::InvokeOutput::builder()
                    .status_code(200)
                    .executed_version(executed)
                    .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"ok":true}"#))
                    .build()
            })
    };
    let (version, alias, current) = (answer("2", "2"), answer("live", "1"), answer("1", "1"));
    let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
    let clients = Clients {
        lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&version, &alias, &current]),
        ..clients(&get, &put)
    };
    async fn all_three(ctx: HookContext) -> Result<(), crate::CheckError> {
        let t = &ctx.targets()[0];
        let payload = serde_json::json!({"name": "canary"});
        crate::ensure!(
            t.invoke_json(&payload).await?.executed_version.as_deref() == Some("2"),
            "version"
        );
        crate::ensure!(
            t.invoke_alias_json(&payload).await?.executed_version.as_deref() == Some("1"),
            "alias"
        );
        crate::ensure!(
            t.invoke_current_json(&payload).await?.executed_version.as_deref() == Some("1"),
            "current"
        );
        Ok(())
    }
    let mut svc = Hook::new()
        .before_allow_traffic(all_three)
        .into_service(clients, settings("pre"));
    let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
    assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
    assert_eq!((version.num_calls(), alias.num_calls(), current.num_calls()), (1, 1, 1));
}
