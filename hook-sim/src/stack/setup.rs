//! What a rehearsal runs, read from a stack's template: the function, its hooks and their
//! binaries, the deployment configuration and the alarms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::alarm::Alarm;
use crate::deploy::{Phase, Trigger};
use crate::schedule::TrafficRouting;

use crate::iam::Identity;

/// How a function of the template runs here.
#[derive(Debug, Clone)]
pub struct FunctionRun {
    /// The logical id in the template.
    pub logical_id: String,
    /// The function name (`FunctionName`, or the one CloudFormation gives it).
    pub name: String,
    /// What runs it: a binary, or the Python or Node.js that runs its handler.
    pub binary: PathBuf,
    /// The binary's arguments (a runtime interface client's: the handler).
    pub args: Vec<String>,
    /// Lambda's runtime identifier (`provided.al2023`, `python3.12`).
    pub runtime: String,
    /// The handler (`bootstrap`, `app.handler`).
    pub handler: String,
    /// The workspace binary name, when it is one (for --build).
    pub cargo_bin: Option<String>,
    /// Its environment variables.
    pub env: Vec<(String, String)>,
    /// Environment variables naming an HTTP API of the template: (variable, API logical id).
    /// They point at hook-sim's API in front of the alias.
    pub api_vars: Vec<(String, String)>,
    /// Its `Timeout`.
    pub timeout: Duration,
    /// Its `MemorySize`, in MB.
    pub memory_mb: u32,
    /// `ReservedConcurrentExecutions`: at most this many invocations at once, beyond which
    /// Lambda throttles.
    pub reserved_concurrency: Option<usize>,
    /// The folder that stands for `/var/task` (the function's local `CodeUri`).
    pub task_root: Option<PathBuf>,
    /// Lambda's retries of a failed async invoke (`EventInvokeConfig.MaximumRetryAttempts`).
    pub max_retries: u32,
    /// The function's tags (SAM adds `lambda:createdBy`).
    pub tags: BTreeMap<String, String>,
}

impl FunctionRun {
    /// The function with its API variables set to `api_url`.
    pub fn with_api(&self, api_url: &str) -> FunctionRun {
        let mut f = self.clone();
        for (var, _) in &self.api_vars {
            f.env.push((var.clone(), api_url.to_string()));
        }
        f
    }
}

#[derive(Debug)]
/// What a stack deploys and how, read from its template: what a rehearsal runs.
pub struct Setup {
    /// The function the deployment ships.
    pub function: FunctionRun,
    /// The alias traffic shifts on.
    pub alias: String,
    /// The deployment configuration's name.
    pub config_name: String,
    /// How its traffic shifts.
    pub routing: TrafficRouting,
    /// The hooks, by the lifecycle event each runs in.
    pub hooks: Vec<(Phase, FunctionRun)>,
    /// The alarms CodeDeploy watches (those hook-sim evaluates).
    pub alarms: Vec<Alarm>,
    /// The notification triggers.
    pub triggers: Vec<Trigger>,
    /// What the reading noticed and the user should know.
    pub warnings: Vec<String>,
    /// The role of each function (by name): the deployed one's and each hook's.
    pub roles: BTreeMap<String, Identity>,
    /// CodeDeploy's role: it invokes the hooks and publishes the notifications.
    pub codedeploy_role: Identity,
    /// The CodeDeploy application, as CloudFormation names it.
    pub application: String,
    /// The deployment group, as CloudFormation names it.
    pub group: String,
    /// The alarms of the deployment hook-sim does not evaluate, and why.
    pub unsimulated_alarms: Vec<(String, String)>,
    /// The statements the template's `AWS::Lambda::Permission`s add to functions' own policies.
    pub grants: Vec<crate::iam::ResourceGrant>,
}

/// How a stack is read: which function, which binaries run its functions, and what runs a
/// Python or Node.js handler (`hook-sim simulate`'s options).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The function to deploy (default: the one with an enabled deployment preference).
    pub function: Option<String>,
    /// The binary of a function, by logical id (`--bin ID=PATH`).
    pub bins: Vec<(String, String)>,
    /// The workspace binaries are built first: their `target/release` paths are used even
    /// before they exist.
    pub build: bool,
    /// The Python that runs `python3.x` functions.
    pub python: PathBuf,
    /// The Node.js that runs `nodejs*` functions.
    pub node: PathBuf,
    /// Only reading (`check`): a function whose binary cannot be told is no error.
    pub reading_only: bool,
}

/// The version traffic moves away from.
pub const CURRENT: &str = "1";
/// The version traffic moves to.
pub const TARGET: &str = "2";
/// The resource types of a Lambda function.
pub const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
/// The resource types of an API in front of a function.
pub const API_TYPES: [&str; 4] = [
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
];

/// `a, b, c`, or `none`.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
