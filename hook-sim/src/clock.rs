//! Simulated time: the clock CodeDeploy's waits, alarm periods, traffic and metrics run on.
//!
//! Outside a deployment it is real time. A deployment drives it: the engine moves it from
//! one event to the next ([`SimClock::arrive`]), pacing itself at `speed` times real time;
//! while real work runs (any invocation: a hook's, a request's) it runs at real speed, but
//! never past the next event the engine has not handled yet (the *frontier*). So a process's
//! real seconds are never scaled away (no simulated wait ends before a real process could
//! have answered), and nothing but real work moves the clock between events: the same
//! deployment gives the same simulated times at every speed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// See the [module](self) docs.
#[derive(Debug)]
pub(crate) struct SimClock {
    state: Mutex<ClockState>,
    /// The wall clock at simulated zero, in milliseconds since the Unix epoch: simulated
    /// time `t` is wall-clock time `epoch_ms + t` (CodeDeploy's timestamps, CloudWatch's
    /// period boundaries).
    epoch_ms: u64,
    /// Bumped whenever real work starts or ends: the engine's wait for the next event is
    /// paced anew.
    pace_changed: watch::Sender<u64>,
    /// The real instant of simulated zero.
    created: Instant,
    /// Bumped whenever the engine moves the clock to an event.
    moved: watch::Sender<u64>,
}

#[derive(Debug)]
struct ClockState {
    /// Simulated time at `base_real`.
    base_sim: Duration,
    base_real: Instant,
    speed: f64,
    /// Real work in progress: the clock runs at real speed.
    real_work: usize,
    /// The clock never passes this (the engine's next event).
    frontier: Option<Duration>,
}

impl ClockState {
    /// How fast the clock runs by itself: at real speed during real work; outside a
    /// deployment (speed 1, no frontier) too; else it stands until the engine moves it.
    fn running_rate(&self) -> f64 {
        if self.real_work > 0 || self.frontier.is_none() {
            1.0
        } else {
            0.0
        }
    }

    /// How fast the engine paces simulated time.
    fn pace(&self) -> f64 {
        if self.real_work > 0 { 1.0 } else { self.speed }
    }

    fn now(&self) -> Duration {
        let t = self.base_sim + self.base_real.elapsed().mul_f64(self.running_rate());
        match self.frontier {
            Some(f) => t.min(f),
            None => t,
        }
    }

    fn rebase(&mut self) {
        self.base_sim = self.now();
        self.base_real = Instant::now();
    }
}

impl SimClock {
    /// Real time, from zero.
    pub(crate) fn new() -> Self {
        SimClock {
            state: Mutex::new(ClockState {
                base_sim: Duration::ZERO,
                base_real: Instant::now(),
                speed: 1.0,
                real_work: 0,
                frontier: None,
            }),
            pace_changed: watch::channel(0).0,
            moved: watch::channel(0).0,
            created: Instant::now(),
            epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
        }
    }

    /// Wall-clock time now, in seconds since the Unix epoch (simulated during a deployment:
    /// after one it runs ahead of the real clock by the time it skipped).
    pub(crate) fn wall(&self) -> f64 {
        self.epoch_ms as f64 / 1000.0 + self.now().as_secs_f64()
    }

    /// How far the simulated clock runs ahead of the real one: the time the engine skipped.
    /// Zero until a deployment skips time. A process (a function, a hook) stamps what it writes
    /// with its own clock, the real one: adding this puts its stamp on the simulated clock,
    /// as its stamp lies on AWS's.
    pub(crate) fn skipped(&self) -> Duration {
        self.now().saturating_sub(self.created.elapsed())
    }

    /// The wall clock at simulated zero, in milliseconds since the Unix epoch.
    pub(crate) fn epoch_ms(&self) -> u64 {
        self.epoch_ms
    }

    /// The latest time at or before `t` whose wall-clock time is a multiple of `period`, as
    /// CloudWatch aligns its periods (a minute's start for 60 s).
    pub(crate) fn align_down(&self, t: Duration, period: Duration) -> Duration {
        let p = period.as_millis().max(1) as u64;
        let wall = self.epoch_ms + t.as_millis() as u64;
        Duration::from_millis((wall - wall % p).saturating_sub(self.epoch_ms))
    }

