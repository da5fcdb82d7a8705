//! The function versions a deployment shifts traffic to, and invoking them.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::CheckError;

/// One function of a deployment: the version to test and where traffic comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The AppSpec resource key (the SAM logical id), or `HOOK_TARGET` when set by override.
    pub logical_id: String,
    /// The function name or ARN, as the AppSpec gives it.
    pub function: String,
    /// The alias whose traffic shifts, when known.
    pub alias: Option<String>,
    /// The version traffic shifts away from, when known.
    pub current_version: Option<String>,
    /// The version under test: every invoke of this target uses it as qualifier.
    pub target_version: String,
}

impl Target {
    /// `function:version`: the version under test, as reports and logs name it.
    pub fn qualified(&self) -> String {
        format!("{}:{}", self.function, self.target_version)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.function, self.target_version)?;
        if let Some(alias) = &self.alias {
            let from = self.current_version.as_deref().unwrap_or("?");
            write!(f, " (alias {alias}: {from} -> {})", self.target_version)?;
        }
        Ok(())
    }
}

/// `HOOK_TARGET` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "HOOK_TARGET entry `{}` {why}: give NAME:VERSION or a qualified function ARN \
     (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION), several separated by commas",
    entry.escape_debug()
)]
pub struct BadTargetOverride {
    /// The entry that could not be read.
    pub entry: String,
    /// What is wrong with it.
    pub why: String,
}

impl Target {
    /// Reads the `HOOK_TARGET` override: comma-separated `NAME:VERSION` pairs, partial ARNs
    /// (`ACCOUNT:function:NAME:VERSION`) or qualified function ARNs, each part as Lambda
    /// allows it (a name of letters, digits, `-` and `_`; a 12-digit account; a version or
    /// alias), nothing else (a space, a line break, a part too many).
    pub fn parse_override(value: &str) -> Result<Vec<Target>, BadTargetOverride> {
        let mut targets = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| BadTargetOverride {
                entry: entry.to_string(),
                why: why.to_string(),
            };
            if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("holds a space or a control character"));
            }
            let name_ok = |n: &str| {
                !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            let account_ok = |a: &str| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit());
            let parts: Vec<&str> = entry.split(':').collect();
            let (name, version) = match parts.as_slice() {
                [name, version] => (*name, *version),
                [account, "function", name, version] => {
                    if !account_ok(account) {
                        return Err(bad("names no 12-digit account"));
                    }
                    (*name, *version)
                }
                ["arn", partition, "lambda", region, account, "function", name, version] => {
                    if !partition.starts_with("aws") || region.is_empty() || !account_ok(account) {
                        return Err(bad(
                            "is not a Lambda function ARN (partition, region, 12-digit account)",
                        ));
                    }
                    (*name, *version)
                }
                [..] if parts.last().is_some_and(|v| v.is_empty()) || parts.len() < 2 => {
                    return Err(bad("names no version"));
                }
                _ => return Err(bad("has a part too many or too few")),
            };
            if !name_ok(name) {
                return Err(bad("names no function (letters, digits, - and _, at most 64)"));
            }
            let version_ok = !version.is_empty()
                && version.len() <= 128
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'));
            if !version_ok {
                return Err(bad("names no version"));
            }
            targets.push(Target {
                logical_id: "HOOK_TARGET".to_string(),
                function: entry[..entry.len() - version.len() - 1].to_string(),
                alias: None,
                current_version: None,
                target_version: version.to_string(),
            });
        }
        if targets.is_empty() {
            return Err(BadTargetOverride {
                entry: value.to_string(),
                why: "names no target".into(),
            });
        }
        Ok(targets)
    }
}

/// A [`Target`] with a Lambda client: what a handler invokes.
#[derive(Debug, Clone)]
pub struct TargetFunction {
    target: Target,
    lambda: aws_sdk_lambda::Client,
}

impl Deref for TargetFunction {
    type Target = Target;
    fn deref(&self) -> &Target {
        &self.target
    }
}

