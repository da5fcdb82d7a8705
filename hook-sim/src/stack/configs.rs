//! Deployment configurations: CodeDeploy's predefined ones and `AWS::CodeDeploy::DeploymentConfig`.

use std::time::Duration;

use super::{StackError, Template, scalar_text};
use crate::schedule::{PREDEFINED, TrafficRouting};
use serde_json::Value;

/// The deployment configuration `name` names: a resource of the template, or a predefined one (`CodeDeployDefault.LambdaCanary10Percent5Minutes`, `Canary10Percent5Minutes`).
pub fn config_by_name(t: &Template, name: &str) -> Result<(String, TrafficRouting), StackError> {
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
            Err(StackError::new(format!(
                "deployment config {name:?} is neither a predefined Lambda config nor one of the template's: use one of {}",
                known.join(", ")
            )))
        }
    }
}

/// The `AWS::CodeDeploy::DeploymentConfig` resource `id`: its name and traffic routing.
pub fn config_resource(t: &Template, id: &str) -> Result<(String, TrafficRouting), StackError> {
    let props = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    if props
        .get("ComputePlatform")
        .and_then(Value::as_str)
        .is_some_and(|p| p != "Lambda")
    {
        return Err(StackError::new(format!(
            "deployment config {id} is not for Lambda (ComputePlatform)"
        )));
    }
    let routing = &props["TrafficRoutingConfig"];
    let num = |v: &Value, what: &str| -> Result<u32, StackError> {
        scalar_text(v)
            .parse::<u32>()
            .map_err(|_| StackError::new(format!("{what} of deployment config {id} is not a whole number")))
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
                return Err(StackError::new(format!(
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
            return Err(StackError::new(format!(
                "deployment config {id}: TrafficRoutingConfig.Type {other:?} is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"
            )));
        }
    };
    Ok((id.to_string(), r))
}
