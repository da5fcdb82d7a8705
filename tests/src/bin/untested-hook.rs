//! A BeforeAllowTraffic hook whose handler tests only the alias, which still routes to the
//! old version: proves that such a hook reports `Failed` although its handler returned `Ok`.

use hook_sdk::{CheckError, Hook, HookContext};

async fn alias_only(ctx: HookContext) -> Result<(), CheckError> {
    for target in ctx.targets() {
        let alias = target.alias.clone().unwrap_or_default();
        target
            .invoke_qualified(&alias, b"{}".to_vec())
            .await?
            .expect_no_function_error()?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), hook_sdk::Error> {
    Hook::new().before_allow_traffic(alias_only).run().await
}
