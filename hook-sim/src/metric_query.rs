//! CloudWatch's metric data queries over the simulated invocations: a Lambda [`Metric`] and the
//! [`MetricQuery`] that selects it by dimension and aggregates a period of it, as `MetricStat`
//! does. Alarms, metric math and the CloudWatch API read them.

use std::fmt;

use serde::Serialize;

use crate::InvocationRecord;
use crate::metric::Statistic;

/// A Lambda metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// Invocations that ended in a function error (1 each; 0 for the others).
    Errors,
    /// Invocations (1 each).
    Invocations,
    /// How long each invocation's handler ran, in milliseconds.
    Duration,
    /// Invocations Lambda throttled (1 each). Published by `FunctionName` and `Resource` only:
    /// a throttled invocation ran no version.
    Throttles,
}

impl Metric {
    /// Lambda's name of a metric: `Errors`, `Invocations`, `Duration`, `Throttles`.
    pub fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "Errors" => Metric::Errors,
            "Invocations" => Metric::Invocations,
            "Duration" => Metric::Duration,
            "Throttles" => Metric::Throttles,
            _ => return None,
        })
    }

    /// The unit Lambda publishes the metric in: `Count`, or `Milliseconds` for `Duration`. A
    /// query or an alarm naming another `Unit` gets no data from CloudWatch.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Duration => "Milliseconds",
            Metric::Errors | Metric::Invocations | Metric::Throttles => "Count",
        }
    }
}

/// One metric of the deployed function, as CloudWatch's `MetricStat` selects it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricQuery {
    /// The metric.
    pub metric: Metric,
    /// The statistic.
    pub statistic: Statistic,
    /// The `Resource` dimension's qualifier: only invocations through it (`live`), or all.
    pub qualifier: Option<String>,
    /// The `ExecutedVersion` dimension: only invocations that ran this version, or all.
    pub executed_version: Option<String>,
    /// No `FunctionName` dimension: Lambda's account-wide set `{}`, every function of the account
    /// and region (hooks included), not only the deployed one.
    pub every_function: bool,
}

impl MetricQuery {
    /// `statistic` of `metric` over every invocation of the function.
    pub fn new(metric: Metric, statistic: Statistic) -> Self {
        MetricQuery {
            metric,
            statistic,
            qualifier: None,
            executed_version: None,
            every_function: false,
        }
    }

    /// [`value`](Self::value) over the invocations it selects of `invocations`: those of
    /// `deployed`, or of every function for the account-wide set.
    pub fn value_in(&self, invocations: &[&InvocationRecord], deployed: &str) -> Option<f64> {
        if self.every_function {
            return self.value(invocations);
        }
        let of: Vec<&InvocationRecord> = invocations.iter().copied().filter(|i| i.function == deployed).collect();
        self.value(&of)
    }

    /// The statistic over the invocations of one period, `None` without any.
    pub fn value(&self, invocations: &[&InvocationRecord]) -> Option<f64> {
        let values: Vec<f64> = invocations
            .iter()
            .filter(|i| self.qualifier.is_none() || i.qualifier == self.qualifier)
            .filter(|i| self.executed_version.as_ref().is_none_or(|v| *v == i.executed_version))
            // A throttle counts in `Throttles` only, which has no `ExecutedVersion`; the other
            // metrics count what ran.
            .filter(|i| match self.metric {
                Metric::Throttles => i.throttled && self.executed_version.is_none(),
                _ => !i.throttled,
            })
            .map(|i| match self.metric {
                Metric::Errors => f64::from(u8::from(i.error)),
                Metric::Invocations | Metric::Throttles => 1.0,
                Metric::Duration => i.duration.as_secs_f64() * 1000.0,
            })
            .collect();
        self.statistic.aggregate(values)
    }
}

impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.metric, self.statistic)?;
        if self.every_function {
            write!(f, " (every function)")?;
        }
        match (&self.qualifier, &self.executed_version) {
            (Some(q), Some(v)) => write!(f, " (through {q}, version {v})"),
            (Some(q), None) => write!(f, " (through {q})"),
            (None, Some(v)) => write!(f, " (version {v})"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::test_record as record;

    #[test]
    fn durations_and_percentiles() {
        let mut records: Vec<InvocationRecord> = (1..=100)
            .map(|i| InvocationRecord {
                duration: Duration::from_millis(i),
                ..record("live", "2", false)
            })
            .collect();
        records.push(record("live", "1", false));
        let all: Vec<&InvocationRecord> = records.iter().collect();
        let mut q = MetricQuery::new(Metric::Duration, Statistic::parse("p99").unwrap());
        q.executed_version = Some("2".into());
        assert_eq!(q.value(&all), Some(99.0));
        q.statistic = Statistic::parse("p99.9").unwrap();
        assert_eq!(q.statistic, Statistic::Percentile(9990));
        assert_eq!(q.value(&all), Some(100.0));
        q.statistic = Statistic::Average;
        assert_eq!(q.value(&all), Some(50.5));
        assert_eq!(Statistic::parse("p50").unwrap().to_string(), "p50");
        assert_eq!(Statistic::parse("p99.9").unwrap().to_string(), "p99.9");
        assert_eq!(Statistic::parse("p101"), None);
        assert_eq!(Statistic::parse("Median"), None);
    }

    #[test]
    fn metric_queries_filter_by_dimension_and_aggregate() {
        let records = [
            record("live", "1", false),
            record("live", "2", true),
            record("live", "2", false),
            record("2", "2", true),
        ];
        let all: Vec<&InvocationRecord> = records.iter().collect();
        let mut q = MetricQuery::new(Metric::Errors, Statistic::Sum);
        assert_eq!(q.value(&all), Some(2.0));
        q.qualifier = Some("live".into());
        assert_eq!(q.value(&all), Some(1.0));
        q.statistic = Statistic::Average;
        assert_eq!(q.value(&all), Some(1.0 / 3.0));
        q.executed_version = Some("2".into());
        assert_eq!(q.value(&all), Some(0.5));
        q.statistic = Statistic::SampleCount;
        assert_eq!(q.value(&all), Some(2.0));
        assert_eq!(q.value(&[]), None, "no invocations, no data");
    }
}
