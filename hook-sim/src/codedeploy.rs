//! The CodeDeploy API (awsJson1_1) as hooks use it.
//!
//! `POST /` with `x-amz-target: CodeDeploy_20141006.<Operation>`; errors are HTTP 400
//! `{"__type": "...Exception", "message": "..."}`.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Where a deployment's AppSpec is stored, which decides what `GetDeployment` and
/// `GetApplicationRevision` return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionStorage {
    /// As CodeDeploy answers for a Lambda deployment (the default): `GetDeployment` gives only
    /// `revision.appSpecContent.sha256`, and `GetApplicationRevision` gives the AppSpec in
    /// `revision.string.content`. A hook must call `GetApplicationRevision` to read it.
    ApplicationRevision,
    /// `GetDeployment`'s `revision.appSpecContent.content` carries the AppSpec (a more
    /// generous answer than CodeDeploy's, for hooks that read it there).
    AppSpecContent,
    /// `GetDeployment`'s `revision.string.content` carries it (the deprecated String type).
    String,
    /// The revision is a bundle in S3: no AppSpec content anywhere.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

/// A deployment hook-sim knows.
#[derive(Debug, Clone)]
pub struct DeploymentSetup {
    /// `d-...`.
    pub id: String,
    /// Application name.
    pub application: String,
    /// Deployment group name.
    pub group: String,
    /// Deployment config name.
    pub config: String,
    /// The AppSpec text (JSON or YAML).
    pub appspec: String,
    /// How the revision is stored.
    pub storage: RevisionStorage,
}

impl DeploymentSetup {
    /// A Lambda deployment, its revision answered as CodeDeploy does
    /// ([`RevisionStorage::ApplicationRevision`]).
    pub fn new(id: &str, appspec: &str) -> Self {
        DeploymentSetup {
            id: id.to_string(),
            application: "hello-app".to_string(),
            group: "hello-group".to_string(),
            config: "CodeDeployDefault.LambdaAllAtOnce".to_string(),
            appspec: appspec.to_string(),
            storage: RevisionStorage::ApplicationRevision,
        }
    }

    /// Sets how the revision is stored.
    pub fn storage(mut self, storage: RevisionStorage) -> Self {
        self.storage = storage;
        self
    }

    /// Sets the deployment config name.
    pub fn config(mut self, config: &str) -> Self {
        self.config = config.to_string();
        self
    }
}

/// An AppSpec for one function shifting `alias` from `current` to `target`, with hooks
/// (`(lifecycle event, hook function)`), under the resource name `HelloFunction`.
pub fn lambda_appspec(function: &str, alias: &str, current: &str, target: &str, hooks: &[(&str, &str)]) -> String {
    appspec("HelloFunction", function, alias, current, target, hooks)
}

/// [`lambda_appspec`] with the resource named `resource` (SAM names it after the function's logical id).
pub(crate) fn appspec(
    resource: &str,
    function: &str,
    alias: &str,
    current: &str,
    target: &str,
    hooks: &[(&str, &str)],
) -> String {
    let hooks: Vec<Value> = hooks.iter().map(|(event, f)| json!({ *event: f })).collect();
    json!({
        // CloudFormation writes the version as a string; hand-made AppSpecs often as a number.
        "version": "0.0",
        "Resources": [{
            resource: {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Name": function, "Alias": alias, "CurrentVersion": current, "TargetVersion": target}
            }
        }],
        "Hooks": hooks,
    })
    .to_string()
}

/// A deployment's status, as `GetDeployment` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum DeploymentStatus {
    /// Created, not started.
    Created,
    /// Running its lifecycle.
    InProgress,
    /// Done: all traffic on the target version.
    Succeeded,
    /// A hook failed (or stayed silent): rolled back.
    Failed,
    /// Stopped by an alarm: rolled back.
    Stopped,
}

/// A lifecycle event's status, as CodeDeploy records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum LifecycleEventStatus {
    /// Not started.
    Pending,
    /// Started; waiting for the hook's report.
    InProgress,
    /// Reported `Succeeded`.
    Succeeded,
    /// Reported `Failed`, or CodeDeploy gave up waiting.
    Failed,
    /// Not run: no hook for it, or the deployment ended before it.
    Skipped,
}

