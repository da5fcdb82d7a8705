//! What counts as evidence in a GetMetricData answer: the one place its rules live, for
//! Lambda's metrics and custom ones alike. Pure: no I/O, no AWS types.
//!
//! A figure counts only when its query's result is present, its status is `Complete` (and no
//! page said worse than `PartialData`), every page of the answer was read, neither the result
//! nor the answer carries a message, it was answered once a page, each value has its
//! timestamp and each timestamp is a period of the window asked, every value is finite and,
//! for counts and durations, not negative. Anything else is *no evidence*, with the reason,
//! and a check that would judge it fails. Results for ids never asked are skipped as they are
//! read: the memory an answer holds is bounded by the question, not by the answer.

use std::collections::{HashMap, HashSet};

/// Pages of one GetMetricData answer the hook reads; one period per query makes one page
/// the normal case.
pub(crate) const MAX_PAGES: usize = 5;

/// Values of one query, over all pages, the hook keeps; one period per query makes one value
/// the normal case (CloudWatch may split it).
pub(crate) const MAX_VALUES: usize = 1_000;

/// One query's result, over every page read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Series {
    /// The status of the last page that held it (`Complete`, `PartialData`, ...).
    pub(crate) status: Option<String>,
    /// Its values.
    pub(crate) values: Vec<f64>,
    /// What CloudWatch said of it (`code: value`).
    pub(crate) messages: Vec<String>,
    /// What makes it no evidence besides its status and messages: the first flaw found.
    pub(crate) flaw: Option<String>,
}

/// A GetMetricData answer, its pages merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Answer {
    /// Results by query id.
    pub(crate) results: HashMap<String, Series>,
    /// What makes the whole answer no evidence: a message of the operation, a page left
    /// unread, too many values.
    pub(crate) problems: Vec<String>,
    /// The question: the ids asked with their periods, and the window (seconds since the
    /// epoch, from and to).
    question: Option<Question>,
    /// The ids the page being read answered so far.
    page_ids: HashSet<String>,
}

/// What an answer answers.
#[derive(Debug, Clone, Default, PartialEq)]
struct Question {
    periods: HashMap<String, i64>,
    start: i64,
    end: i64,
}

/// Whether a figure may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// Counts and durations: a negative value is no evidence.
    NonNegative,
    /// Plain numbers of a custom metric: any finite value.
    Any,
}

/// A figure, as the answer gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Figure {
    /// A value that counts.
    Value(f64),
    /// The query is complete and holds no datapoint: nothing was published (for a sum or a
    /// count that is 0, and reads as [`Figure::Value`]).
    NoData,
    /// No figure can be trusted, and why.
    NoEvidence(String),
}

impl Figure {
    /// The value, when there is one.
    pub(crate) fn value(&self) -> Option<f64> {
        match self {
            Figure::Value(v) => Some(*v),
            _ => None,
        }
    }
}

impl Answer {
    /// An empty answer to `queries` (id and period in seconds) over `start..end` (seconds
    /// since the epoch).
    pub(crate) fn to(queries: impl IntoIterator<Item = (String, i64)>, start: i64, end: i64) -> Self {
        Answer {
            question: Some(Question {
                periods: queries.into_iter().collect(),
                start,
                end,
            }),
            ..Answer::default()
        }
    }

    /// The next page starts.
    pub(crate) fn begin_page(&mut self) {
        self.page_ids.clear();
    }

    /// Adds one result of the page being read, held to the question: a result for an id never
    /// asked is skipped; one answered twice in a page, with values and timestamps of different
    /// counts, or with a datapoint that is not a period of the window asked, is no evidence.
    pub(crate) fn absorb_result(
        &mut self,
        id: &str,
        status: Option<&str>,
        values: &[f64],
        timestamps: &[i64],
        messages: Vec<String>,
    ) {
        let Some(q) = &self.question else { return };
        let Some(&period) = q.periods.get(id) else { return };
        let flaw = if !self.page_ids.insert(id.to_string()) {
            Some("CloudWatch answered it twice in one page".to_string())
        } else if timestamps.len() != values.len() {
            Some(format!(
                "{} value(s) but {} timestamp(s): a value without its time answers no question",
                values.len(),
                timestamps.len()
            ))
        } else {
            timestamps
                .iter()
                .find(|t| **t < q.start || **t >= q.end || (**t - q.start).rem_euclid(period.max(1)) != 0)
                .map(|t| {
                    format!(
                        "a datapoint at {t} (seconds since 1970) is not a period of the window asked ({}–{}, one \
                         period of {period} s)",
                        q.start, q.end
                    )
                })
        };
        if let Some(flaw) = flaw {
            let series = self.results.entry(id.to_string()).or_default();
            series.flaw.get_or_insert(flaw);
        }
        self.absorb(id, status, values, messages);
    }

