//! The engine on tokio's paused clock, with scripted functions.

use serde_json::json;

use std::sync::Arc;

use super::plan::new_deployment_id;
use super::*;
use crate::alarm::Alarm;
use crate::schedule::TrafficRouting;
use crate::{AliasRouting, Behavior, Sim};

/// Alias `live` of `fn` from 1 to 2 with a predefined config, at ×60.
fn plan(config: &str, current: Behavior, target: Behavior) -> DeploymentPlan {
    DeploymentPlan::new("fn", current, target)
        .config(config, TrafficRouting::predefined(config).unwrap())
        .speed(60.0)
}

fn flaky(every: u64) -> Behavior {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    Behavior::Custom(Arc::new(move |_| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if i.is_multiple_of(every) {
            Behavior::FunctionError {
                error_type: "Flaky".into(),
                message: "on purpose".into(),
            }
        } else {
            Behavior::hello("2")
        }
    }))
}

fn shifts(outcome: &DeploymentOutcome) -> Vec<(u64, f64)> {
    outcome
        .timeline
        .iter()
        .filter_map(|e| match e.event {
            Event::TrafficShifted { weight, .. } => Some((e.at.as_secs(), weight)),
            _ => None,
        })
        .collect()
}

/// `latency`: the new version's p99 `Duration` through the alias over 250 ms, in a minute.
fn p99_over_250ms() -> Alarm {
    use crate::alarm::{AlarmSource, Comparison, Metric, MetricQuery, Statistic};
    let p99 = MetricQuery::new(Metric::Duration, Statistic::parse("p99").unwrap());
    Alarm::new(
        "latency",
        AlarmSource::Metric(p99),
        Comparison::GreaterThanThreshold,
        250.0,
    )
    .through("live")
    .version("2")
}

#[tokio::test(start_paused = true)]
async fn linear_config_shifts_every_interval() {
    let sim = Sim::start().await.unwrap();
    let plan = plan(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        Behavior::hello("1"),
        Behavior::hello("2"),
    );
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded);
    let s = shifts(&outcome);
    assert_eq!(s.len(), 10);
    for (i, (at, weight)) in s.iter().enumerate() {
        assert_eq!(*at, 60 * i as u64, "step {i} at {at} s");
        assert!((weight - (i + 1) as f64 / 10.0).abs() < 1e-9);
    }
    assert_eq!(outcome.simulated.as_secs(), 540);
    assert_eq!(outcome.real.as_secs(), 9, "9 simulated minutes at ×60");
    assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("2"));
    let traffic = &outcome.traffic;
    assert!(traffic["1"].requests > traffic["2"].requests / 2, "{traffic:?}");
    assert_eq!(traffic["2"].errors, 0);
}

