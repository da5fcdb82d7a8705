//! The audit as one self-contained HTML page: the table, then per fault a timeline of one
//! run — requests and errors a minute per version, the target's share, hook verdicts, alarms,
//! the rollback — drawn as inline SVG. No script, no font, no request: it works offline.

use std::fmt::Write as _;

use super::output::{Report, clock, xml};
use super::verdict::RunResult;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .25rem}
.meta{color:#555;margin:.1rem 0}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e3e6ec;vertical-align:top}
th{background:#f4f6f9;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.caught{color:#137333;font-weight:600}.missed{color:#b3261e;font-weight:600}.sometimes{color:#a05a00;font-weight:600}
section{border:1px solid #e3e6ec;border-radius:8px;padding:.5rem 1rem 1rem;margin:1.25rem 0}
ul.facts{margin:.5rem 0 0;padding-left:1.2rem;color:#333}
svg{display:block;max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:1rem}.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
";

/// The page.
pub(crate) fn page(report: &Report<'_>) -> String {
    let r = report.result;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        xml(&format!("hook-sim audit: {}", r.function))
    );
    let _ = writeln!(out, "<h1>Would your canary catch it?</h1>");
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} of <code>{}</code></p>",
        xml(&r.function),
        xml(&r.template)
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">config {}: {}</p>",
        xml(&r.config),
        xml(&r.routing)
    );
    for h in &r.hooks {
        let _ = writeln!(out, "<p class=\"meta\">hook {}</p>", xml(h));
    }
    for a in &r.alarms {
        let _ = writeln!(out, "<p class=\"meta\">alarm {}</p>", xml(a));
    }
    let _ = writeln!(
        out,
        "<p class=\"meta\">traffic {} requests a simulated minute of GET {}; seeds {}</p>",
        r.traffic.requests_per_minute,
        xml(&r.traffic.paths.join(", ")),
        r.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    out.push_str(
        "<table id=\"summary\"><thead><tr><th>fault</th><th>verdict</th><th>caught</th><th>first gate</th>\
         <th>detect</th><th>max share</th><th>served</th><th>user errors</th></tr></thead><tbody>\n",
    );
    for (i, f) in report.faults.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#fault-{i}\">{}</a><br><code>{}</code></td><td class=\"{}\">{}</td><td class=\"n\">{}/{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{} %</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            xml(&f.name),
            xml(&f.fault),
            f.verdict,
            f.verdict,
            f.caught,
            f.runs,
            xml(f.gate.as_deref().unwrap_or("—")),
            f.detect_s.map_or("—".to_string(), |d| clock(d[0])),
            (f.max_share * 100.0).round(),
            f.requests[1],
            f.user_errors[1]
        );
    }
    let h = &report.healthy;
    let _ = writeln!(
        out,
        "<tr><td><a href=\"#healthy\">healthy version</a></td><td class=\"{}\">{}</td><td class=\"n\">{}/{}</td><td colspan=\"5\">false rollbacks</td></tr>",
        if h.false_rollbacks == 0 { "caught" } else { "missed" },
        if h.false_rollbacks == 0 {
            "no false rollback"
        } else {
            "false rollbacks"
        },
        h.false_rollbacks,
        h.runs
    );
    out.push_str("</tbody></table>\n");
    out.push_str(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#b8c2d3\"></i>current version's requests a minute</span>\
         <span><i class=\"sw\" style=\"background:#3b6fd8\"></i>target version's</span>\
         <span><i class=\"sw\" style=\"background:#d93025\"></i>function errors</span>\
         <span><i class=\"sw\" style=\"background:#0b8043;height:3px\"></i>target's share of the alias</span>\
         <span><i class=\"sw\" style=\"background:#f29900\"></i>alarm / hook verdict / rollback</span></p>\n",
    );
    for (i, f) in report.faults.iter().enumerate() {
        let runs = report.runs_of(Some(&f.name));
        let shown = runs.iter().find(|r| !r.rolled_back).or(runs.first()).copied();
        let _ = writeln!(
            out,
            "<section id=\"fault-{i}\"><h2>{} <code>{}</code> — <span class=\"{}\">{} ({} of {})</span></h2><p class=\"meta\">{}</p>",
            xml(&f.name),
            xml(&f.fault),
            f.verdict,
            f.verdict,
            f.caught,
            f.runs,
            xml(&f.description)
        );
        if let Some(run) = shown {
            chart(&mut out, run);
        }
        out.push_str("<ul class=\"facts\">");
        for fact in &f.facts {
            let _ = write!(out, "<li>{}</li>", xml(fact));
        }
        out.push_str("</ul></section>\n");
    }
    let runs = report.runs_of(None);
    let shown = runs.iter().find(|r| r.rolled_back).or(runs.first()).copied();
    let _ = writeln!(
        out,
        "<section id=\"healthy\"><h2>healthy version — {} false rollback(s) in {} run(s)</h2>",
        h.false_rollbacks, h.runs
    );
    if let Some(run) = shown {
        chart(&mut out, run);
    }
    out.push_str("<ul class=\"facts\">");
    for fact in shown.map(|r| r.facts.as_slice()).unwrap_or_default() {
        let _ = write!(out, "<li>{}</li>", xml(fact));
    }
    out.push_str("</ul></section>\n<h2>What every verdict assumes</h2><ul class=\"facts\">");
    for a in &r.assumptions {
        let _ = write!(out, "<li>{}</li>", xml(a));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

/// One run's timeline as an SVG chart.
fn chart(out: &mut String, run: &RunResult) {
    let (w, h, left, right, top, bottom) = (900.0, 240.0, 48.0, 48.0, 16.0, 40.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let minutes = run.minutes.len().max(1) as f64;
    let most = run
        .minutes
        .iter()
        .map(|m| m.current[0] + m.target[0])
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |minute: f64| left + plot_w * minute / minutes;
    let y = |n: f64| top + plot_h - plot_h * n / most;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\" font-family=\"system-ui,sans-serif\">",
        xml(&format!(
            "seed {}: {}",
            run.seed,
            run.reason.as_deref().unwrap_or("the deployment succeeded")
        ))
    );
    let _ = write!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"#fafbfc\" stroke=\"#e3e6ec\"/>"
    );
    let bar = (plot_w / minutes * 0.7).max(1.0);
    for m in &run.minutes {
        let x0 = x(f64::from(m.minute)) + plot_w / minutes * 0.15;
        let current = m.current[0] as f64;
        let target = m.target[0] as f64;
        let errors = (m.current[1] + m.target[1]) as f64;
        let _ = write!(
            out,
            "<rect class=\"current\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#b8c2d3\"><title>minute {}: version current {} requests, {} errors</title></rect>",
            y(current),
            top + plot_h - y(current),
            m.minute,
            m.current[0],
            m.current[1]
        );
        let _ = write!(
            out,
            "<rect class=\"target\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#3b6fd8\"><title>minute {}: version target {} requests, {} errors</title></rect>",
            y(current + target),
            y(current) - y(current + target),
            m.minute,
            m.target[0],
            m.target[1]
        );
        if errors > 0.0 {
            let _ = write!(
                out,
                "<rect class=\"errors\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d93025\"/>",
                x0 + bar * 0.25,
                y(errors),
                bar * 0.5,
                top + plot_h - y(errors)
            );
        }
    }
    // The target's share, a step line on the right axis, changing where the alias changed.
    let share_y = |s: f64| top + plot_h - plot_h * s;
    let mut points = format!("{left:.1},{:.1}", share_y(0.0));
    let mut last = 0.0;
    for (at, share) in run.marks.iter().filter_map(|m| Some((m.at_s, m.share?))) {
        let x0 = x(at / 60.0).min(left + plot_w);
        let _ = write!(points, " {x0:.1},{:.1} {x0:.1},{:.1}", share_y(last), share_y(share));
        last = share;
    }
    let _ = write!(points, " {:.1},{:.1}", left + plot_w, share_y(last));
    let _ = write!(
        out,
        "<polyline class=\"share\" points=\"{points}\" fill=\"none\" stroke=\"#0b8043\" stroke-width=\"2\"/>"
    );
    for mark in &run.marks {
        let colour = match mark.kind.as_str() {
            "hook_ok" | "succeeded" => "#0b8043",
            "hook_failed" | "rollback" => "#b3261e",
            "alarm" => "#f29900",
            _ => continue,
        };
        let mx = x(mark.at_s / 60.0).min(left + plot_w);
        let _ = write!(
            out,
            "<line class=\"mark\" x1=\"{mx:.1}\" x2=\"{mx:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{} {}</text>",
            top + plot_h,
            mx + 3.0,
            top + 12.0 + 12.0 * (run.marks.iter().position(|m| std::ptr::eq(m, mark)).unwrap_or(0) % 4) as f64,
            xml(&mark.label),
            clock(mark.at_s)
        );
    }
    // Axes.
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>\
         <text x=\"{:.1}\" y=\"{:.1}\">100 %</text><text x=\"{:.1}\" y=\"{:.1}\">0 %</text>",
        left - 4.0,
        top + 10.0,
        most,
        left - 4.0,
        top + plot_h,
        left + plot_w + 4.0,
        top + 10.0,
        left + plot_w + 4.0,
        top + plot_h
    );
    let step = (minutes / 10.0).ceil().max(1.0) as usize;
    for m in (0..=run.minutes.len()).step_by(step) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{m}m</text>",
            x(m as f64),
            top + plot_h + 16.0
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">simulated minutes since the deployment started (seed {})</text></svg>",
        left + plot_w / 2.0,
        h - 4.0,
        run.seed
    );
}
