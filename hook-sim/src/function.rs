//! Lambda functions as hook-sim runs them: versions, aliases, and what each version does.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::invocation::{InvokeOutcome, lambda_log};
use crate::runtime::RuntimeFunction;

/// What a function version does when invoked.
#[derive(Clone)]
pub enum Behavior {
    /// Return this JSON.
    Respond(Value),
    /// Fail as an unhandled error with this type and message.
    FunctionError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// Wait, then behave as the inner behavior.
    Delay(Duration, Box<Behavior>),
    /// Never return (the caller's timeout decides).
    Hang,
    /// Compute the behavior from the payload.
    Custom(Arc<dyn Fn(&Value) -> Behavior + Send + Sync>),
    /// Run a real binary through the Lambda Runtime API.
    Process(Arc<RuntimeFunction>),
}

impl fmt::Debug for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behavior::Respond(v) => f.debug_tuple("Respond").field(v).finish(),
            Behavior::FunctionError { error_type, message } => f
                .debug_struct("FunctionError")
                .field("error_type", error_type)
                .field("message", message)
                .finish(),
            Behavior::Delay(d, b) => f.debug_tuple("Delay").field(d).field(b).finish(),
            Behavior::Hang => f.write_str("Hang"),
            Behavior::Custom(_) => f.write_str("Custom(..)"),
            Behavior::Process(p) => f.debug_tuple("Process").field(&p.name()).finish(),
        }
    }
}

impl Behavior {
    /// The `hello` contract: `{"statusCode":200,"body":"{\"message\":\"Hello, NAME!\"}"}`.
    pub fn hello(version: &str) -> Behavior {
        let version = version.to_string();
        Behavior::Custom(Arc::new(move |payload| {
            let name = payload
                .pointer("/queryStringParameters/name")
                .or_else(|| payload.get("name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("world");
            Behavior::Respond(serde_json::json!({
                "statusCode": 200,
                "headers": {"content-type": "application/json"},
                "body": serde_json::json!({"message": format!("Hello, {name}!"), "version": version}).to_string(),
            }))
        }))
    }
}

/// Runs a scripted behavior.
pub(crate) async fn run_scripted(
    behavior: &Behavior,
    payload: &[u8],
    version: &str,
    request_id: &str,
) -> InvokeOutcome {
    let started = Instant::now();
    let input: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let mut current = behavior.clone();
    loop {
        match current {
            Behavior::Respond(v) => {
                return InvokeOutcome {
                    payload: serde_json::to_vec(&v).expect("JSON values serialize"),
                    function_error: None,
                    log: lambda_log(request_id, version, "", started.elapsed(), 128, 16, None),
                    executed_version: version.to_string(),
                };
            }
            Behavior::FunctionError { error_type, message } => {
                let body = serde_json::json!({"errorType": error_type, "errorMessage": message});
                let line = format!("ERROR Invoke Error {body}");
                return InvokeOutcome {
                    payload: body.to_string().into_bytes(),
                    function_error: Some("Unhandled".to_string()),
                    log: lambda_log(request_id, version, &line, started.elapsed(), 128, 16, None),
                    executed_version: version.to_string(),
                };
            }
            Behavior::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                current = *inner;
            }
            Behavior::Hang => std::future::pending::<()>().await,
            Behavior::Custom(f) => current = f(&input),
            Behavior::Process(p) => return p.invoke(payload.to_vec()).await,
        }
    }
}

/// Where an alias sends invokes: a version, and maybe a share to an additional version
/// (Lambda's weighted alias, as CodeDeploy shifts traffic). Two routings are equal when they
/// route alike, whatever they served.
#[derive(Debug, Clone)]
pub struct AliasRouting {
    /// The primary version.
    pub version: String,
    /// The additional version and the share of invokes it gets (0 to 1).
    pub additional: Option<(String, f64)>,
    served: u64,
}

impl PartialEq for AliasRouting {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.additional == other.additional
    }
}

impl AliasRouting {
    /// All invokes to `version`.
    pub fn to(version: &str) -> Self {
        AliasRouting {
            version: version.to_string(),
            additional: None,
            served: 0,
        }
    }

    /// A share `weight` of invokes to `additional`, the rest to `version`.
    pub fn weighted(version: &str, additional: &str, weight: f64) -> Self {
        AliasRouting {
            version: version.to_string(),
            additional: Some((additional.to_string(), weight.clamp(0.0, 1.0))),
            served: 0,
        }
    }

    /// The version of the next invoke. Deterministic: of every run of invokes the additional
    /// version gets its share exactly (weight 0.3: 3 of each 10), spread evenly.
    fn next(&mut self) -> String {
        let n = self.served;
        self.served += 1;
        match &self.additional {
            Some((extra, w)) if ((n + 1) as f64 * w).floor() > (n as f64 * w).floor() => extra.clone(),
            _ => self.version.clone(),
        }
    }
}

/// A function: its versions and aliases.
#[derive(Debug, Clone, Default)]
pub struct FunctionSetup {
    pub(crate) versions: BTreeMap<String, Behavior>,
    pub(crate) aliases: BTreeMap<String, AliasRouting>,
}

impl FunctionSetup {
    /// A function with no versions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a version (`"1"`, `"2"`, or `"$LATEST"`).
    pub fn version(mut self, version: &str, behavior: Behavior) -> Self {
        self.versions.insert(version.to_string(), behavior);
        self
    }

    /// Points an alias at a version.
    pub fn alias(mut self, alias: &str, version: &str) -> Self {
        self.aliases.insert(alias.to_string(), AliasRouting::to(version));
        self
    }

    /// Points an alias at `version`, with a share `weight` of invokes to `additional`.
    pub fn alias_weighted(mut self, alias: &str, version: &str, additional: &str, weight: f64) -> Self {
        self.aliases
            .insert(alias.to_string(), AliasRouting::weighted(version, additional, weight));
        self
    }

    /// The version a qualifier selects: none or `$LATEST` → `$LATEST` (or the highest
    /// version), an alias → its version, a version → itself.
    pub(crate) fn resolve(&mut self, qualifier: Option<&str>) -> Option<(String, Behavior)> {
        let version = match qualifier {
            None | Some("$LATEST") => {
                if self.versions.contains_key("$LATEST") {
                    "$LATEST".to_string()
                } else {
                    self.versions
                        .keys()
                        .filter_map(|v| v.parse::<u64>().ok())
                        .max()?
                        .to_string()
                }
            }
            Some(q) => match self.aliases.get_mut(q) {
                Some(routing) => routing.next(),
                None => q.to_string(),
            },
        };
        let behavior = self.versions.get(&version)?.clone();
        Some((version, behavior))
    }
}
