//! The spec's model: a [`Spec`] and its checks, their actions, expectations and captures, as
//! the loader reads them.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::Dur;
use crate::invalid::{Invalid, invalid};
use crate::metrics::MetricsSpec;
use crate::predicate::{DurationPredicate, Predicate, RateBound, json_strings};
use crate::words::suggest;

/// A spec that [`load`](crate::load) (or [`load_file`](crate::load_file)) has read and checked: every rule and limit holds,
/// so running it cannot panic or grow without bound. Read its parts through
/// [`SpecFile`] (`spec.checks`, ...); there is no other way to make one:
///
/// ```compile_fail
/// // A Spec does not deserialize unchecked: use hook_spec::load.
/// let spec: hook_spec::Spec = serde_json::from_str("{}").unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Spec {
    file: SpecFile,
    source: String,
}

impl Spec {
    /// Wraps a parsed file that `load` has validated.
    pub(crate) fn checked(file: SpecFile, source: &str) -> Spec {
        Spec {
            file,
            source: source.to_string(),
        }
    }

    /// Where it was read from: the file, or the name given to [`load`](crate::load).
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl std::ops::Deref for Spec {
    type Target = SpecFile;
    fn deref(&self) -> &SpecFile {
        &self.file
    }
}

/// The shape of a spec file, as its JSON Schema ([`schema`](crate::schema)) describes it. Deserializing one
/// checks only its shape: [`load`](crate::load) turns text into a [`Spec`], checked against every rule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "hook-sdk check spec",
    description = "Smoke checks for a CodeDeploy lifecycle hook"
)]
#[non_exhaustive]
pub struct SpecFile {
    /// The spec format version: 1.
    pub version: SpecVersion,
    /// Defaults for every check.
    #[serde(default)]
    pub defaults: Defaults,
    /// Stop at the first failed check; the rest are reported as not run.
    #[serde(default)]
    pub fail_fast: bool,
    /// Variables for `{{name}}` in the checks.
    #[serde(default)]
    pub vars: IndexMap<String, String>,
    /// Names whose values are secret: environment variables (as in `${env:NAME}`), `vars`
    /// and captures. Their values are redacted from every log and report, like those of
    /// names that look secret (`*TOKEN*`, `*SECRET*`, `*KEY*`, `*PASSWORD*`, `*AUTH*`, ...).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Let BeforeAllowTraffic report `Succeeded` although no check invoked the version under
    /// test (by default that is an error: HTTP checks and the alias still reach the old version).
    #[serde(default)]
    pub allow_untested_target: bool,
    /// Let a target version skip every check and report `Succeeded` when its environment holds
    /// `HOOK_SKIP_CHECKS` with a reason (a hotfix): the one exception to "never Succeeded
    /// without a check", off unless set here, and recorded in the log and every report with
    /// the reason, the version that asked and the spec that allowed it.
    #[serde(default)]
    pub allow_skip: bool,
    /// The checks, run in order.
    #[serde(deserialize_with = "crate::pick::picked_checks")]
    #[schemars(with = "Vec<Check>")]
    pub checks: Vec<Check>,
}

/// The spec format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(description = "Always 1")]
pub struct SpecVersion(#[schemars(range(min = 1, max = 1))] pub u32);

impl<'de> Deserialize<'de> for SpecVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v == 1 {
            Ok(SpecVersion(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "spec version {v} is not supported: this hook-sdk reads version 1"
            )))
        }
    }
}

/// Defaults for every check.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Time one attempt may take (default 10s).
    pub timeout: Option<Dur>,
    /// Retry failed checks.
    pub retry: Option<Retry>,
}

/// Retry until the check passes.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first included (at least 1).
    #[schemars(range(min = 1))]
    pub attempts: u32,
    /// Pause between attempts.
    #[serde(default)]
    pub backoff: Dur,
}

/// The phases a check runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PhaseFilter {
    /// BeforeAllowTraffic only.
    Before,
    /// AfterAllowTraffic only.
    After,
    /// Both (the default).
    #[default]
    Both,
}

/// One check: what it does, and how its answers are judged.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "CheckSource")]
pub struct Check {
    /// What the check is called in reports.
    pub name: String,
    /// The phases it runs in.
    pub phase: PhaseFilter,
    /// What it does: invoke, or send HTTP.
    pub action: Action,
    /// For invoke checks: the targets to test, by AppSpec logical id or function name (default: all).
    pub targets: Option<Vec<String>>,
    /// For invoke checks: the targets to test, by what the function is (name patterns, tags).
    pub select: Option<Select>,
    /// What the answer must satisfy.
    pub expect: Expect,
    /// Values taken from the answer for later checks, as `{{name}}`.
    pub capture: IndexMap<String, Capture>,
    /// Time one attempt may take.
    pub timeout: Option<Dur>,
    /// Retry until it passes.
    pub retry: Option<Retry>,
    /// Run it this many times and judge all runs.
    pub repeat: Option<u32>,
    /// How many of the repeated runs are in flight at once (default 1).
    pub concurrency: Option<u32>,
    /// Bounds over all runs of a repeated check.
    pub thresholds: Option<Thresholds>,
}

