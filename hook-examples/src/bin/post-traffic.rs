//! `post-traffic`: an AfterAllowTraffic hook. All traffic is on the new version: the
//! checks of `post-traffic.yaml` (built in) call the HTTP API (`API_URL`) and invoke the
//! alias repeatedly with thresholds; a Rust check then makes sure the alias routes to the
//! target version and nothing else.

use hook_sdk::prelude::*;
use serde_json::json;

const SPEC: &str = include_str!("../../post-traffic.yaml");

/// Every one of a few invokes of the alias runs the target version.
async fn alias_routes_to_the_target(ctx: HookContext) -> Result<(), CheckError> {
    for target in ctx.targets() {
        let alias = target
            .alias
            .as_deref()
            .ok_or_else(|| CheckError::new(format!("{target} has no alias")))?;
        for _ in 0..5 {
            let out = target
                .invoke_qualified(alias, serde_json::to_vec(&json!({"name": "routing"}))?)
                .await?;
            out.expect_no_function_error()?;
            let ran = out.executed_version.as_deref().unwrap_or("?");
            ensure!(
                ran == target.target_version,
                "{target}: alias {alias} still routes to version {ran}"
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), hook_sdk::Error> {
    Hook::new()
        .spec_text(SPEC, "post-traffic.yaml")
        .after_allow_traffic(alias_routes_to_the_target)
        .run()
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_spec_loads() {
        hook_sdk::spec::assert_valid(super::SPEC, "post-traffic.yaml");
    }
}
