//! The one place that calls `PutLifecycleEventHookExecutionStatus`.
//!
//! A report is tried until CodeDeploy accepts it or the deadline comes: throttling,
//! 5xx answers, timeouts and broken connections are retried with exponential backoff;
//! `LifecycleEventAlreadyCompletedException` means someone already reported, so it
//! stops at once; any other service error (the deployment or execution id is unknown,
//! access is denied) will not change on retry and stops too.

use std::fmt;
use std::time::Duration;

use aws_sdk_codedeploy::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::Serialize;
use tokio::time::Instant;

use crate::event::LifecycleEvent;

/// The status a hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookStatus {
    /// Every check ran and passed.
    Succeeded,
    /// A check failed, did not run, or the hook ran out of time.
    Failed,
}

impl fmt::Display for HookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookStatus::Succeeded => "Succeeded",
            HookStatus::Failed => "Failed",
        })
    }
}

/// How the status reached CodeDeploy (or did not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome")]
pub enum StatusDelivery {
    /// CodeDeploy accepted the status.
    Accepted {
        /// Calls made, the accepted one included.
        attempts: u32,
    },
    /// Another invocation of this hook had already reported.
    AlreadyCompleted {
        /// Calls made.
        attempts: u32,
    },
    /// CodeDeploy refused the report with an error that retrying does not fix.
    Rejected {
        /// Calls made.
        attempts: u32,
        /// The error code, e.g. `DeploymentDoesNotExistException`.
        code: String,
        /// The error with context.
        message: String,
    },
    /// Every try failed with a retryable error until the deadline.
    GaveUp {
        /// Calls made.
        attempts: u32,
        /// The last error.
        message: String,
    },
}

impl StatusDelivery {
    /// Whether the status is now recorded by CodeDeploy (by this hook or an earlier one).
    pub fn is_recorded(&self) -> bool {
        matches!(
            self,
            StatusDelivery::Accepted { .. } | StatusDelivery::AlreadyCompleted { .. }
        )
    }
}

/// Backoff between tries: 50 ms doubling to at most 1 s.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first pause.
    pub initial: Duration,
    /// The longest pause.
    pub max: Duration,
    /// The longest a single call may take before it is abandoned and tried again.
    pub attempt_timeout: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(3),
        }
    }
}

enum Verdict {
    Retry(String),
    AlreadyCompleted,
    Stop { code: String, message: String },
}

type PutError = SdkError<
    aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError,
    aws_smithy_runtime_api::http::Response,
>;

fn classify(err: PutError) -> Verdict {
    use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError as E;
    // The modeled variant first (its metadata may lack a code), then the wire code.
    let modeled = err.as_service_error().and_then(|e| match e {
        E::LifecycleEventAlreadyCompletedException(_) => Some("LifecycleEventAlreadyCompletedException"),
        E::DeploymentDoesNotExistException(_) => Some("DeploymentDoesNotExistException"),
        E::InvalidLifecycleEventHookExecutionIdException(_) => Some("InvalidLifecycleEventHookExecutionIdException"),
        E::InvalidLifecycleEventHookExecutionStatusException(_) => {
            Some("InvalidLifecycleEventHookExecutionStatusException")
        }
        E::InvalidDeploymentIdException(_) => Some("InvalidDeploymentIdException"),
        E::DeploymentIdRequiredException(_) => Some("DeploymentIdRequiredException"),
        E::UnsupportedActionForDeploymentTypeException(_) => Some("UnsupportedActionForDeploymentTypeException"),
        _ => None,
    });
    let code = modeled.or_else(|| err.code()).map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let retryable_kind = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    // AWS's own words when it gave them (`AccessDeniedException: User: … is not authorized …`),
    // else the whole chain of causes (a timeout, a connection refused).
    let message = match (code.as_deref(), err.message()) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        _ => DisplayErrorContext(&err).to_string(),
    };
    match code.as_deref() {
        Some("LifecycleEventAlreadyCompletedException") => Verdict::AlreadyCompleted,
        Some("ThrottlingException" | "Throttling" | "ThrottledException" | "TooManyRequestsException") => {
            Verdict::Retry(message)
        }
        _ if retryable_kind || status.is_some_and(|s| s >= 500) => Verdict::Retry(message),
        Some(code) => Verdict::Stop {
            code: code.to_string(),
            message,
        },
        None => Verdict::Stop {
            code: status.map_or_else(|| "Unknown".to_string(), |s| format!("HTTP {s}")),
            message,
        },
    }
}

