//! A function version gone bad from outside it: the fault vocabulary of AWS Fault Injection
//! Service's Lambda actions (`aws:lambda:invocation-error`, `aws:lambda:invocation-add-delay`,
//! `aws:lambda:invocation-http-integration-response`, each with an `invocationPercentage`),
//! and what FIS cannot do: every cold start failing, a run past the timeout, a changed answer,
//! a fault that starts late.
//!
//! One spelling everywhere (`--fault`, a catalogue's `fault:`):
//! `KIND[=VALUE][,rate=PERCENT%][,after=DURATION][,version=target|current|N]`, e.g.
//! `error,rate=5%`, `delay=1s`, `http-status=500,rate=50%`, `init-error`, `timeout`,
//! `body=$.body.message="Bye"`, `error,after=2m`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::function::{Behavior, splitmix64};
use crate::invocation::{InvokeOutcome, lambda_log};

/// What goes wrong with an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The invocation is not run and fails as a function error (FIS's `invocation-error` with
    /// `preventExecution`).
    Error,
    /// This long is added before the handler runs (FIS's `invocation-add-delay`); past the
    /// function's timeout, Lambda ends the invocation.
    Delay(Duration),
    /// The invocation is not run; the answer is an API-proxy response with this status code
    /// (FIS's `invocation-http-integration-response`). No function error: Lambda's `Errors`
    /// metric does not count it.
    HttpStatus(u16),
    /// Every cold start fails (the function's init): so does every invocation, since no
    /// execution environment ever gets warm.
    InitError,
    /// The invocation runs past the function's timeout, and Lambda ends it
    /// (`Sandbox.Timedout`).
    Timeout,
    /// The function runs, and its answer's JSON is changed at a path (`$.a.b`; a member that
    /// holds JSON text, such as an API-proxy `body`, is followed into).
    Body {
        /// The path, `$.`-rooted, members separated by `.`.
        path: String,
        /// The value put there.
        value: Value,
    },
}

impl FaultKind {
    /// The kind's name, as spelled.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Error => "error",
            FaultKind::Delay(_) => "delay",
            FaultKind::HttpStatus(_) => "http-status",
            FaultKind::InitError => "init-error",
            FaultKind::Timeout => "timeout",
            FaultKind::Body { .. } => "body",
        }
    }
}

/// Which version of the function a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultVersion {
    /// The version the deployment moves to (the default).
    Target,
    /// The version the alias is on before the deployment.
    Current,
    /// A version by number.
    Number(String),
}

impl FaultVersion {
    /// The version's number, given the deployment's current and target versions.
    pub fn resolve<'a>(&'a self, current: &'a str, target: &'a str) -> &'a str {
        match self {
            FaultVersion::Target => target,
            FaultVersion::Current => current,
            FaultVersion::Number(n) => n,
        }
    }
}

/// A fault applied to one version of a function, from outside it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionFault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Which version (the target by default).
    pub version: FaultVersion,
    /// The share of invocations it applies to, above 0 and at most 1 (FIS's
    /// `invocationPercentage` / 100).
    pub share: f64,
    /// It starts this long (simulated) after the version first serves traffic through an alias
    /// (the canary's start, in a deployment); `None`: from the first invocation.
    pub after: Option<Duration>,
}

impl VersionFault {
    /// `kind` on every invocation of the target version, from the start.
    pub fn new(kind: FaultKind) -> Self {
        VersionFault {
            kind,
            version: FaultVersion::Target,
            share: 1.0,
            after: None,
        }
    }
}

/// A fault spelled wrong: what was given and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {spelling:?}: {message}")]
pub struct FaultParseError {
    spelling: String,
    message: String,
}

impl FaultParseError {
    fn new(spelling: &str, message: impl Into<String>) -> Self {
        FaultParseError {
            spelling: spelling.to_string(),
            message: message.into(),
        }
    }
}

/// The kinds, as a message lists them.
const KINDS: &str = "error, delay=DURATION, http-status=CODE, init-error, timeout, body=$.PATH=JSON \
                     (options: ,rate=PERCENT% ,after=DURATION ,version=target|current|N; e.g. error,rate=5%)";

/// Reads `100ms`, `1s`, `2m`, `1h` (or a bare number of milliseconds).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let secs = match unit {
        "" | "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms > 0 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The share as a percentage without trailing zeros: `5`, `0.5`, `100`.