/// What a check does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Invoke the target version (or its alias) of each target.
    Invoke(InvokeSpec),
    /// Send an HTTP request.
    Http(HttpSpec),
    /// Compare the new version's metrics with the current version's (AfterAllowTraffic only).
    Metrics(MetricsSpec),
}

/// One check as written: exactly one of `invoke`, `http` and `metrics`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Check", description = "One check.")]
pub(crate) struct CheckSource {
    /// What the check is called in reports.
    name: String,
    /// The phases it runs in: before, after or both (the default; a metrics check: after).
    #[serde(default)]
    #[schemars(with = "PhaseFilter", extend("default" = "both"))]
    phase: Option<PhaseFilter>,
    /// Invoke the target version (or its alias) of each target.
    invoke: Option<InvokeSpec>,
    /// Send an HTTP request.
    http: Option<HttpSpec>,
    /// Judge the metrics of the traffic each target's new version served (AfterAllowTraffic):
    /// CloudWatch's figures for the new and the current version, through the alias.
    metrics: Option<MetricsSpec>,
    /// For invoke checks: the targets to test, by AppSpec logical id or function name (default: all).
    targets: Option<Vec<String>>,
    /// For invoke checks: the targets to test, by what the function is — name patterns, tags —
    /// or `fallback: true` for the targets no other check selects. For a hook shared by many
    /// stacks: a target that no check covers fails.
    select: Option<Select>,
    /// What the answer must satisfy.
    #[serde(default)]
    expect: Expect,
    /// Values taken from the answer for later checks, as `{{name}}`: a JSONPath, or `{ header: NAME }`.
    #[serde(default)]
    capture: IndexMap<String, Capture>,
    /// Time one attempt may take.
    timeout: Option<Dur>,
    /// Retry until it passes.
    retry: Option<Retry>,
    /// Run it this many times and judge all runs (with `thresholds`, or all must pass).
    #[schemars(range(min = 1))]
    repeat: Option<u32>,
    /// How many of the repeated runs are in flight at once (default 1).
    #[schemars(range(min = 1))]
    concurrency: Option<u32>,
    /// Bounds over all runs of a repeated check.
    thresholds: Option<Thresholds>,
}

impl TryFrom<CheckSource> for Check {
    type Error = Invalid;

    fn try_from(c: CheckSource) -> Result<Check, Invalid> {
        let given: Vec<&str> = [
            ("invoke", c.invoke.is_some()),
            ("http", c.http.is_some()),
            ("metrics", c.metrics.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let action = match (c.invoke, c.http, c.metrics) {
            (Some(i), None, None) => Action::Invoke(i),
            (None, Some(h), None) => Action::Http(h),
            (None, None, Some(m)) => Action::Metrics(m),
            (None, None, None) => {
                return Err(invalid!(
                    "check `{}` does nothing: add `invoke:`, `http:` or `metrics:`",
                    c.name
                ));
            }
            _ => {
                return Err(invalid!(
                    "check `{}` has {}: a check does one thing, split it",
                    c.name,
                    given.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                ));
            }
        };
        let phase = match (&action, c.phase) {
            (Action::Metrics(_), None | Some(PhaseFilter::After)) => PhaseFilter::After,
            (Action::Metrics(_), Some(p)) => {
                return Err(invalid!(
                    "check `{}` reads metrics in phase `{}`: the new version serves traffic only after \
                     AllowTraffic, so a metrics check runs in AfterAllowTraffic: write `phase: after` or leave it out",
                    c.name,
                    if p == PhaseFilter::Before { "before" } else { "both" }
                ));
            }
            (_, p) => p.unwrap_or_default(),
        };
        Ok(Check {
            name: c.name,
            phase,
            action,
            targets: c.targets,
            select: c.select,
            expect: c.expect,
            capture: c.capture,
            timeout: c.timeout,
            retry: c.retry,
            repeat: c.repeat,
            concurrency: c.concurrency,
            thresholds: c.thresholds,
        })
    }
}

impl JsonSchema for Check {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        CheckSource::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        CheckSource::json_schema(generator)
    }
}

/// Which targets an invoke check tests, by what the function is: how one hook shared by many
/// stacks gives each function its own checks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// Function name patterns (`*`: any run of characters, `?`: one character), matched against
    /// the function's name (not its ARN). Any pattern may match.
    #[serde(default)]
    pub functions: Vec<String>,
    /// Tags the function must carry, each with this value (`*`: any value). Read with
    /// `lambda:GetFunction`.
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    /// Test the targets that no other invoke check of the phase selects (and only those).
    #[serde(default)]
    pub fallback: bool,
}