macro_rules! status_names {
    ($ty:ident { $($variant:ident),* }) => {
        impl $ty {
            /// The name CodeDeploy uses.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => stringify!($variant)),* }
            }

            /// Reads CodeDeploy's name.
            pub fn parse(name: &str) -> Option<Self> {
                match name { $(stringify!($variant) => Some($ty::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

status_names!(DeploymentStatus {
    Created,
    InProgress,
    Succeeded,
    Failed,
    Stopped
});
status_names!(LifecycleEventStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped
});

/// The lifecycle events of a Lambda deployment's target, in order, as
/// `GetDeploymentTarget` lists them.
pub(crate) const LAMBDA_LIFECYCLE_EVENTS: [&str; 5] = [
    "Start",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
    "End",
];

/// One lifecycle event of the deployment's target.
#[derive(Debug, Clone)]
pub(crate) struct TargetEvent {
    pub(crate) name: &'static str,
    pub(crate) status: LifecycleEventStatus,
    pub(crate) start: Option<f64>,
    pub(crate) end: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) setup: DeploymentSetup,
    pub(crate) create_time: f64,
    /// When it ended (`completeTime`), on the simulated wall clock.
    pub(crate) complete_time: Option<f64>,
    /// When its target last changed (`lastUpdatedAt`).
    pub(crate) updated: f64,
    pub(crate) status: DeploymentStatus,
    /// Why it failed, when it did.
    pub(crate) error: Option<(String, String)>,
    /// execution id → lifecycle event name and status.
    pub(crate) executions: HashMap<String, Execution>,
    /// The target's lifecycle events ([`LAMBDA_LIFECYCLE_EVENTS`]).
    pub(crate) events: Vec<TargetEvent>,
    /// The share of the alias's traffic on the target version.
    pub(crate) target_weight: f64,
    /// `user`, or `codeDeployRollback` for a rollback.
    pub(crate) creator: &'static str,
    /// `rollbackInfo`, once a rollback involves it.
    pub(crate) rollback_info: Option<Value>,
}

impl Deployment {
    pub(crate) fn new(setup: DeploymentSetup, create_time: f64) -> Self {
        Deployment {
            setup,
            create_time,
            complete_time: None,
            updated: create_time,
            status: DeploymentStatus::InProgress,
            error: None,
            executions: HashMap::new(),
            events: LAMBDA_LIFECYCLE_EVENTS
                .iter()
                .map(|name| TargetEvent {
                    name,
                    status: LifecycleEventStatus::Pending,
                    start: None,
                    end: None,
                })
                .collect(),
            target_weight: 0.0,
            creator: "user",
            rollback_info: None,
        }
    }

    /// Sets a lifecycle event's status at `now` (the simulated wall clock), with its start
    /// and end times.
    pub(crate) fn set_event(&mut self, name: &str, status: LifecycleEventStatus, now: f64) {
        self.updated = now;
        if let Some(e) = self.events.iter_mut().find(|e| e.name == name) {
            if status == LifecycleEventStatus::InProgress
                || e.start.is_none() && status != LifecycleEventStatus::Skipped
            {
                e.start.get_or_insert(now);
            }
            if matches!(status, LifecycleEventStatus::Succeeded | LifecycleEventStatus::Failed) {
                e.end = Some(now);
            }
            e.status = status;
        }
    }

    /// The Lambda function the AppSpec deploys: name, alias, current and target version.
    fn function(&self) -> Option<(String, String, String, String)> {
        let spec: Value = serde_json::from_str(&self.setup.appspec)
            .or_else(|_| serde_saphyr::from_str(&self.setup.appspec))
            .ok()?;
        let props = spec["Resources"][0]
            .as_object()?
            .values()
            .next()?
            .get("Properties")?
            .clone();
        let text = |k: &str| match &props[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some((
            text("Name"),
            text("Alias"),
            text("CurrentVersion"),
            text("TargetVersion"),
        ))
    }

    fn target_id(&self) -> Option<String> {
        self.function().map(|(name, alias, ..)| format!("{name}:{alias}"))
    }
}

pub(crate) fn list_deployment_targets(
    deployments: &HashMap<String, Deployment>,
    body: &Value,
) -> Result<Value, ApiError> {
    let d = deployment(deployments, body)?;
    Ok(json!({ "targetIds": d.target_id().into_iter().collect::<Vec<_>>() }))
}

pub(crate) fn get_deployment_target(
    deployments: &HashMap<String, Deployment>,
    body: &Value,
) -> Result<Value, ApiError> {
    let d = deployment(deployments, body)?;
    let target_id = field(body, "targetId", "DeploymentTargetIdRequiredException")?;
    let (name, alias, current, target) = d
        .function()
        .filter(|_| d.target_id().as_deref() == Some(target_id))
        .ok_or_else(|| {
            ApiError::new(
                "DeploymentTargetDoesNotExistException",
                format!(
                    "The target {target_id} of deployment {} could not be found.",
                    d.setup.id
                ),
            )
        })?;
    let status = match d.status {
        DeploymentStatus::Succeeded => "Succeeded",
        DeploymentStatus::Failed | DeploymentStatus::Stopped => "Failed",
        DeploymentStatus::Created => "Pending",
        DeploymentStatus::InProgress => "InProgress",
    };
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|e| {
            let mut v = json!({"lifecycleEventName": e.name, "status": e.status.as_str()});
            if let Some(s) = e.start {
                v["startTime"] = json!(s);
            }
            if let Some(t) = e.end {
                v["endTime"] = json!(t);
            }
            v
        })
        .collect();
    Ok(json!({
        "deploymentTarget": {
            "deploymentTargetType": "LambdaTarget",
            "lambdaTarget": {
                "deploymentId": d.setup.id,
                "targetId": target_id,
                "targetArn": format!("arn:aws:lambda:{}:{}:function:{name}:{alias}", crate::account::REGION, crate::account::ACCOUNT_ID),
                "status": status,
                "lastUpdatedAt": d.updated,
                "lifecycleEvents": events,
                "lambdaFunctionInfo": {
                    "functionName": name,
                    "functionAlias": alias,
                    "currentVersion": current,
                    "targetVersion": target,
                    "targetVersionWeight": d.target_weight,
                },
            },
        },
    }))
}

fn deployment<'a>(deployments: &'a HashMap<String, Deployment>, body: &Value) -> Result<&'a Deployment, ApiError> {
    let id = field(body, "deploymentId", "DeploymentIdRequiredException")?;
    deployments.get(id).ok_or_else(|| {
        ApiError::new(
            "DeploymentDoesNotExistException",
            format!("The deployment {id} could not be found."),
        )
    })
}

#[derive(Debug, Clone)]
pub(crate) struct Execution {
    pub(crate) lifecycle_event: String,
    pub(crate) status: LifecycleEventStatus,
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A CodeDeploy error answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) error_type: String,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(error_type: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }
}

fn field<'a>(body: &'a Value, name: &str, missing: &str) -> Result<&'a str, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(missing, format!("{name} is required")))
}

