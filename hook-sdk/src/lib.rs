//! Write AWS CodeDeploy lifecycle hooks for Lambda deployments that find their target
//! version themselves and report their status exactly once, whatever happens.
//!
//! CodeDeploy sends a hook only `{"DeploymentId", "LifecycleEventHookExecutionId"}`.
//! A [`Hook`] reads the deployment's AppSpec to find its phase and the function versions
//! to test ([`deployment`]), runs the handler of its phase with those targets
//! ([`HookContext::targets`]), and reports `Succeeded` or `Failed` through the one call
//! site of `PutLifecycleEventHookExecutionStatus`: `Failed` when the handler
//! returns an error, panics, or is about to run into the Lambda deadline.
//!
//! ```no_run
//! use hook_sdk::prelude::*;
//!
//! async fn smoke(ctx: HookContext) -> Result<(), CheckError> {
//!     for target in ctx.targets() {
//!         let out = target.invoke_json(&serde_json::json!({"name": "canary"})).await?;
//!         out.expect_no_function_error()?;
//!         ensure!(out.json()?["statusCode"] == 200, "statusCode was {}", out.json()?["statusCode"]);
//!     }
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), hook_sdk::Error> {
//!     Hook::new().before_allow_traffic(smoke).run().await
//! }
//! ```
//!
//! A hook's `Cargo.toml` needs `hook-sdk` and `tokio` (with `macros` and `rt-multi-thread`),
//! and `serde_json` if it builds JSON itself.
//!
//! Environment variables a hook reads besides AWS's own:
//!
//! | variable | effect |
//! | --- | --- |
//! | `HOOK_TARGET` | `NAME:VERSION` or a qualified ARN (comma-separated for several): test only these of the AppSpec's targets (one the deployment does not deploy fails the hook) |
//! | `HOOK_PHASE` | `before` or `after`: the phase, where the hook's name is not in the AppSpec (one that disagrees with the deployment fails the hook) |
//!
//! Release builds must unwind on panic (`panic = "unwind"` in `[profile.release]`): a hook
//! that aborts cannot report. Building hook-sdk with `panic = "abort"` is a compile error,
//! raised by its dependency-free guard crate (`hook-sdk-unwind`) among the first crates built.

// A panicking hook that aborts dies before it reports, and CodeDeploy waits an hour: the
// guard crate refuses `panic = "abort"` among the first crates of a build.
use hook_sdk_unwind as _;

pub mod appspec;
#[cfg(feature = "checks")]
pub(crate) mod assert;
pub mod aws;
mod budget;
pub mod check;
mod clients;
pub mod deployment;
mod error;
mod event;
pub mod hook;
mod logging;
// A Rust-only hook uses only `redact_urls` (for its failure reasons); the rest is the engine's.
#[cfg(all(test, feature = "checks"))]
mod properties;
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
mod redact;
#[cfg(feature = "checks")]
pub mod report;
mod status;
pub mod target;
mod tested;
#[cfg(feature = "testing")]
pub mod testing;

pub use deployment::{Deployment, DiscoveryError, DiscoverySettings};
pub use error::CheckError;
pub use event::{LifecycleEvent, MalformedEvent, Phase, UnknownPhase};
pub use hook::{Clients, Hook, HookContext, HookError, HookResponse, HookService};
/// The declarative check spec: the [`hook_spec`] crate (its model, loader, limits and schema).
#[cfg(feature = "checks")]
pub use hook_spec as spec;
pub use status::{Backoff, HookStatus, StatusDelivery};
pub use target::{Invocation, InvokeError, LambdaUsage, Target, TargetFunction};

// The README's Rust examples run as doc-tests of this crate (with the `testing` feature, as the
// workspace's tests build it).
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

// And those of the guide to hooks in Rust.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../docs/hook-sdk.md")]
struct GuideDoctests;

/// The error a hook's `main` returns: what the Lambda runtime ends with.
pub type Error = lambda_runtime::Error;

/// What a hook's code usually needs: `use hook_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{CheckError, Error, Hook, HookContext, Invocation, Phase, Target, TargetFunction, ensure};
}