impl Select {
    /// Whether a function of this name and these tags is selected (`fallback` aside).
    pub fn matches(&self, function_name: &str, tags: &std::collections::BTreeMap<String, String>) -> bool {
        (self.functions.is_empty() || self.functions.iter().any(|p| glob(p, function_name)))
            && self
                .tags
                .iter()
                .all(|(k, v)| tags.get(k).is_some_and(|have| v == "*" || have == v))
    }
}

/// `*` any run of characters, `?` one character, the rest literal.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Where an invoke goes.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeSpec {
    /// The event sent (default `{}`); strings may use variables.
    #[serde(default = "empty_object")]
    #[schemars(default = "empty_object")]
    pub payload: Value,
    /// `target` (the version under test, default), `alias` (the deployment's alias),
    /// `current` (the version traffic moves away from), or a literal version or alias.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub qualifier: Qualifier,
}

/// Which version of the target an invoke check calls.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum Qualifier {
    /// The version under test (`target`, the default).
    #[default]
    Target,
    /// The deployment's alias (`alias`).
    Alias,
    /// The version traffic moves away from (`current`).
    Current,
    /// A version or alias written out, which may hold variables (`{{target.version}}`, `7`).
    Named(String),
}

impl TryFrom<String> for Qualifier {
    type Error = Invalid;

    fn try_from(text: String) -> Result<Self, Invalid> {
        Ok(match text.trim() {
            "target" => Qualifier::Target,
            "alias" => Qualifier::Alias,
            "current" => Qualifier::Current,
            "" => {
                return Err(
                    "qualifier is empty: leave it out for the version under test, or write target, alias, current or a version"
                        .into(),
                );
            }
            named => Qualifier::Named(named.to_string()),
        })
    }
}

impl std::fmt::Display for Qualifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Qualifier::Target => f.write_str("target"),
            Qualifier::Alias => f.write_str("alias"),
            Qualifier::Current => f.write_str("current"),
            Qualifier::Named(q) => f.write_str(q),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// An HTTP request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The method (default GET).
    #[serde(default = "get")]
    #[schemars(default = "get")]
    pub method: String,
    /// The URL; may use variables, like `${env:API_URL}/health`.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// The body: a string is sent as it is, anything else as JSON.
    pub body: Option<Value>,
    /// Follow redirects (at most 5; never from https to http). Headers of the spec are sent
    /// to the first origin only. Default false: a redirect is the answer, and a 3xx fails the
    /// default 2xx expectation.
    #[serde(default)]
    pub follow_redirects: bool,
}

fn get() -> String {
    "GET".to_string()
}

/// The expected function error of an invoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FunctionErrorExpect {
    /// The invoke succeeded.
    #[serde(rename = "none")]
    None,
    /// The invoke failed, either way.
    #[serde(rename = "any")]
    Any,
    /// The invoke failed with an unhandled error.
    Unhandled,
    /// The invoke failed with a handled error.
    Handled,
}

/// Expectations on an answer. Each key is a query; all must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The function error of an invoke: none (default for invokes), any, Unhandled, Handled.
    pub function_error: Option<FunctionErrorExpect>,
    /// The status: HTTP status, or for an invoke the payload's `statusCode`. When absent, an
    /// HTTP status must be 2xx, and so must an invoke payload's `statusCode` when it has one:
    /// write any status expectation (e.g. `{ exists: true }`) to accept others.
    pub status: Option<Predicate>,
    /// JSONPath (RFC 9535) queries into the JSON answer. A `body` holding a JSON string
    /// (API Gateway style) is decoded, so `$.body.message` works.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Predicate>")]
    pub json: IndexMap<JsonPathKey, Predicate>,
    /// Response headers, by name (case-insensitive); for an invoke, the payload's `headers`.
    #[serde(default)]
    pub header: IndexMap<String, Predicate>,
    /// The body as text.
    pub body: Option<Predicate>,
    /// Wall time of the call as the hook saw it.
    pub duration: Option<DurationPredicate>,
    /// `Duration` of the invoke's REPORT line.
    pub reported_duration: Option<DurationPredicate>,
    /// `Init Duration` of the invoke's REPORT line (absent when warm).
    pub init_duration: Option<DurationPredicate>,
    /// `Max Memory Used` of the invoke's REPORT line, in MB.
    pub max_memory: Option<Predicate>,
    /// The invoke's log tail.
    pub log: Option<Predicate>,
}

