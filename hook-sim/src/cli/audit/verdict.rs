//! What one rehearsal says about a fault (caught or not, by which gate, when, at what cost),
//! why a gate let it through, and what the runs of a fault over every seed say together.

use std::collections::BTreeMap;
use std::time::Duration;

use hook_sim::FaultKind;
use hook_sim::VersionFault;
use hook_sim::deploy::{Event, FinalStatus, Phase, Rollback};
use hook_sim::duration::human;
use hook_sim::schedule::TrafficRouting;
use serde::{Deserialize, Serialize};

use crate::cli::simulate::{Prepared, Rehearsal};
use hook_sim::stack::setup::{CURRENT, TARGET};

/// The gate that stopped a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GateKind {
    /// The BeforeAllowTraffic hook (reported Failed, or stayed silent).
    BeforeAllowTraffic,
    /// An alarm of the deployment group.
    Alarm,
    /// The AfterAllowTraffic hook.
    AfterAllowTraffic,
    /// Something of the set-up: CodeDeploy's role may not invoke a hook.
    SetUp,
}

/// One rehearsal of the audit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunResult {
    /// The fault's name in the catalogue; `None`: the healthy version.
    pub(crate) fault: Option<String>,
    pub(crate) seed: u64,
    /// Whether CodeDeploy rolled the deployment back.
    pub(crate) rolled_back: bool,
    /// Which gate stopped it.
    pub(crate) gate_kind: Option<GateKind>,
    /// The gate, named: `alarm HelloErrorsAlarm`, `BeforeAllowTraffic hook CodeDeployHook_pre`.
    pub(crate) gate: Option<String>,
    /// CodeDeploy's reason.
    pub(crate) reason: Option<String>,
    /// Simulated seconds from the deployment's start to the rollback.
    pub(crate) detected_s: Option<f64>,
    /// Simulated seconds the whole deployment took.
    pub(crate) simulated_s: f64,
    /// The largest share of the alias's traffic the target version got.
    pub(crate) max_share: f64,
    /// Requests of the synthetic traffic the target version served.
    pub(crate) requests: u64,
    /// Of them, those whose user got an error (function errors, throttles, 5xx answers).
    pub(crate) user_errors: u64,
    /// Invocations of the target version the fault changed (the hooks' included).
    pub(crate) faulted: u64,
    /// The facts of the run: what each gate saw, and the arithmetic that follows.
    pub(crate) facts: Vec<String>,
    /// Minute by minute, for the picture.
    pub(crate) minutes: Vec<Minute>,
    /// What happened when, for the picture.
    pub(crate) marks: Vec<Mark>,
}

/// One simulated minute of the deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Minute {
    /// Minutes since the deployment started.
    pub(crate) minute: u32,
    /// The target version's share of the alias at the minute's end.
    pub(crate) share: f64,
    /// Invocations and function errors of the current version.
    pub(crate) current: [u64; 2],
    /// Invocations and function errors of the target version.
    pub(crate) target: [u64; 2],
}

/// A moment of the deployment worth marking.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// Simulated seconds since the deployment started.
    pub(crate) at_s: f64,
    /// `hook_ok`, `hook_failed`, `alarm`, `shift`, `rollback`, `succeeded`.
    pub(crate) kind: String,
    pub(crate) label: String,
    /// The target's share of the alias from this moment on, where it changes (`shift`, `rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) share: Option<f64>,
}

