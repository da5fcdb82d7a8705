use proptest::prelude::*;

use super::cloudwatch::{fetch, queries};
use super::decide::Decision;
use super::evidence::{Answer, Figure, MAX_PAGES, Sign};
use super::*;
use crate::report::Outcome;

/// The decision as a report shows it.
impl Decision {
    fn outcome(&self) -> Outcome {
        self.result.outcome()
    }

    fn report(&self) -> CheckReport {
        CheckReport {
            result: self.result.clone(),
            ..CheckReport::failed_before_run("metrics")
        }
    }

    fn error(&self) -> Option<String> {
        self.report().error().map(str::to_string)
    }

    fn error_kind(&self) -> Option<ErrorKind> {
        self.report().error_kind()
    }

    fn note(&self) -> Option<String> {
        self.report().note().map(str::to_string)
    }
}

fn spec(v: serde_json::Value) -> MetricsSpec {
    serde_json::from_value(v).unwrap()
}

fn versions(current: Option<&str>) -> Versions {
    Versions {
        target: "2".into(),
        current: current.map(str::to_string),
        alias: "live".into(),
        window: "12:00:00–12:05:00 UTC (traffic shifting)".into(),
    }
}

/// An answer holding `(id, values)`, every result complete.
fn complete(results: &[(&str, &[f64])]) -> Answer {
    let mut a = Answer::default();
    for (id, values) in results {
        a.absorb(id, Some("Complete"), values, Vec::new());
    }
    a
}

#[test]
fn relative_thresholds_judge_the_new_version_by_the_current_one() {
    let s = spec(serde_json::json!({"min_samples": 5, "expect": {"p99": "< 1.2 × current"}}));
    let slow = complete(&[
        ("inv_0", &[10.0]),
        ("inv_1", &[10.0]),
        ("m0_0", &[412.0]),
        ("m0_1", &[131.0]),
    ]);
    let d = decide(&s, &versions(Some("1")), &slow);
    assert_eq!(d.outcome(), Outcome::Failed);
    assert_eq!(d.assertions[1].expected, "< 1.2 × current (so < 157ms)");
    assert_eq!(d.assertions[1].actual, "412ms (version 2) · 131ms (version 1)");
    let fast = complete(&[
        ("inv_0", &[10.0]),
        ("inv_1", &[10.0]),
        ("m0_0", &[140.0]),
        ("m0_1", &[131.0]),
    ]);
    assert_eq!(decide(&s, &versions(Some("1")), &fast).outcome(), Outcome::Passed);
    // No figure of the current version: no bound, no pass.
    let alone = complete(&[("inv_0", &[10.0]), ("inv_1", &[10.0]), ("m0_0", &[10.0]), ("m0_1", &[])]);
    let d = decide(&s, &versions(Some("1")), &alone);
    assert_eq!(d.outcome(), Outcome::Failed);
    assert!(d.assertions[1].expected.contains("no figure"), "{d:?}");
    // A current version whose p99 is +Inf is no evidence, not a bound every figure meets.
    let mut inf = complete(&[("inv_0", &[10.0]), ("inv_1", &[10.0]), ("m0_0", &[10_000.0])]);
    inf.absorb("m0_1", Some("Complete"), &[f64::INFINITY], Vec::new());
    let d = decide(&s, &versions(Some("1")), &inf);
    assert_eq!(d.outcome(), Outcome::Failed);
    assert!(d.error().unwrap().contains("the current one"), "{d:?}");
    // A bound that overflows is no bound.
    let huge = complete(&[
        ("inv_0", &[10.0]),
        ("inv_1", &[10.0]),
        ("m0_0", &[1.0]),
        ("m0_1", &[f64::MAX]),
    ]);
    assert_eq!(decide(&s, &versions(Some("1")), &huge).outcome(), Outcome::Failed);
    let rate = spec(serde_json::json!({"min_samples": 5, "expect": {"error_rate": "<= current + 0.5%"}}));
    let ok = complete(&[
        ("inv_0", &[100.0]),
        ("inv_1", &[100.0]),
        ("m0_0", &[1.4]),
        ("m0_1", &[1.0]),
    ]);
    assert_eq!(decide(&rate, &versions(Some("1")), &ok).outcome(), Outcome::Passed);
    let bad = complete(&[
        ("inv_0", &[100.0]),
        ("inv_1", &[100.0]),
        ("m0_0", &[1.6]),
        ("m0_1", &[1.0]),
    ]);
    assert_eq!(decide(&rate, &versions(Some("1")), &bad).outcome(), Outcome::Failed);
}