fn revision_json(d: &Deployment, in_get_deployment: bool) -> Value {
    let content = &d.setup.appspec;
    let sha = sha256_hex(content);
    match &d.setup.storage {
        RevisionStorage::AppSpecContent => {
            json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": content, "sha256": sha}})
        }
        RevisionStorage::String => json!({"revisionType": "String", "string": {"content": content, "sha256": sha}}),
        RevisionStorage::ApplicationRevision if in_get_deployment => {
            json!({"revisionType": "AppSpecContent", "appSpecContent": {"sha256": sha}})
        }
        RevisionStorage::ApplicationRevision => {
            json!({"revisionType": "String", "string": {"content": content, "sha256": sha}})
        }
        RevisionStorage::S3 { bucket, key } => {
            json!({"revisionType": "S3", "s3Location": {"bucket": bucket, "key": key, "bundleType": "zip"}})
        }
    }
}

pub(crate) fn get_deployment(deployments: &HashMap<String, Deployment>, body: &Value) -> Result<Value, ApiError> {
    let id = field(body, "deploymentId", "DeploymentIdRequiredException")?;
    let d = deployments.get(id).ok_or_else(|| {
        ApiError::new(
            "DeploymentDoesNotExistException",
            format!("The deployment {id} could not be found."),
        )
    })?;
    let mut info = json!({
        "applicationName": d.setup.application,
        "deploymentGroupName": d.setup.group,
        "deploymentConfigName": d.setup.config,
        "deploymentId": d.setup.id,
        "revision": revision_json(d, true),
        "status": d.status,
        "createTime": d.create_time,
        "creator": d.creator,
        "computePlatform": "Lambda",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        // A Lambda deployment starts as it is created, and has one target.
        "startTime": d.create_time,
        "deploymentOverview": deployment_overview(d.status),
    });
    if let Some(t) = d.complete_time {
        info["completeTime"] = json!(t);
    }
    if let Some((code, message)) = &d.error {
        info["errorInformation"] = json!({"code": code, "message": message});
    }
    if let Some(rollback) = &d.rollback_info {
        info["rollbackInfo"] = rollback.clone();
    }
    Ok(json!({ "deploymentInfo": info }))
}

/// The ARN IAM authorizes `operation` on: the deployment group of the deployment it names
/// (`GetDeployment`, the deployment targets, `PutLifecycleEventHookExecutionStatus`, as CDK's
/// grants scope them), or the application (`GetApplicationRevision`). `None`: a deployment
/// hook-sim does not know (the operation answers that it does not exist), or an operation
/// hook-sim does not serve.
pub(crate) fn resource_of(deployments: &HashMap<String, Deployment>, operation: &str, body: &Value) -> Option<String> {
    let arn = |kind: &str, name: &str| {
        format!(
            "arn:aws:codedeploy:{}:{}:{kind}:{name}",
            crate::account::REGION,
            crate::account::ACCOUNT_ID
        )
    };
    match operation {
        "GetApplicationRevision" => Some(arn("application", body.get("applicationName")?.as_str()?)),
        "GetDeployment" | "GetDeploymentTarget" | "ListDeploymentTargets" | "PutLifecycleEventHookExecutionStatus" => {
            let d = deployments.get(body.get("deploymentId")?.as_str()?)?;
            Some(arn(
                "deploymentgroup",
                &format!("{}/{}", d.setup.application, d.setup.group),
            ))
        }
        _ => None,
    }
}

