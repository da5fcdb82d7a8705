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
            ensure!(
                out.ran_version() == target.target_version,
                "{target}: alias {alias} still routes to version {}",
                out.ran_version()
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
    use super::*;
    use hook_examples::hello;
    use hook_sdk::testing::{Answer, FakeAws};

    #[test]
    fn the_built_in_spec_loads() {
        hook_sdk::spec::assert_valid(SPEC, "post-traffic.yaml");
    }

    fn deployment() -> FakeAws {
        FakeAws::new()
            .target("hello-fn", "live", "1", "2")
            .version("hello-fn", "1", |event| Answer::json(hello::respond(event, "1")))
            .version("hello-fn", "2", |event| Answer::json(hello::respond(event, "2")))
    }

    #[tokio::test]
    async fn the_alias_on_the_target_passes() {
        let ctx = deployment().context(Phase::AfterAllowTraffic);
        alias_routes_to_the_target(ctx).await.unwrap();
    }

    #[tokio::test]
    async fn an_alias_still_on_the_old_version_fails() {
        // Before traffic is allowed the fake's alias still routes to version 1.
        let aws = deployment();
        let e = alias_routes_to_the_target(aws.context(Phase::BeforeAllowTraffic))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("alias live still routes to version 1"), "{e}");
        assert_eq!(aws.invokes(), [("hello-fn".to_string(), "live".to_string())]);
    }
}
