//! Logs through tracing: JSON lines in Lambda, text elsewhere.

use lambda_runtime::tracing::subscriber::{EnvFilter, fmt, util::SubscriberInitExt};

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
    let builder = fmt().with_env_filter(filter).with_target(false).without_time();
    // `try_init` leaves a subscriber the application installed itself in place.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .finish()
            .try_init()
    } else {
        builder.finish().try_init()
    };
}
