//! Durations as people write them in specs: `800ms`, `5s`, `1.5s`, `2m`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::invalid::{Invalid, invalid};

/// A duration written with a unit: `us`, `ms`, `s`, `m` or `h` (`800ms`, `1.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// Parses `800ms`, `5s`, `1.5s`, `2m`, `1h`, `250us`.
    pub fn parse(text: &str) -> Result<Dur, Invalid> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(invalid!(
                "`{text}` is not a duration: write a number and a unit, like 800ms or 5s"
            ));
        }
        let n: f64 = number
            .parse()
            .map_err(|_| invalid!("`{text}` is not a duration: write a number and a unit, like 800ms or 5s"))?;
        let secs = match unit {
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            "" => return Err(invalid!("`{text}` has no unit: write {text}ms or {text}s")),
            other => return Err(invalid!("unknown unit `{other}` in `{text}`: use us, ms, s, m or h")),
        };
        if !secs.is_finite() || secs > 86_400.0 {
            return Err(invalid!("`{text}` is too long: at most 24h"));
        }
        Ok(Dur(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_duration(self.0, f)
    }
}

/// Writes a duration in the largest unit that keeps it readable: `850ms`, `1.25s`, `312us`.
pub fn fmt_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        write!(f, "{}us", trim(us))
    } else if us < 1e6 {
        write!(f, "{}ms", trim(us / 1e3))
    } else if us < 60e6 {
        write!(f, "{}s", trim(us / 1e6))
    } else {
        write!(f, "{}m", trim(us / 60e6))
    }
}

/// A duration as text, as [`fmt_duration`] writes it.
pub fn duration_text(d: Duration) -> String {
    Dur(d).to_string()
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(f64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => Dur::parse(&s).map_err(serde::de::Error::custom),
            Raw::N(n) => Err(serde::de::Error::custom(format!(
                "`{n}` has no unit: write {n}ms or {n}s"
            ))),
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(us|µs|ms|s|m|min|h)\s*$",
            "description": "A duration with a unit: 800ms, 1.5s, 2m",
            "examples": ["800ms", "5s"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Dur::parse("800ms").unwrap().0, Duration::from_millis(800));
        assert_eq!(Dur::parse("1.5s").unwrap().0, Duration::from_millis(1500));
        assert_eq!(Dur::parse(" 2m ").unwrap().0, Duration::from_secs(120));
        assert_eq!(Dur::parse("250us").unwrap().0, Duration::from_micros(250));
        assert_eq!(Dur::parse("1h").unwrap().0, Duration::from_secs(3600));
    }

    #[test]
    fn explains_bad_durations() {
        assert_eq!(
            Dur::parse("800").unwrap_err().why(),
            "`800` has no unit: write 800ms or 800s"
        );
        assert!(Dur::parse("5x").unwrap_err().why().contains("unknown unit `x`"));
        assert!(Dur::parse("fast").unwrap_err().why().contains("not a duration"));
        assert!(Dur::parse("48h").unwrap_err().why().contains("too long"));
    }

    #[test]
    fn displays_readably() {
        assert_eq!(duration_text(Duration::from_millis(850)), "850ms");
        assert_eq!(duration_text(Duration::from_millis(1250)), "1.25s");
        assert_eq!(duration_text(Duration::from_micros(312)), "312us");
        assert_eq!(duration_text(Duration::from_secs(90)), "1.5m");
    }
}
