//! hook-sim as the real AWS SDK clients see it: answers and errors parse into the
//! SDK's modeled types, so the SDK's behaviour against hook-sim is its behaviour against AWS.

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use hook_sim::{Behavior, DeploymentSetup, Fault, FunctionSetup, Sim, lambda_appspec};

/// A GetMetricData answer's values, by query id.
fn values_by_id(
    out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
) -> std::collections::BTreeMap<String, Vec<f64>> {
    out.metric_data_results()
        .iter()
        .map(|r| (r.id().unwrap().to_string(), r.values().to_vec()))
        .collect()
}

/// The SDK configuration of a client of `sim`, retries off (each error is the answer's).
async fn sdk_config(sim: &Sim) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(aws_config::Region::new(hook_sim::REGION))
        .credentials_provider(aws_sdk_codedeploy::config::Credentials::for_tests())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

async fn clients(sim: &Sim) -> (aws_sdk_codedeploy::Client, aws_sdk_lambda::Client) {
    let config = sdk_config(sim).await;
    (
        aws_sdk_codedeploy::Client::new(&config),
        aws_sdk_lambda::Client::new(&config),
    )
}

#[tokio::test]
async fn codedeploy_errors_are_modeled() {
    let sim = Sim::start().await.unwrap();
    let (cd, _) = clients(&sim).await;
    sim.add_deployment(DeploymentSetup::new("d-1", &lambda_appspec("f", "live", "1", "2", &[])));
    let exec = sim.open_lifecycle_event("d-1", "BeforeAllowTraffic");

    let e = cd.get_deployment().deployment_id("d-404").send().await.unwrap_err();
    assert!(e.into_service_error().is_deployment_does_not_exist_exception());

    let put = |id: &str, exec: &str, status: LifecycleEventStatus| {
        cd.put_lifecycle_event_hook_execution_status()
            .deployment_id(id)
            .lifecycle_event_hook_execution_id(exec)
            .status(status)
            .send()
    };
    let e = put("d-1", "bogus", LifecycleEventStatus::Succeeded).await.unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_lifecycle_event_hook_execution_id_exception()
    );
    let e = put("d-1", &exec, LifecycleEventStatus::Pending).await.unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_lifecycle_event_hook_execution_status_exception()
    );
    let ok = put("d-1", &exec, LifecycleEventStatus::Failed).await.unwrap();
    assert_eq!(ok.lifecycle_event_hook_execution_id(), Some(exec.as_str()));
    let e = put("d-1", &exec, LifecycleEventStatus::Succeeded).await.unwrap_err();
    assert!(e.into_service_error().is_lifecycle_event_already_completed_exception());
    assert_eq!(
        sim.lifecycle_event_status("d-1", &exec),
        Some(hook_sim::LifecycleEventStatus::Failed)
    );

    sim.inject("GetDeployment", Fault::Throttle, 1);
    let e = cd.get_deployment().deployment_id("d-1").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_codedeploy::error::ProvideErrorMetadata::code(&e),
        Some("ThrottlingException")
    );
    let info = cd.get_deployment().deployment_id("d-1").send().await.unwrap();
    let info = info.deployment_info().unwrap();
    assert_eq!(info.compute_platform().map(|p| p.as_str()), Some("Lambda"));
    let style = info.deployment_style().unwrap();
    assert_eq!(style.deployment_type().map(|t| t.as_str()), Some("BLUE_GREEN"));
    assert_eq!(
        style.deployment_option().map(|o| o.as_str()),
        Some("WITH_TRAFFIC_CONTROL")
    );
    // Its one target's state, and when it started.
    let overview = info.deployment_overview().unwrap();
    assert_eq!(
        (
            overview.in_progress(),
            overview.succeeded(),
            overview.failed(),
            overview.pending()
        ),
        (1, 0, 0, 0)
    );
    assert_eq!(info.start_time(), info.create_time());
    // As CodeDeploy answers for a Lambda deployment: the revision's digest, not its content...
    let revision = info.revision().unwrap();
    let digest = revision.app_spec_content().unwrap();
    assert!(digest.sha256().is_some_and(|s| s.len() == 64));
    assert_eq!(digest.content(), None);
    // ...which GetApplicationRevision gives, as `string.content`.
    let answer = cd
        .get_application_revision()
        .application_name(info.application_name().unwrap())
        .revision(revision.clone())
        .send()
        .await
        .unwrap();
    let content = answer.revision().unwrap().string().unwrap().content().unwrap();
    assert!(content.contains("TargetVersion"), "{content}");
    assert!(
        content.contains(r#""version":"0.0""#),
        "the version as CloudFormation writes it: {content}"
    );
}

