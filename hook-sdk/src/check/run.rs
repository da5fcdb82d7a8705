//! Running a spec's checks: invokes and HTTP requests, retries, repeats with concurrency,
//! thresholds and captures. Failed checks are data in the [`Report`], never `Err`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::time::Instant;

use super::answer_cap::AnswerCap;
use super::http::{self, DEFAULT_MAX_BODY, HttpRequest};
use super::select::{self, Facts, SKIP_VARIABLE, Selection};
use crate::assert::{AssertionResult, Observation, evaluate};
use crate::event::Phase;
use crate::redact::{Redactor, is_credential_header, looks_secret};
use crate::report::{CheckReport, ErrorKind, Outcome, Report, RunStats};
use crate::spec::limits::{MAX_CAPTURE_BYTES, MAX_CONCURRENCY, MAX_REPEAT};
use crate::spec::{Action, Capture, Check, Spec, TemplateText, Vars, duration_text};
use crate::target::{Target, TargetFunction};

/// The time one attempt may take when the spec says nothing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

type Progress = Arc<dyn Fn(&CheckReport) + Send + Sync>;

/// Runs specs against targets with a Lambda client and an HTTP client.
///
/// Answers are read up to a bound ([`MAX_BODY`](crate::spec::limits::MAX_BODY) by default): a larger one fails its check
/// before it is read into memory. Reports never hold the values of secrets (see
/// [`redact`](crate::redact)).
#[derive(Clone)]
pub struct CheckRunner {
    /// The client as given.
    raw_lambda: aws_sdk_lambda::Client,
    /// The client checks invoke with: answers capped at `max_body`.
    lambda: aws_sdk_lambda::Client,
    http: Option<reqwest::Client>,
    #[cfg(feature = "metrics")]
    cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    max_body: usize,
    progress: Option<Progress>,
}

impl std::fmt::Debug for CheckRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckRunner")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The time a metrics check covers, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// From.
    pub start: SystemTime,
    /// To.
    pub end: SystemTime,
    /// What it is, for reports: `traffic shifting` (the deployment's `AllowTraffic` event).
    pub what: String,
}

/// What a run needs besides the spec.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The phase the checks run in; checks of other phases are skipped.
    pub phase: Phase,
    /// The targets invoke checks test.
    pub targets: Vec<Target>,
    /// The deployment, for `{{deployment.id}}`.
    pub deployment_id: Option<String>,
    /// Variables (and the environment for `${env:...}`).
    pub vars: Vars,
    /// No attempt starts or lasts past this; checks left are reported as not run.
    pub deadline: Option<Instant>,
    /// The spec's source, for reports.
    pub source: Option<String>,
    /// The deployment's traffic shifting (its `AllowTraffic` event), the default window of
    /// metrics checks; `None` outside a deployment.
    pub traffic: Option<Result<TimeWindow, String>>,
}

impl CheckRunner {
    /// A runner invoking through `lambda`, with the default HTTP client (rustls, made on the
    /// first HTTP check) and a 1 MiB cap on answers.
    pub fn new(lambda: aws_sdk_lambda::Client) -> Self {
        CheckRunner {
            lambda: AnswerCap { max: DEFAULT_MAX_BODY }.apply(&lambda),
            raw_lambda: lambda,
            http: None,
            #[cfg(feature = "metrics")]
            cloudwatch: None,
            max_body: DEFAULT_MAX_BODY,
            progress: None,
        }
    }

    /// Reads metrics checks' figures with this CloudWatch client.
    #[cfg(feature = "metrics")]
    pub fn with_cloudwatch(mut self, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        self.cloudwatch = Some(cloudwatch);
        self
    }

