//! The verdict of a metrics check on its figures: samples first, then each threshold, then
//! the inconclusive policy. Pure, so that every rule is tested without CloudWatch.

use super::evidence::{Answer, Figure, Sign};
use crate::report::AssertionResult;
use crate::report::{CheckFailure, CheckResult};
use crate::spec::{Bound, Inconclusive, LambdaMetric, MetricsSpec, Threshold, Unit};

/// The versions a metrics check compares, and what the report calls them.
#[derive(Debug, Clone)]
pub(crate) struct Versions {
    /// The new version.
    pub(crate) target: String,
    /// The version traffic moves away from, if any.
    pub(crate) current: Option<String>,
    /// The alias the traffic goes through.
    pub(crate) alias: String,
    /// The window, as text.
    pub(crate) window: String,
}

impl Versions {
    pub(super) fn list(&self) -> Vec<&str> {
        std::iter::once(self.target.as_str())
            .chain(self.current.as_deref())
            .collect()
    }

    /// `412ms (version 2) · 131ms (version 1)`.
    fn both(&self, t: String, c: Option<String>) -> String {
        match (c, &self.current) {
            (Some(c), Some(cv)) => format!("{t} (version {}) · {c} (version {cv})", self.target),
            _ => format!("{t} (version {})", self.target),
        }
    }
}

/// What the figures decide.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    /// The sample counts first, then one per threshold.
    pub(crate) assertions: Vec<AssertionResult>,
    /// The verdict.
    pub(crate) result: CheckResult,
    /// Why the figures gave no verdict, if they did not.
    pub(crate) inconclusive: Option<String>,
}

/// One threshold against its figures.
#[derive(Debug, Clone, PartialEq)]
enum Judged {
    Holds,
    Breaches,
    /// No figure to judge (no data, no current figure): not a breach, not a pass.
    Unjudged,
    /// A figure it needs is no evidence.
    NoEvidence(String),
}

/// What the figures showed so far: the assertions, each threshold's verdict, the versions that
/// served too few invocations, and the figures that are no evidence.
#[derive(Default)]
struct Findings {
    assertions: Vec<AssertionResult>,
    judged: Vec<Judged>,
    short: Vec<String>,
    no_evidence: Vec<String>,
}

impl Findings {
    fn add(&mut self, label: String, actual: String, (result, verdict): (AssertionResult, Judged)) {
        if let Judged::NoEvidence(why) = &verdict {
            self.no_evidence.push(format!("{label}: {why}"));
        }
        self.judged.push(verdict);
        self.assertions.push(AssertionResult {
            query: label,
            actual,
            ..result
        });
    }
}

/// The verdict of `spec` on `answer`: pure, so that every rule is tested without CloudWatch.
///
/// It passes only when every figure it judges is evidence (see [`evidence`](super::evidence)) and within its
/// threshold, and each version compared served `min_samples`. Too few samples is the one
/// inconclusive case `inconclusive: pass` lets through, and never with a figure that breaches.
pub(crate) fn decide(spec: &MetricsSpec, versions: &Versions, answer: &Answer) -> Decision {
    let invocations: Vec<Figure> = (0..versions.list().len())
        .map(|vi| answer.figure(&format!("inv_{vi}"), "Sum", Sign::NonNegative))
        .collect();
    let mut found = Findings::default();
    samples(spec, versions, &invocations, &mut found);
    lambda_metrics(spec, versions, answer, &invocations, &mut found);
    custom_metrics(spec, versions, answer, &mut found);
    verdict(spec, versions, found)
}

