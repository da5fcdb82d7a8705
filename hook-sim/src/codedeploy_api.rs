//! The CodeDeploy API's handler (AWS JSON 1.1 on `POST /`): faults, IAM, the call recorded,
//! then the operation on the deployments of [`codedeploy`](crate::codedeploy).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::codedeploy::{
    ApiError, get_application_revision, get_deployment, get_deployment_target, list_deployment_targets, put_status,
    resource_of,
};
use crate::iam;
use crate::record::{HookStatusRecord, Service};
use crate::served::{ApiCall, Faults, served, with_error};
use crate::state::SimState;

pub(crate) fn aws_json_error(status: u16, error_type: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({"__type": error_type, "message": message}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(error_type).unwrap_or(HeaderValue::from_static("Unknown")),
    );
    with_error(r, error_type)
}

/// `POST /` with a CodeDeploy target: the CodeDeploy API (AWS JSON 1.1).
pub(crate) async fn api(state: &SimState, headers: &HeaderMap, body: &Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix("CodeDeploy_20141006.") else {
        return aws_json_error(400, "UnknownOperationException", &format!("unknown target {target:?}"));
    };
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let call = ApiCall {
        service: Service::CodeDeploy,
        operation: operation.to_string(),
        request: request.clone(),
    };
    let faults = Faults {
        throttle: (400, "ThrottlingException"),
        error: aws_json_error,
    };
    served(state, call, Some(faults), answer(state, headers, operation, request)).await
}

/// The answer to one CodeDeploy call: authorized as IAM would, then the operation.
async fn answer(state: &SimState, headers: &HeaderMap, operation: &str, request: Value) -> Response {
    if let Some(resource) = resource_of(&state.deployments.lock().expect("poisoned"), operation, &request) {
        let action = format!("codedeploy:{operation}");
        if let Err(denial) = state.authorize(headers, &iam::Request::new(&action, &resource)) {
            return aws_json_error(400, "AccessDeniedException", &denial.to_string());
        }
    }
    let result = match operation {
        "GetDeployment" => get_deployment(&state.deployments.lock().expect("poisoned"), &request),
        "ListDeploymentTargets" => list_deployment_targets(&state.deployments.lock().expect("poisoned"), &request),
        "GetDeploymentTarget" => get_deployment_target(&state.deployments.lock().expect("poisoned"), &request),
        "GetApplicationRevision" => get_application_revision(&state.deployments.lock().expect("poisoned"), &request),
        "PutLifecycleEventHookExecutionStatus" => {
            let result = put_status(&mut state.deployments.lock().expect("poisoned"), &request);
            result.map(|(response, (deployment_id, execution_id, status))| {
                state.recorder.status(HookStatusRecord {
                    deployment_id,
                    execution_id,
                    status,
                    at: state.recorder.since_start(),
                });
                response
            })
        }
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!("hook-sim does not implement CodeDeploy {other}"),
        )),
    };
    match result {
        Ok(v) => {
            state
                .recorder
                .exchange(Service::CodeDeploy, operation, &request, 200, &v);
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
            r
        }
        Err(e) => {
            state.recorder.exchange(
                Service::CodeDeploy,
                operation,
                &request,
                e.status,
                &json!({"__type": e.error_type, "message": e.message}),
            );
            aws_json_error(e.status, &e.error_type, &e.message)
        }
    }
}
