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

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Number(f64),
    Id(String),
    Neg(Box<Expr>),
    Binary(char, Box<Expr>, Box<Expr>),
}

/// A metric-math expression (`+ - * /`, parentheses, numbers, metric ids) over named metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expression {
    /// The expression as written.
    pub text: String,
    /// The metrics its ids name.
    pub metrics: BTreeMap<String, MetricQuery>,
    #[serde(skip)]
    ast: Expr,
}

impl Expression {
    /// Parses `text`; every id in it must name one of `metrics`. The error says what is wrong.
    pub fn parse(text: &str, metrics: BTreeMap<String, MetricQuery>) -> Result<Expression, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, at: 0 };
        let ast = p.sum()?;
        if let Some(t) = p.tokens.get(p.at) {
            return Err(format!(
                "expression {text:?}: unexpected {t} (supported: + - * / ( ), numbers and metric ids)"
            ));
        }
        let mut ids = Vec::new();
        collect_ids(&ast, &mut ids);
        for id in ids {
            if !metrics.contains_key(&id) {
                let known: Vec<&String> = metrics.keys().collect();
                return Err(format!(
                    "expression {text:?} names {id}, which is no metric of the alarm (it has: {known:?}); \
                     functions such as IF or FILL are not simulated"
                ));
            }
        }
        Ok(Expression {
            text: text.to_string(),
            metrics,
            ast,
        })
    }

    /// The value over one period's invocations of `deployed` (see
    /// [`MetricQuery::value_in`]): `None` when a metric it needs has no data, or on a division by
    /// zero.
    pub fn value_in(&self, invocations: &[&InvocationRecord], deployed: &str) -> Option<f64> {
        let values: BTreeMap<&str, Option<f64>> = self
            .metrics
            .iter()
            .map(|(id, q)| (id.as_str(), q.value_in(invocations, deployed)))
            .collect();
        eval(&self.ast, &values).filter(|v| v.is_finite())
    }
}

fn collect_ids(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Number(_) => {}
        Expr::Id(id) => out.push(id.clone()),
        Expr::Neg(inner) => collect_ids(inner, out),
        Expr::Binary(_, a, b) => {
            collect_ids(a, out);
            collect_ids(b, out);
        }
    }
}

fn eval(e: &Expr, values: &BTreeMap<&str, Option<f64>>) -> Option<f64> {
    Some(match e {
        Expr::Number(n) => *n,
        Expr::Id(id) => (*values.get(id.as_str())?)?,
        Expr::Neg(inner) => -eval(inner, values)?,
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, values)?, eval(b, values)?);
            match op {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ if b == 0.0 => return None,
                _ => a / b,
            }
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Id(String),
    Op(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "{n}"),
            Token::Id(id) => write!(f, "{id}"),
            Token::Op(c) => write!(f, "'{c}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            tokens.push(Token::Number(
                s.parse()
                    .map_err(|_| format!("expression {text:?}: {s} is not a number"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Id(chars[start..i].iter().collect()));
        } else {
            // The parser says where it stops making sense (`%`, `>`, ...).
            tokens.push(Token::Op(c));
            i += 1;
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<char> {
        match self.tokens.get(self.at) {
            Some(Token::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek_op() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Op('-')) => Ok(Expr::Neg(Box::new(self.unary()?))),
            Some(Token::Op('(')) => {
                let inner = self.sum()?;
                if self.peek_op() != Some(')') {
                    return Err("expression: a '(' is not closed".to_string());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Id(id)) if self.peek_op() == Some('(') => Err(format!(
                "expression: function {id}(...) is not simulated (only + - * / over metrics)"
            )),
            Some(Token::Id(id)) => Ok(Expr::Id(id)),
            Some(t) => Err(format!("expression: unexpected {t}")),
            None => Err("expression: ends where a value was expected".to_string()),
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

    fn record(qualifier: &str, version: &str, error: bool) -> InvocationRecord {
        InvocationRecord {
            function: "fn".into(),
            qualifier: Some(qualifier.into()),
            executed_version: version.into(),
            error,
            throttled: false,
            at: Duration::ZERO,
            duration: Duration::from_millis(if error { 900 } else { 10 }),
        }
    }

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

    #[test]
    fn an_error_rate_is_an_expression_over_two_metrics() {
        let a = Alarm::error_rate_above("rate", 5.0).through("live");
        let records: Vec<InvocationRecord> = (0..20).map(|i| record("live", "2", i % 10 == 9)).collect();
        let refs: Vec<&InvocationRecord> = records.iter().collect();
        assert_eq!(a.source.value_in(&refs, "fn"), Some(10.0));
        assert_eq!(a.source.value_in(&[], "fn"), None);
        assert_eq!(
            a.source.value_in(&refs, "other"),
            None,
            "another function's invocations"
        );
        assert_eq!(
            a.to_string(),
            "100 * errors / invocations > 5 (errors: Errors Sum (through live); invocations: Invocations Sum (through live)) for 1 of 1 period(s) of 1 min"
        );
    }

    #[test]
    fn expressions_follow_arithmetic_and_say_what_is_wrong() {
        let metrics = || BTreeMap::from([("e".to_string(), MetricQuery::new(Metric::Errors, Statistic::Sum))]);
        let records = [record("live", "2", true), record("live", "2", true)];
        let refs: Vec<&InvocationRecord> = records.iter().collect();
        let value = |text: &str| Expression::parse(text, metrics()).unwrap().value_in(&refs, "fn");
        assert_eq!(value("1 + 2 * e"), Some(5.0));
        assert_eq!(value("(1 + 2) * e"), Some(6.0));
        assert_eq!(value("-e / 4"), Some(-0.5));
        assert_eq!(value("e / (e - 2)"), None, "division by zero has no value");
        let err = |text: &str| Expression::parse(text, metrics()).unwrap_err();
        assert!(err("e / x").contains("names x, which is no metric"), "{}", err("e / x"));
        assert!(err("IF(e > 0, 1, 0)").contains("function IF(...) is not simulated"));
        assert!(err("(e + 1").contains("not closed"));
        assert!(err("e +").contains("ends where a value was expected"));
        assert!(err("e % 2").contains("unexpected '%'"));
    }

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
