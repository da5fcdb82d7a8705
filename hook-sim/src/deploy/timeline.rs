//! The timeline as the engine writes it: simulated time, real time, and a live sink.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::outcome::{Event, TimelineEntry};

pub(super) type Sink = Arc<dyn Fn(&TimelineEntry) + Send + Sync>;

pub(super) struct Timeline {
    pub(super) start: Instant,
    pub(super) speed: f64,
    pub(super) entries: Mutex<Vec<TimelineEntry>>,
    pub(super) sink: Option<Sink>,
}

impl Timeline {
    pub(super) fn simulated(&self) -> Duration {
        self.start.elapsed().mul_f64(self.speed)
    }

    pub(super) fn emit(&self, event: Event) {
        let real = self.start.elapsed();
        let entry = TimelineEntry {
            at: real.mul_f64(self.speed),
            real,
            event,
        };
        if let Some(sink) = &self.sink {
            sink(&entry);
        }
        self.entries.lock().expect("timeline poisoned").push(entry);
    }

    /// The real duration of a simulated one.
    pub(super) fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed)
    }
}
