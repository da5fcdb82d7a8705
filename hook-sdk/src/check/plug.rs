//! The check engine plugged into a [`Hook`]: a spec given with [`Hook::spec_text`] (or
//! [`Hook::spec`]) runs for each lifecycle event before the phase's handler, and
//! [`HookContext::run_spec`] runs one from a handler. The hook itself knows only the
//! [`Checks`] it is given.

use std::sync::Arc;
use std::time::Duration;

use crate::check::{CheckRunner, RunContext};
use crate::hook::{BoxFuture, Checks, ChecksPassed, Failure, Hook, HookContext};
use crate::report::{Report, render_json_lines};
use crate::spec::{Spec, SpecError, Vars};

impl Checks for Spec {
    fn allows_untested_target(&self) -> bool {
        self.allow_untested_target
    }

    fn run(self: Arc<Self>, ctx: HookContext) -> BoxFuture<Result<ChecksPassed, Failure>> {
        Box::pin(async move {
            let report = ctx.run_spec(&self).await;
            // One JSON record per check and a summary: CloudWatch keeps each as a log event.
            for line in render_json_lines(&report) {
                crate::logging::record(&line);
            }
            match report.failure_summary() {
                Some(summary) => Err(Failure::Checks(summary)),
                None => Ok(ChecksPassed {
                    waived: report.waived_targets().map(str::to_string).collect(),
                }),
            }
        })
    }
}

impl Hook {
    /// Runs the checks of the spec `text` in every phase, before the phase's handler (if
    /// any): the way to build a spec into a hook, as `include_str!("../smoke.yaml")`. A spec
    /// that does not load never stops the hook from starting: every invocation reports `Failed`
    /// with the located error. `source` names the spec in errors and reports. Check it in the
    /// hook's own tests with [`spec::assert_valid`](crate::spec::assert_valid).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), hook_sdk::Error> {
    /// const SPEC: &str = "version: 1\nchecks:\n  - name: greets\n    invoke: { payload: { name: canary } }\n";
    /// hook_sdk::Hook::new().spec_text(SPEC, "smoke.yaml").run().await
    /// # }
    /// ```
    pub fn spec_text(self, text: &str, source: &str) -> Self {
        self.spec_result(crate::spec::load(text, source))
    }

    /// Runs the checks of `spec` in every phase, before the phase's handler (if any). A spec
    /// that fails makes the hook report `Failed`; its report is logged as JSON lines.
    pub fn spec(self, spec: Spec) -> Self {
        self.spec_result(Ok(spec))
    }

    /// Like [`spec`](Self::spec), with a spec that may have failed to load: then every
    /// invocation reports `Failed` with the located error, instead of the function failing
    /// to start (and the deployment waiting an hour for a report).
    pub fn spec_result(self, spec: Result<Spec, SpecError>) -> Self {
        self.checks(spec.map(|s| Arc::new(s) as Arc<dyn Checks>).map_err(|e| e.to_string()))
    }
}

impl HookContext {
    /// Runs a spec's checks for this phase against this deployment's targets, within the
    /// hook's time. The report is data: judge it with [`Report::passed`].
    pub async fn run_spec(&self, spec: &Spec) -> Report {
        let mut runner = CheckRunner::new(self.clients().lambda.clone());
        if let Some(http) = &self.clients().http {
            runner = runner.with_http(http.clone());
        }
        let left = self.time_left();
        let reads_metrics = spec
            .checks
            .iter()
            .any(|c| c.runs_in(self.phase()) && matches!(c.action, crate::spec::Action::Metrics(_)));
        #[cfg(feature = "metrics")]
        {
            let clients = &self.clients();
            let cloudwatch = match (&clients.cloudwatch, &clients.sdk_config) {
                (Some(cw), _) => Some(cw.clone()),
                (None, Some(config)) if reads_metrics => Some(aws_sdk_cloudwatch::Client::new(config)),
                (None, _) => None,
            };
            if let Some(cw) = cloudwatch {
                runner = runner.with_cloudwatch(cw);
            }
        }
        #[cfg(feature = "metrics")]
        let traffic = match reads_metrics {
            true => Some(crate::check::metrics_traffic_window(&self.clients().codedeploy, self.deployment_id()).await),
            false => None,
        };
        #[cfg(not(feature = "metrics"))]
        let traffic = reads_metrics.then_some(Err(crate::check::TrafficError::NoMetricsFeature));
        let ctx = RunContext {
            phase: self.phase(),
            targets: self.deployment().targets.clone(),
            deployment_id: Some(self.deployment_id().to_string()),
            vars: Vars::default(),
            // Stop a little before the hook's deadline, so the report is complete when it ends.
            deadline: Some(self.deadline() - (left / 20).min(Duration::from_millis(250))),
            source: Some(spec.source().to_string()),
            traffic,
        };
        runner.run(spec, &ctx).await
    }
}