#[test]
fn the_spec_counts_the_queries_a_check_makes() {
    let s = spec(
        serde_json::json!({"expect": {"errors": "== 0", "invocations": "> 5", "throttles": "== 0",
        "p99": "< 1.2 × current"},
        "custom": [{"namespace": "Shop", "metric": "A", "version_dimension": "V", "stat": "Sum", "expect": "<= current"},
                   {"namespace": "Shop", "metric": "B", "stat": "Sum", "expect": "< 3"}]}),
    );
    assert_eq!(queries(&s, "fn", &versions(Some("1")), 60).len(), s.max_queries());
    assert!(queries(&s, "fn", &versions(None), 60).len() < s.max_queries());
}

#[test]
fn a_missing_or_incomplete_result_is_no_evidence_of_zero_errors() {
    let s = spec(serde_json::json!({"min_samples": 5, "expect": {"errors": "<= 3"}}));
    let missing = complete(&[("inv_0", &[49.0])]);
    let d = decide(&s, &versions(None), &missing);
    assert_eq!((d.outcome(), d.error_kind()), (Outcome::Failed, Some(ErrorKind::Call)));
    let error = d.error().unwrap();
    assert!(
        error.contains("errors: version 2: CloudWatch returned no result"),
        "{error}"
    );
    for status in ["PartialData", "InternalError"] {
        let mut a = complete(&[("inv_0", &[49.0])]);
        a.absorb("m0_0", Some(status), &[], Vec::new());
        let d = decide(&s, &versions(None), &a);
        assert!(d.error().unwrap().contains(status));
    }
    let mut said = complete(&[("inv_0", &[49.0])]);
    said.absorb("m0_0", Some("Complete"), &[], vec!["Forbidden: no access".into()]);
    assert_eq!(decide(&s, &versions(None), &said).outcome(), Outcome::Failed);
    let mut unread = complete(&[("inv_0", &[49.0]), ("m0_0", &[0.0])]);
    assert_eq!(decide(&s, &versions(None), &unread).outcome(), Outcome::Passed);
    unread.problems.push("a NextToken was left".into());
    assert_eq!(decide(&s, &versions(None), &unread).outcome(), Outcome::Failed);
    // NaN or +Inf invocations do not make min_samples.
    for bad in [f64::NAN, f64::INFINITY] {
        let a = complete(&[("inv_0", &[bad]), ("m0_0", &[0.0])]);
        assert!(
            decide(&s, &versions(None), &a)
                .error()
                .unwrap()
                .contains("invocations of version 2")
        );
    }
}

#[test]
fn inconclusive_pass_never_passes_a_breach() {
    let s = spec(serde_json::json!({"inconclusive": "pass", "expect": {"errors": "<= 3"}}));
    let breach = complete(&[("inv_0", &[49.0]), ("m0_0", &[49.0])]);
    let d = decide(&s, &versions(None), &breach);
    assert_eq!(d.outcome(), Outcome::Failed);
    let error = d.error().unwrap();
    assert!(
        error.contains("never a breach") && error.contains("served 49"),
        "{error}"
    );
    let quiet = complete(&[("inv_0", &[49.0]), ("m0_0", &[0.0])]);
    let d = decide(&s, &versions(None), &quiet);
    assert_eq!(d.outcome(), Outcome::Passed);
    assert!(d.note().unwrap().contains("inconclusive: pass"));
}

