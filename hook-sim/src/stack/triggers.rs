//! The deployment's notification triggers (`TriggerConfigurations`).

use super::{StackError, Template, scalar_text};
use crate::deploy::{Trigger, TriggerEvent};
use serde_json::Value;

/// The deployment group's notification triggers (`TriggerConfigurations`: `TriggerName`,
/// `TriggerEvents`, `TriggerTargetArn`, which `!Ref` of a topic in the template gives as
/// its ARN).
pub fn triggers(t: &Template, v: &Value, of: &str, warnings: &mut Vec<String>) -> Result<Vec<Trigger>, StackError> {
    let list = t
        .pick(v)?
        .as_array()
        .cloned()
        .ok_or_else(|| StackError::new(format!("TriggerConfigurations of {of} must be a list of triggers")))?;
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let field = |k: &str| {
            entry
                .get(k)
                .ok_or_else(|| StackError::new(format!("trigger {} of {of} has no {k}", i + 1)))
        };
        let name = scalar_text(&t.eval(field("TriggerName")?)?);
        let target = field("TriggerTargetArn")?;
        let topic_arn = match t.referenced(target)? {
            Some(id) if t.resource_type(id) == Some("AWS::SNS::Topic") => {
                let topic_name = match t.resource(id).and_then(|r| r.pointer("/Properties/TopicName")) {
                    Some(n) => scalar_text(&t.eval(n)?),
                    None => format!("{}-{id}", t.stack_name),
                };
                format!("arn:aws:sns:{}:{}:{topic_name}", crate::REGION, crate::ACCOUNT_ID)
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
                    return Err(StackError::new(format!(
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
