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
        out.expect_executed_version(&target.target_version)?;
        let body = out.api_body()?;
        ensure!(
            body["version"] == target.target_version.as_str(),
            "{target}: the function says it is version {}",
            body["version"]
        );
    }
    Ok(())
}

fn hook() -> Hook {
    Hook::new()
        .spec_text(SPEC, "pre-traffic.yaml")
        .before_allow_traffic(answers_as_the_target_version)
}

#[tokio::main]
async fn main() -> Result<(), hook_sdk::Error> {
    hook().run().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hook_examples::hello;
    use hook_sdk::HookStatus;
    use hook_sdk::testing::{Answer, FakeAws};

    #[test]
    fn the_built_in_spec_loads() {
        hook_sdk::spec::assert_valid(SPEC, "pre-traffic.yaml");
    }

    /// `hello-fn` going from version 1 to 2, version 2 answering with `v2`.
    fn deployment(v2: impl Fn(&serde_json::Value) -> Answer + Send + Sync + 'static) -> FakeAws {
        FakeAws::new()
            .target("hello-fn", "live", "1", "2")
            .version("hello-fn", "1", |event| Answer::json(hello::respond(event, "1")))
            .version("hello-fn", "2", v2)
    }

    #[tokio::test]
    async fn a_healthy_version_passes_and_only_version_2_is_invoked() {
        let aws = deployment(|event| Answer::json(hello::respond(event, "2")));
        let run = aws.run(hook(), Phase::BeforeAllowTraffic).await;
        assert_eq!(run.status(), Some(HookStatus::Succeeded), "{:?}", run.reason());
        let invokes = aws.invokes();
        assert_eq!(invokes.len(), 3, "two spec checks and the Rust check: {invokes:?}");
        assert!(invokes.iter().all(|(f, q)| f == "hello-fn" && q == "2"), "{invokes:?}");
    }

    #[tokio::test]
    async fn a_version_that_fails_is_stopped() {
        let aws = deployment(|_| Answer::error("Boom", "version 2 is broken"));
        let run = aws.run(hook(), Phase::BeforeAllowTraffic).await;
        assert_eq!(run.status(), Some(HookStatus::Failed));
        assert!(
            run.reason().unwrap().contains("function_error expected none"),
            "{:?}",
            run.reason()
        );
    }

    #[tokio::test]
    async fn the_rust_check_catches_a_version_that_lies_about_itself() {
        let aws = deployment(|event| Answer::json(hello::respond(event, "1")));
        let ctx = aws.context(Phase::BeforeAllowTraffic);
        let e = answers_as_the_target_version(ctx).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "hello-fn:2 (alias live: 1 -> 2): the function says it is version \"1\""
        );
    }
}