    /// Uses this HTTP client.
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Caps answers (invoke payloads and HTTP bodies) at `bytes`: a larger answer fails its check.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self.lambda = AnswerCap { max: bytes }.apply(&self.raw_lambda);
        self
    }

    /// Calls `f` as each check ends (for progress output).
    pub fn on_check(mut self, f: impl Fn(&CheckReport) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Runs every check of `spec` that runs in `ctx.phase`, in order.
    pub async fn run(&self, spec: &Spec, ctx: &RunContext) -> Report {
        let started = Instant::now();
        let mut vars = ctx.vars.clone();
        if let Some(d) = &ctx.deployment_id {
            vars.set("deployment.id", d.clone());
        }
        let mut reports = Vec::new();
        let mut secrets = Secrets::new(spec, &vars);
        let mut vars_error = None;
        for (name, value) in &spec.vars {
            let rendered = vars.render(value).and_then(|v| {
                secrets.named(name, &v);
                vars.set_within(name, v)
            });
            match rendered {
                Ok(()) => {}
                Err(e) => {
                    // The first failure is the cause; later ones follow from it.
                    vars_error.get_or_insert(format!("vars.{name}: {e}"));
                }
            }
        }
        // What the targets are (tags) and ask (a skip), when the spec needs it.
        let facts: Vec<Option<Result<Facts, String>>> = if select::needs_facts(spec) {
            futures_util::future::join_all(
                ctx.targets
                    .iter()
                    .map(|t| select::read_facts(&self.raw_lambda, t, ctx.deadline)),
            )
            .await
            .into_iter()
            .map(Some)
            .collect()
        } else {
            vec![None; ctx.targets.len()]
        };
        let (waivers, waived) = select::waivers(spec, ctx.source.as_deref(), &ctx.targets, &facts, &secrets.redactor);
        for w in &waivers {
            // The reason is the version's text: it reaches the log only redacted (by `waivers`).
            tracing::warn!(target_version = %w.target, reason = %w.reason, decided_by = %w.decided_by, "{}", w.line());
        }
        let every_target_waived = !ctx.targets.is_empty() && waived.len() == ctx.targets.len();
        let selection = select::select(spec, ctx.phase, &ctx.targets, &facts, &waived);
        let mut stop: Option<String> = None;
        // Variables a check should have captured and did not (it failed, was skipped or not
        // run), with that check's name: a later check that needs one says so.
        let mut uncaptured: Vec<(String, String)> = Vec::new();
        for (ci, check) in spec.checks.iter().enumerate() {
            let early = if !check.runs_in(ctx.phase) {
                let only = match check.phase {
                    crate::spec::PhaseFilter::Before => "BeforeAllowTraffic",
                    _ => "AfterAllowTraffic",
                };
                Some(unrun(
                    check,
                    Outcome::Skipped,
                    Some(format!("runs in {only} only")),
                    None,
                ))
            } else if every_target_waived {
                Some(unrun(
                    check,
                    Outcome::Skipped,
                    Some(format!(
                        "every target skips its checks ({SKIP_VARIABLE}, allowed by the spec)"
                    )),
                    None,
                ))
            } else if let Some(e) = &vars_error {
                Some(setup_failure(check, e.clone()))
            } else if let Some(why) = &stop {
                Some(unrun(check, Outcome::NotRun, Some(why.clone()), None))
            } else if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
                Some(unrun(
                    check,
                    Outcome::NotRun,
                    Some("the hook ran out of time".into()),
                    None,
                ))
            } else {
                None
            };
            if let Some(mut r) = early {
                explain_uncaptured(&mut r, &uncaptured);
                self.push(&mut reports, r, &secrets);
                note_uncaptured(check, &vars, &mut uncaptured);
                continue;
            }
            for mut r in self
                .run_check(spec, check, ctx, (&selection, ci), &mut vars, &mut secrets)
                .await
            {
                let failed = r.outcome == Outcome::Failed;
                explain_uncaptured(&mut r, &uncaptured);
                self.push(&mut reports, r, &secrets);
                if failed && spec.fail_fast && stop.is_none() {
                    stop = Some(format!("`{}` failed and the spec says fail_fast", check.name));
                }
            }
            note_uncaptured(check, &vars, &mut uncaptured);
        }
        // A target no check tests fails: a hook shared by many stacks never passes a function
        // its spec forgot.
        for ti in &selection.uncovered {
            let t = &ctx.targets[*ti];
            let tags = match &facts[*ti] {
                Some(Ok(f)) if !f.tags.is_empty() => format!(
                    " (its tags: {})",
                    f.tags
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            };
            let report = CheckReport {
                target: Some(t.qualified()),
                error: Some(format!(
                    "no check of the spec selects {}{tags} in {}: add a check whose `select` matches it, \
                     or one with `select: {{ fallback: true }}`",
                    t.function, ctx.phase
                )),
                error_kind: Some(ErrorKind::Setup),
                ..unrun_named("every target is tested", Outcome::Failed)
            };
            self.push(&mut reports, report, &secrets);
        }
        let mut report = Report {
            source: ctx.source.clone(),
            phase: Some(ctx.phase),
            deployment_id: ctx.deployment_id.clone(),
            waivers,
            every_target_waived,
            checks: reports,
            duration: started.elapsed(),
        };
        // Again at the end: a secret captured late may have shown in an earlier answer.
        report.redact(&secrets.redactor);
        report
    }

    fn push(&self, reports: &mut Vec<CheckReport>, mut r: CheckReport, secrets: &Secrets) {
        r.redact(&secrets.redactor);
        if let Some(p) = &self.progress {
            p(&r);
        }
        reports.push(r);
    }

    async fn run_check(
        &self,
        spec: &Spec,
        check: &Check,
        ctx: &RunContext,
        (selection, ci): (&Selection, usize),
        vars: &mut Vars,
        secrets: &mut Secrets,
    ) -> Vec<CheckReport> {
        if matches!(check.action, Action::Http(_)) {
            return vec![self.run_instance(spec, check, ctx, None, vars, secrets).await];
        }
        let chosen = selection.targets.get(&ci).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (ti, e) in selection.unreadable.get(&ci).into_iter().flatten() {
            let t = &ctx.targets[*ti];
            out.push(CheckReport {
                target: Some(t.qualified()),
                ..setup_failure(check, e.clone())
            });
        }
        if chosen.is_empty() && out.is_empty() {
            let waived = selection.waived.get(&ci).is_some_and(|w| !w.is_empty());
            let skipped = |note: String| vec![unrun(check, Outcome::Skipped, Some(note), None)];
            if waived {
                return skipped(format!(
                    "its targets skip their checks ({SKIP_VARIABLE}, allowed by the spec)"
                ));
            }
            match &check.select {
                Some(s) if s.fallback => return skipped("every target is tested by another check".into()),
                Some(_) => return skipped("selects none of this deployment's targets".into()),
                None => {}
            }
            let known: Vec<String> = ctx
                .targets
                .iter()
                .map(|t| format!("{} ({})", t.logical_id, t.function))
                .collect();
            let error = match &check.targets {
                Some(names) => format!(
                    "no target named {}: the deployment's targets are {}",
                    names.join(", "),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
                None => "the deployment has no target to invoke".to_string(),
            };
            return vec![setup_failure(check, error)];
        }
        for ti in chosen {
            let target = &ctx.targets[ti];
            let report = match &check.action {
                Action::Metrics(m) => self.run_metrics(spec, check, m, ctx, target).await,
                _ => self.run_instance(spec, check, ctx, Some(target), vars, secrets).await,
            };
            out.push(report);
        }
        out
    }

    #[cfg(feature = "metrics")]
    async fn run_metrics(
        &self,
        spec: &Spec,
        check: &Check,
        metrics: &crate::spec::MetricsSpec,
        ctx: &RunContext,
        target: &Target,
    ) -> CheckReport {
        let timeout = check.timeout.or(spec.defaults.timeout).map_or(DEFAULT_TIMEOUT, |d| d.0);
        super::metrics::run(
            self.cloudwatch.as_ref(),
            &check.name,
            metrics,
            target,
            ctx.traffic.as_ref(),
            (timeout, ctx.deadline),
        )
        .await
    }

    #[cfg(not(feature = "metrics"))]
    async fn run_metrics(
        &self,
        _: &Spec,
        check: &Check,
        _: &crate::spec::MetricsSpec,
        _: &RunContext,
        target: &Target,
    ) -> CheckReport {
        CheckReport {
            target: Some(target.qualified()),
            ..setup_failure(check, "this hook was built without hook-sdk's `metrics` feature".into())
        }
    }

    async fn run_instance(
        &self,
        spec: &Spec,
        check: &Check,
        ctx: &RunContext,
        target: Option<&Target>,
        vars: &mut Vars,
        secrets: &mut Secrets,
    ) -> CheckReport {
        let started = Instant::now();
        let mut local = vars.clone();
        // HTTP checks see the target's variables too when the deployment has just one.
        let var_target = target.or(match ctx.targets.as_slice() {
            [only] => Some(only),
            _ => None,
        });
        if let Some(t) = var_target {
            local.set("target.function", t.function.clone());
            local.set("target.version", t.target_version.clone());
            local.set("target.logical_id", t.logical_id.clone());
            if let Some(a) = &t.alias {
                local.set("target.alias", a.clone());
            }
            if let Some(c) = &t.current_version {
                local.set("target.current_version", c.clone());
            }
        }
        // Failed until an attempt passes.
        let mut report = unrun(check, Outcome::Failed, None, None);
        let call = match self.prepare(check, target, &local) {
            Ok(call) => {
                if let Call::Http(req) = &call {
                    for (name, value) in &req.headers {
                        if is_credential_header(name) {
                            secrets.redactor.add(value);
                        }
                    }
                }
                call
            }
            Err(e) => {
                report.target = target.map(Target::qualified);
                report.error = Some(e);
                report.error_kind = Some(ErrorKind::Setup);
                report.duration = started.elapsed();
                return report;
            }
        };
        report.target = call.label();
        let timeout = check.timeout.or(spec.defaults.timeout).map_or(DEFAULT_TIMEOUT, |d| d.0);

        if let Some(n) = check.repeat {
            let concurrency = check.concurrency.unwrap_or(1).clamp(1, MAX_CONCURRENCY) as usize;
            // Fold the runs as they end: only the passed runs' durations and the first failure
            // are kept, never the answers.
            let (passed, first_failure) = futures_util::stream::iter(0..n.min(MAX_REPEAT))
                .map(|_| self.attempt(&call, check, &local, timeout, ctx.deadline, secrets))
                .buffer_unordered(concurrency)
                .fold((Vec::new(), None), |(mut passed, mut first), a| async move {
                    if a.passed() {
                        passed.push(a.duration());
                    } else if first.is_none() {
                        first = Some((a.error_kind(), a.failures()));
                    }
                    (passed, first)
                })
                .await;
            let stats = RunStats::from_runs(passed, n.min(MAX_REPEAT));
            report.attempts = stats.runs;
            let (first_kind, first_failure) = first_failure.unwrap_or_default();
            if stats.passed == 0 && first_kind == Some(ErrorKind::Setup) {
                // No run could be made: the cause is the set-up, not the version.
                report.error_kind = first_kind;
            }
            report.sample_failure = first_failure;
            report.assertions = thresholds(check, &stats);
            if check.thresholds.as_ref().is_none_or(|t| t.success_rate.is_none()) {
                // Without an explicit success_rate, every run must pass: a failed run is never
                // tolerated by accident.
                report.assertions.insert(
                    0,
                    AssertionResult {
                        query: "every run".into(),
                        expected: format!(
                            "{0} of {0} runs pass (set thresholds.success_rate to tolerate failures)",
                            stats.runs
                        ),
                        actual: format!("{} of {}", stats.passed, stats.runs),
                        passed: stats.failed == 0,
                    },
                );
            }
            report.outcome = if stats.runs > 0 && report.assertions.iter().all(|a| a.passed) {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
            report.stats = Some(stats);
            report.duration = started.elapsed();
            return report;
        }

        let retry = check.retry.or(spec.defaults.retry);
        let attempts = retry.map_or(1, |r| r.attempts.max(1));
        let backoff = retry.map_or(Duration::ZERO, |r| r.backoff.0);
        let mut last = None;
        for i in 0..attempts {
            if i > 0 {
                if ctx.deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                    break;
                }
                if !backoff.is_zero() {
                    tokio::time::sleep(backoff).await;
                }
            }
            let a = self.attempt(&call, check, &local, timeout, ctx.deadline, secrets).await;
            report.attempts = i + 1;
            let passed = a.passed();
            last = Some(a);
            if passed {
                break;
            }
        }
        let last = last.expect("at least one attempt");
        report.outcome = if last.passed() {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        let observation = match last {
            Attempt::Answered {
                assertions,
                observation,
                ..
            } => {
                report.assertions = assertions;
                Some(observation)
            }
            Attempt::Failed { failure, .. } => {
                report.error = Some(failure.message);
                report.error_kind = Some(failure.kind);
                None
            }
        };
        if report.outcome == Outcome::Passed
            && let Some(obs) = &observation
        {
            for (name, capture) in &check.capture {
                match captured(capture, obs) {
                    Ok(v) => {
                        secrets.named(name, &v);
                        if matches!(capture, Capture::Header(h) if is_credential_header(h)) {
                            secrets.redactor.add(&v);
                        }
                        if let Err(e) = vars.set_within(name, v) {
                            report.outcome = Outcome::Failed;
                            report.assertions.push(AssertionResult {
                                query: format!("capture {name}"),
                                expected: "room for the value".into(),
                                actual: e.to_string(),
                                passed: false,
                            });
                        }
                    }
                    Err(actual) => {
                        report.outcome = Outcome::Failed;
                        report.assertions.push(AssertionResult {
                            query: format!("capture {name}"),
                            expected: format!("a value of at most {} KiB", MAX_CAPTURE_BYTES / 1024),
                            actual,
                            passed: false,
                        });
                    }
                }
            }
        }
        report.duration = started.elapsed();
        report
    }

    fn prepare(&self, check: &Check, target: Option<&Target>, vars: &Vars) -> Result<Call, String> {
        let h = match &check.action {
            Action::Http(h) => h,
            Action::Metrics(_) => return Err("a metrics check makes no call of its own".into()),
            Action::Invoke(invoke) => {
                let target = target.ok_or("an invoke check needs a target")?;
                let qualifier = match invoke.qualifier.as_deref() {
                    None | Some("target") => target.target_version.clone(),
                    Some("alias") => target
                        .alias
                        .clone()
                        .ok_or_else(|| format!("`qualifier: alias`, but {} has no alias", target.function))?,
                    Some("current") => target.current_version.clone().ok_or_else(|| {
                        format!("`qualifier: current`, but {} has no current version", target.function)
                    })?,
                    Some(other) => vars.render(other).map_err(|e| e.to_string())?,
                };
                let payload = vars.render_json(&invoke.payload).map_err(|e| e.to_string())?;
                return Ok(Call::Invoke {
                    function: TargetFunction::new(target.clone(), self.lambda.clone()),
                    qualifier,
                    payload: serde_json::to_vec(&payload).map_err(|e| e.to_string())?,
                });
            }
        };
        let body = match &h.body {
            None => None,
            Some(Value::String(s)) => Some((vars.render(s).map_err(|e| e.to_string())?.into_bytes(), false)),
            Some(v) => Some((
                serde_json::to_vec(&vars.render_json(v).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?,
                true,
            )),
        };
        let headers = h
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), vars.render(v).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        let req = HttpRequest {
            method: vars.render(&h.method).map_err(|e| e.to_string())?,
            url: vars.render(&h.url).map_err(|e| e.to_string())?,
            headers,
            body,
            follow_redirects: h.follow_redirects,
        };
        http::check_request(&req)?;
        Ok(Call::Http(req))
    }

    async fn attempt(
        &self,
        call: &Call,
        check: &Check,
        vars: &Vars,
        timeout: Duration,
        deadline: Option<Instant>,
        secrets: &Secrets,
    ) -> Attempt {
        let started = Instant::now();
        let limit = deadline.map_or(started + timeout, |d| d.min(started + timeout));
        let result = tokio::time::timeout_at(limit, self.execute(call)).await;
        let duration = started.elapsed();
        match result {
            Ok(Ok(obs)) => Attempt::Answered {
                assertions: evaluate(&check.expect, &obs, vars, &secrets.with_captures(check, &obs)),
                observation: Box::new(obs),
                duration,
            },
            Ok(Err(failure)) => Attempt::Failed { failure, duration },
            Err(_) => Attempt::Failed {
                failure: CallFailure::call(format!(
                    "no answer within {}{}",
                    duration_text(limit - started),
                    if limit < started + timeout {
                        " (the hook's time ran out)"
                    } else {
                        " (the check's timeout)"
                    }
                )),
                duration,
            },
        }
    }

    async fn execute(&self, call: &Call) -> Result<Observation, CallFailure> {
        match call {
            Call::Invoke {
                function,
                qualifier,
                payload,
            } => {
                let inv = function
                    .invoke_qualified(qualifier, payload.clone())
                    .await
                    .map_err(|e| CallFailure {
                        kind: if e.is_setup() {
                            ErrorKind::Setup
                        } else {
                            ErrorKind::Call
                        },
                        message: crate::error::error_chain(&e),
                    })?;
                let mut obs = Observation::from_invoke(&inv.payload, inv.function_error.clone(), inv.elapsed);
                if let Some(r) = &inv.usage {
                    obs.reported_duration = r.duration;
                    obs.init_duration = r.init_duration;
                    obs.max_memory_mb = r.max_memory_used_mb;
                }
                obs.log = inv.log_tail.clone();
                Ok(obs)
            }
            Call::Http(req) => {
                let client = self.http.clone().unwrap_or_else(http::default_client);
                // The method and URL were checked in `prepare`: what fails here is the call.
                http::send(&client, req, self.max_body).await.map_err(CallFailure::call)
            }
        }
    }
}

enum Call {
    Invoke {
        function: TargetFunction,
        qualifier: String,
        payload: Vec<u8>,
    },
    Http(HttpRequest),
}

impl Call {
    fn label(&self) -> Option<String> {
        match self {
            Call::Invoke {
                function, qualifier, ..
            } => Some(format!("{}:{qualifier}", function.function)),
            Call::Http(_) => None,
        }
    }
}

/// Why a call got no answer to judge: the check could not be made ([`ErrorKind::Setup`]), or
/// the call failed ([`ErrorKind::Call`]).
struct CallFailure {
    kind: ErrorKind,
    message: String,
}

impl CallFailure {
    fn call(message: String) -> Self {
        CallFailure {
            kind: ErrorKind::Call,
            message,
        }
    }
}

/// One run of a check's call: an answer and what its expectations found, or no answer.
enum Attempt {
    Answered {
        assertions: Vec<AssertionResult>,
        observation: Box<Observation>,
        duration: Duration,
    },
    Failed {
        failure: CallFailure,
        duration: Duration,
    },
}

impl Attempt {
    fn passed(&self) -> bool {
        matches!(self, Attempt::Answered { assertions, .. } if assertions.iter().all(|a| a.passed))
    }

    fn duration(&self) -> Duration {
        match self {
            Attempt::Answered { duration, .. } | Attempt::Failed { duration, .. } => *duration,
        }
    }

    /// The kind of error that stopped it, when no answer came.
    fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Attempt::Answered { .. } => None,
            Attempt::Failed { failure, .. } => Some(failure.kind),
        }
    }

    /// What made it fail.
    fn failures(self) -> Vec<AssertionResult> {
        match self {
            Attempt::Failed { failure, .. } => vec![AssertionResult {
                query: "call".into(),
                expected: "an answer".into(),
                actual: failure.message,
                passed: false,
            }],
            Attempt::Answered { assertions, .. } => assertions.into_iter().filter(|a| !a.passed).collect(),
        }
    }
}

