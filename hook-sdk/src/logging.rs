//! Logs through tracing: JSON lines in Lambda, text elsewhere.
//!
//! The check records (one JSON object per check, and a summary) are tracing events too, at
//! target [`RECORD_TARGET`] with the JSON in a `record` field; the subscriber installed here
//! prints each as a line of its own, at every log level, so that CloudWatch Logs Insights
//! reads its fields directly. A subscriber the application installs receives them as
//! ordinary events.

use std::fmt::Debug;
use std::io::Write as _;

use lambda_runtime::tracing::subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt, layer::Context, prelude::*, registry,
};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};

/// The target of check-record events.
pub(crate) const RECORD_TARGET: &str = "hook_sdk::record";

/// Emits one check record (a JSON object on one line).
#[cfg(feature = "checks")]
pub(crate) fn record(line: &str) {
    tracing::info!(target: RECORD_TARGET, record = line);
}

/// Installs the hook's log subscriber, unless one is installed already.
///
/// The format is JSON when running in Lambda (`AWS_LAMBDA_RUNTIME_API` set), so that
/// CloudWatch Logs Insights can query deployment ids, phases and outcomes; text
/// otherwise. `AWS_LAMBDA_LOG_FORMAT=Text|JSON` overrides it. The level comes from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
pub(crate) fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
        Ok(f) if f.eq_ignore_ascii_case("json") => true,
        Ok(f) if f.eq_ignore_ascii_case("text") => false,
        _ => std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some(),
    };
    let not_records = filter_fn(|meta| meta.target() != RECORD_TARGET);
    let text = fmt::layer().with_target(false).without_time();
    let logs = if json {
        text.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(not_records)
            .with_filter(filter)
            .boxed()
    } else {
        text.with_filter(not_records).with_filter(filter).boxed()
    };
    // `try_init` leaves a subscriber the application installed itself in place.
    // Both layers filter by callsite, so that the SDK's many debug events cost nothing.
    let records = Records.with_filter(filter_fn(|meta| meta.target() == RECORD_TARGET));
    let _ = registry().with(logs).with(records).try_init();
}

/// Prints check records as raw lines on stdout.
struct Records;

impl<S: Subscriber> Layer<S> for Records {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = RecordField(None);
        event.record(&mut visitor);
        if let Some(line) = visitor.0 {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

struct RecordField(Option<String>);

impl Visit for RecordField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "record" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn Debug) {}
}
