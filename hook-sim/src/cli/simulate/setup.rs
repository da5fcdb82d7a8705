//! What a simulation runs, read from the template: the function, its hooks and their
//! binaries, the deployment configuration and the alarms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hook_sim::alarm::{
    Alarm, AlarmSource, Comparison, CustomMetric, Expression, Metric, MetricQuery, MissingData, Statistic,
};
use hook_sim::deploy::{HookEvent, Trigger, TriggerEvent};
use hook_sim::schedule::{PREDEFINED, TrafficRouting};
use hook_sim::stack::{Template, TemplateError, scalar_text};
use serde_json::{Value, json};

use hook_sim::iam::Identity;

use super::StackArgs;
use super::roles;

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

pub(super) fn read_setup(
    t: &Template,
    others: &[Template],
    args: &StackArgs,
    config: Option<&str>,
    hooks_too: bool,
    base: &Path,
) -> Result<Setup, TemplateError> {
    // Plain CloudFormation (what `sls package` and `cdk synth` emit): an alias whose
    // UpdatePolicy hands its updates to CodeDeploy.
    let cfn = code_deploy_aliases(t);
    let sam = functions_with_preference(t);
    let chosen_cfn = match &args.function {
        Some(id) if !sam.contains(id) => cfn.iter().find(|(_, f)| f == id).map(|(a, _)| a.clone()),
        Some(_) => None,
        None if sam.is_empty() && cfn.len() == 1 => Some(cfn[0].0.clone()),
        None if sam.is_empty() && cfn.len() > 1 => {
            return Err(TemplateError(format!(
                "{} has several aliases deployed by CodeDeploy (functions {}): choose one with --function",
                t.path.display(),
                cfn.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        None => None,
    };
    if let Some(alias_id) = chosen_cfn {
        return read_cfn_setup(t, others, args, config, hooks_too, base, &alias_id);
    }
    let mut warnings = Vec::new();
    let logical_id = match &args.function {
        Some(id) => {
            if !t.resource_type(id).is_some_and(|ty| FUNCTION_TYPES.contains(&ty)) {
                let functions = functions_with_preference(t);
                return Err(TemplateError(format!(
                    "--function {id}: {} has no function {id} (functions with a DeploymentPreference: {})",
                    t.path.display(),
                    list(&functions)
                )));
            }
            id.clone()
        }
        None => match functions_with_preference(t).as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(TemplateError(format!(
                    "{} has no function with an enabled DeploymentPreference: nothing to deploy gradually",
                    t.path.display()
                )));
            }
            many => {
                return Err(TemplateError(format!(
                    "{} has several functions with a DeploymentPreference ({}): choose one with --function",
                    t.path.display(),
                    many.join(", ")
                )));
            }
        },
    };
    let preference = t
        .function_property(&logical_id, "DeploymentPreference")
        .ok_or_else(|| {
            TemplateError(format!(
                "{logical_id} has no DeploymentPreference: CodeDeploy does not deploy it gradually"
            ))
        })?;
    if let Some(enabled) = preference.get("Enabled")
        && t.eval(enabled)? == json!(false)
    {
        return Err(TemplateError(format!(
            "the DeploymentPreference of {logical_id} is disabled (Enabled: false)"
        )));
    }
    let alias = t
        .function_property(&logical_id, "AutoPublishAlias")
        .map(|a| t.eval(&a).map(|v| scalar_text(&v)))
        .transpose()?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            TemplateError(format!(
                "{logical_id} has a DeploymentPreference but no AutoPublishAlias: SAM needs the alias whose traffic shifts"
            ))
        })?;
    let function = function_run(t, &logical_id, args, base)?;

    let (config_name, routing) = match config {
        Some(name) => config_by_name(t, name)?,
        None => {
            let ty = preference
                .get("Type")
                .ok_or_else(|| TemplateError(format!("the DeploymentPreference of {logical_id} has no Type")))?;
            match t.referenced(ty)? {
                Some(id) => config_resource(t, id)?,
                None => config_by_name(t, &scalar_text(&t.eval(ty)?))?,
            }
        }
    };

    let mut hooks = Vec::new();
    let mut roles = BTreeMap::new();
    roles.insert(
        function.name.clone(),
        roles::function_role(t, &logical_id, &function.name)?.identity,
    );
    let codedeploy = roles::sam_codedeploy_role(t, &preference)?;
    warnings.extend(codedeploy.warnings.iter().map(|w| format!("CodeDeploy's role: {w}")));
    if let Some(h) = preference.get("Hooks").filter(|_| hooks_too) {
        for (key, event) in [
            ("PreTraffic", HookEvent::BeforeAllowTraffic),
            ("PostTraffic", HookEvent::AfterAllowTraffic),
        ] {
            let Some(v) = h.get(key) else { continue };
            let (ht, id) = hook_source(t, others, v, base).map_err(|e| match e {
                Some(e) => e,
                None => TemplateError(format!(
                    "Hooks.{key} of {logical_id} must be !Ref of a function in the template, or !ImportValue of \
                     one another template exports (--with TEMPLATE), to be simulated, not {v}"
                )),
            })?;
            hooks.push((event, read_hook(ht.0, &id, args, &ht.1, &mut roles, &mut warnings)?));
        }
    }

    // Settings that change what AWS does and that the simulator does not model: said, never
    // silently ignored.
    for (key, what) in [(
        "PassthroughCondition",
        "the condition deciding whether the pre-traffic hook and alarms are passed through",
    )] {
        if preference.get(key).is_some() {
            warnings.push(format!(
                "DeploymentPreference.{key} of {logical_id} is not simulated: {what}"
            ));
        }
    }
    for (key, what) in [(
        "ProvisionedConcurrencyConfig",
        "CodeDeploy waits for the new version's provisioned concurrency before shifting; here it starts at once",
    )] {
        if t.function_property(&logical_id, key).is_some() {
            warnings.push(format!("{key} of {logical_id} is not simulated: {what}"));
        }
    }

    let mut unsimulated_alarms = Vec::new();
    let alarms = match preference.get("Alarms") {
        Some(list) => read_alarms(
            t,
            t.pick(list)?.as_array().cloned().unwrap_or_default(),
            &function.name,
            &mut warnings,
            &mut unsimulated_alarms,
        )?,
        None => Vec::new(),
    };

    let triggers = match preference.get("TriggerConfigurations") {
        Some(v) => triggers(t, v, &logical_id, &mut warnings)?,
        None => Vec::new(),
    };
    let application = scalar_text(&t.eval(&json!({"Ref": "ServerlessDeploymentApplication"}))?);
    let group = format!("{}-{logical_id}DeploymentGroup", t.stack_name);
    Ok(Setup {
        function,
        alias,
        config_name,
        routing,
        hooks,
        alarms,
        triggers,
        warnings,
        roles,
        codedeploy_role: codedeploy.identity,
        application,
        group,
        unsimulated_alarms,
    })
}