/// Reads a rehearsal as the audit judges it.
pub(crate) fn judge(prepared: &Prepared, fault: Option<(&str, &VersionFault)>, r: &Rehearsal) -> RunResult {
    let o = &r.outcome;
    let (gate_kind, gate) = match &o.rollback {
        None => (None, None),
        Some(rollback) => {
            let (k, g) = gate_of(rollback);
            (Some(k), Some(g))
        }
    };
    let detected_s = o
        .timeline
        .iter()
        .find(|e| matches!(e.event, Event::RolledBack { .. }))
        .map(|e| e.at.as_secs_f64());
    let target = o.traffic.get(TARGET).cloned().unwrap_or_default();
    let mut result = RunResult {
        fault: fault.map(|(name, _)| name.to_string()),
        seed: r.seed,
        rolled_back: o.status == FinalStatus::RolledBack,
        gate_kind,
        gate,
        reason: o.rollback.as_ref().map(ToString::to_string),
        detected_s,
        simulated_s: o.simulated.as_secs_f64(),
        max_share: o.max_weight,
        requests: target.requests,
        user_errors: target.user_errors(),
        faulted: r.faulted,
        facts: Vec::new(),
        minutes: minutes(r),
        marks: marks(r),
    };
    result.facts = facts(prepared, fault.map(|(_, f)| f), r, &result);
    result
}

fn gate_of(rollback: &Rollback) -> (GateKind, String) {
    let hook = |event: &Phase| match event {
        Phase::BeforeAllowTraffic => GateKind::BeforeAllowTraffic,
        Phase::AfterAllowTraffic => GateKind::AfterAllowTraffic,
    };
    match rollback {
        Rollback::HookFailed { lifecycle_event, .. } => (hook(lifecycle_event), format!("{lifecycle_event} hook")),
        Rollback::HookTimedOut { lifecycle_event, .. } => {
            (hook(lifecycle_event), format!("{lifecycle_event} hook (silent)"))
        }
        Rollback::HookNotInvoked { lifecycle_event, .. } => (
            GateKind::SetUp,
            format!("IAM: CodeDeploy may not invoke the {lifecycle_event} hook"),
        ),
        Rollback::Alarm { alarm, .. } => (GateKind::Alarm, format!("alarm {alarm}")),
        Rollback::AlarmBeforeStart { alarm, .. } => (
            GateKind::SetUp,
            format!("alarm {alarm} (in ALARM before the deployment started)"),
        ),
    }
}

/// The deployment minute by minute: each version's invocations and errors, the share.
fn minutes(r: &Rehearsal) -> Vec<Minute> {
    let o = &r.outcome;
    let total = (o.simulated.as_secs_f64() / 60.0).ceil().max(1.0) as u32;
    let mut out: Vec<Minute> = (0..total.min(24 * 60))
        .map(|minute| Minute {
            minute,
            share: 0.0,
            current: [0, 0],
            target: [0, 0],
        })
        .collect();
    for i in &r.invocations {
        let Some(since) = i.at.checked_sub(o.started) else {
            continue;
        };
        let Some(m) = out.get_mut((since.as_secs() / 60) as usize) else {
            continue;
        };
        let slot = match i.executed_version.as_str() {
            CURRENT => &mut m.current,
            TARGET => &mut m.target,
            _ => continue,
        };
        slot[0] += 1;
        slot[1] += u64::from(i.error);
    }
    let mut share = 0.0;
    let mut shifts = o.timeline.iter().filter_map(|e| match &e.event {
        Event::TrafficShifted { weight, .. } => Some((e.at, *weight)),
        Event::RolledBack { .. } => Some((e.at, 0.0)),
        _ => None,
    });
    let mut next = shifts.next();
    for m in &mut out {
        let end = Duration::from_secs(u64::from(m.minute + 1) * 60);
        while let Some((at, w)) = next
            && at < end
        {
            share = w;
            next = shifts.next();
        }
        m.share = share;
    }
    out
}

