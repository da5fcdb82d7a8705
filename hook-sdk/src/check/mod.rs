//! Running a spec's checks (feature `checks`); [`CheckError`] and [`error_chain`], defined in
//! the crate's `error` module, are here too for the paths they have always had.

#[cfg(feature = "checks")]
mod answer_cap;
#[cfg(feature = "checks")]
pub(crate) mod http;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "checks")]
mod plug;
#[cfg(feature = "checks")]
mod run;
#[cfg(feature = "checks")]
mod select;

#[cfg(feature = "metrics")]
pub(crate) use metrics::traffic_window as metrics_traffic_window;
#[cfg(feature = "checks")]
pub use run::{CheckRunner, DEFAULT_TIMEOUT, RunContext, TimeWindow, TrafficError};
#[cfg(feature = "checks")]
pub use select::SKIP_VARIABLE;

pub use crate::error::{CheckError, error_chain};
