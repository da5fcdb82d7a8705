//! What a template says to run: a function's SAM `DeploymentPreference` (read here), or the
//! plain CloudFormation the Serverless Framework and CDK emit (`cloudformation`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{StackError, Template, scalar_text};
use crate::deploy::Phase;
use crate::iam::Identity;
use serde_json::{Value, json};

use super::alarms::read_alarms;
use super::cloudformation::{code_deploy_aliases, read_cfn_setup};
use super::configs::{config_by_name, config_resource};
use super::functions::{function_run, hook_source, read_hook};
use super::roles;
use super::setup::ReadOptions;
use super::setup::{FUNCTION_TYPES, FunctionRun, Setup, list};
use super::triggers::triggers;

/// What the simulation of template `t` runs, as `args` ask: the function deployed gradually (a
/// SAM `DeploymentPreference`, or an alias of plain CloudFormation handed to CodeDeploy), its
/// hooks (with `hooks_too`; from `others` when imported), configuration, alarms and triggers.
pub fn read_setup(
    t: &Template,
    others: &[Template],
    args: &ReadOptions,
    config: Option<&str>,
    hooks_too: bool,
    base: &Path,
) -> Result<Setup, StackError> {
    if let Some(alias_id) = chosen_cfn_alias(t, args)? {
        return read_cfn_setup(t, others, args, config, hooks_too, base, &alias_id);
    }
    let mut warnings = Vec::new();
    let logical_id = chosen_function(t, args)?;
    let (preference, alias) = preference_and_alias(t, &logical_id)?;
    let function = function_run(t, &logical_id, args, base)?;
    let (config_name, routing) = match config {
        Some(name) => config_by_name(t, name)?,
        None => {
            let ty = preference
                .get("Type")
                .ok_or_else(|| StackError::new(format!("the DeploymentPreference of {logical_id} has no Type")))?;
            match t.referenced(ty)? {
                Some(id) => config_resource(t, id)?,
                None => config_by_name(t, &scalar_text(&t.eval(ty)?))?,
            }
        }
    };

    let mut roles = BTreeMap::new();
    roles.insert(
        function.name.clone(),
        roles::function_role(t, &logical_id, &function.name)?.identity,
    );
    let codedeploy = roles::sam_codedeploy_role(t, &preference)?;
    warnings.extend(codedeploy.warnings.iter().map(|w| format!("CodeDeploy's role: {w}")));
    let hooks = match preference.get("Hooks").filter(|_| hooks_too) {
        Some(h) => {
            let mut read = ReadHooks {
                others,
                args,
                base,
                roles: &mut roles,
                warnings: &mut warnings,
            };
            read.hooks(t, h, &logical_id)?
        }
        None => Vec::new(),
    };
    warn_unsimulated(t, &preference, &logical_id, &mut warnings);

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
        group,
        unsimulated_alarms,
        grants,
    })
}

