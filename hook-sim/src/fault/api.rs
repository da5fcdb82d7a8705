//! Faults to inject into the next calls of an operation.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// What happens to a call instead of (or before) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer the service's throttling error: CodeDeploy `ThrottlingException` (HTTP 400),
    /// Lambda `TooManyRequestsException` (HTTP 429).
    Throttle,
    /// Answer this error.
    Error {
        /// HTTP status.
        status: u16,
        /// Error type, e.g. `LifecycleEventAlreadyCompletedException`.
        error_type: String,
        /// Message.
        message: String,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer (the connection stays open until the client gives up).
    Hang,
}

impl Fault {
    /// An error fault with HTTP status 400.
    pub fn error(error_type: &str, message: &str) -> Fault {
        Fault::Error {
            status: 400,
            error_type: error_type.to_string(),
            message: message.to_string(),
        }
    }
}

/// Faults queued per operation, used up first in, first out.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queued: Mutex<HashMap<String, VecDeque<Fault>>>,
}

impl Faults {
    pub(crate) fn push(&self, operation: &str, fault: Fault, times: usize) {
        let mut q = self.queued.lock().expect("faults poisoned");
        let entry = q.entry(operation.to_string()).or_default();
        for _ in 0..times {
            entry.push_back(fault.clone());
        }
    }

    pub(crate) fn take(&self, operation: &str) -> Option<Fault> {
        self.queued
            .lock()
            .expect("faults poisoned")
            .get_mut(operation)?
            .pop_front()
    }

    pub(crate) fn clear(&self) {
        self.queued.lock().expect("faults poisoned").clear();
    }
}
