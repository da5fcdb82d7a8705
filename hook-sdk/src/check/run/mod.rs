//! Running a spec's checks: invokes and HTTP requests, retries, repeats with concurrency,
//! thresholds and captures. Failed checks are data in the [`Report`], never `Err`.
//!
//! One file per job, each type's methods in its own file: this one is [`CheckRunner`], which
//! orders the checks (phases, `fail_fast`, the deadline); [`context`] is what a run needs besides
//! the spec; [`targets`] chooses each check's targets; [`unrun`] reports the checks that do not
//! run; [`instance`] runs one check against one target, with [`retry`] and [`repeat`]; [`call`]
//! is the `Caller` that makes and judges one call; [`captures`] keeps the variables; [`secrets`]
//! what no report may show. Imports go one way: from this file to the others, never back.

mod call;
mod captures;
mod context;
mod instance;
mod repeat;
mod retry;
mod secrets;
mod targets;
#[cfg(test)]
mod tests;
mod unrun;

use std::sync::Arc;

use call::Caller;
pub use call::DEFAULT_TIMEOUT;
pub use context::{RunContext, TimeWindow, TrafficError};
use secrets::Secrets;
use tokio::time::Instant;
use unrun::Unrun;

use crate::check::http::DEFAULT_MAX_BODY;
use crate::check::select::{self, Facts};
use crate::report::{CheckReport, Outcome, Report};
use crate::spec::{Action, Check, Spec, Vars};
use crate::target::Target;

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
    caller: Caller,
    #[cfg(feature = "metrics")]
    cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    progress: Option<Progress>,
}

impl std::fmt::Debug for CheckRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckRunner")
            .field("max_body", &self.caller.max_body)
            .finish_non_exhaustive()
    }
}

impl CheckRunner {
    /// A runner invoking through `lambda`, with the default HTTP client (rustls, made on the
    /// first HTTP check) and a 1 MiB cap on answers.
    pub fn new(lambda: aws_sdk_lambda::Client) -> Self {
        CheckRunner {
            caller: Caller::new(lambda, DEFAULT_MAX_BODY),
            #[cfg(feature = "metrics")]
            cloudwatch: None,
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
        self.caller.http = Some(http);
        self
    }

    /// Caps answers (invoke payloads and HTTP bodies) at `bytes`: a larger answer fails its check.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.caller = self.caller.capped(bytes);
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
                .map(|t| select::read_facts(&self.caller.raw_lambda, t, ctx.deadline)),
        )
        .await
        .into_iter()
        .map(Some)
        .collect()
    }

    /// Runs one check against each of its targets (an HTTP check once, with none).
    async fn run_check(
        &self,
        spec: &Spec,
        check: &Check,
        ctx: &RunContext,
        pick: (&select::Selection, usize),
        vars: &mut Vars,
        secrets: &mut Secrets,
    ) -> Vec<CheckReport> {
        if matches!(check.action, Action::Http(_)) {
            return vec![instance::run_instance(&self.caller, spec, check, ctx, None, vars, secrets).await];
        }
        let (chosen, mut out) = targets::choose(check, ctx, pick);
        for ti in chosen {
            let target = &ctx.targets[ti];
            let report = match &check.action {
                Action::Metrics(m) => self.run_metrics(spec, check, m, ctx, target).await,
                _ => instance::run_instance(&self.caller, spec, check, ctx, Some(target), vars, secrets).await,
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
        crate::check::metrics::run(
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
            ..unrun::setup_failure(check, "this hook was built without hook-sdk's `metrics` feature".into())
        }
    }

    fn push(&self, reports: &mut Vec<CheckReport>, mut r: CheckReport, secrets: &Secrets) {
        r.redact(&secrets.redactor);
        if let Some(p) = &self.progress {
            p(&r);
        }
        reports.push(r);
    }
}