fn format_percent(share: f64) -> String {
    let p = (share * 100.0 * 1000.0).round() / 1000.0;
    format!("{p}")
}

impl FromStr for VersionFault {
    type Err = FaultParseError;

    fn from_str(spelling: &str) -> Result<Self, Self::Err> {
        let err = |m: String| FaultParseError::new(spelling, m);
        let text = spelling.trim();
        if text.is_empty() {
            return Err(err(format!("empty: give one of {KINDS}")));
        }
        // Options are the comma-separated parts that start with a known option's name; the
        // rest belongs to the kind (a body's JSON may hold commas).
        let mut head = text;
        let mut options: Vec<(&str, &str)> = Vec::new();
        while let Some(i) = head.rfind(',') {
            let part = &head[i + 1..];
            let Some((k, v)) = part.split_once('=') else {
                break;
            };
            let k = k.trim();
            if !["rate", "after", "version"].contains(&k) {
                if head[..i].contains('=') || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    break;
                }
                return Err(err(format!(
                    "unknown option {k:?}: the options are rate=PERCENT%, after=DURATION, version=target|current|N"
                )));
            }
            options.push((k, v.trim()));
            head = &head[..i];
        }
        let (name, value) = match head.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (head.trim(), None),
        };
        let need = |what: &str| err(format!("{name} needs a value: {name}={what}"));
        let kind = match (name, value) {
            ("error", None) => FaultKind::Error,
            ("init-error", None) => FaultKind::InitError,
            ("timeout", None) => FaultKind::Timeout,
            ("error" | "init-error" | "timeout", Some(_)) => {
                return Err(err(format!(
                    "{name} takes no value (write {name}, or {name},rate=PERCENT%)"
                )));
            }
            ("delay", None) => return Err(need("DURATION (e.g. delay=1s, delay=250ms)")),
            ("delay", Some(v)) => FaultKind::Delay(parse_duration(v).ok_or_else(|| {
                err(format!(
                    "delay={v}: give a duration such as 100ms, 1s or 2m (at most a day)"
                ))
            })?),
            ("http-status", None) => return Err(need("CODE (e.g. http-status=500)")),
            ("http-status", Some(v)) => FaultKind::HttpStatus(
                v.parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| err(format!("http-status={v}: give an HTTP status code from 100 to 599")))?,
            ),
            ("body", None) => return Err(need("$.PATH=JSON (e.g. body=$.body.message=\"Bye\")")),
            ("body", Some(v)) => {
                let Some((path, json_text)) = v.split_once('=') else {
                    return Err(err(format!(
                        "body={v}: give a path and the value to put there, body=$.PATH=JSON (e.g. body=$.statusCode=500)"
                    )));
                };
                let path = path.trim();
                if body_path(path).is_none() {
                    return Err(err(format!(
                        "body path {path:?}: write it $.member.member (e.g. $.body.message)"
                    )));
                }
                // A value that is not JSON is a string: body=$.body.message=Bye.
                let value = serde_json::from_str(json_text.trim()).unwrap_or_else(|_| json!(json_text.trim()));
                FaultKind::Body {
                    path: path.to_string(),
                    value,
                }
            }
            (other, _) => {
                let hint = match other {
                    "errors" | "err" | "invocation-error" => " (did you mean error?)",
                    "latency" | "slow" | "add-delay" | "invocation-add-delay" => " (did you mean delay=DURATION?)",
                    "status" | "http" | "http-response" | "invocation-http-integration-response" => {
                        " (did you mean http-status=CODE?)"
                    }
                    "init" | "cold-start" | "init-failure" => " (did you mean init-error?)",
                    _ => "",
                };
                return Err(err(format!("unknown fault {other:?}{hint}: give one of {KINDS}")));
            }
        };
        let mut fault = VersionFault::new(kind);
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in options.into_iter().rev() {
            if seen.contains(&k) {
                return Err(err(format!("{k} is given twice")));
            }
            seen.push(k);
            match k {
                "rate" => {
                    if fault.kind == FaultKind::InitError {
                        return Err(err(
                            "init-error takes no rate: every cold start fails, so every invocation does".into(),
                        ));
                    }
                    let number = v.strip_suffix('%').ok_or_else(|| {
                        err(format!(
                            "rate={v}: give a percentage of invocations with %, e.g. rate=5%"
                        ))
                    })?;
                    let p: f64 = number
                        .trim()
                        .parse()
                        .ok()
                        .filter(|p: &f64| p.is_finite() && *p > 0.0 && *p <= 100.0)
                        .ok_or_else(|| {
                            err(format!(
                                "rate={v}: give a percentage above 0 and at most 100, e.g. rate=5%"
                            ))
                        })?;
                    fault.share = p / 100.0;
                }
                "after" => {
                    fault.after =
                        Some(parse_duration(v).ok_or_else(|| {
                            err(format!("after={v}: give a duration such as 30s or 2m (at most a day)"))
                        })?);
                }
                "version" => {
                    fault.version = match v {
                        "target" => FaultVersion::Target,
                        "current" => FaultVersion::Current,
                        n if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => FaultVersion::Number(n.into()),
                        _ => {
                            return Err(err(format!(
                                "version={v}: give target (the default), current or a version number"
                            )));
                        }
                    }
                }
                _ => unreachable!("options are filtered above"),
            }
        }
        Ok(fault)
    }
}