/// A version three times slower and without an error: only a latency alarm (Duration p99
/// through the alias, of the new version) stops it, and an error alarm beside it stays quiet.
#[tokio::test(start_paused = true)]
async fn a_slow_version_fires_a_latency_alarm() {
    let sim = Sim::start().await.unwrap();
    let slow = Behavior::Delay(std::time::Duration::from_millis(300), Box::new(Behavior::hello("2")));
    let latency = p99_over_250ms();
    let errors = Alarm::any_error("errors").through("live").version("2");
    let plan = plan(
        "Canary10Percent5Minutes",
        Behavior::Delay(std::time::Duration::from_millis(100), Box::new(Behavior::hello("1"))),
        slow,
    )
    .alarm(errors)
    .alarm(latency);
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::RolledBack);
    assert!(
        matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, value }) if alarm == "latency" && *value >= 300.0),
        "{:?}",
        outcome.rollback
    );
    let durations: Vec<f64> = sim
        .invocations()
        .iter()
        .filter(|i| i.executed_version == "2")
        .map(|i| i.duration.as_secs_f64() * 1000.0)
        .collect();
    assert!(
        !durations.is_empty() && durations.iter().all(|d| *d >= 300.0),
        "{durations:?}"
    );

    // The same alarm lets a version as fast as the old one through.
    let sim = Sim::start().await.unwrap();
    let latency = p99_over_250ms();
    let fast = |v: &str| Behavior::Delay(std::time::Duration::from_millis(100), Box::new(Behavior::hello(v)));
    let same_speed = self::plan("Canary10Percent5Minutes", fast("1"), fast("2")).alarm(latency);
    assert_eq!(sim.deploy(&same_speed).await.status, FinalStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn errors_under_traffic_fire_the_alarm_and_roll_back() {
    let sim = Sim::start().await.unwrap();
    let alarm = Alarm::any_error("errors").through("live").version("2");
    let plan = plan("Canary10Percent5Minutes", Behavior::hello("1"), flaky(10)).alarm(alarm);
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::RolledBack);
    assert!(
        matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, value }) if alarm == "errors" && *value >= 1.0),
        "{:?}",
        outcome.rollback
    );
    assert_eq!(shifts(&outcome), [(0, 0.1)], "never past the canary");
    assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("1"));
    let info = sim.deployment_info(&plan.deployment_id).unwrap();
    assert_eq!(info["status"], "Stopped");
    assert_eq!(info["errorInformation"]["code"], "ALARM_ACTIVE");
    assert_eq!(outcome.deployment_status, crate::DeploymentStatus::Stopped);
    assert_eq!(outcome.error_code.as_deref(), Some("ALARM_ACTIVE"));
    // The rollback is a deployment of its own, and each names the other.
    let rollback = outcome.rollback_deployment_id.clone().expect("a rollback deployment");
    assert_ne!(rollback, plan.deployment_id);
    assert_eq!(info["rollbackInfo"]["rollbackDeploymentId"], rollback.as_str());
    let r = sim.deployment_info(&rollback).unwrap();
    assert_eq!(r["status"], "Succeeded");
    assert_eq!(r["creator"], "codeDeployRollback");
    assert_eq!(
        r["rollbackInfo"]["rollbackTriggeringDeploymentId"],
        plan.deployment_id.as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_on_the_old_version_only_does_not_stop_the_new_one() {
    let sim = Sim::start().await.unwrap();
    let alarm = Alarm::any_error("errors of 2").version("2");
    let plan = plan("Canary10Percent5Minutes", flaky(3), Behavior::hello("2")).alarm(alarm);
    let outcome = sim.deploy(&plan).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:?}", outcome.rollback);
    assert!(outcome.traffic["1"].errors > 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_hook_times_out_after_an_hour_of_simulated_time() {
    let sim = Sim::start().await.unwrap();
    let plan = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2"))
        .hook(
            Phase::BeforeAllowTraffic,
            "CodeDeployHook_silent",
            Behavior::Respond(json!({"ok": true})),
        )
        .speed(600.0);
    let outcome = sim.deploy(&plan).await;
    assert_eq!(
        outcome.rollback,
        Some(Rollback::HookTimedOut {
            lifecycle_event: Phase::BeforeAllowTraffic,
            function: "CodeDeployHook_silent".into()
        })
    );
    assert_eq!(outcome.max_weight, 0.0);
    assert_eq!(outcome.simulated.as_secs(), 3600);
    assert_eq!(outcome.real.as_secs(), 6);
    assert!(
        outcome
            .timeline
            .iter()
            .any(|e| matches!(e.event, Event::HookReturnedWithoutStatus { .. }))
    );
    let info = sim.deployment_info(&plan.deployment_id).unwrap();
    assert_eq!(info["status"], "Failed");
    assert_eq!(info["errorInformation"]["code"], "TIMEOUT");
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_is_invoked_three_times_as_lambda_retries() {
    let sim = Sim::start().await.unwrap();
    let plan = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2"))
        .hook(
            Phase::AfterAllowTraffic,
            "CodeDeployHook_crash",
            Behavior::FunctionError {
                error_type: "Crash".into(),
                message: "boom".into(),
            },
        )
        .speed(60.0);
    let outcome = sim.deploy(&plan).await;
    let attempts: Vec<(u64, u32)> = outcome
        .timeline
        .iter()
        .filter_map(|e| match e.event {
            Event::HookInvoked { attempt, .. } => Some((e.at.as_secs(), attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [(0, 1), (60, 2), (180, 3)]);
    assert_eq!(
        outcome.max_weight, 1.0,
        "AfterAllowTraffic runs after all traffic shifted"
    );
    assert!(matches!(outcome.rollback, Some(Rollback::HookTimedOut { .. })));
    assert_eq!(sim.alias_routing("fn", "live").unwrap(), AliasRouting::to("1"));
}

#[test]
fn deployment_ids_look_like_codedeploys() {
    let id = new_deployment_id();
    assert_eq!(id.len(), 11);
    assert!(id.starts_with("d-"));
    assert!(id[2..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_ne!(id, new_deployment_id());
}

#[tokio::test(start_paused = true)]
async fn a_period_without_data_fires_only_an_alarm_that_treats_it_as_breaching() {
    let quiet = |alarm: Alarm| {
        plan("Canary10Percent5Minutes", Behavior::hello("1"), Behavior::hello("2"))
            .traffic(None)
            .alarm(alarm)
    };
    let sim = Sim::start().await.unwrap();
    let outcome = sim
        .deploy(&quiet(Alarm::any_error("errors").through("live").version("2")))
        .await;
    assert_eq!(
        outcome.status,
        FinalStatus::Succeeded,
        "missing data: insufficient, never ALARM"
    );

    let mut breaching = Alarm::any_error("errors").through("live").version("2");
    breaching.treat_missing_data = crate::alarm::MissingData::Breaching;
    let outcome = sim.deploy(&quiet(breaching)).await;
    assert!(
        matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, value }) if alarm == "errors" && value.is_nan()),
        "{:?}",
        outcome.rollback
    );
    let fired: Vec<u64> = outcome
        .timeline
        .iter()
        .filter_map(|e| matches!(e.event, Event::AlarmFired { .. }).then_some(e.at.as_secs()))
        .collect();
    assert_eq!(
        fired,
        [60 + METRIC_LAG.as_secs()],
        "the first minute without data, evaluated once its data would have arrived"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_already_in_alarm_stops_the_deployment_before_any_hook() {
    let sim = Sim::start().await.unwrap();
    // On every version: the current one's errors set it off before the deployment starts.
    let plan = plan("Canary10Percent5Minutes", flaky(10), Behavior::hello("2"))
        .alarm(Alarm::any_error("errors").through("live"))
        .hook(
            Phase::BeforeAllowTraffic,
            "CodeDeployHook_pre",
            Behavior::Respond(json!({"ok": true})),
        );
    let outcome = sim.deploy(&plan).await;
    assert!(
        matches!(&outcome.rollback, Some(Rollback::AlarmBeforeStart { alarm, value }) if alarm == "errors" && *value >= 1.0),
        "{:?}",
        outcome.rollback
    );
    assert_eq!(outcome.max_weight, 0.0);
    assert!(
        !outcome
            .timeline
            .iter()
            .any(|e| matches!(e.event, Event::HookInvoked { .. })),
        "no hook runs"
    );
    assert_eq!(outcome.simulated, std::time::Duration::ZERO, "stopped as it starts");
    assert!(
        outcome.traffic.is_empty(),
        "the traffic before the deployment is not its own: {:?}",
        outcome.traffic
    );
    let info = sim.deployment_info(&plan.deployment_id).unwrap();
    assert_eq!(info["status"], "Stopped");
    assert_eq!(info["errorInformation"]["code"], "ALARM_ACTIVE");
}

#[tokio::test(start_paused = true)]
async fn a_hook_without_retries_is_invoked_once() {
    let sim = Sim::start().await.unwrap();
    let plan = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2"))
        .hook(
            Phase::BeforeAllowTraffic,
            "CodeDeployHook_crash",
            Behavior::FunctionError {
                error_type: "Crash".into(),
                message: "boom".into(),
            },
        )
        .hook_retries(Phase::BeforeAllowTraffic, 0)
        .speed(600.0);
    let outcome = sim.deploy(&plan).await;
    let attempts = outcome
        .timeline
        .iter()
        .filter(|e| matches!(e.event, Event::HookInvoked { .. }))
        .count();
    assert_eq!(attempts, 1, "MaximumRetryAttempts 0");
    assert!(
        outcome
            .timeline
            .iter()
            .any(|e| matches!(e.event, Event::HookInvocationFailed { retried: false, .. }))
    );
    assert!(matches!(outcome.rollback, Some(Rollback::HookTimedOut { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_version_that_never_answers_does_not_stop_the_clock() {
    let sim = Sim::start().await.unwrap();
    let alarm = Alarm::any_error("errors").through("live").version("2");
    let plan = plan("Canary10Percent5Minutes", Behavior::hello("1"), Behavior::Hang).alarm(alarm);
    let outcome = sim.deploy(&plan).await;
    // The hanging invocations never count (in Lambda they would end as timeouts, errors):
    // the deployment ends, it does not wait for them forever.
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:?}", outcome.rollback);
}

/// CloudWatch's periods are aligned on the wall clock, not on the deployment: a version that
/// fails from its first request is caught when the minute it started in ends, plus the
/// metrics' lag. The deployment starts at a second of the minute drawn from the seed.
#[tokio::test(start_paused = true)]
async fn alarm_periods_follow_the_wall_clocks_minutes() {
    let failing = Behavior::FunctionError {
        error_type: "Boom".into(),
        message: "always".into(),
    };
    let mut fired_at = Vec::new();
    for seed in [1, 2, 3] {
        let sim = Sim::start().await.unwrap();
        let plan = plan("AllAtOnce", Behavior::hello("1"), failing.clone())
            .seed(seed)
            .alarm(Alarm::any_error("errors").through("live").version("2"))
            .hook(
                Phase::AfterAllowTraffic,
                "CodeDeployHook_silent",
                Behavior::Respond(json!({})),
            );
        let outcome = sim.deploy(&plan).await;
        assert!(
            matches!(outcome.rollback, Some(Rollback::Alarm { .. })),
            "{:?}",
            outcome.rollback
        );
        let created = sim.deployment_info(&plan.deployment_id).unwrap()["createTime"]
            .as_f64()
            .unwrap();
        let into_minute = created.rem_euclid(60.0);
        let fired = outcome
            .timeline
            .iter()
            .find(|e| matches!(e.event, Event::AlarmFired { .. }))
            .unwrap()
            .at
            .as_secs_f64();
        // The first request (at the start) falls in the minute the deployment started in.
        let expected = 60.0 - into_minute + METRIC_LAG.as_secs_f64();
        assert!(
            (fired - expected).abs() < 0.01,
            "seed {seed}: fired at {fired}, expected {expected}"
        );
        fired_at.push(fired.round() as u64);
    }
    fired_at.dedup();
    assert!(fired_at.len() > 1, "the start's second follows the seed: {fired_at:?}");
}

/// A 1 % canary for 8 minutes on a version that fails every call, under a 3-of-3 alarm on its
/// errors: the new version gets a call some minutes and none others. CloudWatch's evaluation
/// range and premature-alarm rule stop it whatever the seed (looking only at the last three
/// minutes, as a plain M-of-N count would, lets some seeds through to 100 %).
#[tokio::test(start_paused = true)]
async fn a_sparse_canary_that_fails_every_call_is_stopped_whatever_the_seed() {
    use crate::alarm::StateValue;
    let failing = || Behavior::FunctionError {
        error_type: "Boom".into(),
        message: "every call".into(),
    };
    let mut sparse_minutes = 0;
    for seed in 1..=10 {
        let sim = Sim::start().await.unwrap();
        let mut alarm = Alarm::any_error("errors").through("live").version("2");
        alarm.evaluation_periods = 3;
        alarm.datapoints_to_alarm = 3;
        let plan = DeploymentPlan::new("fn", Behavior::hello("1"), failing())
            .config(
                "Canary1Percent8Minutes",
                TrafficRouting::TimeBasedCanary {
                    percentage: 1,
                    interval: std::time::Duration::from_secs(480),
                },
            )
            .speed(600.0)
            .seed(seed)
            .alarm(alarm.clone());
        let outcome = sim.deploy(&plan).await;
        assert_eq!(
            outcome.status,
            FinalStatus::RolledBack,
            "seed {seed}: {:?}",
            outcome.rollback
        );
        assert!(
            shifts(&outcome).iter().all(|(_, w)| *w < 0.5),
            "seed {seed}: never past the canary: {:?}",
            shifts(&outcome)
        );
        let fired = outcome
            .timeline
            .iter()
            .find_map(|e| match &e.event {
                Event::AlarmFired { datapoints, .. } => Some(datapoints.clone()),
                _ => None,
            })
            .expect("the alarm fired");
        if fired.contains('-') {
            sparse_minutes += 1;
        }
        // The datapoints it fired on alarm by the documented rules, and not as three in a row.
        let values: Vec<Option<f64>> = fired.split(' ').map(|v| v.parse().ok()).collect();
        assert_eq!(alarm.evaluate(&values, StateValue::Ok), StateValue::Alarm, "{fired}");
    }
    assert!(
        sparse_minutes > 0,
        "some seeds fire on minutes without data in the range"
    );
}

/// An alarm without dimensions watches every function of the account: a hook's own errors
/// set it off, as in AWS.
#[tokio::test(start_paused = true)]
async fn an_alarm_without_dimensions_counts_every_function_hooks_included() {
    use crate::alarm::{AlarmSource, Comparison, Metric, MetricQuery, Statistic};
    let account_errors = || {
        let mut q = MetricQuery::new(Metric::Errors, Statistic::Sum);
        q.every_function = true;
        Alarm::new(
            "account-errors",
            AlarmSource::Metric(q),
            Comparison::GreaterThanThreshold,
            0.0,
        )
    };
    let failing_hook = Behavior::FunctionError {
        error_type: "HookBug".into(),
        message: "the hook itself failed".into(),
    };
    let sim = Sim::start().await.unwrap();
    let with_hook = plan("Canary10Percent5Minutes", Behavior::hello("1"), Behavior::hello("2"))
        .alarm(account_errors())
        .hook(Phase::AfterAllowTraffic, "CodeDeployHook_post", failing_hook.clone());
    let outcome = sim.deploy(&with_hook).await;
    assert!(
        matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, .. }) if alarm == "account-errors")
            || matches!(
                &outcome.rollback,
                Some(Rollback::HookFailed { .. }) | Some(Rollback::HookTimedOut { .. })
            ),
        "{:?}",
        outcome.rollback
    );
    assert!(
        outcome
            .timeline
            .iter()
            .any(|e| matches!(&e.event, Event::AlarmFired { alarm, .. } if alarm == "account-errors")),
        "the hook's errors count in the account-wide set"
    );

    // Scoped to the function, the same alarm does not see the hook.
    let sim = Sim::start().await.unwrap();
    let scoped = Alarm::any_error("fn-errors");
    let scoped_plan = plan("Canary10Percent5Minutes", Behavior::hello("1"), Behavior::hello("2"))
        .alarm(scoped)
        .hook(Phase::AfterAllowTraffic, "CodeDeployHook_post", failing_hook);
    let outcome = sim.deploy(&scoped_plan).await;
    assert!(
        !outcome
            .timeline
            .iter()
            .any(|e| matches!(e.event, Event::AlarmFired { .. })),
        "{:?}",
        outcome.rollback
    );
}

/// `EvaluateLowSampleCountPercentile: ignore`: a p99 alarm does not judge minutes of fewer than
/// 1000 samples; `evaluate` (the default) does.
#[tokio::test(start_paused = true)]
async fn a_percentile_alarm_told_to_ignore_low_samples_waits_for_enough() {
    let latency = |ignore: bool| {
        let mut a = p99_over_250ms();
        a.ignore_low_samples = ignore;
        a
    };
    let slow = || Behavior::Delay(std::time::Duration::from_millis(300), Box::new(Behavior::hello("2")));
    for (ignore, expected) in [(false, FinalStatus::RolledBack), (true, FinalStatus::Succeeded)] {
        let sim = Sim::start().await.unwrap();
        let p = plan("Canary10Percent5Minutes", Behavior::hello("1"), slow()).alarm(latency(ignore));
        let outcome = sim.deploy(&p).await;
        assert_eq!(
            outcome.status, expected,
            "ignore low samples: {ignore}: {:?}",
            outcome.rollback
        );
    }
}

/// CodeDeploy's own role: `AWSCodeDeployRoleForLambda` (SAM's) publishes the notifications and
/// invokes `CodeDeployHook_*` hooks; `AWSCodeDeployRoleForLambdaLimited` (CDK's, the Serverless
/// plugin's) publishes nothing; and neither invokes a hook named otherwise: the deployment fails
/// before the hook runs, with CodeDeploy's IAM_ROLE_PERMISSIONS.
#[tokio::test(start_paused = true)]
async fn codedeploys_role_invokes_the_hooks_and_publishes_the_notifications() {
    use crate::iam::{Identity, managed_policy};
    let role = |policy: &str| Identity {
        role_arn: "arn:aws:iam::123456789012:role/codedeploy".into(),
        session: "CodeDeploy".into(),
        policies: vec![managed_policy(policy).unwrap()],
        boundary: None,
    };
    let trigger = Trigger {
        name: "deployments".into(),
        events: vec![TriggerEvent::DeploymentStart, TriggerEvent::DeploymentSuccess],
        topic_arn: "arn:aws:sns:us-east-1:123456789012:deployments".into(),
    };
    // A hook that never reports is enough: the deployments with one stop before invoking it.
    let with = |policy: &str, hook: Option<&str>| {
        let mut p = DeploymentPlan::new("fn", Behavior::hello("1"), Behavior::hello("2")).trigger(trigger.clone());
        if let Some(hook) = hook {
            p = p.hook(Phase::BeforeAllowTraffic, hook, Behavior::Respond(json!({"ok": true})));
        }
        p.codedeploy_role = Some(role(policy));
        p
    };
    let kinds =
        |outcome: &DeploymentOutcome, f: fn(&Event) -> bool| outcome.timeline.iter().filter(|e| f(&e.event)).count();

    let sim = Sim::start().await.unwrap();
    let outcome = sim.deploy(&with("AWSCodeDeployRoleForLambda", None)).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:?}", outcome.rollback);
    assert_eq!(kinds(&outcome, |e| matches!(e, Event::Notified { .. })), 2);

    let sim = Sim::start().await.unwrap();
    let outcome = sim.deploy(&with("AWSCodeDeployRoleForLambdaLimited", None)).await;
    assert_eq!(outcome.status, FinalStatus::Succeeded, "{:?}", outcome.rollback);
    assert_eq!(kinds(&outcome, |e| matches!(e, Event::Notified { .. })), 0);
    assert_eq!(kinds(&outcome, |e| matches!(e, Event::NotificationDenied { .. })), 2);
    assert!(
        sim.denials().iter().all(|d| d.action == "sns:Publish"),
        "{:?}",
        sim.denials()
    );

    let sim = Sim::start().await.unwrap();
    let outcome = sim
        .deploy(&with("AWSCodeDeployRoleForLambda", Some("pre-traffic")))
        .await;
    assert_eq!(outcome.status, FinalStatus::RolledBack);
    assert!(
        matches!(&outcome.rollback, Some(Rollback::HookNotInvoked { function, .. }) if function == "pre-traffic"),
        "{:?}",
        outcome.rollback
    );
    assert_eq!(outcome.error_code.as_deref(), Some("IAM_ROLE_PERMISSIONS"));
    assert_eq!(kinds(&outcome, |e| matches!(e, Event::HookInvoked { .. })), 0);
    // Named CodeDeployHook_*, the same hook is invoked (and, never reporting, times out).
    let sim2 = Sim::start().await.unwrap();
    let named = sim2
        .deploy(&with("AWSCodeDeployRoleForLambda", Some("CodeDeployHook_pre")))
        .await;
    assert_eq!(kinds(&named, |e| matches!(e, Event::HookInvoked { .. })), 1);
    let info = sim.deployment_info(&outcome.deployment_id).unwrap();
    assert!(
        info["errorInformation"]["message"]
            .as_str()
            .unwrap()
            .contains("does not give you permission to perform operations in the following AWS service: AWSLambda"),
        "{info}"
    );
}

/// A function's Embedded Metric Format log lines are custom metrics an alarm reads, a minute
/// after they are written: a version that logs failed orders is rolled back by an alarm on them.
/// The lines carry the function's own timestamps, from the real clock.
#[tokio::test]
async fn an_alarm_on_a_custom_metric_from_the_functions_log_stops_the_deployment() {
    use crate::alarm::{AlarmSource, Comparison, CustomMetric, Statistic};
    let alarm = || {
        Alarm::new(
            "failed-orders",
            AlarmSource::Custom(CustomMetric {
                namespace: "Shop".into(),
                name: "OrderFailed".into(),
                dimensions: vec![("service".into(), "orders".into())],
                statistic: Statistic::Sum,
                unit: None,
            }),
            Comparison::GreaterThanThreshold,
            0.0,
        )
    };
    for (failed, expected) in [(1, FinalStatus::RolledBack), (0, FinalStatus::Succeeded)] {
        let sim = Sim::start().await.unwrap();
        let recorder = sim.state.recorder.clone();
        let logging = Behavior::Custom(Arc::new(move |_| {
            // Stamped as a function stamps it: with its own clock, the real one (which the
            // simulated clock runs ahead of between events).
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            recorder.log_line(&format!(
                r#"{{"_aws":{{"Timestamp":{ms},"CloudWatchMetrics":[{{"Namespace":"Shop","Dimensions":[["service"]],"Metrics":[{{"Name":"OrderFailed","Unit":"Count"}}]}}]}},"service":"orders","OrderFailed":{failed}}}"#
            ));
            Behavior::hello("2")
        }));
        let p = plan("Canary10Percent5Minutes", Behavior::hello("1"), logging)
            .alarm(alarm())
            .speed(100_000.0);
        let outcome = sim.deploy(&p).await;
        assert_eq!(
            outcome.status, expected,
            "failed orders {failed}: {:?}",
            outcome.rollback
        );
        if failed == 1 {
            assert!(
                matches!(&outcome.rollback, Some(Rollback::Alarm { alarm, value }) if alarm == "failed-orders" && *value >= 1.0),
                "{:?}",
                outcome.rollback
            );
        }
    }
}
