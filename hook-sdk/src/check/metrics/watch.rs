//! A metrics check that watches forward: after all traffic shifted, it reads the figures
//! every `every` for up to `watch`, and decides as soon as they allow.
//!
//! The stopping rule: a reading whose figures are *no evidence* fails at once (as any metrics
//! check's would); a reading with `min_samples` of each version whose figures breach a
//! threshold fails when the next reading breaches too (one reading alone may be a burst the
//! next one's larger window absorbs); too few samples wait for more; at the end of the watch
//! the last reading decides as a metrics check does, `inconclusive` included. No reading
//! passes early: a fault that starts late is what the watch is for.
//!
//! The new version's figures run from the start of the traffic shifting to the reading (its
//! canary traffic, if any, and the watch); the current version's cover `baseline` before the
//! shifting and the shifting itself (an `AllAtOnce` deployment has no canary, and the current
//! version served all traffic before it).

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::clock::Clock;
use super::decide::{Decision, Versions, decide};
use super::evidence::Answer;
use crate::check::TimeWindow;
use crate::report::{CheckFailure, CheckResult};
use crate::spec::{Dur, MetricsSpec, Watch};

/// What the watch ended with.
#[derive(Debug)]
pub(super) struct Watched {
    /// The last reading's decision.
    pub(super) decision: Decision,
    /// The versions, the window as the last reading had it.
    pub(super) versions: Versions,
    /// How many readings it took.
    #[allow(dead_code)]
    pub(super) readings: u32,
}

/// The windows of one reading at `now`: the new version's, the current version's.
pub(super) fn windows(w: &Watch, shifting: &TimeWindow, now: SystemTime) -> (TimeWindow, TimeWindow) {
    let end = now.max(shifting.end).min(shifting.end + w.length.0);
    let target = TimeWindow {
        start: shifting.start,
        end: end.max(shifting.start + Duration::from_secs(1)),
        what: "the traffic shifting and the watch after it".into(),
    };
    let current = TimeWindow {
        start: shifting.start - w.baseline.0,
        end: shifting.end.max(shifting.start + Duration::from_secs(1)),
        what: format!("{} before the traffic shifting and during it", Dur(w.baseline.0)),
    };
    (target, current)
}

