//! The simulated clock, for the processes a deployment runs: `GET
//! /_hook-sim/clock/{function}?until_ms=T` answers `{"now_ms": N}` (wall-clock milliseconds on
//! the simulated clock) once simulated time has reached `T` (`0`: at once).
//!
//! A hook that watches a deployment's figures for minutes (hook-sdk's `metrics` check with
//! `watch`) waits on this clock, named in [`CLOCK_VARIABLE`], instead of the system's: while it
//! waits it is not real work, so the engine moves the clock on at the deployment's speed,
//! sending traffic and evaluating alarms on the way, and answers when the time comes. Outside a
//! deployment the clock is real time and so is the wait.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use std::sync::Arc;

use crate::state::SimState;

/// The variable that names the clock in a function's environment.
pub(crate) const CLOCK_VARIABLE: &str = "HOOK_CLOCK_ENDPOINT";

/// The longest one wait lasts outside a deployment (real time): the caller asks again.
const MAX_REAL_WAIT: Duration = Duration::from_secs(900);

#[derive(Deserialize)]
pub(crate) struct Until {
    #[serde(default)]
    until_ms: u64,
}

/// Waits until simulated wall-clock `until_ms`, and says the time then.
pub(crate) async fn clock(
    State(state): State<Arc<SimState>>,
    Path(function): Path<String>,
    Query(until): Query<Until>,
) -> Json<serde_json::Value> {
    let clock = &state.recorder.clock;
    let now_ms = |clock: &crate::clock::SimClock| clock.epoch_ms() + clock.now().as_millis() as u64;
    let target = Duration::from_millis(until.until_ms.saturating_sub(clock.epoch_ms()));
    if until.until_ms == 0 || clock.now() >= target {
        return Json(serde_json::json!({ "now_ms": now_ms(clock) }));
    }
    if !clock.driven() && state.skip_clock_waits.load(std::sync::atomic::Ordering::Relaxed) {
        clock.jump_to(target);
        return Json(serde_json::json!({ "now_ms": now_ms(clock) }));
    }
    if !clock.driven() {
        let wait = target.saturating_sub(clock.now()).min(MAX_REAL_WAIT);
        tokio::time::sleep(wait).await;
        return Json(serde_json::json!({ "now_ms": now_ms(clock) }));
    }
    let mut moves = clock.moves();
    state.sleepers.lock().expect("poisoned").push(target);
    state.sleepers_changed.notify_one();
    // The process waits: its invocation is not real work meanwhile.
    let _asleep = state.recorder.is_running(&function).then(|| Asleep::new(&state));
    while clock.driven() && clock.now() < target {
        if moves.changed().await.is_err() {
            break;
        }
    }
    if clock.now() < target {
        // The deployment ended: real time again.
        tokio::time::sleep(target.saturating_sub(clock.now()).min(MAX_REAL_WAIT)).await;
    }
    Json(serde_json::json!({ "now_ms": now_ms(clock) }))
}

/// A running invocation's real work, suspended while it waits on the clock.
struct Asleep {
    state: Arc<SimState>,
}

impl Asleep {
    fn new(state: &Arc<SimState>) -> Self {
        state.recorder.clock.end_real_work();
        Asleep { state: state.clone() }
    }
}

impl Drop for Asleep {
    fn drop(&mut self) {
        self.state.recorder.clock.begin_real_work();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(until_ms: u64) -> Query<Until> {
        Query(Until { until_ms })
    }

    /// Outside a deployment the clock is real time: a wait ends when the time comes, on tokio's
    /// paused clock here (no test waits for real).
    #[tokio::test(start_paused = true)]
    async fn outside_a_deployment_a_wait_takes_real_time() {
        let sim = crate::Sim::start().await.unwrap();
        let state = sim.state.clone();
        let started = tokio::time::Instant::now();
        let Json(now) = clock(State(state.clone()), Path("f".into()), wait(0)).await;
        let now = now["now_ms"].as_u64().unwrap();
        let Json(then) = clock(State(state.clone()), Path("f".into()), wait(now + 90_000)).await;
        assert!(then["now_ms"].as_u64().unwrap() >= now + 90_000);
        assert!(started.elapsed() >= Duration::from_secs(90), "the wait was real time");
        // A wait longer than MAX_REAL_WAIT answers at its end: the caller asks again.
        let Json(capped) = clock(State(state), Path("f".into()), wait(now + 3_600_000)).await;
        assert!(capped["now_ms"].as_u64().unwrap() < now + 3_600_000);
    }
}