/// One result as CloudWatch might send it: any status, values of any kind, a message or not.
fn series() -> impl Strategy<Value = Option<(Option<&'static str>, Vec<f64>, bool)>> {
    let value = prop_oneof![
        40 => 0.0f64..2_000.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => -100.0f64..0.0,
        1 => Just(f64::MAX),
    ];
    let status = prop_oneof![
        40 => Just(Some("Complete")),
        1 => Just(Some("PartialData")),
        1 => Just(Some("InternalError")),
        1 => Just(Some("Forbidden")),
        1 => Just(None),
    ];
    let values = prop_oneof![
        1 => prop::collection::vec(value.clone(), 0..1),
        8 => prop::collection::vec(value, 1..3),
    ];
    prop::option::weighted(0.97, (status, values, prop::bool::weighted(0.02)))
}

const IDS: &[&str] = &[
    "inv_0", "inv_1", "m0_0", "m0_1", "m1_0", "m1_1", "m2_0", "m2_1", "c0_0", "c0_1",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// Whatever GetMetricData answers, the check passes only when every figure it judges is
    /// present, complete, finite, not negative and within its threshold, and both versions
    /// served min_samples — `inconclusive: pass` included.
    #[test]
    fn never_passes_without_complete_finite_evidence_within_thresholds(
        results in prop::collection::vec(series(), IDS.len()),
        problem in prop::bool::weighted(0.05),
        pass_inconclusive in any::<bool>(),
        with_current in prop::bool::weighted(0.8),
    ) {
        let s = spec(serde_json::json!({
            "min_samples": 10,
            "inconclusive": if pass_inconclusive { "pass" } else { "fail" },
            "expect": {"errors": "<= 1500", "p99": "< 1.2 × current + 10ms", "minimum": "> 1ms"},
            "custom": [{"namespace": "Shop", "metric": "Latency", "version_dimension": "Version",
                        "stat": "Average", "unit": "ms", "expect": "<= current + 50ms"}]
        }));
        let mut answer = Answer::default();
        let mut raw = std::collections::HashMap::new();
        for (id, r) in IDS.iter().zip(&results) {
            if let Some((status, values, message)) = r {
                let messages = if *message { vec!["Throttled: slow down".to_string()] } else { Vec::new() };
                answer.absorb(id, *status, values, messages);
                raw.insert(*id, (*status, values.clone(), *message));
            }
        }
        if problem {
            answer.problems.push("a NextToken was left".into());
        }
        let v = versions(with_current.then_some("1"));
        let d = decide(&s, &v, &answer);
        if d.outcome() == Outcome::Passed {
            prop_assert!(!problem);
            // Every judged figure: present, complete, no message, finite, not negative.
            let mut judged = vec!["inv_0", "m0_0", "m1_0", "m2_0", "c0_0"];
            if with_current {
                judged.extend(["inv_1", "m1_1", "c0_1"]);
            }
            let sound = |id: &str| match raw.get(id) {
                Some((Some("Complete"), values, false)) => values.iter().all(|x| x.is_finite() && *x >= 0.0),
                _ => false,
            };
            for id in &judged {
                prop_assert!(sound(id), "{id} judged unsound yet passed: {:?} {d:?}", raw.get(id));
            }
            let sum = |id: &str| raw[id].1.iter().sum::<f64>();
            let max = |id: &str| raw[id].1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = |id: &str| raw[id].1.iter().copied().fold(f64::INFINITY, f64::min);
            let has = |id: &str| !raw[id].1.is_empty();
            let samples = with_current && sum("inv_0") >= 10.0 && sum("inv_1") >= 10.0;
            if samples {
                prop_assert!(sum("m0_0") <= 1500.0);
                prop_assert!(has("m1_0") && has("m1_1") && max("m1_0") < 1.2 * max("m1_1") + 10.0);
                prop_assert!(has("m2_0") && min("m2_0") > 1.0);
                prop_assert!(has("c0_0") && has("c0_1") && max("c0_0") <= max("c0_1") + 50.0);
            } else {
                prop_assert!(pass_inconclusive, "too few samples passed under `inconclusive: fail`");
                // Figures shown never breach.
                prop_assert!(sum("m0_0") <= 1500.0);
                if with_current && has("m1_0") && has("m1_1") {
                    prop_assert!(max("m1_0") < 1.2 * max("m1_1") + 10.0);
                }
                if has("m2_0") {
                    prop_assert!(min("m2_0") > 1.0);
                }
                if with_current && has("c0_0") && has("c0_1") {
                    prop_assert!(max("c0_0") <= max("c0_1") + 50.0);
                }
            }
        }
    }
}