/// An invoke of a target that did not get an answer from Lambda.
///
/// A function that ran and failed is not this error: it is an [`Invocation`] with a
/// `function_error`.
#[derive(Debug, thiserror::Error)]
#[error("invoking {function}:{version} failed")]
pub struct InvokeError {
    /// The function invoked.
    pub function: String,
    /// The qualifier used.
    pub version: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Service error codes that say the call could not be made as asked, whatever the version
/// does: the caller's identity, permissions or request are wrong.
pub(crate) const SETUP_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "InvalidParameterValueException",
    "RequestTooLargeException",
];

impl InvokeError {
    /// Whether the call could not be made, whatever the version does: no credentials or
    /// region, no such function or version, access denied, a request Lambda refuses, Lambda
    /// unreachable. A time-out, a throttle or a service failure are not: they say something
    /// of the version or its limits.
    pub fn is_setup(&self) -> bool {
        use aws_sdk_lambda::error::{ProvideErrorMetadata as _, SdkError};
        type Sdk = SdkError<aws_sdk_lambda::operation::invoke::InvokeError, aws_smithy_runtime_api::http::Response>;
        let Some(e) = self.source.downcast_ref::<Sdk>() else {
            // The payload could not be made.
            return self.source.is::<serde_json::Error>();
        };
        match e {
            SdkError::ConstructionFailure(_) => true,
            SdkError::DispatchFailure(d) => !d.is_timeout(),
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => false,
            SdkError::ServiceError(s) => {
                s.err().code().is_some_and(|c| SETUP_CODES.contains(&c))
                    || matches!(s.raw().status().as_u16(), 401 | 403 | 404)
            }
            _ => false,
        }
    }
}

impl fmt::Display for TargetFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.fmt(f)
    }
}

impl TargetFunction {
    /// Binds a target to a Lambda client.
    pub fn new(target: Target, lambda: aws_sdk_lambda::Client) -> Self {
        TargetFunction { target, lambda }
    }

    /// The plain target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Invokes the target version with raw payload bytes, synchronously, with the log tail.
    pub async fn invoke(&self, payload: impl Into<Vec<u8>>) -> Result<Invocation, InvokeError> {
        self.invoke_qualified(&self.target.target_version, payload).await
    }

