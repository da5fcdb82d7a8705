//! A hook whose handler panics: proves that a release build still reports `Failed`.

use hook_sdk::{CheckError, Hook, HookContext};

async fn explode(ctx: HookContext) -> Result<(), CheckError> {
    let n = ctx.targets().len();
    panic!("deliberate panic in a hook with {n} target(s)");
}

#[tokio::main]
async fn main() -> Result<(), hook_sdk::Error> {
    Hook::new().before_allow_traffic(explode).run().await
}
