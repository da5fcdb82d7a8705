//! `hook-sim simulate`: the example template's deployment, with the release binaries of
//! the function and its hooks, through hook-sim's deployment engine.

use std::process::Command;
use std::time::Duration;

use hook_sim::alarm::Alarm;
use hook_sim::deploy::{DeploymentPlan, FinalStatus, Phase};
use hook_sim::schedule::TrafficRouting;
use hook_sim::{Behavior, ProcessConfig, Service, Sim};
use integration_tests::{node_modules, release_bin, target_dir, venv_bin, workspace_root};
use serde_json::{Value, json};

/// Runs `hook-sim simulate ARGS --report json` from the repository root: exit code and report.
fn simulate(args: &[&str]) -> (i32, Value) {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .arg("simulate")
        .args(args)
        .args(["--report", "json"])
        .output()
        .expect("hook-sim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited"), report)
}

/// Runs `hook-sim simulate ARGS`, which must end as bad usage (exit 2): its message.
fn usage_error(args: &[&str]) -> String {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .arg("simulate")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

/// The statuses the hooks reported, in order.
fn reported_statuses(report: &Value) -> Vec<&str> {
    events(report, "hook_reported")
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect()
}

fn events<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["outcome"]["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .filter(|e| e["event"] == kind)
        .collect()
}

fn weights(report: &Value) -> Vec<f64> {
    events(report, "traffic_shifted")
        .iter()
        .map(|e| e["weight"].as_f64().unwrap())
        .collect()
}

fn requests(report: &Value, version: &str) -> u64 {
    report["outcome"]["traffic"][version]["requests"].as_u64().unwrap_or(0)
}

#[test]
fn a_good_version_deploys() {
    let (code, r) = simulate(&[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["outcome"]["status"], "Succeeded");
    assert_eq!(r["config"]["name"], "Canary30Percent3Minutes");
    assert_eq!(weights(&r), [0.3, 1.0]);
    let reports: Vec<(&str, &str)> = events(&r, "hook_reported")
        .iter()
        .map(|e| (e["lifecycle_event"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reports,
        [("BeforeAllowTraffic", "Succeeded"), ("AfterAllowTraffic", "Succeeded")]
    );
    // The canary waits three simulated minutes before shifting the rest: shifts are events
    // of the simulated clock, exact at any speed.
    let shifts = events(&r, "traffic_shifted");
    let gap = shifts[1]["at_s"].as_f64().unwrap() - shifts[0]["at_s"].as_f64().unwrap();
    assert!((gap - 180.0).abs() < 0.01, "{gap} s between the shifts");
    assert!(requests(&r, "2") > 0, "the target version served traffic");
    assert_eq!(r["outcome"]["traffic"]["2"]["errors"], 0);
    assert_eq!(r["alarms"][0]["name"], "HelloErrorsAlarm");
    assert_eq!(r["alarms"][0]["source"]["metric"]["executed_version"], "2");
}

#[test]
fn a_version_failing_the_pre_traffic_checks_rolls_back_before_any_traffic_shifts() {
    let (code, r) = simulate(&["--target-env", "HELLO_FAULT=error"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["status"], "RolledBack");
    assert_eq!(
        r["outcome"]["rollback"],
        json!({"cause": "hook_failed", "lifecycle_event": "BeforeAllowTraffic", "function": "CodeDeployHook_sam-app-pre-traffic"})
    );
    assert!(weights(&r).is_empty(), "no traffic shifted: {r:#}");
    assert_eq!(r["outcome"]["max_weight"], 0.0);
    // (Version 1 may have served none either: the deployment lasts as long as the hook's
    // real run, often less than the 0.6 s between two requests.)
    assert_eq!(requests(&r, "2"), 0, "version 2 served no traffic");
    assert!(
        events(&r, "hook_invoked")
            .iter()
            .all(|e| e["lifecycle_event"] == "BeforeAllowTraffic")
    );
    // The hook's own account of why, from its log.
    let log = r["hook_logs"]["CodeDeployHook_sam-app-pre-traffic"].to_string();
    assert!(log.contains("HELLO_FAULT=error: version 2 fails on purpose"), "{log}");
}

#[test]
fn errors_under_traffic_fire_the_alarm_and_roll_back() {
    // `flaky` fails one invocation in ten: the pre-traffic smoke checks pass, traffic does not.
    let (code, r) = simulate(&["--target-env", "HELLO_FAULT=flaky"]);
    assert_eq!(code, 1, "{r:#}");
    let rollback = &r["outcome"]["rollback"];
    assert_eq!(rollback["cause"], "alarm", "{r:#}");
    assert_eq!(rollback["alarm"], "HelloErrorsAlarm");
    assert!(rollback["value"].as_f64().unwrap() >= 1.0);
    // As CodeDeploy reports it: stopped by the alarm, rolled back by a deployment of its own.
    assert_eq!(r["outcome"]["deployment_status"], "Stopped", "{r:#}");
    assert_eq!(r["outcome"]["error_code"], "ALARM_ACTIVE");
    assert!(
        r["outcome"]["rollback_deployment_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("d-")),
        "{r:#}"
    );
    assert_eq!(
        events(&r, "hook_reported")[0]["status"],
        "Succeeded",
        "the smoke checks passed"
    );
    assert_eq!(weights(&r), [0.3], "stopped during the canary");
    assert!(r["outcome"]["traffic"]["2"]["errors"].as_u64().unwrap() >= 1);
    assert!(events(&r, "alarm_fired").len() == 1);
    assert!(
        !events(&r, "hook_invoked")
            .iter()
            .any(|e| e["lifecycle_event"] == "AfterAllowTraffic"),
        "AfterAllowTraffic never ran"
    );
}

#[test]
fn an_error_rate_alarm_in_metric_math_stops_a_linear_deployment() {
    let template = [
        "--template",
        "tests/fixtures/error-rate.yaml",
        "--target-env",
        "HELLO_FAULT=flaky",
        "--speed",
        "100000",
        "--seed",
        "7",
    ];
    let (code, r) = simulate(&template);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["config"]["name"], "Linear25");
    assert_eq!(
        r["alarms"][0]["source"]["expression"]["text"],
        "100 * errors / invocations"
    );
    let rollback = &r["outcome"]["rollback"];
    assert_eq!(rollback["cause"], "alarm", "{r:#}");
    assert_eq!(rollback["alarm"], "ErrorRate");
    assert!(rollback["value"].as_f64().unwrap() > 5.0, "{rollback}");
    // One failure in ten on version 2, diluted by version 1 through the alias: the rate passes
    // 5 % only once half of the traffic or more is on version 2. Each step lasts 3 minutes:
    // long enough for a period within it to end and be evaluated a minute later (with 1-minute
    // steps the deployment would end before the data of its last steps arrived, in AWS too).
    let max = r["outcome"]["max_weight"].as_f64().unwrap();
    assert!((0.5..1.0).contains(&max), "stopped at {max}");

    // A looser threshold lets the same version through.
    let mut looser = template.to_vec();
    looser.extend(["--parameter", "MaxErrorRate=20"]);
    let (code, r) = simulate(&looser);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(weights(&r), [0.25, 0.5, 0.75, 1.0]);
}

#[test]
fn a_hook_that_never_reports_times_out_and_rolls_back() {
    // `hello` as the pre-traffic hook: it answers its invocation and never reports a status.
    let hello = release_bin("hello");
    let (code, r) = simulate(&[
        "--bin",
        &format!("PreTrafficHook={}", hello.display()),
        "--speed",
        "7200",
    ]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_timed_out");
    assert_eq!(events(&r, "hook_returned_without_status").len(), 1);
    assert_eq!(events(&r, "hook_timed_out").len(), 1);
    assert!(
        r["outcome"]["simulated_s"].as_f64().unwrap() >= 3600.0,
        "CodeDeploy waits an hour"
    );
    assert!(weights(&r).is_empty());
}

#[test]
fn a_linear_config_shifts_ten_steps() {
    let (code, r) = simulate(&["--config", "Linear10PercentEvery1Minute", "--speed", "120"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(
        r["config"]["name"],
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    );
    let w = weights(&r);
    let expected: Vec<f64> = (1..=10).map(|i| f64::from(i) / 10.0).collect();
    assert_eq!(w.len(), 10, "{w:?}");
    for (got, want) in w.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-9, "{w:?}");
    }
    let at: Vec<f64> = events(&r, "traffic_shifted")
        .iter()
        .map(|e| e["at_s"].as_f64().unwrap())
        .collect();
    // A minute apart, give or take the wall clock's jitter (10 simulated seconds are 83 ms at
    // ×120; the exact schedule is tested on tokio's paused clock in hook-sim).
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((50.0..70.0).contains(&gap), "steps {gap} s apart: {at:?}");
    }
}

#[test]
fn hook_runner_with_a_spec_is_the_pre_traffic_hook() {
    let (code, r) = simulate(&["--parameter", "PreTrafficHookKind=spec"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["hooks"][0]["function"], "CodeDeployHook_sam-app-spec");
    let logs = r["hook_logs"]["CodeDeployHook_sam-app-spec"]
        .as_array()
        .expect("the spec hook's log");
    let checks: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l.as_str()?).ok())
        .filter(|v| v["record"] == "check")
        .map(|v| json!([v["name"], v["outcome"]]))
        .collect();
    assert_eq!(
        checks,
        [
            json!(["greets the canary", "Passed"]),
            json!(["fails nothing under a little load", "Passed"]),
            json!(["greets through the HTTP API", "Skipped"]),
        ]
    );
}

#[test]
fn bad_usage_exits_2_with_what_to_do() {
    let run = |args: &[&str]| {
        let out = Command::new(release_bin("hook-sim"))
            .current_dir(workspace_root())
            .arg("simulate")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--config", "Canary99Percent"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Linear10PercentEvery1Minute") && err.contains("Canary30Percent3Minutes"),
        "{err}"
    );
    let (code, err) = run(&["--function", "Nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("functions with a DeploymentPreference: HelloFunction"),
        "{err}"
    );
    let (code, err) = run(&["--template", "missing.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read template missing.yaml"), "{err}");
    let (code, err) = run(&["--speed", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--speed 0"), "{err}");
    let (code, err) = run(&["--speed", "-1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--speed -1: give a number"), "{err}");
    let (code, err) = run(&["--parameter", "PreTrafficHookKind=python"]);
    assert_eq!(code, 2);
    assert!(err.contains("not one of its AllowedValues (rust, spec)"), "{err}");
    let (code, err) = run(&["--parameter", "DeploymentType=Canary50Percent1Minute"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("DeploymentType=Canary50Percent1Minute: not one of its AllowedValues"),
        "{err}"
    );
    let (code, err) = run(&["--bin", "PreTrafficHook=/nonexistent/hook"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/hook (the binary of PreTrafficHook) does not exist"),
        "{err}"
    );
    let (code, _) = run(&["--report", "yaml"]);
    assert_eq!(code, 2);

    // A template whose names refer to each other is refused, saying where, instead of
    // recursing until the stack overflows; so are conditions in a cycle.
    let dir = integration_tests::target_dir().join("test-tmp").join("cyclic-template");
    std::fs::create_dir_all(&dir).unwrap();
    let names = dir.join("names.yaml");
    let template = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .unwrap()
        .replacen(
            "Resources:\n",
            "Resources:\n  LoopB:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !GetAtt HelloFunction.Arn\n",
            1,
        )
        .replacen(
            "      Description: Greets by name; the function the deployment ships.\n",
            "      Description: Greets by name; the function the deployment ships.\n      FunctionName: !Sub '${LoopB}-hello'\n",
            1,
        );
    std::fs::write(&names, template).unwrap();
    let (code, err) = run(&["--template", names.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refers back to itself through HelloFunction → LoopB → HelloFunction"),
        "{err}"
    );
    let conditions = dir.join("conditions.yaml");
    let template = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .unwrap()
        .replacen(
            "Conditions:\n",
            "Conditions:\n  Ping: !Not [!Condition Pong]\n  Pong: !Not [!Condition Ping]\n",
            1,
        );
    std::fs::write(&conditions, template).unwrap();
    let (code, err) = run(&["--template", conditions.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in a cycle (Ping → Pong → Ping)"), "{err}");
}

/// The example deployment in-process: `hello` versions 1 and 2 and the `pre-traffic` and
/// `post-traffic` hooks as real processes, a canary of 10 % for 5 minutes at ×600, an alarm on
/// the new version's errors.
async fn example_plan(sim: &Sim) -> DeploymentPlan {
    // The post-traffic hook watches 3 minutes after the shift: its timeout is above that.
    let process = |name: &str, bin: &str, version: &str| {
        ProcessConfig::new(name, release_bin(bin))
            .version(version)
            .timeout(Duration::from_secs(300))
    };
    let v1 = sim.runtime(process("hello-fn", "hello", "1")).await.unwrap();
    let v2 = sim.runtime(process("hello-fn", "hello", "2")).await.unwrap();
    let pre = sim
        .runtime(process("CodeDeployHook_pre", "pre-traffic", "$LATEST"))
        .await
        .unwrap();
    let post = sim
        .runtime(
            process("CodeDeployHook_post", "post-traffic", "$LATEST").env("API_URL", &sim.api_url("hello-fn", "live")),
        )
        .await
        .unwrap();
    let mut plan = DeploymentPlan::new("hello-fn", Behavior::Process(v1), Behavior::Process(v2))
        .config(
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            TrafficRouting::predefined("Canary10Percent5Minutes").unwrap(),
        )
        .hook(Phase::BeforeAllowTraffic, "CodeDeployHook_pre", Behavior::Process(pre))
        .hook(Phase::AfterAllowTraffic, "CodeDeployHook_post", Behavior::Process(post))
        .alarm(Alarm::any_error("errors").version("2"))
        .speed(600.0);
    plan.resource = "HelloFunction".into();
    plan
}

/// The engine in-process, with the example hooks: what they receive and the calls they make
/// are the shapes AWS documents.
#[tokio::test]
async fn hooks_see_aws_shaped_events_and_calls() {
    let sim = Sim::start().await.unwrap();
    let plan = example_plan(&sim).await;
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:#?}", outcome.timeline);
    let id = &plan.deployment_id;
    assert!(id.len() == 11 && id.starts_with("d-"), "{id}");

    // Each hook received exactly CodeDeploy's payload.
    let calls = sim.calls();
    let hook_events: Vec<&Value> = calls
        .iter()
        .filter(|c| c.service == Service::Runtime && c.operation == "Next")
        .filter(|c| c.request["function"].as_str().unwrap().starts_with("CodeDeployHook_"))
        .map(|c| &c.request["event"])
        .collect();
    assert_eq!(hook_events.len(), 2);
    let mut execution_ids = Vec::new();
    for event in &hook_events {
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["DeploymentId", "LifecycleEventHookExecutionId"]);
        // The model of aws_lambda_events, written from AWS's documentation, reads it.
        let typed: aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent =
            serde_json::from_value((*event).clone()).expect("a CodeDeploy lifecycle event");
        assert_eq!(&typed.deployment_id, id);
        execution_ids.push(typed.lifecycle_event_hook_execution_id);
    }
    assert_ne!(execution_ids[0], execution_ids[1], "one execution per lifecycle event");

    // Each reported once, with the execution id it was given.
    let puts: Vec<&Value> = calls
        .iter()
        .filter(|c| c.operation == "PutLifecycleEventHookExecutionStatus")
        .map(|c| &c.request)
        .collect();
    assert_eq!(
        puts,
        [
            &json!({"deploymentId": id, "lifecycleEventHookExecutionId": execution_ids[0], "status": "Succeeded"}),
            &json!({"deploymentId": id, "lifecycleEventHookExecutionId": execution_ids[1], "status": "Succeeded"}),
        ]
    );
    for c in calls.iter().filter(|c| c.operation == "GetDeployment") {
        assert_eq!(c.request, json!({"deploymentId": id}));
        assert_eq!(c.status, 200);
    }
    // The pre-traffic hook invoked version 2 directly; the post-traffic one the alias too.
    let invoked: Vec<(String, String)> = calls
        .iter()
        .filter(|c| c.service == Service::Lambda && c.operation == "Invoke")
        .map(|c| {
            (
                c.request["FunctionName"].as_str().unwrap().to_string(),
                c.request["Qualifier"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(invoked.iter().all(|(f, _)| f == "hello-fn"), "{invoked:?}");
    assert!(invoked.contains(&("hello-fn".into(), "2".into())));
    assert!(invoked.contains(&("hello-fn".into(), "live".into())));

    // CodeDeploy's view of the deployment: the revision's digest only (each hook asked
    // GetApplicationRevision for it), the AppSpec as SAM writes it, and the end state.
    let info = sim.deployment_info(id).unwrap();
    assert_eq!(info["status"], "Succeeded");
    assert_eq!(info["computePlatform"], "Lambda");
    assert_eq!(
        info["deploymentConfigName"],
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    );
    let sha = &info["revision"]["appSpecContent"]["sha256"];
    assert!(info["revision"]["appSpecContent"]["content"].is_null(), "{info:#}");
    let revision_calls: Vec<&Value> = calls
        .iter()
        .filter(|c| c.operation == "GetApplicationRevision")
        .map(|c| &c.request["revision"]["appSpecContent"]["sha256"])
        .collect();
    assert_eq!(revision_calls, [sha, sha], "one GetApplicationRevision a hook");
    let appspec: Value = serde_json::from_str(&plan.appspec()).unwrap();
    assert_eq!(
        appspec,
        json!({
            // As CloudFormation writes it for an alias update: a string.
            "version": "0.0",
            "Resources": [{"HelloFunction": {"Type": "AWS::Lambda::Function", "Properties": {
                "Name": "hello-fn", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}],
            "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_pre"}, {"AfterAllowTraffic": "CodeDeployHook_post"}],
        })
    );
    assert_eq!(
        sim.alias_routing("hello-fn", "live").unwrap(),
        hook_sim::AliasRouting::to("2")
    );
}

/// The timeline's events in order, each with its simulated time.
fn timeline_at(report: &Value) -> Vec<(String, f64)> {
    report["outcome"]["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["at_s"].as_f64().unwrap()))
        .collect()
}

/// The speed changes how long a rehearsal takes, never its answer: the same scenarios (with
/// the same routing seed) at ×60, ×600 and ×100000 give the same outcome, the same events in the same order, at the
/// same simulated times (within the hooks' own real durations, which stay real), and the
/// same alarm value.
#[test]
fn the_outcome_does_not_depend_on_the_speed() {
    let scenarios: [(&str, &[&str], &[&str]); 3] = [
        ("a good version", &[], &["60", "600", "100000"]),
        (
            "errors under traffic",
            &["--target-env", "HELLO_FAULT=flaky"],
            &["60", "600", "100000"],
        ),
        // A hook that never reports waits out CodeDeploy's hour: a minute of real time at
        // ×60, so this one runs at the two higher speeds.
        (
            "a silent hook",
            &["--bin", "PreTrafficHook=/bin/true"],
            &["600", "100000"],
        ),
    ];
    for (name, args, speeds) in scenarios {
        let runs: Vec<(String, i32, Value)> = speeds
            .iter()
            .map(|speed| {
                let mut all = args.to_vec();
                all.extend(["--speed", speed, "--seed", "7"]);
                let (code, r) = simulate(&all);
                (speed.to_string(), code, r)
            })
            .collect();
        let (_, code, first) = &runs[0];
        for (speed, other_code, other) in &runs[1..] {
            assert_eq!(code, other_code, "{name}: exit code at ×{speed}");
            assert_eq!(
                first["outcome"]["status"], other["outcome"]["status"],
                "{name} at ×{speed}"
            );
            assert_eq!(
                first["outcome"]["rollback"], other["outcome"]["rollback"],
                "{name} at ×{speed}"
            );
            let (a, b) = (timeline_at(first), timeline_at(other));
            let kinds = |t: &[(String, f64)]| t.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
            assert_eq!(
                kinds(&a),
                kinds(&b),
                "{name}: the events at ×{} and ×{speed}",
                runs[0].0
            );
            for ((kind, x), (_, y)) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() < 2.0,
                    "{name}: {kind} at {x} s at ×{}, at {y} s at ×{speed}",
                    runs[0].0
                );
            }
        }
        match name {
            "a good version" => assert_eq!(first["outcome"]["status"], "Succeeded", "{first:#}"),
            "errors under traffic" => {
                let fired = events(first, "alarm_fired");
                assert_eq!(fired.len(), 1, "{first:#}");
                // The canary's first errors fall in the wall-clock minute it started in or the
                // next; that minute is evaluated a minute after it ends.
                let at = fired[0]["at_s"].as_f64().unwrap();
                assert!((60.0..=180.0).contains(&at), "detected at {at} s: {first:#}");
                for (_, _, r) in &runs {
                    assert_eq!(events(r, "alarm_fired")[0]["value"], fired[0]["value"]);
                }
            }
            _ => {
                assert_eq!(first["outcome"]["rollback"]["cause"], "hook_timed_out", "{first:#}");
                assert_eq!(first["outcome"]["simulated_s"], 3600.0, "{first:#}");
            }
        }
    }
}

/// A version that makes no errors but answers 300 ms late (`HELLO_FAULT=latency`) passes the
/// smoke checks and every error alarm; the post-traffic hook's metrics check, reading
/// CloudWatch's figures for the canary's traffic from hook-sim, stops it by both versions'
/// p99 — at two speeds, with the same verdict.
/// The line the post-traffic hook logged for its metrics check.
fn metrics_record(r: &Value) -> Value {
    r["hook_logs"]["CodeDeployHook_sam-app-post-traffic"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l.as_str()?).ok())
        .find(|l| l["record"] == "check" && l["name"] == "as fast and as sound as the current version")
        .unwrap_or_else(|| panic!("no record of the metrics check: {r:#}"))
}

#[test]
fn an_all_at_once_deployment_is_judged_by_the_watching_metrics_check() {
    // All at once there is no canary: the post-traffic metrics check watches the new version
    // for 3 minutes after the shift (on hook-sim's clock: no real wait), against the current
    // version's traffic before it.
    let runs: Vec<(&str, (i32, Value))> = std::thread::scope(|s| {
        let handles: Vec<_> = [&[][..], &["--fault", "delay=300ms"][..]]
            .map(|fault| {
                s.spawn(move || {
                    let mut args = vec!["--config", "AllAtOnce", "--speed", "100000", "--seed", "3"];
                    args.extend_from_slice(fault);
                    (fault.last().copied().unwrap_or("healthy"), simulate(&args))
                })
            })
            .into_iter()
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (_, (code, healthy)) = &runs[0];
    assert_eq!(*code, 0, "{healthy:#}");
    assert_eq!(weights(healthy), [1.0], "all at once");
    let record = metrics_record(healthy);
    assert_eq!(record["outcome"], "Passed", "{record:#}");
    let window = record["metrics"]["window"].as_str().unwrap();
    assert!(window.contains("watched 3m"), "{window}");
    assert!(
        window.contains("5m before the traffic shifting"),
        "the current version's figures come from before the shift: {window}"
    );
    let invocations = record["assertions"][0]["actual"].as_str().unwrap();
    assert!(
        !invocations.contains(" 0 (version 1)"),
        "the current version served traffic before the deployment: {invocations}"
    );
    let reported = events(healthy, "hook_reported");
    let after = reported.last().unwrap();
    assert_eq!(after["lifecycle_event"], "AfterAllowTraffic");
    assert!(
        after["at_s"].as_f64().unwrap() >= 180.0,
        "the hook reported after its 3 simulated minutes of watch: {after}"
    );

    let (_, (code, slow)) = &runs[1];
    assert_eq!(*code, 1, "{slow:#}");
    assert_eq!(
        slow["outcome"]["rollback"],
        json!({"cause": "hook_failed", "lifecycle_event": "AfterAllowTraffic", "function": "CodeDeployHook_sam-app-post-traffic"}),
        "{slow:#}"
    );
    let record = metrics_record(slow);
    assert_eq!(record["outcome"], "Failed", "{record:#}");
    let p99 = &record["assertions"][1];
    assert_eq!(p99["query"], "p99 Duration");
    assert_eq!(p99["passed"], false, "{record:#}");
}

#[test]
fn a_slower_version_is_rolled_back_by_the_post_traffic_metrics_check() {
    // Each run waits on the slow version in real time (some 30 s): side by side.
    let runs: Vec<(&str, (i32, Value))> = std::thread::scope(|s| {
        let handles: Vec<_> = ["600", "100000"]
            .map(|speed| {
                s.spawn(move || {
                    let run = simulate(&["--target-env", "HELLO_FAULT=latency", "--speed", speed, "--seed", "7"]);
                    (speed, run)
                })
            })
            .into_iter()
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut figures = Vec::new();
    for (speed, (code, r)) in runs {
        assert_eq!(code, 1, "×{speed}: {r:#}");
        assert_eq!(
            r["outcome"]["rollback"],
            json!({"cause": "hook_failed", "lifecycle_event": "AfterAllowTraffic", "function": "CodeDeployHook_sam-app-post-traffic"}),
            "×{speed}: {r:#}"
        );
        assert!(
            events(&r, "alarm_fired").is_empty(),
            "the error alarm stays quiet: {r:#}"
        );
        assert_eq!(r["outcome"]["traffic"]["2"]["errors"], 0, "{r:#}");
        assert_eq!(
            reported_statuses(&r),
            ["Succeeded", "Failed"],
            "the smoke checks passed, the metrics did not"
        );
        let log = r["hook_logs"]["CodeDeployHook_sam-app-post-traffic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let line = log
            .lines()
            .find(|l| l.contains("p99 Duration expected < 1.2 × current + 100ms"))
            .unwrap_or_else(|| panic!("×{speed}: no p99 verdict in the hook's log:\n{log}"));
        // Both versions' figures: the new one at least 300 ms, the current one far below.
        let figure = |version: &str| -> f64 {
            let end = line
                .find(&format!("ms (version {version})"))
                .unwrap_or_else(|| panic!("{line}"));
            let start = line[..end].rfind(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap() + 1;
            line[start..end].parse().unwrap()
        };
        let (new, current) = (figure("2"), figure("1"));
        assert!(new >= 300.0 && current < 100.0, "×{speed}: {line}");
        figures.push((speed, new, current));
    }
    assert_eq!(figures.len(), 2, "{figures:?}");
}

/// A hook written by others' rules (boto3 alone, the AppSpec only from
/// GetApplicationRevision's `revision.string.content`, GetDeployment's `computePlatform` and
/// `deploymentStyle` required) agrees with hook-sim: a good version deploys (exit 0), a
/// faulty one is rolled back by its report (exit 1).
#[test]
fn an_independent_boto3_hook_agrees_with_the_simulator() {
    let bin = format!("PreTrafficHook={}", boto3_hook("boto3-hook", "").display());

    let (code, r) = simulate(&["--bin", &bin, "--speed", "100000"]);
    assert_eq!(code, 0, "{r:#}");
    let reported = reported_statuses(&r);
    assert_eq!(reported, ["Succeeded", "Succeeded"], "{r:#}");
    let logs = r["hook_logs"]["CodeDeployHook_sam-app-pre-traffic"].to_string();
    assert!(logs.contains("reported Succeeded"), "{logs}");

    let (code, r) = simulate(&["--bin", &bin, "--speed", "100000", "--target-env", "HELLO_FAULT=error"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        r["outcome"]["rollback"],
        json!({"cause": "hook_failed", "lifecycle_event": "BeforeAllowTraffic", "function": "CodeDeployHook_sam-app-pre-traffic"})
    );

    // After traffic, with a metrics call (boto3's CloudWatch wire), under the post-traffic
    // hook's role: it reads the canary's invocations.
    let metrics = format!(
        "PostTrafficHook={}",
        boto3_hook("boto3-metrics-hook", "BOTO3_HOOK_METRICS=1").display()
    );
    let (code, r) = simulate(&["--bin", &metrics, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    let logs = r["hook_logs"]["CodeDeployHook_sam-app-post-traffic"].to_string();
    assert!(
        logs.contains("metrics Complete [") && logs.contains("reported Succeeded"),
        "{logs}"
    );
    assert!(
        !logs.contains("metrics Complete []"),
        "the canary's invocations are counted: {logs}"
    );
    assert_eq!(r["iam"]["denied"], json!([]), "{r:#}");
}

/// A `bootstrap` that runs tests/fixtures/boto3_hook.py, with `env` (`K=V ...`) set.
fn boto3_hook(name: &str, env: &str) -> std::path::PathBuf {
    integration_tests::python_bootstrap(name, "boto3_hook.py", env)
}

/// A hook that fails after reporting is retried by Lambda all the same, a minute later, as
/// Lambda retries any failed async invoke: its status stands (the deployment goes on and
/// succeeds) and the retry's report is refused.
#[test]
fn lambda_retries_a_hook_that_fails_after_reporting() {
    let hook = boto3_hook("boto3-hook-fails-after", "BOTO3_HOOK_FAIL_AFTER_REPORT=1");
    let bin = format!("PreTrafficHook={}", hook.display());
    let (code, r) = simulate(&["--bin", &bin, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    let before = |kind: &str| -> Vec<Value> {
        events(&r, kind)
            .into_iter()
            .filter(|e| e["lifecycle_event"] == "BeforeAllowTraffic")
            .cloned()
            .collect()
    };
    let reported = before("hook_reported");
    assert_eq!(reported.len(), 1, "{r:#}");
    assert_eq!(reported[0]["status"], "Succeeded");
    let failed = before("hook_failed_after_reporting");
    assert!(!failed.is_empty(), "{r:#}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("clean-up failed after reporting")
    );
    assert_eq!(failed[0]["retried"], true);
    let attempts: Vec<(u64, f64)> = before("hook_invoked")
        .iter()
        .map(|e| (e["attempt"].as_u64().unwrap(), e["at_s"].as_f64().unwrap()))
        .collect();
    assert_eq!(attempts[0].0, 1);
    assert_eq!(attempts.get(1).map(|a| a.0), Some(2), "Lambda's retry: {attempts:?}");
    let gap = attempts[1].1 - failed[0]["at_s"].as_f64().unwrap();
    assert!((gap - 60.0).abs() < 0.01, "a minute after the failure: {gap}");
    let logs = r["hook_logs"]["CodeDeployHook_sam-app-pre-traffic"].to_string();
    assert!(logs.contains("LifecycleEventAlreadyCompletedException"), "{logs}");
}

/// template.yaml with `edit` applied, written under target/test-tmp.
fn edited_template(name: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    let dir = target_dir().join("test-tmp/templates");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edited).unwrap();
    path.display().to_string()
}

/// Alarms as CloudWatch would have them: one on a dimension set Lambda never publishes gets
/// no data in AWS; treating missing data as not breaching, it is a warning that names the fix
/// and never fires (the flaky version gets past the canary, to the post-traffic checks);
/// treating it as breaching, it stops every deployment as it starts; a period CloudWatch
/// refuses is an error.
#[test]
fn alarms_aws_could_never_evaluate_do_not_fire() {
    let no_resource = edited_template("no-resource.yaml", |t| {
        t.replace(
            "        - Name: Resource\n          Value: !Sub ${HelloFunction}:live\n",
            "",
        )
    });
    let (code, r) = simulate(&[
        "--template",
        &no_resource,
        "--target-env",
        "HELLO_FAULT=flaky",
        "--speed",
        "100000",
    ]);
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("HelloErrorsAlarm")
            && warnings.contains("ExecutedVersion comes only with FunctionName and Resource"),
        "{warnings}"
    );
    assert!(events(&r, "alarm_fired").is_empty(), "{r:#}");
    assert_eq!(weights(&r), [0.3, 1.0], "past the canary: {r:#}");
    // Only the post-traffic checks are left to stop it. Whether they meet one of the failing
    // invocations depends on which execution environment serves each of them (`flaky` counts
    // per environment), so the outcome may be either; the hook ran, and the alarm did not.
    assert!(
        events(&r, "hook_reported")
            .iter()
            .any(|e| e["lifecycle_event"] == "AfterAllowTraffic"),
        "{r:#}"
    );
    assert!(
        code == 0 || r["outcome"]["rollback"]["lifecycle_event"] == "AfterAllowTraffic",
        "{r:#}"
    );

    assert!(
        warnings.contains("with TreatMissingData notBreaching it stays OK and never stops a deployment"),
        "{warnings}"
    );

    // The same alarm treating missing data as breaching: in AWS every period breaches, the
    // alarm is in ALARM before the deployment starts, and CodeDeploy stops it at once — a good
    // version too. `simulate` does the same, and `check` calls it a problem.
    let breaching = edited_template("no-resource-breaching.yaml", |t| {
        t.replace(
            "        - Name: Resource\n          Value: !Sub ${HelloFunction}:live\n",
            "",
        )
        .replace(
            "      TreatMissingData: notBreaching\n",
            "      TreatMissingData: breaching\n",
        )
    });
    let (code, r) = simulate(&["--template", &breaching, "--speed", "100000", "--seed", "5"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "alarm_before_start", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["alarm"], "HelloErrorsAlarm", "{r:#}");
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("stops every deployment"), "{warnings}");
    let (code, report) = check(&[&breaching]);
    assert_eq!(code, 1, "{report:#}");
    let problems = not_ok(&report);
    assert!(
        problems
            .iter()
            .any(|(on, what, verdict)| on == "alarms" && what == "alarm HelloErrorsAlarm" && verdict == "problem"),
        "{problems:?}"
    );

    let bad_period = edited_template("bad-period.yaml", |t| {
        t.replacen("      Period: 60\n", "      Period: 45\n", 1)
    });
    let err = usage_error(&["--template", &bad_period]);
    assert!(err.contains("CloudWatch refuses Period 45"), "{err}");
}

/// A real function's own Embedded Metric Format lines, stamped with its own clock (Python's
/// `time.time()`), feed an alarm on the custom metric: a target version that logs a failed
/// order on every request is stopped by it, and the same function logging none deploys. (The
/// simulated clock runs ahead of the function's: the lines are placed on it as on AWS's.)
#[test]
fn a_functions_own_emf_timestamps_reach_its_alarm() {
    let bootstrap = integration_tests::python_bootstrap("emf-orders", "emf_function.py", "");
    let alarmed = edited_template("emf-alarm.yaml", |t| {
        t.replacen(
            "        Hooks:\n          PreTraffic: !If [UseSpecHook, !Ref SpecHook, !Ref PreTrafficHook]\n          PostTraffic: !Ref PostTrafficHook\n",
            "",
            1,
        )
        .replacen(
            "          - !Ref HelloErrorsAlarm\n",
            "          - !Ref HelloErrorsAlarm\n          - !Ref OrdersFailedAlarm\n",
            1,
        )
        .replacen(
            "  # The hooks.",
            "  OrdersFailedAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      Namespace: Shop\n      MetricName: OrderFailed\n      Dimensions:\n        - Name: service\n          Value: orders\n      Statistic: Sum\n      Period: 60\n      EvaluationPeriods: 1\n      Threshold: 0\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n\n  # The hooks.",
            1,
        )
    });
    let bin = format!("HelloFunction={}", bootstrap.display());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--template",
            &alarmed,
            "--bin",
            &bin,
            "--speed",
            "100000",
            "--seed",
            "3",
        ];
        args.extend_from_slice(extra);
        simulate(&args)
    };
    let (code, r) = run(&["--target-env", "ORDERS_FAIL=1"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["alarm"], "OrdersFailedAlarm", "{r:#}");
    let (code, r) = run(&[]);
    assert_eq!(code, 0, "{r:#}");
}

/// A Python function run by a Python other than the version its `Runtime` names runs, with a
/// warning that says so and how to pick the right one; with the right one, no warning.
#[test]
fn a_python_of_another_version_is_said() {
    let python = venv_bin("python");
    let version = Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args([
            "simulate",
            "--template",
            "hook-examples/python/template.yaml",
            "--python",
        ])
        .arg(&python)
        .args(["--speed", "100000", "--seed", "7", "--report", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let warned = err.contains(&format!(
        "warning: HelloPython is a python3.12 function and {} is Python {version}: it runs, but what differs",
        python.display()
    ));
    assert_eq!(warned, version != "3.12", "{err}");
}

/// An alarm on the whole alias (no ExecutedVersion) that the current version's errors set off
/// before the deployment stops it as it starts, as CodeDeploy does: no hook runs, no traffic
/// shifts (the fix is blocked by the old version's errors).
#[test]
fn an_alarm_already_in_alarm_stops_the_deployment_as_it_starts() {
    let whole_alias = edited_template("whole-alias.yaml", |t| {
        t.replace(
            "        - Name: ExecutedVersion\n          Value: !GetAtt HelloFunction.Version.Version\n",
            "",
        )
    });
    let (code, r) = simulate(&[
        "--template",
        &whole_alias,
        "--current-env",
        "HELLO_FAULT=flaky",
        "--speed",
        "100000",
    ]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "alarm_before_start", "{r:#}");
    assert!(events(&r, "hook_invoked").is_empty(), "{r:#}");
    assert!(weights(&r).is_empty(), "{r:#}");
}

/// Template settings that change what AWS does but are not simulated are said, not ignored.
#[test]
fn settings_the_simulator_does_not_model_are_warned_about() {
    let template = edited_template("unmodeled.yaml", |t| {
        t.replacen(
            "      AutoPublishAlias: live\n",
            "      AutoPublishAlias: live\n      ProvisionedConcurrencyConfig:\n        ProvisionedConcurrentExecutions: 2\n",
            1,
        )
        .replacen(
            "        Alarms:\n",
            "        PassthroughCondition: true\n        Alarms:\n",
            1,
        )
    });
    let (code, r) = simulate(&["--template", &template, "--speed", "100000"]);
    assert_eq!(code, 0, "{r:#}");
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("ProvisionedConcurrencyConfig of HelloFunction is not simulated"),
        "{warnings}"
    );
    assert!(
        warnings.contains("DeploymentPreference.PassthroughCondition of HelloFunction is not simulated"),
        "{warnings}"
    );
}

/// `ReservedConcurrentExecutions` caps the function's environments as Lambda does: at 0
/// every invoke is throttled, so the pre-traffic hook's invoke of the new version fails and
/// the deployment is rolled back, and the traffic through the alias gets 500s.
#[test]
fn reserved_concurrency_throttles_as_lambda_does() {
    let template = edited_template("reserved.yaml", |t| {
        t.replacen(
            "      AutoPublishAlias: live\n",
            "      AutoPublishAlias: live\n      ReservedConcurrentExecutions: 0\n",
            1,
        )
    });
    let (code, r) = simulate(&["--template", &template, "--speed", "100000"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert!(
        r["warnings"].to_string().find("ReservedConcurrentExecutions").is_none(),
        "{r:#}"
    );
    let traffic = &r["outcome"]["traffic"];
    let throttled: u64 = traffic
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["throttled"].as_u64().unwrap_or(0))
        .sum();
    assert!(throttled > 0, "{r:#}");
}

/// A Python function (`Runtime: python3.12`, `Handler: app.handler`) runs under Lambda's
/// runtime interface client from PyPI (awslambdaric), checked by hook-runner with the same
/// smoke.yaml as the Rust function: a good version deploys, a faulty one is rolled back, and
/// the function's own words about its failure are in the report.
#[test]
fn a_python_function_deploys_and_a_faulty_one_rolls_back() {
    let python = venv_bin("python").display().to_string();
    let base = [
        "--template",
        "hook-examples/python/template.yaml",
        "--python",
        &python,
        "--speed",
        "100000",
        "--seed",
        "7",
    ];
    // `--build` builds the workspace binaries it names (hook-runner, another member's) from
    // the workspace, whichever folder the template is in.
    let mut built = base.to_vec();
    built.push("--build");
    let (code, r) = simulate(&built);
    assert_eq!(code, 0, "{r:#}");
    let reported = reported_statuses(&r);
    assert_eq!(reported, ["Succeeded", "Succeeded"], "{r:#}");
    assert!(requests(&r, "2") > 0, "{r:#}");
    let log = r["hook_logs"]["CodeDeployHook_sam-app-python-post"].to_string();
    assert!(
        log.contains("greets through the HTTP API"),
        "the post-traffic checks ran: {log}"
    );

    let mut faulty = base.to_vec();
    faulty.extend(["--target-env", "HELLO_FAULT=error"]);
    let (code, r) = simulate(&faulty);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["lifecycle_event"], "BeforeAllowTraffic");
    let own = r["function_logs"]["2"].to_string();
    assert!(own.contains("HELLO_FAULT=error: version 2 fails on purpose"), "{r:#}");
    assert!(r["function_logs"].get("1").is_none(), "version 1 never failed: {r:#}");

    // Without the runtime interface client, the error says what to install.
    let err = usage_error(&[
        "--template",
        "hook-examples/python/template.yaml",
        "--python",
        "/bin/false",
    ]);
    assert!(err.contains("pip install awslambdaric"), "{err}");
}

/// A version that cannot start says why: the end of its own log is in the report, not only
/// Lambda's "Runtime exited with error".
#[test]
fn a_version_that_cannot_start_shows_its_own_log() {
    let (code, r) = simulate(&["--target-env", "HELLO_FAULT=bogus", "--speed", "100000"]);
    assert_eq!(code, 1, "{r:#}");
    let own = r["function_logs"]["2"].to_string();
    assert!(own.contains("HELLO_FAULT=bogus is not a fault"), "{r:#}");
}

/// `hook-sim simulate | head -2` ends quietly, as command-line tools do when the reader is
/// gone: no panic, the status a shell gives a process ended by SIGPIPE.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::{BufRead as _, BufReader};
    let mut child = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args(["simulate", "--speed", "100000", "--seed", "7"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("hook-sim simulate:"), "{first}");
    drop(lines);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// CodeDeploy's notifications, as the template's `TriggerConfigurations` ask for them: each
/// event published to the topic with CodeDeploy's message (status, error information).
#[test]
fn notifications_follow_the_deployment() {
    let notified = |r: &Value| -> Vec<(String, Value)> {
        events(r, "notified")
            .iter()
            .map(|e| (e["trigger_event"].as_str().unwrap().to_string(), e["message"].clone()))
            .collect()
    };
    let (code, r) = simulate(&["--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    let good = notified(&r);
    let kinds: Vec<&str> = good.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["DeploymentStart", "DeploymentSuccess"], "{r:#}");
    let topic = events(&r, "notified")[0]["topic"].as_str().unwrap().to_string();
    assert_eq!(
        topic,
        format!(
            "arn:aws:sns:{}:{}:sam-app-hello-deployments",
            hook_sim::REGION,
            hook_sim::ACCOUNT_ID
        )
    );
    let done = &good[1].1;
    assert_eq!(done["status"], "Succeeded");
    assert_eq!(done["eventTriggerName"], "hello-deployments");
    assert_eq!(done["deploymentId"], r["outcome"]["deployment_id"]);
    assert!(
        done["completeTime"].is_string() && done["createTime"].is_string(),
        "{done}"
    );
    // A JSON text of counts as text, as CodeDeploy's notifications carry it.
    let overview: Value = serde_json::from_str(done["deploymentOverview"].as_str().unwrap()).unwrap();
    assert_eq!(overview["Succeeded"], "1", "{done}");
    assert_eq!(overview["Failed"], "0", "{done}");

    let (code, r) = simulate(&["--speed", "100000", "--seed", "7", "--target-env", "HELLO_FAULT=error"]);
    assert_eq!(code, 1, "{r:#}");
    let bad = notified(&r);
    let kinds: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["DeploymentStart", "DeploymentFailure", "DeploymentRollback"],
        "{r:#}"
    );
    assert_eq!(bad[1].1["status"], "Failed");
    assert_eq!(bad[1].1["errorInformation"]["ErrorCode"], "HOOK_EXECUTION_FAILURE");

    let (code, r) = simulate(&["--speed", "100000", "--seed", "7", "--target-env", "HELLO_FAULT=flaky"]);
    assert_eq!(code, 1, "{r:#}");
    let kinds: Vec<String> = notified(&r).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        ["DeploymentStart", "DeploymentStop", "DeploymentRollback"],
        "stopped by the alarm: {r:#}"
    );
}

/// A stack as `sls package` emits it with serverless-plugin-canary-deployments (plain
/// CloudFormation: an alias whose UpdatePolicy names the CodeDeploy deployment group, the
/// group's config, alarm and trigger): the binaries come from `--bin`, and the error says so.
#[test]
fn a_serverless_framework_stack_simulates() {
    let base = [
        "--template",
        "tests/fixtures/sls-stack.json",
        "--speed",
        "100000",
        "--seed",
        "7",
    ];
    let err = usage_error(&base);
    assert!(err.contains("--bin HelloLambdaFunction=PATH"), "{err}");

    let hello = format!("HelloLambdaFunction={}", release_bin("hello").display());
    let pre = format!("PreHookLambdaFunction={}", release_bin("pre-traffic").display());
    let mut args = base.to_vec();
    args.extend(["--bin", &hello, "--bin", &pre]);
    let (code, r) = simulate(&args);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["config"]["name"], "CodeDeployDefault.LambdaCanary10Percent5Minutes");
    assert_eq!(r["function"]["name"], "hello-canary-dev-hello");
    assert_eq!(r["alarms"][0]["name"], "HelloErrorsAlarm");
    assert_eq!(events(&r, "hook_reported")[0]["status"], "Succeeded", "{r:#}");
    assert_eq!(events(&r, "notified").len(), 2, "start and success: {r:#}");

    args.extend(["--target-env", "HELLO_FAULT=error"]);
    let (code, r) = simulate(&args);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
}

/// A stack as `cdk synth` emits it with `LambdaDeploymentGroup` (a custom canary config,
/// pre- and post-traffic hooks, an alarm): each function runs the `bootstrap` of its asset
/// folder beside the template, as CDK packages it.
#[test]
fn a_cdk_stack_simulates_from_its_asset_folders() {
    let dir = target_dir().join("test-tmp/cdk.out");
    let _ = std::fs::remove_dir_all(&dir);
    for (asset, bin) in [("hello", "hello"), ("pre", "pre-traffic"), ("post", "post-traffic")] {
        let folder = dir.join(format!("asset.{asset}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(release_bin(bin), folder.join("bootstrap")).unwrap();
    }
    let template = dir.join("HelloStack.template.json");
    std::fs::copy(workspace_root().join("tests/fixtures/cdk-stack.json"), &template).unwrap();
    let template = template.display().to_string();
    let base = ["--template", template.as_str(), "--speed", "100000", "--seed", "7"];

    let (code, r) = simulate(&base);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["config"]["name"], "Canary30Percent3Minutes");
    let reported: Vec<(&str, &str)> = events(&r, "hook_reported")
        .iter()
        .map(|e| (e["lifecycle_event"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reported,
        [("BeforeAllowTraffic", "Succeeded"), ("AfterAllowTraffic", "Succeeded")],
        "{r:#}"
    );

    let mut flaky = base.to_vec();
    flaky.extend(["--target-env", "HELLO_FAULT=flaky"]);
    let (code, r) = simulate(&flaky);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "alarm", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["alarm"], "HelloErrors");
}

/// Runs an example's `rehearse` script as the README shows it, with `args` for simulate: its
/// exit code and JSON report.
fn rehearse(example: &str, args: &[&str]) -> (i32, Value) {
    // The Node packages first, once per test process (the script's own call is then a no-op).
    node_modules(example);
    let out = Command::new(workspace_root().join("hook-examples").join(example).join("rehearse"))
        .args(args)
        .args(["--report", "json"])
        .output()
        .expect("the rehearse script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "hook-examples/{example}/rehearse: not a JSON report ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited"), report)
}

/// `rehearse --help` says what the script does and where its arguments go, at once: it builds
/// nothing first.
#[test]
fn the_rehearse_scripts_explain_themselves_without_building() {
    for example in ["cdk", "serverless"] {
        let out = Command::new(workspace_root().join("hook-examples").join(example).join("rehearse"))
            .arg("--help")
            // No cargo on this PATH: a script that tried to build would fail.
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with("Rehearses this "), "{example}: {text}");
        assert!(
            text.contains("Arguments go to `hook-sim simulate`"),
            "{example}: {text}"
        );
        assert!(!text.contains("set -euo"), "{example}: {text}");
    }
}

/// The CDK example (hook-examples/cdk: LambdaDeploymentGroup, pre- and post-traffic hooks, a
/// custom canary config, an alarm), as the README runs it (`hook-examples/cdk/rehearse`):
/// synthesized offline with the pinned CDK and this machine's builds as its assets, and
/// simulated; the synthesized template lints clean, a good version deploys, a faulty one is
/// rolled back. The same for its app that nests the packaged hook (`--app nested.js`).
#[test]
fn the_cdk_example_synthesizes_lints_and_simulates() {
    let (code, r) = rehearse("cdk", &["--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    let reported = reported_statuses(&r);
    assert_eq!(reported, ["Succeeded", "Succeeded"], "{r:#}");
    let (code, r) = rehearse("cdk", &["--speed", "100000", "--target-env", "HELLO_FAULT=error"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    lint_generated(&target_dir().join("examples/cdk/cdk.out/HelloStack.template.json"));

    // The app that nests the packaged hook (aws_sam.CfnApplication): CDK names the hook by the
    // ARN it builds around the application's HookName output; the hook is hook-runner, tests
    // only the tagged function (IAM enforced) and rolls a faulty version back. (Same output
    // folder as above: run after it, not beside it.)
    let (code, r) = rehearse("cdk", &["--app", "nested.js", "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(reported_statuses(&r), ["Succeeded", "Succeeded"], "{r:#}");
    for hook in r["hooks"].as_array().unwrap() {
        assert_eq!(hook["function"], "CodeDeployHook_NestedHookStack-smoke", "{r:#}");
        assert!(hook["binary"].as_str().unwrap().ends_with("hook-runner"), "{r:#}");
    }
    let (code, r) = rehearse(
        "cdk",
        &[
            "--app",
            "nested.js",
            "--speed",
            "100000",
            "--target-env",
            "HELLO_FAULT=error",
        ],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    lint_generated(&target_dir().join("examples/cdk/cdk.out/NestedHookStack.template.json"));
}

/// The Serverless Framework example (hook-examples/serverless: framework v3 and
/// serverless-plugin-canary-deployments with its deploymentSettings: type, alias, pre- and
/// post-traffic hooks, alarm, triggers), as the README runs it
/// (`hook-examples/serverless/rehearse`): packaged offline, then simulated from its compiled
/// CloudFormation with `--bin` for each function (its zips are not unpacked); the compiled
/// template lints clean, a good version deploys, a faulty one is rolled back.
#[test]
fn the_serverless_example_packages_lints_and_simulates() {
    let (code, r) = rehearse("serverless", &["--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["config"]["name"], "CodeDeployDefault.LambdaCanary10Percent5Minutes");
    let reported = reported_statuses(&r);
    assert_eq!(
        reported,
        ["Succeeded", "Succeeded"],
        "the post-traffic hook checked the API too: {r:#}"
    );
    assert_eq!(r["alarms"][0]["name"], "HelloErrorsAlarm");
    let (code, r) = rehearse(
        "serverless",
        &["--speed", "100000", "--target-env", "HELLO_FAULT=error"],
    );
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    lint_generated(&target_dir().join("examples/serverless/.serverless/cloudformation-template-update-stack.json"));
}

/// A Node.js function (`Runtime: nodejs20.x`, `Handler: index.handler`, an ES module) runs
/// under hook-sim's Runtime API loop: a good version deploys, a faulty one is rolled back by
/// the pre-traffic hook, with the function's own error in the report.
#[test]
fn a_node_function_deploys_and_a_faulty_one_rolls_back() {
    let base = [
        "--template",
        "tests/fixtures/node-hello.yaml",
        "--speed",
        "100000",
        "--seed",
        "7",
    ];
    let (code, r) = simulate(&base);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(events(&r, "hook_reported")[0]["status"], "Succeeded", "{r:#}");
    assert!(requests(&r, "2") > 0, "{r:#}");

    let mut faulty = base.to_vec();
    faulty.extend(["--target-env", "HELLO_FAULT=error"]);
    let (code, r) = simulate(&faulty);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert!(
        r["function_logs"]["2"]
            .to_string()
            .contains("HELLO_FAULT=error: version 2 fails on purpose"),
        "{r:#}"
    );

    // A handler that is not there fails at init, saying so.
    let mut missing = base.to_vec();
    missing.extend(["--target-env", "HELLO_FAULT=bogus"]);
    let (code, r) = simulate(&missing);
    assert_eq!(code, 1, "{r:#}");
    assert!(
        r["function_logs"]["2"]
            .to_string()
            .contains("HELLO_FAULT=bogus is not a fault"),
        "{r:#}"
    );
}

/// cfn-lint on a template a tool generated. The CDK and the Serverless Framework both add a
/// DependsOn where a Ref or GetAtt already orders the resources (W3005): cosmetic, and their
/// own output, so that check is left out.
fn lint_generated(template: &std::path::Path) {
    let lint = Command::new(venv_bin("cfn-lint"))
        .args(["--ignore-checks", "W3005", "--"])
        .arg(template)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}",
        String::from_utf8_lossy(&lint.stdout)
    );
}

/// The check records one hook logged, as (check, target, outcome).
fn hook_checks(report: &Value, hook: &str) -> Vec<(String, Value, String)> {
    report["hook_logs"][hook]
        .as_array()
        .unwrap_or_else(|| panic!("no log of {hook}: {}", report["hook_logs"]))
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l.as_str()?).ok())
        .filter(|r| r["record"] == "check")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["target"].clone(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const SHARED: [&str; 4] = [
    "--template",
    "hook-examples/shared-hook/consumer.yaml",
    "--with",
    "hook-examples/shared-hook/template.yaml",
];
/// One function is the hook of both phases: its log holds both invocations' records.
const HOOK: &str = "CodeDeployHook_shared-smoke";

/// The check records of the invocation of `hook` for `phase`: a hook logs each invocation's
/// check records, then its summary, which names the phase.
fn hook_checks_in(report: &Value, hook: &str, phase: &str) -> Vec<(String, Value, String)> {
    let mut pending = Vec::new();
    let mut found = Vec::new();
    let lines = report["hook_logs"][hook]
        .as_array()
        .unwrap_or_else(|| panic!("no log of {hook}: {}", report["hook_logs"]));
    for r in lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l.as_str()?).ok())
    {
        match r["record"].as_str() {
            Some("check") => pending.push((
                r["name"].as_str().unwrap().to_string(),
                r["target"].clone(),
                r["outcome"].as_str().unwrap().to_string(),
            )),
            Some("summary") if r["phase"] == phase => found.append(&mut pending),
            Some("summary") => pending.clear(),
            _ => {}
        }
    }
    assert!(!found.is_empty(), "no check of {hook} in {phase}: {lines:?}");
    found
}

#[test]
fn one_shared_hook_tests_each_consumer_function_with_its_own_checks() {
    let run = |function: &str, extra: &[&str]| {
        simulate(&[&SHARED[..], &["--function", function, "--speed", "100000"], extra].concat())
    };
    // Orders: chosen by its tag; payments: by its name. Both hooks come from the shared stack.
    let (code, r) = run("OrdersFunction", &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(reported_statuses(&r), ["Succeeded", "Succeeded"]);
    let pre = hook_checks_in(&r, HOOK, "BeforeAllowTraffic");
    assert!(
        pre.contains(&(
            "orders greet their customers".into(),
            json!("sam-app-orders:2"),
            "Passed".into()
        )),
        "{pre:?}"
    );
    assert!(
        pre.iter()
            .any(|(n, _, o)| n == "payments answer from the new version" && o == "Skipped")
    );
    let post = hook_checks_in(&r, HOOK, "AfterAllowTraffic");
    assert!(
        post.contains(&(
            "the alias answers".into(),
            json!("sam-app-orders:live"),
            "Passed".into()
        )),
        "{post:?}"
    );

    let (code, r) = run("PaymentsFunction", &[]);
    assert_eq!(code, 0, "{r}");
    let pre = hook_checks_in(&r, HOOK, "BeforeAllowTraffic");
    assert!(
        pre.contains(&(
            "payments answer from the new version".into(),
            json!("sam-app-payments:2"),
            "Passed".into()
        )),
        "{pre:?}"
    );
    assert!(
        pre.iter()
            .any(|(n, _, o)| n == "orders greet their customers" && o == "Skipped")
    );

    // A faulty payments version is stopped by its own check.
    let (code, r) = run("PaymentsFunction", &["--target-env", "HELLO_FAULT=error"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(reported_statuses(&r), ["Failed"]);

    // The audited skip: the version asks, the shared spec allows, every report says so.
    let (code, r) = run(
        "OrdersFunction",
        &[
            "--target-env",
            "HOOK_SKIP_CHECKS=INC-77 hotfix, approved by the on-call",
        ],
    );
    assert_eq!(code, 0, "{r}");
    let log = r["hook_logs"][HOOK].to_string();
    assert!(log.contains("CHECKS SKIPPED for sam-app-orders:2"), "{log}");
    assert!(log.contains("\\\"record\\\":\\\"waiver\\\""), "{log}");
    assert!(hook_checks(&r, HOOK).iter().all(|(_, _, o)| o == "Skipped"));
}

#[test]
fn an_imported_hook_needs_the_template_that_exports_it() {
    let err = usage_error(&[
        "--template",
        "hook-examples/shared-hook/consumer.yaml",
        "--function",
        "OrdersFunction",
    ]);
    assert!(
        err.contains("the hook is imported (Fn::ImportValue shared-smoke-Hook): give the template that exports it with --with TEMPLATE"),
        "{err}"
    );
    let err = usage_error(
        &[
            &SHARED[..],
            &["--function", "OrdersFunction", "--parameter", "SharedHookPrefix=other"],
        ]
        .concat(),
    );
    assert!(
        err.contains("Fn::ImportValue other-Hook: no template given with --with exports it (their exports: shared-smoke-Hook, shared-smoke-HookArn)"),
        "{err}"
    );
}

#[test]
fn the_text_summary_lists_what_each_hook_tested() {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .arg("simulate")
        .args(SHARED)
        .args(["--function", "PaymentsFunction", "--speed", "100000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("checks     BeforeAllowTraffic  CodeDeployHook_shared-smoke: ✔ payments answer from the new version [sam-app-payments:2] · 2 skipped\n"),
        "{text}"
    );
    assert!(
        text.contains("           AfterAllowTraffic   CodeDeployHook_shared-smoke: ✔ the alias answers [sam-app-payments:live] · 2 skipped\n"),
        "{text}"
    );
}

/// template.yaml with each `(from, to)` replaced once (each must occur).
fn replaced_template(name: &str, edits: &[(&str, &str)]) -> String {
    edited_template(&format!("{name}.yaml"), |mut text| {
        for (from, to) in edits {
            assert!(text.contains(from), "template.yaml no longer holds {from:?}");
            text = text.replacen(from, to, 1);
        }
        text
    })
}

fn denied_actions(r: &Value) -> Vec<String> {
    r["iam"]["denied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap().to_string())
        .collect()
}

/// A condition on a key AWS never sets on an invoke (`lambda:FunctionArn`, listed for event
/// source mappings only) grants nothing: `simulate` refuses the pre-traffic hook's invokes, as
/// AWS does, and `check` says so of the same template — the two read one table of keys.
#[test]
fn simulate_and_check_agree_on_the_keys_an_invoke_carries() {
    let conditioned = replaced_template(
        "function-arn-condition",
        &[(
            "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n\n  PostTrafficHook:",
            "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: \"*\"\n              Condition:\n                ArnLike:\n                  lambda:FunctionArn: !Sub ${HelloFunction.Arn}*\n\n  PostTrafficHook:",
        )],
    );
    let (code, r) = simulate(&["--template", &conditioned, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["lifecycle_event"], "BeforeAllowTraffic");
    assert!(
        denied_actions(&r).contains(&"lambda:InvokeFunction".to_string()),
        "{r:#}"
    );
    let (code, r) = check(&[&conditioned]);
    assert_eq!(code, 1, "{r:#}");
    let problems = not_ok(&r);
    assert!(
        problems
            .iter()
            .any(|(_, what, verdict)| what == "it may invoke the target version" && verdict == "problem"),
        "{problems:?}"
    );
}

/// A resource-based policy grants within the account as AWS's policy evaluation does: the
/// pre-traffic hook's role has no invoke statement, and an `AWS::Lambda::Permission` on the
/// target version naming the role lets it invoke — `simulate` deploys, `check` finds nothing.
/// Naming the account instead hands the decision back to the role's own policies: refused.
#[test]
fn a_permission_on_the_version_grants_the_hooks_role_as_in_aws() {
    let statement = "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n\n  PostTrafficHook:";
    let permission = |principal: &str| {
        format!(
            "\n  PreTrafficHookMayInvoke:\n    Type: AWS::Lambda::Permission\n    Properties:\n      Action: lambda:InvokeFunction\n      FunctionName: !Ref HelloFunction.Version\n      Principal: {principal}\n\n  PostTrafficHook:"
        )
    };
    let granted = replaced_template(
        "permission-to-role",
        &[(statement, &permission("!GetAtt PreTrafficHookRole.Arn"))],
    );
    let (code, r) = simulate(&["--template", &granted, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    assert!(denied_actions(&r).is_empty(), "{r:#}");
    let (code, report) = check(&[&granted]);
    assert_eq!(code, 0, "{report:#}");

    let to_account = replaced_template(
        "permission-to-account",
        &[(statement, &permission("!Ref AWS::AccountId"))],
    );
    let (code, r) = simulate(&["--template", &to_account, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 1, "{r:#}");
    assert!(
        denied_actions(&r).contains(&"lambda:InvokeFunction".to_string()),
        "{r:#}"
    );
    let (code, report) = check(&[&to_account]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        not_ok(&report)
            .iter()
            .any(|(_, what, verdict)| what == "it may invoke the target version" && verdict == "problem"),
        "{report:#}"
    );
}

/// `check` judges the calls a hook makes: an AfterAllowTraffic hook whose spec only reads
/// metrics needs no invoke permission, and is not failed for lacking one.
#[test]
fn check_judges_only_the_calls_a_hook_makes() {
    let metrics_only = replaced_template(
        "metrics-only-post-traffic",
        &[
            (
                "          API_URL: !Sub https://${HelloApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}\n",
                "          API_URL: !Sub https://${HelloApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}\n          HOOK_SPEC: \"version: 1\\nchecks:\\n  - name: as sound as the current version\\n    metrics: {expect: {error_rate: '<= current'}}\\n\"\n",
            ),
            (
                "            - Sid: InvokeTheTargetVersionAndAlias\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n",
                "",
            ),
        ],
    );
    let (code, report) = check(&[&metrics_only]);
    assert_eq!(code, 0, "{report:#}");
    let post = report["deployments"][0]["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["lifecycle_event"] == "AfterAllowTraffic")
        .unwrap();
    let whats: Vec<&str> = post["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["what"].as_str().unwrap())
        .collect();
    assert!(!whats.iter().any(|w| w.contains("invoke the")), "{whats:?}");
    assert!(whats.iter().any(|w| w.contains("read Lambda's metrics")), "{whats:?}");
}

/// IAM as AWS enforces it, the three ways a hook's IAM most often fails: a hook whose role
/// may not report (AWS waits the hour, then fails the deployment), a hook whose role may not
/// invoke the target (its check fails: Failed), and a hook CodeDeploy's role may not invoke
/// (SAM's role invokes only `CodeDeployHook_*`: the deployment fails at once). `--iam warn`
/// lets the calls through and lists them.
#[test]
fn iam_is_enforced_as_aws_enforces_it() {
    let fast = ["--speed", "100000", "--seed", "7"];
    let run = |template: &str, extra: &[&str]| {
        let mut args = vec!["--template", template];
        args.extend(fast);
        args.extend(extra);
        simulate(&args)
    };

    // 1. The pre-traffic hook may read its deployment but not report.
    let no_report = replaced_template(
        "no-report",
        &[(
            "                - codedeploy:GetDeployment\n                - codedeploy:PutLifecycleEventHookExecutionStatus\n",
            "                - codedeploy:GetDeployment\n",
        )],
    );
    let (code, r) = run(&no_report, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_timed_out", "{r:#}");
    assert_eq!(r["outcome"]["error_code"], "TIMEOUT");
    assert_eq!(
        denied_actions(&r),
        ["codedeploy:PutLifecycleEventHookExecutionStatus"],
        "{r:#}"
    );
    let message = r["iam"]["denied"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("User: arn:aws:sts::123456789012:assumed-role/sam-app-PreTrafficHookRole/CodeDeployHook_sam-app-pre-traffic is not authorized to perform: codedeploy:PutLifecycleEventHookExecutionStatus on resource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:sam-app-ServerlessDeploymentApplication/sam-app-HelloFunctionDeploymentGroup"),
        "{message}"
    );
    // The same, IAM not enforced: it goes through, and is listed.
    let (code, r) = run(&no_report, &["--iam", "warn"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["iam"]["mode"], "warn");
    assert_eq!(
        denied_actions(&r),
        ["codedeploy:PutLifecycleEventHookExecutionStatus"],
        "{r:#}"
    );

    // 2. The pre-traffic hook may not invoke the target version: its checks fail, it reports Failed.
    let no_invoke = replaced_template(
        "no-invoke",
        &[(
            "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n\n  PostTrafficHook:",
            "\n  PostTrafficHook:",
        )],
    );
    let (code, r) = run(&no_invoke, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["lifecycle_event"], "BeforeAllowTraffic");
    assert!(
        denied_actions(&r).contains(&"lambda:InvokeFunction".to_string()),
        "{r:#}"
    );
    let logs = r["hook_logs"].to_string();
    assert!(logs.contains("AccessDeniedException"), "the hook says why: {logs}");

    // 3. The pre-traffic hook is not named CodeDeployHook_*: SAM's CodeDeploy role may not invoke it.
    let misnamed = replaced_template(
        "misnamed",
        &[(
            "FunctionName: !Sub CodeDeployHook_${AWS::StackName}-pre-traffic",
            "FunctionName: !Sub ${AWS::StackName}-pre-traffic",
        )],
    );
    let (code, r) = run(&misnamed, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_not_invoked", "{r:#}");
    assert_eq!(r["outcome"]["error_code"], "IAM_ROLE_PERMISSIONS");
    assert_eq!(r["outcome"]["max_weight"], 0.0, "no traffic ever shifted");
    assert!(events(&r, "hook_invoked").is_empty(), "{r:#}");
    let denial = events(&r, "hook_not_invoked")[0]["denial"].as_str().unwrap();
    assert!(
        denial.contains("assumed-role/sam-app-CodeDeployServiceRole/CodeDeploy is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:sam-app-pre-traffic"),
        "{denial}"
    );
    // The timeline says what to do about it.
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args(["simulate", "--template", &misnamed, "--speed", "100000", "--seed", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CodeDeploy's managed roles may invoke only functions named CodeDeployHook_*: name the hook so"),
        "{text}"
    );
}

/// `hook-sim check` with `args`, its JSON report and exit code.
fn check(args: &[&str]) -> (i32, Value) {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .arg("check")
        .args(args)
        .args(["--report", "json"])
        .output()
        .expect("hook-sim runs");
    let code = out.status.code().expect("exited");
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| json!({"stderr": String::from_utf8_lossy(&out.stderr)}));
    (code, report)
}

/// The findings of `check` that are not ok: (hook or alarm, what, verdict).
fn not_ok(r: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for d in r["deployments"].as_array().unwrap() {
        for h in d["hooks"].as_array().unwrap() {
            for f in h["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["verdict"] != "ok")
            {
                out.push((
                    h["function"].as_str().unwrap().to_string(),
                    f["what"].as_str().unwrap().to_string(),
                    f["verdict"].as_str().unwrap().to_string(),
                ));
            }
        }
        for f in d["alarms"].as_array().unwrap().iter().filter(|f| f["verdict"] != "ok") {
            out.push((
                "alarms".to_string(),
                f["what"].as_str().unwrap().to_string(),
                f["verdict"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// `hook-sim check` reads what `simulate` reads and runs nothing: the examples and fixtures
/// pass; the three IAM mistakes and an alarm CloudWatch can never fire are problems (exit 1),
/// each named; an unreadable template is exit 2.
#[test]
fn check_finds_what_would_fail_in_aws_without_running_anything() {
    for template in [
        "template.yaml",
        "hook-examples/python/template.yaml",
        "tests/fixtures/cdk-stack.json",
        "tests/fixtures/sls-stack.json",
        "tests/fixtures/error-rate.yaml",
    ] {
        let (code, r) = check(&[template]);
        assert_eq!(code, 0, "{template}: {r:#}");
        assert_eq!(r["problems"], 0, "{template}: {r:#}");
    }
    let (code, r) = check(&[
        "hook-examples/shared-hook/consumer.yaml",
        "--with",
        "hook-examples/shared-hook/template.yaml",
    ]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(
        r["deployments"].as_array().unwrap().len(),
        2,
        "both functions of the consumer: {r:#}"
    );

    let no_report = replaced_template(
        "check-no-report",
        &[(
            "                - codedeploy:GetDeployment\n                - codedeploy:PutLifecycleEventHookExecutionStatus\n",
            "                - codedeploy:GetDeployment\n",
        )],
    );
    let (code, r) = check(&[&no_report]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        not_ok(&r),
        [(
            "CodeDeployHook_sam-app-pre-traffic".to_string(),
            "it may report its status".to_string(),
            "problem".to_string()
        )]
    );
    let misnamed = replaced_template(
        "check-misnamed",
        &[(
            "FunctionName: !Sub CodeDeployHook_${AWS::StackName}-pre-traffic",
            "FunctionName: !Sub ${AWS::StackName}-pre-traffic",
        )],
    );
    let (code, r) = check(&[&misnamed]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        not_ok(&r),
        [(
            "sam-app-pre-traffic".to_string(),
            "CodeDeploy's role may invoke it".to_string(),
            "problem".to_string()
        )]
    );
    let no_invoke = replaced_template(
        "check-no-invoke",
        &[(
            "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n\n  PostTrafficHook:",
            "\n  PostTrafficHook:",
        )],
    );
    let (code, r) = check(&[&no_invoke]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(not_ok(&r)[0].1, "it may invoke the target version", "{r:#}");
    let wrong_unit = replaced_template(
        "check-wrong-unit",
        &[("      Statistic: Sum\n", "      Statistic: Sum\n      Unit: Seconds\n")],
    );
    let (code, r) = check(&[&wrong_unit]);
    assert_eq!(code, 1, "{r:#}");
    let problems = not_ok(&r);
    assert_eq!(problems[0].0, "alarms", "{r:#}");
    assert!(r.to_string().contains("Unit is Seconds"), "{r:#}");

    let (code, r) = check(&["no-such-template.yaml"]);
    assert_eq!(code, 2, "{r:#}");
}

/// Every test the "How close to AWS" table (docs/hook-sim.md) names exists: a row's claim is only as
/// good as the test that holds it.
#[test]
fn the_fidelity_tables_tests_exist() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                rust_files(&path, out);
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["hook-sdk", "hook-runner", "hook-sim", "hook-examples", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut functions = std::collections::BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for part in text.split("fn ").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            functions.insert(name);
        }
    }
    let doc = std::fs::read_to_string(root.join("docs/hook-sim.md")).unwrap();
    let table = doc
        .split("## How close to AWS")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("docs/hook-sim.md has the table");
    let mut named = 0;
    for row in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---") && !l.starts_with("| |"))
    {
        let tests = row.trim_end_matches('|').rsplit('|').next().unwrap();
        for cell in tests.split('`').skip(1).step_by(2) {
            let name = cell.rsplit(['…', ':']).next().unwrap();
            if name == "*" {
                continue;
            }
            named += 1;
            assert!(
                functions.contains(name),
                "the table names {cell}, and no test {name} exists"
            );
        }
    }
    assert!(named > 30, "the table names its tests: {named}");
}

/// Every request and answer of a full deployment (the example hooks: discovery, invokes, the
/// post-traffic metrics check, the reports), checked against botocore's models of CodeDeploy,
/// Lambda and CloudWatch (tests/fixtures/check_against_models.py): members, required members,
/// types, enums, error codes.
#[tokio::test]
async fn a_deployments_requests_and_answers_follow_the_services_models() {
    let sim = Sim::start().await.unwrap();
    sim.record_exchanges();
    let plan = example_plan(&sim).await;
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:#?}", outcome.timeline);

    let file = target_dir().join("test-tmp/exchanges.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, serde_json::to_vec(&sim.exchanges()).unwrap()).unwrap();
    let out = tokio::process::Command::new(venv_bin("python"))
        .arg(workspace_root().join("tests/fixtures/check_against_models.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["violations"], json!([]), "{report:#}");
    for op in [
        "codedeploy.GetDeployment",
        "codedeploy.GetApplicationRevision",
        "codedeploy.ListDeploymentTargets",
        "codedeploy.GetDeploymentTarget",
        "codedeploy.PutLifecycleEventHookExecutionStatus",
        "lambda.Invoke",
        "cloudwatch.GetMetricData",
    ] {
        assert!(
            report["checked"][op].as_u64().unwrap_or(0) > 0,
            "{op} was not checked: {report:#}"
        );
    }
}

/// A hook written with the AWS SDK for JavaScript v3 alone (tests/fixtures/sdk-v3-hook: its
/// CloudWatch client speaks AWS JSON 1.0) rehearses unmodified as the post-traffic hook: it
/// reads its deployment and AppSpec, invokes the alias, reads the canary's invocations from
/// CloudWatch and reports, under the post-traffic hook's role.
#[test]
fn an_independent_javascript_sdk_v3_hook_with_a_metrics_call_agrees_with_the_simulator() {
    let dir = integration_tests::node_fixture("sdk-v3-hook", "index.mjs");
    let mut text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let rust_hook = "  PostTrafficHook:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: post-traffic\n    Properties:\n";
    assert!(text.contains(rust_hook), "template.yaml's PostTrafficHook changed");
    text = text.replacen(
        rust_hook,
        "  PostTrafficHook:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n",
        1,
    );
    let template = dir.join("template.yaml");
    std::fs::write(&template, text).unwrap();
    let template = template.display().to_string();
    let (code, r) = simulate(&["--template", &template, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 0, "{r:#}");
    let logs = r["hook_logs"]["CodeDeployHook_sam-app-post-traffic"].to_string();
    assert!(
        logs.contains("metrics Complete [") && logs.contains("reported Succeeded"),
        "{logs}"
    );
    assert!(!logs.contains("metrics Complete []"), "{logs}");
    assert_eq!(r["iam"]["denied"], json!([]), "{r:#}");
    assert_eq!(reported_statuses(&r), ["Succeeded", "Succeeded"], "{r:#}");
}

/// SEEK's published hook (the handler `@seek/aws-codedeploy-infra` 4.0.3 deploys, fetched with
/// `npm pack` and checked against its published integrity), in target/node/seek-hook/handler,
/// with the AWS SDK clients Lambda's Node.js runtime provides it (the sdk-v3-hook fixture's).
fn seek_hook() -> std::path::PathBuf {
    const INTEGRITY: &str =
        "sha512-1HmP5FJKHQqSXBoD1Z7u1kLX1u2l151Q3mmcxPw7ClcP3VzE72zKtGjhc+/nMnHWqd1F7+NViD9HrMAl2701TQ==";
    let sdk = node_modules("sdk-v3-hook");
    let dir = target_dir().join("node/seek-hook");
    let handler = dir.join("handler/index.js");
    if !handler.is_file() {
        std::fs::create_dir_all(dir.join("handler")).unwrap();
        let out = Command::new("npm")
            .args([
                "pack",
                "@seek/aws-codedeploy-infra@4.0.3",
                "--json",
                "--pack-destination",
            ])
            .arg(&dir)
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm pack: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let packed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(packed[0]["integrity"], INTEGRITY, "the package is the one published");
        let tarball = dir.join(packed[0]["filename"].as_str().unwrap());
        let status = Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .args(["-C"])
            .arg(&dir)
            .arg("package/lib/assets/handlers/index.js")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::rename(dir.join("package/lib/assets/handlers/index.js"), &handler).unwrap();
    }
    let link = dir.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(&sdk, &link).unwrap();
    }
    dir
}

/// SEEK's production hook rehearses unmodified as the pre-traffic hook: it reads the AppSpec
/// as CloudFormation writes it (`"version": "0.0"`, a string), reads the function and invokes
/// the new version, passes a good one and fails a faulty one. Its role is the template's, with
/// the `lambda:GetFunction` SEEK's own stack grants it (without it, IAM refuses, as in AWS).
#[test]
fn seeks_published_hook_agrees_with_the_simulator() {
    let dir = seek_hook();
    let mut text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    for (from, to) in [
        (
            "  PreTrafficHook:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: pre-traffic\n    Properties:\n",
            "  PreTrafficHook:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n",
        ),
        (
            "      CodeUri: .\n      Description: BeforeAllowTraffic hook of HelloFunction (hook-sdk, Rust)\n      Timeout: 60\n",
            "      CodeUri: handler/\n      Description: BeforeAllowTraffic hook of HelloFunction (SEEK's)\n      Timeout: 300\n",
        ),
    ] {
        assert!(text.contains(from), "template.yaml changed: {from}");
        text = text.replacen(from, to, 1);
    }
    let without_get_function = dir.join("no-get-function.yaml");
    std::fs::write(&without_get_function, &text).unwrap();
    let invoke = "            - Sid: InvokeTheTargetVersion\n              Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub ${HelloFunction.Arn}:*\n";
    assert!(text.contains(invoke));
    let text = text.replacen(
        invoke,
        &format!("{invoke}            - Sid: ReadTheFunction\n              Effect: Allow\n              Action: lambda:GetFunction\n              Resource: [!GetAtt HelloFunction.Arn, !Sub \"${{HelloFunction.Arn}}:*\"]\n"),
        1,
    );
    let template = dir.join("template.yaml");
    std::fs::write(&template, text).unwrap();
    let template = template.display().to_string();
    let base = ["--template", template.as_str(), "--speed", "100000", "--seed", "7"];

    let (code, r) = simulate(&base);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(reported_statuses(&r), ["Succeeded", "Succeeded"], "{r:#}");
    assert_eq!(r["iam"]["denied"], json!([]), "{r:#}");

    let mut faulty = base.to_vec();
    faulty.extend(["--target-env", "HELLO_FAULT=error"]);
    let (code, r) = simulate(&faulty);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");

    let bare = without_get_function.display().to_string();
    let (code, r) = simulate(&["--template", &bare, "--speed", "100000", "--seed", "7"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        r["iam"]["denied"][0]["action"], "lambda:GetFunction",
        "SEEK's hook reads the function: {r:#}"
    );
}

/// `--hook-env` sets every hook's environment, and `--spec` a hook-runner hook's spec: the
/// spec hook runs your own spec (`HOOK_SPEC_FILE`), which passes a version that meets it and
/// fails one that does not. `--spec` where no hook reads a spec is refused, saying why.
#[test]
fn hook_env_and_spec_point_the_spec_hook_at_your_own_spec() {
    let dir = target_dir().join("test-tmp/own-spec");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = |name: &str, greeting: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "version: 1\nchecks:\n  - name: my greeting\n    phase: before\n    invoke: {{ payload: {{ name: me }} }}\n    expect:\n      json:\n        $.statusCode: 200\n        $.body.message: \"{greeting}\"\n"
            ),
        )
        .unwrap();
        format!("HOOK_SPEC_FILE={}", path.display())
    };
    let good = spec("good.yaml", "Hello, me!");
    spec("bad.yaml", "Bonjour, me!");
    let run = |option: &str, value: &str| {
        simulate(&[
            "--parameter",
            "PreTrafficHookKind=spec",
            option,
            value,
            "--speed",
            "100000",
            "--seed",
            "7",
        ])
    };
    let (code, r) = run("--hook-env", &good);
    assert_eq!(code, 0, "{r:#}");
    let logs = r["hook_logs"].to_string();
    assert!(logs.contains("my greeting"), "the hook ran this spec: {logs}");
    // `--spec` with a path relative to where simulate runs: the hook, in its own folder, reads it.
    let bad = dir.join("bad.yaml");
    let relative = bad.strip_prefix(workspace_root()).unwrap_or(&bad).display().to_string();
    let (code, r) = run("--spec", &relative);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert!(r["hook_logs"].to_string().contains("Bonjour, me!"), "{r:#}");

    let err = usage_error(&["--spec", &relative]);
    assert!(
        err.contains(
            "--spec: no hook of this deployment runs hook-runner (its hooks: PreTrafficHook, PostTrafficHook)"
        ),
        "{err}"
    );
    assert!(err.contains("--parameter PreTrafficHookKind=spec"), "{err}");
    let err = usage_error(&["--parameter", "PreTrafficHookKind=spec", "--spec", "no/such.yaml"]);
    assert!(err.contains("--spec no/such.yaml: No such file"), "{err}");

    // A spec of the user's own that does not load is their set-up error (exit 2, located),
    // not a rolled-back version.
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        "version: 1\nchecks:\n  - name: greets\n    invoke: {}\n    expect: { statsu: 200 }\n",
    )
    .unwrap();
    let err = usage_error(&[
        "--parameter",
        "PreTrafficHookKind=spec",
        "--spec",
        broken.to_str().unwrap(),
    ]);
    assert!(
        err.contains("the spec of SpecHook does not load — a mistake in the spec, not in the version"),
        "{err}"
    );
    assert!(
        err.contains("broken.yaml:5:15: checks[0].expect.statsu: unknown field"),
        "{err}"
    );
    assert!(err.contains("did you mean `status`?"), "{err}");
    // `check` says the same of a template whose hook names a spec file that is not there (the
    // spec is read from the hook's code folder, the template's: smoke.yaml is copied there).
    let missing = edited_template("missing-spec.yaml", |t| {
        t.replace(
            "HOOK_SPEC_FILE: hook-examples/smoke.yaml",
            "HOOK_SPEC_FILE: hook-examples/no-such-spec.yaml",
        )
    });
    let beside = std::path::Path::new(&missing).parent().unwrap().join("hook-examples");
    std::fs::create_dir_all(&beside).unwrap();
    std::fs::copy(
        workspace_root().join("hook-examples/smoke.yaml"),
        beside.join("smoke.yaml"),
    )
    .unwrap();
    let present = edited_template("present-spec.yaml", |t| t.replace("Default: rust\n", "Default: spec\n"));
    let (_, report) = check(&[&present]);
    assert!(
        !not_ok(&report).iter().any(|(_, what, _)| what == "its spec loads"),
        "{report:#}"
    );
    let (code, report) = check(&[&missing, "--parameter", "PreTrafficHookKind=spec"]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        not_ok(&report)
            .iter()
            .any(|(_, what, verdict)| what == "its spec loads" && verdict == "problem"),
        "{report:#}"
    );
}

/// The README's recipe for your own app (tests/fixtures/your-app is the template with it
/// applied): the README shows the very lines of the fixture, `check` passes it, and `simulate`
/// with the README's commands deploys a good version and rolls back a faulty one.
#[test]
fn the_your_app_recipe_is_the_fixture_and_rehearses_good_and_faulty() {
    let root = workspace_root();
    let fixture = std::fs::read_to_string(root.join("tests/fixtures/your-app/template.yaml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for part in ["function", "hook"] {
        let begin = format!("# recipe: {part} begin\n");
        let end = format!("# recipe: {part} end");
        let start = fixture.find(&begin).expect("the begin marker") + begin.len();
        let stop = fixture[start..].find(&end).expect("the end marker") + start;
        // The block without the indentation of the end marker's line.
        let block = fixture[start..stop].trim_end_matches(' ');
        assert!(
            readme.contains(block),
            "the README shows the recipe's {part} lines:\n{block}"
        );
    }
    let spec = std::fs::read_to_string(root.join("tests/fixtures/your-app/hook/smoke.yaml")).unwrap();
    assert!(readme.contains(spec.trim_end()), "the README shows the spec");

    let template = "tests/fixtures/your-app/template.yaml";
    let (code, r) = check(&[template]);
    assert_eq!((code, r["problems"].as_u64()), (0, Some(0)), "{r:#}");
    let bin = format!("SmokeHook={}", release_bin("hook-runner").display());
    let base = [
        "--template",
        template,
        "--bin",
        bin.as_str(),
        "--speed",
        "100000",
        "--seed",
        "7",
    ];
    let (code, r) = simulate(&base);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(reported_statuses(&r), ["Succeeded"], "{r:#}");
    let mut faulty = base.to_vec();
    faulty.extend(["--target-env", "HELLO_FAULT=error"]);
    let (code, r) = simulate(&faulty);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert_eq!(r["outcome"]["max_weight"], 0.0, "{r:#}");
}

/// A stack that nests the packaged hook (hook-examples/nested-hook: `AWS::Serverless::Application`
/// with a local Location, its spec given as a parameter): the hook is the nested stack's output,
/// named with the parent's parameters; a good version deploys, a faulty one rolls back.
#[test]
fn a_stack_that_nests_the_packaged_hook_deploys_a_good_version_and_rolls_back_a_faulty_one() {
    // As docs/deploy.md runs it.
    let base = ["--template", "hook-examples/nested-hook/template.yaml"];
    let (code, r) = simulate(&base);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(reported_statuses(&r), ["Succeeded", "Succeeded"], "{r:#}");
    // The nested stack's function, named from the parent's parameter, with the parent's spec.
    let hook = "CodeDeployHook_sam-app-smoke";
    for phase in ["BeforeAllowTraffic", "AfterAllowTraffic"] {
        let checks = hook_checks_in(&r, hook, phase);
        assert_eq!(
            checks,
            [(
                "greets the canary".to_string(),
                json!("sam-app-hello:2"),
                "Passed".to_string()
            )],
            "{phase}"
        );
    }

    let faulty = [&base[..], &["--speed", "100000", "--target-env", "HELLO_FAULT=error"]].concat();
    let (code, r) = simulate(&faulty);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_failed", "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["lifecycle_event"], "BeforeAllowTraffic");

    // An application from the Serverless Application Repository cannot be run here: the error
    // says to point Location at its template.
    let dir = target_dir().join("test-tmp/nested-published");
    std::fs::create_dir_all(&dir).unwrap();
    let template = std::fs::read_to_string(workspace_root().join("hook-examples/nested-hook/template.yaml"))
        .unwrap()
        .replace(
            "Location: ../../packaging/shared-hook/template.yaml",
            "Location: { ApplicationId: arn:aws:serverlessrepo:us-east-1:123456789012:applications/hook, SemanticVersion: 0.1.0 }",
        );
    std::fs::write(dir.join("template.yaml"), template).unwrap();
    let err = usage_error(&["--template", dir.join("template.yaml").to_str().unwrap()]);
    assert!(
        err.contains("Resources.SmokeHook: simulate reads a nested application from a local template"),
        "{err}"
    );
}

/// An endpoint setting the SDK cannot use (set but empty) never takes a hook down silently:
/// where CodeDeploy cannot be reached the hook says so in its log and its Lambda answer (and
/// CodeDeploy waits its hour, as in AWS); where another service cannot, it reports Failed,
/// saying which setting.
#[test]
fn a_bad_endpoint_setting_is_said_and_reported_where_it_can_be() {
    let (code, r) = simulate(&[
        "--speed",
        "100000",
        "--seed",
        "3",
        "--hook-env",
        "AWS_ENDPOINT_URL_CODEDEPLOY=",
    ]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["outcome"]["rollback"]["cause"], "hook_timed_out", "{r:#}");
    let failures = events(&r, "hook_invocation_failed");
    assert_eq!(failures.len(), 3, "Lambda's retries: {r:#}");
    for f in failures {
        let error = f.to_string();
        assert!(
            error.contains("HookSdk.CannotReport") && error.contains("AWS_ENDPOINT_URL_CODEDEPLOY is set but empty"),
            "{error}"
        );
    }
    let log = r["hook_logs"]["CodeDeployHook_sam-app-pre-traffic"].to_string();
    assert!(!log.contains("panicked"), "{log}");

    let (code, r) = simulate(&[
        "--speed",
        "100000",
        "--seed",
        "3",
        "--hook-env",
        "AWS_ENDPOINT_URL_LAMBDA=",
    ]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(reported_statuses(&r), ["Failed"], "{r:#}");
    let log = r["hook_logs"]["CodeDeployHook_sam-app-pre-traffic"].to_string();
    assert!(
        log.contains("AWS_ENDPOINT_URL_LAMBDA is set but empty") && !log.contains("panicked"),
        "{log}"
    );
}

/// A hook-runner spec whose metrics check watches longer than the hook's Lambda timeout allows
/// is the user's mistake: a set-up error naming the fix (in AWS the check would fail at once).
#[test]
fn a_watch_longer_than_the_hooks_timeout_is_a_set_up_error() {
    let dir = target_dir().join("test-tmp/watch-timeout");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("watch.yaml");
    std::fs::write(
        &spec,
        "version: 1\nchecks:\n  - name: watched\n    metrics:\n      watch: 3m\n      expect: { error_rate: \"<= current + 1%\" }\n",
    )
    .unwrap();
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args([
            "simulate",
            "--template",
            "hook-examples/python/template.yaml",
            "--python",
        ])
        .arg(venv_bin("python"))
        .arg("--spec")
        .arg(&spec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("PostTrafficHook's spec watches 3m after the shift, and its Timeout is 60 s")
            && err.contains("raise the hook's Timeout to at least 240 s"),
        "{err}"
    );
    assert_eq!(
        err.matches("warning: HelloPython").count(),
        err.contains("warning:") as usize,
        "warned once: {err}"
    );
}