fn marks(r: &Rehearsal) -> Vec<Mark> {
    r.outcome
        .timeline
        .iter()
        .filter_map(|e| {
            let share = match &e.event {
                Event::TrafficShifted { weight, .. } => Some(*weight),
                Event::RolledBack { .. } => Some(0.0),
                _ => None,
            };
            let (kind, label) = match &e.event {
                Event::HookReported {
                    lifecycle_event,
                    status,
                    ..
                } => (
                    if status.as_str() == "Succeeded" {
                        "hook_ok"
                    } else {
                        "hook_failed"
                    },
                    format!("{lifecycle_event} {}", status.as_str()),
                ),
                Event::HookTimedOut { lifecycle_event, .. } => ("hook_failed", format!("{lifecycle_event} silent")),
                Event::AlarmFired { alarm, .. } => ("alarm", format!("{alarm} ALARM")),
                Event::TrafficShifted { weight, .. } => ("shift", format!("{} %", (weight * 100.0).round())),
                Event::RolledBack { .. } => ("rollback", "rolled back".to_string()),
                Event::DeploymentSucceeded => ("succeeded", "succeeded".to_string()),
                _ => return None,
            };
            Some(Mark {
                at_s: e.at.as_secs_f64(),
                kind: kind.to_string(),
                label,
                share,
            })
        })
        .collect()
}

fn percent(x: f64) -> String {
    format!("{} %", (x * 1000.0).round() / 10.0)
}

fn trim(x: f64) -> String {
    format!("{}", (x * 100.0).round() / 100.0)
}

/// The facts of a run: the traffic arithmetic, what each alarm saw, what each hook said, and
/// what the fault's kind means for the metrics.
fn facts(prepared: &Prepared, fault: Option<&VersionFault>, r: &Rehearsal, result: &RunResult) -> Vec<String> {
    let setup = &prepared.setup;
    let o = &r.outcome;
    let rate = f64::from(prepared.traffic.per_minute);
    let mut facts = Vec::new();
    // The traffic's arithmetic, as the configuration plans it.
    let share = fault.map_or(0.0, |f| f.share);
    match setup.routing {
        TrafficRouting::AllAtOnce => facts.push(format!(
            "all at once: no canary; version {TARGET} gets all {} requests a minute only after the BeforeAllowTraffic hook",
            rate
        )),
        routing => {
            let steps = routing.steps();
            let first = steps.first().map_or(1.0, |s| s.weight);
            let hold = steps.get(1).map_or(Duration::ZERO, |s| s.at);
            let per_minute = first * rate;
            let mut fact = format!(
                "{}: the first step sends {} of {} requests a minute = {} a minute to version {TARGET} for {}",
                setup.config_name,
                percent(first),
                trim(rate),
                trim(per_minute),
                human(hold)
            );
            if let Some(f) = fault
                && !matches!(f.kind, FaultKind::InitError)
            {
                fact.push_str(&format!(
                    "; at {} of them faulted, {} faulted a minute",
                    percent(share),
                    trim(per_minute * share)
                ));
            }
            facts.push(fact);
        }
    }
    if let Some(f) = fault
        && let Some(after) = f.after
    {
        facts.push(format!(
            "the fault starts {} after version {TARGET} first serves traffic through the alias: the BeforeAllowTraffic hook runs before it",
            human(after)
        ));
    }
    facts.push(format!(
        "measured: version {TARGET} served {} requests ({} with an error for the user), reached {} of the traffic, and the fault changed {} of its invocations",
        result.requests,
        result.user_errors,
        percent(result.max_share),
        result.faulted
    ));
    // Each alarm: what it saw against what it needs.
    for (alarm, trace) in setup.alarms.iter().zip(&o.alarms) {
        let with_data: Vec<f64> = trace.periods.iter().filter_map(|p| p.value).collect();
        let breaching = trace.periods.iter().filter(|p| p.breaching).count();
        let seen = if with_data.is_empty() {
            format!("no data in its {} period(s)", trace.periods.len())
        } else {
            format!(
                "peak {} over {} period(s) with data, {} breaching",
                trim(with_data.iter().copied().fold(f64::MIN, f64::max)),
                with_data.len(),
                breaching
            )
        };
        facts.push(format!(
            "alarm {} ({}): {seen}; it fires on {} of {} breaching, and ended {:?}",
            trace.alarm, trace.condition, alarm.datapoints_to_alarm, alarm.evaluation_periods, trace.state
        ));
        if let Some(f) = fault {
            let counts_errors = trace.condition.contains("Errors");
            match &f.kind {
                FaultKind::HttpStatus(code) if counts_errors => facts.push(format!(
                    "an answer with status {code} is no function error: Lambda's Errors metric does not count it, so {} cannot see it (an alarm on the API's 5XXError can)",
                    trace.alarm
                )),
                FaultKind::Body { .. } => facts.push(format!(
                    "a wrong answer is a well-formed answer: no metric counts it, so {} cannot see it; only a check of the answer's content can",
                    trace.alarm
                )),
                FaultKind::Delay(_) if !trace.condition.contains("Duration") => facts.push(format!(
                    "{} does not watch Duration: added latency reaches it only once it passes the timeout",
                    trace.alarm
                )),
                _ => {}
            }
        }
    }
    if setup.alarms.is_empty() {
        facts.push("no alarm watches the deployment: only the hooks can stop it".to_string());
    }
    // Each hook: what it said, and how many times it invoked the version itself.
    let direct = r
        .invocations
        .iter()
        .filter(|i| i.executed_version == TARGET && i.qualifier.as_deref() == Some(TARGET))
        .count();
    for e in &o.timeline {
        match &e.event {
            Event::HookReported {
                lifecycle_event,
                function,
                status,
                ..
            } => {
                facts.push(format!(
                    "{lifecycle_event} hook {function} reported {}",
                    status.as_str()
                ));
                // What its metrics checks saw: the figures a fault slipped under.
                if let Some(lines) = r.hook_logs.get(function) {
                    facts.extend(metrics_seen(lines));
                }
            }
            Event::HookTimedOut {
                lifecycle_event,
                function,
            } => facts.push(format!("{lifecycle_event} hook {function} never reported")),
            _ => {}
        }
    }
    if !setup.hooks.is_empty() {
        facts.push(format!(
            "the hooks invoked version {TARGET} directly {direct} time(s); a check that only invokes sees what one invocation shows"
        ));
    } else {
        facts.push("the deployment has no hooks: only alarms can stop it".to_string());
    }
    facts
}

