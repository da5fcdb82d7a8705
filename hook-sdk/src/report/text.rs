//! The text report, in Hurl's manner: each check, and for each failure the query with
//! `expected:` and `actual:`.

use std::fmt::Write as _;

use super::{CheckReport, Outcome, Report};
use crate::spec::duration_text;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
}

/// Renders the report as text; `color` adds ANSI colours (for a terminal).
pub fn render_text(report: &Report, color: bool) -> String {
    let s = Style { color };
    let mut out = String::new();
    for w in &report.waivers {
        let mark = if w.granted { "⚠" } else { "!" };
        let _ = writeln!(out, "{}", s.bold(&s.red(&format!("{mark} {}", w.line()))));
    }
    for check in &report.checks {
        render_check(&mut out, check, &s);
    }
    let c = report.counts();
    let mut parts = vec![];
    if let Some(phase) = report.phase {
        parts.push(phase.to_string());
    }
    if let Some(d) = &report.deployment_id {
        parts.push(d.clone());
    }
    let mut counts = format!(
        "{} checks: {} passed, {} failed",
        report.checks.len(),
        c.passed,
        c.failed
    );
    if c.skipped > 0 {
        counts.push_str(&format!(", {} skipped", c.skipped));
    }
    if c.not_run > 0 {
        counts.push_str(&format!(", {} not run", c.not_run));
    }
    parts.push(counts);
    parts.push(duration_text(report.duration));
    let _ = writeln!(out, "\n{}", parts.join(" · "));
    if report.passed() && report.every_target_waived {
        let _ = writeln!(out, "{}", s.red(&s.bold("PASSED WITHOUT CHECKS (skipped as allowed)")));
    } else if report.passed() {
        let _ = writeln!(out, "{}", s.green(&s.bold("PASSED")));
    } else {
        let _ = writeln!(out, "{}", s.red(&s.bold("FAILED")));
        if c.passed + c.failed + c.not_run == 0
            && let Some(summary) = report.failure_summary()
        {
            let _ = writeln!(out, "{summary}");
        }
    }
    out
}

fn render_check(out: &mut String, check: &CheckReport, s: &Style) {
    let title = check.line().title();
    let mut extra = Vec::new();
    if let Some(stats) = &check.stats {
        extra.push(format!("{} runs", stats.runs));
    } else if check.attempts > 1 {
        extra.push(format!("{} attempts", check.attempts));
    }
    match check.outcome() {
        Outcome::Skipped | Outcome::NotRun => {
            let what = if check.outcome() == Outcome::Skipped {
                "skipped"
            } else {
                "not run"
            };
            let note = check.note().map(|n| format!(": {n}")).unwrap_or_default();
            let _ = writeln!(out, "{}", s.dim(&format!("- {title} ({what}{note})")));
            return;
        }
        Outcome::Passed => {
            extra.push(duration_text(check.duration));
            let _ = writeln!(out, "{} {title}  {}", s.green("✔"), s.dim(&extra.join(", ")));
        }
        Outcome::Failed => {
            extra.push(duration_text(check.duration));
            let _ = writeln!(out, "{} {}  {}", s.red("✘"), s.bold(&title), s.dim(&extra.join(", ")));
        }
    }
    if let Some(stats) = &check.stats {
        let mut line = format!("    {} of {} runs passed", stats.passed, stats.runs);
        if stats.failed > 0 {
            line.push_str(&format!(", {} failed", stats.failed));
        }
        match (stats.p50, stats.p90, stats.p95, stats.p99, stats.max) {
            (Some(p50), Some(p90), Some(p95), Some(p99), Some(max)) => line.push_str(&format!(
                " · passed runs: p50 {} · p90 {} · p95 {} · p99 {} · max {}",
                duration_text(p50),
                duration_text(p90),
                duration_text(p95),
                duration_text(p99),
                duration_text(max)
            )),
            _ => line.push_str(" · no passed run to time"),
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(m) = &check.metrics {
        // A metrics check shows every figure, passed or not: both versions side by side.
        let against = m
            .current_version
            .as_ref()
            .map(|c| format!(" against version {c}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}",
            s.dim(&format!(
                "{} · through alias {} · version {}{against}",
                m.window, m.alias, m.target_version
            ))
        );
        for a in &check.assertions {
            let mark = if a.passed { s.green("✔") } else { s.red("✘") };
            let _ = writeln!(
                out,
                "    {mark} {}: {}  {}",
                s.bold(&a.query),
                a.actual,
                s.dim(&format!("expected {}", a.expected))
            );
        }
        if let Some(note) = check.note() {
            let _ = writeln!(out, "    {}", s.dim(note));
        }
        if let Some(e) = check.error() {
            let _ = writeln!(out, "    {} {e}", s.red("error:"));
        }
        return;
    }
    if check.outcome() != Outcome::Failed {
        return;
    }
    if let Some(e) = check.error() {
        let _ = writeln!(out, "    {} {e}", s.red("error:"));
    }
    for a in check.failures() {
        assertion(out, "", &a.query, &a.expected, &a.actual, s);
    }
    if let Some(a) = check.sample_failure.iter().find(|a| !a.passed) {
        assertion(out, "a failed run: ", &a.query, &a.expected, &a.actual, s);
    }
}

fn assertion(out: &mut String, prefix: &str, query: &str, expected: &str, actual: &str, s: &Style) {
    let _ = writeln!(out, "    {prefix}{}", s.bold(query));
    let _ = writeln!(out, "      expected: {}", s.green(expected));
    let _ = writeln!(out, "      actual:   {}", s.red(actual));
}