    /// Adds the results of another answer, with other ids (another window's queries).
    pub(crate) fn merge(&mut self, other: Answer) {
        self.results.extend(other.results);
        for p in other.problems {
            if !self.problems.contains(&p) {
                self.problems.push(p);
            }
        }
    }

    /// Adds one page's result of query `id`.
    pub(crate) fn absorb(&mut self, id: &str, status: Option<&str>, values: &[f64], messages: Vec<String>) {
        let series = self.results.entry(id.to_string()).or_default();
        // `PartialData` says more pages follow; any other status short of `Complete` stays,
        // whatever a later page says.
        let settled = |s: &str| !matches!(s, "Complete" | "PartialData");
        if status.is_some() && !series.status.as_deref().is_some_and(settled) {
            series.status = status.map(str::to_string);
        }
        if series.values.len() + values.len() > MAX_VALUES {
            let problem = format!("CloudWatch returned more than {MAX_VALUES} values for query {id}");
            if !self.problems.contains(&problem) {
                self.problems.push(problem);
            }
        } else {
            series.values.extend_from_slice(values);
        }
        series.messages.extend(messages);
    }

    /// The figure of query `id` with CloudWatch statistic `stat`. Should CloudWatch split the
    /// one period into several values, sums and counts add up, a minimum takes the smallest
    /// and every other statistic the worst (largest).
    pub(crate) fn figure(&self, id: &str, stat: &str, sign: Sign) -> Figure {
        if let Some(p) = self.problems.first() {
            return Figure::NoEvidence(p.clone());
        }
        let Some(series) = self.results.get(id) else {
            return Figure::NoEvidence("CloudWatch returned no result for it".into());
        };
        match series.status.as_deref() {
            Some("Complete") => {}
            Some(other) => {
                return Figure::NoEvidence(format!("its result's status is {other}, not Complete"));
            }
            None => return Figure::NoEvidence("its result has no status".into()),
        }
        if let Some(m) = series.messages.first() {
            return Figure::NoEvidence(format!("CloudWatch said: {m}"));
        }
        if let Some(flaw) = &series.flaw {
            return Figure::NoEvidence(flaw.clone());
        }
        if let Some(v) = series.values.iter().find(|v| !v.is_finite()) {
            return Figure::NoEvidence(format!("a value is {v}, not a finite number"));
        }
        if sign == Sign::NonNegative
            && let Some(v) = series.values.iter().find(|v| **v < 0.0)
        {
            return Figure::NoEvidence(format!("a value is {v}, and a count or a duration is never negative"));
        }
        let additive = matches!(stat, "Sum" | "SampleCount");
        if series.values.is_empty() {
            return if additive { Figure::Value(0.0) } else { Figure::NoData };
        }
        let values = series.values.iter().copied();
        let v = match stat {
            _ if additive => values.sum(),
            "Minimum" => values.fold(f64::INFINITY, f64::min),
            _ => values.fold(f64::NEG_INFINITY, f64::max),
        };
        if v.is_finite() {
            Figure::Value(v)
        } else {
            Figure::NoEvidence(format!("its values add up to {v}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, status: Option<&str>, values: &[f64], messages: &[&str]) -> Answer {
        let mut a = Answer::default();
        a.absorb(id, status, values, messages.iter().map(|m| m.to_string()).collect());
        a
    }

    fn no_evidence(f: Figure) -> String {
        match f {
            Figure::NoEvidence(why) => why,
            other => panic!("expected no evidence, got {other:?}"),
        }
    }

    #[test]
    fn only_a_complete_finite_result_counts() {
        let ok = answer("e", Some("Complete"), &[2.0, 3.0], &[]);
        assert_eq!(ok.figure("e", "Sum", Sign::NonNegative), Figure::Value(5.0));
        assert_eq!(ok.figure("e", "Maximum", Sign::NonNegative), Figure::Value(3.0));
        assert_eq!(ok.figure("e", "Minimum", Sign::NonNegative), Figure::Value(2.0));
        assert!(no_evidence(ok.figure("missing", "Sum", Sign::NonNegative)).contains("no result"));
        for status in ["PartialData", "InternalError", "Forbidden"] {
            let a = answer("e", Some(status), &[0.0], &[]);
            assert!(no_evidence(a.figure("e", "Sum", Sign::NonNegative)).contains(status));
        }
        assert!(
            no_evidence(answer("e", None, &[0.0], &[]).figure("e", "Sum", Sign::NonNegative)).contains("no status")
        );
        let said = answer("e", Some("Complete"), &[0.0], &["MaxQueryTimeRangeExceed: too long"]);
        assert!(no_evidence(said.figure("e", "Sum", Sign::NonNegative)).contains("MaxQueryTimeRangeExceed"));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let a = answer("e", Some("Complete"), &[1.0, bad], &[]);
            assert!(no_evidence(a.figure("e", "p99", Sign::Any)).contains("not a finite"));
        }
        let cancel = answer("e", Some("Complete"), &[5.0, -5.0], &[]);
        assert!(no_evidence(cancel.figure("e", "Sum", Sign::NonNegative)).contains("negative"));
        assert_eq!(cancel.figure("e", "Sum", Sign::Any), Figure::Value(0.0));
        let overflow = answer("e", Some("Complete"), &[f64::MAX, f64::MAX], &[]);
        assert!(no_evidence(overflow.figure("e", "Sum", Sign::NonNegative)).contains("add up"));
    }

    #[test]
    fn a_complete_empty_result_is_zero_for_sums_and_no_data_otherwise() {
        let empty = answer("e", Some("Complete"), &[], &[]);
        assert_eq!(empty.figure("e", "Sum", Sign::NonNegative), Figure::Value(0.0));
        assert_eq!(empty.figure("e", "p99", Sign::NonNegative), Figure::NoData);
    }

    #[test]
    fn an_answer_holds_only_to_the_question_asked() {
        let asked = || Answer::to([("e".to_string(), 300), ("f".to_string(), 300)], 600, 1200);
        let mut ok = asked();
        ok.begin_page();
        ok.absorb_result("e", Some("Complete"), &[2.0, 3.0], &[600, 900], Vec::new());
        ok.absorb_result("never-asked", Some("Complete"), &[9.0], &[600], Vec::new());
        assert_eq!(ok.figure("e", "Sum", Sign::NonNegative), Figure::Value(5.0));
        assert!(!ok.results.contains_key("never-asked"), "skipped as it is read");
        // The same id on the next page adds up; twice in one page is no evidence.
        ok.begin_page();
        ok.absorb_result("e", Some("Complete"), &[1.0], &[600], Vec::new());
        assert_eq!(ok.figure("e", "Sum", Sign::NonNegative), Figure::Value(6.0));
        ok.absorb_result("e", Some("Complete"), &[1.0], &[600], Vec::new());
        assert!(no_evidence(ok.figure("e", "Sum", Sign::NonNegative)).contains("twice in one page"));
        for (values, times, says) in [
            (&[1.0, 2.0][..], &[600][..], "2 value(s) but 1 timestamp(s)"),
            (&[1.0][..], &[][..], "1 value(s) but 0 timestamp(s)"),
            (&[1.0][..], &[0][..], "datapoint at 0"),
            (&[1.0][..], &[300][..], "datapoint at 300"),
            (&[1.0][..], &[1200][..], "datapoint at 1200"),
            (&[1.0][..], &[660][..], "datapoint at 660"),
        ] {
            let mut a = asked();
            a.begin_page();
            a.absorb_result("f", Some("Complete"), values, times, Vec::new());
            let why = no_evidence(a.figure("f", "Sum", Sign::NonNegative));
            assert!(why.contains(says), "{values:?} at {times:?}: {why}");
        }
    }

    #[test]
    fn pages_merge_and_the_last_status_holds() {
        let mut a = answer("e", Some("PartialData"), &[1.0], &[]);
        a.absorb("e", Some("Complete"), &[2.0], Vec::new());
        assert_eq!(a.figure("e", "Sum", Sign::NonNegative), Figure::Value(3.0));
        a.problems.push("a page left unread".into());
        assert!(no_evidence(a.figure("e", "Sum", Sign::NonNegative)).contains("unread"));
        // A status worse than PartialData on any page stays.
        for bad in ["InternalError", "Forbidden"] {
            let mut a = answer("e", Some(bad), &[1.0], &[]);
            a.absorb("e", Some("Complete"), &[2.0], Vec::new());
            assert!(no_evidence(a.figure("e", "Sum", Sign::NonNegative)).contains(bad));
        }
        let mut big = Answer::default();
        big.absorb("e", Some("Complete"), &vec![1.0; MAX_VALUES + 1], Vec::new());
        assert!(no_evidence(big.figure("e", "Sum", Sign::NonNegative)).contains("more than"));
    }
}
