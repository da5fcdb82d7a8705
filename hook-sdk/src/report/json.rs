//! The JSON report: the whole report, or one record per check plus a summary (log lines).

use serde_json::{Value, json};

use super::Report;

fn summary(report: &Report) -> Value {
    let c = report.counts();
    json!({
        "record": "summary",
        "source": report.source,
        "phase": report.phase,
        "deployment_id": report.deployment_id,
        "passed": report.passed(),
        "checks": report.checks.len(),
        "counts": c,
        "waivers": report.waivers,
        "duration_ms": (report.duration.as_secs_f64() * 1e6).round() / 1e3,
        "reason": report.failure_summary(),
    })
}

/// The whole report as one JSON document: `{"summary": {...}, "checks": [...]}`.
pub fn render_json(report: &Report) -> String {
    let doc = json!({"summary": summary(report), "checks": report.checks});
    serde_json::to_string_pretty(&doc).expect("reports serialize") + "\n"
}

/// One JSON line per check (`"record": "check"`) and a summary line, as a hook logs them.
pub fn render_json_lines(report: &Report) -> Vec<String> {
    let mut lines: Vec<String> = report
        .checks
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("reports serialize");
            if let Value::Object(m) = &mut v {
                m.shift_insert(0, "record".into(), json!("check"));
                if let Some(d) = &report.deployment_id {
                    m.insert("deployment_id".into(), json!(d));
                }
            }
            v.to_string()
        })
        .collect();
    // A skip is never silent: a record of its own, before the checks.
    for (i, w) in report.waivers.iter().enumerate() {
        let mut v = serde_json::to_value(w).expect("reports serialize");
        if let Value::Object(m) = &mut v {
            m.shift_insert(0, "record".into(), json!("waiver"));
            m.insert("message".into(), json!(w.line()));
            if let Some(d) = &report.deployment_id {
                m.insert("deployment_id".into(), json!(d));
            }
        }
        lines.insert(i, v.to_string());
    }
    lines.push(summary(report).to_string());
    lines
}
