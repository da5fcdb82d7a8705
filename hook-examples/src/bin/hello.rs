//! `hello`: the function a canary deployment ships. See `hook_examples::hello`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hook_examples::hello::{self, FLAKY_EVERY, Fault};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

fn fails_on_purpose(version: &str, why: &str) -> Diagnostic {
    Diagnostic {
        error_type: "HelloFault".to_string(),
        error_message: format!("HELLO_FAULT={why}: version {version} fails on purpose"),
    }
}

async fn handler(
    fault: Option<Fault>,
    invocations: Arc<AtomicU64>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let version = &event.context.env_config.version;
    let n = invocations.fetch_add(1, Ordering::Relaxed) + 1;
    match fault {
        None => Ok(hello::respond(&event.payload, version)),
        Some(Fault::Error) => Err(fails_on_purpose(version, "error")),
        Some(Fault::Flaky) if n.is_multiple_of(FLAKY_EVERY) => Err(fails_on_purpose(version, "flaky")),
        Some(Fault::Flaky) => Ok(hello::respond(&event.payload, version)),
        Some(Fault::Status500) => Ok(hello::respond_500(version)),
        Some(Fault::Slow) => {
            tokio::time::sleep(hello::SLOW_SLEEP).await;
            Ok(hello::respond(&event.payload, version))
        }
        Some(Fault::Latency) => {
            tokio::time::sleep(hello::LATENCY_DELAY).await;
            Ok(hello::respond(&event.payload, version))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // A bad HELLO_FAULT stops the function at init, with the reason in its log.
    let fault = Fault::parse(std::env::var("HELLO_FAULT").ok().as_deref())?;
    let invocations = Arc::new(AtomicU64::new(0));
    lambda_runtime::run(service_fn(move |event| handler(fault, invocations.clone(), event))).await
}
