//! The audit's outputs: the table on the terminal, the JSON, the JUnit report.

use std::fmt::Write as _;

use super::result::AuditResult;
use super::verdict::{FaultSummary, HealthySummary, RunResult, summarize, summarize_healthy};

/// An audit's result with each fault's runs summed up: what every output shows.
pub(crate) struct Report<'a> {
    pub(crate) result: &'a AuditResult,
    pub(crate) faults: Vec<FaultSummary>,
    pub(crate) healthy: HealthySummary,
}

impl<'a> Report<'a> {
    pub(crate) fn new(result: &'a AuditResult) -> Self {
        let runs_of = |name: Option<&str>| -> Vec<&RunResult> {
            result.runs.iter().filter(|r| r.fault.as_deref() == name).collect()
        };
        Report {
            result,
            faults: result
                .catalogue
                .iter()
                .map(|e| summarize(&e.name, &e.fault, &runs_of(Some(&e.name))))
                .collect(),
            healthy: summarize_healthy(&runs_of(None)),
        }
    }

    /// The runs of one fault (`None`: the healthy version).
    pub(crate) fn runs_of(&self, name: Option<&str>) -> Vec<&RunResult> {
        self.result.runs.iter().filter(|r| r.fault.as_deref() == name).collect()
    }
}

/// `2m05s`.
pub(crate) fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The table: a line per fault, the healthy version, then why each miss was missed.
pub(crate) fn print_table(report: &Report<'_>) {
    let r = report.result;
    say!("hook-sim audit: {} of {}", r.function, r.template);
    say!("  config     {}: {}", r.config, r.routing);
    for (i, h) in r.hooks.iter().enumerate() {
        say!("  {}{h}", if i == 0 { "hooks      " } else { "           " });
    }
    if r.hooks.is_empty() {
        say!("  hooks      none");
    }
    for (i, a) in r.alarms.iter().enumerate() {
        say!("  {}{a}", if i == 0 { "alarms     " } else { "           " });
    }
    if r.alarms.is_empty() {
        say!("  alarms     none");
    }
    say!(
        "  traffic    {} requests a simulated minute of GET {}; seeds {}",
        r.traffic.requests_per_minute,
        r.traffic.paths.join(", "),
        seeds_text(&r.seeds)
    );
    if r.shards.len() == 1 && r.shards[0][1] > 1 {
        say!(
            "  shard      {}/{}: this machine's runs only (--merge joins the shards)",
            r.shards[0][0],
            r.shards[0][1]
        );
    }
    say!("");
    let name_width = report
        .faults
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 40);
    say!(
        "  {:<name_width$}  {:<7} {:<34} {:>7} {:>6} {:>7} {:>7}",
        "fault",
        "caught",
        "first gate",
        "detect",
        "share",
        "served",
        "errors"
    );
    for f in &report.faults {
        let mark = match f.verdict {
            "caught" => "✔",
            "missed" => "✘",
            _ => "~",
        };
        say!(
            "{mark} {:<name_width$}  {:<7} {:<34} {:>7} {:>6} {:>7} {:>7}",
            cut(&f.name, name_width),
            format!("{}/{}", f.caught, f.runs),
            cut(f.gate.as_deref().unwrap_or("—"), 34),
            f.detect_s.map_or("—".to_string(), |d| clock(d[0])),
            format!("{} %", (f.max_share * 100.0).round()),
            f.requests[1],
            f.user_errors[1]
        );
    }
    let h = &report.healthy;
    say!(
        "{} {:<name_width$}  {} false rollback(s) in {} run(s){}",
        if h.false_rollbacks == 0 { "✔" } else { "✘" },
        "healthy version",
        h.false_rollbacks,
        h.runs,
        h.gates.iter().map(|(g, n)| format!("; {n} by {g}")).collect::<String>()
    );
    say!("");
    say!("  detect: simulated time from the deployment's start to the rollback (median);");
    say!("  share, served, errors: the most traffic, requests and user errors the bad version got in any seed");
    let caught = report.faults.iter().filter(|f| f.verdict == "caught").count();
    say!(
        "\nsummary    {caught} of {} fault(s) caught in every seed, {} missed in every seed, {} sometimes; {} false rollback(s)",
        report.faults.len(),
        report.faults.iter().filter(|f| f.verdict == "missed").count(),
        report.faults.iter().filter(|f| f.verdict == "sometimes").count(),
        h.false_rollbacks
    );
    for f in report.faults.iter().filter(|f| f.verdict != "caught" && f.runs > 0) {
        say!("\n{} {} ({}): {}", f.verdict, f.name, f.fault, f.description);
        for fact in &f.facts {
            say!("  · {fact}");
        }
    }
    if h.false_rollbacks > 0 {
        say!("\nfalse rollbacks of the healthy version:");
        for fact in &h.facts {
            say!("  · {fact}");
        }
    }
}

fn seeds_text(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.len() > 2 && b - a + 1 == seeds.len() as u64 => format!("{a}–{b}"),
        _ => seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// The JSON result: what was asked, every run, and each fault's summary.
pub(crate) fn json(result: &AuditResult) -> String {
    let report = Report::new(result);
    let mut value = serde_json::to_value(result).expect("results serialize");
    value["faults"] = serde_json::to_value(&report.faults).expect("summaries serialize");
    value["healthy"] = serde_json::to_value(&report.healthy).expect("summaries serialize");
    serde_json::to_string_pretty(&value).expect("results serialize")
}

/// XML text and attribute escaping.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit: a test case per fault (not caught in every seed fails) and one for the healthy
/// version (a false rollback fails).
pub(crate) fn junit(report: &Report<'_>) -> String {
    let failures = report.faults.iter().filter(|f| f.verdict != "caught").count()
        + usize::from(report.healthy.false_rollbacks > 0);
    let tests = report.faults.len() + 1;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hook-sim audit\" tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\">",
        xml(&format!(
            "audit of {} ({})",
            report.result.function, report.result.template
        ))
    );
    for f in &report.faults {
        let _ = write!(
            out,
            "    <testcase classname=\"hook-sim.audit\" name=\"{}\"",
            xml(&format!("{} ({})", f.name, f.fault))
        );
        if f.verdict == "caught" {
            let _ = writeln!(
                out,
                "><system-out>{}</system-out></testcase>",
                xml(&format!(
                    "caught in {} of {} seed(s), first by {}",
                    f.caught,
                    f.runs,
                    f.gate.as_deref().unwrap_or("?")
                ))
            );
        } else {
            let _ = writeln!(
                out,
                "><failure message=\"{}\">{}</failure></testcase>",
                xml(&format!("{}: caught in {} of {} seed(s)", f.verdict, f.caught, f.runs)),
                xml(&f.facts.join("\n"))
            );
        }
    }
    let h = &report.healthy;
    let _ = write!(
        out,
        "    <testcase classname=\"hook-sim.audit\" name=\"healthy version\""
    );
    if h.false_rollbacks == 0 {
        let _ = writeln!(out, "/>");
    } else {
        let _ = writeln!(
            out,
            "><failure message=\"{}\">{}</failure></testcase>",
            xml(&format!("{} false rollback(s) in {} run(s)", h.false_rollbacks, h.runs)),
            xml(&h.facts.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_control_characters_dropped() {
        assert_eq!(xml("a<b & \"c\" 'd'\u{1b}"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;");
    }

    #[test]
    fn clock_reads_minutes_and_seconds() {
        assert_eq!(clock(125.4), "2m05s");
        assert_eq!(clock(0.0), "0m00s");
    }
}
