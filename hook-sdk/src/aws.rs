//! The AWS configuration a hook runs with: aws-config's default chain, and one HTTPS client
//! for every AWS client the hook makes.
//!
//! Left to itself, each AWS client (and aws-config's own STS client) makes the SDK's default
//! HTTPS client anew, and builds its TLS connector as it is made, to check it, then again at its
//! first request: the root certificates are parsed each time. A cold hook made five such
//! clients before its first call; on Lambda's 128 MB share of a CPU that is most of its start.
//! [`load_config`] gives every client one default HTTPS client, whose connector is built once,
//! at the first request.

use std::fmt;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

/// The largest answer a hook reads from an AWS API (CodeDeploy, Lambda, CloudWatch, STS), in
/// bytes: Lambda's 6 MB invoke payload with room to spare. A larger answer fails the call
/// before it is read into memory, so nothing AWS sends can take a 128 MB hook down before it
/// reports. (Checks read invoke answers up to a lower bound of their own.)
pub const MAX_AWS_ANSWER: usize = 8 * 1024 * 1024;
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin as _;

/// aws-config's defaults, as `aws_config::load_defaults(BehaviorVersion::latest())` loads them
/// (region, credentials, endpoints, retries: the SDK's own chains), with [`https_client`] for
/// every client made from it.
pub async fn load_config() -> SdkConfig {
    loader().load().await
}

/// The loader of [`load_config`], to add to before loading.
pub fn loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    match https_client() {
        Some(client) => loader.http_client(client),
        // Each client then makes the SDK's default client itself: slower to start, the same
        // behaviour. A hook must not stop before it can report for want of a speed-up.
        None => loader,
    }
}

/// The SDK's default HTTPS client (rustls with aws-lc, the system's root certificates, the
/// proxy the environment names, the SDK's timeouts), shared: every AWS client given it uses
/// one connection pool per timeout setting, and its TLS set-up is done once, at the first
/// request, instead of once per client made. Its answers are capped at [`MAX_AWS_ANSWER`].
/// `None` if the SDK offers no default client.
pub fn https_client() -> Option<SharedHttpClient> {
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(BehaviorVersion::latest())?;
    let client = plugin
        .runtime_components(&RuntimeComponentsBuilder::new("hook-sdk"))
        .http_client()?;
    Some(SharedHttpClient::new(AtFirstRequest(client)))
}

/// An HTTP client that builds its connector when a request needs it, not when an AWS client
/// is made with it (the SDK's default client builds one then, to check its set-up).
struct AtFirstRequest(SharedHttpClient);

impl fmt::Debug for AtFirstRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AtFirstRequest").field(&self.0).finish()
    }
}

impl HttpClient for AtFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(Capped {
            inner: self.0.http_connector(settings, components),
            max: MAX_AWS_ANSWER,
        })
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// A connector whose answers are read up to `max` bytes: refused at once when
/// `Content-Length` says more, and failed as soon as the body passes the bound otherwise.
#[derive(Debug)]
struct Capped {
    inner: SharedHttpConnector,
    max: usize,
}

impl HttpConnector for Capped {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let answer = self.inner.call(request);
        let max = self.max;
        HttpConnectorFuture::new(async move {
            let mut response = answer.await?;
            if let Some(len) = response
                .headers()
                .get("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok())
                && len > max as u64
            {
                return Err(ConnectorError::other(
                    format!("AWS answered {len} bytes, over the {max} bytes a hook reads from AWS").into(),
                    None,
                ));
            }
            let body = response.take_body();
            *response.body_mut() = body.map(move |b| SdkBody::from_body_1_x(http_body_util::Limited::new(b, max)));
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_offers_its_default_https_client() {
        assert!(super::https_client().is_some());
    }
}