#[tokio::test]
async fn invoke_resolves_qualifiers_and_tails_logs() {
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version(
                "2",
                Behavior::FunctionError {
                    error_type: "Boom".into(),
                    message: "v2 is broken".into(),
                },
            )
            .alias("live", "1"),
    );

    let out = lambda
        .invoke()
        .function_name("arn:aws:lambda:us-east-1:123456789012:function:hello-fn")
        .qualifier("live")
        .log_type(LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"name":"x"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("1"));
    assert_eq!(out.function_error(), None);
    let payload: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["body"], r#"{"message":"Hello, x!","version":"1"}"#);
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(
        log.starts_with("START RequestId: ") && log.contains("\nREPORT RequestId: "),
        "{log}"
    );

    let out = lambda.invoke().function_name("hello-fn:2").send().await.unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(out.executed_version(), Some("2"));

    let e = lambda
        .invoke()
        .function_name("hello-fn")
        .qualifier("9")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());

    sim.inject("Invoke", Fault::Throttle, 1);
    let e = lambda.invoke().function_name("hello-fn").send().await.unwrap_err();
    assert!(e.into_service_error().is_too_many_requests_exception());
}

#[tokio::test]
async fn a_weighted_alias_splits_invokes_as_codedeploy_shifts_them() {
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", Behavior::hello("2"))
            .alias_weighted("live", "1", "2", 0.3),
    );
    let mut ran = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..100 {
        let out = lambda
            .invoke()
            .function_name("hello-fn")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        *ran.entry(out.executed_version().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(ran, [("1".to_string(), 70), ("2".to_string(), 30)].into());

    sim.route_alias("hello-fn", "live", hook_sim::AliasRouting::to("2"))
        .unwrap();
    let out = lambda
        .invoke()
        .function_name("hello-fn")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("2"));
    assert_eq!(sim.alias_routing("hello-fn", "live").unwrap().version, "2");
    let unknown = sim
        .route_alias("nope", "live", hook_sim::AliasRouting::to("1"))
        .unwrap_err();
    assert_eq!(unknown.to_string(), "no function nope: add it first");
}

/// The HTTP API answers as API Gateway does: the function's status, headers and body, and
/// nothing of Lambda's own headers (no X-Amz-Executed-Version: a check through the API
/// cannot tell which version answered unless the answer says so).
#[tokio::test]
async fn the_http_api_answers_without_lambdas_headers() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sim = Sim::start().await.unwrap();
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .alias("live", "1"),
    );
    let url = sim.api_url("hello-fn", "live");
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(format!("GET /{path}/hello?name=x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let head = answer.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{answer}");
    assert!(!head.contains("x-amz-executed-version"), "{answer}");
    assert!(answer.contains("Hello, x!"), "{answer}");
}

