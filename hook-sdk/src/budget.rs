//! How long a hook may work: the Lambda deadline, and the reserve kept for reporting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a Lambda function can run (15 minutes), plus a minute of clock skew.
const LONGEST_PLAUSIBLE: Duration = Duration::from_secs(16 * 60);

/// The time one invocation has, read from Lambda's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Time from now to the deadline.
    pub total: Duration,
    /// False when the deadline was missing, past or absurd (as local emulators send) and
    /// `total` is the fallback.
    pub known: bool,
}

impl Budget {
    /// Reads `deadline_ms` (milliseconds since the epoch, as the Runtime API sends it) at `now`.
    ///
    /// A deadline that is zero, already past, or further away than Lambda allows counts as
    /// unknown, and `fallback` is used.
    pub(crate) fn from_deadline(deadline_ms: u64, now: SystemTime, fallback: Duration) -> Budget {
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        match deadline_ms.checked_sub(now_ms).map(Duration::from_millis) {
            Some(left) if deadline_ms != 0 && !left.is_zero() && left <= LONGEST_PLAUSIBLE => Budget {
                total: left,
                known: true,
            },
            _ => Budget {
                total: fallback,
                known: false,
            },
        }
    }

    /// The default reserve: a fifth of the budget, at least 250 ms and at most 5 s, and
    /// never more than half the budget. A 3 s hook keeps 600 ms to report; a 15 min hook 5 s.
    pub(crate) fn default_reserve(&self) -> Duration {
        (self.total / 5)
            .clamp(Duration::from_millis(250), Duration::from_secs(5))
            .min(self.total / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FALLBACK: Duration = Duration::from_secs(60);

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn reads_a_real_deadline() {
        let now = 1_800_000_000_000;
        let b = Budget::from_deadline(now + 3_000, at(now), FALLBACK);
        assert_eq!(
            b,
            Budget {
                total: Duration::from_secs(3),
                known: true
            }
        );
    }

    #[test]
    fn past_zero_and_absurd_deadlines_are_unknown() {
        let now = 1_800_000_000_000;
        for deadline in [0, 1_000, now - 1, now, now + 17 * 60 * 1000] {
            let b = Budget::from_deadline(deadline, at(now), FALLBACK);
            assert_eq!(
                b,
                Budget {
                    total: FALLBACK,
                    known: false
                },
                "deadline {deadline}"
            );
        }
    }

    #[test]
    fn reserve_scales_and_is_bounded() {
        let r = |ms| {
            Budget {
                total: Duration::from_millis(ms),
                known: true,
            }
            .default_reserve()
        };
        assert_eq!(r(3_000), Duration::from_millis(600));
        assert_eq!(r(900_000), Duration::from_secs(5));
        assert_eq!(r(1_000), Duration::from_millis(250));
        assert_eq!(r(300), Duration::from_millis(150));
    }
}
