//! Synthetic traffic through the alias while a deployment runs: the engine dispatches each
//! request at its simulated time; the request runs in real time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::state::SimState;

use super::outcome::VersionTraffic;
use super::plan::Traffic;

/// The traffic of one deployment.
pub(super) struct TrafficRun {
    state: Arc<SimState>,
    function: String,
    alias: String,
    interval: Duration,
    paths: Vec<String>,
    /// Simulated time of the next request.
    pub(super) next_at: Duration,
    n: u64,
    permits: Arc<Semaphore>,
    in_flight: JoinSet<()>,
    pub(super) counts: Arc<Mutex<BTreeMap<String, VersionTraffic>>>,
}

impl TrafficRun {
    pub(super) fn new(state: Arc<SimState>, function: &str, alias: &str, traffic: &Traffic, start: Duration) -> Self {
        TrafficRun {
            state,
            function: function.to_string(),
            alias: alias.to_string(),
            interval: traffic.interval(),
            paths: if traffic.paths.is_empty() {
                vec!["/hello".to_string()]
            } else {
                traffic.paths.clone()
            },
            next_at: start,
            n: 0,
            permits: Arc::new(Semaphore::new(traffic.concurrency.max(1))),
            in_flight: JoinSet::new(),
            counts: Arc::default(),
        }
    }

    /// Sends the request due at `next_at` (the clock stands on it), once a slot is free.
    pub(super) async fn dispatch(&mut self) {
        // Lambda ends every invocation by its timeout (15 minutes at most): a slot that stays
        // taken longer belongs to a scripted version that never answers; skip the request.
        let permit = tokio::time::timeout(Duration::from_secs(900), self.permits.clone().acquire_owned()).await;
        let Ok(Ok(permit)) = permit else {
            self.next_at += self.interval;
            return;
        };
        while self.in_flight.try_join_next().is_some() {}
        self.n += 1;
        let n = self.n;
        let path = self.paths[((n - 1) % self.paths.len() as u64) as usize].clone();
        let (state, function, alias, counts) = (
            self.state.clone(),
            self.function.clone(),
            self.alias.clone(),
            self.counts.clone(),
        );
        // The invocation starts (for its metrics, and for the alarms waiting on them) now.
        let running = state.recorder.begin_invocation(&function);
        self.in_flight.spawn(async move {
            let _permit = permit;
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let query = if query.is_empty() {
                format!("name=user-{n}")
            } else {
                format!("{query}&name=user-{n}")
            };
            let event = crate::http_api::api_event("GET", path, &query, serde_json::Map::new(), "hook-sim-traffic", "");
            if let Some(outcome) = crate::lambda_api::invoke_internal(
                &state,
                &function,
                Some(&alias),
                &event,
                crate::lambda_api::Source::Traffic { running, n },
            )
            .await
            {
                let mut counts = counts.lock().expect("poisoned");
                let c = counts.entry(outcome.executed_version.clone()).or_default();
                c.requests += 1;
                c.errors += u64::from(outcome.function_error.is_some());
                c.throttled += u64::from(outcome.throttled);
                // An answer API Gateway passes on with a 5xx status: an error the user saw that
                // Lambda's `Errors` metric does not count.
                let status = outcome.json().get("statusCode").and_then(serde_json::Value::as_u64);
                c.server_errors += u64::from(outcome.function_error.is_none() && status.is_some_and(|s| s >= 500));
            }
        });
        self.next_at += self.interval;
    }

    /// Stops the requests in flight.
    pub(super) fn stop(&mut self) {
        self.in_flight.abort_all();
    }
}
