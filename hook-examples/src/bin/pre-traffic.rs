//! `pre-traffic`: a BeforeAllowTraffic hook. Before traffic shifts, the alias still routes
//! to the old version, so it tests each target version by invoking it directly: first the
//! declarative checks of `pre-traffic.yaml` (built in), then a check written in Rust.

use hook_sdk::prelude::*;
use serde_json::json;

const SPEC: &str = include_str!("../../pre-traffic.yaml");

/// The target answers as the version under test: Lambda ran that version, and the
/// function says so itself.
async fn answers_as_the_target_version(ctx: HookContext) -> Result<(), CheckError> {
    for target in ctx.targets() {
        let out = target.invoke_json(&json!({"name": "version-probe"})).await?;
        out.expect_no_function_error()?;
        let ran = out.executed_version.as_deref().unwrap_or("?");
        ensure!(ran == target.target_version, "{target}: Lambda ran version {ran}");
        let payload = out.json()?;
        let body: serde_json::Value = serde_json::from_str(payload["body"].as_str().unwrap_or("null"))?;
        ensure!(
            body["version"] == target.target_version.as_str(),
            "{target}: the function says it is version {}",
            body["version"]
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), hook_sdk::Error> {
    Hook::new()
        .spec_text(SPEC, "pre-traffic.yaml")
        .before_allow_traffic(answers_as_the_target_version)
        .run()
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_spec_loads() {
        hook_sdk::spec::assert_valid(super::SPEC, "pre-traffic.yaml");
    }
}
