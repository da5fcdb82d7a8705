//! CloudWatch alarms on a Lambda function's metrics, as the deployment engine evaluates them.
//!
//! An alarm watches one metric (`Errors` or `Invocations`, a statistic, and the `Resource` /
//! `ExecutedVersion` dimensions), or a metric-math expression over several
//! (`100 * errors / invocations`: an error rate in percent). Each invocation counts as one
//! data point: `Errors` is 1 for a function error and 0 otherwise, `Invocations` is 1. A
//! period without invocations has no data.
//!
//! An alarm's state follows CloudWatch's documented evaluation ("How alarm state is evaluated
//! when data is missing", [`Alarm::evaluate`]): it looks at an *evaluation range* of the last
//! `EvaluationPeriods + 2` periods; with at least `EvaluationPeriods` real datapoints there the
//! most recent of them decide; with fewer, every real one counts and only the shortfall is
//! filled as `TreatMissingData` says; and a "premature alarm" fires on fewer real datapoints than
//! `DatapointsToAlarm` when they all breach and the oldest is old enough.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::InvocationRecord;
use crate::duration::human;
pub use crate::metric::{CustomMetric, Statistic};
pub use crate::metric_math::Expression;
pub use crate::metric_query::{Metric, MetricQuery};

/// CloudWatch's comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `>`.
    GreaterThanThreshold,
    /// `>=`.
    GreaterThanOrEqualToThreshold,
    /// `<`.
    LessThanThreshold,
    /// `<=`.
    LessThanOrEqualToThreshold,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::GreaterThanThreshold => ">",
            Comparison::GreaterThanOrEqualToThreshold => ">=",
            Comparison::LessThanThreshold => "<",
            Comparison::LessThanOrEqualToThreshold => "<=",
        }
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmSource {
    /// One metric.
    Metric(MetricQuery),
    /// A metric-math expression.
    Expression(Expression),
    /// One custom metric (the engine reads it from the custom metric store).
    Custom(CustomMetric),
    /// A metric AWS publishes no data for (a dimension set Lambda does not publish, a `Unit`
    /// that is not the metric's, a period shorter than the metric's resolution): every period
    /// is missing, and `TreatMissingData` alone decides. The text says why.
    NoData(String),
}

impl AlarmSource {
    /// The value over one period's invocations of `deployed` (or every function's, for a
    /// metric of the account-wide set), `None` without data.
    pub fn value_in(&self, invocations: &[&InvocationRecord], deployed: &str) -> Option<f64> {
        match self {
            AlarmSource::Metric(q) => q.value_in(invocations, deployed),
            AlarmSource::Expression(e) => e.value_in(invocations, deployed),
            AlarmSource::Custom(_) | AlarmSource::NoData(_) => None,
        }
    }

    /// How few samples make a period's percentile too weak to judge, for an alarm on one
    /// percentile (CloudWatch's rule for `EvaluateLowSampleCountPercentile`: below
    /// `10 / (1 - p)` samples for p in [0.5, 1), below `10 / p` for p in (0, 0.5)); `None`
    /// for other statistics.
    pub fn low_sample_bound(&self) -> Option<f64> {
        let h = match self {
            AlarmSource::Metric(MetricQuery {
                statistic: Statistic::Percentile(h),
                ..
            })
            | AlarmSource::Custom(CustomMetric {
                statistic: Statistic::Percentile(h),
                ..
            }) => h,
            _ => return None,
        };
        let p = f64::from(*h) / 10_000.0;
        if (0.5..1.0).contains(&p) {
            Some(10.0 / (1.0 - p))
        } else if p > 0.0 && p < 0.5 {
            Some(10.0 / p)
        } else {
            None
        }
    }

    /// The number of samples of a one-metric alarm's period (its `SampleCount`).
    pub fn samples_in(&self, invocations: &[&InvocationRecord], deployed: &str) -> Option<f64> {
        match self {
            AlarmSource::Metric(q) => MetricQuery {
                statistic: Statistic::SampleCount,
                ..q.clone()
            }
            .value_in(invocations, deployed),
            AlarmSource::Expression(_) | AlarmSource::Custom(_) | AlarmSource::NoData(_) => None,
        }
    }
}

/// How an alarm treats a period without data (`TreatMissingData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    /// CloudWatch's default: a missing period counts neither way; an alarm whose evaluated
    /// periods are all missing has insufficient data, and does not fire.
    #[default]
    Missing,
    /// A missing period is good.
    NotBreaching,
    /// A missing period breaches: an alarm on the new version fires while it gets no traffic.
    Breaching,
    /// Where `Missing` would leave the state to missing data alone, the alarm keeps the state it
    /// had (with no data at all, and where the premature-alarm rule would fire).
    Ignore,
}