/// What the metrics checks a hook logged saw, one fact per check: each figure against its
/// bound, and the window (the last check record of each name).
fn metrics_seen(lines: &[String]) -> Vec<String> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in lines {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if record["record"] != "check" || !record["metrics"].is_object() {
            continue;
        }
        let name = record["name"].as_str().unwrap_or("metrics").to_string();
        let figures: Vec<String> = record["assertions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{} {}: {}, expected {}",
                    if a["passed"] == true { "✔" } else { "✘" },
                    a["query"].as_str().unwrap_or_default(),
                    a["actual"].as_str().unwrap_or_default(),
                    a["expected"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let window = record["metrics"]["window"].as_str().unwrap_or_default();
        let fact = format!("its metrics check `{name}` saw {} ({window})", figures.join("; "));
        seen.retain(|(n, _)| *n != name);
        seen.push((name, fact));
    }
    seen.into_iter().map(|(_, f)| f).collect()
}

/// How the runs of one fault ended over every seed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultSummary {
    pub(crate) name: String,
    pub(crate) fault: String,
    pub(crate) description: String,
    /// `caught` (every seed), `missed` (none), `sometimes`.
    pub(crate) verdict: &'static str,
    pub(crate) caught: usize,
    pub(crate) runs: usize,
    /// The gate that stopped it most often, and how often each did.
    pub(crate) gate: Option<String>,
    pub(crate) gates: BTreeMap<String, usize>,
    /// Simulated seconds to the rollback: median and most, over the caught runs.
    pub(crate) detect_s: Option<[f64; 2]>,
    /// The largest share of traffic the bad version reached, over every run.
    pub(crate) max_share: f64,
    /// Requests the bad version served and user errors: median and most, over every run.
    pub(crate) requests: [u64; 2],
    pub(crate) user_errors: [u64; 2],
    /// The facts of the first run that let it through (or of the first run).
    pub(crate) facts: Vec<String>,
}

