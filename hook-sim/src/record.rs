//! The record of every call that crossed the wire, and of every status CodeDeploy accepted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::SimClock;

/// The service a call was made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Service {
    /// The CodeDeploy API (awsJson1_1).
    CodeDeploy,
    /// The Lambda API (restJson1).
    Lambda,
    /// A function's Lambda Runtime API.
    Runtime,
    /// An HTTP API in front of a function.
    HttpApi,
    /// The CloudWatch API (Smithy RPC v2 CBOR).
    CloudWatch,
}

/// One call as hook-sim saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// Which API.
    pub service: Service,
    /// The operation: `GetDeployment`, `Invoke`, `Next`, `Response`, ...
    pub operation: String,
    /// The request body as JSON (or a summary for non-JSON bodies), with the qualifier for `Invoke`.
    pub request: serde_json::Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The error type answered, if any (e.g. `ThrottlingException`).
    pub error: Option<String>,
    /// When it arrived, relative to the simulator's start.
    #[serde(serialize_with = "crate::duration::millis")]
    pub at: Duration,
}

/// One request and its answer as JSON, for checking both against the services' models
/// ([`Sim::record_exchanges`](crate::Sim::record_exchanges)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    /// Which API.
    pub service: Service,
    /// The operation.
    pub operation: String,
    /// The request's members (a CBOR body as JSON: timestamps as epoch seconds).
    pub request: serde_json::Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The answer's members (an error's `__type` and `message`).
    pub response: serde_json::Value,
}

/// Exchanges kept when recording them: a deployment's worth many times over.
const MAX_EXCHANGES: usize = 10_000;

/// A status CodeDeploy accepted from a hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookStatusRecord {
    /// The deployment.
    pub deployment_id: String,
    /// The lifecycle event hook execution.
    pub execution_id: String,
    /// `Succeeded` or `Failed`.
    pub status: crate::LifecycleEventStatus,
    /// When it was accepted, relative to the simulator's start.
    #[serde(serialize_with = "crate::duration::millis")]
    pub at: Duration,
}

/// One invocation of a function, as Lambda's CloudWatch metrics count it (`Invocations`,
/// `Errors`, `Duration`, by `FunctionName`, `Resource` and `ExecutedVersion`), or one it
/// throttled (`Throttles`, by `FunctionName` and `Resource` only: no version ran). This record
/// is hook-sim's one metric store: alarms and `GetMetricData` both read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvocationRecord {
    /// The function name.
    pub function: String,
    /// The qualifier it was invoked with (an alias, a version), if any.
    pub qualifier: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// Whether it failed with a function error (what the `Errors` metric counts).
    pub error: bool,
    /// Whether Lambda throttled it (counted in `Throttles`, in no other metric).
    pub throttled: bool,
    /// When it started, on the simulated clock (real time since the simulator's start,
    /// outside deployments): Lambda stamps its metrics with the invocation's start.
    #[serde(serialize_with = "crate::duration::millis")]
    pub at: Duration,
    /// How long the handler ran (Lambda's `Duration` metric), as its `REPORT` line says.
    #[serde(serialize_with = "crate::duration::millis", rename = "duration_ms")]
    pub duration: Duration,
}

/// Calls and statuses, with a signal for waiters.
#[derive(Debug)]
pub(crate) struct Recorder {
    started: Instant,
    pub(crate) clock: SimClock,
    calls: Mutex<VecDeque<Call>>,
    /// The size of each call kept (its request's, estimated), and their sum: bounded by
    /// [`MAX_KEPT_BYTES`] once [`Recorder::keep`] bounds the record.
    call_sizes: Mutex<(VecDeque<usize>, usize)>,
    statuses: Mutex<Vec<HookStatusRecord>>,
    invocations: Mutex<VecDeque<InvocationRecord>>,
    /// The most calls and invocations kept: all of them (a simulation, whose record is its
    /// report) unless [`Recorder::keep`] says otherwise (a server that runs until stopped).
    keep: AtomicUsize,
    /// The start of the newest invocation forgotten to stay within `keep`: figures of a period
    /// before it are incomplete.
    forgotten: Mutex<Option<Duration>>,
    /// Invocations running: (id, function, simulated start).
    running: Mutex<Vec<(u64, String, Duration)>>,
    running_ids: std::sync::atomic::AtomicU64,
    running_changed: watch::Sender<u64>,
    changed: watch::Sender<u64>,
    /// Custom metrics: sent with `PutMetricData`, or written by functions as EMF log lines.
    pub(crate) custom: Mutex<crate::custom_metrics::CustomStore>,
    /// Requests and answers, when recorded (`None`: not recorded).
    exchanges: Mutex<Option<Vec<Exchange>>>,
}

/// The largest request a bounded record keeps the body of (see [`Recorder::keep`]).
const MAX_KEPT_REQUEST: usize = 16 * 1024;

/// The most bytes of requests a bounded record keeps.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;

