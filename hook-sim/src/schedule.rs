//! How CodeDeploy shifts a Lambda alias's traffic: its deployment configurations, and the
//! schedule of weights each one gives.

use std::fmt;
use std::time::Duration;

/// A Lambda deployment configuration's traffic routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficRouting {
    /// All traffic at once.
    AllAtOnce,
    /// `percentage` of traffic, then after `interval` all of it.
    TimeBasedCanary {
        /// Percent shifted first.
        percentage: u32,
        /// Time before the rest is shifted.
        interval: Duration,
    },
    /// `percentage` more every `interval` until all traffic is shifted.
    TimeBasedLinear {
        /// Percent shifted each step.
        percentage: u32,
        /// Time between steps.
        interval: Duration,
    },
}

/// One shift of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Time since traffic started to shift.
    pub at: Duration,
    /// Share of traffic on the target version after this step, 0 to 1.
    pub weight: f64,
}

/// CodeDeploy's predefined Lambda configurations, by name.
pub const PREDEFINED: &[&str] = &[
    "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    "CodeDeployDefault.LambdaCanary10Percent10Minutes",
    "CodeDeployDefault.LambdaCanary10Percent15Minutes",
    "CodeDeployDefault.LambdaCanary10Percent30Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
    "CodeDeployDefault.LambdaAllAtOnce",
];

const MINUTE: Duration = Duration::from_secs(60);

impl TrafficRouting {
    /// A predefined configuration, by its full name (`CodeDeployDefault.LambdaCanary10Percent5Minutes`)
    /// or the short one SAM's `DeploymentPreference.Type` uses (`Canary10Percent5Minutes`).
    pub fn predefined(name: &str) -> Option<TrafficRouting> {
        let short = name.strip_prefix("CodeDeployDefault.Lambda").unwrap_or(name);
        if short == "AllAtOnce" {
            return Some(TrafficRouting::AllAtOnce);
        }
        let full = format!("CodeDeployDefault.Lambda{short}");
        if !PREDEFINED.contains(&full.as_str()) {
            return None;
        }
        let (kind, rest) = if let Some(r) = short.strip_prefix("Canary") {
            ("canary", r)
        } else {
            ("linear", short.strip_prefix("Linear")?)
        };
        let (pct, rest) = rest.split_once("Percent")?;
        let minutes: u32 = rest
            .trim_start_matches("Every")
            .trim_end_matches("Minutes")
            .trim_end_matches("Minute")
            .parse()
            .ok()?;
        let percentage = pct.parse().ok()?;
        let interval = MINUTE * minutes;
        Some(match kind {
            "canary" => TrafficRouting::TimeBasedCanary { percentage, interval },
            _ => TrafficRouting::TimeBasedLinear { percentage, interval },
        })
    }

    /// The weights over time, from the start of the shift: the first step at zero, the last
    /// at weight 1.
    pub fn steps(&self) -> Vec<Step> {
        match *self {
            TrafficRouting::AllAtOnce => vec![Step {
                at: Duration::ZERO,
                weight: 1.0,
            }],
            TrafficRouting::TimeBasedCanary { percentage, interval } => {
                let first = f64::from(percentage.min(100)) / 100.0;
                let mut steps = vec![Step {
                    at: Duration::ZERO,
                    weight: first,
                }];
                if first < 1.0 {
                    steps.push(Step {
                        at: interval,
                        weight: 1.0,
                    });
                }
                steps
            }
            TrafficRouting::TimeBasedLinear { percentage, interval } => {
                let p = percentage.clamp(1, 100);
                let mut steps = Vec::new();
                let mut shifted = 0;
                let mut i = 0;
                while shifted < 100 {
                    shifted = (shifted + p).min(100);
                    steps.push(Step {
                        at: interval * i,
                        weight: f64::from(shifted) / 100.0,
                    });
                    i += 1;
                }
                steps
            }
        }
    }
}

impl fmt::Display for TrafficRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrafficRouting::AllAtOnce => f.write_str("all at once"),
            TrafficRouting::TimeBasedCanary { percentage, interval } => {
                write!(
                    f,
                    "canary {percentage} % for {} min, then 100 %",
                    interval.as_secs() / 60
                )
            }
            TrafficRouting::TimeBasedLinear { percentage, interval } => {
                write!(f, "linear +{percentage} % every {} min", interval.as_secs() / 60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(r: TrafficRouting) -> Vec<(u64, f64)> {
        r.steps().iter().map(|s| (s.at.as_secs() / 60, s.weight)).collect()
    }

    #[test]
    fn every_predefined_config_is_known() {
        for name in PREDEFINED {
            assert!(TrafficRouting::predefined(name).is_some(), "{name}");
        }
        assert_eq!(
            TrafficRouting::predefined("Canary10Percent5Minutes"),
            Some(TrafficRouting::TimeBasedCanary {
                percentage: 10,
                interval: MINUTE * 5
            })
        );
        assert_eq!(
            TrafficRouting::predefined("CodeDeployDefault.LambdaAllAtOnce"),
            Some(TrafficRouting::AllAtOnce)
        );
        assert_eq!(
            TrafficRouting::predefined("Canary30Percent3Minutes"),
            None,
            "custom configs are no predefined name"
        );
    }

    #[test]
    fn canary_shifts_twice() {
        let r = TrafficRouting::TimeBasedCanary {
            percentage: 30,
            interval: MINUTE * 2,
        };
        assert_eq!(weights(r), [(0, 0.3), (2, 1.0)]);
        assert_eq!(r.to_string(), "canary 30 % for 2 min, then 100 %");
    }

    #[test]
    fn linear_shifts_in_equal_steps() {
        let r = TrafficRouting::predefined("Linear10PercentEvery1Minute").unwrap();
        let w = weights(r);
        assert_eq!(w.len(), 10);
        assert_eq!(w[0], (0, 0.1));
        assert_eq!(w[4], (4, 0.5));
        assert_eq!(w[9], (9, 1.0));
        let r = TrafficRouting::TimeBasedLinear {
            percentage: 30,
            interval: MINUTE * 3,
        };
        assert_eq!(weights(r), [(0, 0.3), (3, 0.6), (6, 0.9), (9, 1.0)]);
    }

    #[test]
    fn all_at_once_is_one_step() {
        assert_eq!(weights(TrafficRouting::AllAtOnce), [(0, 1.0)]);
    }
}
