//! The hook as a tower `Service`: each lifecycle event runs under a deadline and a panic
//! guard, and ends in exactly one status report.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use tokio::time::Instant;
use tower::{Service as _, ServiceBuilder};
use tracing::Instrument;

use super::layers::{CatchPanicLayer, DeadlineLayer, Deadlined};
use super::verdict::{ChecksPassed, Failure, Verdict};
use super::{BoxFuture, Hook, HookContext};
use crate::budget::Budget;
use crate::deployment::{DiscoverySettings, discover};
use crate::error::error_chain;
use crate::event::{LifecycleEvent, MalformedEvent, Phase};
use crate::hook::Clients;
use crate::redact::redact_urls;
use crate::status::{self, HookStatus, StatusDelivery};
use crate::target::Target;

/// What a hook invocation returns to Lambda once its status is recorded.
#[derive(Debug, Clone, Serialize)]
pub struct HookResponse {
    /// The deployment.
    pub deployment_id: String,
    /// The phase, when discovery got that far.
    pub phase: Option<Phase>,
    /// The status reported.
    pub status: HookStatus,
    /// Why the status is `Failed`.
    pub reason: Option<String>,
    /// How the status reached CodeDeploy.
    pub delivery: StatusDelivery,
    /// Time from the event to the report, in milliseconds.
    pub elapsed_ms: u64,
}

/// Why a hook invocation ends in a Lambda error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The event is not a lifecycle event: there is nothing to report to.
    #[error(transparent)]
    MalformedEvent(#[from] MalformedEvent),
    /// CodeDeploy did not record the status.
    #[error("the {status} status was not recorded by CodeDeploy: {detail}")]
    StatusNotRecorded {
        /// The status the hook tried to report.
        status: HookStatus,
        /// What went wrong.
        detail: String,
    },
    /// The hook cannot reach CodeDeploy to report (a bad endpoint setting): nothing is
    /// reported, and CodeDeploy waits for the hook until its timeout.
    #[error(
        "the hook cannot report to CodeDeploy: {detail}. No status was sent: CodeDeploy waits for this hook until \
         its timeout (an hour) and then fails the deployment"
    )]
    CannotReport {
        /// What is wrong.
        detail: String,
    },
}

impl From<HookError> for Diagnostic {
    fn from(e: HookError) -> Self {
        let error_type = match &e {
            HookError::MalformedEvent(_) => "HookSdk.MalformedEvent",
            HookError::StatusNotRecorded { .. } => "HookSdk.StatusNotRecorded",
            HookError::CannotReport { .. } => "HookSdk.CannotReport",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

/// The hook as a tower `Service` over raw Lambda events, as `lambda_runtime` runs it.
#[derive(Clone)]
pub struct HookService {
    inner: Arc<ServiceInner>,
}

impl fmt::Debug for HookService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookService")
            .field("hook", &self.inner.hook)
            .finish_non_exhaustive()
    }
}

struct ServiceInner {
    hook: Hook,
    clients: Clients,
    settings: Result<DiscoverySettings, String>,
    /// Why CodeDeploy cannot be reached, when it cannot: nothing is called.
    unreachable: Option<String>,
}

impl HookService {
    pub(super) fn new(
        hook: Hook,
        clients: Clients,
        settings: Result<DiscoverySettings, String>,
        endpoints: crate::aws::EndpointProblems,
    ) -> Self {
        // A service the hook calls that it cannot reach is a bad setting: reported Failed, with
        // the reason, before anything is called.
        let settings = match endpoints.others {
            Some(problem) => settings.and(Err(problem)),
            None => settings,
        };
        HookService {
            inner: Arc::new(ServiceInner {
                hook,
                clients,
                settings,
                unreachable: endpoints.codedeploy,
            }),
        }
    }
}

impl tower::Service<LambdaEvent<serde_json::Value>> for HookService {
    type Response = HookResponse;
    type Error = HookError;
    type Future = BoxFuture<Result<HookResponse, HookError>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: LambdaEvent<serde_json::Value>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.handle(req).await })
    }
}

