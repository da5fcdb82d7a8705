//! The simulation as people read it: the header, the live timeline, the summary.

use std::collections::BTreeMap;
use std::time::Duration;

use hook_sim::LifecycleEventStatus;
use hook_sim::deploy::{DeploymentOutcome, DeploymentPlan, Event, Rollback, TimelineEntry};
use hook_sim::duration::human;
use hook_sim::stack::scalar_text;
use hook_spec::record::{CheckLine, Outcome, Record};
use serde_json::Value;

use super::args::StackArgs;
use hook_sim::stack::setup::{CURRENT, Setup, TARGET};

pub(super) fn print_header(
    args: &StackArgs,
    setup: &Setup,
    plan: &DeploymentPlan,
    api_url: &str,
    faults: &[hook_sim::VersionFault],
) {
    let f = &setup.function;
    say!(
        "hook-sim simulate: {} ({}) of {}",
        f.logical_id,
        f.name,
        args.template.display()
    );
    let env =
        |e: &[(String, String)]| -> String { e.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ") };
    let mut versions = format!("alias {}: version {CURRENT} → {TARGET}", setup.alias);
    if !args.current_env.is_empty() {
        versions.push_str(&format!("; {CURRENT} runs with {}", env(&args.current_env)));
    }
    if !args.target_env.is_empty() {
        versions.push_str(&format!("; {TARGET} runs with {}", env(&args.target_env)));
    }
    // What actually runs each version.
    let current = args
        .current_bin
        .as_ref()
        .map_or_else(|| command(f), |p| p.display().to_string());
    let target = args
        .target_bin
        .as_ref()
        .map_or_else(|| command(f), |p| p.display().to_string());
    if current == target {
        say!("  function   {current}  {versions}");
    } else {
        say!(
            "  function   {versions}\n             version {CURRENT}: {current}\n             version {TARGET}: {target}"
        );
    }
    say!("  config     {}: {}", setup.config_name, setup.routing);
    for (i, (event, h)) in setup.hooks.iter().enumerate() {
        say!(
            "  {}{:<18} {} ({}, timeout {})",
            if i == 0 { "hooks      " } else { "           " },
            event.as_str(),
            h.name,
            command(h),
            human(h.timeout)
        );
    }
    if setup.hooks.is_empty() {
        say!("  hooks      none");
    }
    for (i, a) in setup.alarms.iter().enumerate() {
        say!(
            "  {}{}: {a}",
            if i == 0 { "alarms     " } else { "           " },
            a.name
        );
    }
    if setup.alarms.is_empty() {
        say!("  alarms     none");
    }
    for (i, t) in setup.triggers.iter().enumerate() {
        say!(
            "  {}{}: {} → {}",
            if i == 0 { "notify     " } else { "           " },
            t.name,
            t.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
            t.topic_arn
        );
    }
    // A hook serving both phases is one function: its API variables are said once.
    let mut seen = std::collections::BTreeSet::new();
    for f in std::iter::once(&setup.function).chain(setup.hooks.iter().map(|(_, h)| h)) {
        if !seen.insert(&f.logical_id) {
            continue;
        }
        for (var, api) in &f.api_vars {
            say!("  api        {api} → {api_url} ({var} of {})", f.logical_id);
        }
    }
    if let Some(t) = &plan.traffic {
        say!(
            "  traffic    GET {} through alias {}, {} requests a simulated minute, routed at random (--seed {})",
            t.paths.join(", "),
            setup.alias,
            t.per_minute,
            plan.seed.map_or_else(|| "none".to_string(), |s| s.to_string())
        );
    }
    for (i, fault) in faults.iter().enumerate() {
        say!(
            "  {}{fault}: applied by hook-sim to version {} from outside it",
            if i == 0 { "fault      " } else { "           " },
            fault.version.resolve(CURRENT, TARGET)
        );
    }
    say!(
        "  time       ×{}: a simulated minute takes {} while no hook runs; hooks and functions run in real time",
        trim(plan.speed),
        human_real(Duration::from_secs(60).div_f64(plan.speed)),
    );
    for w in &setup.warnings {
        say!("  warning    {w}");
    }
    say!("");
}

/// The command that runs a function: its binary, or its runtime's interpreter and arguments.
fn command(f: &hook_sim::stack::setup::FunctionRun) -> String {
    std::iter::once(f.binary.display().to_string())
        .chain(f.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub(super) fn human_real(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        human(Duration::from_millis(d.as_millis() as u64))
    }
}

/// `2:05.3`, or `1:02:05` past an hour.
pub(super) fn clock(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 {
        let s = s as u64;
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
    }
}

pub(super) struct Printer {
    pub(super) alias: String,
    pub(super) hook_timeout: Duration,
}

impl Printer {
    pub(super) fn print(&self, entry: &TimelineEntry) {
        let line = match &entry.event {
            Event::DeploymentStarted { deployment_id, config } => {
                format!(
                    "deployment {deployment_id} ({config}): alias {} serves version {CURRENT}",
                    self.alias
                )
            }
            Event::HookInvoked {
                lifecycle_event,
                function,
                attempt,
            } => {
                let retry = if *attempt > 1 {
                    format!(" (attempt {attempt}: Lambda retries)")
                } else {
                    String::new()
                };
                format!("{:<19} invoke {function}{retry}", lifecycle_event.as_str())
            }
            Event::HookInvocationFailed {
                lifecycle_event,
                error,
                retried,
                ..
            } => format!(
                "{:<19} the hook's invocation failed: {}{}",
                lifecycle_event.as_str(),
                shorten(error, 160),
                if *retried {
                    String::new()
                } else {
                    format!(
                        " (no more retries: CodeDeploy waits for a status, {} at most)",
                        human(self.hook_timeout)
                    )
                }
            ),
            Event::HookFailedAfterReporting {
                lifecycle_event,
                error,
                retried,
                ..
            } => format!(
                "{:<19} the hook's invocation failed after it reported: {}{}",
                lifecycle_event.as_str(),
                shorten(error, 160),
                if *retried {
                    " (its status stands; Lambda retries the invocation all the same)"
                } else {
                    " (its status stands)"
                }
            ),
            Event::HookNotInvoked {
                lifecycle_event,
                function,
                denial,
            } => format!(
                "{:<19} ✘ CodeDeploy may not invoke {function}: {}{}",
                lifecycle_event.as_str(),
                shorten(denial, 240),
                if function.starts_with("CodeDeployHook_") {
                    ""
                } else {
                    "\n             (CodeDeploy's managed roles may invoke only functions named CodeDeployHook_*: name the \
                     hook so, e.g. FunctionName: !Sub CodeDeployHook_${AWS::StackName}-pre-traffic)"
                }
            ),
            Event::NotificationDenied {
                trigger,
                trigger_event,
                denial,
            } => format!(
                "notify     {} ✘ not published (trigger {trigger}): {}",
                trigger_event.as_str(),
                shorten(denial, 240)
            ),
            Event::Notified {
                trigger,
                trigger_event,
                topic,
                ..
            } => format!(
                "notify     {} → {} (trigger {trigger})",
                trigger_event.as_str(),
                topic.rsplit(':').next().unwrap_or(topic)
            ),
            Event::HookReturnedWithoutStatus {
                lifecycle_event,
                function,
            } => format!(
                "{:<19} {function} returned without reporting a status: CodeDeploy waits for one, {} at most",
                lifecycle_event.as_str(),
                human(self.hook_timeout)
            ),
            Event::HookReported {
                lifecycle_event,
                status,
                took,
                ..
            } => format!(
                "{:<19} {} {status} (reported after {})",
                lifecycle_event.as_str(),
                if *status == LifecycleEventStatus::Succeeded {
                    "✔"
                } else {
                    "✘"
                },
                human_real(*took)
            ),
            Event::HookTimedOut { lifecycle_event, .. } => format!(
                "{:<19} ✘ no status within {}: timed out",
                lifecycle_event.as_str(),
                human(self.hook_timeout)
            ),
            Event::TrafficShifted { weight, step, steps } => {
                let filled = (weight * 20.0).round() as usize;
                format!(
                    "traffic {:>5} % → version {TARGET}  [{}{}]  step {step} of {steps}",
                    trim(weight * 100.0),
                    "█".repeat(filled),
                    "░".repeat(20 - filled.min(20))
                )
            }
            Event::AlarmFired {
                alarm,
                value,
                datapoints,
                condition,
            } => {
                let value = if value.is_nan() {
                    "no data in the newest period".to_string()
                } else {
                    format!("value {}", trim(*value))
                };
                format!("alarm {alarm} → ALARM: {condition} ({value}; datapoints, oldest first: {datapoints})")
            }
            Event::RolledBack { reason } => {
                format!(
                    "✘ rolled back ({reason}): alias {} serves version {CURRENT}",
                    self.alias
                )
            }
            Event::DeploymentSucceeded => format!("✔ Succeeded: alias {} serves version {TARGET}", self.alias),
        };
        say!("  {:>9}  {line}", clock(entry.at));
    }
}

/// A hook's log line for people: hook-sdk's JSON records (Lambda's log format) in short,
/// anything else as it is.
pub(super) fn readable(line: &str) -> Vec<String> {
    match Record::parse(line) {
        Some(Record::Check(check)) => return check_lines(&check),
        Some(Record::Waiver { message }) => return vec![format!("⚠ {message}")],
        Some(_) => return Vec::new(),
        None => {}
    }
    let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
        return vec![line.to_string()];
    };
    let text = |k: &str| record.get(k).map(scalar_text).unwrap_or_default();
    match record.get("record").and_then(Value::as_str) {
        // The hook's progress; its checks, warnings, errors and the status it sent stay.
        _ if matches!(text("level").as_str(), "INFO" | "DEBUG" | "TRACE") && text("message") != "status reported" => {
            Vec::new()
        }
        _ => {
            let mut l = format!("{:<5} {}", text("level"), text("message"));
            for (k, v) in &record {
                if !matches!(k.as_str(), "level" | "message" | "span" | "timestamp" | "target") {
                    l.push_str(&format!(" {k}={}", shorten(&scalar_text(v), 200)));
                }
            }
            vec![l]
        }
    }
}

/// A check of a hook's log: its line, and each assertion that failed and its error under it.
fn check_lines(check: &CheckLine) -> Vec<String> {
    let why = check.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    let mut out = vec![format!("{} {}: {:?}{why}", check.mark(), check.title(), check.outcome)];
    for a in check.assertions.iter().filter(|a| !a.passed) {
        out.push(format!(
            "    {}: expected {}, actual {}",
            a.query,
            a.expected,
            shorten(&a.actual, 200)
        ));
    }
    if let Some(e) = &check.error {
        out.push(format!("    error: {}", shorten(e, 200)));
    }
    out
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// One line per invocation of a hook-sdk hook, with its phase: each check that ran, with its
/// outcome, and the skips recorded.
fn checks_of(lines: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut skipped = 0;
    // The invocation's phase (from hook-sdk's "deployment discovered" line), and whether its
    // spec's summary was written: a Rust handler's result joins that line, or makes its own.
    let mut phase: Option<String> = None;
    let mut summarized = false;
    for line in lines {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match record["message"].as_str() {
            Some("deployment discovered") => {
                phase = record["phase"].as_str().map(str::to_string);
                summarized = false;
                continue;
            }
            Some("handler finished") => {
                let mark = if record["ok"] == true { "✔" } else { "✘" };
                let handler = format!("{mark} handler (Rust)");
                match out.last_mut() {
                    Some((_, last)) if summarized => {
                        last.push_str(" · ");
                        last.push_str(&handler);
                    }
                    _ => out.push((phase.clone().unwrap_or_else(|| "?".into()), handler)),
                }
                continue;
            }
            _ => {}
        }
        match Record::parse(line) {
            Some(Record::Waiver { message }) => current.push(format!("⚠ {message}")),
            Some(Record::Check(check)) => match check.outcome {
                Outcome::Skipped => skipped += 1,
                _ => current.push(check.short(false)),
            },
            Some(Record::Summary { phase, .. }) => {
                let phase = phase.map_or_else(|| "?".to_string(), |p| p.to_string());
                let mut line = current.join(" · ");
                if skipped > 0 {
                    line.push_str(&format!(" · {skipped} skipped"));
                }
                out.push((phase, line));
                current.clear();
                skipped = 0;
                summarized = true;
            }
            _ => {}
        }
    }
    out
}

/// Each hook's runs, one line per invocation, as the `checks` lines show them: the attempts
/// of a hook Lambda retried that tested the same and found the same are one line saying how
/// many; attempts that differ are numbered.
fn attempts(runs: Vec<(String, &String, String)>) -> Vec<(String, &String, String)> {
    let mut out: Vec<(String, &String, String)> = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let (phase, function, _) = &runs[i];
        let group: Vec<&String> = runs[i..]
            .iter()
            .take_while(|(p, f, _)| p == phase && f == function)
            .map(|(_, _, l)| l)
            .collect();
        let n = group.len();
        if group.iter().all(|l| *l == group[0]) {
            let line = match n {
                1 => group[0].clone(),
                n => format!("{} (each of {n} attempts)", group[0]),
            };
            out.push((phase.clone(), function, line));
        } else {
            for (k, line) in group.iter().enumerate() {
                out.push((phase.clone(), function, format!("attempt {} of {n}: {line}", k + 1)));
            }
        }
        i += n;
    }
    out
}

pub(super) fn print_summary(
    outcome: &DeploymentOutcome,
    hook_logs: &BTreeMap<String, Vec<String>>,
    function: &str,
    function_logs: &BTreeMap<&str, Vec<String>>,
) {
    say!("");
    let took = format!(
        "in {} ({} simulated)",
        human_real(outcome.real),
        human(Duration::from_secs(outcome.simulated.as_secs_f64().round() as u64))
    );
    match &outcome.rollback {
        None => say!("result     Succeeded {took}"),
        Some(reason) => say!("result     rolled back {took}: {reason}"),
    }
    if let (Some(code), Some(rollback)) = (&outcome.error_code, &outcome.rollback_deployment_id) {
        say!(
            "codedeploy deployment {} {} ({code}); rolled back by deployment {rollback}",
            outcome.deployment_id,
            outcome.deployment_status
        );
    }
    let traffic: Vec<String> = [CURRENT, TARGET]
        .iter()
        .map(|v| {
            let t = outcome.traffic.get(*v).cloned().unwrap_or_default();
            let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let throttled = match t.throttled {
                0 => String::new(),
                n => format!(" ({n} of them throttled: the function's reserved concurrency)"),
            };
            format!(
                "version {v} served {}, {}{throttled}",
                plural(t.requests, "request"),
                plural(t.errors, "error")
            )
        })
        .collect();
    say!("traffic    {}", traffic.join("; "));
    // What each hook tested, from the records hook-sdk's hooks log (others log none).
    let mut runs: Vec<(String, &String, String)> = hook_logs
        .iter()
        .flat_map(|(function, lines)| {
            checks_of(lines)
                .into_iter()
                .map(move |(phase, line)| (phase, function, line))
        })
        .collect();
    runs.sort_by_key(|(phase, _, _)| phase != "BeforeAllowTraffic");
    for (i, (phase, function, line)) in attempts(runs).iter().enumerate() {
        say!(
            "{:<10} {phase:<19} {function}: {line}",
            if i == 0 { "checks" } else { "" }
        );
    }
    let failed_hook = match &outcome.rollback {
        Some(Rollback::HookFailed { function, .. } | Rollback::HookTimedOut { function, .. }) => Some(function),
        _ => None,
    };
    if let Some(function) = failed_hook
        && let Some(lines) = hook_logs.get(function)
    {
        let shown = &lines[lines.len().saturating_sub(30)..];
        say!(
            "\nlog of {function}{}:",
            if shown.len() < lines.len() {
                " (last 30 lines)"
            } else {
                ""
            }
        );
        for line in shown {
            for l in readable(line) {
                say!("  │ {l}");
            }
        }
        if lines.is_empty() {
            say!("  │ (nothing)");
        }
    }
    // A version that failed without a word (errors it returns but does not log) adds nothing.
    for (version, lines) in function_logs.iter().filter(|(_, lines)| !lines.is_empty()) {
        say!("\nlog of {function} version {version}, which failed (its last lines):");
        // Lambda's runtimes write a multi-line record with \r between its lines; a line
        // repeated (one failure per invocation) is shown once.
        let mut shown: Vec<(String, usize)> = Vec::new();
        for line in lines {
            match shown.last_mut() {
                Some((last, n)) if last == line => *n += 1,
                _ => shown.push((line.clone(), 1)),
            }
        }
        for (line, n) in shown {
            let mut parts: Vec<String> = line.split('\r').map(|p| shorten(p, 200)).collect();
            if n > 1
                && let Some(first) = parts.first_mut()
            {
                first.push_str(&format!("  (×{n})"));
            }
            for part in parts {
                say!("  │ {part}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_hooks_attempts_that_found_the_same_are_one_line() {
        let (pre, post) = ("pre".to_string(), "post".to_string());
        let line = |phase: &str, text: &str| (phase.to_string(), text.to_string());
        let (before, after) = ("BeforeAllowTraffic", "AfterAllowTraffic");
        let failing = line(before, "✔ answers ok · ✘ handler (Rust)");
        let lines = attempts(vec![
            (failing.0.clone(), &pre, failing.1.clone()),
            (failing.0.clone(), &pre, failing.1.clone()),
            (failing.0, &pre, failing.1),
            (after.to_string(), &post, "✘ fast".to_string()),
            (after.to_string(), &post, "✔ fast".to_string()),
        ]);
        let shown: Vec<&str> = lines.iter().map(|(_, _, l)| l.as_str()).collect();
        assert_eq!(
            shown,
            [
                "✔ answers ok · ✘ handler (Rust) (each of 3 attempts)",
                "attempt 1 of 2: ✘ fast",
                "attempt 2 of 2: ✔ fast",
            ]
        );
    }

    #[test]
    fn a_rust_handler_has_its_place_in_the_checks_line() {
        let discovered =
            |phase: &str| format!(r#"{{"level":"INFO","message":"deployment discovered","phase":"{phase}"}}"#);
        let handler = |ok: bool| format!(r#"{{"level":"INFO","message":"handler finished","handler_ms":0,"ok":{ok}}}"#);
        let check = r#"{"record":"check","name":"greets","outcome":"Passed","target":"f:2"}"#.to_string();
        let summary = r#"{"record":"summary","phase":"BeforeAllowTraffic"}"#.to_string();
        // A Rust-only hook: a line of its own, in its phase.
        let only = checks_of(&[discovered("AfterAllowTraffic"), handler(false)]);
        assert_eq!(
            only,
            [("AfterAllowTraffic".to_string(), "✘ handler (Rust)".to_string())]
        );
        // A spec and a handler: the handler joins the spec's line.
        let both = checks_of(&[discovered("BeforeAllowTraffic"), check, summary, handler(true)]);
        assert_eq!(
            both,
            [(
                "BeforeAllowTraffic".to_string(),
                "✔ greets [f:2] · ✔ handler (Rust)".to_string()
            )]
        );
    }

    #[test]
    fn clocks_read_like_timers() {
        assert_eq!(clock(Duration::from_millis(125_340)), "2:05.3");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(clock(Duration::ZERO), "0:00.0");
    }
}
