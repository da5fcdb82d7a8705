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
    qualifier: Option<&str>,
    request_id: &str,
) -> InvokeOutcome {
    let started = Instant::now();
    let input: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let mut current = behavior.clone();
    loop {
        match current {
            Behavior::Respond(v) => {
                let took = started.elapsed();
                return InvokeOutcome {
                    payload: serde_json::to_vec(&v).expect("JSON values serialize"),
                    function_error: None,
                    log: lambda_log(request_id, version, "", took, 128, 16, None),
                    executed_version: version.to_string(),
                    throttled: false,
                    duration: took,
                };
            }
            Behavior::FunctionError { error_type, message } => {
                let took = started.elapsed();
                return InvokeOutcome::function_error(version, request_id, &error_type, &message, took);
            }
            Behavior::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                current = *inner;
            }
            Behavior::Hang => std::future::pending::<()>().await,
            Behavior::Custom(f) => current = f(&input),
            Behavior::Process(p) => return p.invoke_as(payload.to_vec(), qualifier).await,
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

    /// The version of the next invoke. Without a seed, deterministic: of every run of invokes
    /// the additional version gets its share exactly (weight 0.3: 3 of each 10), spread evenly.
    /// With one, at random as Lambda routes (each invoke independently, so a low-traffic
    /// canary may get more or fewer than its share): the draw is a function of the seed and
    /// `key` (the request's number, for the simulator's own traffic) or, without a key, of
    /// the alias's invoke count.
    fn next(&mut self, seed: Option<u64>, key: Option<u64>) -> String {
        let n = self.served;
        self.served += 1;
        let Some((extra, w)) = &self.additional else {
            return self.version.clone();
        };
        let to_extra = match seed {
            None => ((n + 1) as f64 * w).floor() > (n as f64 * w).floor(),
            Some(seed) => {
                let stream = key.map_or(splitmix64(n ^ 0x05EE_D0FA_11A5), splitmix64);
                let draw = splitmix64(seed ^ stream);
                ((draw >> 11) as f64 / (1u64 << 53) as f64) < *w
            }
        };
        if to_extra { extra.clone() } else { self.version.clone() }
    }
}

/// A function: its versions and aliases.
#[derive(Debug, Clone, Default)]
pub struct FunctionSetup {
    pub(crate) versions: BTreeMap<String, Behavior>,
    pub(crate) aliases: BTreeMap<String, AliasRouting>,
    /// The function's tags (Lambda tags functions, not versions).
    pub(crate) tags: BTreeMap<String, String>,
    /// Each version's configured environment, as `GetFunction` shows it.
    pub(crate) environment: BTreeMap<String, BTreeMap<String, String>>,
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

    /// Tags the function.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets a variable of a version's configured environment (what `GetFunction` shows; a
    /// runtime function's process gets its environment from its own setup).
    pub fn version_env(mut self, version: &str, key: &str, value: &str) -> Self {
        self.environment
            .entry(version.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Tags the function with each of `tags`.
    pub fn tags(mut self, tags: &BTreeMap<String, String>) -> Self {
        self.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// Sets each of `env` in a version's configured environment (see [`version_env`](Self::version_env)).
    pub fn version_environment(mut self, version: &str, env: &BTreeMap<String, String>) -> Self {
        self.environment
            .entry(version.to_string())
            .or_default()
            .extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
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
    pub(crate) fn resolve(
        &mut self,
        qualifier: Option<&str>,
        seed: Option<u64>,
        key: Option<u64>,
    ) -> Option<(String, Behavior)> {
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
                Some(routing) => routing.next(seed, key),
                None => q.to_string(),
            },
        };
        let behavior = self.versions.get(&version)?.clone();
        Some((version, behavior))
    }
}

/// SplitMix64: a well-mixed 64-bit function of `x` (deterministic routing draws).
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(seed: Option<u64>, keyed: bool, n: u64) -> Vec<String> {
        let mut r = AliasRouting::weighted("1", "2", 0.3);
        (0..n).map(|k| r.next(seed, keyed.then_some(k))).collect()
    }

    #[test]
    fn without_a_seed_each_version_gets_its_share_exactly() {
        let v = shares(None, false, 10);
        assert_eq!(v.iter().filter(|v| *v == "2").count(), 3);
    }

    #[test]
    fn with_a_seed_routing_is_random_and_replayable() {
        let a = shares(Some(7), true, 10_000);
        let to_new = a.iter().filter(|v| *v == "2").count() as f64 / 10_000.0;
        assert!((0.28..0.32).contains(&to_new), "{to_new}");
        assert_eq!(a, shares(Some(7), true, 10_000), "the same seed routes alike");
        assert_ne!(a, shares(Some(8), true, 10_000));
        // Small samples vary as Lambda's do: some runs of ten give the canary none or half.
        let per_ten: Vec<usize> = a.chunks(10).map(|c| c.iter().filter(|v| *v == "2").count()).collect();
        assert!(per_ten.contains(&0) && per_ten.iter().any(|n| *n >= 5), "{per_ten:?}");
    }
}
