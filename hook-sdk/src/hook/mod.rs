//! The hook: handlers per phase, run under a deadline and a panic guard, reported once.
//!
//! [`Hook`] is the builder; [`HookContext`] what a handler sees (`context`); [`HookService`]
//! the tower service that runs one lifecycle event and reports (`service`), with the phase's
//! work under the deadline and panic-guard layers (`layers`).

mod context;
mod layers;
mod service;
#[cfg(test)]
mod tests;
mod verdict;

pub use crate::clients::Clients;
pub use context::HookContext;
pub use service::{HookError, HookResponse, HookService};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::deployment::{DiscoveryError, DiscoverySettings};
use crate::status::Backoff;
pub(crate) use verdict::{ChecksPassed, Failure};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a hook runs besides its handlers, before the phase's handler: a spec's checks (the
/// check engine, feature `checks`, is one). The hook knows nothing else of them.
pub(crate) trait Checks: Send + Sync {
    /// Whether BeforeAllowTraffic may pass without an invoke of the version under test.
    fn allows_untested_target(&self) -> bool;
    /// Runs the checks of `ctx`'s phase, logging what they found: the targets whose checks
    /// were skipped as allowed, or why the checks failed ([`Failure::Checks`]).
    fn run(self: Arc<Self>, ctx: HookContext) -> BoxFuture<Result<ChecksPassed, Failure>>;
}
type Handler = Arc<dyn Fn(HookContext) -> BoxFuture<Result<(), String>> + Send + Sync>;

/// A CodeDeploy lifecycle hook: handlers per phase, and the guarantees around them.
///
/// ```no_run
/// use hook_sdk::{CheckError, Hook, HookContext};
///
/// async fn smoke(ctx: HookContext) -> Result<(), CheckError> {
///     for target in ctx.targets() {
///         let out = target.invoke_json(&serde_json::json!({"name": "canary"})).await?;
///         out.expect_no_function_error()?;
///         hook_sdk::ensure!(out.json()?["statusCode"] == 200, "statusCode was {}", out.json()?["statusCode"]);
///     }
///     Ok(())
/// }
///
/// # async fn run() -> Result<(), lambda_runtime::Error> {
/// Hook::new().before_allow_traffic(smoke).run().await
/// # }
/// ```
///
/// Whatever happens, each invocation reports exactly one status: `Succeeded` only when
/// the phase's handler returned `Ok`; `Failed` when it returned `Err`, panicked, had no
/// handler for its phase, could not discover its deployment, or ran into the deadline
/// reserve.
#[derive(Clone)]
pub struct Hook {
    before: Option<Handler>,
    after: Option<Handler>,
    /// Checks run before the handler, or why they could not be read.
    checks: Option<Result<Arc<dyn Checks>, String>>,
    allow_untested_target: bool,
    reserve: Option<Duration>,
    fallback_budget: Duration,
    backoff: Backoff,
}

impl Default for Hook {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("before_allow_traffic", &self.before.is_some())
            .field("after_allow_traffic", &self.after.is_some())
            .field("allow_untested_target", &self.allow_untested_target)
            .field("reserve", &self.reserve)
            .field("fallback_budget", &self.fallback_budget)
            .finish()
    }
}

fn boxed<F, Fut, E>(f: F) -> Handler
where
    F: Fn(HookContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    Arc::new(move |ctx| {
        let fut = f(ctx);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    })
}

impl Hook {
    /// A hook with no handlers yet.
    pub fn new() -> Self {
        Hook {
            before: None,
            after: None,
            checks: None,
            allow_untested_target: false,
            reserve: None,
            fallback_budget: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }

    /// The handler of BeforeAllowTraffic: test the target version before it gets traffic.
    pub fn before_allow_traffic<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.before = Some(boxed(f));
        self
    }

    /// The handler of AfterAllowTraffic: test the alias once all traffic is on the target.
    pub fn after_allow_traffic<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.after = Some(boxed(f));
        self
    }

    /// One handler for both phases (it can ask [`HookContext::phase`]).
    pub fn any_phase<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let h = boxed(f);
        self.before = Some(h.clone());
        self.after = Some(h);
        self
    }

    /// Checks to run before each phase's handler, or why they could not be read. Its one
    /// caller is the check engine, when the crate is built with it.
    #[allow(dead_code)]
    pub(crate) fn checks(mut self, checks: Result<Arc<dyn Checks>, String>) -> Self {
        self.checks = Some(checks);
        self
    }

    /// Lets BeforeAllowTraffic report `Succeeded` although no invoke ran the version under
    /// test. By default such a hook reports `Failed`: before traffic shifts, the alias and any
    /// API still reach the old version, so checks through them prove nothing of the new one.
    /// Use it only when the hook tests the new version another way, and say so in its docs.
    pub fn allow_untested_target(mut self) -> Self {
        self.allow_untested_target = true;
        self
    }

    /// Time kept before the Lambda deadline to stop the handler and report. By default a
    /// fifth of the invocation's time, between 250 ms and 5 s.
    pub fn reserve(mut self, reserve: Duration) -> Self {
        self.reserve = Some(reserve);
        self
    }

    /// The time an invocation may take when the deadline Lambda gives is missing, past or
    /// absurd, as local emulators send. Default 60 s.
    pub fn fallback_budget(mut self, budget: Duration) -> Self {
        self.fallback_budget = budget;
        self
    }

    /// The backoff of status report retries.
    pub fn status_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The tower service that handles lifecycle events, with explicit clients and settings.
    ///
    /// `settings` is a `Result`, as [`DiscoverySettings::from_env`] gives it, so that a bad
    /// `HOOK_TARGET` or `HOOK_PHASE` fails each invocation with a report (naming the setting)
    /// instead of stopping the function before it can report.
    pub fn into_service(self, clients: Clients, settings: Result<DiscoverySettings, DiscoveryError>) -> HookService {
        HookService::new(
            self,
            clients,
            settings.map_err(|e| e.to_string()),
            crate::aws::EndpointProblems::default(),
        )
    }

    /// Runs the hook as a Lambda function: logs through tracing (JSON in Lambda), AWS
    /// clients from aws-config's default chain ([`crate::aws::load_config`]), then the Lambda runtime loop.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        crate::logging::init();
        let config = crate::aws::load_config().await;
        let settings = DiscoverySettings::from_env();
        if let Err(e) = &settings {
            tracing::error!(error = %e, "bad hook settings: every invocation will report Failed");
        }
        // An endpoint setting the SDK cannot use would take the process down at the first call,
        // the status report's included: said, and reported where it can be.
        let endpoints = crate::aws::EndpointProblems::from_env();
        if let Some(p) = endpoints.codedeploy.as_ref().or(endpoints.others.as_ref()) {
            tracing::error!(problem = %p, "bad endpoint setting: every invocation will fail");
        }
        let service = HookService::new(
            self,
            Clients::from_conf(&config),
            settings.map_err(|e| e.to_string()),
            endpoints,
        );
        lambda_runtime::run(service).await
    }
}