/// After a deployment, ListDeploymentTargets and GetDeploymentTarget answer as CodeDeploy
/// does for Lambda, parsed by the real SDK: the function:alias target, its lifecycle events
/// with their statuses, and the function's versions and weight.
#[tokio::test]
async fn deployment_targets_list_the_lifecycle_events() {
    use aws_sdk_codedeploy::types::{LifecycleEventStatus as S, TargetStatus};
    use hook_sim::deploy::{DeploymentPlan, FinalStatus};
    use hook_sim::schedule::TrafficRouting;

    let sim = Sim::start().await.unwrap();
    let (cd, _) = clients(&sim).await;
    let events_of = |target: &aws_sdk_codedeploy::types::LambdaTarget| -> Vec<(String, S)> {
        target
            .lifecycle_events()
            .iter()
            .map(|e| {
                (
                    e.lifecycle_event_name().unwrap().to_string(),
                    e.status().unwrap().clone(),
                )
            })
            .collect()
    };

    let good = DeploymentPlan::new("hello-fn", Behavior::hello("1"), Behavior::hello("2"))
        .config(
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            TrafficRouting::predefined("Canary10Percent5Minutes").unwrap(),
        )
        .speed(100_000.0);
    assert_eq!(sim.deploy(&good).await.status, FinalStatus::Succeeded);
    let ids = cd
        .list_deployment_targets()
        .deployment_id(&good.deployment_id)
        .send()
        .await
        .unwrap();
    assert_eq!(ids.target_ids(), ["hello-fn:live"]);
    let target = cd
        .get_deployment_target()
        .deployment_id(&good.deployment_id)
        .target_id("hello-fn:live")
        .send()
        .await
        .unwrap();
    let lambda = target.deployment_target().unwrap().lambda_target().unwrap();
    assert_eq!(lambda.status(), Some(&TargetStatus::Succeeded));
    assert_eq!(
        events_of(lambda),
        [
            ("Start".to_string(), S::Succeeded),
            ("BeforeAllowTraffic".to_string(), S::Skipped),
            ("AllowTraffic".to_string(), S::Succeeded),
            ("AfterAllowTraffic".to_string(), S::Skipped),
            ("End".to_string(), S::Succeeded),
        ]
    );
    let info = lambda.lambda_function_info().unwrap();
    assert_eq!(
        (
            info.current_version(),
            info.target_version(),
            info.target_version_weight()
        ),
        (Some("1"), Some("2"), 1.0)
    );

    // Stopped by an alarm while traffic shifts: AllowTraffic failed, the rest skipped.
    let flaky = Behavior::Custom(std::sync::Arc::new(|_| Behavior::FunctionError {
        error_type: "Flaky".into(),
        message: "always".into(),
    }));
    let bad = DeploymentPlan::new("hello-fn", Behavior::hello("1"), flaky)
        .config(
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            TrafficRouting::predefined("Canary10Percent5Minutes").unwrap(),
        )
        .alarm(hook_sim::alarm::Alarm::any_error("errors").through("live").version("2"))
        .speed(100_000.0);
    assert_eq!(sim.deploy(&bad).await.status, FinalStatus::RolledBack);
    let target = cd
        .get_deployment_target()
        .deployment_id(&bad.deployment_id)
        .target_id("hello-fn:live")
        .send()
        .await
        .unwrap();
    let lambda = target.deployment_target().unwrap().lambda_target().unwrap();
    assert_eq!(lambda.status(), Some(&TargetStatus::Failed));
    assert_eq!(
        events_of(lambda),
        [
            ("Start".to_string(), S::Succeeded),
            ("BeforeAllowTraffic".to_string(), S::Skipped),
            ("AllowTraffic".to_string(), S::Failed),
            ("AfterAllowTraffic".to_string(), S::Skipped),
            ("End".to_string(), S::Skipped),
        ]
    );
    assert_eq!(lambda.lambda_function_info().unwrap().target_version_weight(), 0.0);
    let e = cd
        .get_deployment_target()
        .deployment_id(&bad.deployment_id)
        .target_id("other:live")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_codedeploy::error::ProvideErrorMetadata::code(&e),
        Some("DeploymentTargetDoesNotExistException")
    );
}

/// A real function sees the ARN its caller named (`Lambda-Runtime-Invoked-Function-Arn`):
/// the alias when invoked through it, the version when invoked by version.
#[tokio::test]
async fn a_function_sees_the_arn_its_caller_named() {
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    let v2 = integration_tests::hello_process(&sim, "hello-fn", "2").await;
    sim.add_function("hello-fn", FunctionSetup::new().version("2", v2).alias("live", "2"));
    for qualifier in ["live", "2"] {
        let out = lambda
            .invoke()
            .function_name("hello-fn")
            .qualifier(qualifier)
            .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"name":"arn"}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(out.executed_version(), Some("2"));
    }
    let arns: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c.operation == "Next")
        .map(|c| c.request["invokedFunctionArn"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        arns,
        [
            format!(
                "arn:aws:lambda:{}:{}:function:hello-fn:live",
                hook_sim::REGION,
                hook_sim::ACCOUNT_ID
            ),
            format!(
                "arn:aws:lambda:{}:{}:function:hello-fn:2",
                hook_sim::REGION,
                hook_sim::ACCOUNT_ID
            ),
        ]
    );
}

