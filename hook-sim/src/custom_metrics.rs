//! Custom metrics as CloudWatch keeps them: the datapoints of `PutMetricData` and of the
//! Embedded Metric Format lines functions write to their log, and the statistic of a set of
//! counted values. The recorder holds the store; the CloudWatch API reads and writes it.

use serde_json::Value;

use crate::metric::Statistic;

/// Custom datapoints hook-sim keeps: past this, `PutMetricData` is refused.
pub(crate) const MAX_CUSTOM_POINTS: usize = 200_000;

/// One custom datapoint (a value, counted `count` times).
#[derive(Debug, Clone)]
pub(crate) struct CustomPoint {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// Sorted by name.
    pub(crate) dimensions: Vec<(String, String)>,
    /// `None` unless given.
    pub(crate) unit: String,
    /// Wall-clock seconds.
    pub(crate) at: f64,
    pub(crate) value: f64,
    pub(crate) count: u32,
    /// When CloudWatch shows it (wall-clock seconds): at once for `PutMetricData`, [`EMF_LAG`]
    /// after its log line was written for a metric in a log.
    pub(crate) visible: f64,
}

/// How long after a function writes an Embedded Metric Format line its metrics show in
/// CloudWatch (the logs are delivered, then the metrics extracted): the end of the range AWS
/// gives that catches a bad deployment latest, as for Lambda's own metrics.
pub(crate) const EMF_LAG: f64 = 60.0;

/// The custom datapoints hook-sim keeps (`PutMetricData` and EMF log lines), at most
/// [`MAX_CUSTOM_POINTS`]; past that, EMF lines are not read and every custom query answers
/// `PartialData`.
#[derive(Debug, Default)]
pub(crate) struct CustomStore {
    pub(crate) points: Vec<CustomPoint>,
    /// Some EMF datapoints were not kept.
    pub(crate) dropped: bool,
}

impl CustomStore {
    /// Keeps the metrics of an EMF log line written at `now` (simulated wall-clock seconds), if
    /// it is one; its `Timestamp`, from the writer's own (real) clock, is moved by `offset`
    /// seconds onto the simulated one.
    pub(crate) fn log_line(&mut self, line: &str, now: f64, offset: f64) {
        // A line is read only as far as the store has room: one line that names many dimension
        // sets times many values does not fill memory before it is refused.
        match emf_points_within(line, now, offset, MAX_CUSTOM_POINTS.saturating_sub(self.points.len())) {
            Some(points) => self.points.extend(points),
            None => self.dropped = true,
        }
    }

    /// The statistic of the custom metric `q` over `[from, to)` (wall-clock seconds), from the
    /// points visible by `now`; `None` without any.
    pub(crate) fn value(&self, q: &crate::metric::CustomMetric, from: f64, to: f64, now: f64) -> Option<f64> {
        let values: Vec<(f64, u64)> = self
            .points
            .iter()
            .filter(|p| {
                p.namespace == q.namespace
                    && p.name == q.name
                    && p.dimensions == q.dimensions
                    && q.unit.as_ref().is_none_or(|u| *u == p.unit)
                    && (from..to).contains(&p.at)
                    && p.visible <= now
            })
            .map(|p| (p.value, u64::from(p.count)))
            .collect();
        weighted(q.statistic, values)
    }
}

/// [`emf_points_within`] with the whole store's room.
#[cfg(test)]
pub(crate) fn emf_points(line: &str, now: f64) -> Vec<CustomPoint> {
    emf_points_within(line, now, 0.0, MAX_CUSTOM_POINTS).unwrap_or_default()
}

