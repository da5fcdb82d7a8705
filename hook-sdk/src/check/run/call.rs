//! A check's call: made from the spec and variables, run within its time, judged.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::secrets::Secrets;
use crate::assert::{Observation, evaluate};
use crate::check::answer_cap::AnswerCap;
use crate::check::http::{self, HttpRequest};
use crate::report::AssertionResult;
use crate::report::{CheckFailure, ErrorKind};
use crate::spec::{Action, Check, Qualifier, Vars, duration_text};
use crate::target::{Target, TargetFunction};

/// The time one attempt may take when the spec says nothing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What makes a check's calls: the Lambda client (its answers capped at `max_body`) and the
/// HTTP client.
#[derive(Clone)]
pub(super) struct Caller {
    /// The client as given.
    pub(super) raw_lambda: aws_sdk_lambda::Client,
    /// The client checks invoke with: answers capped at `max_body`.
    lambda: aws_sdk_lambda::Client,
    pub(super) http: Option<reqwest::Client>,
    pub(super) max_body: usize,
}

/// The time a call may take: the check's timeout, and the run's deadline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) timeout: Duration,
    pub(super) deadline: Option<Instant>,
}

impl Caller {
    /// Calls through `lambda`, answers capped at `max_body`.
    pub(super) fn new(lambda: aws_sdk_lambda::Client, max_body: usize) -> Self {
        Caller {
            lambda: AnswerCap { max: max_body }.apply(&lambda),
            raw_lambda: lambda,
            http: None,
            max_body,
        }
    }

    /// The same, answers capped at `bytes`.
    pub(super) fn capped(&self, bytes: usize) -> Self {
        Caller {
            lambda: AnswerCap { max: bytes }.apply(&self.raw_lambda),
            max_body: bytes,
            ..self.clone()
        }
    }

    /// The call a check makes, from the spec and the variables; what stops it being made is
    /// a set-up error.
    pub(super) fn prepare(&self, check: &Check, target: Option<&Target>, vars: &Vars) -> Result<Call, String> {
        let h = match &check.action {
            Action::Http(h) => h,
            Action::Metrics(_) => return Err("a metrics check makes no call of its own".into()),
            Action::Invoke(invoke) => {
                let target = target.ok_or("an invoke check needs a target")?;
                let qualifier = match &invoke.qualifier {
                    Qualifier::Target => target.target_version.clone(),
                    Qualifier::Alias => target
                        .alias
                        .clone()
                        .ok_or_else(|| format!("`qualifier: alias`, but {} has no alias", target.function))?,
                    Qualifier::Current => target.current_version.clone().ok_or_else(|| {
                        format!("`qualifier: current`, but {} has no current version", target.function)
                    })?,
                    Qualifier::Named(other) => vars.render(other).map_err(|e| e.to_string())?,
                };
                let payload = vars.render_json(&invoke.payload).map_err(|e| e.to_string())?;
                return Ok(Call::Invoke {
                    function: TargetFunction::new(target.clone(), self.lambda.clone()),
                    qualifier,
                    payload: serde_json::to_vec(&payload).map_err(|e| e.to_string())?,
                });
            }
        };
        let body = match &h.body {
            None => None,
            Some(Value::String(s)) => Some((vars.render(s).map_err(|e| e.to_string())?.into_bytes(), false)),
            Some(v) => Some((
                serde_json::to_vec(&vars.render_json(v).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?,
                true,
            )),
        };
        let headers = h
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), vars.render(v).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        let req = HttpRequest {
            method: vars.render(&h.method).map_err(|e| e.to_string())?,
            url: vars.render(&h.url).map_err(|e| e.to_string())?,
            headers,
            body,
            follow_redirects: h.follow_redirects,
        };
        http::check_request(&req)?;
        Ok(Call::Http(req))
    }

