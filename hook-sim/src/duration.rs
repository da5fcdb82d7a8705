//! Durations as the simulator writes them: for people, and in JSON reports.

use std::time::Duration;

/// `90 s`, `2 min`, `1 h 30 min`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s < 60 {
        return format!("{} s", (d.as_secs_f64() * 1000.0).round() / 1000.0);
    }
    let parts: Vec<String> = [(s / 3600, "h"), ((s % 3600) / 60, "min"), (s % 60, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    parts.join(" ")
}

/// Serializes a duration as milliseconds, to the microsecond (`*_ms` fields).
pub(crate) fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1000.0)
}

/// Serializes a duration as seconds, to the millisecond (`*_s` fields).
pub(crate) fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_secs(5400)), "1 h 30 min");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(3602)), "1 h 2 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
    }
}