/// Reports `status` for `event`, retrying until `deadline`.
pub(crate) async fn put_status(
    client: &aws_sdk_codedeploy::Client,
    event: &LifecycleEvent,
    status: HookStatus,
    deadline: Instant,
    backoff: Backoff,
) -> StatusDelivery {
    let wire_status = match status {
        HookStatus::Succeeded => LifecycleEventStatus::Succeeded,
        HookStatus::Failed => LifecycleEventStatus::Failed,
    };
    let mut attempts = 0;
    let mut pause = backoff.initial;
    loop {
        attempts += 1;
        let call = client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&event.deployment_id)
            .lifecycle_event_hook_execution_id(&event.execution_id)
            .status(wire_status.clone())
            .send();
        let attempt_deadline = deadline.min(Instant::now() + backoff.attempt_timeout);
        let last = match tokio::time::timeout_at(attempt_deadline, call).await {
            Ok(Ok(_)) => return StatusDelivery::Accepted { attempts },
            Ok(Err(e)) => match classify(e) {
                Verdict::AlreadyCompleted => return StatusDelivery::AlreadyCompleted { attempts },
                Verdict::Stop { code, message } => {
                    return StatusDelivery::Rejected {
                        attempts,
                        code,
                        message,
                    };
                }
                Verdict::Retry(message) => message,
            },
            Err(_) => "the call got no answer in time".to_string(),
        };
        let now = Instant::now();
        if now + pause >= deadline {
            return StatusDelivery::GaveUp {
                attempts,
                message: last,
            };
        }
        tracing::warn!(attempt = attempts, error = %last, retry_in_ms = pause.as_millis() as u64, "status report failed, retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::{
        PutLifecycleEventHookExecutionStatusError as PutError, PutLifecycleEventHookExecutionStatusOutput as PutOutput,
    };
    use aws_sdk_codedeploy::types::error::{DeploymentDoesNotExistException, LifecycleEventAlreadyCompletedException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn event() -> LifecycleEvent {
        LifecycleEvent {
            deployment_id: "d-1".into(),
            execution_id: "e-1".into(),
        }
    }

    fn throttled() -> Response {
        Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"ThrottlingException","message":"slow down"}"#),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_then_succeeds() {
        let put = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
            .sequence()
            .http_response(throttled)
            .times(2)
            .output(|| PutOutput::builder().lifecycle_event_hook_execution_id("e-1").build())
            .build();
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::Sequential, [&put], |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let out = put_status(&client, &event(), HookStatus::Succeeded, deadline, Backoff::default()).await;
        assert_eq!(out, StatusDelivery::Accepted { attempts: 3 });
    }

    #[tokio::test(start_paused = true)]
    async fn already_completed_stops_at_once() {
        let put = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status).then_error(|| {
            PutError::LifecycleEventAlreadyCompletedException(
                LifecycleEventAlreadyCompletedException::builder()
                    .message("done")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_codedeploy, [&put]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let out = put_status(&client, &event(), HookStatus::Failed, deadline, Backoff::default()).await;
        assert_eq!(out, StatusDelivery::AlreadyCompleted { attempts: 1 });
        assert!(out.is_recorded());
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_deployment_is_not_retried() {
        let put = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status).then_error(|| {
            PutError::DeploymentDoesNotExistException(DeploymentDoesNotExistException::builder().message("no").build())
        });
        let client = mock_client!(aws_sdk_codedeploy, [&put]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let out = put_status(&client, &event(), HookStatus::Failed, deadline, Backoff::default()).await;
        match out {
            StatusDelivery::Rejected { attempts, code, .. } => {
                assert_eq!(attempts, 1);
                assert_eq!(code, "DeploymentDoesNotExistException");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_until_the_deadline() {
        let put = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
            .then_http_response(|| Response::new(StatusCode::try_from(503).unwrap(), SdkBody::from("{}")));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&put], |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        let out = put_status(&client, &event(), HookStatus::Failed, deadline, Backoff::default()).await;
        assert!(matches!(out, StatusDelivery::GaveUp { .. }), "{out:?}");
        assert!(Instant::now() <= deadline);
        // 50 + 100 + 200 + 400 + 800 ms of pauses fit in 2 s: six calls.
        assert_eq!(put.num_calls(), 6);
    }
}
