//! HTTP checks: one request with reqwest (rustls), the body read up to a cap.

use std::time::Duration;

use tokio::time::Instant;

use crate::assert::Observation;

/// The default cap on a response body: larger bodies are cut, and the cut is noted.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// The default HTTP client of checks (rustls, a user agent naming hook-sdk), made once on
/// first use: loading root certificates costs milliseconds, which hooks without HTTP checks
/// should not pay.
pub fn default_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("hook-sdk/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds")
        })
        .clone()
}

/// A request with its variables filled in.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes and whether they are JSON.
    pub body: Option<(Vec<u8>, bool)>,
}

/// Sends the request and reads the answer, at most `max_body` bytes of it.
pub async fn send(client: &reqwest::Client, req: &HttpRequest, max_body: usize) -> Result<Observation, String> {
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", req.method))?;
    let url = reqwest::Url::parse(&req.url).map_err(|e| format!("bad URL `{}`: {e}", req.url))?;
    let mut builder = client.request(method, url);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    if let Some((body, json)) = &req.body {
        if *json && !req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            builder = builder.header("content-type", "application/json");
        }
        builder = builder.body(body.clone());
    }
    let started = Instant::now();
    let mut response = builder.send().await.map_err(|e| describe(&e))?;
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
    let mut body = Vec::new();
    let mut cut = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        let room = max_body.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let duration: Duration = started.elapsed();
    let mut obs = Observation::from_http(status, headers, &body, duration);
    if cut {
        obs.body.push_str(&format!("… (cut at {max_body} bytes)"));
    }
    Ok(obs)
}

fn describe(e: &reqwest::Error) -> String {
    crate::check::error_chain(e)
}