fn median_max<T: Copy + PartialOrd>(mut values: Vec<T>) -> Option<[T; 2]> {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some([*values.get(values.len().saturating_sub(1) / 2)?, *values.last()?])
}

/// The summary of one fault's runs.
pub(crate) fn summarize(name: &str, fault: &VersionFault, runs: &[&RunResult]) -> FaultSummary {
    let caught = runs.iter().filter(|r| r.rolled_back).count();
    let mut gates: BTreeMap<String, usize> = BTreeMap::new();
    for g in runs.iter().filter_map(|r| r.gate.clone()) {
        *gates.entry(g).or_default() += 1;
    }
    let gate = gates.iter().max_by_key(|(_, n)| **n).map(|(g, _)| g.clone());
    let shown = runs.iter().find(|r| !r.rolled_back).or(runs.first());
    FaultSummary {
        name: name.to_string(),
        fault: fault.to_string(),
        description: super::catalogue::describe(fault),
        verdict: if runs.is_empty() {
            "not run"
        } else if caught == runs.len() {
            "caught"
        } else if caught == 0 {
            "missed"
        } else {
            "sometimes"
        },
        caught,
        runs: runs.len(),
        gate,
        gates,
        detect_s: median_max(runs.iter().filter_map(|r| r.detected_s).collect()),
        max_share: runs.iter().map(|r| r.max_share).fold(0.0, f64::max),
        requests: median_max(runs.iter().map(|r| r.requests).collect()).unwrap_or_default(),
        user_errors: median_max(runs.iter().map(|r| r.user_errors).collect()).unwrap_or_default(),
        facts: shown.map(|r| r.facts.clone()).unwrap_or_default(),
    }
}

/// How the healthy version's runs ended: every rollback is a false one.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HealthySummary {
    pub(crate) runs: usize,
    pub(crate) false_rollbacks: usize,
    pub(crate) gates: BTreeMap<String, usize>,
    /// The facts of the first false rollback.
    pub(crate) facts: Vec<String>,
}

pub(crate) fn summarize_healthy(runs: &[&RunResult]) -> HealthySummary {
    let mut gates: BTreeMap<String, usize> = BTreeMap::new();
    for g in runs.iter().filter_map(|r| r.gate.clone()) {
        *gates.entry(g).or_default() += 1;
    }
    HealthySummary {
        runs: runs.len(),
        false_rollbacks: runs.iter().filter(|r| r.rolled_back).count(),
        gates,
        facts: runs
            .iter()
            .find(|r| r.rolled_back)
            .map(|r| {
                let mut facts = vec![format!("seed {}: {}", r.seed, r.reason.clone().unwrap_or_default())];
                facts.extend(r.facts.iter().cloned());
                facts
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_most() {
        assert_eq!(median_max(vec![3, 1, 2]), Some([2, 3]));
        assert_eq!(median_max(vec![4, 1, 2, 3]), Some([2, 4]));
        assert_eq!(median_max::<u64>(vec![]), None);
    }

    #[test]
    fn a_hooks_metrics_check_is_told_with_its_figures_the_last_record_of_each_name() {
        let record = |p99: &str, passed: bool| {
            serde_json::json!({
                "record": "check", "name": "fast", "outcome": "Passed",
                "assertions": [{"query": "p99 Duration", "actual": p99, "expected": "< 101ms", "passed": passed}],
                "metrics": {"window": "12:00:00–12:03:00 UTC · watched 3m, 4 readings"}
            })
            .to_string()
        };
        let lines = vec![
            "not json".to_string(),
            record("99ms (version 2)", true),
            serde_json::json!({"record": "check", "name": "invoke", "assertions": []}).to_string(),
            record("100ms (version 2)", true),
        ];
        assert_eq!(
            metrics_seen(&lines),
            [
                "its metrics check `fast` saw ✔ p99 Duration: 100ms (version 2), expected < 101ms (12:00:00–12:03:00 UTC · watched 3m, 4 readings)"
            ]
        );
    }
}
