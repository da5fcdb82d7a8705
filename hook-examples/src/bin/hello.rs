//! `hello`: the function a canary deployment ships. See `hook_examples::hello`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(hook_examples::hello::respond(
        &event.payload,
        &event.context.env_config.version,
    ))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