/// Lambda runs concurrent invokes in execution environments of their own (a cold start
/// each), up to the function's concurrency; past a reserved concurrency it throttles with
/// `TooManyRequestsException`, which the SDK parses, and an HTTP API answers 500.
#[tokio::test]
async fn concurrent_invokes_get_environments_of_their_own_up_to_the_reserved_concurrency() {
    use hook_sim::{Concurrency, ProcessConfig};
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    // `slow` outlasts the 300 ms timeout: each invoke holds its environment that long.
    let slow = |name: &str, concurrency: Concurrency| {
        let mut config = ProcessConfig::new(name, integration_tests::release_bin("hello"))
            .env("HELLO_FAULT", "slow")
            .timeout(std::time::Duration::from_millis(300));
        config.concurrency = concurrency;
        config
    };
    let invoke = |name: &'static str| {
        lambda
            .invoke()
            .function_name(name)
            .qualifier("live")
            .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
            .send()
    };

    let open = sim.runtime(slow("open-fn", Concurrency::unreserved())).await.unwrap();
    sim.add_function(
        "open-fn",
        FunctionSetup::new()
            .version("1", Behavior::Process(open.clone()))
            .alias("live", "1"),
    );
    let (a, b) = tokio::join!(invoke("open-fn"), invoke("open-fn"));
    for out in [a.unwrap(), b.unwrap()] {
        assert_eq!(out.function_error(), Some("Unhandled"));
        let body = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
        assert!(body.contains("Sandbox.Timedout"), "{body}");
    }
    assert_eq!(open.environments(), 2, "two invokes at once, two environments");
    // Once idle, the first environment serves again: no third one.
    let _ = invoke("open-fn").await.unwrap();
    assert_eq!(open.environments(), 2);

    let capped = sim.runtime(slow("capped-fn", Concurrency::reserved(1))).await.unwrap();
    sim.add_function(
        "capped-fn",
        FunctionSetup::new()
            .version("1", Behavior::Process(capped.clone()))
            .alias("live", "1"),
    );
    let (a, b) = tokio::join!(invoke("capped-fn"), invoke("capped-fn"));
    let (ran, throttled) = match (a, b) {
        (Ok(ran), Err(e)) | (Err(e), Ok(ran)) => (ran, e),
        other => panic!("one invoke runs and one is throttled, not {other:?}"),
    };
    assert_eq!(ran.function_error(), Some("Unhandled"));
    let throttled = throttled.into_service_error();
    assert!(throttled.is_too_many_requests_exception(), "{throttled:?}");
    assert_eq!(capped.environments(), 1);
    let throttles = sim
        .calls()
        .iter()
        .filter(|c| c.operation == "Invoke" && c.status == 429)
        .count();
    assert_eq!(throttles, 1);
    // A throttled invoke is no invocation: the metrics count the one that ran, and the
    // throttle in `Throttles` only.
    let records: Vec<_> = sim
        .invocations()
        .into_iter()
        .filter(|i| i.function == "capped-fn")
        .collect();
    assert_eq!(records.iter().filter(|i| !i.throttled).count(), 1);
    assert_eq!(records.iter().filter(|i| i.throttled).count(), 1);
}

