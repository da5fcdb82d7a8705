//! The AWS configuration a hook runs with: aws-config's default chain, and one HTTPS client
//! for every AWS client the hook makes.
//!
//! Left to itself, each AWS client (and aws-config's own STS client) makes the SDK's default
//! HTTPS client anew, and builds its TLS connector as it is made, to check it, then again at its
//! first request: the root certificates are parsed each time. A cold hook made five such
//! clients before its first call; on Lambda's 128 MB share of a CPU that is most of its start.
//! [`load_config`] gives every client one default HTTPS client, whose connector is built once,
//! at the first request.
//!
//! **What it trusts.** AWS's own endpoints (`*.amazonaws.com`) present certificates that chain to
//! Amazon Trust Services' five roots; a connection to one trusts those five only, parsed from a
//! 6 KB bundle built into the hook, instead of every certificate of the system's store (half of
//! a cold hook's work, more on Lambda's `provided.al2023`). The system's store is used:
//!
//! - for any other host: China's `amazonaws.com.cn`, the isolated partitions, GovCloud
//!   (`*.us-gov-*.amazonaws.com`, whose chains this project has not verified), dual-stack
//!   `api.aws`, a VPC or proxy endpoint under another name;
//! - for every host when an endpoint is configured in the environment (`AWS_ENDPOINT_URL`,
//!   `AWS_ENDPOINT_URL_<SERVICE>`), or when `SSL_CERT_FILE` or `SSL_CERT_DIR` names the
//!   certificates to trust (a TLS-inspecting proxy's CA, say);
//! - always, with `HOOK_TLS_ROOTS=system`. `HOOK_TLS_ROOTS=amazon` trusts Amazon's roots only, for
//!   every host; `auto` (the default) is the rules above.

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
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

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

/// What is wrong with the endpoint settings of the services a hook calls
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`): a value that is set but empty, or not
/// an `http(s)://` URL, which the SDK would take down the process over ("URL was unset") at
/// the first call, the status report's included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointProblems {
    /// Why CodeDeploy cannot be reached: the status cannot be reported.
    pub(crate) codedeploy: Option<String>,
    /// Why another service the hook calls (Lambda, CloudWatch) cannot be reached.
    pub(crate) others: Option<String>,
}

impl EndpointProblems {
    /// The problems of the settings `get` reads.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let ignored = get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if ignored {
            return EndpointProblems::default();
        }
        let problem = |service: &str| -> Option<String> {
            let specific = format!("AWS_ENDPOINT_URL_{service}");
            let (name, value) = match get(&specific) {
                Some(v) => (specific, v),
                None => ("AWS_ENDPOINT_URL".to_string(), get("AWS_ENDPOINT_URL")?),
            };
            let v = value.trim();
            if v.is_empty() {
                Some(format!(
                    "{name} is set but empty: unset it, or give the endpoint's URL (https://...)"
                ))
            } else if !(v.starts_with("http://") || v.starts_with("https://")) {
                Some(format!(
                    "{name} is {:?}, not an http:// or https:// URL: give the endpoint's whole URL, or unset it",
                    v.chars().take(100).collect::<String>()
                ))
            } else {
                None
            }
        };
        let others: Vec<String> = ["LAMBDA", "CLOUDWATCH"].into_iter().filter_map(problem).collect();
        EndpointProblems {
            codedeploy: problem("CODEDEPLOY"),
            others: (!others.is_empty()).then(|| {
                let mut others = others;
                others.dedup();
                others.join("; ")
            }),
        }
    }

    /// The problems of the process's environment.
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// The SDK's default HTTPS client (rustls with aws-lc, the proxy the environment names, the
/// SDK's timeouts), trusting Amazon's roots or the system's as the [module](self) says, shared:
/// every AWS client given it uses one connection pool per timeout setting, and its TLS set-up
/// is done once, at the first request, instead of once per client made. Its answers are capped
/// at [`MAX_AWS_ANSWER`]. (Always `Some`: the `Option` stays for the clients a future SDK may
/// not offer.)
pub fn https_client() -> Option<SharedHttpClient> {
    let trust = Trust::from_env(|name| std::env::var(name).ok(), std::env::vars_os().map(|(k, _)| k));
    Some(SharedHttpClient::new(AtFirstRequest {
        amazon: https_client_trusting(Roots::Amazon),
        system: https_client_trusting(Roots::System),
        trust,
    }))
}

/// Amazon Trust Services' root certificates (Amazon Root CA 1–4, Starfield Services Root CA G2).
pub(crate) const AMAZON_TRUST_ROOTS: &str = include_str!("amazon-trust-roots.pem");

/// The root certificates a connection trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roots {
    /// Amazon Trust Services' five roots, built in.
    Amazon,
    /// The system's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the platform's files).
    System,
}

/// Which roots each host is trusted with: the environment's choice, made once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Amazon's roots for AWS's commercial endpoints, the system's for any other host.
    ByHost,
    /// The same roots for every host.
    Always(Roots),
}