impl ServiceInner {
    async fn handle(self: Arc<Self>, req: LambdaEvent<serde_json::Value>) -> Result<HookResponse, HookError> {
        let started = Instant::now();
        let event = LifecycleEvent::from_value(&req.payload).inspect_err(|e| {
            tracing::error!(error = %e, "not a lifecycle event; nothing to report");
        })?;
        let span = tracing::info_span!("hook", deployment_id = %event.deployment_id);
        if let Some(detail) = &self.unreachable {
            let e = HookError::CannotReport { detail: detail.clone() };
            let _entered = span.enter();
            tracing::error!(error = %e, "no status can be reported");
            return Err(e);
        }
        self.handle_event(event, req.context, started).instrument(span).await
    }

    async fn handle_event(
        self: Arc<Self>,
        event: LifecycleEvent,
        context: lambda_runtime::Context,
        started: Instant,
    ) -> Result<HookResponse, HookError> {
        let budget = Budget::from_deadline(context.deadline, SystemTime::now(), self.hook.fallback_budget);
        if !budget.known {
            tracing::warn!(
                deadline_ms = context.deadline,
                fallback_s = budget.total.as_secs_f64(),
                "the Lambda deadline is missing, past or absurd (a local emulator?): using the fallback budget"
            );
        }
        let reserve = self
            .hook
            .reserve
            .unwrap_or_else(|| budget.default_reserve())
            .min(budget.total);
        let deadline = started + budget.total;
        let work_deadline = deadline - reserve;
        // The report must be done before Lambda's own deadline, with a little time to answer.
        let report_deadline = deadline - (reserve / 4).min(Duration::from_millis(100));

        tracing::info!(
            budget_ms = budget.total.as_millis() as u64,
            reserve_ms = reserve.as_millis() as u64,
            "lifecycle event received"
        );

        let (phase_tx, phase_rx) = tokio::sync::oneshot::channel();
        let work = Work {
            service: self.clone(),
            event: event.clone(),
            context,
            deadline: work_deadline,
            overrun: Failure::Overrun {
                work: budget.total - reserve,
                reserve,
            },
            phase_tx,
        };
        let verdict = ServiceBuilder::new()
            .layer(DeadlineLayer)
            .layer(CatchPanicLayer)
            .service(PhaseWork)
            .call(work)
            .await;
        let (status, reason) = match verdict {
            Ok(()) => (HookStatus::Succeeded, None),
            Err(failure) => (HookStatus::Failed, Some(failure.to_string())),
        };
        let phase = phase_rx.await.ok();
        let phase_name = phase.map_or("unknown", Phase::as_str);
        match &reason {
            None => tracing::info!(phase = phase_name, "checks passed"),
            Some(reason) => tracing::error!(phase = phase_name, reason = %reason, "checks failed"),
        }

        let outcome =
            status::put_status(&self.clients.status, &event, status, report_deadline, self.hook.backoff).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            StatusDelivery::Accepted { attempts } => {
                tracing::info!(status = %status, attempts, elapsed_ms, "status reported")
            }
            StatusDelivery::AlreadyCompleted { .. } => tracing::warn!(
                status = %status,
                "CodeDeploy already has a status for this lifecycle event (an earlier delivery reported it); not reporting again"
            ),
            StatusDelivery::Rejected { code, message, .. } => {
                tracing::error!(status = %status, code = %code, error = %message, "CodeDeploy refused the status report")
            }
            StatusDelivery::GaveUp { attempts, message } => {
                tracing::error!(status = %status, attempts, error = %message, "the status report failed until the deadline")
            }
        }
        if !outcome.is_recorded() {
            let detail = match &outcome {
                StatusDelivery::Rejected { code, message, .. } if code.contains("AccessDenied") => format!(
                    "{message}. The hook's role needs codedeploy:PutLifecycleEventHookExecutionStatus on the deployment group"
                ),
                StatusDelivery::Rejected { message, .. } | StatusDelivery::GaveUp { message, .. } => message.clone(),
                _ => String::new(),
            };
            return Err(HookError::StatusNotRecorded { status, detail });
        }
        Ok(HookResponse {
            deployment_id: event.deployment_id,
            phase,
            status,
            reason,
            delivery: outcome,
            elapsed_ms,
        })
    }
}