/// CloudWatch `GetMetricData` over Smithy RPC v2 CBOR, as the real aws-sdk-cloudwatch speaks
/// it: Lambda's metrics by the dimension sets Lambda publishes, from the invocations hook-sim
/// ran, published a minute after their minute unless told otherwise; errors parse into the
/// SDK's error codes.
#[tokio::test]
async fn get_metric_data_serves_lambdas_metrics_per_version() {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(&sim).await);
    let slow_or_failing = Behavior::Custom(std::sync::Arc::new(|payload| {
        if payload["fail"] == true {
            Behavior::FunctionError {
                error_type: "Boom".into(),
                message: "failed on purpose".into(),
            }
        } else {
            Behavior::Delay(
                std::time::Duration::from_millis(40),
                Box::new(Behavior::Respond(serde_json::json!({"ok": true}))),
            )
        }
    }));
    sim.add_function(
        "f",
        FunctionSetup::new()
            .version("1", Behavior::Respond(serde_json::json!({"ok": true})))
            .version("2", slow_or_failing)
            .alias_weighted("live", "1", "2", 0.5),
    );
    for i in 0..20 {
        let payload = if i == 3 { r#"{"fail":true}"# } else { "{}" };
        lambda
            .invoke()
            .function_name("f")
            .qualifier("live")
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .unwrap();
    }
    for _ in 0..2 {
        lambda.invoke().function_name("f").qualifier("2").send().await.unwrap();
    }

    let dims = |pairs: &[(&str, &str)]| -> Vec<Dimension> {
        pairs
            .iter()
            .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
            .collect()
    };
    let query = |id: &str, namespace: &str, name: &str, stat: &str, d: &[(&str, &str)]| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(namespace)
                            .metric_name(name)
                            .set_dimensions(Some(dims(d)))
                            .build(),
                    )
                    .period(3600)
                    .stat(stat)
                    .build(),
            )
            .build()
    };
    let through = |v: &'static str| [("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", v)];
    let queries = vec![
        query("inv1", "AWS/Lambda", "Invocations", "Sum", &through("1")),
        query("inv2", "AWS/Lambda", "Invocations", "Sum", &through("2")),
        query("err2", "AWS/Lambda", "Errors", "Sum", &through("2")),
        query("p99two", "AWS/Lambda", "Duration", "p99", &through("2")),
        query("p99one", "AWS/Lambda", "Duration", "p99", &through("1")),
        query("all", "AWS/Lambda", "Invocations", "Sum", &[("FunctionName", "f")]),
        query(
            "direct",
            "AWS/Lambda",
            "Invocations",
            "Sum",
            &[("FunctionName", "f"), ("Resource", "f:2")],
        ),
        // Lambda publishes no {FunctionName, ExecutedVersion}, and nothing in other namespaces.
        query(
            "unpublished",
            "AWS/Lambda",
            "Invocations",
            "Sum",
            &[("FunctionName", "f"), ("ExecutedVersion", "2")],
        ),
        query("custom", "Shop", "Invocations", "Sum", &[("FunctionName", "f")]),
    ];
    let now = std::time::SystemTime::now();
    let ask = |queries: Vec<MetricDataQuery>| {
        cw.get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time((now - std::time::Duration::from_secs(1800)).into())
            .end_time((now + std::time::Duration::from_secs(1800)).into())
            .send()
    };
    let values = values_by_id;

    // Published a minute after the minute ends: nothing yet.
    let out = ask(queries.clone()).await.unwrap();
    assert!(values(&out).values().all(Vec::is_empty), "{:?}", values(&out));

    sim.publish_metrics_at_once(true);
    let out = ask(queries).await.unwrap();
    let v = values(&out);
    assert_eq!(v["inv1"], [10.0]);
    assert_eq!(v["inv2"], [10.0]);
    assert_eq!(v["err2"], [1.0]);
    assert!(v["p99two"][0] >= 40.0 && v["p99one"][0] < 40.0, "{v:?}");
    assert_eq!(v["all"], [22.0]);
    assert_eq!(v["direct"], [2.0]);
    assert!(v["unpublished"].is_empty() && v["custom"].is_empty(), "{v:?}");
    let r = &out.metric_data_results()[0];
    assert_eq!(r.status_code().map(|s| s.as_str()), Some("Complete"));
    assert_eq!(r.label(), Some("Invocations"));
    let ts = r.timestamps()[0].secs();
    assert_eq!(ts % 60, 0, "periods start on the minute");
    assert!(ts <= now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);

    // Errors as CloudWatch gives them: the query-compatible code.
    let mut bad = query("p", "AWS/Lambda", "Duration", "p99", &through("2"));
    bad.metric_stat.as_mut().unwrap().period = Some(30);
    let e = ask(vec![bad]).await.unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterValue"),
        "{e:?}"
    );
    sim.inject("GetMetricData", Fault::Throttle, 1);
    let e = ask(vec![query("x", "AWS/Lambda", "Errors", "Sum", &through("2"))])
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e),
        Some("Throttling")
    );
    assert!(
        sim.calls()
            .iter()
            .any(|c| c.service == hook_sim::Service::CloudWatch && c.operation == "GetMetricData" && c.status == 200)
    );
}