    /// Invokes the function with another qualifier (the alias, say), with the log tail.
    pub async fn invoke_qualified(
        &self,
        qualifier: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<Invocation, InvokeError> {
        let started = Instant::now();
        let result = self
            .lambda
            .invoke()
            .function_name(&self.target.function)
            .qualifier(qualifier)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload.into()))
            .send()
            .await;
        let elapsed = started.elapsed();
        let out = result.map_err(|e| InvokeError {
            function: self.target.function.clone(),
            version: qualifier.to_string(),
            source: Box::new(e),
        })?;
        let log_tail = out.log_result().and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        });
        let usage = log_tail.as_deref().and_then(LambdaUsage::find);
        tracing::info!(
            target_function = %self.target.function,
            version = %qualifier,
            executed_version = out.executed_version().unwrap_or("?"),
            function_error = out.function_error().unwrap_or("none"),
            elapsed_ms = round2(elapsed.as_secs_f64() * 1000.0),
            reported_duration_ms = usage.as_ref().and_then(|r| r.duration).map(|d| round2(d.as_secs_f64() * 1000.0)),
            "target invoked"
        );
        Ok(Invocation {
            status_code: out.status_code(),
            function_error: out.function_error().map(str::to_string),
            executed_version: out.executed_version().map(str::to_string),
            payload: out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
            log_tail,
            usage,
            elapsed,
        })
    }

    /// Invokes the target version with a JSON payload.
    ///
    /// ```no_run
    /// # async fn f(target: &hook_sdk::TargetFunction) -> Result<(), hook_sdk::CheckError> {
    /// let out = target.invoke_json(&serde_json::json!({"name": "canary"})).await?;
    /// out.expect_no_function_error()?;
    /// # Ok(()) }
    /// ```
    pub async fn invoke_json<T: Serialize + ?Sized>(&self, payload: &T) -> Result<Invocation, InvokeError> {
        self.invoke_qualified_json(&self.target.target_version, payload).await
    }

    /// Invokes the alias whose traffic shifts with a JSON payload: what users reach (after
    /// traffic, the new version; before, the current one). An error when the deployment names
    /// no alias.
    ///
    /// ```no_run
    /// # async fn f(target: &hook_sdk::TargetFunction) -> Result<(), hook_sdk::CheckError> {
    /// let out = target.invoke_alias_json(&serde_json::json!({"name": "user"})).await?;
    /// hook_sdk::ensure!(out.executed_version.as_deref() == Some(target.target().target_version.as_str()),
    ///     "the alias still routes to {:?}", out.executed_version);
    /// # Ok(()) }
    /// ```
    pub async fn invoke_alias_json<T: Serialize + ?Sized>(&self, payload: &T) -> Result<Invocation, InvokeError> {
        let alias = self.known(self.target.alias.as_deref(), "alias")?;
        self.invoke_qualified_json(&alias, payload).await
    }

    /// Invokes the current version (the one traffic shifts away from) with a JSON payload: to
    /// compare the new version's answer with it. An error when the deployment names none.
    ///
    /// ```no_run
    /// # async fn f(target: &hook_sdk::TargetFunction) -> Result<(), hook_sdk::CheckError> {
    /// let before = target.invoke_current_json(&serde_json::json!({"name": "a"})).await?.json()?;
    /// let after = target.invoke_json(&serde_json::json!({"name": "a"})).await?.json()?;
    /// hook_sdk::ensure!(before["body"] == after["body"], "the new version answers otherwise");
    /// # Ok(()) }
    /// ```
    pub async fn invoke_current_json<T: Serialize + ?Sized>(&self, payload: &T) -> Result<Invocation, InvokeError> {
        let current = self.known(self.target.current_version.as_deref(), "current version")?;
        self.invoke_qualified_json(&current, payload).await
    }

    /// Invokes the function under `qualifier` (a version or an alias) with a JSON payload.
    pub async fn invoke_qualified_json<T: Serialize + ?Sized>(
        &self,
        qualifier: &str,
        payload: &T,
    ) -> Result<Invocation, InvokeError> {
        let bytes = serde_json::to_vec(payload).map_err(|e| InvokeError {
            function: self.target.function.clone(),
            version: qualifier.to_string(),
            source: Box::new(e),
        })?;
        self.invoke_qualified(qualifier, bytes).await
    }

    /// `what` of the deployment, or an error saying the AppSpec does not name it.
    fn known(&self, value: Option<&str>, what: &str) -> Result<String, InvokeError> {
        value.map(str::to_string).ok_or_else(|| InvokeError {
            function: self.target.function.clone(),
            version: what.to_string(),
            source: format!("the deployment's AppSpec names no {what} for {}", self.target.function).into(),
        })
    }
}

/// What one invoke of a target returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The HTTP status of the Invoke call (200 for a synchronous invoke that ran).
    pub status_code: i32,
    /// `Unhandled` or `Handled` when the function failed; the payload then holds the error.
    pub function_error: Option<String>,
    /// The version that ran, as Lambda reports it.
    pub executed_version: Option<String>,
    /// The response payload.
    pub payload: Vec<u8>,
    /// The last 4 KB of the function's log, decoded.
    pub log_tail: Option<String>,
    /// The `REPORT` line of the log tail, when present.
    pub usage: Option<LambdaUsage>,
    /// Wall time of the Invoke call as the hook saw it.
    pub elapsed: Duration,
}

impl Invocation {
    /// The payload parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, CheckError> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            CheckError::new(format!(
                "the payload is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.payload)
            ))
        })
    }

    /// The payload as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The version Lambda ran (`X-Amz-Executed-Version`), or `?` when it did not say.
    pub fn ran_version(&self) -> &str {
        self.executed_version.as_deref().unwrap_or("?")
    }

    /// Fails unless Lambda ran `version`.
    pub fn expect_executed_version(&self, version: &str) -> Result<(), CheckError> {
        match self.executed_version.as_deref() {
            Some(v) if v == version => Ok(()),
            Some(v) => Err(CheckError::new(format!("Lambda ran version {v}, not {version}"))),
            None => Err(CheckError::new(format!(
                "Lambda did not say which version ran (expected {version})"
            ))),
        }
    }

    /// The `body` of an API Gateway style answer (`{"statusCode": 200, "body": "{...}"}`)
    /// decoded as JSON; a `body` that already is JSON as it is.
    pub fn api_body(&self) -> Result<serde_json::Value, CheckError> {
        let payload = self.json()?;
        match payload.get("body") {
            Some(serde_json::Value::String(text)) => serde_json::from_str(text)
                .map_err(|e| CheckError::new(format!("the answer's body is not JSON ({e}): {text}"))),
            Some(body) => Ok(body.clone()),
            None => Err(CheckError::new(format!("the answer has no `body`: {}", self.text()))),
        }
    }

    /// Fails when the function returned an error.
    pub fn expect_no_function_error(&self) -> Result<(), CheckError> {
        match &self.function_error {
            None => Ok(()),
            Some(kind) => Err(CheckError::new(format!("function error ({kind}): {}", self.text()))),
        }
    }
}

