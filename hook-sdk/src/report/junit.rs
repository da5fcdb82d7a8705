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

/// The test's name: the check, and for an invoke check the function without its version, so
/// that a CI's per-test history carries over from one deployment to the next.
fn case_name(c: &CheckReport) -> String {
    match c.function() {
        Some(f) => format!("{} [{f}]", c.name),
        None => c.name.clone(),
    }
}

/// Renders the report as a JUnit XML document: one test suite, one test case per check.
///
/// A check that failed on an expectation is a `<failure>`; one that could not be made (a
/// set-up error: see [`ErrorKind::Setup`](super::ErrorKind::Setup)) is an `<error>`, so a CI
/// tells a broken version from a broken pipeline. The version under test is a property of
/// each test case, not part of its name.
pub fn render_junit(report: &Report) -> String {
    let counts = report.counts();
    let source = report.source.clone().unwrap_or_else(|| "checks".to_string());
    let suite = match report.phase {
        Some(p) => format!("{source} ({p})"),
        None => source.clone(),
    };
    let tests = report.checks.len();
    let errors = counts.setup_errors;
    let failures = counts.failed + counts.not_run - errors;
    let skipped = counts.skipped;
    let time = secs(report.duration);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hook checks\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">",
        esc(&suite)
    );
    let mut suite_props = Vec::new();
    if let Some(p) = report.phase {
        suite_props.push(("phase", p.to_string()));
    }
    if let Some(d) = &report.deployment_id {
        suite_props.push(("deployment_id", d.clone()));
    }
    for w in &report.waivers {
        suite_props.push(("waiver", w.line()));
    }
    if !suite_props.is_empty() {
        out.push_str("    <properties>\n");
        for (k, v) in &suite_props {
            let _ = writeln!(out, "      <property name=\"{k}\" value=\"{}\"/>", esc(v));
        }
        out.push_str("    </properties>\n");
    }
    for c in &report.checks {
        let open = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            esc(&case_name(c)),
            esc(&source),
            secs(c.duration)
        );
        // The version (or alias) the check ran against.
        let props = c.qualifier().map(|q| {
            format!(
                "      <properties>\n        <property name=\"qualifier\" value=\"{}\"/>\n      </properties>\n",
                esc(q)
            )
        });
        match (c.outcome(), &props) {
            (Outcome::Passed, None) => {
                let _ = writeln!(out, "{open}/>");
                continue;
            }
            _ => {
                let _ = writeln!(out, "{open}>");
                out.push_str(props.as_deref().unwrap_or(""));
            }
        }
        match c.outcome() {
            Outcome::Passed => {}
            Outcome::Skipped => {
                let _ = writeln!(
                    out,
                    "      <skipped message=\"{}\"/>",
                    esc(c.note().unwrap_or("skipped"))
                );
            }
            Outcome::NotRun | Outcome::Failed => {
                let message = if c.outcome() == Outcome::NotRun {
                    format!("not run: {}", c.note().unwrap_or(""))
                } else {
                    c.reason().unwrap_or_else(|| "failed".to_string())
                };
                let mut detail = String::new();
                if let Some(e) = c.error() {
                    let _ = writeln!(detail, "error: {e}");
                }
                for a in c.failures().chain(c.sample_failure.iter().filter(|a| !a.passed)) {
                    let _ = writeln!(
                        detail,
                        "{}\n  expected: {}\n  actual:   {}",
                        a.query, a.expected, a.actual
                    );
                }
                let (element, kind) = if c.outcome() == Outcome::NotRun {
                    ("failure", "NotRun")
                } else if c.is_setup_error() {
                    ("error", "SetupError")
                } else {
                    ("failure", "AssertionFailed")
                };
                let _ = writeln!(
                    out,
                    "      <{element} message=\"{}\" type=\"{kind}\">{}</{element}>",
                    esc(&message),
                    esc(detail.trim_end())
                );
            }
        }
        let _ = writeln!(out, "    </testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