impl fmt::Display for VersionFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FaultKind::Delay(d) => write!(f, "delay={}", format_duration(*d))?,
            FaultKind::HttpStatus(c) => write!(f, "http-status={c}")?,
            FaultKind::Body { path, value } => write!(f, "body={path}={value}")?,
            other => f.write_str(other.name())?,
        }
        if self.share < 1.0 {
            write!(f, ",rate={}%", format_percent(self.share))?;
        }
        if let Some(after) = self.after {
            write!(f, ",after={}", format_duration(after))?;
        }
        match &self.version {
            FaultVersion::Target => Ok(()),
            FaultVersion::Current => f.write_str(",version=current"),
            FaultVersion::Number(n) => write!(f, ",version={n}"),
        }
    }
}

impl Serialize for VersionFault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The members of a body path: `$.a.b` → `["a", "b"]`.
fn body_path(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("$.")?;
    let members: Vec<&str> = rest.split('.').collect();
    members.iter().all(|m| !m.is_empty()).then_some(members)
}

/// Puts `value` at `members` of `target`, creating objects on the way; a string that holds a
/// JSON object or array is decoded, changed and encoded again.
fn put_at(target: &mut Value, members: &[&str], value: &Value) {
    let Some((first, rest)) = members.split_first() else {
        *target = value.clone();
        return;
    };
    if let Value::String(text) = target
        && let Ok(mut inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(text)
    {
        put_at(&mut inner, members, value);
        *target = Value::String(inner.to_string());
        return;
    }
    if let Value::Array(items) = target
        && let Ok(i) = first.parse::<usize>()
        && i < items.len()
    {
        put_at(&mut items[i], rest, value);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let slot = target
        .as_object_mut()
        .expect("made an object above")
        .entry(first.to_string())
        .or_insert(Value::Null);
    put_at(slot, rest, value);
}

/// Who invokes: the deployment's synthetic traffic (drawn by its request number), or a client
/// (a hook, a test, a user through the API), whose own clock measures the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller {
    /// Synthetic traffic: request `n`. An added delay is accounted on the simulated clock (the
    /// `Duration` metric grows; past the timeout Lambda ends it), not waited out in real time.
    Traffic(u64),
    /// A client: an added delay or a timeout is waited out in real time, as it would wait.
    Client,
}

/// One fault in force.
#[derive(Debug)]
struct Rule {
    function: String,
    version: String,
    fault: VersionFault,
    seed: u64,
    index: u64,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Rule>,
    /// Invocations of a version so far (function, version): a client's draw.
    counters: HashMap<(String, String), u64>,
    /// When a version first served traffic through an alias (simulated).
    first_alias: HashMap<(String, String), Duration>,
    /// Invocations a fault changed, by (function, version).
    applied: HashMap<(String, String), u64>,
}

/// The version faults of a simulator.
#[derive(Debug, Default)]
pub(crate) struct VersionFaults {
    inner: Mutex<Inner>,
}

/// A fault to apply to an invocation, with what it needs to know of the version.
#[derive(Debug)]
pub(crate) struct Applied {
    kind: FaultKind,
    caller: Caller,
}

impl VersionFaults {
    pub(crate) fn add(&self, function: &str, version: &str, fault: VersionFault, seed: u64) {
        let mut inner = self.inner.lock().expect("faults poisoned");
        let index = inner.rules.len() as u64;
        inner.rules.push(Rule {
            function: function.to_string(),
            version: version.to_string(),
            fault,
            seed,
            index,
        });
    }

    pub(crate) fn clear(&self) {
        *self.inner.lock().expect("faults poisoned") = Inner::default();
    }

    /// Invocations a fault changed, by (function, version).
    pub(crate) fn applied(&self) -> HashMap<(String, String), u64> {
        self.inner.lock().expect("faults poisoned").applied.clone()
    }

    /// The fault for this invocation of `function` `version` at simulated `now`, if any:
    /// the first rule in force whose draw falls within its share.
    pub(crate) fn decide(
        &self,
        function: &str,
        version: &str,
        qualifier: Option<&str>,
        now: Duration,
        caller: Caller,
    ) -> Option<Applied> {
        let mut inner = self.inner.lock().expect("faults poisoned");
        if inner.rules.is_empty() {
            return None;
        }
        let key = (function.to_string(), version.to_string());
        let via_alias = qualifier.is_some_and(|q| q != "$LATEST" && !q.chars().all(|c| c.is_ascii_digit()));
        if via_alias {
            inner.first_alias.entry(key.clone()).or_insert(now);
        }
        let counter = inner.counters.entry(key.clone()).or_default();
        *counter += 1;
        let n = match caller {
            Caller::Traffic(n) => n,
            Caller::Client => *counter | (1 << 63),
        };
        let first_alias = inner.first_alias.get(&key).copied();
        let kind = inner
            .rules
            .iter()
            .filter(|r| r.function == function && r.version == version)
            .find(|r| {
                let started = match r.fault.after {
                    None => true,
                    Some(after) => first_alias.is_some_and(|t| now >= t + after),
                };
                let draw = fault_draw(r.seed, r.index, n);
                started && ((draw >> 11) as f64 / (1u64 << 53) as f64) < r.fault.share
            })
            .map(|r| r.fault.kind.clone())?;
        *inner.applied.entry(key).or_default() += 1;
        Some(Applied { kind, caller })
    }
}

/// The draw of fault `index` for invocation `n`: a stream of its own, independent of the draw
/// that routes a weighted alias (`splitmix64(seed ^ splitmix64(n))`), so that a share of the
/// invocations the alias sends a version is that share, not a slice of the routing's draw.
fn fault_draw(seed: u64, index: u64, n: u64) -> u64 {
    let stream = splitmix64(n ^ 0xD1B5_4A32_D192_ED03 ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    splitmix64(splitmix64(seed ^ 0x0FA1_7D2A_55E5_D00D) ^ stream)
}

/// A version's timeout: its process's, or Lambda's default of 3 s for a scripted one.
fn timeout_of(behavior: &Behavior) -> Duration {
    match behavior {
        Behavior::Process(p) => p.timeout(),
        _ => Duration::from_secs(3),
    }
}

/// Lambda's answer to an invocation ended by its timeout.
fn timed_out(version: &str, request_id: &str, timeout: Duration) -> InvokeOutcome {
    let message = format!(
        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
        timeout.as_secs_f64()
    );
    InvokeOutcome::function_error(version, request_id, "Sandbox.Timedout", &message, timeout)
}

impl Applied {
    /// Runs the invocation as the fault makes it go.
    pub(crate) async fn run(
        self,
        behavior: &Behavior,
        payload: &[u8],
        version: &str,
        qualifier: Option<&str>,
        request_id: &str,
    ) -> InvokeOutcome {
        let timeout = timeout_of(behavior);
        let traffic = matches!(self.caller, Caller::Traffic(_));
        match self.kind {
            FaultKind::Error => InvokeOutcome::function_error(
                version,
                request_id,
                "HookSimFault",
                "hook-sim fault `error`: the invocation failed before the handler ran",
                Duration::ZERO,
            ),
            FaultKind::InitError => InvokeOutcome::function_error(
                version,
                request_id,
                "Runtime.ExitError",
                &format!(
                    "RequestId: {request_id} Error: Runtime exited with error: exit status 1 \
                     (hook-sim fault `init-error`: every cold start of this version fails)"
                ),
                Duration::ZERO,
            ),
            FaultKind::HttpStatus(code) => {
                let answer = json!({
                    "statusCode": code,
                    "headers": {"content-type": "application/json"},
                    "body": json!({"message": format!("hook-sim fault http-status={code}")}).to_string(),
                });
                InvokeOutcome {
                    payload: answer.to_string().into_bytes(),
                    function_error: None,
                    log: lambda_log(request_id, version, "", Duration::ZERO, 128, 16, None),
                    executed_version: version.to_string(),
                    throttled: false,
                    duration: Duration::ZERO,
                }
            }
            FaultKind::Timeout => {
                if !traffic {
                    tokio::time::sleep(timeout).await;
                }
                timed_out(version, request_id, timeout)
            }
            FaultKind::Delay(delay) => {
                if delay >= timeout {
                    if !traffic {
                        tokio::time::sleep(timeout).await;
                    }
                    return timed_out(version, request_id, timeout);
                }
                if !traffic {
                    tokio::time::sleep(delay).await;
                }
                let mut outcome =
                    crate::function::run_scripted(behavior, payload, version, qualifier, request_id).await;
                if outcome.throttled {
                    return outcome;
                }
                outcome.duration += delay;
                if outcome.duration > timeout {
                    return timed_out(version, request_id, timeout);
                }
                outcome
            }
            FaultKind::Body { path, value } => {
                let mut outcome =
                    crate::function::run_scripted(behavior, payload, version, qualifier, request_id).await;
                if outcome.throttled || outcome.function_error.is_some() {
                    return outcome;
                }
                let mut answer: Value = serde_json::from_slice(&outcome.payload).unwrap_or(Value::Null);
                let members = body_path(&path).unwrap_or_default();
                put_at(&mut answer, &members, &value);
                outcome.payload = answer.to_string().into_bytes();
                outcome
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> VersionFault {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn error(s: &str) -> String {
        s.parse::<VersionFault>().expect_err(s).to_string()
    }

    #[test]
    fn every_kind_reads_and_writes_back_the_same() {
        for s in [
            "error",
            "error,rate=5%",
            "error,rate=0.5%",
            "delay=100ms",
            "delay=1s,rate=50%",
            "delay=2m",
            "http-status=500,rate=5%",
            "init-error",
            "timeout,rate=20%",
            "body=$.statusCode=500",
            "body=$.body.message=\"Bye, world\"",
            "error,after=2m",
            "error,rate=20%,after=90s,version=current",
            "error,version=3",
        ] {
            assert_eq!(parse(s).to_string(), s, "{s}");
        }
        assert_eq!(
            parse("body=$.body.message=Bye").to_string(),
            "body=$.body.message=\"Bye\""
        );
        let f = parse("http-status=503,rate=50%,after=1m");
        assert_eq!(f.kind, FaultKind::HttpStatus(503));
        assert_eq!(f.share, 0.5);
        assert_eq!(f.after, Some(Duration::from_secs(60)));
        assert_eq!(f.version, FaultVersion::Target);
    }

    #[test]
    fn a_wrong_spelling_says_what_to_write() {
        assert!(error("erorr").contains("unknown fault \"erorr\""), "{}", error("erorr"));
        assert!(error("errors").contains("did you mean error?"));
        assert!(error("latency=1s").contains("did you mean delay=DURATION?"));
        assert!(error("delay").contains("delay=DURATION"));
        assert!(error("delay=fast").contains("100ms, 1s or 2m"));
        assert!(error("http-status=42").contains("from 100 to 599"));
        assert!(error("error,rate=5").contains("with %"));
        assert!(error("error,rate=0%").contains("above 0"));
        assert!(error("error,rate=150%").contains("at most 100"));
        assert!(error("error,rate=NaN%").contains("above 0"));
        assert!(error("error,percent=5%").contains("unknown option \"percent\""));
        assert!(error("init-error,rate=5%").contains("every cold start fails"));
        assert!(error("error=1").contains("takes no value"));
        assert!(error("body=$.x").contains("$.PATH=JSON"));
        assert!(error("body=x=1").contains("$.member"));
        assert!(error("error,version=next").contains("target (the default), current"));
        assert!(error("error,rate=5%,rate=6%").contains("twice"));
        assert!(error("").contains("empty"));
    }

    #[test]
    fn a_body_is_changed_inside_the_json_text_of_an_api_answer() {
        let mut answer = json!({"statusCode": 200, "body": "{\"message\":\"Hello\",\"version\":\"2\"}"});
        put_at(&mut answer, &["body", "message"], &json!("Bye"));
        assert_eq!(answer["statusCode"], 200);
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"message": "Bye", "version": "2"}));
        let mut plain = json!({"a": 1});
        put_at(&mut plain, &["b", "c"], &json!(true));
        assert_eq!(plain, json!({"a": 1, "b": {"c": true}}));
    }

    #[test]
    fn a_share_is_drawn_the_same_way_for_the_same_seed() {
        let draw = |seed: u64| {
            let faults = VersionFaults::default();
            faults.add("f", "2", parse("error,rate=20%"), seed);
            (0..1000)
                .map(|n| {
                    faults
                        .decide("f", "2", Some("live"), Duration::ZERO, Caller::Traffic(n))
                        .is_some()
                })
                .collect::<Vec<bool>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "the same seed draws the same invocations");
        assert_ne!(a, draw(8), "another seed draws others");
        let hits = a.iter().filter(|h| **h).count();
        assert!((150..=250).contains(&hits), "about 20 % of 1000: {hits}");
    }

    #[test]
    fn a_share_of_what_the_alias_routes_is_that_share() {
        // The routing's draw for request n (as a weighted alias draws it): 30 % to the target.
        let routed = |seed: u64, n: u64| ((splitmix64(seed ^ splitmix64(n)) >> 11) as f64 / (1u64 << 53) as f64) < 0.3;
        for seed in 1..=5 {
            let faults = VersionFaults::default();
            faults.add("f", "2", parse("error,rate=20%"), seed);
            let to_target: Vec<u64> = (0..20_000).filter(|n| routed(seed, *n)).collect();
            let hits = to_target
                .iter()
                .filter(|n| {
                    faults
                        .decide("f", "2", Some("live"), Duration::ZERO, Caller::Traffic(**n))
                        .is_some()
                })
                .count();
            let share = hits as f64 / to_target.len() as f64;
            assert!(
                (0.18..0.22).contains(&share),
                "seed {seed}: {share} of the target's requests"
            );
        }
    }

    /// A client waits out a delay or a timeout as it would in Lambda; the deployment's traffic
    /// has it accounted instead. (Tokio's paused clock: no real second passes.)
    #[tokio::test(start_paused = true)]
    async fn a_client_waits_the_fault_out_and_traffic_has_it_accounted() {
        let hello = Behavior::hello("2");
        let run = |kind: FaultKind, caller: Caller| {
            let hello = hello.clone();
            async move {
                let started = tokio::time::Instant::now();
                let out = Applied { kind, caller }.run(&hello, b"{}", "2", Some("2"), "r-1").await;
                (out, started.elapsed())
            }
        };
        let (out, waited) = run(FaultKind::Timeout, Caller::Client).await;
        assert_eq!(out.json()["errorType"], "Sandbox.Timedout");
        assert_eq!(
            out.duration,
            Duration::from_secs(3),
            "a scripted version's timeout: Lambda's 3 s"
        );
        assert_eq!(waited, Duration::from_secs(3));
        let (out, waited) = run(FaultKind::Timeout, Caller::Traffic(1)).await;
        assert_eq!(out.json()["errorType"], "Sandbox.Timedout");
        assert_eq!(waited, Duration::ZERO, "accounted, not waited");

        let (out, waited) = run(FaultKind::Delay(Duration::from_millis(500)), Caller::Client).await;
        assert_eq!(out.function_error, None);
        assert!(waited >= Duration::from_millis(500) && out.duration >= Duration::from_millis(500));
        let (out, waited) = run(FaultKind::Delay(Duration::from_millis(500)), Caller::Traffic(1)).await;
        assert_eq!(waited, Duration::ZERO);
        assert!(
            out.duration >= Duration::from_millis(500),
            "the Duration metric grows: {:?}",
            out.duration
        );
        let (out, _) = run(FaultKind::Delay(Duration::from_secs(5)), Caller::Traffic(1)).await;
        assert_eq!(
            out.json()["errorType"],
            "Sandbox.Timedout",
            "past the timeout, Lambda ends it"
        );
    }

    #[test]
    fn a_late_fault_starts_after_the_version_first_serves_its_alias() {
        let faults = VersionFaults::default();
        faults.add("f", "2", parse("error,after=2m"), 1);
        let at = |s: u64, q: &str| {
            faults
                .decide("f", "2", Some(q), Duration::from_secs(s), Caller::Client)
                .is_some()
        };
        assert!(!at(0, "2"), "a hook's invoke of the version before any alias traffic");
        assert!(!at(600, "live"), "the first alias request starts the clock");
        assert!(!at(719, "live"));
        assert!(at(720, "live"));
        assert!(at(900, "2"));
        assert!(
            faults
                .decide("f", "1", Some("live"), Duration::from_secs(900), Caller::Client)
                .is_none(),
            "another version is untouched"
        );
    }
}
