//! The `metrics` check: a gate on what the new version's traffic did, against the current
//! version's, from CloudWatch.
//!
//! ```yaml
//! - name: the new version is as fast and as sound as the current one
//!   metrics:
//!     min_samples: 50
//!     expect:
//!       p99: "< 1.2 × current"
//!       error_rate: "<= current + 0.5%"
//! ```
//!
//! Each threshold is `OP VALUE` with an absolute value (`< 800ms`, `<= 1%`, `== 0`) or one
//! relative to the current version's figure (`< 1.2 × current`, `<= current + 50ms`,
//! `<= current + 0.5%`, `<= current`).

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::duration::Dur;
use crate::invalid::{Invalid, invalid};
use crate::limits::MAX_METRIC_QUERIES;
use crate::predicate::{Cmp, split_comparison};
use crate::words::suggest;

/// Invocations each version needs in the window for a verdict, when the spec says nothing.
pub const DEFAULT_MIN_SAMPLES: u32 = 50;

/// A gate on the Lambda metrics of the deployment's traffic: each target's new version
/// against its current version, through the deployment's alias.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSpec {
    /// The time the figures cover.
    pub window: Window,
    /// Invocations each version compared must have served in the window (through the alias);
    /// with fewer the outcome is inconclusive.
    pub min_samples: u32,
    /// What an inconclusive outcome reports.
    pub inconclusive: Inconclusive,
    /// The thresholds on Lambda's metrics, in the spec's order.
    pub expect: Vec<(LambdaMetric, Threshold)>,
    /// The thresholds on custom metrics.
    pub custom: Vec<(CustomMetric, Threshold)>,
    /// Watch forward after the traffic shifting, deciding as soon as the figures allow.
    pub watch: Option<Watch>,
}

/// A metrics check that watches forward: the new version's figures from the start of the
/// traffic shifting up to now, read every `every` for up to `length` after the shifting
/// ended, against the current version's over `baseline` before the shifting and during it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// How long it watches after the shifting ended (the bake time).
    pub length: Dur,
    /// How much of the current version's traffic before the shifting it compares with.
    pub baseline: Dur,
    /// How often it reads the figures.
    pub every: Dur,
}

/// The longest a check may watch: a Lambda function runs 15 minutes at most, and the hook
/// needs time to report after it.
pub(crate) const MAX_WATCH: std::time::Duration = std::time::Duration::from_secs(14 * 60);

impl MetricsSpec {
    /// The most GetMetricData queries it asks for one target (both versions): invocations and
    /// each threshold's metric per version (throttles once, by alias), each custom metric per
    /// version when a dimension holds it.
    pub fn max_queries(&self) -> usize {
        let per_version = 1 + self
            .expect
            .iter()
            .filter(|(m, _)| !matches!(m, LambdaMetric::Throttles | LambdaMetric::Invocations))
            .count();
        let throttles = usize::from(self.expect.iter().any(|(m, _)| *m == LambdaMetric::Throttles));
        let custom: usize = self
            .custom
            .iter()
            .map(|(c, _)| if c.version_dimension.is_some() { 2 } else { 1 })
            .sum();
        2 * per_version + throttles + custom
    }

    /// Whether a threshold compares with the current version.
    pub fn compares_with_current(&self) -> bool {
        self.expect.iter().any(|(_, t)| t.is_relative()) || self.custom.iter().any(|(_, t)| t.is_relative())
    }
}

/// Judge the traffic each target's new version served against its current version's, from
/// CloudWatch: Lambda's metrics through the deployment's alias (AfterAllowTraffic only).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Metrics")]
pub(crate) struct MetricsSource {
    /// `traffic` (the default): the deployment's traffic shifting, from the start to the end
    /// of its `AllowTraffic` event. Or a duration (`10m`): that long, up to the end of the
    /// shifting (up to now outside a deployment).
    #[serde(default)]
    window: Option<String>,
    /// Invocations each version compared must have served through the alias in the window
    /// (default 50); with fewer, the outcome is inconclusive.
    #[schemars(range(min = 1))]
    min_samples: Option<u32>,
    /// What an inconclusive outcome (too few invocations, no current version to compare
    /// with) reports: `fail` (the default) or `pass`.
    #[serde(default)]
    inconclusive: Inconclusive,
    /// Thresholds by metric: `invocations`, `errors`, `error_rate` (percent), `throttles`
    /// (the alias's, both versions together: absolute only), and `Duration`'s `average`,
    /// `maximum`, `minimum` or a percentile (`p50`, `p99`, `p99.9`). Each is `OP VALUE`:
    /// `"< 800ms"`, `"< 1.2 × current"`, `"<= current + 0.5%"`, `"== 0"`.
    #[serde(default)]
    expect: IndexMap<String, String>,
    /// Thresholds on metrics the function publishes itself (any namespace but `AWS/…`).
    #[serde(default)]
    custom: Vec<CustomMetric>,
    /// Watch forward (`5m`, at most 14m): after all traffic shifted, read the figures every
    /// `every` for this long, and fail as soon as they breach a threshold in two readings
    /// running; at its end the figures decide as any metrics check's do. The new version's
    /// figures run from the start of the traffic shifting to the reading; the current
    /// version's cover `baseline` before the shifting and the shifting itself. So an
    /// `AllAtOnce` deployment, which has no canary traffic, is judged too. The hook's Lambda
    /// timeout must exceed it.
    #[serde(default)]
    watch: Option<String>,
    /// With `watch`: how much of the current version's traffic before the shifting it
    /// compares with (default: as long as `watch`).
    #[serde(default)]
    baseline: Option<String>,
    /// With `watch`: how often it reads the figures (default 1m, at least 10s).
    #[serde(default)]
    every: Option<String>,
}

