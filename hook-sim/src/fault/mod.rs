//! Faults: what hook-sim makes go wrong on purpose.
//!
//! - [`api`]: the next calls of an AWS operation answer an error, late, or never ([`Fault`]),
//!   to test how a hook copes with AWS itself.
//! - [`version`]: a function version goes bad from outside it ([`VersionFault`]): its
//!   invocations fail, slow down, answer another status or another body, time out, or never
//!   get past a cold start, for a share of invocations and from a moment on. The binary is not
//!   changed, so a Rust, Python or Node function goes bad alike; `simulate --fault` and
//!   `serve --fault` apply them, and `audit` runs a catalogue of them.

mod api;
mod version;

pub use api::Fault;
pub(crate) use api::Faults;
pub(crate) use version::{Caller, VersionFaults};
pub use version::{FaultKind, FaultParseError, FaultVersion, VersionFault};
