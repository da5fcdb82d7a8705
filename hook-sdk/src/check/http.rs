//! HTTP checks: one request with reqwest (rustls), the body read up to a cap.

use std::time::Duration;

use tokio::time::Instant;

use crate::assert::Observation;
use crate::redact::redact_urls;
use crate::spec::limits::{MAX_BODY, MAX_REDIRECTS};

/// The default cap on a response body: a larger body fails the check.
pub(crate) const DEFAULT_MAX_BODY: usize = MAX_BODY;

/// The default HTTP client of checks (rustls, a user agent naming hook-sdk), made once on
/// first use: loading root certificates costs milliseconds, which hooks without HTTP checks
/// should not pay. It follows no redirect by itself and sends no `Referer`: [`send`] follows
/// redirects when a check opts in, and keeps the check's headers to the first origin.
pub(crate) fn default_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("hook-sdk/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .build()
                .expect("the HTTP client builds")
        })
        .clone()
}

/// A request with its variables filled in.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes and whether they are JSON.
    pub body: Option<(Vec<u8>, bool)>,
    /// Follow redirects, at most [`MAX_REDIRECTS`].
    pub follow_redirects: bool,
}

/// Whether the request can be sent at all: a known method and an http(s) URL. An error
/// here is the spec's or the environment's, not the target's.
pub(crate) fn check_request(req: &HttpRequest) -> Result<(), String> {
    method_and_url(req).map(|_| ())
}

fn method_and_url(req: &HttpRequest) -> Result<(reqwest::Method, reqwest::Url), String> {
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", req.method))?;
    let url = reqwest::Url::parse(&req.url).map_err(|e| format!("bad URL `{}`: {e}", redact_urls(&req.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}` is not an http or https URL", redact_urls(&req.url)));
    }
    Ok((method, url))
}

/// Sends the request and reads the answer, failing when its body is over `max_body` bytes.
///
/// Errors never hold the URL's credentials or query values. With `follow_redirects`, a
/// redirect to another origin gets none of the request's headers, and one from https to
/// plain http is refused.
pub(crate) async fn send(client: &reqwest::Client, req: &HttpRequest, max_body: usize) -> Result<Observation, String> {
    let started = Instant::now();
    let (response, method, url) = follow(client, req).await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = read_body(response, &method, &url, max_body).await?;
    let duration: Duration = started.elapsed();
    Ok(Observation::from_http(status, headers, &bytes, duration))
}

/// Sends the request, and follows the redirects it may: the last answer, with the method and
/// URL that got it.
async fn follow(
    client: &reqwest::Client,
    req: &HttpRequest,
) -> Result<(reqwest::Response, reqwest::Method, reqwest::Url), String> {
    let (mut method, first) = method_and_url(req)?;
    let mut url = first.clone();
    let mut body = req.body.as_ref();
    let mut headers_sent = true;
    let mut hops = 0;
    loop {
        let response = request(client, req, (&method, &url), body, headers_sent)
            .send()
            .await
            .map_err(|e| describe(&method, &url, e))?;
        let status = response.status();
        let location = match response.headers().get(reqwest::header::LOCATION) {
            Some(l) if req.follow_redirects && status.is_redirection() => {
                String::from_utf8_lossy(l.as_bytes()).into_owned()
            }
            _ => return Ok((response, method, url)),
        };
        if hops == MAX_REDIRECTS {
            return Err(format!(
                "{method} {}: more than {MAX_REDIRECTS} redirects",
                redact_urls(first.as_str())
            ));
        }
        hops += 1;
        let next = redirect_target(&method, &url, &location)?;
        if next.origin() != first.origin() {
            headers_sent = false;
        }
        if status == reqwest::StatusCode::SEE_OTHER
            || (matches!(status.as_u16(), 301 | 302) && method == reqwest::Method::POST)
        {
            method = reqwest::Method::GET;
            body = None;
        }
        url = next;
    }
}

/// One request: the spec's headers (unless a redirect left the origin), its body.
fn request(
    client: &reqwest::Client,
    req: &HttpRequest,
    (method, url): (&reqwest::Method, &reqwest::Url),
    body: Option<&(Vec<u8>, bool)>,
    headers_sent: bool,
) -> reqwest::RequestBuilder {
    let mut builder = client.request(method.clone(), url.clone());
    if headers_sent {
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
    }
    if let Some((bytes, json)) = body {
        if *json && !(headers_sent && req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))) {
            builder = builder.header("content-type", "application/json");
        }
        builder = builder.body(bytes.clone());
    }
    builder
}

/// Where a redirect from `url` leads, if it may be followed: never from https to plain http,
/// never to a scheme other than http and https.
fn redirect_target(method: &reqwest::Method, url: &reqwest::Url, location: &str) -> Result<reqwest::Url, String> {
    let next = url.join(location).map_err(|e| {
        format!(
            "{method} {}: bad redirect `{}`: {e}",
            redact_urls(url.as_str()),
            redact_urls(location)
        )
    })?;
    if url.scheme() == "https" && next.scheme() != "https" {
        return Err(format!(
            "{method} {}: refused a redirect from https to {}",
            redact_urls(url.as_str()),
            redact_urls(next.as_str())
        ));
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!(
            "{method} {}: refused a redirect to {}",
            redact_urls(url.as_str()),
            redact_urls(next.as_str())
        ));
    }
    Ok(next)
}

/// The body, read chunk by chunk up to `max_body` bytes: a larger one is an error before it is
/// read into memory.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    method: &reqwest::Method,
    url: &reqwest::Url,
    max_body: usize,
) -> Result<Vec<u8>, String> {
    let too_large = |len: Option<u64>| {
        format!(
            "{method} {}: the body is over the {max_body} bytes a check reads{}",
            redact_urls(url.as_str()),
            len.map(|l| format!(" ({l} bytes)")).unwrap_or_default()
        )
    };
    if let Some(len) = response.content_length()
        && len > max_body as u64
    {
        return Err(too_large(Some(len)));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(method, url, e))? {
        if bytes.len() + chunk.len() > max_body {
            return Err(too_large(None));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn describe(method: &reqwest::Method, url: &reqwest::Url, e: reqwest::Error) -> String {
    // reqwest puts the whole URL in its message: say it ourselves, without its secrets.
    format!(
        "{method} {}: {}",
        redact_urls(url.as_str()),
        crate::error::error_chain(&e.without_url())
    )
}