/// The secrets of a run: what its report must never show.
struct Secrets {
    listed: Vec<String>,
    redactor: Redactor,
}

impl Secrets {
    /// The values of the secret environment variables the spec reads.
    fn new(spec: &Spec, vars: &Vars) -> Secrets {
        let mut s = Secrets {
            listed: spec.secrets.clone(),
            redactor: Redactor::new(),
        };
        // Every string that may read the environment: what is sent, and what is expected.
        let mut texts: Vec<&str> = spec.checks.iter().flat_map(Check::templates).collect();
        texts.extend(spec.checks.iter().flat_map(|c| c.expect.templates()));
        texts.extend(spec.vars.values().map(String::as_str));
        // Values given to the run (`--var NAME=VALUE`, a hook's own).
        for (name, value) in vars.values() {
            if looks_secret(name) || s.listed.iter().any(|l| l == name) {
                s.redactor.add(value);
            }
        }
        for text in texts {
            if let Ok(t) = TemplateText::parse(text) {
                for name in t.env_names() {
                    if (looks_secret(name) || s.listed.iter().any(|l| l == name))
                        && let Some(v) = vars.env(name)
                    {
                        s.redactor.add(&v);
                    }
                }
            }
        }
        s
    }

    /// The redactor for what `check` shows of `obs`: the secrets known, and those its captures
    /// will take from `obs`, so that no piece of one is shown before it is captured.
    fn with_captures(&self, check: &Check, obs: &Observation) -> std::borrow::Cow<'_, Redactor> {
        let secret = |name: &str, capture: &Capture| {
            looks_secret(name)
                || self.listed.iter().any(|l| l == name)
                || matches!(capture, Capture::Header(h) if is_credential_header(h))
        };
        let mut out = std::borrow::Cow::Borrowed(&self.redactor);
        for (name, capture) in &check.capture {
            if secret(name, capture)
                && let Ok(v) = captured(capture, obs)
            {
                out.to_mut().add(&v);
            }
        }
        out
    }

    /// A `vars` entry or a capture was set: hide it when its name says it is secret.
    fn named(&mut self, name: &str, value: &str) {
        if looks_secret(name) || self.listed.iter().any(|l| l == name) {
            self.redactor.add(value);
        }
    }
}