/// The template and logical id of the hook function `v` names: `!Ref` of one in `t`, or
/// `!ImportValue` of an export of one of `others` (with that template's folder). `Err(None)`:
/// neither form.
fn hook_source<'a>(
    t: &'a Template,
    others: &'a [Template],
    v: &Value,
    base: &Path,
) -> Result<((&'a Template, PathBuf), String), Option<TemplateError>> {
    if let Some(id) = t.referenced(v).map_err(Some)? {
        return Ok(((t, base.to_path_buf()), id.to_string()));
    }
    let Some(name) = t.imported(v).map_err(Some)? else {
        return Err(None);
    };
    let mut known = Vec::new();
    for o in others {
        let (found, names) = o.export(&name).map_err(Some)?;
        if let Some(id) = found {
            let dir = o.path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(((o, dir), id));
        }
        known.extend(names);
    }
    Err(Some(TemplateError(if others.is_empty() {
        format!("the hook is imported (Fn::ImportValue {name}): give the template that exports it with --with TEMPLATE")
    } else {
        format!(
            "Fn::ImportValue {name}: no template given with --with exports it (their exports: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })))
}

/// A hook function of the template, with its role (and what of the role cannot be read).
fn read_hook(
    t: &Template,
    id: &str,
    args: &StackArgs,
    base: &Path,
    roles: &mut BTreeMap<String, Identity>,
    warnings: &mut Vec<String>,
) -> Result<FunctionRun, TemplateError> {
    let hook = function_run(t, id, args, base)?;
    let role = roles::function_role(t, id, &hook.name)?;
    warnings.extend(role.warnings.into_iter().map(|w| format!("hook {id}: {w}")));
    roles.insert(hook.name.clone(), role.identity);
    Ok(hook)
}

/// The alarms a list names (`!Ref` of alarms in the template; others are warnings).
fn read_alarms(
    t: &Template,
    entries: Vec<Value>,
    function: &str,
    warnings: &mut Vec<String>,
    unsimulated: &mut Vec<(String, String)>,
) -> Result<Vec<Alarm>, TemplateError> {
    let mut alarms = Vec::new();
    for entry in entries {
        match t.referenced(&entry)? {
            Some(id) => match alarm(t, id, function)? {
                AlarmReading::Simulated(a) => alarms.push(a),
                AlarmReading::NotSimulated(why) => {
                    warnings.push(format!("alarm {id} is not simulated: {why}"));
                    unsimulated.push((id.to_string(), why));
                }
            },
            None => {
                let v = t.eval(&entry)?;
                if !v.is_null() {
                    warnings.push(format!(
                        "alarm {} is not defined in the template: it is not simulated",
                        scalar_text(&v)
                    ));
                }
            }
        }
    }
    Ok(alarms)
}

/// `AWS::Lambda::Alias` resources whose `UpdatePolicy.CodeDeployLambdaAliasUpdate` hands their
/// updates to CodeDeploy, with the logical id of their function.
pub(super) fn code_deploy_aliases(t: &Template) -> Vec<(String, String)> {
    t.resources()
        .into_iter()
        .filter(|(_, ty)| ty == "AWS::Lambda::Alias")
        .filter_map(|(id, _)| {
            let r = t.resource(&id)?;
            r.pointer("/UpdatePolicy/CodeDeployLambdaAliasUpdate")?;
            let function = t.referenced(r.pointer("/Properties/FunctionName")?).ok()??;
            Some((id, function.to_string()))
        })
        .collect()
}

/// The deployment as plain CloudFormation describes it: the alias, its CodeDeploy
/// deployment group (config, alarms, triggers) and the hooks its UpdatePolicy names.
fn read_cfn_setup(
    t: &Template,
    others: &[Template],
    args: &StackArgs,
    config: Option<&str>,
    hooks_too: bool,
    base: &Path,
    alias_id: &str,
) -> Result<Setup, TemplateError> {
    let mut warnings = Vec::new();
    let resource = t.resource(alias_id).cloned().unwrap_or_default();
    let update = resource
        .pointer("/UpdatePolicy/CodeDeployLambdaAliasUpdate")
        .cloned()
        .unwrap_or_default();
    let function_id = t
        .referenced(resource.pointer("/Properties/FunctionName").unwrap_or(&Value::Null))?
        .unwrap_or_default()
        .to_string();
    let alias = scalar_text(
        &t.eval(
            resource
                .pointer("/Properties/Name")
                .ok_or_else(|| TemplateError(format!("alias {alias_id} has no Name")))?,
        )?,
    );
    let function = function_run(t, &function_id, args, base)?;
    let group_id = update
        .get("DeploymentGroupName")
        .map(|g| t.referenced(g))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            TemplateError(format!(
                "the UpdatePolicy of alias {alias_id} must name its deployment group with Ref of an \
                 AWS::CodeDeploy::DeploymentGroup of the template"
            ))
        })?
        .to_string();
    let group = t
        .resource(&group_id)
        .and_then(|g| g.get("Properties"))
        .cloned()
        .unwrap_or_default();

    let (config_name, routing) = match config {
        Some(name) => config_by_name(t, name)?,
        None => match group.get("DeploymentConfigName") {
            None => config_by_name(t, "CodeDeployDefault.LambdaAllAtOnce")?,
            Some(c) => match t.referenced(c)? {
                Some(id) => config_resource(t, id)?,
                None => config_by_name(t, &scalar_text(&t.eval(c)?))?,
            },
        },
    };

    let mut hooks = Vec::new();
    let mut roles = BTreeMap::new();
    roles.insert(
        function.name.clone(),
        roles::function_role(t, &function_id, &function.name)?.identity,
    );
    let codedeploy = roles::group_codedeploy_role(t, &group, &group_id)?;
    warnings.extend(codedeploy.warnings.iter().map(|w| format!("CodeDeploy's role: {w}")));
    for (key, event) in [
        ("BeforeAllowTrafficHook", HookEvent::BeforeAllowTraffic),
        ("AfterAllowTrafficHook", HookEvent::AfterAllowTraffic),
    ] {
        let Some(v) = update.get(key).filter(|_| hooks_too) else {
            continue;
        };
        let (ht, id) = hook_source(t, others, v, base).map_err(|e| match e {
            Some(e) => e,
            None => TemplateError(format!(
                "{key} of alias {alias_id} names {}, which is not a function of the template: \
                 the simulator runs the hooks it finds in the stack, or that another template given \
                 with --with exports",
                scalar_text(&t.eval(v).unwrap_or(Value::Null))
            )),
        })?;
        hooks.push((event, read_hook(ht.0, &id, args, &ht.1, &mut roles, &mut warnings)?));
    }

    let alarm_config = group.get("AlarmConfiguration").cloned().unwrap_or_default();
    let alarms_enabled = match alarm_config.get("Enabled") {
        Some(e) => t.eval(e)? != json!(false),
        None => true,
    };
    let mut unsimulated_alarms = Vec::new();
    let alarms = if alarms_enabled {
        let entries: Vec<Value> = t
            .pick(alarm_config.get("Alarms").unwrap_or(&Value::Null))?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("Name").cloned())
            .collect();
        read_alarms(t, entries, &function.name, &mut warnings, &mut unsimulated_alarms)?
    } else {
        Vec::new()
    };
    let rollback = group.get("AutoRollbackConfiguration");
    let rolls_back = rollback.is_some_and(|r| r.get("Enabled").is_none_or(|e| t.eval(e).ok() != Some(json!(false))));
    if !rolls_back {
        warnings.push(format!(
            "deployment group {group_id} has no enabled AutoRollbackConfiguration: in AWS a failed or \
             stopped deployment leaves the alias where it was; the simulator always rolls back"
        ));
    }
    let triggers = match group.get("TriggerConfigurations") {
        Some(v) => triggers(t, v, &group_id, &mut warnings)?,
        None => Vec::new(),
    };
    let application = scalar_text(&t.eval(group.get("ApplicationName").unwrap_or(&Value::Null))?);
    let group_name = scalar_text(&t.eval(&json!({"Ref": group_id}))?);
    Ok(Setup {
        function,
        alias,
        config_name,
        routing,
        hooks,
        alarms,
        triggers,
        warnings,
        roles,
        codedeploy_role: codedeploy.identity,
        application,
        group: group_name,
        unsimulated_alarms,
    })
}

pub(super) fn functions_with_preference(t: &Template) -> Vec<String> {
    t.resources()
        .into_iter()
        .filter(|(id, ty)| {
            FUNCTION_TYPES.contains(&ty.as_str())
                && t.function_property(id, "DeploymentPreference").is_some_and(|p| {
                    p.get("Enabled")
                        .is_none_or(|e| t.eval(e).map(|v| v != json!(false)).unwrap_or(true))
                })
        })
        .map(|(id, _)| id)
        .collect()
}

/// The API resource a value refers to (`${HelloApi}` in a `!Sub`, or `!Ref HelloApi`).
pub(super) fn api_named_in(t: &Template, v: &Value) -> Option<String> {
    let text = v.to_string();
    t.resources().into_iter().find_map(|(id, ty)| {
        (API_TYPES.contains(&ty.as_str())
            && (text.contains(&format!("${{{id}}}"))
                || text.contains(&format!("${{{id}."))
                || text.contains(&json!({"Ref": id}).to_string())))
        .then_some(id)
    })
}

pub(super) fn function_run(
    t: &Template,
    id: &str,
    args: &StackArgs,
    base: &Path,
) -> Result<FunctionRun, TemplateError> {
    let name = t.physical_name(id)?;
    let text_property = |name: &str, default: &str| -> Result<String, TemplateError> {
        match t.function_property(id, name) {
            Some(v) => Ok(scalar_text(&t.eval(&v)?)),
            None => Ok(default.to_string()),
        }
    };
    let runtime = text_property("Runtime", "provided.al2023")?;
    let handler = text_property("Handler", "bootstrap")?;
    let resource = t.resource(id).cloned().unwrap_or_default();
    let metadata = resource.get("Metadata").cloned().unwrap_or_default();
    let mut env = Vec::new();
    let mut api_vars = Vec::new();
    let target_dir = cargo_target_dir(base);
    let by_name = |bin: &str| -> (PathBuf, Option<String>) {
        if bin.contains('/') {
            (base.join(bin), None)
        } else {
            (target_dir.join("release").join(bin), Some(bin.to_string()))
        }
    };
    let (binary, cargo_bin) = if let Some((_, path)) = args.bins.iter().rev().find(|(k, _)| k == id) {
        (PathBuf::from(path), None)
    } else if let Some(sim) = metadata.get("Simulate") {
        let bin = sim.get("Binary").and_then(Value::as_str).ok_or_else(|| {
            TemplateError(format!(
                "Metadata.Simulate of {id} has no Binary: name the binary that runs it"
            ))
        })?;
        if sim.get("Spec").is_some() {
            return Err(TemplateError(format!(
                "Metadata.Simulate.Spec of {id} is not read: name the spec once, in the function's \
                 Environment (HOOK_SPEC_FILE, relative to CodeUri), where the deployed hook reads it too"
            )));
        }
        by_name(bin)
    } else if let Some(bin) = metadata.pointer("/BuildProperties/Binary").and_then(Value::as_str) {
        by_name(bin)
    } else if let Some(bootstrap) = code_folder(t, id, base)
        .map(|d| d.join("bootstrap"))
        .filter(|b| runtime.starts_with("provided") && b.is_file())
    {
        // A custom runtime's code folder (a CDK asset) holds its `bootstrap`.
        (bootstrap, None)
    } else if runtime.starts_with("python3") {
        // Lambda's Python runtime: the handler module is imported from /var/task (CodeUri).
        (args.python.clone(), None)
    } else if runtime.starts_with("nodejs") {
        // Lambda's Node.js runtime: hook-sim's Runtime API loop imports the handler from
        // /var/task (CodeUri).
        (args.node.clone(), None)
    } else if args.reading_only {
        // `check` runs nothing: the binary does not matter.
        (PathBuf::new(), None)
    } else {
        return Err(TemplateError(format!(
            "cannot tell which binary runs {id}: give it Metadata.BuildProperties.Binary (cargo-lambda), \
             Metadata.Simulate.Binary, or pass --bin {id}=PATH"
        )));
    };
    let python = cargo_bin.is_none()
        && runtime.starts_with("python3")
        && !args.bins.iter().any(|(k, _)| k == id)
        && metadata.get("Simulate").is_none();
    let node = cargo_bin.is_none()
        && runtime.starts_with("nodejs")
        && !args.bins.iter().any(|(k, _)| k == id)
        && metadata.get("Simulate").is_none();
    let process_args = if python {
        vec!["-m".to_string(), "awslambdaric".to_string(), handler.clone()]
    } else if node {
        vec![node_runtime_path().display().to_string(), handler.clone()]
    } else {
        Vec::new()
    };
    if let Some(vars) = t
        .function_property(id, "Environment")
        .and_then(|e| e.get("Variables").cloned())
    {
        for (k, v) in vars.as_object().into_iter().flatten() {
            if let Some(api) = api_named_in(t, v) {
                api_vars.push((k.clone(), api));
                continue;
            }
            match t.eval(v) {
                Ok(value) => env.push((k.clone(), scalar_text(&value))),
                Err(e) => {
                    return Err(TemplateError(format!("environment variable {k} of {id}: {e}")));
                }
            }
        }
    }
    let number = |name: &str, default: f64| -> Result<f64, TemplateError> {
        match t.function_property(id, name) {
            None => Ok(default),
            Some(v) => scalar_text(&t.eval(&v)?)
                .parse()
                .map_err(|_| TemplateError(format!("{name} of {id} is not a number"))),
        }
    };
    let timeout = number("Timeout", 3.0)?;
    if !(1.0..=900.0).contains(&timeout) {
        return Err(TemplateError(format!(
            "Timeout of {id} is {timeout}: Lambda allows 1 to 900 seconds"
        )));
    }
    // Lambda runs the code in /var/task, the packaged CodeUri: a local folder stands for it.
    let task_root = code_folder(t, id, base);
    let max_retries = match t
        .function_property(id, "EventInvokeConfig")
        .and_then(|c| c.get("MaximumRetryAttempts").cloned())
    {
        None => 2,
        Some(v) => match scalar_text(&t.eval(&v)?).parse::<u32>() {
            Ok(n) if n <= 2 => n,
            _ => {
                return Err(TemplateError(format!(
                    "EventInvokeConfig.MaximumRetryAttempts of {id} must be 0, 1 or 2"
                )));
            }
        },
    };
    let reserved_concurrency = match t.function_property(id, "ReservedConcurrentExecutions") {
        None => None,
        Some(v) => match scalar_text(&t.eval(&v)?).parse::<usize>() {
            Ok(n) if n <= 1000 => Some(n),
            _ => {
                return Err(TemplateError(format!(
                    "ReservedConcurrentExecutions of {id} must be a whole number from 0 to 1000 (the account's default limit)"
                )));
            }
        },
    };
    let mut tags = BTreeMap::new();
    if let Some(v) = t.function_property(id, "Tags") {
        match t.eval(&v)? {
            Value::Object(m) => tags.extend(m.iter().map(|(k, v)| (k.clone(), scalar_text(v)))),
            Value::Array(list) => tags.extend(
                list.iter()
                    .filter_map(|e| Some((scalar_text(e.get("Key")?), scalar_text(e.get("Value")?)))),
            ),
            _ => {}
        }
    }
    if t.resource_type(id) == Some("AWS::Serverless::Function") {
        tags.insert("lambda:createdBy".to_string(), "SAM".to_string());
    }
    Ok(FunctionRun {
        logical_id: id.to_string(),
        tags,
        task_root,
        max_retries,
        name,
        binary,
        args: process_args,
        runtime,
        handler,
        cargo_bin,
        env,
        api_vars,
        timeout: Duration::from_secs_f64(timeout),
        memory_mb: number("MemorySize", 128.0)? as u32,
        reserved_concurrency,
    })
}

/// Where cargo builds for a template in `base`: `CARGO_TARGET_DIR`, or `target/` of the
/// nearest folder up from `base` with a `Cargo.lock` (the workspace), or `base/target`.
/// Lambda's Runtime API loop for Node.js handlers (`hook-sim/runtimes/node.js`), which
/// `simulate` writes here before it runs a `nodejs*` function.
pub(super) const NODE_RUNTIME: &str = include_str!("../../../runtimes/node.js");

/// Where [`NODE_RUNTIME`] is written: a file of the temporary directory named by this
/// version of hook-sim.
pub(super) fn node_runtime_path() -> PathBuf {
    std::env::temp_dir().join(format!("hook-sim-{}-node-runtime.js", env!("CARGO_PKG_VERSION")))
}

/// The local folder of a function's code: SAM's `CodeUri`, or the asset folder CDK notes in
/// `Metadata.aws:asset:path` (beside the synthesized template).
fn code_folder(t: &Template, id: &str, base: &Path) -> Option<PathBuf> {
    let sam = match t.function_property(id, "CodeUri") {
        Some(Value::String(uri)) if !uri.contains("://") => Some(uri),
        _ => None,
    };
    let cdk = t
        .resource(id)
        .and_then(|r| r.pointer("/Metadata/aws:asset:path"))
        .and_then(Value::as_str)
        .map(str::to_string);
    sam.or(cdk).map(|p| base.join(p)).filter(|p| p.is_dir())
}

/// The folder `base` stands for (`.` when empty), and the Cargo workspace holding it (the
/// nearest folder up with a `Cargo.lock`), if any.
pub(super) fn workspace_of(base: &Path) -> (&Path, Option<PathBuf>) {
    let start = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let workspace = start.canonicalize().ok().and_then(|abs| {
        abs.ancestors()
            .find(|d| d.join("Cargo.lock").is_file())
            .map(Path::to_path_buf)
    });
    (start, workspace)
}

pub(super) fn cargo_target_dir(base: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let (start, workspace) = workspace_of(base);
    match workspace {
        Some(root) if root == start.canonicalize().unwrap_or_default() => base.join("target"),
        Some(root) => root.join("target"),
        None => base.join("target"),
    }
}

pub(super) fn config_by_name(t: &Template, name: &str) -> Result<(String, TrafficRouting), TemplateError> {
    if t.resource_type(name) == Some("AWS::CodeDeploy::DeploymentConfig") {
        return config_resource(t, name);
    }
    // A DeploymentConfig of the template named by its physical name.
    for (id, ty) in t.resources() {
        if ty == "AWS::CodeDeploy::DeploymentConfig" && t.physical_name(&id)? == name {
            return config_resource(t, &id);
        }
    }
    match TrafficRouting::predefined(name) {
        Some(r) => {
            let full = if name.starts_with("CodeDeployDefault.") {
                name.to_string()
            } else {
                format!("CodeDeployDefault.Lambda{name}")
            };
            Ok((full, r))
        }
        None => {
            let mut known: Vec<String> = PREDEFINED
                .iter()
                .map(|p| p.trim_start_matches("CodeDeployDefault.Lambda").to_string())
                .collect();
            known.extend(
                t.resources()
                    .into_iter()
                    .filter(|(_, ty)| ty == "AWS::CodeDeploy::DeploymentConfig")
                    .map(|(id, _)| id),
            );
            Err(TemplateError(format!(
                "deployment config {name:?} is neither a predefined Lambda config nor one of the template's: use one of {}",
                known.join(", ")
            )))
        }
    }
}

pub(super) fn config_resource(t: &Template, id: &str) -> Result<(String, TrafficRouting), TemplateError> {
    let props = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    if props
        .get("ComputePlatform")
        .and_then(Value::as_str)
        .is_some_and(|p| p != "Lambda")
    {
        return Err(TemplateError(format!(
            "deployment config {id} is not for Lambda (ComputePlatform)"
        )));
    }
    let routing = &props["TrafficRoutingConfig"];
    let num = |v: &Value, what: &str| -> Result<u32, TemplateError> {
        scalar_text(v)
            .parse::<u32>()
            .map_err(|_| TemplateError(format!("{what} of deployment config {id} is not a whole number")))
    };
    let r = match routing.get("Type").and_then(Value::as_str) {
        Some("AllAtOnce") => TrafficRouting::AllAtOnce,
        Some(kind @ ("TimeBasedCanary" | "TimeBasedLinear")) => {
            let (pct_key, interval_key) = if kind == "TimeBasedCanary" {
                ("CanaryPercentage", "CanaryInterval")
            } else {
                ("LinearPercentage", "LinearInterval")
            };
            let percentage = num(&routing[kind][pct_key], pct_key)?;
            let minutes = num(&routing[kind][interval_key], interval_key)?;
            if !(1..=99).contains(&percentage) || minutes == 0 {
                return Err(TemplateError(format!(
                    "deployment config {id}: {pct_key} must be 1 to 99 and {interval_key} at least 1 minute"
                )));
            }
            let interval = Duration::from_secs(60 * u64::from(minutes));
            if kind == "TimeBasedCanary" {
                TrafficRouting::TimeBasedCanary { percentage, interval }
            } else {
                TrafficRouting::TimeBasedLinear { percentage, interval }
            }
        }
        other => {
            return Err(TemplateError(format!(
                "deployment config {id}: TrafficRoutingConfig.Type {other:?} is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"
            )));
        }
    };
    Ok((id.to_string(), r))
}

/// An alarm of the template as the simulator reads it.
pub(super) enum AlarmReading {
    /// Evaluated during the deployment.
    Simulated(Alarm),
    /// Left out, and why (a warning).
    NotSimulated(String),
}

/// The alarm `id` as hook-sim evaluates it, or why it cannot be.
pub(super) fn alarm(t: &Template, id: &str, function: &str) -> Result<AlarmReading, TemplateError> {
    if t.resource_type(id) != Some("AWS::CloudWatch::Alarm") {
        return Ok(AlarmReading::NotSimulated(format!(
            "{id} is not an AWS::CloudWatch::Alarm"
        )));
    }
    let p = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    // A period CloudWatch refuses fails the stack in AWS: an error here too.
    let periods = std::iter::once(p.get("Period")).chain(
        p.get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| m.pointer("/MetricStat/Period")),
    );
    for period in periods.flatten() {
        let text = scalar_text(period);
        let valid = text
            .parse::<u64>()
            .is_ok_and(|s| matches!(s, 10 | 20 | 30) || (s > 0 && s % 60 == 0));
        if !valid {
            return Err(TemplateError(format!(
                "alarm {id}: CloudWatch refuses Period {text}: it must be 10, 20, 30 or a multiple of 60 seconds"
            )));
        }
    }
    Ok(match alarm_of(id, &p, function) {
        Ok(a) => AlarmReading::Simulated(a),
        Err(why) => AlarmReading::NotSimulated(why),
    })
}

pub(super) fn alarm_of(id: &str, p: &Value, function: &str) -> Result<Alarm, String> {
    let number = |v: Option<&Value>, key: &str| -> Result<Option<f64>, String> {
        match v {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .parse()
                .map(Some)
                .map_err(|_| format!("{key} is not a number")),
        }
    };
    let custom_namespace = p
        .get("Namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.starts_with("AWS/"));
    let (source, period) = match p.get("Metrics").and_then(Value::as_array) {
        None if custom_namespace => (
            AlarmSource::Custom(custom_metric(p)?),
            number(p.get("Period"), "Period")?,
        ),
        None => (
            AlarmSource::Metric(metric_query(p, p.get("Statistic"), p.get("Unit"), function)?),
            number(p.get("Period"), "Period")?,
        ),
        Some(metrics) => {
            let mut queries = BTreeMap::new();
            let mut returned = None;
            let mut period = None;
            for m in metrics {
                let mid = m
                    .get("Id")
                    .and_then(Value::as_str)
                    .ok_or("an entry of Metrics has no Id")?;
                let returns = m.get("ReturnData") != Some(&json!(false));
                if let Some(stat) = m.get("MetricStat") {
                    queries.insert(
                        mid.to_string(),
                        metric_query(&stat["Metric"], stat.get("Stat"), stat.get("Unit"), function)?,
                    );
                    period = number(stat.get("Period"), "MetricStat.Period")?.or(period);
                    if returns {
                        returned = Some(Err(mid.to_string()));
                    }
                } else if let Some(expr) = m.get("Expression").and_then(Value::as_str) {
                    if !returns {
                        return Err(format!(
                            "expression {mid} is an input of another expression: not simulated"
                        ));
                    }
                    returned = Some(Ok(expr.to_string()));
                }
            }
            let source = match returned {
                Some(Ok(expr)) => AlarmSource::Expression(Expression::parse(&expr, queries)?),
                Some(Err(mid)) => AlarmSource::Metric(queries.remove(&mid).expect("inserted above")),
                None => return Err("none of its Metrics has ReturnData true".into()),
            };
            (source, period)
        }
    };
    let comparison = match p.get("ComparisonOperator").and_then(Value::as_str) {
        Some("GreaterThanThreshold") => Comparison::GreaterThanThreshold,
        Some("GreaterThanOrEqualToThreshold") => Comparison::GreaterThanOrEqualToThreshold,
        Some("LessThanThreshold") => Comparison::LessThanThreshold,
        Some("LessThanOrEqualToThreshold") => Comparison::LessThanOrEqualToThreshold,
        other => return Err(format!("comparison {} is not simulated", other.unwrap_or("(none)"))),
    };
    let threshold = number(p.get("Threshold"), "Threshold")?.ok_or("it has no Threshold")?;
    let period = period.unwrap_or(60.0);
    if period < 60.0 {
        return Err(format!(
            "its Period is {period} s: Lambda's metrics come once a minute, so in AWS a shorter period would \
             get no data and never fire. Use Period: 60 or a multiple of it"
        ));
    }
    let treat_missing = match p.get("TreatMissingData").and_then(Value::as_str) {
        None | Some("missing") => MissingData::Missing,
        Some("notBreaching") => MissingData::NotBreaching,
        Some("breaching") => MissingData::Breaching,
        Some("ignore") => MissingData::Ignore,
        Some(other) => {
            return Err(format!(
                "TreatMissingData {other:?} is not one of missing, notBreaching, breaching, ignore"
            ));
        }
    };
    let ignore_low_samples = match p.get("EvaluateLowSampleCountPercentile").and_then(Value::as_str) {
        None | Some("evaluate") => false,
        Some("ignore") => true,
        Some(other) => {
            return Err(format!(
                "EvaluateLowSampleCountPercentile {other:?} is not one of evaluate, ignore"
            ));
        }
    };
    let evaluation_periods = number(p.get("EvaluationPeriods"), "EvaluationPeriods")?.unwrap_or(1.0) as u32;
    let datapoints = number(p.get("DatapointsToAlarm"), "DatapointsToAlarm")?;
    let mut alarm = Alarm::new(id, source, comparison, threshold);
    alarm.period = Duration::from_secs_f64(period);
    alarm.evaluation_periods = evaluation_periods.max(1);
    alarm.datapoints_to_alarm = datapoints.map_or(alarm.evaluation_periods, |d| d as u32);
    alarm.treat_missing_data = treat_missing;
    alarm.ignore_low_samples = ignore_low_samples;
    Ok(alarm)
}

/// A custom metric an alarm watches (a namespace not `AWS/…`): what a function sends with
/// `PutMetricData` or writes as Embedded Metric Format log lines.
fn custom_metric(p: &Value) -> Result<CustomMetric, String> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let name = text("MetricName").ok_or("it has no MetricName")?;
    let stat = text("Statistic")
        .or_else(|| text("ExtendedStatistic"))
        .ok_or("it has no Statistic or ExtendedStatistic")?;
    let statistic = Statistic::parse(&stat).ok_or_else(|| {
        format!("statistic {stat} is not simulated (Sum, Average, Maximum, Minimum, SampleCount and percentiles like p99 are)")
    })?;
    let mut dimensions: Vec<(String, String)> = p
        .get("Dimensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| (scalar_text(&d["Name"]), scalar_text(&d["Value"])))
        .collect();
    dimensions.sort();
    Ok(CustomMetric {
        namespace: text("Namespace").unwrap_or_default(),
        name,
        dimensions,
        statistic,
        unit: p.get("Unit").map(scalar_text),
    })
}

/// A metric of the deployed function (or, without dimensions, of every function of the account):
/// `Namespace`, `MetricName` and `Dimensions` of `m`, in `unit` if it names one.
pub(super) fn metric_query(
    m: &Value,
    statistic: Option<&Value>,
    unit: Option<&Value>,
    function: &str,
) -> Result<MetricQuery, String> {
    if m.get("Namespace").and_then(Value::as_str) != Some("AWS/Lambda") {
        return Err("it watches no AWS/Lambda metric".into());
    }
    let name = m.get("MetricName").and_then(Value::as_str);
    let Some(metric) = name.and_then(Metric::parse) else {
        return Err(format!(
            "metric {} is not simulated (Errors, Invocations, Duration and Throttles are)",
            name.unwrap_or("(none)")
        ));
    };
    // `Statistic` or `ExtendedStatistic` (a percentile) of an alarm; `Stat` of metric math.
    let name = statistic
        .and_then(Value::as_str)
        .or_else(|| m.get("ExtendedStatistic").and_then(Value::as_str));
    let statistic = match name {
        Some(s) => Statistic::parse(s).ok_or_else(|| {
            format!("statistic {s} is not simulated (Sum, Average, Maximum, Minimum, SampleCount and percentiles like p99 are)")
        })?,
        None => return Err("it has no Statistic or ExtendedStatistic".into()),
    };
    if let Some(unit) = unit.map(scalar_text)
        && unit != metric.unit()
    {
        return Err(format!(
            "its Unit is {unit}, but Lambda publishes {metric:?} in {}: in AWS it would get no data and never \
             fire. Remove Unit, or write Unit: {}",
            metric.unit(),
            metric.unit()
        ));
    }
    let mut query = MetricQuery::new(metric, statistic);
    let names: Vec<&str> = m
        .get("Dimensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d["Name"].as_str())
        .collect();
    let has = |name: &str| names.contains(&name);
    // `{}`: Lambda's account-wide set, every function of the account and region.
    query.every_function = names.is_empty();
    // Lambda publishes its metrics under these dimension sets only: an alarm on another set
    // gets no data in AWS, stays INSUFFICIENT_DATA and never stops a deployment.
    if has("ExecutedVersion") && !(has("FunctionName") && has("Resource")) {
        return Err(format!(
            "its dimensions ({}) are not a set Lambda publishes: ExecutedVersion comes only with FunctionName \
             and Resource (FUNCTION:ALIAS), so in AWS it would never get data and never fire. Add \
             Resource: !Sub ${{Function}}:ALIAS",
            names.join(", ")
        ));
    }
    if has("Resource") && !has("FunctionName") {
        return Err(format!(
            "its dimensions ({}) are not a set Lambda publishes: Resource comes only with FunctionName, so in \
             AWS it would never get data and never fire. Add FunctionName",
            names.join(", ")
        ));
    }
    for d in m.get("Dimensions").and_then(Value::as_array).into_iter().flatten() {
        let value = scalar_text(&d["Value"]);
        match d["Name"].as_str() {
            Some("FunctionName") if value != function => {
                return Err(format!("it watches function {value}, not {function}"));
            }
            Some("FunctionName") => {}
            Some("Resource") => {
                let (name, q) = value.split_once(':').unwrap_or((&value, ""));
                if name != function {
                    return Err(format!("it watches resource {value}, not {function}"));
                }
                query.qualifier = (!q.is_empty()).then(|| q.to_string());
            }
            Some("ExecutedVersion") => query.executed_version = Some(value),
            other => return Err(format!("dimension {other:?} is not simulated")),
        }
    }
    Ok(query)
}

pub(super) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// The deployment group's notification triggers (`TriggerConfigurations`: `TriggerName`,
/// `TriggerEvents`, `TriggerTargetArn`, which `!Ref` of a topic in the template gives as
/// its ARN).
fn triggers(t: &Template, v: &Value, of: &str, warnings: &mut Vec<String>) -> Result<Vec<Trigger>, TemplateError> {
    let list = t
        .pick(v)?
        .as_array()
        .cloned()
        .ok_or_else(|| TemplateError(format!("TriggerConfigurations of {of} must be a list of triggers")))?;
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let field = |k: &str| {
            entry
                .get(k)
                .ok_or_else(|| TemplateError(format!("trigger {} of {of} has no {k}", i + 1)))
        };
        let name = scalar_text(&t.eval(field("TriggerName")?)?);
        let target = field("TriggerTargetArn")?;
        let topic_arn = match t.referenced(target)? {
            Some(id) if t.resource_type(id) == Some("AWS::SNS::Topic") => {
                let topic_name = match t.resource(id).and_then(|r| r.pointer("/Properties/TopicName")) {
                    Some(n) => scalar_text(&t.eval(n)?),
                    None => format!("{}-{id}", t.stack_name),
                };
                format!("arn:aws:sns:{}:{}:{topic_name}", hook_sim::REGION, hook_sim::ACCOUNT_ID)
            }
            _ => scalar_text(&t.eval(target)?),
        };
        let mut events = Vec::new();
        for e in t.pick(field("TriggerEvents")?)?.as_array().into_iter().flatten() {
            let e = scalar_text(&t.eval(e)?);
            match TriggerEvent::ALL.iter().find(|k| k.as_str() == e) {
                Some(k) => events.push(*k),
                None if matches!(
                    e.as_str(),
                    "DeploymentReady" | "InstanceStart" | "InstanceSuccess" | "InstanceFailure" | "InstanceReady"
                ) =>
                {
                    warnings.push(format!(
                        "trigger {name} of {of}: {e} is not simulated (a Lambda deployment's notifications here are {})",
                        TriggerEvent::ALL.map(TriggerEvent::as_str).join(", ")
                    ));
                }
                None => {
                    return Err(TemplateError(format!(
                        "trigger {name} of {of}: {e} is no CodeDeploy trigger event (they are {}, DeploymentReady and Instance*)",
                        TriggerEvent::ALL.map(TriggerEvent::as_str).join(", ")
                    )));
                }
            }
        }
        out.push(Trigger {
            name,
            events,
            topic_arn,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn reads_single_metric_alarms() {
        let p = props(
            "{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Average, Threshold: 0.05, Period: 120, \
             EvaluationPeriods: 3, DatapointsToAlarm: 2, ComparisonOperator: GreaterThanOrEqualToThreshold, \
             Dimensions: [{Name: FunctionName, Value: f}, {Name: Resource, Value: 'f:live'}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        let a = alarm_of("A", &p, "f").unwrap();
        assert_eq!(
            a.to_string(),
            "Errors Average (through live, version 2) >= 0.05 for 2 of 3 period(s) of 2 min"
        );
    }

    #[test]
    fn reads_metric_math_alarms() {
        let p = props(
            "{ComparisonOperator: GreaterThanThreshold, Threshold: 5, Metrics: [\
               {Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}},\
               {Id: i, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Invocations}, Period: 60, Stat: Sum}},\
               {Id: r, Expression: 100 * e / i}]}",
        );
        let a = alarm_of("Rate", &p, "f").unwrap();
        assert!(
            matches!(&a.source, AlarmSource::Expression(e) if e.text == "100 * e / i"),
            "{a:?}"
        );
    }

    #[test]
    fn reads_latency_alarms_with_percentiles() {
        let p = props(
            "{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Threshold: 250, \
              ComparisonOperator: GreaterThanThreshold, Period: 60, EvaluationPeriods: 1, \
              Dimensions: [{Name: FunctionName, Value: f}, {Name: Resource, Value: 'f:live'}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        let a = alarm_of("Slow", &p, "f").unwrap();
        assert_eq!(
            a.to_string(),
            "Duration p99 (through live, version 2) > 250 for 1 of 1 period(s) of 1 min"
        );
        let stat = props(
            "{ComparisonOperator: GreaterThanThreshold, Threshold: 250, Metrics: [\
               {Id: d, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Duration}, Period: 60, Stat: p90}}]}",
        );
        assert!(alarm_of("Slow", &stat, "f").is_ok());
    }

    #[test]
    fn says_why_an_alarm_is_not_simulated() {
        let why = |yaml: &str| alarm_of("A", &props(yaml), "f").unwrap_err();
        assert!(why("{Namespace: AWS/ApiGateway, MetricName: 5XXError, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("no AWS/Lambda metric"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: ConcurrentExecutions, Statistic: Maximum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("metric ConcurrentExecutions is not simulated"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: other}]}").contains("watches function other, not f"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: tm99, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("statistic tm99 is not simulated"));
        assert!(why("{ComparisonOperator: GreaterThanThreshold, Threshold: 1, Metrics: [{Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}}, {Id: r, Expression: 'FILL(e, 0)'}]}").contains("FILL(...) is not simulated"));
        // Dimension sets Lambda never publishes: no data in AWS, so never simulated as firing.
        let executed_only = why(
            "{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        assert!(
            executed_only.contains("ExecutedVersion comes only with FunctionName and Resource"),
            "{executed_only}"
        );
        assert!(executed_only.contains("never fire"), "{executed_only}");
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: Resource, Value: 'f:live'}]}").contains("Resource comes only with FunctionName"));
        // Lambda's metrics come once a minute: a 10 s period never has data.
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Period: 10, Threshold: 0, ComparisonOperator: GreaterThanThreshold}").contains("Period is 10 s"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, TreatMissingData: sometimes}").contains("TreatMissingData \"sometimes\""));
    }

    #[test]
    fn reads_units_low_samples_and_the_account_wide_set() {
        let read = |yaml: &str| alarm_of("A", &props(yaml), "f");
        let wrong_unit = read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Unit: Seconds, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}]}").unwrap_err();
        assert!(
            wrong_unit.contains("Unit is Seconds, but Lambda publishes Duration in Milliseconds"),
            "{wrong_unit}"
        );
        assert!(wrong_unit.contains("never fire"), "{wrong_unit}");
        let math_unit = read("{ComparisonOperator: GreaterThanThreshold, Threshold: 1, Metrics: [{Id: e, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum, Unit: Percent}}]}").unwrap_err();
        assert!(math_unit.contains("Unit is Percent"), "{math_unit}");
        let right = read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Unit: Milliseconds, EvaluateLowSampleCountPercentile: ignore, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}]}").unwrap();
        assert!(right.ignore_low_samples);
        assert!(right.to_string().ends_with("low sample counts ignored"), "{right}");
        let AlarmSource::Metric(q) = &right.source else {
            panic!("one metric")
        };
        assert!(!q.every_function, "FunctionName scopes it to the function");
        assert!(read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, EvaluateLowSampleCountPercentile: sometimes, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").unwrap_err().contains("not one of evaluate, ignore"));
        let account = read("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold}").unwrap();
        let AlarmSource::Metric(q) = &account.source else {
            panic!("one metric")
        };
        assert!(
            q.every_function,
            "no dimensions: every function of the account, hooks included"
        );
    }

    #[test]
    fn reads_alarms_on_custom_metrics() {
        let a = alarm_of(
            "Failed",
            &props("{Namespace: Shop, MetricName: OrderFailed, Statistic: Sum, Unit: Count, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: service, Value: orders}]}"),
            "f",
        )
        .unwrap();
        let AlarmSource::Custom(c) = &a.source else {
            panic!("a custom metric: {a}")
        };
        assert_eq!(c.dimensions, [("service".to_string(), "orders".to_string())]);
        assert_eq!(c.unit.as_deref(), Some("Count"));
        assert_eq!(
            a.to_string(),
            "Shop/OrderFailed Sum (service=orders) > 0 for 1 of 1 period(s) of 1 min"
        );
    }

    #[test]
    fn reads_treat_missing_data() {
        let a = alarm_of(
            "A",
            &props("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, TreatMissingData: breaching}"),
            "f",
        )
        .unwrap();
        assert_eq!(a.treat_missing_data, MissingData::Breaching);
        assert!(a.to_string().ends_with(", missing data breaching"), "{a}");
        let default = alarm_of(
            "A",
            &props("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold}"),
            "f",
        )
        .unwrap();
        assert_eq!(default.treat_missing_data, MissingData::Missing, "CloudWatch's default");
    }
}
