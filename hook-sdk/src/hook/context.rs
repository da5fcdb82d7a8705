//! What a handler sees: [`HookContext`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::clients::Clients;
use crate::deployment::Deployment;
use crate::event::{LifecycleEvent, Phase};
use crate::target::TargetFunction;
use crate::tested::TestedVersions;

/// What a handler sees: the deployment, its targets, the clients and the time left.
#[derive(Clone)]
pub struct HookContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    event: LifecycleEvent,
    deployment: Deployment,
    targets: Vec<TargetFunction>,
    clients: Clients,
    deadline: Instant,
    lambda_context: lambda_runtime::Context,
}

impl fmt::Debug for HookContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("deployment", &self.inner.deployment)
            .field("time_left", &self.time_left())
            .finish_non_exhaustive()
    }
}

impl HookContext {
    /// A context over `deployment` whose Lambda client records which versions its invokes ran.
    pub(crate) fn assemble(
        event: LifecycleEvent,
        deployment: Deployment,
        clients: &Clients,
        deadline: Instant,
        lambda_context: lambda_runtime::Context,
    ) -> (HookContext, TestedVersions) {
        // Every invoke made through the context's Lambda client is recorded: the proof that
        // BeforeAllowTraffic tested the new version.
        let tested = TestedVersions::new(
            crate::appspec::FunctionId::parse(&lambda_context.invoked_function_arn),
            clients.lambda.config().region().map(|r| r.to_string()),
        );
        let mut clients = clients.clone();
        clients.lambda = tested.watch(&clients.lambda);
        let targets = deployment
            .targets
            .iter()
            .map(|t| TargetFunction::new(t.clone(), clients.lambda.clone()))
            .collect();
        let ctx = HookContext {
            inner: Arc::new(ContextInner {
                event,
                deployment,
                targets,
                clients,
                deadline,
                lambda_context,
            }),
        };
        (ctx, tested)
    }

    /// The deployment this hook runs in.
    pub fn deployment(&self) -> &Deployment {
        &self.inner.deployment
    }

    /// The deployment id.
    pub fn deployment_id(&self) -> &str {
        &self.inner.event.deployment_id
    }

    /// The lifecycle event this hook runs in.
    pub fn phase(&self) -> Phase {
        self.inner.deployment.phase
    }

    /// The function versions to test, ready to invoke.
    pub fn targets(&self) -> &[TargetFunction] {
        &self.inner.targets
    }

    /// The Lambda client (from aws-config's default chain).
    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        &self.inner.clients.lambda
    }

    /// The CodeDeploy client. Reporting the status is the SDK's job: don't call
    /// `PutLifecycleEventHookExecutionStatus` yourself.
    pub fn codedeploy(&self) -> &aws_sdk_codedeploy::Client {
        &self.inner.clients.codedeploy
    }

    /// When the handler is stopped and `Failed` is reported: the Lambda deadline less the reserve.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// Time left until [`deadline`](Self::deadline).
    pub fn time_left(&self) -> Duration {
        self.inner.deadline.saturating_duration_since(Instant::now())
    }

    /// The Lambda context of the hook's own invocation.
    pub fn lambda_context(&self) -> &lambda_runtime::Context {
        &self.inner.lambda_context
    }

    /// Every AWS client of the hook, and the SDK configuration they came from (for a client of
    /// another service, made as the hook's own are).
    pub fn clients(&self) -> &Clients {
        &self.inner.clients
    }
}