/// A JSONPath, checked when the spec is read.
#[derive(Debug, Clone)]
pub struct JsonPathKey {
    /// The source text.
    pub source: String,
    /// The parsed path.
    pub path: serde_json_path::JsonPath,
}

impl PartialEq for JsonPathKey {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for JsonPathKey {}
impl std::hash::Hash for JsonPathKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state)
    }
}

impl JsonPathKey {
    /// Parses a JSONPath.
    pub fn parse(source: &str) -> Result<Self, Invalid> {
        serde_json_path::JsonPath::parse(source)
            .map(|path| JsonPathKey {
                source: source.to_string(),
                path,
            })
            .map_err(|e| {
                let hint = if !source.starts_with('$') {
                    " (a JSONPath starts with `$`, like $.body.message)".to_string()
                } else if let Some(name) = source
                    .split(['.', '[', ']'])
                    .find(|p| p.contains('-') && !p.contains('\''))
                {
                    format!(" (a name with `-` needs brackets: ['{name}'])")
                } else {
                    String::new()
                };
                // The parser's "at position N, parser error" says where, not what: say which
                // character it stopped at, counting from 1.
                let e = e.to_string();
                let e = match e
                    .strip_prefix("at position ")
                    .and_then(|rest| rest.split_once(','))
                    .and_then(|(n, _)| n.trim().parse::<usize>().ok())
                {
                    Some(at) => {
                        let rest: String = source.chars().skip(at).collect();
                        if rest.is_empty() {
                            "it ends too soon (an unclosed `[` or a trailing `.`?)".to_string()
                        } else {
                            format!("it does not parse from character {} (`{rest}`)", at + 1)
                        }
                    }
                    None => e,
                };
                invalid!("bad JSONPath `{source}`: {e}{hint}")
            })
    }
}

impl<'de> Deserialize<'de> for JsonPathKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        JsonPathKey::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A value to capture.
#[derive(Debug, Clone)]
pub enum Capture {
    /// A JSONPath into the JSON answer (the first match).
    Json(JsonPathKey),
    /// A response header.
    Header(String),
}

impl<'de> Deserialize<'de> for Capture {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => JsonPathKey::parse(&s).map(Capture::Json).map_err(D::Error::custom),
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                let v = v
                    .as_str()
                    .ok_or_else(|| D::Error::custom(format!("`{k}` takes a string")))?
                    .to_string();
                match k.as_str() {
                    "json" => JsonPathKey::parse(&v).map(Capture::Json).map_err(D::Error::custom),
                    "header" => Ok(Capture::Header(v)),
                    other => Err(D::Error::custom(format!(
                        "unknown capture `{other}`{}: use a JSONPath, {{ json: PATH }} or {{ header: NAME }}",
                        suggest(other, &["json", "header"])
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default()
                    ))),
                }
            }
            other => Err(D::Error::custom(format!(
                "{other} is no capture: use a JSONPath, {{ json: PATH }} or {{ header: NAME }}"
            ))),
        }
    }
}

impl JsonSchema for Capture {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Capture".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A JSONPath into the answer, or { json: PATH } or { header: NAME }",
            "anyOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
                 "properties": {"json": {"type": "string"}, "header": {"type": "string"}}}
            ]
        })
    }
}

/// Bounds over all runs of a repeated check.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Share of runs that passed their expectations, e.g. ">= 0.99".
    pub success_rate: Option<RateBound>,
    /// Median duration.
    pub p50: Option<DurationPredicate>,
    /// 90th percentile.
    pub p90: Option<DurationPredicate>,
    /// 95th percentile.
    pub p95: Option<DurationPredicate>,
    /// 99th percentile.
    pub p99: Option<DurationPredicate>,
    /// Slowest run.
    pub max: Option<DurationPredicate>,
}

impl Expect {
    /// Whether it expects nothing.
    pub fn is_empty(&self) -> bool {
        self.function_error.is_none()
            && self.status.is_none()
            && self.json.is_empty()
            && self.header.is_empty()
            && self.body.is_none()
            && self.duration.is_none()
            && self.reported_duration.is_none()
            && self.init_duration.is_none()
            && self.max_memory.is_none()
            && self.log.is_none()
    }