/// The `REPORT` line Lambda writes at the end of every invoke.
///
/// `REPORT RequestId: ...\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 25.11 ms`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LambdaUsage {
    /// `RequestId`.
    pub request_id: Option<String>,
    /// `Duration`: time the handler ran.
    pub duration: Option<Duration>,
    /// `Billed Duration`.
    pub billed_duration: Option<Duration>,
    /// `Memory Size`, MB.
    pub memory_size_mb: Option<u64>,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: Option<u64>,
    /// `Init Duration`: present on a cold start.
    pub init_duration: Option<Duration>,
}

impl LambdaUsage {
    /// Finds and parses the last `REPORT` line of a log tail.
    pub fn find(log: &str) -> Option<LambdaUsage> {
        log.lines()
            .rev()
            .find_map(|l| l.trim_start().strip_prefix("REPORT ").map(Self::parse_fields))
    }

    fn parse_fields(fields: &str) -> LambdaUsage {
        let mut r = LambdaUsage {
            request_id: None,
            duration: None,
            billed_duration: None,
            memory_size_mb: None,
            max_memory_used_mb: None,
            init_duration: None,
        };
        for field in fields.split('\t') {
            let Some((key, value)) = field.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "RequestId" => r.request_id = Some(value.to_string()),
                "Duration" => r.duration = millis(value),
                "Billed Duration" => r.billed_duration = millis(value),
                "Init Duration" => r.init_duration = millis(value),
                "Memory Size" => r.memory_size_mb = megabytes(value),
                "Max Memory Used" => r.max_memory_used_mb = megabytes(value),
                _ => {}
            }
        }
        r
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn millis(v: &str) -> Option<Duration> {
    let ms: f64 = v.strip_suffix("ms")?.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

fn megabytes(v: &str) -> Option<u64> {
    v.strip_suffix("MB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_line() {
        let log = "START RequestId: abc Version: 2\nhello\nEND RequestId: abc\nREPORT RequestId: abc\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 25.50 ms\t\n";
        let r = LambdaUsage::find(log).unwrap();
        assert_eq!(r.request_id.as_deref(), Some("abc"));
        assert_eq!(r.duration, Some(Duration::from_micros(1250)));
        assert_eq!(r.billed_duration, Some(Duration::from_millis(2)));
        assert_eq!(r.memory_size_mb, Some(128));
        assert_eq!(r.max_memory_used_mb, Some(20));
        assert_eq!(r.init_duration, Some(Duration::from_micros(25500)));
        assert_eq!(LambdaUsage::find("no report here"), None);
    }

    #[test]
    fn warm_report_has_no_init_duration() {
        let r = LambdaUsage::find(
            "REPORT RequestId: x\tDuration: 3 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB",
        )
        .unwrap();
        assert_eq!(r.init_duration, None);
        assert_eq!(r.max_memory_used_mb, Some(9));
    }

    #[test]
    fn override_accepts_arns_and_pairs() {
        let t = Target::parse_override("arn:aws:lambda:eu-west-1:123456789012:function:hello:7, other-fn:3").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].function, "arn:aws:lambda:eu-west-1:123456789012:function:hello");
        assert_eq!(t[0].target_version, "7");
        assert_eq!(t[1].function, "other-fn");
        assert_eq!(t[1].target_version, "3");
    }

    #[test]
    fn override_rejects_unqualified() {
        for bad in [
            "hello",
            "arn:aws:lambda:eu-west-1:123456789012:function:hello",
            "hello:",
            "",
        ] {
            let e = Target::parse_override(bad).unwrap_err();
            assert!(e.to_string().contains("NAME:VERSION"), "{bad}: {e}");
        }
    }
}