impl Trust {
    /// The choice `HOOK_TLS_ROOTS`, `SSL_CERT_FILE`, `SSL_CERT_DIR` and `AWS_ENDPOINT_URL*` make
    /// (`var` reads a variable, `names` are the names set). An unknown `HOOK_TLS_ROOTS` is the
    /// system's store, the broader one: a hook must not fail to report for a typo.
    pub(crate) fn from_env<N: AsRef<std::ffi::OsStr>>(
        var: impl Fn(&str) -> Option<String>,
        names: impl IntoIterator<Item = N>,
    ) -> Trust {
        match var("HOOK_TLS_ROOTS").as_deref().map(str::trim) {
            Some("amazon") => return Trust::Always(Roots::Amazon),
            Some("system") => return Trust::Always(Roots::System),
            Some("auto" | "") | None => {}
            Some(other) => {
                tracing::warn!(
                    "HOOK_TLS_ROOTS={other:?} is not amazon, system or auto: AWS endpoints are trusted with the system's certificates"
                );
                return Trust::Always(Roots::System);
            }
        }
        let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
        let endpoint = names
            .into_iter()
            .any(|n| n.as_ref().to_str().is_some_and(|n| n.starts_with("AWS_ENDPOINT_URL")));
        if set("SSL_CERT_FILE") || set("SSL_CERT_DIR") || endpoint {
            Trust::Always(Roots::System)
        } else {
            Trust::ByHost
        }
    }

    /// The roots a connection to `uri` trusts.
    pub(crate) fn roots_for(self, uri: &str) -> Roots {
        match self {
            Trust::Always(roots) => roots,
            Trust::ByHost if amazon_endpoint(uri) => Roots::Amazon,
            Trust::ByHost => Roots::System,
        }
    }
}

/// `uri` is an HTTPS endpoint of AWS's commercial partition (`*.amazonaws.com`, not GovCloud).
fn amazon_endpoint(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = authority.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    host.ends_with(".amazonaws.com") && !host.split('.').any(|label| label.starts_with("us-gov-"))
}

/// The SDK's default HTTPS client as `aws-smithy-runtime` makes it (rustls with aws-lc, the
/// proxy of the environment, the connector settings and sleep of each client), trusting `roots`.
pub(crate) fn https_client_trusting(roots: Roots) -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        if roots == Roots::Amazon {
            let store = TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_ROOTS.as_bytes());
            let context = TlsContext::builder()
                .with_trust_store(store)
                .build()
                .expect("a trust store without native roots builds");
            conn.set_tls_context(context);
        }
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// An HTTP client that builds its connectors when a request needs one, not when an AWS client
/// is made with it (the SDK's default client builds one then, to check its set-up), with the
/// roots [`Trust`] chooses.
struct AtFirstRequest {
    amazon: SharedHttpClient,
    system: SharedHttpClient,
    trust: Trust,
}

impl AtFirstRequest {
    fn client(&self, roots: Roots) -> &SharedHttpClient {
        match roots {
            Roots::Amazon => &self.amazon,
            Roots::System => &self.system,
        }
    }
}

impl fmt::Debug for AtFirstRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtFirstRequest").field("trust", &self.trust).finish()
    }
}

impl HttpClient for AtFirstRequest {
    // The SDK asks for a connector before each attempt; each client gives the one it built for
    // these settings, building it the first time.
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = match self.trust {
            Trust::Always(roots) => self.client(roots).http_connector(settings, components),
            // Only the request says its host: the choice waits for it.
            Trust::ByHost => SharedHttpConnector::new(ByHost {
                amazon: self.amazon.clone(),
                system: self.system.clone(),
                settings: settings.clone(),
                components: components.clone(),
            }),
        };
        SharedHttpConnector::new(Capped {
            inner,
            max: MAX_AWS_ANSWER,
        })
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.system.connector_metadata()
    }
}

/// One attempt's connector under [`Trust::ByHost`]: the client of the roots the request's host
/// is trusted with gives its connector (so the system's store is loaded only if a request to
/// another host is made).
struct ByHost {
    amazon: SharedHttpClient,
    system: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl fmt::Debug for ByHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByHost")
    }
}

impl HttpConnector for ByHost {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match Trust::ByHost.roots_for(request.uri()) {
            Roots::Amazon => &self.amazon,
            Roots::System => &self.system,
        };
        client.http_connector(&self.settings, &self.components).call(request)
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
    use super::EndpointProblems;
    use super::{Roots, Trust};