/// `deploymentOverview`: how many of the deployment's targets (a Lambda deployment has one) are
/// in each state.
pub(crate) fn deployment_overview(status: DeploymentStatus) -> Value {
    let mut overview = json!({"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0});
    let key = match status {
        DeploymentStatus::Created => "Pending",
        DeploymentStatus::InProgress => "InProgress",
        DeploymentStatus::Succeeded => "Succeeded",
        DeploymentStatus::Failed | DeploymentStatus::Stopped => "Failed",
    };
    overview[key] = json!(1);
    overview
}

pub(crate) fn get_application_revision(
    deployments: &HashMap<String, Deployment>,
    body: &Value,
) -> Result<Value, ApiError> {
    let app = field(body, "applicationName", "ApplicationNameRequiredException")?;
    let revision = body
        .get("revision")
        .filter(|r| r.is_object())
        .ok_or_else(|| ApiError::new("RevisionRequiredException", "revision is required"))?;
    let mut of_app = deployments.values().filter(|d| d.setup.application == app).peekable();
    if of_app.peek().is_none() {
        return Err(ApiError::new(
            "ApplicationDoesNotExistException",
            format!("No application found for name: {app}"),
        ));
    }
    let wanted_sha = revision
        .pointer("/appSpecContent/sha256")
        .or_else(|| revision.pointer("/string/sha256"))
        .and_then(Value::as_str);
    let wanted_s3 = revision.pointer("/s3Location/key").and_then(Value::as_str);
    let found = of_app.find(|d| {
        let sha = sha256_hex(&d.setup.appspec);
        match &d.setup.storage {
            RevisionStorage::S3 { key, .. } => wanted_s3 == Some(key.as_str()),
            _ => wanted_sha == Some(sha.as_str()),
        }
    });
    let d = found.ok_or_else(|| ApiError::new("RevisionDoesNotExistException", "The revision could not be found."))?;
    Ok(json!({
        "applicationName": app,
        "revision": revision_json(d, false),
        "revisionInfo": {
            "description": "Application revision registered by Deployment ID: ".to_string() + &d.setup.id,
            "deploymentGroups": [d.setup.group],
            "registerTime": d.create_time,
            "firstUsedTime": d.create_time,
            "lastUsedTime": d.create_time,
        }
    }))
}

/// Applies a status report; returns the response and the accepted (deployment, execution, status).
pub(crate) fn put_status(
    deployments: &mut HashMap<String, Deployment>,
    body: &Value,
) -> Result<(Value, (String, String, LifecycleEventStatus)), ApiError> {
    let id = field(body, "deploymentId", "DeploymentIdRequiredException")?;
    let exec_id = field(
        body,
        "lifecycleEventHookExecutionId",
        "InvalidLifecycleEventHookExecutionIdException",
    )?;
    let name = body.get("status").and_then(Value::as_str).unwrap_or_default();
    let status = match LifecycleEventStatus::parse(name) {
        Some(s @ (LifecycleEventStatus::Succeeded | LifecycleEventStatus::Failed)) => s,
        _ => {
            return Err(ApiError::new(
                "InvalidLifecycleEventHookExecutionStatusException",
                format!("Invalid lifecycle event hook execution status {name:?}: use Succeeded or Failed"),
            ));
        }
    };
    let d = deployments.get_mut(id).ok_or_else(|| {
        ApiError::new(
            "DeploymentDoesNotExistException",
            format!("The deployment {id} could not be found."),
        )
    })?;
    let e = d.executions.get_mut(exec_id).ok_or_else(|| {
        ApiError::new(
            "InvalidLifecycleEventHookExecutionIdException",
            "A lifecycle event hook execution id is invalid or does not belong to this deployment.",
        )
    })?;
    if !matches!(
        e.status,
        LifecycleEventStatus::Pending | LifecycleEventStatus::InProgress
    ) {
        return Err(ApiError::new(
            "LifecycleEventAlreadyCompletedException",
            format!(
                "The lifecycle event {} is already completed with status {}.",
                e.lifecycle_event, e.status
            ),
        ));
    }
    e.status = status;
    Ok((
        json!({"lifecycleEventHookExecutionId": exec_id}),
        (id.to_string(), exec_id.to_string(), status),
    ))
}