/// An execution environment nobody invokes is reclaimed (what `hook-sim serve` does after ten
/// idle minutes, as Lambda does after some): its process stops, and the next invocation is a
/// cold start that works.
#[tokio::test]
async fn idle_environments_are_reclaimed_and_the_next_invoke_starts_cold() {
    let sim = Sim::start().await.unwrap();
    let config = hook_sim::ProcessConfig::new("hello-fn", integration_tests::release_bin("hello")).version("1");
    let f = sim.runtime(config).await.unwrap();
    let first = f.invoke(br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(first.function_error, None, "{}", first.log);
    assert!(first.log.contains("Init Duration"), "a cold start: {}", first.log);
    assert!(f.pid().await.is_some());
    assert_eq!(
        f.reclaim_idle(std::time::Duration::from_secs(3600)).await,
        0,
        "not idle that long"
    );
    let warm = f.invoke(br#"{"name":"b"}"#.to_vec()).await;
    assert!(!warm.log.contains("Init Duration"), "warm: {}", warm.log);
    assert_eq!(f.reclaim_idle(std::time::Duration::ZERO).await, 1);
    assert!(f.pid().await.is_none(), "the idle environment's process stopped");
    let again = f.invoke(br#"{"name":"c"}"#.to_vec()).await;
    assert_eq!(again.function_error, None, "{}", again.log);
    assert!(again.log.contains("Init Duration"), "a cold start again: {}", again.log);
    f.stop().await;
}

/// CloudWatch on every wire protocol boto3 has spoken to it: RPC v2 CBOR (current releases),
/// AWS JSON 1.0 and the query protocol (older ones, and the copies Lambda's Python runtimes
/// bundle), each through botocore's own serializers and parsers (tests/fixtures/
/// cloudwatch_wire.py): custom metrics in and out with their unit, Lambda's metrics by the
/// function's set and the account-wide `{}`, a unit that is not the metric's selecting nothing,
/// and an error with CloudWatch's code.
#[tokio::test]
async fn cloudwatch_answers_boto3_on_cbor_json_and_query() {
    let sim = Sim::start().await.unwrap();
    let (_, lambda) = clients(&sim).await;
    sim.add_function("f", FunctionSetup::new().version("1", Behavior::hello("1")));
    sim.add_function("g", FunctionSetup::new().version("1", Behavior::hello("1")));
    for name in ["f", "f", "f", "g"] {
        lambda.invoke().function_name(name).send().await.unwrap();
    }
    sim.publish_metrics_at_once(true);
    for protocol in ["smithy-rpc-v2-cbor", "json", "query"] {
        let out = tokio::process::Command::new(integration_tests::venv_bin("python"))
            .arg(integration_tests::workspace_root().join("tests/fixtures/cloudwatch_wire.py"))
            .args([sim.endpoint_url().as_str(), protocol, "f"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["protocol"], protocol, "{seen}");
        let r = &seen["results"];
        // Each protocol writes to the same store: the custom points of every run so far.
        assert!(r["p99"]["values"][0] == 500.0, "{protocol}: {seen}");
        assert_eq!(r["p99"]["status"], "Complete");
        assert!(
            r["samples"]["values"][0].as_f64().unwrap() >= 100.0,
            "{protocol}: {seen}"
        );
        assert_eq!(
            r["seconds"]["values"],
            serde_json::json!([]),
            "{protocol}: another unit, no data"
        );
        assert_eq!(
            r["invocations"]["values"],
            serde_json::json!([3.0]),
            "{protocol}: {seen}"
        );
        assert_eq!(
            r["account"]["values"],
            serde_json::json!([4.0]),
            "{protocol}: every function"
        );
        assert_eq!(r["wrongunit"]["values"], serde_json::json!([]), "{protocol}: {seen}");
        for (id, result) in r.as_object().unwrap() {
            assert_eq!(result["timestamps_are_datetimes"], true, "{protocol} {id}");
            assert_eq!(result["timestamps_on_the_minute"], true, "{protocol} {id}");
        }
        assert_eq!(seen["error"]["code"], "InvalidParameterValue", "{protocol}: {seen}");
        assert!(
            seen["error"]["message"].as_str().unwrap().contains("multiple of 60"),
            "{seen}"
        );
    }
    let puts = sim
        .calls()
        .iter()
        .filter(|c| c.service == hook_sim::Service::CloudWatch && c.operation == "PutMetricData" && c.status == 200)
        .count();
    assert_eq!(puts, 3, "one PutMetricData a protocol, recorded by its operation name");
}

/// A caller signing with a function's credentials acts as that function's role: what its
/// policies do not allow is refused with AWS's `AccessDeniedException` (its message naming the
/// role, the action and the resource), parsed as such by the real SDK clients; a caller without
/// a role here (this test's own) may call anything.
#[tokio::test]
async fn calls_signed_as_a_role_are_authorized_by_its_policies() {
    use hook_sim::iam::{Identity, Policy, access_key_for};
    let sim = Sim::start().await.unwrap();
    sim.add_function(
        "f",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .tag("team", "pay"),
    );
    let appspec = lambda_appspec("f", "live", "1", "1", &[("BeforeAllowTraffic", "hook")]);
    sim.add_deployment(DeploymentSetup::new("d-1", &appspec));
    let policy = Policy::parse(
        "hook",
        &serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "codedeploy:GetDeployment", "Resource": "*"},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "pay"}}},
        ]}),
    );
    sim.assume_role(
        "hook",
        Identity {
            role_arn: "arn:aws:iam::123456789012:role/hook-role".into(),
            session: "hook".into(),
            policies: vec![policy],
            boundary: None,
        },
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(aws_config::Region::new(hook_sim::REGION))
        .credentials_provider(aws_sdk_codedeploy::config::Credentials::new(
            access_key_for("hook"),
            "secret",
            None,
            None,
            "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let cd = aws_sdk_codedeploy::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    use aws_sdk_codedeploy::error::ProvideErrorMetadata;

    cd.get_deployment().deployment_id("d-1").send().await.unwrap();
    lambda.invoke().function_name("f").send().await.unwrap();
    let e = cd
        .put_lifecycle_event_hook_execution_status()
        .deployment_id("d-1")
        .lifecycle_event_hook_execution_id("x")
        .status(LifecycleEventStatus::Succeeded)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some(
            "User: arn:aws:sts::123456789012:assumed-role/hook-role/hook is not authorized to perform: \
             codedeploy:PutLifecycleEventHookExecutionStatus on resource: \
             arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:hello-app/hello-group because no \
             identity-based policy allows the codedeploy:PutLifecycleEventHookExecutionStatus action"
        )
    );
    sim.add_function("g", FunctionSetup::new().version("1", Behavior::hello("1")));
    let e = lambda.invoke().function_name("g").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&e),
        Some("AccessDeniedException")
    );
    let e = cw
        .get_metric_data()
        .metric_data_queries(
            aws_sdk_cloudwatch::types::MetricDataQuery::builder()
                .id("q")
                .expression("1")
                .build(),
        )
        .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(0))
        .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(60))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e),
        Some("AccessDenied"),
        "{e:?}"
    );
    let denied: Vec<String> = sim.denials().iter().map(|d| d.action.clone()).collect();
    assert_eq!(
        denied,
        [
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "lambda:InvokeFunction",
            "cloudwatch:GetMetricData"
        ]
    );

    // Not enforced: the same calls go through, and are recorded all the same.
    sim.set_enforcement(hook_sim::iam::Enforcement::Warn);
    lambda.invoke().function_name("g").send().await.unwrap();
    // Unsigned by a role here: anything goes.
    let (_, admin) = clients(&sim).await;
    sim.set_enforcement(hook_sim::iam::Enforcement::Enforce);
    admin.invoke().function_name("g").send().await.unwrap();
}