    #[test]
    fn an_endpoint_setting_the_sdk_cannot_use_is_found_before_any_call() {
        let problems = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            EndpointProblems::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        assert_eq!(problems(&[]), EndpointProblems::default());
        assert_eq!(
            problems(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")]),
            EndpointProblems::default()
        );
        let global = problems(&[("AWS_ENDPOINT_URL", "")]);
        assert!(
            global
                .codedeploy
                .as_deref()
                .is_some_and(|p| p.starts_with("AWS_ENDPOINT_URL is set but empty"))
        );
        assert!(global.others.is_some());
        // A service's own setting wins over the global one, either way.
        let fixed = problems(&[
            ("AWS_ENDPOINT_URL", " "),
            ("AWS_ENDPOINT_URL_CODEDEPLOY", "https://codedeploy.example"),
        ]);
        assert_eq!(fixed.codedeploy, None);
        assert!(fixed.others.is_some());
        let codedeploy = problems(&[("AWS_ENDPOINT_URL", "http://x"), ("AWS_ENDPOINT_URL_CODEDEPLOY", "")]);
        assert!(
            codedeploy
                .codedeploy
                .as_deref()
                .is_some_and(|p| p.contains("AWS_ENDPOINT_URL_CODEDEPLOY"))
        );
        assert_eq!(codedeploy.others, None);
        let lambda = problems(&[("AWS_ENDPOINT_URL_LAMBDA", "localhost:4566")]);
        assert_eq!(lambda.codedeploy, None);
        assert!(
            lambda
                .others
                .as_deref()
                .is_some_and(|p| p.contains("not an http:// or https:// URL"))
        );
        assert_eq!(
            problems(&[
                ("AWS_ENDPOINT_URL", ""),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
            ]),
            EndpointProblems::default(),
            "the settings are ignored"
        );
    }

    #[test]
    fn the_sdk_offers_its_default_https_client() {
        assert!(super::https_client().is_some());
    }

    fn trust(vars: &[(&str, &str)]) -> Trust {
        Trust::from_env(
            |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()),
            vars.iter().map(|(k, _)| *k),
        )
    }

    #[test]
    fn amazon_roots_only_for_the_commercial_partitions_endpoints() {
        let t = trust(&[("AWS_REGION", "eu-west-1")]);
        assert_eq!(t, Trust::ByHost);
        for uri in [
            "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/f/invocations",
            "https://codedeploy.us-east-1.amazonaws.com/",
            "https://sts.amazonaws.com",
            "https://monitoring.eu-west-1.amazonaws.com:443/?x=1",
            "https://LAMBDA.EU-WEST-1.AMAZONAWS.COM./",
            "https://vpce-0abc.lambda.eu-west-1.vpce.amazonaws.com/",
        ] {
            assert_eq!(t.roots_for(uri), Roots::Amazon, "{uri}");
        }
        for uri in [
            "https://lambda.cn-north-1.amazonaws.com.cn/",
            "https://lambda.us-gov-west-1.amazonaws.com/",
            "https://lambda.us-iso-east-1.c2s.ic.gov/",
            "https://lambda.us-east-1.api.aws/",
            "https://example.com/?h=.amazonaws.com",
            "https://evil.example/.amazonaws.com",
            "https://lambda.us-east-1.amazonaws.com.evil.example/",
            "https://user@lambda.us-east-1.amazonaws.com@evil.example/",
            "http://lambda.us-east-1.amazonaws.com/",
            "http://127.0.0.1:9001/",
        ] {
            assert_eq!(t.roots_for(uri), Roots::System, "{uri}");
        }
    }

    #[test]
    fn the_environment_chooses_the_system_store_or_names_one() {
        let every = |t: Trust| t.roots_for("https://lambda.us-east-1.amazonaws.com/");
        assert_eq!(
            every(trust(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9001")])),
            Roots::System
        );
        assert_eq!(every(trust(&[("AWS_ENDPOINT_URL_LAMBDA", "https://x")])), Roots::System);
        assert_eq!(every(trust(&[("SSL_CERT_FILE", "/etc/proxy-ca.pem")])), Roots::System);
        assert_eq!(every(trust(&[("SSL_CERT_DIR", "/etc/certs")])), Roots::System);
        assert_eq!(every(trust(&[("SSL_CERT_FILE", "")])), Roots::Amazon);
        assert_eq!(every(trust(&[("HOOK_TLS_ROOTS", "system")])), Roots::System);
        assert_eq!(every(trust(&[("HOOK_TLS_ROOTS", "auto")])), Roots::Amazon);
        // A typo is the broader store, not a hook that cannot reach AWS.
        assert_eq!(every(trust(&[("HOOK_TLS_ROOTS", "amazn")])), Roots::System);
        // `amazon` wins over everything, a custom endpoint included.
        let amazon = trust(&[
            ("HOOK_TLS_ROOTS", "amazon"),
            ("AWS_ENDPOINT_URL", "https://127.0.0.1:1"),
        ]);
        assert_eq!(amazon.roots_for("https://127.0.0.1:1/"), Roots::Amazon);
    }

    /// The bundle holds the five roots, each under its name.
    #[test]
    fn the_built_in_bundle_is_amazons_five_roots() {
        let blocks = super::AMAZON_TRUST_ROOTS.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(blocks, 5);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(super::AMAZON_TRUST_ROOTS.contains(&format!("CN = {name}\n")), "{name}");
        }
    }
}
