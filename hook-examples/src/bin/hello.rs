//! `hello`: the function a canary deployment ships. See `hook_examples::hello`.

use hook_examples::hello::{self, Fault};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(fault: Option<Fault>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let version = &event.context.env_config.version;
    match fault {
        None => Ok(hello::respond(&event.payload, version)),
        Some(Fault::Error) => Err(Diagnostic {
            error_type: "HelloFault".to_string(),
            error_message: format!("HELLO_FAULT=error: version {version} fails on purpose"),
        }),
        Some(Fault::Status500) => Ok(hello::respond_500(version)),
        Some(Fault::Slow) => {
            tokio::time::sleep(hello::SLOW_SLEEP).await;
            Ok(hello::respond(&event.payload, version))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // A bad HELLO_FAULT stops the function at init, with the reason in its log.
    let fault = Fault::parse(std::env::var("HELLO_FAULT").ok().as_deref())?;
    lambda_runtime::run(service_fn(move |event| handler(fault, event))).await
}
