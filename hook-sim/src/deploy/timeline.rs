//! The timeline as the engine writes it: simulated time, real time, and a live sink.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::outcome::{Event, TimelineEntry};
use crate::state::SimState;

pub(super) type Sink = Arc<dyn Fn(&TimelineEntry) + Send + Sync>;

pub(super) struct Timeline {
    pub(super) state: Arc<SimState>,
    /// The simulated clock when the deployment started.
    pub(super) start_sim: Duration,
    pub(super) start: Instant,
    pub(super) entries: Mutex<Vec<TimelineEntry>>,
    pub(super) sink: Option<Sink>,
}

impl Timeline {
    /// Simulated time since the deployment started.
    pub(super) fn simulated(&self) -> Duration {
        self.state.recorder.clock.now().saturating_sub(self.start_sim)
    }

    pub(super) fn emit(&self, event: Event) {
        let entry = TimelineEntry {
            at: self.simulated(),
            real: self.start.elapsed(),
            event,
        };
        if let Some(sink) = &self.sink {
            sink(&entry);
        }
        self.entries.lock().expect("timeline poisoned").push(entry);
    }
}