/// One lifecycle event's work, as the layers see it.
struct Work {
    service: Arc<ServiceInner>,
    event: LifecycleEvent,
    context: lambda_runtime::Context,
    deadline: Instant,
    overrun: Failure,
    phase_tx: tokio::sync::oneshot::Sender<Phase>,
}

impl Deadlined for Work {
    fn deadline(&self) -> Instant {
        self.deadline
    }
    fn overrun(&self) -> Failure {
        self.overrun.clone()
    }
}

/// The innermost service: discovery, the spec's checks, the handler and the proof that
/// BeforeAllowTraffic ran the version under test.
#[derive(Debug, Clone, Copy)]
struct PhaseWork;

impl tower::Service<Work> for PhaseWork {
    type Response = ();
    type Error = Failure;
    type Future = BoxFuture<Verdict>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Verdict> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, work: Work) -> Self::Future {
        Box::pin(run_phase(work))
    }
}

async fn run_phase(work: Work) -> Verdict {
    let Work {
        service,
        event,
        context: lambda_context,
        deadline,
        phase_tx,
        ..
    } = work;

    let mut settings = service
        .settings
        .as_ref()
        .map_err(|e| Failure::Settings(e.clone()))?
        .clone();
    settings.home = Some(lambda_context.invoked_function_arn.clone()).filter(|a| !a.is_empty());
    let deployment = discover(&service.clients.codedeploy, &event.deployment_id, &settings)
        .await
        .map_err(|e| Failure::Discovery(error_chain(&e)))?;
    let _ = phase_tx.send(deployment.phase);
    tracing::info!(
        phase = %deployment.phase,
        application = deployment.application.as_deref().unwrap_or("?"),
        deployment_group = deployment.deployment_group.as_deref().unwrap_or("?"),
        config = deployment.config_name.as_deref().unwrap_or("?"),
        "deployment discovered"
    );
    for t in &deployment.targets {
        tracing::info!(target_function = %t.function, version = %t.target_version, alias = t.alias.as_deref().unwrap_or("-"), "target");
    }
    let handler = match deployment.phase {
        Phase::BeforeAllowTraffic => service.hook.before.clone(),
        Phase::AfterAllowTraffic => service.hook.after.clone(),
    };
    let checks = match &service.hook.checks {
        None => None,
        Some(Ok(checks)) => Some(checks.clone()),
        Some(Err(e)) => return Err(Failure::Spec(e.clone())),
    };
    if checks.is_none() && handler.is_none() {
        return Err(Failure::NoHandler(deployment.phase));
    }
    let phase = deployment.phase;
    let untested_allowed =
        service.hook.allow_untested_target || checks.as_ref().is_some_and(|c| c.allows_untested_target());
    let (ctx, tested) = HookContext::assemble(event, deployment, &service.clients, deadline, lambda_context);
    // Targets whose checks were skipped as the spec allows (recorded in the report and log).
    let ChecksPassed { waived } = match checks {
        Some(checks) => checks.run(ctx.clone()).await?,
        None => ChecksPassed::default(),
    };
    if let Some(handler) = handler {
        let started = Instant::now();
        let result = handler(ctx.clone()).await;
        tracing::info!(
            handler_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "handler finished"
        );
        // Handlers' messages may quote URLs with credentials or tokens in their query.
        result.map_err(|e| Failure::Handler(redact_urls(&e)))?;
    }
    if phase == Phase::BeforeAllowTraffic && !untested_allowed {
        let untested: Vec<String> = ctx
            .deployment()
            .targets
            .iter()
            .filter(|t| !tested.ran(t))
            .map(Target::qualified)
            .filter(|t| !waived.contains(t))
            .collect();
        if !untested.is_empty() {
            return Err(Failure::Untested(untested));
        }
    }
    Ok(())
}
