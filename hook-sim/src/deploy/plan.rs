//! What a deployment is: the function, its versions, hooks, configuration, alarms, traffic.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Behavior;
use crate::alarm::Alarm;
use crate::schedule::TrafficRouting;

pub use hook_spec::Phase;

/// A hook of the deployment: a Lambda function, usually a real binary ([`Behavior::Process`]).
#[derive(Debug, Clone)]
pub struct HookPlan {
    /// When it runs.
    pub event: Phase,
    /// Its function name (real hooks are named `CodeDeployHook_*`).
    pub function: String,
    /// What it does.
    pub behavior: Behavior,
    /// Lambda's retries of a failed async invoke (`EventInvokeConfig.MaximumRetryAttempts`,
    /// 0 to 2; Lambda's default 2).
    pub max_retries: u32,
}

/// Synthetic traffic: HTTP API events (`GET /hello?name=user-N`) through the alias, at a
/// steady pace of simulated time (so the same at every speed).
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Requests per simulated minute.
    pub per_minute: u32,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The paths requested, in turn (`/hello` by default); a path may carry its own query.
    pub paths: Vec<String>,
}

impl Traffic {
    /// Simulated time between two requests.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }
}

impl Default for Traffic {
    /// 100 requests a simulated minute of `GET /hello`, 16 in flight at most.
    fn default() -> Self {
        Traffic {
            per_minute: 100,
            concurrency: 16,
            paths: vec!["/hello".to_string()],
        }
    }
}

/// One deployment to run.
#[derive(Debug, Clone)]
pub struct DeploymentPlan {
    /// `d-...`.
    pub deployment_id: String,
    /// The CodeDeploy application.
    pub application: String,
    /// The deployment group.
    pub group: String,
    /// The resource name in the AppSpec (the function's logical id).
    pub resource: String,
    /// The function name.
    pub function: String,
    /// The alias whose traffic shifts.
    pub alias: String,
    /// The version the alias is on.
    pub current_version: String,
    /// What the current version does.
    pub current: Behavior,
    /// The version the alias moves to.
    pub target_version: String,
    /// What the target version does.
    pub target: Behavior,
    /// The deployment configuration's name.
    pub config_name: String,
    /// Its traffic routing.
    pub routing: TrafficRouting,
    /// The hooks, at most one an event.
    pub hooks: Vec<HookPlan>,
    /// The alarms.
    pub alarms: Vec<Alarm>,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// How long CodeDeploy waits for a hook's status (simulated; one hour).
    pub hook_timeout: Duration,
    /// Synthetic traffic, or none.
    pub traffic: Option<Traffic>,
    /// Weighted alias routing at random from this seed, as Lambda routes; `None`: each
    /// version gets its share exactly (3 of every 10 at 30 %).
    pub seed: Option<u64>,
    /// The deployment group's notification triggers (SNS).
    pub triggers: Vec<Trigger>,
    /// The function's tags, as `GetFunction` answers them.
    pub tags: BTreeMap<String, String>,
    /// CodeDeploy's own role (the deployment group's service role): when set, invoking each
    /// hook and publishing each notification is authorized by its policies, as in AWS.
    pub codedeploy_role: Option<crate::iam::Identity>,
    /// Each version's configured environment (current, target), as `GetFunction` answers it.
    pub environments: (BTreeMap<String, String>, BTreeMap<String, String>),
    /// How long the current version serves the traffic before the deployment starts, at least
    /// (the alarms' look-back adds to it): the figures a watching metrics check compares
    /// with. Zero by default.
    pub history: Duration,
}

/// A deployment event CodeDeploy publishes to a trigger's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TriggerEvent {
    /// The deployment started.
    DeploymentStart,
    /// It succeeded.
    DeploymentSuccess,
    /// It failed (a hook reported `Failed` or stayed silent).
    DeploymentFailure,
    /// It was stopped (an alarm).
    DeploymentStop,
    /// It was rolled back.
    DeploymentRollback,
}

impl TriggerEvent {
    /// Every event a Lambda deployment publishes.
    pub const ALL: [TriggerEvent; 5] = [
        TriggerEvent::DeploymentStart,
        TriggerEvent::DeploymentSuccess,
        TriggerEvent::DeploymentFailure,
        TriggerEvent::DeploymentStop,
        TriggerEvent::DeploymentRollback,
    ];

