//! `pre-traffic`: a BeforeAllowTraffic hook. Before traffic shifts, the alias still
//! routes to the old version, so it tests each target version by invoking it directly:
//! it must answer without a function error and with `statusCode` 200.

use hook_sdk::{CheckError, Hook, HookContext, ensure};
use serde_json::json;

async fn smoke(ctx: HookContext) -> Result<(), CheckError> {
    for target in ctx.targets() {
        let out = target.invoke_json(&json!({"name": "canary"})).await?;
        out.expect_no_function_error()?;
        let status = out.json()?["statusCode"].clone();
        ensure!(status == 200, "{target}: statusCode was {status}, expected 200");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    Hook::new().before_allow_traffic(smoke).run().await
}
