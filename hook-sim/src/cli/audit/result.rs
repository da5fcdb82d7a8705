//! The whole audit as data: what `--json` writes and `--merge` reads.

use serde::{Deserialize, Serialize};

use super::catalogue::Entry;
use super::verdict::RunResult;

/// The whole audit: what was asked, and every run — what `--json` writes and `--merge` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditResult {
    /// `hook-sim-audit/1`.
    pub(crate) schema: String,
    pub(crate) template: String,
    pub(crate) function: String,
    pub(crate) alias: String,
    pub(crate) config: String,
    pub(crate) routing: String,
    pub(crate) hooks: Vec<String>,
    pub(crate) alarms: Vec<String>,
    pub(crate) traffic: TrafficModel,
    pub(crate) seeds: Vec<u64>,
    /// `[K, N]`: the shards this result holds (`[1, 1]`: all of it).
    pub(crate) shards: Vec<[u32; 2]>,
    pub(crate) catalogue: Vec<Entry>,
    /// What every verdict assumes.
    pub(crate) assumptions: Vec<String>,
    /// Every run, in catalogue order then seed order; the healthy version's first.
    pub(crate) runs: Vec<RunResult>,
}

/// The synthetic traffic every verdict depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrafficModel {
    pub(crate) requests_per_minute: u32,
    pub(crate) paths: Vec<String>,
    /// How long the current version served it before the deployment, in seconds.
    #[serde(default)]
    pub(crate) history_seconds: u64,
}
