//! A check run once: attempts until one passes, as many as its `retry` allows, with the
//! backoff between them; never past the deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::call::{Attempt, Call, Caller, Limits};
use super::secrets::Secrets;
use crate::spec::{Check, Spec, Vars};

/// The number of attempts made, and the last one.
pub(super) async fn retry(
    caller: &Caller,
    call: &Call,
    check: &Check,
    spec: &Spec,
    vars: &Vars,
    limits: Limits,
    secrets: &Secrets,
) -> (u32, Attempt) {
    let retry = check.retry.or(spec.defaults.retry);
    let attempts = retry.map_or(1, |r| r.attempts.max(1));
    let backoff = retry.map_or(Duration::ZERO, |r| r.backoff.0);
    let mut last = caller.attempt(call, check, vars, limits, secrets).await;
    let mut made = 1;
    while made < attempts && !last.passed() {
        if limits.deadline.is_some_and(|d| Instant::now() + backoff >= d) {
            break;
        }
        if !backoff.is_zero() {
            tokio::time::sleep(backoff).await;
        }
        last = caller.attempt(call, check, vars, limits, secrets).await;
        made += 1;
    }
    (made, last)
}
