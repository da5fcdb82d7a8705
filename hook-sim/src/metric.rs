//! What CloudWatch's metrics are, apart from any store or alarm: how a period's values are
//! aggregated (a statistic), a custom metric's identity, and when a datapoint is published.
//! The invocation record, the custom metric store, the alarms and the CloudWatch API all read
//! it; it reads none of them.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// How long after a period ends its data point is evaluated: Lambda publishes its metrics
/// to CloudWatch about a minute late, and alarms are evaluated once a minute.
pub const METRIC_LAG: Duration = Duration::from_secs(60);

/// How a period is aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Statistic {
    /// The sum: for `Errors`, the number of errors.
    Sum,
    /// The mean: for `Errors`, the error rate (0 to 1).
    Average,
    /// The largest value.
    Maximum,
    /// The smallest value.
    Minimum,
    /// The number of values: invocations.
    SampleCount,
    /// A percentile (`ExtendedStatistic` `p99`, `p99.9`), in hundredths: 9900 is p99. The value
    /// of nearest rank.
    Percentile(u32),
}

impl Statistic {
    /// CloudWatch's name of a statistic: `Sum`, ..., `p99`, `p99.9`.
    pub fn parse(name: &str) -> Option<Statistic> {
        Some(match name {
            "Sum" => Statistic::Sum,
            "Average" => Statistic::Average,
            "Maximum" => Statistic::Maximum,
            "Minimum" => Statistic::Minimum,
            "SampleCount" => Statistic::SampleCount,
            p => {
                let n: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&n) {
                    return None;
                }
                Statistic::Percentile((n * 100.0).round() as u32)
            }
        })
    }
}

impl Statistic {
    /// The statistic of `values`, `None` without any (percentiles by nearest rank).
    pub fn aggregate(self, values: Vec<f64>) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Statistic::Percentile(h) => {
                let mut sorted = values;
                sorted.sort_by(f64::total_cmp);
                let rank = ((f64::from(h) / 10_000.0) * sorted.len() as f64).ceil() as usize;
                sorted[rank.clamp(1, sorted.len()) - 1]
            }
            Statistic::Sum => values.iter().sum(),
            Statistic::Average => values.iter().sum::<f64>() / values.len() as f64,
            Statistic::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
            Statistic::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Statistic::SampleCount => values.len() as f64,
        })
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::Percentile(h) if h % 100 == 0 => write!(f, "p{}", h / 100),
            Statistic::Percentile(h) => write!(f, "p{}", f64::from(*h) / 100.0),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A custom metric (`PutMetricData`, or a function's Embedded Metric Format log lines), as an
/// alarm selects it: its namespace, name, exact dimension set, statistic and unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomMetric {
    /// The namespace (not `AWS/…`).
    pub namespace: String,
    /// The metric name.
    pub name: String,
    /// The dimensions, sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// The statistic.
    pub statistic: Statistic,
    /// Only datapoints in this unit, or all.
    pub unit: Option<String>,
}

impl fmt::Display for CustomMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.namespace, self.name, self.statistic)?;
        if !self.dimensions.is_empty() {
            let dims: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(f, " ({})", dims.join(", "))?;
        }
        Ok(())
    }
}