/// A metric the function publishes itself, compared across versions when one of its
/// dimensions holds the version that published it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMetric {
    /// What reports call it (default: `Namespace/Metric stat`).
    pub name: Option<String>,
    /// The CloudWatch namespace (Lambda's own metrics go in `expect`).
    pub namespace: String,
    /// The metric's name.
    pub metric: String,
    /// Its dimensions, the version's aside: a metric is found by its exact set of dimensions.
    #[serde(default)]
    pub dimensions: IndexMap<String, String>,
    /// The dimension whose value is the Lambda version that published a figure: then the new
    /// version's figure is compared with the current version's. Without it, the metric is read
    /// once, for every version, and takes only absolute thresholds.
    pub version_dimension: Option<String>,
    /// The statistic: `Sum`, `Average`, `Maximum`, `Minimum`, `SampleCount` or a percentile
    /// (`p99`).
    pub stat: String,
    /// How the threshold's values read: `count` (plain numbers, the default), `ms` or `percent`.
    #[serde(default)]
    pub unit: CustomUnit,
    /// `OP VALUE`, as in `expect`: `"< 1.2 × current"`, `"<= 250ms"`.
    pub expect: String,
}

impl CustomMetric {
    /// The values its figure can take: a count of samples or a time is never negative; other
    /// numbers may be anything.
    fn range(&self) -> (f64, f64) {
        if self.stat == "SampleCount" || self.unit == CustomUnit::Ms {
            (0.0, f64::INFINITY)
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        }
    }

    /// Its name in reports.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}/{} {}", self.namespace, self.metric, self.stat))
    }
}

/// How a custom metric's threshold values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CustomUnit {
    /// Plain numbers.
    #[default]
    Count,
    /// Milliseconds: values are written `250ms`, `1.5s`.
    Ms,
    /// Percent: values are written `0.5%`.
    Percent,
}

/// The statistics CloudWatch computes for a custom metric, as the spec may name them.
fn valid_stat(stat: &str) -> bool {
    matches!(stat, "Sum" | "Average" | "Maximum" | "Minimum" | "SampleCount")
        || stat.starts_with('p') && matches!(LambdaMetric::parse(stat), Ok(LambdaMetric::Percentile(_)))
}

impl<'de> Deserialize<'de> for MetricsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = MetricsSource::deserialize(d)?;
        MetricsSpec::try_from(source).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for MetricsSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        MetricsSource::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        MetricsSource::json_schema(generator)
    }
}

impl TryFrom<MetricsSource> for MetricsSpec {
    type Error = Invalid;

