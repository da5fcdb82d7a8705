//! Which target versions a hook's invokes really ran: the proof BeforeAllowTraffic needs.

use std::sync::{Arc, Mutex};

use aws_sdk_lambda::operation::invoke::{InvokeInput, InvokeOutput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::appspec::FunctionId;
use crate::target::Target;

/// Records, for every Invoke made through a Lambda client it is added to, the function and
/// the version Lambda says it ran (`X-Amz-Executed-Version`). Any invoke counts: the spec's,
/// [`TargetFunction`](crate::TargetFunction)'s, or a handler's own through
/// [`HookContext::lambda`](crate::HookContext::lambda).
#[derive(Debug, Clone, Default)]
pub(crate) struct TestedVersions {
    ran: Arc<Mutex<Vec<(String, String)>>>,
    /// Where a target's bare name resolves: the hook's own partition, region and account
    /// (CodeDeploy's, whose AppSpec names it).
    home: FunctionId,
    /// Where a bare name invoked resolves: the same, in the region of the Lambda client.
    invoked_home: FunctionId,
}

#[derive(Debug, Clone)]
struct InvokedFunction(String);

impl Storable for InvokedFunction {
    type Storer = StoreReplace<Self>;
}

impl TestedVersions {
    /// Records whose function names resolve as Lambda resolves them: a target's within `home`,
    /// the hook's own partition, region and account; an invoked one within the same but in
    /// `client_region`, where the Lambda client sends its invokes (when it names one).
    /// Without the hook's own region, both resolve in the client's.
    pub(crate) fn new(mut home: FunctionId, client_region: Option<String>) -> Self {
        // The hook's own region unknown (no function ARN, outside Lambda): the client's.
        if home.region.is_none() {
            home.region = client_region.clone();
        }
        let mut invoked_home = home.clone();
        invoked_home.region = client_region.or(invoked_home.region);
        TestedVersions {
            ran: Arc::default(),
            home,
            invoked_home,
        }
    }

    /// `lambda`, recording its invokes here.
    pub(crate) fn watch(&self, lambda: &aws_sdk_lambda::Client) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::from_conf(lambda.config().to_builder().interceptor(self.clone()).build())
    }

    /// Whether Lambda ran `target`'s version under test at least once: the same function by
    /// its full ARN (partition, region, account, name, each resolved as Lambda resolves a bare
    /// name) and the same version. A same-named function elsewhere proves nothing.
    pub(crate) fn ran(&self, target: &Target) -> bool {
        let wanted = FunctionId::parse(&target.function).within(&self.home);
        self.ran
            .lock()
            .expect("tested versions poisoned")
            .iter()
            .any(|(f, v)| *v == target.target_version && FunctionId::parse(f).within(&self.invoked_home) == wanted)
    }
}

impl Intercept for TestedVersions {
    fn name(&self) -> &'static str {
        "TestedVersions"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<InvokeInput>()
            && let Some(name) = input.function_name()
        {
            cfg.interceptor_state().store_put(InvokedFunction(name.to_string()));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error()
            && let Some(out) = output.downcast_ref::<InvokeOutput>()
            && let Some(version) = out.executed_version()
            && let Some(InvokedFunction(function)) = cfg.load::<InvokedFunction>()
        {
            self.ran
                .lock()
                .expect("tested versions poisoned")
                .push((function.clone(), version.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(function: &str) -> Target {
        Target {
            logical_id: "F".into(),
            function: function.into(),
            alias: Some("live".into()),
            current_version: Some("1".into()),
            target_version: "2".into(),
        }
    }

    fn after(invokes: &[(&str, &str)]) -> TestedVersions {
        let home = FunctionId::parse("arn:aws:lambda:eu-west-1:111122223333:function:CodeDeployHook_pre");
        let t = TestedVersions::new(home, Some("eu-west-1".into()));
        for (f, v) in invokes {
            t.ran.lock().unwrap().push((f.to_string(), v.to_string()));
        }
        t
    }

    #[test]
    fn the_proof_compares_full_arns() {
        let by_name = target("hello-fn");
        let by_arn = target("arn:aws:lambda:eu-west-1:111122223333:function:hello-fn");
        // The same function, however it was named.
        for invoked in [
            "hello-fn",
            "hello-fn:2",
            "111122223333:function:hello-fn",
            "arn:aws:lambda:eu-west-1:111122223333:function:hello-fn:2",
        ] {
            let t = after(&[(invoked, "2")]);
            assert!(t.ran(&by_name) && t.ran(&by_arn), "{invoked}");
        }
        // A same-named function in another account, region or partition proves nothing.
        for elsewhere in [
            "999988887777:function:hello-fn",
            "arn:aws:lambda:us-east-1:111122223333:function:hello-fn",
            "arn:aws-cn:lambda:eu-west-1:111122223333:function:hello-fn",
        ] {
            let t = after(&[(elsewhere, "2")]);
            assert!(!t.ran(&by_name) && !t.ran(&by_arn), "{elsewhere}");
        }
        assert!(!after(&[("hello-fn", "1")]).ran(&by_name), "another version");
        // A bare name invoked through a client of another region is that region's function.
        let home = FunctionId::parse("arn:aws:lambda:eu-west-1:111122223333:function:CodeDeployHook_pre");
        let other_region = TestedVersions::new(home, Some("us-east-1".into()));
        other_region.ran.lock().unwrap().push(("hello-fn".into(), "2".into()));
        assert!(!other_region.ran(&by_name) && !other_region.ran(&by_arn));
    }
}