/// A real function process that writes Embedded Metric Format lines (tests/fixtures/
/// emf_function.py): CloudWatch's `GetMetricData` reads them as custom metrics, by their
/// namespace, dimensions and unit, once CloudWatch Logs would have extracted them.
#[tokio::test]
async fn embedded_metric_format_lines_of_a_real_function_are_custom_metrics() {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let bootstrap = integration_tests::python_bootstrap("emf-function", "emf_function.py", "");

    let sim = Sim::start().await.unwrap();
    let runtime = sim
        .runtime(hook_sim::ProcessConfig::new("shop", &bootstrap).version("1"))
        .await
        .unwrap();
    sim.add_function(
        "shop",
        FunctionSetup::new().version("1", Behavior::Process(runtime.clone())),
    );
    let (_, lambda) = clients(&sim).await;
    for payload in [r#"{"value": 10}"#, r#"{"value": 30, "fail": true}"#, r#"{"value": 20}"#] {
        lambda
            .invoke()
            .function_name("shop")
            .qualifier("1")
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .unwrap();
    }
    // Stopped, the process has written every line, and each has been read.
    runtime.stop().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(&sim).await);
    let query = |id: &str, name: &str, stat: &str, unit: Option<&str>| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("Shop")
                            .metric_name(name)
                            .dimensions(Dimension::builder().name("service").value("orders").build())
                            .build(),
                    )
                    .period(3600)
                    .stat(stat)
                    .set_unit(unit.map(aws_sdk_cloudwatch::types::StandardUnit::from))
                    .build(),
            )
            .build()
    };
    let now = std::time::SystemTime::now();
    let ask = || {
        cw.get_metric_data()
            .metric_data_queries(query("value", "OrderValue", "Sum", None))
            .metric_data_queries(query("failed", "OrderFailed", "Sum", Some("Count")))
            .metric_data_queries(query("max", "OrderValue", "Maximum", None))
            .metric_data_queries(query("seconds", "OrderFailed", "Sum", Some("Seconds")))
            .start_time((now - std::time::Duration::from_secs(1800)).into())
            .end_time((now + std::time::Duration::from_secs(1800)).into())
            .send()
    };
    let values = values_by_id;
    // Extracted from the logs a minute later: nothing yet.
    let v = values(&ask().await.unwrap());
    assert!(v.values().all(Vec::is_empty), "{v:?}");
    sim.publish_metrics_at_once(true);
    let v = values(&ask().await.unwrap());
    assert_eq!(v["value"], [60.0], "{v:?}");
    assert_eq!(v["failed"], [1.0], "{v:?}");
    assert_eq!(v["max"], [30.0], "{v:?}");
    assert!(v["seconds"].is_empty(), "another unit: {v:?}");
}