    fn try_from(s: MetricsSource) -> Result<Self, Invalid> {
        let window = match s.window.as_deref().map(str::trim) {
            None | Some("traffic") => Window::Traffic,
            Some(text) => {
                let d =
                    Dur::parse(text).map_err(|e| invalid!("metrics.window: {e} (or write `traffic`, the default)"))?;
                if d.0 < std::time::Duration::from_secs(60) {
                    return Err(invalid!(
                        "metrics.window `{text}` is shorter than a minute, Lambda's metric period: write 1m or more"
                    ));
                }
                Window::Last(d)
            }
        };
        let watch = watch(&s, window)?;
        if s.min_samples == Some(0) {
            return Err("metrics.min_samples is 0: a verdict needs at least one invocation".into());
        }
        if s.expect.is_empty() && s.custom.is_empty() {
            return Err("metrics.expect is empty: give at least one threshold, like `p99: \"< 1.2 × current\"`".into());
        }
        let mut expect = Vec::new();
        for (key, text) in &s.expect {
            let metric = LambdaMetric::parse(key)?;
            let threshold = Threshold::parse(text, metric.unit()).map_err(|e| invalid!("metrics.expect.{key}: {e}"))?;
            let (lo, hi) = metric.range();
            threshold
                .sound(lo, hi)
                .map_err(|e| invalid!("metrics.expect.{key}: {e}"))?;
            if metric == LambdaMetric::Throttles && threshold.is_relative() {
                return Err(invalid!(
                    "metrics.expect.throttles: `{text}` compares with the current version, but Lambda counts throttles \
                     by alias only (a throttled invocation ran no version): give an absolute bound, like \"== 0\""
                ));
            }
            expect.push((metric, threshold));
        }
        let mut custom = Vec::new();
        for (i, c) in s.custom.into_iter().enumerate() {
            let at = format!("metrics.custom[{i}]");
            let texts = [
                ("name", c.name.as_deref()),
                ("namespace", Some(c.namespace.as_str())),
                ("metric", Some(c.metric.as_str())),
                ("version_dimension", c.version_dimension.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .chain(c.dimensions.iter().flat_map(|(k, v)| {
                [
                    (format!("dimensions.{k}"), k.as_str()),
                    (format!("dimensions.{k}"), v.as_str()),
                ]
            }));
            for (field, text) in texts {
                if text.contains("${") || text.contains("{{") {
                    return Err(invalid!(
                        "{at}.{field}: `{text}` is not filled in: a metrics check reads its names and dimensions as \
                         written, with no ${{env:...}} or {{{{...}}}}; write the value itself"
                    ));
                }
            }
            if c.namespace.starts_with("AWS/") {
                return Err(invalid!(
                    "{at}: namespace {} is AWS's: Lambda's own metrics go in `metrics.expect`",
                    c.namespace
                ));
            }
            if !valid_stat(&c.stat) {
                return Err(invalid!(
                    "{at}: stat `{}` is not one CloudWatch computes: use Sum, Average, Maximum, Minimum, SampleCount or a percentile like p99",
                    c.stat
                ));
            }
            if c.dimensions.len() > 29 {
                return Err(invalid!("{at}: at most 30 dimensions, the version's included"));
            }
            if let Some(v) = &c.version_dimension
                && c.dimensions.contains_key(v)
            {
                return Err(invalid!(
                    "{at}: `{v}` is the version_dimension: its value is each version's, so leave it out of `dimensions`"
                ));
            }
            let unit = match c.unit {
                CustomUnit::Count => Unit::Count,
                CustomUnit::Ms => Unit::Millis,
                CustomUnit::Percent => Unit::Percent,
            };
            let threshold = Threshold::parse(&c.expect, unit).map_err(|e| invalid!("{at}.expect: {e}"))?;
            let (lo, hi) = c.range();
            threshold.sound(lo, hi).map_err(|e| invalid!("{at}.expect: {e}"))?;
            if threshold.is_relative() && c.version_dimension.is_none() {
                return Err(invalid!(
                    "{at}: `{}` compares with the current version, but nothing tells the versions apart: \
                     name the dimension that holds the version in `version_dimension`",
                    c.expect
                ));
            }
            custom.push((c, threshold));
        }
        let spec = MetricsSpec {
            window,
            min_samples: s.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
            inconclusive: s.inconclusive,
            expect,
            custom,
            watch,
        };
        let queries = spec.max_queries();
        if queries > MAX_METRIC_QUERIES {
            return Err(invalid!(
                "metrics asks CloudWatch {queries} queries for a target, over the {MAX_METRIC_QUERIES} one GetMetricData \
                 call takes: split the thresholds over several checks"
            ));
        }
        Ok(spec)
    }
}

/// The `watch`, `baseline` and `every` of a metrics check, checked.
fn watch(s: &MetricsSource, window: Window) -> Result<Option<Watch>, String> {
    let dur = |field: &str, text: &str| Dur::parse(text).map_err(|e| format!("metrics.{field}: {e}"));
    let Some(text) = s.watch.as_deref() else {
        if let Some(field) = [("baseline", &s.baseline), ("every", &s.every)]
            .iter()
            .find_map(|(f, v)| v.as_ref().map(|_| *f))
        {
            return Err(format!(
                "metrics.{field} goes with `watch`, which this check does not have: add `watch: 5m` or leave {field} out"
            ));
        }
        return Ok(None);
    };
    let length = dur("watch", text)?;
    let minute = std::time::Duration::from_secs(60);
    if length.0 < minute || length.0 > MAX_WATCH {
        return Err(format!(
            "metrics.watch `{text}` is out of range: from 1m (Lambda's metric period) to 14m (a Lambda function \
             runs 15 minutes at most, and the hook reports after the watch)"
        ));
    }
    if window != Window::Traffic {
        return Err(
            "metrics.watch reads from the start of the traffic shifting on, and `window` says otherwise: \
             leave `window` out (size the current version's share with `baseline`)"
                .into(),
        );
    }
    let baseline = match s.baseline.as_deref() {
        None => length,
        Some(t) => {
            let d = dur("baseline", t)?;
            if d.0 < minute || d.0 > std::time::Duration::from_secs(3 * 3600) {
                return Err(format!("metrics.baseline `{t}` is out of range: from 1m to 3h"));
            }
            d
        }
    };
    let every = match s.every.as_deref() {
        None => Dur(minute),
        Some(t) => {
            let d = dur("every", t)?;
            if d.0 < std::time::Duration::from_secs(10) || d.0 > length.0 {
                return Err(format!(
                    "metrics.every `{t}` is out of range: from 10s (CloudWatch publishes Lambda's figures a minute at \
                     a time) to the watch's {length}"
                ));
            }
            d
        }
    };
    Ok(Some(Watch {
        length,
        baseline,
        every,
    }))
}

/// The time a metrics check's figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// The deployment's traffic shifting: its `AllowTraffic` event, start to end.
    #[default]
    Traffic,
    /// This long, up to the end of the shifting (up to now outside a deployment).
    Last(Dur),
}

/// What an inconclusive metrics check reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Inconclusive {
    /// Failed: no verdict is no proof (the default).
    #[default]
    Fail,
    /// Passed, saying it was inconclusive.
    Pass,
}

