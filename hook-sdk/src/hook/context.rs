//! What a handler sees: [`HookContext`], and the AWS [`Clients`] it uses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

#[cfg(feature = "checks")]
use crate::check::{CheckRunner, RunContext};
use crate::deployment::Deployment;
use crate::event::{LifecycleEvent, Phase};
#[cfg(feature = "checks")]
use crate::report::Report;
#[cfg(feature = "checks")]
use crate::spec::{Spec, Vars};
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

    #[cfg(feature = "checks")]
    /// Runs a spec's checks for this phase against this deployment's targets, within the
    /// hook's time. The report is data: judge it with [`Report::passed`].
    pub async fn run_spec(&self, spec: &Spec) -> Report {
        let mut runner = CheckRunner::new(self.inner.clients.lambda.clone());
        if let Some(http) = &self.inner.clients.http {
            runner = runner.with_http(http.clone());
        }
        let left = self.time_left();
        let reads_metrics = spec
            .checks
            .iter()
            .any(|c| c.runs_in(self.phase()) && matches!(c.action, crate::spec::Action::Metrics(_)));
        #[cfg(feature = "metrics")]
        {
            let clients = &self.inner.clients;
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
            true => {
                Some(crate::check::metrics_traffic_window(&self.inner.clients.codedeploy, self.deployment_id()).await)
            }
            false => None,
        };
        #[cfg(not(feature = "metrics"))]
        let traffic = reads_metrics.then(|| Err("hook-sdk was built without its `metrics` feature".to_string()));
        let ctx = RunContext {
            phase: self.phase(),
            targets: self.inner.deployment.targets.clone(),
            deployment_id: Some(self.deployment_id().to_string()),
            vars: Vars::default(),
            // Stop a little before the hook's deadline, so the report is complete when it ends.
            deadline: Some(self.inner.deadline - (left / 20).min(Duration::from_millis(250))),
            source: Some(spec.source().to_string()),
            traffic,
        };
        runner.run(spec, &ctx).await
    }
}

/// The AWS clients a hook uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// For discovery (standard retries).
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// For the status report: retries are the SDK's own, so the client's should be off.
    pub status: aws_sdk_codedeploy::Client,
    /// For invoking targets.
    pub lambda: aws_sdk_lambda::Client,
    /// For HTTP checks; `None`: the default client, made on the first HTTP check.
    #[cfg(feature = "checks")]
    pub http: Option<reqwest::Client>,
    /// For metrics checks; `None`: made from [`sdk_config`](Self::sdk_config) when a spec
    /// with a metrics check runs, and without one they fail as a set-up error.
    #[cfg(feature = "metrics")]
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// The configuration the clients above came from, for the clients made only when needed
    /// (CloudWatch: most hooks read no metrics, and making a client costs a cold hook its
    /// endpoint rules and set-up).
    pub sdk_config: Option<aws_config::SdkConfig>,
}

impl Clients {
    /// Clients from an SDK config, with the status client's retries off.
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        let status = aws_sdk_codedeploy::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Clients {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            status: aws_sdk_codedeploy::Client::from_conf(status),
            lambda: aws_sdk_lambda::Client::new(config),
            #[cfg(feature = "checks")]
            http: None,
            #[cfg(feature = "metrics")]
            cloudwatch: None,
            sdk_config: Some(config.clone()),
        }
    }
}