/// The samples: the new version's, and the current one's when a threshold compares with it.
fn samples(spec: &MetricsSpec, versions: &Versions, invocations: &[Figure], found: &mut Findings) {
    let relative = spec.compares_with_current();
    let mut check = |version: &str, figure: &Figure| match figure {
        Figure::Value(n) if *n >= f64::from(spec.min_samples) => {}
        Figure::Value(n) => found.short.push(format!("version {version} served {n} invocations")),
        Figure::NoData => found.short.push(format!("version {version} served 0 invocations")),
        Figure::NoEvidence(why) => found
            .no_evidence
            .push(format!("invocations of version {version}: {why}")),
    };
    check(&versions.target, &invocations[0]);
    if relative {
        match (&versions.current, invocations.get(1)) {
            (Some(c), Some(f)) => check(c, f),
            _ => found.short.push("there is no current version to compare with".into()),
        }
    }
    let count = |f: &Figure| show_figure(Unit::Count, f);
    found.assertions.push(AssertionResult {
        query: format!("invocations through {}", versions.alias),
        expected: format!(
            ">= {} (min_samples){}",
            spec.min_samples,
            if relative { " for each version" } else { "" }
        ),
        actual: versions.both(count(&invocations[0]), invocations.get(1).map(count)),
        passed: found.short.is_empty() && found.no_evidence.is_empty(),
    });
}

/// Lambda's own metrics, per version (throttles: the alias's, both versions).
fn lambda_metrics(
    spec: &MetricsSpec,
    versions: &Versions,
    answer: &Answer,
    invocations: &[Figure],
    found: &mut Findings,
) {
    let figure_of = |vi: usize, mi: usize, metric: LambdaMetric| -> Figure {
        match metric {
            LambdaMetric::Throttles => answer.figure("throttles", "Sum", Sign::NonNegative),
            LambdaMetric::Invocations => invocations.get(vi).cloned().unwrap_or(Figure::NoData),
            LambdaMetric::Errors => answer.figure(&format!("m{mi}_{vi}"), "Sum", Sign::NonNegative),
            LambdaMetric::ErrorRate => {
                let errors = answer.figure(&format!("m{mi}_{vi}"), "Sum", Sign::NonNegative);
                match (errors, invocations.get(vi)) {
                    (Figure::NoEvidence(why), _) => Figure::NoEvidence(format!("its errors: {why}")),
                    (_, Some(Figure::NoEvidence(why))) => Figure::NoEvidence(format!("its invocations: {why}")),
                    (Figure::Value(e), Some(Figure::Value(n))) if *n > 0.0 => Figure::Value(100.0 * e / n),
                    _ => Figure::NoData,
                }
            }
            m => answer.figure(&format!("m{mi}_{vi}"), &m.cloudwatch().1, Sign::NonNegative),
        }
    };
    for (mi, (metric, threshold)) in spec.expect.iter().enumerate() {
        let t = figure_of(0, mi, *metric);
        let c = if versions.current.is_some() {
            figure_of(1, mi, *metric)
        } else {
            Figure::NoData
        };
        let unit = metric.unit();
        let actual = if *metric == LambdaMetric::Throttles {
            format!("{} (the alias, both versions)", show_figure(unit, &t))
        } else {
            versions.both(show_figure(unit, &t), Some(show_figure(unit, &c)))
        };
        found.add(metric.to_string(), actual, judge(threshold, &t, &c, versions));
    }
}

/// The spec's own metrics, per version when they have a version dimension.
fn custom_metrics(spec: &MetricsSpec, versions: &Versions, answer: &Answer, found: &mut Findings) {
    for (ci, (custom, threshold)) in spec.custom.iter().enumerate() {
        let per_version = custom.version_dimension.is_some();
        let sign = if custom.stat == "SampleCount" || threshold.unit == Unit::Millis {
            Sign::NonNegative
        } else {
            Sign::Any
        };
        let t = answer.figure(&format!("c{ci}_0"), &custom.stat, sign);
        let c = if per_version && versions.current.is_some() {
            answer.figure(&format!("c{ci}_1"), &custom.stat, sign)
        } else {
            Figure::NoData
        };
        let actual = if per_version {
            versions.both(
                show_figure(threshold.unit, &t),
                versions.current.as_ref().map(|_| show_figure(threshold.unit, &c)),
            )
        } else {
            format!(
                "{} (all versions: no version_dimension)",
                show_figure(threshold.unit, &t)
            )
        };
        found.add(custom.label(), actual, judge(threshold, &t, &c, versions));
    }
}