/// The datapoints an Embedded Metric Format log line carries, as CloudWatch Logs extracts
/// them: a JSON object whose `_aws` holds a `Timestamp` (epoch milliseconds) and
/// `CloudWatchMetrics` directives (`Namespace`, `Dimensions`: sets of member names, `Metrics`:
/// `Name` and `Unit`), each metric's value (a number, or up to 100) and each dimension's value (a
/// string) being members of the object. A directive that does not follow the format is skipped,
/// as CloudWatch skips it; any other line carries none. `None` when the line carries more than
/// `room` datapoints (reading stops there). The `Timestamp` is the writer's, on its own clock:
/// `offset` seconds move it onto the simulated one.
pub(crate) fn emf_points_within(line: &str, now: f64, offset: f64, room: usize) -> Option<Vec<CustomPoint>> {
    let line = line.trim();
    if !line.starts_with('{') || !line.contains("\"_aws\"") || line.len() > 1024 * 1024 {
        return Some(Vec::new());
    }
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(line) else {
        return Some(Vec::new());
    };
    let Some(aws) = root.get("_aws") else {
        return Some(Vec::new());
    };
    let Some(at) = aws.get("Timestamp").and_then(Value::as_f64).filter(|t| t.is_finite()) else {
        return Some(Vec::new());
    };
    let mut points = Vec::new();
    for directive in get_list(aws, "CloudWatchMetrics").into_iter().flatten().take(100) {
        let Some(namespace) = directive.get("Namespace").and_then(Value::as_str) else {
            continue;
        };
        if namespace.is_empty() || namespace.starts_with("AWS/") {
            continue;
        }
        let sets: Vec<Vec<(String, String)>> = get_list(directive, "Dimensions")
            .into_iter()
            .flatten()
            .filter_map(|set| {
                let keys = set.as_array()?;
                if keys.len() > 30 {
                    return None;
                }
                let mut dims: Vec<(String, String)> = keys
                    .iter()
                    .map(|k| {
                        let k = k.as_str()?;
                        Some((k.to_string(), root.get(k)?.as_str()?.to_string()))
                    })
                    .collect::<Option<_>>()?;
                dims.sort();
                Some(dims)
            })
            .collect();
        // No `Dimensions`: the metric without dimensions.
        let sets = if directive.get("Dimensions").is_none() {
            vec![Vec::new()]
        } else {
            sets
        };
        for metric in get_list(directive, "Metrics").into_iter().flatten().take(100) {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                continue;
            };
            let unit = metric.get("Unit").and_then(Value::as_str).unwrap_or("None");
            let values: Vec<f64> = match root.get(name) {
                Some(Value::Number(n)) => n.as_f64().into_iter().collect(),
                Some(Value::Array(list)) if list.len() <= 100 => list.iter().filter_map(Value::as_f64).collect(),
                _ => continue,
            };
            for dims in &sets {
                for v in values.iter().filter(|v| v.is_finite()) {
                    if points.len() == room {
                        return None;
                    }
                    points.push(CustomPoint {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        dimensions: dims.clone(),
                        unit: unit.to_string(),
                        at: at / 1000.0 + offset,
                        value: *v,
                        count: 1,
                        visible: now + EMF_LAG,
                    });
                }
            }
        }
    }
    Some(points)
}

/// A statistic of values each counted some times (a value with count 0 is no sample).
pub(crate) fn weighted(statistic: Statistic, mut values: Vec<(f64, u64)>) -> Option<f64> {
    values.retain(|(_, c)| *c > 0);
    let n: u64 = values.iter().map(|(_, c)| c).sum();
    if n == 0 {
        return None;
    }
    let sum: f64 = values.iter().map(|(v, c)| v * *c as f64).sum();
    Some(match statistic {
        Statistic::Sum => sum,
        Statistic::SampleCount => n as f64,
        Statistic::Average => sum / n as f64,
        Statistic::Maximum => values.iter().map(|(v, _)| *v).fold(f64::MIN, f64::max),
        Statistic::Minimum => values.iter().map(|(v, _)| *v).fold(f64::MAX, f64::min),
        Statistic::Percentile(h) => {
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Nearest rank over the counted samples.
            let rank = ((f64::from(h) / 10_000.0) * n as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            values
                .iter()
                .find(|(_, c)| {
                    seen += c;
                    seen >= rank
                })
                .map_or(values[values.len() - 1].0, |(v, _)| *v)
        }
    })
}

/// `map[key]` as a list (JSON `null` is no list).
fn get_list<'a>(map: &'a Value, key: &str) -> Option<&'a Vec<Value>> {
    map.get(key)?.as_array()
}
