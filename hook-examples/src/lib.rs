//! Example Lambda function and CodeDeploy hooks built with hook-sdk.
//!
//! - `hello`: the function being deployed.
//! - `pre-traffic`: a BeforeAllowTraffic hook that invokes every target version.
#![warn(missing_docs)]

pub mod hello;