/// The report of a check that could not be made (see [`ErrorKind::Setup`]).
fn setup_failure(check: &Check, error: String) -> CheckReport {
    CheckReport {
        error_kind: Some(ErrorKind::Setup),
        ..unrun(check, Outcome::Failed, None, Some(error))
    }
}

/// The report of a check that did not run (skipped, not run, or failed before any call).
fn unrun(check: &Check, outcome: Outcome, note: Option<String>, error: Option<String>) -> CheckReport {
    CheckReport {
        note,
        error,
        ..unrun_named(&check.name, outcome)
    }
}

fn unrun_named(name: &str, outcome: Outcome) -> CheckReport {
    CheckReport {
        outcome,
        ..CheckReport::failed_before_run(name)
    }
}

fn thresholds(check: &Check, stats: &RunStats) -> Vec<AssertionResult> {
    let Some(t) = &check.thresholds else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(b) = &t.success_rate {
        out.push(AssertionResult {
            query: "threshold success_rate".into(),
            expected: b.to_string(),
            actual: format!("{} ({} of {})", round3(stats.success_rate), stats.passed, stats.runs),
            passed: b.op.holds(stats.success_rate, b.value),
        });
    }
    for (name, bound, actual) in [
        ("p50", &t.p50, stats.p50),
        ("p90", &t.p90, stats.p90),
        ("p95", &t.p95, stats.p95),
        ("p99", &t.p99, stats.p99),
        ("max", &t.max, stats.max),
    ] {
        if let Some(b) = bound {
            out.push(AssertionResult {
                query: format!("threshold {name}"),
                expected: format!("{b} (over passed runs)"),
                actual: actual.map_or_else(|| "no passed run".to_string(), duration_text),
                passed: actual.is_some_and(|d| b.holds(d)),
            });
        }
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The captured value, or what was found instead.
/// Records the variables `check` captures that are still not set after it ran.
fn note_uncaptured(check: &Check, vars: &Vars, uncaptured: &mut Vec<(String, String)>) {
    for name in check.capture.keys() {
        if vars.get(name).is_none() && !uncaptured.iter().any(|(n, _)| n == name) {
            uncaptured.push((name.clone(), check.name.clone()));
        }
    }
}

/// A check that fails on a variable an earlier check should have captured says so, instead of
/// calling it unknown (the spec is valid: the capture did not happen).
fn explain_uncaptured(report: &mut CheckReport, uncaptured: &[(String, String)]) {
    for (name, by) in uncaptured {
        let unknown = format!("unknown variable {{{{{name}}}}}");
        let why = format!("{{{{{name}}}}} has no value: `{by}` captures it, and it did not pass");
        if report.error.as_ref().is_some_and(|e| e.contains(&unknown)) {
            report.error = Some(format!("{why}, so this check cannot run"));
        }
        for a in &mut report.assertions {
            if a.expected.contains(&unknown) {
                a.expected = why.clone();
            }
        }
    }
}

fn captured(capture: &Capture, obs: &Observation) -> Result<String, String> {
    let value = match capture {
        Capture::Json(path) => {
            let json = obs.json.as_ref().ok_or("the answer is not JSON")?;
            let v = path.path.query(json).first().ok_or("nothing")?;
            v.as_str().map_or_else(|| v.to_string(), str::to_string)
        }
        Capture::Header(name) => obs.header(name).ok_or("nothing")?.to_string(),
    };
    if value.len() > MAX_CAPTURE_BYTES {
        return Err(format!("{} bytes", value.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load;
    use aws_sdk_lambda::operation::invoke::InvokeOutput;
    use aws_sdk_lambda::primitives::Blob;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn target() -> Target {
        Target {
            logical_id: "F".into(),
            function: "fn".into(),
            alias: None,
            current_version: None,
            target_version: "2".into(),
        }
    }

    fn ctx() -> RunContext {
        RunContext {
            phase: Phase::BeforeAllowTraffic,
            targets: vec![target()],
            deployment_id: None,
            vars: Vars::default(),
            deadline: None,
            source: None,
            traffic: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_the_backoff_between_attempts() {
        let failing = || {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .payload(Blob::new(r#"{"errorMessage":"warming"}"#))
                .build()
        };
        let invoke = mock!(aws_sdk_lambda::Client::invoke)
            .sequence()
            .output(failing)
            .times(2)
            .output(|| {
                InvokeOutput::builder()
                    .status_code(200)
                    .payload(Blob::new(r#"{"statusCode":200}"#))
                    .build()
            })
            .build();
        let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&invoke]);
        let spec = load(
            "version: 1\nchecks:\n  - name: eventually\n    invoke: {}\n    retry: { attempts: 3, backoff: 200ms }\n    expect: { status: 200 }\n",
            "s.yaml",
        )
        .unwrap();
        let started = Instant::now();
        let report = CheckRunner::new(lambda).run(&spec, &ctx()).await;
        assert!(report.passed(), "{report:?}");
        assert_eq!(report.checks[0].attempts, 3);
        assert_eq!(invoke.num_calls(), 3);
        // Two pauses of 200 ms of tokio's paused clock, no real waiting.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
    }

    /// A Lambda that answers every invoke with `payload`, as version 2.
    fn answering(payload: &'static str) -> aws_sdk_lambda::Client {
        let invoke = mock!(aws_sdk_lambda::Client::invoke)
            .sequence()
            .output(move || {
                InvokeOutput::builder()
                    .status_code(200)
                    .executed_version("2")
                    .payload(Blob::new(payload))
                    .build()
            })
            .repeatedly()
            .build();
        mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&invoke])
    }

    #[tokio::test]
    async fn secrets_in_expectations_stay_out_of_the_report() {
        let spec = load(
            "version: 1\nchecks:\n  - name: token\n    invoke: {}\n    expect:\n      json: { $.token: { in: [\"${env:API_TOKEN}\"] } }\n      body: { not: { contains: \"${env:API_TOKEN}\" } }\n",
            "s.yaml",
        )
        .unwrap();
        let mut ctx = ctx();
        ctx.vars = Vars::with_env(Arc::new(|n| {
            (n == "API_TOKEN").then(|| "TOPSECRET-expected".to_string())
        }));
        let report = CheckRunner::new(answering(r#"{"token":"other"}"#))
            .run(&spec, &ctx)
            .await;
        assert!(!report.passed());
        let text = format!("{report:?}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        assert!(text.contains("in [\\\"***\\\"]"), "{text}");
    }

    #[tokio::test]
    async fn a_check_that_needs_a_capture_that_failed_says_so() {
        let spec = load(
            "version: 1\nchecks:\n  - name: greets\n    invoke: {}\n    capture: { greeting: { json: $.missing } }\n  - name: uses it\n    invoke: { payload: { say: \"{{greeting}}\" } }\n  - name: expects it\n    invoke: {}\n    expect: { json: { $.x: \"{{greeting}}\" } }\n",
            "s.yaml",
        )
        .unwrap();
        let report = CheckRunner::new(answering(r#"{"x":1}"#)).run(&spec, &ctx()).await;
        assert!(!report.passed());
        let said = serde_json::to_string(&report.checks[1..]).unwrap();
        assert!(!said.contains("unknown variable"), "{said}");
        assert!(
            said.contains("{{greeting}} has no value: `greets` captures it, and it did not pass"),
            "{said}"
        );
    }

    #[tokio::test]
    async fn variables_and_captures_have_one_budget() {
        // Each value is under the bound for one rendering; together they are far over it.
        let mut text = "version: 1\nvars:\n  v0: \"xxxxxxxxxxxxxxxx\"\n".to_string();
        for i in 1..=15 {
            text.push_str(&format!("  v{i}: \"{{{{v{0}}}}}{{{{v{0}}}}}\"\n", i - 1));
        }
        for i in 0..8 {
            text.push_str(&format!("  copy{i}: \"{{{{v15}}}}\"\n"));
        }
        text.push_str("checks:\n  - name: a\n    invoke: {}\n");
        let spec = load(&text, "s.yaml").unwrap();
        let report = CheckRunner::new(answering("{}")).run(&spec, &ctx()).await;
        assert!(!report.passed());
        let error = report.checks[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("vars and captures hold more than 4096 KiB together"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_list_of_large_variables_is_one_expectation_and_its_text_is_clipped() {
        let mut text = "version: 1\nvars:\n  v0: \"xxxxxxxxxxxxxxxx\"\n".to_string();
        for i in 1..=14 {
            text.push_str(&format!("  v{i}: \"{{{{v{0}}}}}{{{{v{0}}}}}\"\n", i - 1));
        }
        // v14 is 256 KiB: eight of them in one `in` are over the 1 MiB a rendering may take.
        text.push_str("checks:\n  - name: a\n    invoke: {}\n    expect:\n      json: { $.x: { in: [");
        text.push_str(&["\"{{v14}}\""; 8].join(", "));
        text.push_str("] }, $.y: \"{{v14}}\" }\n");
        let spec = load(&text, "s.yaml").unwrap();
        let report = CheckRunner::new(answering(r#"{"x":1,"y":2}"#)).run(&spec, &ctx()).await;
        let a = &report.checks[0].assertions;
        assert!(
            !a[1].passed && a[1].expected.contains("fill in to more than 1024 KiB"),
            "{:?}",
            a[1]
        );
        // One large expectation is judged, and shown clipped.
        assert!(!a[2].passed);
        assert!(a[2].expected.len() < 1000, "{} bytes", a[2].expected.len());
    }

    #[tokio::test]
    async fn coverage_holds_in_a_phase_without_invoke_checks() {
        // The spec selects in BeforeAllowTraffic; in AfterAllowTraffic it has no invoke check:
        // the target is tested by nothing there, and that fails.
        let spec = load(
            "version: 1\nchecks:\n  - name: orders\n    phase: before\n    select: { functions: [\"fn\"] }\n    invoke: {}\n",
            "s.yaml",
        )
        .unwrap();
        let after = RunContext {
            phase: Phase::AfterAllowTraffic,
            ..ctx()
        };
        let report = CheckRunner::new(answering("{}")).run(&spec, &after).await;
        assert!(!report.passed());
        let uncovered = report
            .checks
            .iter()
            .find(|c| c.name == "every target is tested")
            .unwrap();
        assert!(
            uncovered
                .error
                .as_deref()
                .unwrap()
                .contains("no check of the spec selects fn"),
            "{uncovered:?}"
        );
        let before = CheckRunner::new(answering("{}")).run(&spec, &ctx()).await;
        assert!(before.passed(), "{before:#?}");
    }
}
