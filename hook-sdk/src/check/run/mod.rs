//! Running a spec's checks: invokes and HTTP requests, retries, repeats with concurrency,
//! thresholds and captures. Failed checks are data in the [`Report`], never `Err`.

//!
//! One file per job: this one orders the checks (phases, `fail_fast`, the deadline);
//! [`targets`] chooses each check's targets; [`instance`] runs one check against one target,
//! with [`retry`] and [`repeat`]; [`call`] makes and judges one call; [`captures`] keeps the
//! variables; [`secrets`] what no report may show.

mod call;
mod captures;
mod instance;
mod repeat;
mod retry;
mod secrets;
mod targets;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::answer_cap::AnswerCap;
use super::http::DEFAULT_MAX_BODY;
use super::select::{self, Facts, SKIP_VARIABLE};
use crate::event::Phase;
use crate::report::{CheckFailure, CheckReport, CheckResult, Outcome, Report};
use crate::spec::{Check, Spec, Vars};
use crate::target::Target;
use secrets::Secrets;

/// The time one attempt may take when the spec says nothing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

type Progress = Arc<dyn Fn(&CheckReport) + Send + Sync>;

/// Runs specs against targets with a Lambda client and an HTTP client.
///
/// Answers are read up to a bound ([`MAX_BODY`](crate::spec::limits::MAX_BODY) by default): a larger one fails its check
/// before it is read into memory. Reports never hold the values of secrets: the values of
/// secret variables (names like `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, or listed in the spec's
/// `secrets`), of credential headers and of what checks capture into them are masked as
/// `***`, as are the credentials and query values of every URL shown.
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
    pub traffic: Option<Result<TimeWindow, TrafficError>>,
}

/// Why the deployment's traffic shifting, a metrics check's default window, is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// CodeDeploy did not say (no access, no such deployment…).
    #[error(
        "{message} (the hook's role needs codedeploy:ListDeploymentTargets and codedeploy:GetDeploymentTarget \
         for a metrics check's default window; or give the check a `window: 30m`)"
    )]
    Unreadable {
        /// What CodeDeploy's answer was, causes included.
        message: String,
    },
    /// Traffic is still shifting: the window has no end yet.
    #[error("traffic is still shifting in {deployment_id}: AllowTraffic has not ended")]
    StillShifting {
        /// The deployment.
        deployment_id: String,
    },
    /// No traffic has shifted yet.
    #[error("{deployment_id} has not shifted traffic yet (no AllowTraffic event has started)")]
    NotStarted {
        /// The deployment.
        deployment_id: String,
    },
    /// This build of hook-sdk cannot read metrics.
    #[error("hook-sdk was built without its `metrics` feature")]
    NoMetricsFeature,
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
        let mut secrets = Secrets::new(spec, &vars);
        let vars_error = captures::set_spec_vars(spec, &mut vars, &mut secrets);
        let facts = self.facts(spec, ctx).await;
        let (waivers, waived) = select::waivers(spec, ctx.source.as_deref(), &ctx.targets, &facts, &secrets.redactor);
        for w in &waivers {
            // The reason is the version's text: it reaches the log only redacted (by `waivers`).
            tracing::warn!(target_version = %w.target, reason = %w.reason, decided_by = %w.decided_by, "{}", w.line());
        }
        let every_target_waived = !ctx.targets.is_empty() && waived.len() == ctx.targets.len();
        let selection = select::select(spec, ctx.phase, &ctx.targets, &facts, &waived);
        let mut reports = Vec::new();
        let mut stop: Option<String> = None;
        // Variables a check should have captured and did not (it failed, was skipped or not
        // run), with that check's name: a later check that needs one says so.
        let mut uncaptured: Vec<(String, String)> = Vec::new();
        for (ci, check) in spec.checks.iter().enumerate() {
            let skip = Unrun {
                every_target_waived,
                vars_error: vars_error.as_deref(),
                stop: stop.as_deref(),
            };
            // A check that is not run never stops the others, whatever its report says.
            let (ran, reports_of_check) = match skip.report(check, ctx) {
                Some(r) => (false, vec![r]),
                None => (
                    true,
                    self.run_check(spec, check, ctx, (&selection, ci), &mut vars, &mut secrets)
                        .await,
                ),
            };
            for mut r in reports_of_check {
                let failed = r.outcome() == Outcome::Failed;
                captures::explain_uncaptured(&mut r, &uncaptured);
                self.push(&mut reports, r, &secrets);
                if ran && failed && spec.fail_fast && stop.is_none() {
                    stop = Some(format!("`{}` failed and the spec says fail_fast", check.name));
                }
            }
            captures::note_uncaptured(check, &vars, &mut uncaptured);
        }
        for r in targets::uncovered(&selection, ctx, &facts) {
            self.push(&mut reports, r, &secrets);
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

    /// What the targets are (tags) and ask (a skip), when the spec needs it.
    async fn facts(&self, spec: &Spec, ctx: &RunContext) -> Vec<Option<Result<Facts, String>>> {
        if !select::needs_facts(spec) {
            return vec![None; ctx.targets.len()];
        }
        futures_util::future::join_all(
            ctx.targets
                .iter()
                .map(|t| select::read_facts(&self.raw_lambda, t, ctx.deadline)),
        )
        .await
        .into_iter()
        .map(Some)
        .collect()
    }

    fn push(&self, reports: &mut Vec<CheckReport>, mut r: CheckReport, secrets: &Secrets) {
        r.redact(&secrets.redactor);
        if let Some(p) = &self.progress {
            p(&r);
        }
        reports.push(r);
    }
}

/// Why a check is not run at all, when it is not: the reasons that hold before any target is
/// chosen, in the order they are told.
#[derive(Clone, Copy)]
struct Unrun<'a> {
    every_target_waived: bool,
    vars_error: Option<&'a str>,
    stop: Option<&'a str>,
}

impl Unrun<'_> {
    fn report(&self, check: &Check, ctx: &RunContext) -> Option<CheckReport> {
        if !check.runs_in(ctx.phase) {
            let only = match check.phase {
                crate::spec::PhaseFilter::Before => "BeforeAllowTraffic",
                _ => "AfterAllowTraffic",
            };
            return Some(skipped(check, format!("runs in {only} only")));
        }
        if self.every_target_waived {
            return Some(skipped(
                check,
                format!("every target skips its checks ({SKIP_VARIABLE}, allowed by the spec)"),
            ));
        }
        if let Some(e) = self.vars_error {
            return Some(setup_failure(check, e.to_string()));
        }
        if let Some(why) = self.stop {
            return Some(not_run(check, why.to_string()));
        }
        if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(not_run(check, "the hook ran out of time".into()));
        }
        None
    }
}

/// The report of a check that could not be made (see [`ErrorKind::Setup`](crate::report::ErrorKind::Setup)).
fn setup_failure(check: &Check, error: String) -> CheckReport {
    with_result(&check.name, CheckResult::Failed(CheckFailure::setup(error)))
}

/// The report of a check that does not run here.
fn skipped(check: &Check, reason: String) -> CheckReport {
    with_result(&check.name, CheckResult::Skipped { reason })
}

/// The report of a check left out.
fn not_run(check: &Check, reason: String) -> CheckReport {
    with_result(&check.name, CheckResult::NotRun { reason })
}

fn with_result(name: &str, result: CheckResult) -> CheckReport {
    CheckReport {
        result,
        ..CheckReport::failed_before_run(name)
    }
}
