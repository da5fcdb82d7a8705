//! The lifecycle event CodeDeploy sends a hook, and the hook's phase.

pub(crate) use aws_lambda_events::codedeploy::CodeDeployLifecycleEvent;

pub use hook_spec::{Phase, UnknownPhase};

/// The two ids of a lifecycle event, checked to be present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// `DeploymentId`, e.g. `d-ABCDEF123`.
    pub deployment_id: String,
    /// `LifecycleEventHookExecutionId`: the token the status report must carry.
    pub execution_id: String,
}

/// The event is not a CodeDeploy lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed CodeDeploy lifecycle event: {problem}. A hook expects \
     {{\"DeploymentId\": \"d-...\", \"LifecycleEventHookExecutionId\": \"...\"}} as CodeDeploy sends it; \
     to run checks without a deployment use `hook-runner run`"
)]
pub struct MalformedEvent {
    /// What is wrong, naming the field.
    pub problem: String,
}

impl LifecycleEvent {
    /// Reads and checks a lifecycle event from the raw Lambda payload.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, MalformedEvent> {
        if !value.is_object() {
            return Err(MalformedEvent {
                problem: format!("the payload is {}, not a JSON object", kind_of(value)),
            });
        }
        let event: CodeDeployLifecycleEvent =
            serde_json::from_value(value.clone()).map_err(|e| MalformedEvent { problem: e.to_string() })?;
        for (field, v) in [
            ("DeploymentId", &event.deployment_id),
            (
                "LifecycleEventHookExecutionId",
                &event.lifecycle_event_hook_execution_id,
            ),
        ] {
            if v.trim().is_empty() {
                return Err(MalformedEvent {
                    problem: format!("field `{field}` is empty"),
                });
            }
        }
        Ok(LifecycleEvent {
            deployment_id: event.deployment_id,
            execution_id: event.lifecycle_event_hook_execution_id,
        })
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_ids() {
        let e =
            LifecycleEvent::from_value(&json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "x"})).unwrap();
        assert_eq!(e.deployment_id, "d-1");
        assert_eq!(e.execution_id, "x");
    }

    #[test]
    fn names_the_missing_field() {
        let e = LifecycleEvent::from_value(&json!({"DeploymentId": "d-1"})).unwrap_err();
        assert!(e.to_string().contains("LifecycleEventHookExecutionId"), "{e}");
        let e = LifecycleEvent::from_value(&json!({"DeploymentId": " ", "LifecycleEventHookExecutionId": "x"}))
            .unwrap_err();
        assert!(e.to_string().contains("field `DeploymentId` is empty"), "{e}");
        let e = LifecycleEvent::from_value(&json!("hello")).unwrap_err();
        assert!(e.to_string().contains("a string, not a JSON object"), "{e}");
    }

    #[test]
    fn phase_names() {
        assert_eq!("before".parse::<Phase>().unwrap(), Phase::BeforeAllowTraffic);
        assert_eq!("AfterAllowTraffic".parse::<Phase>().unwrap(), Phase::AfterAllowTraffic);
        assert!("during".parse::<Phase>().is_err());
        assert_eq!(Phase::BeforeAllowTraffic.to_string(), "BeforeAllowTraffic");
    }
}
