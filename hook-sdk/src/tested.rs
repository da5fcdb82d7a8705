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

use crate::appspec::function_name_of;
use crate::target::Target;

/// Records, for every Invoke made through a Lambda client it is added to, the function and
/// the version Lambda says it ran (`X-Amz-Executed-Version`). Any invoke counts: the spec's,
/// [`TargetFunction`](crate::TargetFunction)'s, or a handler's own through
/// [`HookContext::lambda`](crate::HookContext::lambda).
#[derive(Debug, Clone, Default)]
pub(crate) struct TestedVersions {
    ran: Arc<Mutex<Vec<(String, String)>>>,
}

#[derive(Debug, Clone)]
struct InvokedFunction(String);

impl Storable for InvokedFunction {
    type Storer = StoreReplace<Self>;
}

impl TestedVersions {
    /// `lambda`, recording its invokes here.
    pub(crate) fn watch(&self, lambda: &aws_sdk_lambda::Client) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::from_conf(lambda.config().to_builder().interceptor(self.clone()).build())
    }

    /// Whether Lambda ran `target`'s version under test at least once.
    pub(crate) fn ran(&self, target: &Target) -> bool {
        let name = function_name_of(&target.function);
        self.ran
            .lock()
            .expect("tested versions poisoned")
            .iter()
            .any(|(f, v)| function_name_of(f) == name && *v == target.target_version)
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