/// What a figure is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (`Duration`).
    Millis,
    /// Percent (`error_rate`).
    Percent,
    /// A count.
    Count,
}

impl Unit {
    /// A figure with its unit: `412ms`, `0.5%`, `12`.
    pub fn show(self, x: f64) -> String {
        let n = if (x - x.round()).abs() < 1e-9 {
            format!("{}", x.round())
        } else if x.abs() >= 100.0 {
            format!("{x:.0}")
        } else {
            let s = format!("{x:.2}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        match self {
            Unit::Millis => format!("{n}ms"),
            Unit::Percent => format!("{n}%"),
            Unit::Count => n,
        }
    }
}

/// A Lambda metric a metrics check reads, per version through the alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaMetric {
    /// `Invocations`, `Sum`.
    Invocations,
    /// `Errors`, `Sum`.
    Errors,
    /// `100 × Errors / Invocations`.
    ErrorRate,
    /// `Throttles`, `Sum`, of the alias (not per version).
    Throttles,
    /// `Duration`, `Average`.
    Average,
    /// `Duration`, `Maximum`.
    Maximum,
    /// `Duration`, `Minimum`.
    Minimum,
    /// `Duration` at a percentile, in hundredths (9900: p99).
    Percentile(u32),
}

const METRIC_KEYS: &[&str] = &[
    "invocations",
    "errors",
    "error_rate",
    "throttles",
    "average",
    "maximum",
    "minimum",
    "p50",
    "p90",
    "p95",
    "p99",
];

impl LambdaMetric {
    /// A key of `metrics.expect`.
    pub fn parse(key: &str) -> Result<LambdaMetric, Invalid> {
        Ok(match key {
            "invocations" => LambdaMetric::Invocations,
            "errors" => LambdaMetric::Errors,
            "error_rate" => LambdaMetric::ErrorRate,
            "throttles" => LambdaMetric::Throttles,
            "average" => LambdaMetric::Average,
            "maximum" | "max" => LambdaMetric::Maximum,
            "minimum" | "min" => LambdaMetric::Minimum,
            p if p.starts_with('p') && p.len() > 1 => {
                let digits = &p[1..];
                let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
                let canonical = !whole.is_empty()
                    && whole.bytes().all(|b| b.is_ascii_digit())
                    && (whole == "0" || !whole.starts_with('0'))
                    && fraction.bytes().all(|b| b.is_ascii_digit())
                    && (digits.len() == whole.len() || (!fraction.is_empty() && !fraction.ends_with('0')));
                if !canonical {
                    return Err(invalid!(
                        "metrics.expect.{p}: a percentile is p and a number as CloudWatch writes it, like p99 or p99.9 \
                         (no exponent, sign, leading or trailing zero)"
                    ));
                }
                let n: f64 = digits
                    .parse()
                    .map_err(|_| invalid!("metrics.expect.{p}: a percentile is p and a number, like p99 or p99.9"))?;
                if !(n > 0.0 && n < 100.0) || (n * 100.0).fract() != 0.0 {
                    return Err(invalid!(
                        "metrics.expect.{p}: a percentile lies between p0 and p100, with at most two decimals (p99.99)"
                    ));
                }
                LambdaMetric::Percentile((n * 100.0).round() as u32)
            }
            other => {
                return Err(invalid!(
                    "metrics.expect has no metric `{other}`{}: use {}, or a percentile of Duration like p99.9",
                    suggest(other, METRIC_KEYS)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default(),
                    METRIC_KEYS.join(", ")
                ));
            }
        })
    }

