//! What a simulation runs, read from the template: the function, its hooks and their
//! binaries, the deployment configuration and the alarms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hook_sim::alarm::Alarm;
use hook_sim::deploy::{Phase, Trigger};
use hook_sim::schedule::TrafficRouting;

use hook_sim::iam::Identity;

/// How a function of the template runs here.
#[derive(Debug, Clone)]
pub(crate) struct FunctionRun {
    pub(crate) logical_id: String,
    pub(crate) name: String,
    pub(crate) binary: PathBuf,
    /// The binary's arguments (a runtime interface client's: the handler).
    pub(crate) args: Vec<String>,
    /// Lambda's runtime identifier (`provided.al2023`, `python3.12`).
    pub(crate) runtime: String,
    /// The handler (`bootstrap`, `app.handler`).
    pub(crate) handler: String,
    /// The workspace binary name, when it is one (for --build).
    pub(crate) cargo_bin: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    /// Environment variables naming an HTTP API of the template: (variable, API logical id).
    /// They point at hook-sim's API in front of the alias.
    pub(crate) api_vars: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) memory_mb: u32,
    /// `ReservedConcurrentExecutions`: at most this many invocations at once, beyond which
    /// Lambda throttles.
    pub(crate) reserved_concurrency: Option<usize>,
    /// The folder that stands for `/var/task` (the function's local `CodeUri`).
    pub(crate) task_root: Option<PathBuf>,
    /// Lambda's retries of a failed async invoke (`EventInvokeConfig.MaximumRetryAttempts`).
    pub(crate) max_retries: u32,
    /// The function's tags (SAM adds `lambda:createdBy`).
    pub(crate) tags: BTreeMap<String, String>,
}

impl FunctionRun {
    /// The function with its API variables set to `api_url`.
    pub(crate) fn with_api(&self, api_url: &str) -> FunctionRun {
        let mut f = self.clone();
        for (var, _) in &self.api_vars {
            f.env.push((var.clone(), api_url.to_string()));
        }
        f
    }
}

#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) function: FunctionRun,
    pub(crate) alias: String,
    pub(crate) config_name: String,
    pub(crate) routing: TrafficRouting,
    pub(crate) hooks: Vec<(Phase, FunctionRun)>,
    pub(crate) alarms: Vec<Alarm>,
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) warnings: Vec<String>,
    /// The role of each function (by name): the deployed one's and each hook's.
    pub(crate) roles: BTreeMap<String, Identity>,
    /// CodeDeploy's role: it invokes the hooks and publishes the notifications.
    pub(crate) codedeploy_role: Identity,
    /// The CodeDeploy application and deployment group, as CloudFormation names them.
    pub(crate) application: String,
    pub(crate) group: String,
    /// The alarms of the deployment hook-sim does not evaluate, and why.
    pub(crate) unsimulated_alarms: Vec<(String, String)>,
    /// The statements the template's `AWS::Lambda::Permission`s add to functions' own policies.
    pub(crate) grants: Vec<hook_sim::iam::ResourceGrant>,
}

pub(crate) const CURRENT: &str = "1";
pub(crate) const TARGET: &str = "2";
pub(crate) const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
pub(crate) const API_TYPES: [&str; 4] = [
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
];

pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
