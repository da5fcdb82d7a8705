//! What a simulation runs, read from the template: the function, its hooks and their
//! binaries, the deployment configuration and the alarms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hook_sim::alarm::Alarm;
use hook_sim::deploy::{HookEvent, Trigger};
use hook_sim::schedule::TrafficRouting;

use hook_sim::iam::Identity;

/// How a function of the template runs here.
#[derive(Debug, Clone)]
pub(super) struct FunctionRun {
    pub(super) logical_id: String,
    pub(super) name: String,
    pub(super) binary: PathBuf,
    /// The binary's arguments (a runtime interface client's: the handler).
    pub(super) args: Vec<String>,
    /// Lambda's runtime identifier (`provided.al2023`, `python3.12`).
    pub(super) runtime: String,
    /// The handler (`bootstrap`, `app.handler`).
    pub(super) handler: String,
    /// The workspace binary name, when it is one (for --build).
    pub(super) cargo_bin: Option<String>,
    pub(super) env: Vec<(String, String)>,
    /// Environment variables naming an HTTP API of the template: (variable, API logical id).
    /// They point at hook-sim's API in front of the alias.
    pub(super) api_vars: Vec<(String, String)>,
    pub(super) timeout: Duration,
    pub(super) memory_mb: u32,
    /// `ReservedConcurrentExecutions`: at most this many invocations at once, beyond which
    /// Lambda throttles.
    pub(super) reserved_concurrency: Option<usize>,
    /// The folder that stands for `/var/task` (the function's local `CodeUri`).
    pub(super) task_root: Option<PathBuf>,
    /// Lambda's retries of a failed async invoke (`EventInvokeConfig.MaximumRetryAttempts`).
    pub(super) max_retries: u32,
    /// The function's tags (SAM adds `lambda:createdBy`).
    pub(super) tags: BTreeMap<String, String>,
}

impl FunctionRun {
    /// The function with its API variables set to `api_url`.
    pub(super) fn with_api(&self, api_url: &str) -> FunctionRun {
        let mut f = self.clone();
        for (var, _) in &self.api_vars {
            f.env.push((var.clone(), api_url.to_string()));
        }
        f
    }
}

#[derive(Debug)]
pub(super) struct Setup {
    pub(super) function: FunctionRun,
    pub(super) alias: String,
    pub(super) config_name: String,
    pub(super) routing: TrafficRouting,
    pub(super) hooks: Vec<(HookEvent, FunctionRun)>,
    pub(super) alarms: Vec<Alarm>,
    pub(super) triggers: Vec<Trigger>,
    pub(super) warnings: Vec<String>,
    /// The role of each function (by name): the deployed one's and each hook's.
    pub(super) roles: BTreeMap<String, Identity>,
    /// CodeDeploy's role: it invokes the hooks and publishes the notifications.
    pub(super) codedeploy_role: Identity,
    /// The CodeDeploy application and deployment group, as CloudFormation names them.
    pub(super) application: String,
    pub(super) group: String,
    /// The alarms of the deployment hook-sim does not evaluate, and why.
    pub(super) unsimulated_alarms: Vec<(String, String)>,
}

pub(super) const CURRENT: &str = "1";
pub(super) const TARGET: &str = "2";
pub(super) const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
pub(super) const API_TYPES: [&str; 4] = [
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
];

pub(super) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
