//! Example Lambda function and CodeDeploy hooks built with hook-sdk.
//!
//! - `hello`: the function being deployed.
//! - `pre-traffic`: a BeforeAllowTraffic hook: the checks of `pre-traffic.yaml` and a Rust check.
//! - `post-traffic`: an AfterAllowTraffic hook: the checks of `post-traffic.yaml` (HTTP API, the
//!   alias under load) and a Rust check that the alias routes to the target.
//! - `smoke.yaml`: the spec of a Rust-free hook built from `hook-runner`.
#![warn(missing_docs)]

pub mod hello;