/// An alarm's state (CloudWatch's `StateValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateValue {
    /// Within its threshold.
    Ok,
    /// Breaching: CodeDeploy stops a deployment that watches it.
    Alarm,
    /// Not enough data (every new alarm starts here).
    InsufficientData,
}

/// A CloudWatch metric alarm on the deployed function.
#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// What it watches.
    pub source: AlarmSource,
    /// The comparison.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// The period (simulated time).
    #[serde(rename = "period_s", serialize_with = "crate::duration::secs")]
    pub period: Duration,
    /// How many recent periods are evaluated.
    pub evaluation_periods: u32,
    /// How many of them must breach.
    pub datapoints_to_alarm: u32,
    /// How periods without data count.
    pub treat_missing_data: MissingData,
    /// `EvaluateLowSampleCountPercentile: ignore`: while the newest period holds too few
    /// samples for its percentile ([`AlarmSource::low_sample_bound`]), the alarm keeps its state.
    pub ignore_low_samples: bool,
}

impl Alarm {
    /// How many recent periods CloudWatch retrieves to evaluate the alarm: its evaluation range,
    /// `EvaluationPeriods + 2` (the documented example retrieves 5 for 3; AWS says the range
    /// depends on the period and the resolution, and publishes no formula).
    pub fn evaluation_range(&self) -> usize {
        self.evaluation_periods.max(1) as usize + 2
    }