    /// The earliest time at or after `t` that is `offset` into a wall-clock minute.
    pub(crate) fn next_in_minute(&self, t: Duration, offset: Duration) -> Duration {
        let wall = self.epoch_ms + t.as_nanos().div_ceil(1_000_000) as u64;
        let at = wall - wall % 60_000 + (offset.as_millis() as u64).min(59_999);
        let at = if at < wall { at + 60_000 } else { at };
        Duration::from_millis(at - self.epoch_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().expect("clock poisoned")
    }

    /// Simulated time now.
    pub(crate) fn now(&self) -> Duration {
        self.lock().now()
    }

    /// Runs `speed` times faster than real time from now on (between events).
    pub(crate) fn set_speed(&self, speed: f64) {
        let mut s = self.lock();
        s.rebase();
        s.speed = speed;
    }

    /// Back to real time with no frontier (the end of a deployment).
    pub(crate) fn release(&self) {
        {
            let mut s = self.lock();
            s.rebase();
            s.speed = 1.0;
            s.frontier = None;
        }
        self.moved.send_modify(|n| *n += 1);
    }

    /// Sets the frontier: the clock stops at `t` until the engine moves it.
    pub(crate) fn set_frontier(&self, t: Duration) {
        let mut s = self.lock();
        s.rebase();
        s.frontier = Some(t.max(s.base_sim));
    }

    /// Jumps to `t` (never backwards) and makes it the frontier: the engine handles the event
    /// at `t` with the clock standing on it.
    pub(crate) fn arrive(&self, t: Duration) {
        {
            let mut s = self.lock();
            s.rebase();
            s.base_sim = s.base_sim.max(t);
            s.frontier = Some(s.base_sim);
        }
        self.moved.send_modify(|n| *n += 1);
    }

    /// Outside a deployment, moves the clock forward to `t` at once (never backwards): it runs
    /// on in real time from there.
    pub(crate) fn jump_to(&self, t: Duration) {
        let mut s = self.lock();
        s.rebase();
        s.base_sim = s.base_sim.max(t);
    }

    /// A receiver that sees the engine move the clock.
    pub(crate) fn moves(&self) -> watch::Receiver<u64> {
        self.moved.subscribe()
    }

    /// Whether a deployment drives the clock (else it is real time).
    pub(crate) fn driven(&self) -> bool {
        self.lock().frontier.is_some()
    }

    /// Marks real work in progress until the guard drops: meanwhile the clock runs at real
    /// speed.
    #[cfg(test)]
    pub(crate) fn real_work(&self) -> RealWork<'_> {
        self.begin_real_work();
        RealWork { clock: self }
    }

    /// Real work starts (see [`real_work`](Self::real_work)); [`end_real_work`](Self::end_real_work) ends it.
    pub(crate) fn begin_real_work(&self) {
        {
            let mut s = self.lock();
            s.rebase();
            s.real_work += 1;
        }
        self.pace_changed.send_modify(|n| *n += 1);
    }

    /// Real work ends.
    pub(crate) fn end_real_work(&self) {
        {
            let mut s = self.lock();
            s.rebase();
            s.real_work = s.real_work.saturating_sub(1);
        }
        self.pace_changed.send_modify(|n| *n += 1);
    }

    /// A receiver that sees every change of pace (real work starting or ending).
    pub(crate) fn pace_changes(&self) -> watch::Receiver<u64> {
        self.pace_changed.subscribe()
    }

    /// The real time the engine waits before simulated `t`: at `speed` times real time, or
    /// at real speed during real work.
    pub(crate) fn real_until(&self, t: Duration) -> Duration {
        let s = self.lock();
        t.saturating_sub(s.now()).div_f64(s.pace())
    }
}

/// See [`SimClock::real_work`].
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct RealWork<'a> {
    clock: &'a SimClock,
}

#[cfg(test)]
impl Drop for RealWork<'_> {
    fn drop(&mut self) {
        self.clock.end_real_work();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_at_speed_up_to_the_frontier_and_at_real_speed_during_real_work() {
        let clock = SimClock::new();
        clock.set_speed(60.0);
        clock.arrive(Duration::ZERO);
        clock.set_frontier(Duration::from_secs(120));
        assert_eq!(clock.real_until(Duration::from_secs(120)), Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now(), Duration::ZERO, "only the engine moves it between events");
        clock.arrive(Duration::from_secs(120));
        clock.set_frontier(Duration::from_secs(3600));
        {
            let _work = clock.real_work();
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(clock.now(), Duration::from_secs(122), "real seconds stay real");
            tokio::time::sleep(Duration::from_secs(3600)).await;
            assert_eq!(clock.now(), Duration::from_secs(3600), "never past the frontier");
        }
        clock.arrive(Duration::from_secs(122));
        assert_eq!(clock.real_until(Duration::from_secs(3660)), Duration::from_secs(1));
        clock.release();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(clock.now(), Duration::from_secs(3603), "real time again");
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_skipped_is_how_far_the_clock_runs_ahead_of_real_time() {
        let clock = SimClock::new();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(clock.skipped(), Duration::ZERO, "real time: nothing skipped");
        clock.set_speed(60.0);
        clock.arrive(Duration::from_secs(600));
        assert_eq!(clock.skipped(), Duration::from_secs(595));
        clock.release();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            clock.skipped(),
            Duration::from_secs(595),
            "real time again: the lead stays"
        );
    }

    #[test]
    fn periods_align_on_the_wall_clock() {
        let clock = SimClock::new();
        let minute = Duration::from_secs(60);
        for t in [Duration::ZERO, Duration::from_millis(61_234), Duration::from_secs(3600)] {
            let start = clock.align_down(t + minute, minute);
            assert!(start <= t + minute && t + minute - start < minute);
            assert_eq!((clock.epoch_ms + start.as_millis() as u64) % 60_000, 0);
            let five = clock.align_down(t + minute * 10, minute * 5);
            assert_eq!((clock.epoch_ms + five.as_millis() as u64) % 300_000, 0);
            let at = clock.next_in_minute(t, Duration::from_secs(17));
            assert!(at >= t && at - t < minute);
            assert_eq!((clock.epoch_ms + at.as_millis() as u64) % 60_000, 17_000);
        }
    }
}