    /// The values its figure can take: counts and times are never negative; an error rate is
    /// a percentage.
    pub fn range(self) -> (f64, f64) {
        match self {
            LambdaMetric::ErrorRate => (0.0, 100.0),
            _ => (0.0, f64::INFINITY),
        }
    }

    /// The unit of its figures.
    pub fn unit(self) -> Unit {
        match self {
            LambdaMetric::Invocations | LambdaMetric::Errors | LambdaMetric::Throttles => Unit::Count,
            LambdaMetric::ErrorRate => Unit::Percent,
            _ => Unit::Millis,
        }
    }

    /// The CloudWatch metric and statistic it reads (`error_rate` reads `Errors` and
    /// `Invocations`).
    pub fn cloudwatch(self) -> (&'static str, String) {
        match self {
            LambdaMetric::Invocations => ("Invocations", "Sum".into()),
            LambdaMetric::Errors | LambdaMetric::ErrorRate => ("Errors", "Sum".into()),
            LambdaMetric::Throttles => ("Throttles", "Sum".into()),
            LambdaMetric::Average => ("Duration", "Average".into()),
            LambdaMetric::Maximum => ("Duration", "Maximum".into()),
            LambdaMetric::Minimum => ("Duration", "Minimum".into()),
            LambdaMetric::Percentile(h) => ("Duration", percentile_name(h)),
        }
    }
}

fn percentile_name(h: u32) -> String {
    if h.is_multiple_of(100) {
        format!("p{}", h / 100)
    } else {
        let s = format!("{:.2}", f64::from(h) / 100.0);
        format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl fmt::Display for LambdaMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LambdaMetric::Invocations => f.write_str("invocations"),
            LambdaMetric::Errors => f.write_str("errors"),
            LambdaMetric::ErrorRate => f.write_str("error_rate"),
            LambdaMetric::Throttles => f.write_str("throttles"),
            LambdaMetric::Average => f.write_str("average Duration"),
            LambdaMetric::Maximum => f.write_str("maximum Duration"),
            LambdaMetric::Minimum => f.write_str("minimum Duration"),
            LambdaMetric::Percentile(h) => write!(f, "{} Duration", percentile_name(*h)),
        }
    }
}

/// A bound on a figure: absolute, or relative to the current version's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The comparison.
    pub cmp: Cmp,
    /// What the figure is compared with.
    pub bound: Bound,
    /// The unit of the values.
    pub unit: Unit,
    /// As written.
    pub text: String,
}

/// What a figure is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A value, in the metric's unit.
    Absolute(f64),
    /// `factor × current + offset`, in the metric's unit.
    Relative {
        /// Multiplies the current version's figure.
        factor: f64,
        /// Added to it.
        offset: f64,
    },
}

impl Threshold {
    /// Whether it compares with the current version.
    pub fn is_relative(&self) -> bool {
        matches!(self.bound, Bound::Relative { .. })
    }

    /// Parses `OP VALUE` for a metric measured in `unit`.
    pub fn parse(text: &str, unit: Unit) -> Result<Threshold, Invalid> {
        let Some((cmp, rest)) = split_comparison(text) else {
            return Err(invalid!(
                "`{text}` has no comparison: start with <, <=, >, >= or ==, like \"< 1.2 × current\""
            ));
        };
        let rest = rest.trim();
        let bound = match rest.find("current") {
            None => Bound::Absolute(value(rest, unit)?),
            Some(at) => {
                let before = rest[..at].trim();
                let after = rest[at + "current".len()..].trim();
                let factor_before = if before.is_empty() {
                    None
                } else {
                    let n = before
                        .strip_suffix(['×', 'x', '*'])
                        .ok_or_else(|| invalid!("`{text}`: write a factor as `1.2 × current` (or 1.2x, 1.2 *)"))?;
                    Some(factor(n.trim(), text)?)
                };
                let (factor_after, offset) = match after.chars().next() {
                    None => (None, 0.0),
                    Some('×' | 'x' | '*') => (
                        Some(factor(
                            after[after.chars().next().map_or(1, char::len_utf8)..].trim(),
                            text,
                        )?),
                        0.0,
                    ),
                    Some('+') => (None, value(after[1..].trim(), unit)?),
                    Some('-') => (None, -value(after[1..].trim(), unit)?),
                    Some(_) => {
                        return Err(invalid!(
                            "`{text}`: after `current` comes `+ VALUE`, `- VALUE` or `× FACTOR`, or nothing"
                        ));
                    }
                };
                if factor_before.is_some() && factor_after.is_some() {
                    return Err(invalid!("`{text}` has two factors: keep one"));
                }
                Bound::Relative {
                    factor: factor_before.or(factor_after).unwrap_or(1.0),
                    offset,
                }
            }
        };
        Ok(Threshold {
            cmp,
            bound,
            unit,
            text: text.trim().to_string(),
        })
    }

