//! JUnit XML, for CI systems that show test results.

use std::fmt::Write as _;

use super::{CheckReport, Outcome, Report};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn case_name(c: &CheckReport) -> String {
    match &c.target {
        Some(t) => format!("{} [{t}]", c.name),
        None => c.name.clone(),
    }
}

/// Renders the report as a JUnit XML document: one test suite, one test case per check.
pub fn render_junit(report: &Report) -> String {
    let counts = report.counts();
    let source = report.source.clone().unwrap_or_else(|| "checks".to_string());
    let suite = match report.phase {
        Some(p) => format!("{source} ({p})"),
        None => source.clone(),
    };
    let tests = report.checks.len();
    let failures = counts.failed + counts.not_run;
    let skipped = counts.skipped;
    let time = secs(report.duration);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hook checks\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time}\">",
        esc(&suite)
    );
    for c in &report.checks {
        let open = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            esc(&case_name(c)),
            esc(&source),
            secs(c.duration)
        );
        match c.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "{open}/>");
            }
            Outcome::Skipped => {
                let _ = writeln!(out, "{open}>");
                let _ = writeln!(
                    out,
                    "      <skipped message=\"{}\"/>",
                    esc(c.note.as_deref().unwrap_or("skipped"))
                );
                let _ = writeln!(out, "    </testcase>");
            }
            Outcome::NotRun | Outcome::Failed => {
                let message = if c.outcome == Outcome::NotRun {
                    format!("not run: {}", c.note.as_deref().unwrap_or(""))
                } else {
                    c.reason().unwrap_or_else(|| "failed".to_string())
                };
                let mut detail = String::new();
                if let Some(e) = &c.error {
                    let _ = writeln!(detail, "error: {e}");
                }
                for a in c.failures().chain(c.sample_failure.iter().filter(|a| !a.passed)) {
                    let _ = writeln!(
                        detail,
                        "{}\n  expected: {}\n  actual:   {}",
                        a.query, a.expected, a.actual
                    );
                }
                let _ = writeln!(out, "{open}>");
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    esc(&message),
                    if c.outcome == Outcome::NotRun {
                        "NotRun"
                    } else {
                        "AssertionFailed"
                    },
                    esc(detail.trim_end())
                );
                let _ = writeln!(out, "    </testcase>");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