/// Watches `shifting`'s aftermath: `read(target window, current window)` gives each reading's
/// answer. Errors are the reading's or the clock's.
pub(super) async fn watch<C, F, Fut>(
    spec: &MetricsSpec,
    w: &Watch,
    versions: &Versions,
    shifting: &TimeWindow,
    clock: &C,
    mut read: F,
) -> Result<Watched, CheckFailure>
where
    C: Clock,
    F: FnMut(TimeWindow, TimeWindow) -> Fut,
    Fut: Future<Output = Result<Answer, CheckFailure>>,
{
    let clock_failure = |e: String| CheckFailure::call(e);
    let end = shifting.end + w.length.0;
    let mut now = clock.now().await.map_err(clock_failure)?;
    let mut breached_before = false;
    let mut readings = 0;
    loop {
        readings += 1;
        let (target, current) = windows(w, shifting, now);
        let watched = now.duration_since(shifting.end).unwrap_or_default().min(w.length.0);
        let over = now >= end;
        let answer = read(target.clone(), current.clone()).await?;
        let mut versions = versions.clone();
        let breach_pending = |d: &Decision| {
            d.inconclusive.is_none() && matches!(d.result, CheckResult::Failed(CheckFailure::Expectation))
        };
        versions.window = format!(
            "{} (version {}), {} (version {})",
            target,
            versions.target,
            current,
            versions.current.as_deref().unwrap_or("none"),
        );
        let decision = decide(spec, &versions, &answer);
        let breach = breach_pending(&decision);
        let no_evidence = decision.inconclusive.is_none()
            && matches!(&decision.result, CheckResult::Failed(f) if *f != CheckFailure::Expectation);
        let stop = if over {
            Some(format!("watched {}", Dur(w.length.0)))
        } else if no_evidence {
            Some(format!(
                "stopped after {} of {}: no evidence",
                Dur(watched),
                Dur(w.length.0)
            ))
        } else if breach && breached_before {
            Some(format!(
                "stopped after {} of {}: two readings running breached",
                Dur(watched),
                Dur(w.length.0)
            ))
        } else {
            None
        };
        if let Some(stop) = stop {
            versions.window = format!("{} · {stop}, {readings} readings", versions.window);
            return Ok(Watched {
                decision,
                versions,
                readings,
            });
        }
        breached_before = breach;
        let next = (now + w.every.0).min(end);
        now = clock.sleep_until(next).await.map_err(clock_failure)?;
        if now < next {
            // A clock that answers early would have the watch read again and again.
            return Err(CheckFailure::call(
                "the clock answered a wait before its time: the watch cannot tell how long it watched".to_string(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::report::Outcome;

    /// A clock that jumps to each wait's end, recording the waits.
    struct Jumps {
        now: RefCell<SystemTime>,
        waits: RefCell<Vec<SystemTime>>,
    }

    impl Clock for Jumps {
        async fn now(&self) -> Result<SystemTime, String> {
            Ok(*self.now.borrow())
        }

        async fn sleep_until(&self, t: SystemTime) -> Result<SystemTime, String> {
            self.waits.borrow_mut().push(t);
            let mut now = self.now.borrow_mut();
            *now = (*now).max(t);
            Ok(*now)
        }
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn spec() -> MetricsSpec {
        serde_json::from_value(serde_json::json!({
            "watch": "5m", "baseline": "10m", "min_samples": 10,
            "expect": {"error_rate": "<= current + 1%"}
        }))
        .unwrap()
    }

    fn versions() -> Versions {
        Versions {
            target: "2".into(),
            current: Some("1".into()),
            alias: "live".into(),
            window: String::new(),
        }
    }

    /// An answer of `n` invocations of each version, `errors` of the new one.
    fn answer(n: f64, errors: f64) -> Answer {
        let mut a = Answer::default();
        for (id, v) in [("inv_0", n), ("inv_1", n), ("m0_0", errors), ("m0_1", 0.0)] {
            a.absorb(id, Some("Complete"), &[v], Vec::new());
        }
        a
    }

    /// Runs the watch over an all-at-once shift at `at(0)`, each reading answered by
    /// `script(reading index)`.
    async fn run(script: impl Fn(usize) -> Answer) -> (Watched, Vec<(TimeWindow, TimeWindow)>, Vec<SystemTime>) {
        let spec = spec();
        let w = spec.watch.unwrap();
        let shifting = TimeWindow {
            start: at(0),
            end: at(0),
            what: "traffic shifting".into(),
        };
        let clock = Jumps {
            now: RefCell::new(at(2)),
            waits: RefCell::default(),
        };
        let asked = RefCell::new(Vec::new());
        let watched = watch(&spec, &w, &versions(), &shifting, &clock, |t, c| {
            asked.borrow_mut().push((t, c));
            let a = script(asked.borrow().len() - 1);
            async move { Ok(a) }
        })
        .await
        .unwrap();
        (watched, asked.into_inner(), clock.waits.into_inner())
    }

    #[tokio::test]
    async fn a_healthy_version_is_watched_to_the_end_and_passes() {
        let (w, asked, waits) = run(|i| answer(if i == 0 { 0.0 } else { 100.0 * i as f64 }, 0.0)).await;
        assert_eq!(w.decision.result.outcome(), Outcome::Passed);
        assert_eq!(w.readings, 6, "at 2s, then each minute up to the end at 5m");
        assert_eq!(waits.last(), Some(&at(300)), "the last wait ends with the watch");
        let (t, c) = &asked[5];
        assert_eq!(
            (t.start, t.end),
            (at(0), at(300)),
            "new version: from the shift to the reading"
        );
        assert_eq!(
            (c.start, c.end),
            (at(0) - Duration::from_secs(600), at(1)),
            "current: the baseline"
        );
        assert!(
            w.versions.window.contains("watched 5m, 6 readings"),
            "{}",
            w.versions.window
        );
    }

    #[tokio::test]
    async fn a_breach_in_two_readings_running_fails_early() {
        // Reading 2 breaches alone (a burst), readings 4 and 5 in a row.
        let (w, asked, _) = run(|i| answer(100.0, if matches!(i, 1 | 3 | 4) { 10.0 } else { 0.0 })).await;
        assert_eq!(w.decision.result.outcome(), Outcome::Failed);
        assert_eq!(w.decision.result, CheckResult::Failed(CheckFailure::Expectation));
        assert_eq!(asked.len(), 5, "stopped at the second breach running");
        assert!(
            w.versions
                .window
                .contains("stopped after 4.03m of 5m: two readings running breached"),
            "{}",
            w.versions.window
        );
    }

    #[tokio::test]
    async fn too_few_samples_wait_and_at_the_end_the_policy_decides() {
        let (w, asked, _) = run(|_| answer(3.0, 3.0)).await;
        assert_eq!(
            asked.len(),
            6,
            "too few samples never stop a watch early, breach or not"
        );
        assert_eq!(w.decision.result.outcome(), Outcome::Failed);
        assert!(w.decision.inconclusive.is_some());
    }

    /// A clock that never moves.
    struct Stuck;

    impl Clock for Stuck {
        async fn now(&self) -> Result<SystemTime, String> {
            Ok(at(2))
        }

        async fn sleep_until(&self, _: SystemTime) -> Result<SystemTime, String> {
            Ok(at(2))
        }
    }

    #[tokio::test]
    async fn a_clock_that_answers_early_fails_the_watch_instead_of_reading_again_and_again() {
        let spec = spec();
        let shifting = TimeWindow {
            start: at(0),
            end: at(0),
            what: "traffic shifting".into(),
        };
        let reads = RefCell::new(0);
        let out = watch(&spec, &spec.watch.unwrap(), &versions(), &shifting, &Stuck, |_, _| {
            *reads.borrow_mut() += 1;
            async { Ok(answer(100.0, 0.0)) }
        })
        .await;
        let e = out.unwrap_err();
        assert!(format!("{e:?}").contains("before its time"), "{e:?}");
        assert_eq!(*reads.borrow(), 1);
    }

    #[tokio::test]
    async fn no_evidence_fails_at_once() {
        let (w, asked, _) = run(|_| {
            let mut a = answer(100.0, 0.0);
            a.absorb("m0_0", Some("PartialData"), &[], Vec::new());
            a
        })
        .await;
        assert_eq!(asked.len(), 1);
        assert_eq!(w.decision.result.outcome(), Outcome::Failed);
        assert!(w.versions.window.contains("no evidence"));
    }
}
