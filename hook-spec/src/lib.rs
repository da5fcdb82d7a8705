//! The declarative check spec of CodeDeploy lifecycle hooks: what a healthy version looks
//! like, in YAML or JSON — its model, a strict loader whose errors point at the source, the
//! limits it holds to, and its JSON Schema for editors. It knows nothing of how checks run:
//! hook-sdk runs them, `hook-runner validate` and editors read them with this crate alone.
//!
//! Without its default features (`spec`, `metrics`) the crate is only the lifecycle [`Phase`]s,
//! which every hook needs and a Rust-only hook needs nothing else of.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod phase;
mod secret;
#[cfg(feature = "spec")]
mod spec;

pub use phase::{Phase, UnknownPhase};
#[cfg(feature = "spec")]
pub(crate) use secret::mask_secret_values;
pub use secret::{MASK, looks_secret};
#[cfg(feature = "spec")]
pub use spec::*;
