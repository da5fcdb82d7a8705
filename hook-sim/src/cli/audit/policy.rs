//! `--require`: what the audit's exit status holds the gates to.

use std::fmt;

use super::output::Report;

/// A policy of `--require`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Policy {
    /// Every fault of the catalogue caught in every seed.
    CaughtAll,
    /// This fault (by catalogue name or spelling) caught in every seed.
    Caught(String),
    /// The healthy version never rolled back.
    NoFalseRollback,
    /// No run of a fault let more than this many users see an error.
    MaxUserErrors(u64),
    /// No run of a fault gave the bad version more than this share of the traffic.
    MaxShare(f64),
}

const POLICIES: &str = "caught=all, caught=NAME (a fault's name or spelling; repeat --require for more), no-false-rollback, max-user-errors=N, max-share=PERCENT%";

/// Reads a `--require` value.
pub(crate) fn parse(text: &str) -> Result<Policy, String> {
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (text.trim(), None),
    };
    match (key, value) {
        ("no-false-rollback", None) => Ok(Policy::NoFalseRollback),
        ("caught", Some("all")) => Ok(Policy::CaughtAll),
        ("caught", Some(name)) if !name.is_empty() => Ok(Policy::Caught(name.to_string())),
        ("max-user-errors", Some(n)) => n
            .parse()
            .map(Policy::MaxUserErrors)
            .map_err(|_| format!("{text:?}: give a whole number of user errors, e.g. max-user-errors=50")),
        ("max-share", Some(p)) => p
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .map(|p| Policy::MaxShare(p / 100.0))
            .ok_or_else(|| format!("{text:?}: give a percentage from 0 to 100 with %, e.g. max-share=10%")),
        _ => Err(format!("{text:?} is no policy: give one of {POLICIES}")),
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::CaughtAll => f.write_str("caught=all"),
            Policy::Caught(name) => write!(f, "caught={name}"),
            Policy::NoFalseRollback => f.write_str("no-false-rollback"),
            Policy::MaxUserErrors(n) => write!(f, "max-user-errors={n}"),
            Policy::MaxShare(s) => write!(f, "max-share={}%", (s * 1000.0).round() / 10.0),
        }
    }
}

impl Policy {
    /// Why the audit breaks the policy, or `None` when it holds.
    pub(crate) fn broken(&self, report: &Report<'_>) -> Option<String> {
        let not_caught = |names: &mut dyn Iterator<Item = &super::verdict::FaultSummary>| -> Vec<String> {
            names
                .filter(|f| f.verdict != "caught")
                .map(|f| format!("{} ({} of {})", f.name, f.caught, f.runs))
                .collect()
        };
        let problems: Vec<String> = match self {
            Policy::CaughtAll => not_caught(&mut report.faults.iter()),
            Policy::Caught(name) => match report.faults.iter().find(|f| f.name == *name || f.fault == *name) {
                Some(f) => not_caught(&mut std::iter::once(f)),
                None => vec![format!(
                    "{name:?} is not in the catalogue (its faults: {})",
                    report
                        .faults
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
            },
            Policy::NoFalseRollback => match report.healthy.false_rollbacks {
                0 => Vec::new(),
                n => vec![format!("{n} of {} healthy run(s) rolled back", report.healthy.runs)],
            },
            Policy::MaxUserErrors(max) => report
                .faults
                .iter()
                .filter(|f| f.user_errors[1] > *max)
                .map(|f| format!("{}: {} user errors", f.name, f.user_errors[1]))
                .collect(),
            Policy::MaxShare(max) => report
                .faults
                .iter()
                .filter(|f| f.max_share > *max + 1e-9)
                .map(|f| format!("{}: {} %", f.name, (f.max_share * 100.0).round()))
                .collect(),
        };
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_write_back() {
        for p in [
            "caught=all",
            "caught=errors on 5 %",
            "caught=error,rate=5%",
            "no-false-rollback",
            "max-user-errors=50",
            "max-share=30%",
        ] {
            assert_eq!(parse(p).unwrap().to_string(), p);
        }
        assert!(parse("caught").unwrap_err().contains("is no policy"));
        assert!(parse("max-share=30").unwrap_err().contains("with %"));
        assert!(parse("max-user-errors=many").unwrap_err().contains("whole number"));
        assert!(parse("all-caught").unwrap_err().contains("caught=all"));
    }
}