    /// The state after the periods `values` (oldest first; `None`: no data), from the state
    /// it was in, as CloudWatch documents it:
    ///
    /// - with at least `EvaluationPeriods` (N) real datapoints in the evaluation range, the most
    ///   recent N of them decide, missing periods between them skipped: ALARM when at least
    ///   `DatapointsToAlarm` (M) breach;
    /// - with fewer, every real datapoint of the range counts and only the shortfall (N minus
    ///   the real ones) is filled: as breaching, as not breaching, or (`missing`, `ignore`) not
    ///   at all;
    /// - the premature-alarm rule: under `missing`, when every real datapoint breaches and the
    ///   oldest of them within the last N periods is at least M periods old, ALARM even with
    ///   fewer than M of them (under `ignore` the state is kept instead);
    /// - no real datapoint in the range: INSUFFICIENT_DATA under `missing`, the state kept under
    ///   `ignore`.
    pub fn evaluate(&self, values: &[Option<f64>], previous: StateValue) -> StateValue {
        let n = self.evaluation_periods.max(1) as usize;
        let m = (self.datapoints_to_alarm.max(1) as usize).min(n);
        let range = &values[values.len().saturating_sub(self.evaluation_range())..];
        // (age, breaching), most recent first; age 1 is the newest period.
        let real: Vec<(usize, bool)> = range
            .iter()
            .rev()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i + 1, self.comparison.holds(v, self.threshold))))
            .collect();
        let verdict = |breaching: usize| {
            if breaching >= m {
                StateValue::Alarm
            } else {
                StateValue::Ok
            }
        };
        if real.len() >= n {
            return verdict(real[..n].iter().filter(|(_, b)| *b).count());
        }
        let breaching = real.iter().filter(|(_, b)| *b).count();
        let shortfall = n - real.len();
        match self.treat_missing_data {
            MissingData::Breaching => verdict(breaching + shortfall),
            MissingData::NotBreaching => verdict(breaching),
            MissingData::Missing | MissingData::Ignore => {
                let keep = |otherwise| match self.treat_missing_data {
                    MissingData::Ignore => previous,
                    _ => otherwise,
                };
                if real.is_empty() {
                    return keep(StateValue::InsufficientData);
                }
                if breaching >= m {
                    return StateValue::Alarm;
                }
                let oldest_recent = real.iter().filter(|(age, _)| *age <= n).map(|(age, _)| *age).max();
                let premature = breaching == real.len() && oldest_recent.is_some_and(|age| age >= m);
                if premature {
                    keep(StateValue::Alarm)
                } else {
                    StateValue::Ok
                }
            }
        }
    }

    /// Whether a new alarm is in ALARM after the periods `values` ([`evaluate`](Self::evaluate)
    /// from INSUFFICIENT_DATA).
    pub fn in_alarm(&self, values: &[Option<f64>]) -> bool {
        self.evaluate(values, StateValue::InsufficientData) == StateValue::Alarm
    }

    /// Any function error in a 60 s period: `Errors` `Sum` `> 0`, over all invocations.
    pub fn any_error(name: &str) -> Self {
        Self::new(
            name,
            AlarmSource::Metric(MetricQuery::new(Metric::Errors, Statistic::Sum)),
            Comparison::GreaterThanThreshold,
            0.0,
        )
    }

    /// An error rate in percent over 60 s periods: `100 * errors / invocations` `> percent`.
    pub fn error_rate_above(name: &str, percent: f64) -> Self {
        let metrics = BTreeMap::from([
            ("errors".to_string(), MetricQuery::new(Metric::Errors, Statistic::Sum)),
            (
                "invocations".to_string(),
                MetricQuery::new(Metric::Invocations, Statistic::Sum),
            ),
        ]);
        let expression = Expression::parse("100 * errors / invocations", metrics).expect("a valid expression");
        Self::new(
            name,
            AlarmSource::Expression(expression),
            Comparison::GreaterThanThreshold,
            percent,
        )
    }

    /// An alarm of one period of 60 s.
    pub fn new(name: &str, source: AlarmSource, comparison: Comparison, threshold: f64) -> Self {
        Alarm {
            name: name.to_string(),
            source,
            comparison,
            threshold,
            period: Duration::from_secs(60),
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            treat_missing_data: MissingData::Missing,
            ignore_low_samples: false,
        }
    }

    fn queries(&mut self) -> Vec<&mut MetricQuery> {
        match &mut self.source {
            AlarmSource::Metric(q) => vec![q],
            AlarmSource::Expression(e) => e.metrics.values_mut().collect(),
            AlarmSource::Custom(_) | AlarmSource::NoData(_) => Vec::new(),
        }
    }

    /// Only invocations through `qualifier` (the `Resource` dimension `function:qualifier`).
    pub fn through(mut self, qualifier: &str) -> Self {
        for q in self.queries() {
            q.qualifier = Some(qualifier.to_string());
        }
        self
    }

    /// Only invocations that ran `version` (the `ExecutedVersion` dimension).
    pub fn version(mut self, version: &str) -> Self {
        for q in self.queries() {
            q.executed_version = Some(version.to_string());
        }
        self
    }
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, of) = match &self.source {
            AlarmSource::Metric(q) => (q.to_string(), String::new()),
            AlarmSource::Custom(c) => (c.to_string(), String::new()),
            AlarmSource::NoData(why) => (format!("a metric with no data ({why})"), String::new()),
            AlarmSource::Expression(e) => (
                e.text.clone(),
                format!(
                    " ({})",
                    e.metrics
                        .iter()
                        .map(|(id, q)| format!("{id}: {q}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
        };
        write!(
            f,
            "{what} {} {}{of} for {} of {} period(s) of {}",
            self.comparison.symbol(),
            self.threshold,
            self.datapoints_to_alarm,
            self.evaluation_periods,
            human(self.period)
        )?;
        match self.treat_missing_data {
            MissingData::Missing => Ok(()),
            MissingData::NotBreaching => write!(f, ", missing data not breaching"),
            MissingData::Breaching => write!(f, ", missing data breaching"),
            MissingData::Ignore => write!(f, ", missing data ignored"),
        }?;
        if self.ignore_low_samples {
            write!(f, ", low sample counts ignored")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record as record;

    #[test]
    fn single_metric_alarms_describe_themselves() {
        let a = Alarm::any_error("e").through("live").version("2");
        assert_eq!(
            a.to_string(),
            "Errors Sum (through live, version 2) > 0 for 1 of 1 period(s) of 1 min"
        );
    }

    /// A series in CloudWatch's notation, oldest first: `0` not breaching, `X` breaching, `-`
    /// missing (against a threshold `> 0`).
    fn series(text: &str) -> Vec<Option<f64>> {
        text.split_whitespace()
            .map(|c| match c {
                "0" => Some(0.0),
                "X" => Some(1.0),
                "-" => None,
                other => panic!("{other} is not 0, X or -"),
            })
            .collect()
    }

    fn alarm(m: u32, n: u32, missing: MissingData) -> Alarm {
        let mut a = Alarm::any_error("e");
        a.evaluation_periods = n;
        a.datapoints_to_alarm = m;
        a.treat_missing_data = missing;
        a
    }

    /// The two tables of CloudWatch's user guide ("How alarm state is evaluated when data is
    /// missing"), row by row: data points (oldest first), then the state under `missing`,
    /// `ignore`, `breaching` and `notBreaching` (`keep`: the state it had).
    #[test]
    fn evaluates_sparse_data_as_cloudwatch_documents_it() {
        use StateValue::*;
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Want {
            Is(StateValue),
            Keep,
        }
        use Want::*;
        type Rows<'a> = &'a [(&'a str, [Want; 4])];
        let tables: [(u32, u32, Rows); 2] = [
            (
                3,
                3,
                &[
                    ("0 - X - X", [Is(Ok), Is(Ok), Is(Ok), Is(Ok)]),
                    ("0 - - - -", [Is(Ok), Is(Ok), Is(Ok), Is(Ok)]),
                    ("- - - - -", [Is(InsufficientData), Keep, Is(Alarm), Is(Ok)]),
                    ("0 X X - X", [Is(Alarm), Is(Alarm), Is(Alarm), Is(Alarm)]),
                    ("- - X - -", [Is(Alarm), Keep, Is(Alarm), Is(Ok)]),
                ],
            ),
            (
                2,
                3,
                &[
                    ("0 - X - X", [Is(Alarm), Is(Alarm), Is(Alarm), Is(Alarm)]),
                    ("0 0 X 0 X", [Is(Alarm), Is(Alarm), Is(Alarm), Is(Alarm)]),
                    ("0 - X - -", [Is(Ok), Is(Ok), Is(Alarm), Is(Ok)]),
                    ("- - - - 0", [Is(Ok), Is(Ok), Is(Alarm), Is(Ok)]),
                    ("- - - X -", [Is(Alarm), Keep, Is(Alarm), Is(Ok)]),
                ],
            ),
        ];
        let modes = [
            MissingData::Missing,
            MissingData::Ignore,
            MissingData::Breaching,
            MissingData::NotBreaching,
        ];
        for (m, n, rows) in tables {
            for (data, wants) in rows {
                for (mode, want) in modes.iter().zip(wants) {
                    let a = alarm(m, n, *mode);
                    assert_eq!(a.evaluation_range(), 5);
                    for previous in [Ok, Alarm, InsufficientData] {
                        let expected = match want {
                            Is(s) => *s,
                            Keep => previous,
                        };
                        assert_eq!(
                            a.evaluate(&series(data), previous),
                            expected,
                            "{m} of {n}, {data}, {mode:?}, from {previous:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_evaluation_range_and_the_premature_rule_around_the_documented_rows() {
        let a = alarm(3, 3, MissingData::Missing);
        // Older than the range: not counted.
        assert_eq!(
            a.evaluate(&series("X X X - - - - -"), StateValue::Alarm),
            StateValue::InsufficientData
        );
        // Real datapoints anywhere in the range count, the gaps between them skipped.
        assert!(a.in_alarm(&series("X - X - X")));
        assert!(
            a.in_alarm(&series("0 0 X - X - X")),
            "the range is the last five: X - X - X"
        );
        // One breaching minute does not alarm prematurely until it is M periods old.
        assert!(!a.in_alarm(&series("- - - - X")));
        assert!(!a.in_alarm(&series("- - - X -")));
        assert!(a.in_alarm(&series("- - X - -")));
        assert!(!a.in_alarm(&series("- X - - -")), "past the last N periods");
        // A sparse canary that fails every call: alarms within the range, not only on 3 in a row.
        assert!(a.in_alarm(&series("0 0 0 X - X - -")));
        // Only the last N of the real datapoints decide once there are N.
        let a = alarm(2, 3, MissingData::Missing);
        assert!(!a.in_alarm(&[Some(1.0), Some(1.0), Some(0.0), Some(0.0), Some(1.0)]));
        let a = alarm(2, 3, MissingData::Breaching);
        assert!(a.in_alarm(&series("X - -")));
        assert!(a.in_alarm(&series("- - 0")), "no traffic is breaching");
        let a = alarm(2, 3, MissingData::NotBreaching);
        assert!(!a.in_alarm(&series("X - -")));
    }

    #[test]
    fn low_sample_bounds_follow_cloudwatch() {
        let bound = |p: &str| {
            AlarmSource::Metric(MetricQuery::new(Metric::Duration, Statistic::parse(p).unwrap())).low_sample_bound()
        };
        assert_eq!(bound("p99").map(f64::round), Some(1000.0));
        assert_eq!(bound("p50"), Some(20.0));
        assert_eq!(bound("p10"), Some(100.0));
        assert_eq!(bound("p100"), None);
        assert_eq!(
            AlarmSource::Metric(MetricQuery::new(Metric::Duration, Statistic::Maximum)).low_sample_bound(),
            None
        );
    }

    #[test]
    fn the_account_wide_set_counts_every_function() {
        let mut records = vec![record("live", "2", false)];
        records.push(InvocationRecord {
            function: "CodeDeployHook_pre".into(),
            ..record("live", "1", true)
        });
        let refs: Vec<&InvocationRecord> = records.iter().collect();
        let mut q = MetricQuery::new(Metric::Errors, Statistic::Sum);
        assert_eq!(q.value_in(&refs, "fn"), Some(0.0));
        q.every_function = true;
        assert_eq!(q.value_in(&refs, "fn"), Some(1.0), "a hook's error counts in {{}}");
        assert_eq!(q.to_string(), "Errors Sum (every function)");
    }
}