/// The verdict of what was found: no evidence is a failed call; too few samples is
/// inconclusive, as the spec's policy says; otherwise every threshold must hold.
fn verdict(spec: &MetricsSpec, versions: &Versions, found: Findings) -> Decision {
    let breaches = found.judged.iter().filter(|j| **j == Judged::Breaches).count();
    let unjudged = found.judged.contains(&Judged::Unjudged);
    let mut d = Decision {
        assertions: found.assertions,
        result: CheckResult::Failed(CheckFailure::Expectation),
        inconclusive: None,
    };
    if !found.no_evidence.is_empty() {
        d.result = CheckResult::Failed(CheckFailure::call(format!(
            "no evidence for a verdict: {} — a figure counts only when CloudWatch's result is complete, \
             every value finite and, for counts and durations, not negative",
            found.no_evidence.join("; ")
        )));
        return d;
    }
    if !found.short.is_empty() {
        let why = format!(
            "inconclusive: {} through {} in {}, fewer than min_samples {}",
            found.short.join(" and "),
            versions.alias,
            versions.window,
            spec.min_samples
        );
        d.inconclusive = Some(why.clone());
        d.result = match spec.inconclusive {
            Inconclusive::Fail => CheckResult::Failed(CheckFailure::Verdict(format!(
                "{why} (the spec says `inconclusive: fail`, the default)"
            ))),
            Inconclusive::Pass if breaches > 0 => CheckResult::Failed(CheckFailure::Verdict(format!(
                "{why}, and {breaches} figure{} shown breach{} {}: `inconclusive: pass` lets too few samples \
                 through, never a breach",
                if breaches == 1 { "" } else { "s" },
                if breaches == 1 { "es" } else { "" },
                if breaches == 1 {
                    "its threshold"
                } else {
                    "their thresholds"
                },
            ))),
            Inconclusive::Pass => CheckResult::Passed {
                note: Some(format!("{why}: passed, as the spec says `inconclusive: pass`")),
            },
        };
        return d;
    }
    if breaches == 0 && !unjudged {
        d.result = CheckResult::Passed { note: None };
    }
    d
}

fn show_figure(unit: Unit, f: &Figure) -> String {
    match f {
        Figure::Value(v) => unit.show(*v),
        Figure::NoData => "no data".into(),
        Figure::NoEvidence(_) => "no evidence".into(),
    }
}

/// A threshold against the new version's figure `target` and the current one's: the
/// expectation (with the bound worked out), whether it holds, and why not; the caller says
/// what the figures were.
fn judge(threshold: &Threshold, target: &Figure, current: &Figure, versions: &Versions) -> (AssertionResult, Judged) {
    let unit = threshold.unit;
    let relative = threshold.is_relative();
    let limit = threshold.limit(if relative { current.value() } else { None });
    let expected = match (threshold.bound, limit) {
        (Bound::Relative { .. }, Some(l)) => {
            format!("{} (so {} {})", threshold.text, threshold.cmp.symbol(), unit.show(l))
        }
        (Bound::Relative { .. }, None) => format!("{} (the current version has no figure)", threshold.text),
        (Bound::Absolute(_), _) => threshold.text.clone(),
    };
    let verdict = match (target, current) {
        (Figure::NoEvidence(why), _) => Judged::NoEvidence(format!("version {}: {why}", versions.target)),
        (_, Figure::NoEvidence(why)) if relative => Judged::NoEvidence(format!(
            "version {} (the current one, which the threshold compares with): {why}",
            versions.current.as_deref().unwrap_or("?")
        )),
        (Figure::NoData, _) => Judged::Unjudged,
        (Figure::Value(t), _) => match limit {
            None => Judged::Unjudged,
            Some(l) if !l.is_finite() => Judged::NoEvidence(format!("the bound `{}` works out to {l}", threshold.text)),
            Some(l) if threshold.cmp.holds(*t, l) => Judged::Holds,
            Some(_) => Judged::Breaches,
        },
    };
    let result = AssertionResult {
        query: String::new(),
        expected,
        actual: String::new(),
        passed: verdict == Judged::Holds,
    };
    (result, verdict)
}