/// `GetAlias` and `UpdateAlias` as the real aws-sdk-lambda speaks them: a served alias is
/// shifted by hand as a deployment shifts it (a weighted second version, then all of it), and
/// invokes through it follow; bad routings are refused as Lambda refuses them.
#[tokio::test]
async fn update_alias_shifts_a_served_alias_as_a_deployment_does() {
    use aws_sdk_lambda::types::AliasRoutingConfiguration;
    let sim = Sim::start().await.unwrap();
    sim.add_function(
        "f",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", Behavior::hello("2"))
            .alias("live", "1"),
    );
    let (_, lambda) = clients(&sim).await;
    let alias = lambda.get_alias().function_name("f").name("live").send().await.unwrap();
    assert_eq!(alias.function_version(), Some("1"));
    assert!(alias.routing_config().is_none());

    let weights = AliasRoutingConfiguration::builder()
        .additional_version_weights("2", 0.5)
        .build();
    let updated = lambda
        .update_alias()
        .function_name("f")
        .name("live")
        .function_version("1")
        .routing_config(weights)
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .and_then(|w| w.get("2")),
        Some(&0.5)
    );
    assert_eq!(
        sim.alias_routing("f", "live").unwrap(),
        hook_sim::AliasRouting::weighted("1", "2", 0.5)
    );
    let mut ran = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let out = lambda
            .invoke()
            .function_name("f")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        ran.insert(out.executed_version().unwrap().to_string());
    }
    assert_eq!(ran.into_iter().collect::<Vec<_>>(), ["1", "2"], "half the invokes each");

    // All of it, the routing cleared.
    lambda
        .update_alias()
        .function_name("f")
        .name("live")
        .function_version("2")
        .routing_config(AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    assert_eq!(sim.alias_routing("f", "live").unwrap(), hook_sim::AliasRouting::to("2"));

    let e = lambda
        .update_alias()
        .function_name("f")
        .name("live")
        .function_version("9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterValueException"),
        "{e:?}"
    );
    let e = lambda
        .get_alias()
        .function_name("f")
        .name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&e),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn the_clock_answers_the_time_and_a_wait_ends_when_its_time_comes() {
    let sim = Sim::start().await.unwrap();
    let url = sim.clock_url("CodeDeployHook_x");
    assert!(
        sim.aws_env_for("CodeDeployHook_x")
            .contains(&("HOOK_CLOCK_ENDPOINT".to_string(), url.clone())),
        "a function's process is told where the clock is"
    );
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let now_of = |v: serde_json::Value| v["now_ms"].as_u64().unwrap();
    let client = reqwest::Client::new();
    let ask = |until: u64| {
        let client = client.clone();
        let url = format!("{url}?until_ms={until}");
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let before = wall();
    let now = now_of(ask(0).await);
    assert!(
        now + 1 >= before && now <= wall() + 1,
        "real time outside a deployment: {before} {now}"
    );
    // Outside a deployment a wait takes real time (hook_sim's clock_api tests, on tokio's paused
    // clock); a test without an engine has the clock jump instead: nothing to wait for.
    sim.skip_clock_waits(true);
    let until = now + 3_600_000;
    assert!(now_of(ask(until).await) >= until, "a wait ends when the time comes");
    assert!(now_of(ask(1).await) >= until, "a time already past answers at once");
}