/// About how many bytes `v` holds, or `None` once past `max` (counted no further).
fn json_size(v: &serde_json::Value, max: usize) -> Option<usize> {
    use serde_json::Value;
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += 16;
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => {
                for (k, v) in o {
                    total += k.len() + 16;
                    stack.push(v);
                }
            }
            _ => {}
        }
        if total > max {
            return None;
        }
    }
    Some(total)
}

/// An invocation in progress; see [`Recorder::begin_invocation`].
#[derive(Debug)]
pub(crate) struct Running {
    recorder: std::sync::Arc<Recorder>,
    id: u64,
    /// Its simulated start.
    pub(crate) start: Duration,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.recorder.clock.end_real_work();
        self.recorder
            .running
            .lock()
            .expect("running record poisoned")
            .retain(|(id, ..)| *id != self.id);
        self.recorder.running_changed.send_modify(|n| *n += 1);
    }
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            started: Instant::now(),
            clock: SimClock::new(),
            calls: Mutex::new(VecDeque::new()),
            call_sizes: Mutex::new((VecDeque::new(), 0)),
            statuses: Mutex::new(Vec::new()),
            invocations: Mutex::new(VecDeque::new()),
            keep: AtomicUsize::new(usize::MAX),
            forgotten: Mutex::new(None),
            running: Mutex::new(Vec::new()),
            running_ids: std::sync::atomic::AtomicU64::new(0),
            running_changed: watch::channel(0).0,
            changed: watch::channel(0).0,
            custom: Mutex::new(crate::custom_metrics::CustomStore::default()),
            exchanges: Mutex::new(None),
        }
    }

    /// Records requests and answers from now on.
    pub(crate) fn record_exchanges(&self) {
        self.exchanges.lock().expect("poisoned").get_or_insert_with(Vec::new);
    }

    /// Records one request and its answer, when recording.
    pub(crate) fn exchange(
        &self,
        service: Service,
        operation: &str,
        request: &serde_json::Value,
        status: u16,
        response: &serde_json::Value,
    ) {
        if let Some(list) = self.exchanges.lock().expect("poisoned").as_mut()
            && list.len() < MAX_EXCHANGES
        {
            list.push(Exchange {
                service,
                operation: operation.to_string(),
                request: request.clone(),
                status,
                response: response.clone(),
            });
        }
    }

    /// The requests and answers recorded.
    pub(crate) fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().expect("poisoned").clone().unwrap_or_default()
    }

    /// A line a function's process wrote: its Embedded Metric Format metrics, if it has any,
    /// become custom metrics.
    pub(crate) fn log_line(&self, line: &str) {
        if line.contains("\"_aws\"") {
            let now = self.clock.wall();
            // The function stamps its lines with its own clock, the real one.
            let offset = self.clock.skipped().as_secs_f64();
            self.custom.lock().expect("poisoned").log_line(line, now, offset);
        }
    }

    /// Keeps only the newest `n` calls and the newest `n` invocations from now on: the record
    /// of a long-running server stays bounded, in bytes too (a request's body is kept up to
    /// 16 KiB, and 64 MiB of them at most). Metrics of the periods forgotten are then
    /// answered as incomplete, never as zero.
    pub(crate) fn keep(&self, n: usize) {
        self.keep.store(n.max(1), Ordering::Relaxed);
    }

    /// Where the invocation record begins, when older invocations were forgotten.
    pub(crate) fn forgotten_until(&self) -> Option<Duration> {
        *self.forgotten.lock().expect("forgotten poisoned")
    }

    pub(crate) fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn call(
        &self,
        service: Service,
        operation: &str,
        request: serde_json::Value,
        status: u16,
        error: Option<String>,
    ) {
        let keep = self.keep.load(Ordering::Relaxed);
        // A bounded record (a server that runs until stopped) keeps a large request's size,
        // not its body: what it keeps is bounded in bytes as well as in calls.
        let (request, size) = match keep {
            usize::MAX => (request, 0),
            _ => match json_size(&request, MAX_KEPT_REQUEST) {
                Some(size) => (request, size),
                None => (
                    serde_json::json!({ "_hook_sim": format!("a request over {MAX_KEPT_REQUEST} bytes, not kept") }),
                    64,
                ),
            },
        };
        let call = Call {
            service,
            operation: operation.to_string(),
            request,
            status,
            error,
            at: self.since_start(),
        };
        {
            let mut calls = self.calls.lock().expect("call record poisoned");
            let mut sizes = self.call_sizes.lock().expect("call record poisoned");
            calls.push_back(call);
            sizes.0.push_back(size);
            sizes.1 += size;
            while calls.len() > keep || (calls.len() > 1 && sizes.1 > MAX_KEPT_BYTES) {
                calls.pop_front();
                sizes.1 -= sizes.0.pop_front().unwrap_or_default();
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub(crate) fn status(&self, record: HookStatusRecord) {
        self.statuses.lock().expect("status record poisoned").push(record);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Whether an invocation of `function` is running.
    pub(crate) fn is_running(&self, function: &str) -> bool {
        self.running
            .lock()
            .expect("running record poisoned")
            .iter()
            .any(|(_, f, _)| f == function)
    }

    /// Notes an invocation of `function` starting now (simulated), until the guard drops.
    /// A function runs in real time: meanwhile, so does the simulated clock (so whether a
    /// later request finds it still busy does not depend on the speed).
    pub(crate) fn begin_invocation(self: &std::sync::Arc<Self>, function: &str) -> Running {
        let id = self.running_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = self.clock.now();
        self.clock.begin_real_work();
        self.running
            .lock()
            .expect("running record poisoned")
            .push((id, function.to_string(), start));
        Running {
            recorder: self.clone(),
            id,
            start,
        }
    }

    /// Waits until no invocation of `function` that started before simulated `before` is
    /// still running: then the metrics of every period up to `before` are complete.
    pub(crate) async fn settled(&self, function: &str, before: Duration) {
        let mut rx = self.running_changed.subscribe();
        loop {
            let busy = self
                .running
                .lock()
                .expect("running record poisoned")
                .iter()
                .any(|(_, f, start)| f == function && *start < before);
            if !busy {
                return;
            }
            if rx.changed().await.is_err() {
                unreachable!("the recorder owns the sender");
            }
        }
    }

    pub(crate) fn invocation(
        &self,
        run: &Running,
        function: &str,
        qualifier: Option<&str>,
        executed_version: &str,
        (error, throttled): (bool, bool),
        duration: Duration,
    ) {
        let record = InvocationRecord {
            function: function.to_string(),
            qualifier: qualifier.map(str::to_string),
            executed_version: executed_version.to_string(),
            error,
            throttled,
            at: run.start,
            duration,
        };
        let mut invocations = self.invocations.lock().expect("invocation record poisoned");
        invocations.push_back(record);
        let keep = self.keep.load(Ordering::Relaxed);
        while invocations.len() > keep {
            if let Some(old) = invocations.pop_front() {
                let mut forgotten = self.forgotten.lock().expect("forgotten poisoned");
                *forgotten = Some(forgotten.map_or(old.at, |f| f.max(old.at)));
            }
        }
    }

    pub(crate) fn invocations(&self) -> Vec<InvocationRecord> {
        self.invocations
            .lock()
            .expect("invocation record poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// The records for which `keep` holds, without copying the others.
    pub(crate) fn invocations_where(&self, keep: impl Fn(&InvocationRecord) -> bool) -> Vec<InvocationRecord> {
        self.invocations
            .lock()
            .expect("invocation record poisoned")
            .iter()
            .filter(|i| keep(i))
            .cloned()
            .collect()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .expect("call record poisoned")
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn statuses(&self) -> Vec<HookStatusRecord> {
        self.statuses.lock().expect("status record poisoned").clone()
    }

    /// Waits until `done` holds for the record, checking after every change.
    pub(crate) async fn wait_until<T>(&self, mut done: impl FnMut(&[Call], &[HookStatusRecord]) -> Option<T>) -> T {
        let mut rx = self.changed.subscribe();
        loop {
            let found = {
                let mut calls = self.calls.lock().expect("call record poisoned");
                let statuses = self.statuses.lock().expect("status record poisoned");
                done(calls.make_contiguous(), &statuses)
            };
            if let Some(found) = found {
                return found;
            }
            if rx.changed().await.is_err() {
                unreachable!("the recorder owns the sender");
            }
        }
    }
}

/// An invocation of `fn` through `qualifier` that ran `version`: 900 ms and an error, or 10 ms
/// and none (the alarms' and metric queries' tests).
#[cfg(test)]
pub(crate) fn test_record(qualifier: &str, version: &str, error: bool) -> InvocationRecord {
    InvocationRecord {
        function: "fn".into(),
        qualifier: Some(qualifier.into()),
        executed_version: version.into(),
        error,
        throttled: false,
        at: std::time::Duration::ZERO,
        duration: std::time::Duration::from_millis(if error { 900 } else { 10 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_record_keeps_a_large_requests_size_not_its_body_and_bytes_in_bounds() {
        let r = Recorder::new();
        r.keep(1000);
        let big = serde_json::json!({ "Values": vec![1.5; 100_000] });
        r.call(
            Service::CloudWatch,
            "PutMetricData",
            big,
            400,
            Some("InvalidParameterValue".into()),
        );
        let kept = r.calls();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].request.to_string().contains("not kept"), "{}", kept[0].request);
        let mid = serde_json::json!({ "Body": "x".repeat(15_000) });
        for _ in 0..1000 {
            r.call(Service::Lambda, "Invoke", mid.clone(), 200, None);
        }
        let sizes = r.call_sizes.lock().unwrap();
        assert!(sizes.1 <= MAX_KEPT_BYTES, "{}", sizes.1);
        drop(sizes);
        assert_eq!(r.calls().len(), 1000, "15 KB each: within both bounds");
        // Unbounded (a rehearsal): every request as it came.
        let all = Recorder::new();
        all.call(
            Service::CloudWatch,
            "PutMetricData",
            serde_json::json!({ "Values": vec![1.5; 100_000] }),
            200,
            None,
        );
        assert_eq!(all.calls()[0].request["Values"].as_array().unwrap().len(), 100_000);
    }
}
