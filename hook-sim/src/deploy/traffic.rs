//! Synthetic traffic through the alias while a deployment runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::SimState;

use super::outcome::VersionTraffic;
use super::plan::Traffic;

/// Requests through the alias at a steady pace until aborted.
pub(super) async fn synthetic_traffic(
    state: Arc<SimState>,
    function: String,
    alias: String,
    traffic: Traffic,
    counts: Arc<Mutex<BTreeMap<String, VersionTraffic>>>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(traffic.concurrency.max(1)));
    let mut tick = tokio::time::interval(traffic.every.max(Duration::from_micros(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = tokio::task::JoinSet::new();
    for n in 1u64.. {
        tick.tick().await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        while in_flight.try_join_next().is_some() {}
        let (state, function, alias, counts) = (state.clone(), function.clone(), alias.clone(), counts.clone());
        in_flight.spawn(async move {
            let _permit = permit;
            let event = crate::http_api::api_event(
                "GET",
                "/hello",
                &format!("name=user-{n}"),
                serde_json::Map::new(),
                "hook-sim-traffic",
                "",
            );
            if let Some(outcome) = crate::lambda_api::invoke_internal(&state, &function, Some(&alias), &event).await {
                let mut counts = counts.lock().expect("poisoned");
                let c = counts.entry(outcome.executed_version.clone()).or_default();
                c.requests += 1;
                c.errors += u64::from(outcome.function_error.is_some());
            }
        });
    }
}
