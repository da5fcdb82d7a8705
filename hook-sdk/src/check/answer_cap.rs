//! A bound on the answers of the Lambda client that checks invoke with.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

/// Fails an Invoke whose answer is over `max` bytes before the SDK reads it into memory:
/// at once when `Content-Length` says so, and otherwise as soon as the body passes the bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerCap {
    pub(crate) max: usize,
}

impl AnswerCap {
    /// `lambda` with this cap on its answers.
    pub(crate) fn apply(self, lambda: &aws_sdk_lambda::Client) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::from_conf(lambda.config().to_builder().interceptor(self).build())
    }
}

impl Intercept for AnswerCap {
    fn name(&self) -> &'static str {
        "AnswerCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let max = self.max;
        let response = context.response_mut();
        if let Some(len) = response
            .headers()
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            && len > max as u64
        {
            return Err(format!("the answer is {len} bytes, over the {max} bytes a check reads").into());
        }
        let body = response.take_body();
        *response.body_mut() = body.map(move |b| SdkBody::from_body_1_x(http_body_util::Limited::new(b, max)));
        Ok(())
    }
}