/// Plain CloudFormation (what `sls package` and `cdk synth` emit): the alias whose UpdatePolicy
/// hands its updates to CodeDeploy, when that is what `args` choose.
fn chosen_cfn_alias(t: &Template, args: &ReadOptions) -> Result<Option<String>, StackError> {
    let cfn = code_deploy_aliases(t);
    let sam = functions_with_preference(t);
    Ok(match &args.function {
        Some(id) if !sam.contains(id) => cfn.iter().find(|(_, f)| f == id).map(|(a, _)| a.clone()),
        Some(_) => None,
        None if sam.is_empty() && cfn.len() == 1 => Some(cfn[0].0.clone()),
        None if sam.is_empty() && cfn.len() > 1 => {
            return Err(StackError::new(format!(
                "{} has several aliases deployed by CodeDeploy (functions {}): choose one with --function",
                t.path.display(),
                cfn.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        None => None,
    })
}

/// The SAM function deployed gradually: `--function`, or the template's only one.
fn chosen_function(t: &Template, args: &ReadOptions) -> Result<String, StackError> {
    if let Some(id) = &args.function {
        if !t.resource_type(id).is_some_and(|ty| FUNCTION_TYPES.contains(&ty)) {
            let functions = functions_with_preference(t);
            return Err(StackError::new(format!(
                "--function {id}: {} has no function {id} (functions with a DeploymentPreference: {})",
                t.path.display(),
                list(&functions)
            )));
        }
        return Ok(id.clone());
    }
    match functions_with_preference(t).as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(StackError::new(format!(
            "{} has no function with an enabled DeploymentPreference: nothing to deploy gradually",
            t.path.display()
        ))),
        many => Err(StackError::new(format!(
            "{} has several functions with a DeploymentPreference ({}): choose one with --function",
            t.path.display(),
            many.join(", ")
        ))),
    }
}

/// The function's enabled DeploymentPreference, and the alias whose traffic shifts.
fn preference_and_alias(t: &Template, logical_id: &str) -> Result<(Value, String), StackError> {
    let preference = t.function_property(logical_id, "DeploymentPreference").ok_or_else(|| {
        StackError::new(format!(
            "{logical_id} has no DeploymentPreference: CodeDeploy does not deploy it gradually"
        ))
    })?;
    if let Some(enabled) = preference.get("Enabled")
        && t.eval(enabled)? == json!(false)
    {
        return Err(StackError::new(format!(
            "the DeploymentPreference of {logical_id} is disabled (Enabled: false)"
        )));
    }
    let alias = t
        .function_property(logical_id, "AutoPublishAlias")
        .map(|a| t.eval(&a).map(|v| scalar_text(&v)))
        .transpose()?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            StackError::new(format!(
                "{logical_id} has a DeploymentPreference but no AutoPublishAlias: SAM needs the alias whose traffic shifts"
            ))
        })?;
    Ok((preference, alias))
}

/// Where a SAM function's hooks are read from, and what reading them adds to.
struct ReadHooks<'a> {
    others: &'a [Template],
    args: &'a ReadOptions,
    base: &'a Path,
    roles: &'a mut BTreeMap<String, Identity>,
    warnings: &'a mut Vec<String>,
}

impl ReadHooks<'_> {
    /// The hooks `DeploymentPreference.Hooks` (`h`) of `logical_id` names, each where it is
    /// defined: this template, a nested application, or another stack's export.
    fn hooks(&mut self, t: &Template, h: &Value, logical_id: &str) -> Result<Vec<(Phase, FunctionRun)>, StackError> {
        let mut hooks = Vec::new();
        for (key, event) in [
            ("PreTraffic", Phase::BeforeAllowTraffic),
            ("PostTraffic", Phase::AfterAllowTraffic),
        ] {
            let Some(v) = h.get(key) else { continue };
            let (ht, id) = hook_source(t, self.others, v, self.base).map_err(|e| match e {
                Some(e) => e,
                None => StackError::new(format!(
                    "Hooks.{key} of {logical_id} must be !Ref of a function in the template, !GetAtt \
                     APP.Outputs.NAME of a nested application with a local Location, or !ImportValue of one \
                     another template exports (--with TEMPLATE), to be simulated, not {v}"
                )),
            })?;
            hooks.push((
                event,
                read_hook(ht.0, &id, self.args, &ht.1, self.roles, self.warnings)?,
            ));
        }
        Ok(hooks)
    }
}

/// Settings that change what AWS does and that the simulator does not model: said, never
/// silently ignored.
fn warn_unsimulated(t: &Template, preference: &Value, logical_id: &str, warnings: &mut Vec<String>) {
    if preference.get("PassthroughCondition").is_some() {
        warnings.push(format!(
            "DeploymentPreference.PassthroughCondition of {logical_id} is not simulated: the condition deciding \
             whether the pre-traffic hook and alarms are passed through"
        ));
    }
    if t.function_property(logical_id, "ProvisionedConcurrencyConfig")
        .is_some()
    {
        warnings.push(format!(
            "ProvisionedConcurrencyConfig of {logical_id} is not simulated: CodeDeploy waits for the new version's \
             provisioned concurrency before shifting; here it starts at once"
        ));
    }
}

/// The functions of `t` whose SAM `DeploymentPreference` is enabled.
pub fn functions_with_preference(t: &Template) -> Vec<String> {
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