    /// Refuses a threshold that no figure in `lo..=hi` can fail (`>= 0` errors, `<= 100%` error
    /// rate, `<= current + 100%`), whatever the current figure, or that none can pass.
    pub fn sound(&self, lo: f64, hi: f64) -> Result<(), Invalid> {
        // The bound's range over every current figure in lo..=hi (factor >= 0).
        let (least, most) = match self.bound {
            Bound::Absolute(v) => (v, v),
            Bound::Relative { factor, offset } => {
                let at = |c: f64| if factor == 0.0 { offset } else { factor * c + offset };
                (at(lo), at(hi))
            }
        };
        let never_fails = match self.cmp {
            Cmp::Ge | Cmp::Gt => self.cmp.always_holds(most, lo, hi),
            Cmp::Le | Cmp::Lt => self.cmp.always_holds(least, lo, hi),
            Cmp::Eq => false,
        };
        if never_fails {
            return Err(invalid!(
                "`{}` holds for every figure, so it can never fail: bound it so a worse version breaks it, like \
                 \"<= current + 0.5%\" or \"< 1.2 × current\"",
                self.text
            ));
        }
        if let Bound::Absolute(v) = self.bound
            && self.cmp.never_holds(v, lo, hi)
        {
            return Err(invalid!("`{}` holds for no figure, so it can never pass", self.text));
        }
        Ok(())
    }

    /// The bound, given the current version's figure (`None` when the threshold needs one and
    /// there is none).
    pub fn limit(&self, current: Option<f64>) -> Option<f64> {
        match self.bound {
            Bound::Absolute(v) => Some(v),
            Bound::Relative { factor, offset } => current.map(|c| factor * c + offset),
        }
    }
}

fn factor(text: &str, whole: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| format!("`{whole}`: `{text}` is no factor: write a number, like 1.2"))
}