/// Pages are followed, their results merged, and a page left unread is no evidence.
#[tokio::test]
async fn every_page_is_read_and_one_left_is_no_evidence() {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let page = |status: StatusCode, values: Vec<f64>, token: Option<&str>| {
        let times = vec![aws_smithy_types::DateTime::from_secs(0); values.len()];
        GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("inv_0")
                    .status_code(status)
                    .set_values(Some(values))
                    .set_timestamps(Some(times))
                    .build(),
            )
            .set_next_token(token.map(str::to_string))
            .build()
    };
    let two = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .sequence()
        .output(move || page(StatusCode::PartialData, vec![3.0], Some("t1")))
        .output(move || page(StatusCode::Complete, vec![4.0], None))
        .build();
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&two]);
    let asked = || {
        let s = spec(serde_json::json!({"expect": {"errors": "== 0"}}));
        queries(&s, "f", &versions(None), 60)
    };
    let answer = fetch(&cw, asked(), 0, 60).await.unwrap();
    assert_eq!(answer.figure("inv_0", "Sum", Sign::NonNegative), Figure::Value(7.0));
    assert_eq!(two.num_calls(), 2);

    let endless = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.next_token().is_none_or(|t| t.starts_with('t')))
        .then_output(move || page(StatusCode::PartialData, vec![1.0], Some("t")));
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&endless]);
    let answer = fetch(&cw, asked(), 0, 60).await.unwrap();
    assert_eq!(endless.num_calls(), MAX_PAGES);
    match answer.figure("inv_0", "Sum", Sign::NonNegative) {
        Figure::NoEvidence(why) => assert!(why.contains("NextToken was left"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn windows_read_as_times_of_day() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 12 + 61);
    let w = TimeWindow {
        start,
        end: start + Duration::from_secs(300),
        what: "traffic shifting".into(),
    };
    assert_eq!(w.to_string(), "12:01:01–12:06:01 UTC (traffic shifting)");
}

/// A window's end is rounded up to the second, never cut: traffic in the end's last fraction
/// of a second is read (a canary ending at 12:01:00.5 is read through 12:02:00).
#[test]
fn the_window_end_is_rounded_up_to_the_second() {
    use std::time::{Duration, SystemTime};
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    assert_eq!(super::secs_ceil(at(60_500)), 61);
    assert_eq!(super::secs_ceil(at(60_000)), 60);
    assert_eq!(super::secs_ceil(at(1)), 1);
}

/// One result as an answer may hold it against the question (one period of 600 s from 600):
/// its values, their timestamps (on the period, off it, outside the window, missing or too
/// many), whether the page holds it twice.
fn placed() -> impl Strategy<Value = (Vec<f64>, Vec<i64>, bool)> {
    let time = prop_oneof![
        30 => Just(600i64),
        1 => Just(0i64),
        1 => Just(1200i64),
        1 => Just(660i64),
        1 => Just(-86_400i64),
    ];
    (1usize..3).prop_flat_map(move |n| {
        let times = prop_oneof![
            30 => prop::collection::vec(time.clone(), n..=n),
            1 => prop::collection::vec(time.clone(), 0..n),
            1 => prop::collection::vec(time.clone(), n + 1..n + 2),
        ];
        (
            prop::collection::vec(0.0f64..50.0, n..=n),
            times,
            prop::bool::weighted(0.03),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    /// Evidence answers the question asked: the check passes only when every figure it judges
    /// has a timestamp per value, each the window's one period, once a page; results for ids
    /// never asked change nothing.
    #[test]
    fn never_passes_on_evidence_for_another_question(
        results in prop::collection::vec(placed(), 6),
        strangers in prop::collection::vec((0.0f64..1e6, any::<i64>()), 0..20),
    ) {
        let s = spec(serde_json::json!({
            "min_samples": 1,
            "expect": {"errors": "<= 1000", "p99": "< 1.2 × current + 100ms"},
        }));
        let v = versions(Some("1"));
        let ids = ["inv_0", "inv_1", "m0_0", "m0_1", "m1_0", "m1_1"];
        let asked: Vec<(String, i64)> = queries(&s, "f", &v, 600)
            .iter()
            .map(|q| (q.id().unwrap().to_string(), 600))
            .collect();
        prop_assert_eq!(asked.len(), ids.len());
        let answer_with = |strangers: &[(f64, i64)]| {
            let mut a = Answer::to(asked.clone(), 600, 1200);
            a.begin_page();
            for (i, (id, (values, times, twice))) in ids.iter().zip(&results).enumerate() {
                a.absorb_result(id, Some("Complete"), values, times, Vec::new());
                if *twice {
                    a.absorb_result(id, Some("Complete"), values, times, Vec::new());
                }
                if let Some((x, t)) = strangers.get(i) {
                    a.absorb_result(&format!("x{i}"), Some("Complete"), &[*x], &[*t], Vec::new());
                }
            }
            a
        };
        let d = decide(&s, &v, &answer_with(&strangers));
        prop_assert_eq!(&d, &decide(&s, &v, &answer_with(&[])), "ids never asked change nothing");
        if d.outcome() == Outcome::Passed {
            // The current version's errors are not judged by an absolute bound.
            for (id, (values, times, twice)) in ids.iter().zip(&results).filter(|(id, _)| **id != "m0_1") {
                prop_assert!(
                    !twice && times.len() == values.len() && times.iter().all(|t| *t == 600),
                    "{id} passed on {values:?} at {times:?} (twice: {twice})"
                );
            }
        }
    }
}

/// Through the SDK's own client and types: the answers the probes sent (a datapoint from
/// 1970, an id twice in a page, an InternalError page followed by a Complete one, ids never
/// asked) are no evidence, or skipped.
#[tokio::test]
async fn answers_to_another_question_are_no_evidence_through_the_sdk() {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;
    let result = |id: &str, status: StatusCode, at: i64| {
        MetricDataResult::builder()
            .id(id)
            .status_code(status)
            .values(30.0)
            .timestamps(DateTime::from_secs(at))
            .build()
    };
    let asked = || {
        let s = spec(serde_json::json!({"expect": {"errors": "== 0"}}));
        queries(&s, "f", &versions(None), 600)
    };
    let window = (1_800_000_000, 1_800_000_600);
    let figure = |answer: &Answer| answer.figure("inv_0", "Sum", Sign::NonNegative);
    // Dated 1970.
    let old = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
        GetMetricDataOutput::builder()
            .metric_data_results(result("inv_0", StatusCode::Complete, 0))
            .build()
    });
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&old]);
    let answer = fetch(&cw, asked(), window.0, window.1).await.unwrap();
    assert!(matches!(figure(&answer), Figure::NoEvidence(why) if why.contains("datapoint at 0")));
    // Twice in one page, and 150 ids never asked.
    let twice = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
        let mut out = GetMetricDataOutput::builder()
            .metric_data_results(result("inv_0", StatusCode::Complete, window.0))
            .metric_data_results(result("inv_0", StatusCode::Complete, window.0));
        for i in 0..150 {
            out = out.metric_data_results(result(&format!("stranger{i}"), StatusCode::Complete, window.0));
        }
        out.build()
    });
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&twice]);
    let answer = fetch(&cw, asked(), window.0, window.1).await.unwrap();
    assert!(matches!(figure(&answer), Figure::NoEvidence(why) if why.contains("twice")));
    assert!(
        answer.results.keys().all(|k| !k.starts_with("stranger")),
        "skipped as read"
    );
    // An InternalError page, then a Complete one.
    let pages = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .sequence()
        .output(move || {
            GetMetricDataOutput::builder()
                .metric_data_results(result("inv_0", StatusCode::InternalError, window.0))
                .next_token("t")
                .build()
        })
        .output(move || {
            GetMetricDataOutput::builder()
                .metric_data_results(result("inv_0", StatusCode::Complete, window.0))
                .build()
        })
        .build();
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&pages]);
    let answer = fetch(&cw, asked(), window.0, window.1).await.unwrap();
    assert!(matches!(figure(&answer), Figure::NoEvidence(why) if why.contains("InternalError")));
}