    /// Every expected string, which may hold variables (`${env:NAME}`, `{{name}}`).
    pub fn templates(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let predicates = self
            .status
            .iter()
            .chain(self.json.values())
            .chain(self.header.values())
            .chain(self.body.iter())
            .chain(self.max_memory.iter())
            .chain(self.log.iter());
        for p in predicates {
            p.strings(&mut out);
        }
        out
    }
}

impl Check {
    /// Every string of the check that may hold variables: payload strings and keys, the
    /// qualifier, the URL, method, headers and body.
    pub fn templates(&self) -> Vec<&str> {
        let walk = json_strings;
        let mut out = Vec::new();
        match &self.action {
            Action::Invoke(invoke) => {
                walk(&invoke.payload, &mut out);
                if let Qualifier::Named(q) = &invoke.qualifier {
                    out.push(q);
                }
            }
            Action::Metrics(_) => {}
            Action::Http(http) => {
                out.push(&http.url);
                out.push(&http.method);
                out.extend(http.headers.values().map(String::as_str));
                if let Some(b) = &http.body {
                    walk(b, &mut out);
                }
            }
        }
        out
    }

    /// Whether this check invokes the version under test (`qualifier` absent, `target`, or
    /// `{{target.version}}`): the only check that tests a version before it gets traffic.
    pub fn invokes_target_version(&self) -> bool {
        match &self.action {
            Action::Invoke(i) => match &i.qualifier {
                Qualifier::Target => true,
                Qualifier::Named(q) => q.replace(' ', "") == "{{target.version}}",
                Qualifier::Alias | Qualifier::Current => false,
            },
            Action::Http(_) | Action::Metrics(_) => false,
        }
    }

    /// Whether this check runs in `phase`.
    pub fn runs_in(&self, phase: crate::Phase) -> bool {
        use crate::Phase;
        matches!(
            (self.phase, phase),
            (PhaseFilter::Both, _)
                | (PhaseFilter::Before, Phase::BeforeAllowTraffic)
                | (PhaseFilter::After, Phase::AfterAllowTraffic)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The qualifier's words mean one thing wherever they are read: trimmed, typed once.
    #[test]
    fn a_qualifier_is_read_once_into_what_it_names() {
        let invoke = |q: serde_json::Value| serde_json::from_value::<InvokeSpec>(serde_json::json!({ "qualifier": q }));
        assert_eq!(
            invoke(serde_json::json!(" alias ")).unwrap().qualifier,
            Qualifier::Alias
        );
        assert_eq!(
            invoke(serde_json::json!("current")).unwrap().qualifier,
            Qualifier::Current
        );
        assert_eq!(
            invoke(serde_json::json!("target")).unwrap().qualifier,
            Qualifier::Target
        );
        assert_eq!(
            invoke(serde_json::json!(" {{target.version}}")).unwrap().qualifier,
            Qualifier::Named("{{target.version}}".into())
        );
        assert_eq!(
            serde_json::from_value::<InvokeSpec>(serde_json::json!({}))
                .unwrap()
                .qualifier,
            Qualifier::Target,
            "the version under test by default"
        );
        assert!(
            invoke(serde_json::json!("  "))
                .unwrap_err()
                .to_string()
                .contains("qualifier is empty")
        );
        let spec = crate::load(
            "version: 1\nchecks:\n  - name: a\n    invoke: { qualifier: ' alias' }\n    phase: after\n",
            "t",
        )
        .unwrap();
        assert!(!spec.checks[0].invokes_target_version());
        assert_eq!(Qualifier::Named("7".into()).to_string(), "7");
    }

    #[test]
    fn globs() {
        assert!(glob("orders-*", "orders-api"));
        assert!(glob("*-api", "orders-api"));
        assert!(glob("o?ders-*-api", "orders-eu-api"));
        assert!(glob("*", ""));
        assert!(!glob("orders-*", "payments-api"));
        assert!(!glob("orders", "orders-api"));
        assert!(glob("a*b*c", "aXXbYYc") && !glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn selects_by_name_and_tags() {
        let tags: std::collections::BTreeMap<String, String> =
            [("team".to_string(), "orders".to_string())].into_iter().collect();
        let by_tag: Select = serde_json::from_value(serde_json::json!({"tags": {"team": "orders"}})).unwrap();
        assert!(by_tag.matches("anything", &tags));
        assert!(!by_tag.matches("anything", &Default::default()));
        let any_value: Select = serde_json::from_value(serde_json::json!({"tags": {"team": "*"}})).unwrap();
        assert!(any_value.matches("x", &tags));
        let both: Select =
            serde_json::from_value(serde_json::json!({"functions": ["pay*"], "tags": {"team": "orders"}})).unwrap();
        assert!(!both.matches("orders-api", &tags) && both.matches("pay-api", &tags));
    }
}