/// A value in `unit`: `800ms` or `1.5s` (milliseconds), `0.5%` (percent), `3` (a count).
fn value(text: &str, unit: Unit) -> Result<f64, String> {
    let v = match unit {
        Unit::Millis => {
            let d = Dur::parse(text).map_err(|e| format!("{e} (Duration is compared as a time)"))?;
            d.0.as_secs_f64() * 1000.0
        }
        Unit::Percent => text
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("`{text}` is no percentage: error_rate is in percent, like 0.5%"))?,
        Unit::Count => text
            .parse::<f64>()
            .ok()
            .ok_or_else(|| format!("`{text}` is no count: write a number, like 0"))?,
    };
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{text}`: give a finite value of 0 or more"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, unit: Unit) -> Threshold {
        Threshold::parse(text, unit).unwrap()
    }

    #[test]
    fn absolute_thresholds_carry_their_unit() {
        assert_eq!(t("< 800ms", Unit::Millis).bound, Bound::Absolute(800.0));
        assert_eq!(t("<= 1.5s", Unit::Millis).bound, Bound::Absolute(1500.0));
        assert_eq!(t("<= 1%", Unit::Percent).bound, Bound::Absolute(1.0));
        assert_eq!(t("== 0", Unit::Count).bound, Bound::Absolute(0.0));
        assert!(
            Threshold::parse("< 800", Unit::Millis)
                .unwrap_err()
                .why()
                .contains("800ms")
        );
        assert!(
            Threshold::parse("< 0.5", Unit::Percent)
                .unwrap_err()
                .why()
                .contains("percent")
        );
        assert!(
            Threshold::parse("800ms", Unit::Millis)
                .unwrap_err()
                .why()
                .contains("comparison")
        );
    }

    #[test]
    fn relative_thresholds_scale_and_shift_the_current_figure() {
        for text in [
            "< 1.2 × current",
            "< 1.2x current",
            "< 1.2 * current",
            "< current × 1.2",
            "<1.2×current",
        ] {
            let th = t(text, Unit::Millis);
            assert_eq!(
                th.bound,
                Bound::Relative {
                    factor: 1.2,
                    offset: 0.0
                },
                "{text}"
            );
            assert_eq!(th.limit(Some(100.0)), Some(120.0));
            assert_eq!(th.limit(None), None, "no current figure, no bound");
        }
        let rate = t("<= current + 0.5%", Unit::Percent);
        assert_eq!(rate.limit(Some(1.0)), Some(1.5));
        assert_eq!(t("<= current - 10ms", Unit::Millis).limit(Some(100.0)), Some(90.0));
        assert_eq!(t("<= current", Unit::Count).limit(Some(3.0)), Some(3.0));
        assert!(t("<= current", Unit::Count).is_relative());
        assert!(
            Threshold::parse("< 2 × current × 3", Unit::Millis)
                .unwrap_err()
                .why()
                .contains("two factors")
        );
        assert!(
            Threshold::parse("< current + 5", Unit::Millis)
                .unwrap_err()
                .why()
                .contains("unit")
        );
        assert!(Threshold::parse("< current / 2", Unit::Millis).is_err());
    }

    #[test]
    fn metric_keys_are_checked_with_a_suggestion() {
        assert_eq!(LambdaMetric::parse("p99.9").unwrap(), LambdaMetric::Percentile(9990));
        assert_eq!(
            LambdaMetric::parse("p99.9").unwrap().cloudwatch(),
            ("Duration", "p99.9".to_string())
        );
        assert_eq!(LambdaMetric::parse("error_rate").unwrap().unit(), Unit::Percent);
        assert!(
            LambdaMetric::parse("eror_rate")
                .unwrap_err()
                .why()
                .contains("did you mean `error_rate`")
        );
        assert!(LambdaMetric::parse("p100").is_err() && LambdaMetric::parse("pxx").is_err());
    }

    #[test]
    fn a_spec_needs_thresholds_and_a_sensible_window() {
        let parse = |v: serde_json::Value| serde_json::from_value::<MetricsSpec>(v).map_err(|e| e.to_string());
        let ok = parse(serde_json::json!({"expect": {"p99": "< 1.2 × current"}})).unwrap();
        assert_eq!(ok.window, Window::Traffic);
        assert_eq!(ok.min_samples, DEFAULT_MIN_SAMPLES);
        assert_eq!(ok.inconclusive, Inconclusive::Fail);
        assert!(ok.compares_with_current());
        let last =
            parse(serde_json::json!({"window": "10m", "inconclusive": "pass", "expect": {"errors": "== 0"}})).unwrap();
        assert_eq!(last.window, Window::Last(Dur(std::time::Duration::from_secs(600))));
        assert!(!last.compares_with_current());
        assert!(parse(serde_json::json!({"expect": {}})).unwrap_err().contains("empty"));
        let w = parse(serde_json::json!({"watch": "5m", "expect": {"errors": "== 0"}})).unwrap();
        let m = |n: u64| Dur(std::time::Duration::from_secs(60 * n));
        assert_eq!(
            w.watch,
            Some(Watch {
                length: m(5),
                baseline: m(5),
                every: m(1)
            }),
            "baseline as long as the watch, every minute"
        );
        assert_eq!(ok.watch, None);
        let watch_err = |v: serde_json::Value| parse(v).unwrap_err();
        for (v, says) in [
            (
                serde_json::json!({"watch": "30s", "expect": {"errors": "== 0"}}),
                "out of range",
            ),
            (
                serde_json::json!({"watch": "15m", "expect": {"errors": "== 0"}}),
                "15 minutes at most",
            ),
            (
                serde_json::json!({"watch": "5m", "window": "10m", "expect": {"errors": "== 0"}}),
                "leave `window` out",
            ),
            (
                serde_json::json!({"watch": "5m", "every": "5s", "expect": {"errors": "== 0"}}),
                "from 10s",
            ),
            (
                serde_json::json!({"watch": "5m", "every": "6m", "expect": {"errors": "== 0"}}),
                "watch's 5m",
            ),
            (
                serde_json::json!({"baseline": "5m", "expect": {"errors": "== 0"}}),
                "add `watch: 5m`",
            ),
            (
                serde_json::json!({"watch": "5m", "baseline": "4h", "expect": {"errors": "== 0"}}),
                "1m to 3h",
            ),
            (
                serde_json::json!({"watch": "5 minutes", "expect": {"errors": "== 0"}}),
                "metrics.watch",
            ),
        ] {
            let e = watch_err(v.clone());
            assert!(e.contains(says), "{v}: {e}");
        }
        assert!(
            parse(serde_json::json!({"window": "30s", "expect": {"errors": "== 0"}}))
                .unwrap_err()
                .contains("minute")
        );
        assert!(
            parse(serde_json::json!({"min_samples": 0, "expect": {"errors": "== 0"}}))
                .unwrap_err()
                .contains("at least one")
        );
        assert!(
            parse(serde_json::json!({"expect": {"throttles": "<= current"}}))
                .unwrap_err()
                .contains("by alias only")
        );
        let custom = |c: serde_json::Value| parse(serde_json::json!({"custom": [c]}));
        let ok = custom(
            serde_json::json!({"namespace": "Shop", "metric": "Checkout", "stat": "p99", "unit": "ms",
            "dimensions": {"Service": "checkout"}, "version_dimension": "Version", "expect": "< 1.2 × current"}),
        )
        .unwrap();
        assert_eq!(ok.custom[0].0.label(), "Shop/Checkout p99");
        assert!(ok.compares_with_current());
        assert!(
            custom(
                serde_json::json!({"namespace": "Shop", "metric": "Checkout", "stat": "Sum", "expect": "<= current"})
            )
            .unwrap_err()
            .contains("version_dimension")
        );
        assert!(
            custom(serde_json::json!({"namespace": "AWS/Lambda", "metric": "Errors", "stat": "Sum", "expect": "== 0"}))
                .unwrap_err()
                .contains("metrics.expect")
        );
        assert!(
            custom(serde_json::json!({"namespace": "Shop", "metric": "X", "stat": "Median", "expect": "== 0"}))
                .unwrap_err()
                .contains("stat `Median`")
        );
        assert!(
            custom(
                serde_json::json!({"namespace": "Shop", "metric": "X", "stat": "Sum", "unit": "ms", "expect": "< 5"})
            )
            .unwrap_err()
            .contains("5ms")
        );
    }

    #[test]
    fn figures_show_with_their_unit() {
        assert_eq!(Unit::Millis.show(412.0), "412ms");
        assert_eq!(Unit::Millis.show(12.3456), "12.35ms");
        assert_eq!(Unit::Percent.show(0.5), "0.5%");
        assert_eq!(Unit::Count.show(3.0), "3");
    }

    #[test]
    fn specs_that_cannot_fail_are_refused() {
        let parse = |v: serde_json::Value| serde_json::from_value::<MetricsSpec>(v).map_err(|e| e.to_string());
        for (key, text) in [
            ("errors", ">= 0"),
            ("p99", ">= 0ms"),
            ("error_rate", "<= 100%"),
            ("error_rate", "<= current + 100%"),
            ("p99", ">= 0 × current"),
            ("invocations", ">= current × 0"),
        ] {
            let e = parse(serde_json::json!({"expect": {key: text}})).unwrap_err();
            assert!(e.contains("can never fail"), "{key}: {text}: {e}");
        }
        let e = parse(serde_json::json!({"expect": {"errors": "< 0"}})).unwrap_err();
        assert!(e.contains("can never pass"), "{e}");
        for (key, text) in [
            ("p99", "< 1.2 × current"),
            ("error_rate", "<= current + 1%"),
            ("errors", "== 0"),
        ] {
            assert!(
                parse(serde_json::json!({"expect": {key: text}})).is_ok(),
                "{key}: {text}"
            );
        }
        // Percentiles as CloudWatch writes them, no other spelling.
        for p in ["p1e1", "p099", "p99.90", "p+99", "p99.", "p.5", "p 99"] {
            let e = parse(serde_json::json!({"expect": {p: "< 1s"}})).unwrap_err();
            assert!(e.contains("as CloudWatch writes it"), "{p}: {e}");
        }
        for p in ["p0.5", "p50", "p99.9", "p99.99"] {
            assert!(parse(serde_json::json!({"expect": {p: "< 1s"}})).is_ok(), "{p}");
        }
        // More queries than one GetMetricData call takes.
        let many: Vec<serde_json::Value> = (0..300)
            .map(|i| {
                serde_json::json!({"namespace": "Shop", "metric": format!("M{i}"), "version_dimension": "V",
                "stat": "Sum", "expect": "<= current"})
            })
            .collect();
        let e = parse(serde_json::json!({"custom": many})).unwrap_err();
        assert!(e.contains("602 queries") && e.contains("500"), "{e}");
        // Names and dimensions are read as written.
        let e = parse(
            serde_json::json!({"custom": [{"namespace": "Shop", "metric": "Orders", "stat": "Sum",
            "dimensions": {"Env": "${env:STAGE}"}, "expect": "> 0"}]}),
        )
        .unwrap_err();
        assert!(
            e.contains("metrics.custom[0].dimensions.Env") && e.contains("not filled in"),
            "{e}"
        );
    }
}
