//! The lifecycle events of a Lambda deployment that hooks run in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lifecycle event of a Lambda deployment a hook runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Before any traffic moves to the target version: only direct invokes reach it.
    BeforeAllowTraffic,
    /// After all traffic has moved to the target version.
    AfterAllowTraffic,
}

impl Phase {
    /// The name CodeDeploy uses in the AppSpec `Hooks` section.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::BeforeAllowTraffic => "BeforeAllowTraffic",
            Phase::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phase name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase `{0}`: use BeforeAllowTraffic (before) or AfterAllowTraffic (after)")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    /// Accepts `BeforeAllowTraffic` / `AfterAllowTraffic` and the short forms `before` / `after`,
    /// in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "beforeallowtraffic" | "before" | "pretraffic" => Ok(Phase::BeforeAllowTraffic),
            "afterallowtraffic" | "after" | "posttraffic" => Ok(Phase::AfterAllowTraffic),
            _ => Err(UnknownPhase(s.to_string())),
        }
    }
}
