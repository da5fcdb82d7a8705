//! The clock a watching metrics check reads and waits on.
//!
//! In Lambda it is the system's. A rehearsal (hook-sim) runs deployments on a simulated clock
//! that skips the time nothing happens in, and names its clock in [`CLOCK_VARIABLE`]: the
//! hook then asks it the time and waits on it (a wait ends when simulated time reaches it), so
//! a five-minute watch is rehearsed in the time its readings take.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The variable that names a rehearsal's clock: `http://HOST:PORT/PATH`. Unset in Lambda.
pub(crate) const CLOCK_VARIABLE: &str = "HOOK_CLOCK_ENDPOINT";

/// The most of a clock's answer read.
const MAX_ANSWER: usize = 1024;

/// A clock a check waits on.
pub(crate) trait Clock {
    /// Now.
    async fn now(&self) -> Result<SystemTime, String>;
    /// Waits until `t`, and says the time then.
    async fn sleep_until(&self, t: SystemTime) -> Result<SystemTime, String>;
}

/// The system's clock, or a rehearsal's when [`CLOCK_VARIABLE`] names one.
#[derive(Debug)]
pub(crate) enum HookClock {
    System(SystemClock),
    Remote(RemoteClock),
}

impl HookClock {
    /// The clock the environment names.
    pub(crate) fn from_env() -> Result<HookClock, String> {
        match std::env::var(CLOCK_VARIABLE) {
            Err(_) => Ok(HookClock::System(SystemClock::new())),
            Ok(url) => RemoteClock::new(&url).map(HookClock::Remote),
        }
    }
}

impl Clock for HookClock {
    async fn now(&self) -> Result<SystemTime, String> {
        match self {
            HookClock::System(c) => c.now().await,
            HookClock::Remote(c) => c.now().await,
        }
    }

    async fn sleep_until(&self, t: SystemTime) -> Result<SystemTime, String> {
        match self {
            HookClock::System(c) => c.sleep_until(t).await,
            HookClock::Remote(c) => c.sleep_until(t).await,
        }
    }
}

/// The system's clock, advanced by tokio's (so that a test's paused clock moves it too).
#[derive(Debug)]
pub(crate) struct SystemClock {
    base: SystemTime,
    at: Instant,
}

impl SystemClock {
    pub(crate) fn new() -> Self {
        SystemClock {
            base: SystemTime::now(),
            at: Instant::now(),
        }
    }

    fn time(&self) -> SystemTime {
        self.base + self.at.elapsed()
    }
}

impl Clock for SystemClock {
    async fn now(&self) -> Result<SystemTime, String> {
        Ok(self.time())
    }

    async fn sleep_until(&self, t: SystemTime) -> Result<SystemTime, String> {
        if let Ok(wait) = t.duration_since(self.time()) {
            tokio::time::sleep(wait).await;
        }
        Ok(self.time())
    }
}

/// A rehearsal's clock: `GET URL?until_ms=T` answers `{"now_ms": N}` once simulated time
/// reached `T` (`0`: at once).
#[derive(Debug)]
pub(crate) struct RemoteClock {
    url: String,
    client: reqwest::Client,
}

impl RemoteClock {
    fn new(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return Err(format!(
                "{CLOCK_VARIABLE} is set but is not an http:// URL: it names a rehearsal's clock (hook-sim sets it); \
                 unset it in Lambda"
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("the rehearsal's clock ({CLOCK_VARIABLE}): {e}"))?;
        Ok(RemoteClock {
            url: url.to_string(),
            client,
        })
    }

    async fn ask(&self, until_ms: u128) -> Result<SystemTime, String> {
        let fail = |what: String| format!("the rehearsal's clock at {} ({CLOCK_VARIABLE}): {what}", self.url);
        let response = self
            .client
            .get(format!(
                "{}{}until_ms={until_ms}",
                self.url,
                if self.url.contains('?') { '&' } else { '?' }
            ))
            .send()
            .await
            .map_err(|e| fail(crate::error::error_chain(&e)))?;
        let status = response.status();
        let url = response.url().clone();
        let body = crate::check::http::read_body(response, &reqwest::Method::GET, &url, MAX_ANSWER)
            .await
            .map_err(fail)?;
        if !status.is_success() {
            return Err(fail(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            now_ms: u64,
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| fail(format!("an answer that is not {{\"now_ms\": N}}: {e}")))?;
        Ok(SystemTime::UNIX_EPOCH + Duration::from_millis(answer.now_ms))
    }
}

impl Clock for RemoteClock {
    async fn now(&self) -> Result<SystemTime, String> {
        self.ask(0).await
    }

    async fn sleep_until(&self, t: SystemTime) -> Result<SystemTime, String> {
        // Rounded up to the millisecond the clock counts in: the answer is never before `t`.
        let ms = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .div_ceil(1_000_000)
            .max(1);
        self.ask(ms).await
    }
}