    /// Its name in `TriggerEvents`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerEvent::DeploymentStart => "DeploymentStart",
            TriggerEvent::DeploymentSuccess => "DeploymentSuccess",
            TriggerEvent::DeploymentFailure => "DeploymentFailure",
            TriggerEvent::DeploymentStop => "DeploymentStop",
            TriggerEvent::DeploymentRollback => "DeploymentRollback",
        }
    }
}

/// A notification trigger of the deployment group (`TriggerConfigurations`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trigger {
    /// `TriggerName`.
    pub name: String,
    /// `TriggerEvents`.
    pub events: Vec<TriggerEvent>,
    /// `TriggerTargetArn`: the SNS topic.
    pub topic_arn: String,
}

impl DeploymentPlan {
    /// Alias `live` of `function` from version 1 to 2, all at once, no hooks or alarms, real
    /// time, default traffic.
    pub fn new(function: &str, current: Behavior, target: Behavior) -> Self {
        DeploymentPlan {
            deployment_id: new_deployment_id(),
            application: "hook-sim-app".to_string(),
            group: "hook-sim-group".to_string(),
            resource: "Function".to_string(),
            function: function.to_string(),
            alias: "live".to_string(),
            current_version: "1".to_string(),
            current,
            target_version: "2".to_string(),
            target,
            config_name: "CodeDeployDefault.LambdaAllAtOnce".to_string(),
            routing: TrafficRouting::AllAtOnce,
            hooks: Vec::new(),
            alarms: Vec::new(),
            speed: 1.0,
            hook_timeout: Duration::from_secs(3600),
            traffic: Some(Traffic::default()),
            seed: None,
            triggers: Vec::new(),
            tags: BTreeMap::new(),
            codedeploy_role: None,
            environments: (BTreeMap::new(), BTreeMap::new()),
            history: Duration::ZERO,
        }
    }

    /// Adds a notification trigger.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.triggers.push(trigger);
        self
    }

    /// Routes the weighted alias at random from `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the deployment configuration.
    pub fn config(mut self, name: &str, routing: TrafficRouting) -> Self {
        self.config_name = name.to_string();
        self.routing = routing;
        self
    }

    /// Adds a hook (replacing one of the same event).
    pub fn hook(mut self, event: Phase, function: &str, behavior: Behavior) -> Self {
        self.hooks.retain(|h| h.event != event);
        self.hooks.push(HookPlan {
            event,
            function: function.to_string(),
            behavior,
            max_retries: 2,
        });
        self
    }

    /// Sets how many times Lambda retries the hook of `event` after a function error (its
    /// `EventInvokeConfig.MaximumRetryAttempts`, at most 2).
    pub fn hook_retries(mut self, event: Phase, retries: u32) -> Self {
        for h in self.hooks.iter_mut().filter(|h| h.event == event) {
            h.max_retries = retries.min(2);
        }
        self
    }

    /// Adds an alarm.
    pub fn alarm(mut self, alarm: Alarm) -> Self {
        self.alarms.push(alarm);
        self
    }

    /// Sets the time scale: simulated seconds per real second.
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    /// Sets the synthetic traffic.
    pub fn traffic(mut self, traffic: Option<Traffic>) -> Self {
        self.traffic = traffic;
        self
    }

    /// The hook of an event.
    pub fn hook_of(&self, event: Phase) -> Option<&HookPlan> {
        self.hooks.iter().find(|h| h.event == event)
    }

    /// The AppSpec CodeDeploy holds for this deployment.
    pub fn appspec(&self) -> String {
        let hooks: Vec<(&str, &str)> = self
            .hooks
            .iter()
            .map(|h| (h.event.as_str(), h.function.as_str()))
            .collect();
        crate::codedeploy::appspec(
            &self.resource,
            &self.function,
            &self.alias,
            &self.current_version,
            &self.target_version,
            &hooks,
        )
    }
}

pub(super) fn new_deployment_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    // splitmix64 of the clock and a counter: every character varies.
    let mut x = nanos.wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = String::from("d-");
    for _ in 0..9 {
        id.push(ALPHABET[(x % 36) as usize] as char);
        x /= 36;
    }
    id
}
