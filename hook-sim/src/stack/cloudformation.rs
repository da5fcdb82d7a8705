//! Plain CloudFormation, as the Serverless Framework and CDK emit it: an alias whose
//! `UpdatePolicy.CodeDeployLambdaAliasUpdate` names its deployment group and hooks.

use std::collections::BTreeMap;
use std::path::Path;

use super::{StackError, Template, scalar_text};
use crate::deploy::Phase;
use serde_json::{Value, json};

use super::alarms::read_alarms;
use super::configs::{config_by_name, config_resource};
use super::functions::{function_run, hook_source, read_hook};
use super::roles;
use super::setup::ReadOptions;
use super::setup::Setup;
use super::triggers::triggers;

/// `AWS::Lambda::Alias` resources whose `UpdatePolicy.CodeDeployLambdaAliasUpdate` hands their
/// updates to CodeDeploy, with the logical id of their function.
pub fn code_deploy_aliases(t: &Template) -> Vec<(String, String)> {
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
pub fn read_cfn_setup(
    t: &Template,
    others: &[Template],
    args: &ReadOptions,
    config: Option<&str>,
    hooks_too: bool,
    base: &Path,
    alias_id: &str,
) -> Result<Setup, StackError> {
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
                .ok_or_else(|| StackError::new(format!("alias {alias_id} has no Name")))?,
        )?,
    );
    let function = function_run(t, &function_id, args, base)?;
    let group_id = update
        .get("DeploymentGroupName")
        .map(|g| t.referenced(g))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            StackError::new(format!(
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
        ("BeforeAllowTrafficHook", Phase::BeforeAllowTraffic),
        ("AfterAllowTrafficHook", Phase::AfterAllowTraffic),
    ] {
        let Some(v) = update.get(key).filter(|_| hooks_too) else {
            continue;
        };
        let (ht, id) = hook_source(t, others, v, base).map_err(|e| match e {
            Some(e) => e,
            None => StackError::new(format!(
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
    let grants = super::roles::resource_grants(t, &mut warnings);
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
        grants,
    })
}