    /// One run of the call, within its limits, and what the check's expectations found.
    pub(super) async fn attempt(
        &self,
        call: &Call,
        check: &Check,
        vars: &Vars,
        Limits { timeout, deadline }: Limits,
        secrets: &Secrets,
    ) -> Attempt {
        let started = Instant::now();
        let limit = deadline.map_or(started + timeout, |d| d.min(started + timeout));
        let result = tokio::time::timeout_at(limit, self.execute(call)).await;
        let duration = started.elapsed();
        match result {
            Ok(Ok(obs)) => Attempt::Answered {
                assertions: evaluate(&check.expect, &obs, vars, &secrets.with_captures(check, &obs)),
                observation: Box::new(obs),
                duration,
            },
            Ok(Err(failure)) => Attempt::Failed { failure, duration },
            Err(_) => Attempt::Failed {
                failure: CallFailure::call(format!(
                    "no answer within {}{}",
                    duration_text(limit - started),
                    if limit < started + timeout {
                        " (the hook's time ran out)"
                    } else {
                        " (the check's timeout)"
                    }
                )),
                duration,
            },
        }
    }

    async fn execute(&self, call: &Call) -> Result<Observation, CallFailure> {
        match call {
            Call::Invoke {
                function,
                qualifier,
                payload,
            } => {
                let inv = function
                    .invoke_qualified(qualifier, payload.clone())
                    .await
                    .map_err(|e| CallFailure {
                        kind: if e.is_setup() {
                            ErrorKind::Setup
                        } else {
                            ErrorKind::Call
                        },
                        message: crate::error::error_chain(&e),
                    })?;
                let mut obs = Observation::from_invoke(&inv.payload, inv.function_error.clone(), inv.elapsed);
                if let Some(r) = &inv.usage {
                    obs.reported_duration = r.duration;
                    obs.init_duration = r.init_duration;
                    obs.max_memory_mb = r.max_memory_used_mb;
                }
                obs.log = inv.log_tail.clone();
                Ok(obs)
            }
            Call::Http(req) => {
                let client = self.http.clone().unwrap_or_else(http::default_client);
                // The method and URL were checked in `prepare`: what fails here is the call.
                http::send(&client, req, self.max_body).await.map_err(CallFailure::call)
            }
        }
    }
}

pub(super) enum Call {
    Invoke {
        function: TargetFunction,
        qualifier: String,
        payload: Vec<u8>,
    },
    Http(HttpRequest),
}

impl Call {
    pub(super) fn label(&self) -> Option<String> {
        match self {
            Call::Invoke {
                function, qualifier, ..
            } => Some(format!("{}:{qualifier}", function.function)),
            Call::Http(_) => None,
        }
    }
}

/// Why a call got no answer to judge: the check could not be made ([`ErrorKind::Setup`]), or
/// the call failed ([`ErrorKind::Call`]).
pub(super) struct CallFailure {
    pub(super) kind: ErrorKind,
    pub(super) message: String,
}

impl From<CallFailure> for CheckFailure {
    fn from(f: CallFailure) -> Self {
        CheckFailure::Error {
            kind: f.kind,
            message: f.message,
        }
    }
}

impl CallFailure {
    fn call(message: String) -> Self {
        CallFailure {
            kind: ErrorKind::Call,
            message,
        }
    }
}

/// One run of a check's call: an answer and what its expectations found, or no answer.
pub(super) enum Attempt {
    Answered {
        assertions: Vec<AssertionResult>,
        observation: Box<Observation>,
        duration: Duration,
    },
    Failed {
        failure: CallFailure,
        duration: Duration,
    },
}

impl Attempt {
    pub(super) fn passed(&self) -> bool {
        matches!(self, Attempt::Answered { assertions, .. } if assertions.iter().all(|a| a.passed))
    }

    pub(super) fn duration(&self) -> Duration {
        match self {
            Attempt::Answered { duration, .. } | Attempt::Failed { duration, .. } => *duration,
        }
    }

    /// What a failed run shows: its call's failure, and what made it fail as assertions.
    pub(super) fn into_failure(self) -> (Option<CallFailure>, Vec<AssertionResult>) {
        match self {
            Attempt::Failed { failure, .. } => {
                let shown = AssertionResult {
                    query: "call".into(),
                    expected: "an answer".into(),
                    actual: failure.message.clone(),
                    passed: false,
                };
                (Some(failure), vec![shown])
            }
            Attempt::Answered { assertions, .. } => (None, assertions.into_iter().filter(|a| !a.passed).collect()),
        }
    }
}
