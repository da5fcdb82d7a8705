//! The declarative check spec of CodeDeploy lifecycle hooks: what a healthy version looks
//! like, in YAML or JSON — its model, a strict loader whose errors point at the source, the
//! limits it holds to, and its JSON Schema for editors. It knows nothing of how checks run:
//! hook-sdk runs them, `hook-runner validate` and editors read them with this crate alone.
//!
//! Without its default features (`spec`, `metrics`) the crate is only the lifecycle [`Phase`]s,
//! which every hook needs and a Rust-only hook needs nothing else of.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod phase;
pub mod record;
mod secret;

#[cfg(feature = "spec")]
mod duration;
#[cfg(feature = "spec")]
mod error;
#[cfg(feature = "spec")]
mod invalid;
#[cfg(feature = "spec")]
pub mod limits;
#[cfg(feature = "spec")]
mod load;
#[cfg(feature = "spec")]
mod metrics;
#[cfg(feature = "spec")]
mod model;
#[cfg(feature = "spec")]
mod pick;
#[cfg(feature = "spec")]
mod predicate;
#[cfg(feature = "spec")]
mod schema;
#[cfg(feature = "spec")]
mod shape;
#[cfg(feature = "spec")]
mod template;
#[cfg(feature = "spec")]
mod variables;
#[cfg(feature = "spec")]
mod words;

pub use phase::{Phase, UnknownPhase};
#[cfg(feature = "spec")]
pub(crate) use secret::mask_secret_values;
pub use secret::{MASK, looks_secret};

#[cfg(feature = "spec")]
pub use duration::{Dur, duration_text, fmt_duration};
#[cfg(feature = "spec")]
pub use error::SpecError;
#[cfg(feature = "spec")]
pub use invalid::Invalid;
#[cfg(feature = "spec")]
pub use load::{assert_valid, load, load_all, load_file, load_file_all};
#[cfg(feature = "spec")]
pub use metrics::{
    Bound, CustomMetric, CustomUnit, DEFAULT_MIN_SAMPLES, Inconclusive, LambdaMetric, MetricsSpec, Threshold, Unit,
    Watch, Window,
};
#[cfg(feature = "spec")]
pub use model::*;
#[cfg(feature = "spec")]
pub use predicate::{Cmp, DurationPredicate, Op, Pattern, Predicate, RateBound};
#[cfg(feature = "spec")]
pub use schema::schema;
#[cfg(feature = "spec")]
pub use template::{TemplateError, TemplateText, Vars};
#[cfg(feature = "spec")]
pub use words::suggest;
