//! The deployment's CloudWatch alarms, read from the template: metrics, metric math, custom
//! metrics, and why an alarm AWS could never evaluate is not simulated.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{StackError, Template, scalar_text};
use crate::alarm::{
    Alarm, AlarmSource, Comparison, CustomMetric, Expression, Metric, MetricQuery, MissingData, Statistic,
};
use serde_json::{Value, json};

/// The alarms a list names (`!Ref` of alarms in the template; others are warnings).
pub fn read_alarms(
    t: &Template,
    entries: Vec<Value>,
    function: &str,
    warnings: &mut Vec<String>,
    unsimulated: &mut Vec<(String, String)>,
) -> Result<Vec<Alarm>, StackError> {
    let mut alarms = Vec::new();
    for entry in entries {
        match t.referenced(&entry)? {
            Some(id) => match alarm(t, id, function)? {
                AlarmReading::Simulated(a) => alarms.push(a),
                AlarmReading::NoData(a) => {
                    warnings.push(format!(
                        "alarm {id}: {}; TreatMissingData breaching makes every period breach, so in AWS it is in \
                         ALARM before the deployment starts and stops every deployment",
                        match &a.source {
                            AlarmSource::NoData(why) => why.as_str(),
                            _ => "",
                        }
                    ));
                    alarms.push(a);
                }
                AlarmReading::NotSimulated(why) => {
                    warnings.push(format!("alarm {id} is not simulated: {why}"));
                    unsimulated.push((id.to_string(), why));
                }
            },
            None => {
                let v = t.eval(&entry)?;
                if !v.is_null() {
                    warnings.push(format!(
                        "alarm {} is not defined in the template: it is not simulated",
                        scalar_text(&v)
                    ));
                }
            }
        }
    }
    Ok(alarms)
}

/// Said of an alarm AWS publishes no data for: what its `TreatMissingData` does with that decides.
pub const NO_DATA: &str = "in AWS it gets no data";

/// An alarm of the template as the simulator reads it.
#[derive(Debug)]
pub enum AlarmReading {
    /// Evaluated during the deployment.
    Simulated(Alarm),
    /// Left out, and why (a warning).
    NotSimulated(String),
    /// AWS publishes no data for it and it treats missing data as breaching: in ALARM from the
    /// start, it stops every deployment (simulated, and a problem for `check`).
    NoData(Alarm),
}

/// The alarm `id` as hook-sim evaluates it, or why it cannot be.
pub fn alarm(t: &Template, id: &str, function: &str) -> Result<AlarmReading, StackError> {
    if t.resource_type(id) != Some("AWS::CloudWatch::Alarm") {
        return Ok(AlarmReading::NotSimulated(format!(
            "{id} is not an AWS::CloudWatch::Alarm"
        )));
    }
    let p = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    // A period CloudWatch refuses fails the stack in AWS: an error here too.
    let periods = std::iter::once(p.get("Period")).chain(
        p.get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| m.pointer("/MetricStat/Period")),
    );
    for period in periods.flatten() {
        let text = scalar_text(period);
        let valid = text
            .parse::<u64>()
            .is_ok_and(|s| matches!(s, 10 | 20 | 30) || (s > 0 && s % 60 == 0));
        if !valid {
            return Err(StackError::new(format!(
                "alarm {id}: CloudWatch refuses Period {text}: it must be 10, 20, 30 or a multiple of 60 seconds"
            )));
        }
    }
    Ok(match alarm_of(id, &p, function) {
        Ok(a) => AlarmReading::Simulated(a),
        Err(why) if why.contains(NO_DATA) => without_data(id, &p, why),
        Err(why) => AlarmReading::NotSimulated(why),
    })
}

/// An alarm AWS publishes no data for: `TreatMissingData` alone decides, as CloudWatch
/// documents it. Under `breaching` every period breaches: the alarm is in ALARM before the
/// deployment starts and stops it, so it is simulated as such; otherwise it never leaves
/// INSUFFICIENT_DATA (`missing`, `ignore`) or OK (`notBreaching`), and never stops one.
fn without_data(id: &str, p: &Value, why: String) -> AlarmReading {
    let mode = p.get("TreatMissingData").and_then(Value::as_str).unwrap_or("missing");
    if mode != "breaching" {
        let state = if mode == "notBreaching" {
            "OK"
        } else {
            "INSUFFICIENT_DATA"
        };
        return AlarmReading::NotSimulated(format!(
            "{why}; with TreatMissingData {mode} it stays {state} and never stops a deployment"
        ));
    }
    // Its comparison, threshold, periods and M of N, read as for any alarm: only its data differs.
    let mut stand_in = p.clone();
    if let Some(o) = stand_in.as_object_mut() {
        for key in [
            "Metrics",
            "Dimensions",
            "Unit",
            "ExtendedStatistic",
            "Namespace",
            "MetricName",
            "Statistic",
        ] {
            o.remove(key);
        }
        o.insert("Namespace".into(), json!("AWS/Lambda"));
        o.insert("MetricName".into(), json!("Errors"));
        o.insert("Statistic".into(), json!("Sum"));
        let period = p
            .get("Period")
            .or_else(|| p.pointer("/Metrics/0/MetricStat/Period"))
            .map(scalar_text)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(60)
            .max(60);
        o.insert("Period".into(), json!(period));
    }
    match alarm_of(id, &stand_in, "") {
        Ok(mut alarm) => {
            alarm.source = AlarmSource::NoData(why);
            AlarmReading::NoData(alarm)
        }
        Err(other) => AlarmReading::NotSimulated(format!("{why}; and {other}")),
    }
}

/// Alarm `id` with properties `p`, on the deployed `function`: as CloudWatch evaluates it, or why hook-sim cannot.
pub(crate) fn alarm_of(id: &str, p: &Value, function: &str) -> Result<Alarm, String> {
    let number = |v: Option<&Value>, key: &str| -> Result<Option<f64>, String> {
        match v {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .parse()
                .map(Some)
                .map_err(|_| format!("{key} is not a number")),
        }
    };
    let custom_namespace = p
        .get("Namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.starts_with("AWS/"));
    let (source, period) = match p.get("Metrics").and_then(Value::as_array) {
        None if custom_namespace => (
            AlarmSource::Custom(custom_metric(p)?),
            number(p.get("Period"), "Period")?,
        ),
        None => (
            AlarmSource::Metric(metric_query(p, p.get("Statistic"), p.get("Unit"), function)?),
            number(p.get("Period"), "Period")?,
        ),
        Some(metrics) => {
            let mut queries = BTreeMap::new();
            let mut returned = None;
            let mut period = None;
            for m in metrics {
                let mid = m
                    .get("Id")
                    .and_then(Value::as_str)
                    .ok_or("an entry of Metrics has no Id")?;
                let returns = m.get("ReturnData") != Some(&json!(false));
                if let Some(stat) = m.get("MetricStat") {
                    queries.insert(
                        mid.to_string(),
                        metric_query(&stat["Metric"], stat.get("Stat"), stat.get("Unit"), function)?,
                    );
                    period = number(stat.get("Period"), "MetricStat.Period")?.or(period);
                    if returns {
                        returned = Some(Err(mid.to_string()));
                    }
                } else if let Some(expr) = m.get("Expression").and_then(Value::as_str) {
                    if !returns {
                        return Err(format!(
                            "expression {mid} is an input of another expression: not simulated"
                        ));
                    }
                    returned = Some(Ok(expr.to_string()));
                }
            }
            let source = match returned {
                Some(Ok(expr)) => {
                    AlarmSource::Expression(Expression::parse(&expr, queries).map_err(|e| e.to_string())?)
                }
                Some(Err(mid)) => AlarmSource::Metric(queries.remove(&mid).expect("inserted above")),
                None => return Err("none of its Metrics has ReturnData true".into()),
            };
            (source, period)
        }
    };
    let comparison = match p.get("ComparisonOperator").and_then(Value::as_str) {
        Some("GreaterThanThreshold") => Comparison::GreaterThanThreshold,
        Some("GreaterThanOrEqualToThreshold") => Comparison::GreaterThanOrEqualToThreshold,
        Some("LessThanThreshold") => Comparison::LessThanThreshold,
        Some("LessThanOrEqualToThreshold") => Comparison::LessThanOrEqualToThreshold,
        other => return Err(format!("comparison {} is not simulated", other.unwrap_or("(none)"))),
    };
    let threshold = number(p.get("Threshold"), "Threshold")?.ok_or("it has no Threshold")?;
    let period = period.unwrap_or(60.0);
    if period < 60.0 {
        return Err(format!(
            "its Period is {period} s: Lambda's metrics come once a minute, so {NO_DATA}. Use Period: 60 or a \
             multiple of it"
        ));
    }
    let treat_missing = match p.get("TreatMissingData").and_then(Value::as_str) {
        None | Some("missing") => MissingData::Missing,
        Some("notBreaching") => MissingData::NotBreaching,
        Some("breaching") => MissingData::Breaching,
        Some("ignore") => MissingData::Ignore,
        Some(other) => {
            return Err(format!(
                "TreatMissingData {other:?} is not one of missing, notBreaching, breaching, ignore"
            ));
        }
    };
    let ignore_low_samples = match p.get("EvaluateLowSampleCountPercentile").and_then(Value::as_str) {
        None | Some("evaluate") => false,
        Some("ignore") => true,
        Some(other) => {
            return Err(format!(
                "EvaluateLowSampleCountPercentile {other:?} is not one of evaluate, ignore"
            ));
        }
    };
    let evaluation_periods = number(p.get("EvaluationPeriods"), "EvaluationPeriods")?.unwrap_or(1.0) as u32;
    let datapoints = number(p.get("DatapointsToAlarm"), "DatapointsToAlarm")?;
    let mut alarm = Alarm::new(id, source, comparison, threshold);
    alarm.period = Duration::from_secs_f64(period);
    alarm.evaluation_periods = evaluation_periods.max(1);
    alarm.datapoints_to_alarm = datapoints.map_or(alarm.evaluation_periods, |d| d as u32);
    alarm.treat_missing_data = treat_missing;
    alarm.ignore_low_samples = ignore_low_samples;
    Ok(alarm)
}

/// A custom metric an alarm watches (a namespace not `AWS/…`): what a function sends with
/// `PutMetricData` or writes as Embedded Metric Format log lines.
pub(crate) fn custom_metric(p: &Value) -> Result<CustomMetric, String> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let name = text("MetricName").ok_or("it has no MetricName")?;
    let stat = text("Statistic")
        .or_else(|| text("ExtendedStatistic"))
        .ok_or("it has no Statistic or ExtendedStatistic")?;
    let statistic = Statistic::parse(&stat).ok_or_else(|| {
        format!("statistic {stat} is not simulated (Sum, Average, Maximum, Minimum, SampleCount and percentiles like p99 are)")
    })?;
    let mut dimensions: Vec<(String, String)> = p
        .get("Dimensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| (scalar_text(&d["Name"]), scalar_text(&d["Value"])))
        .collect();
    dimensions.sort();
    Ok(CustomMetric {
        namespace: text("Namespace").unwrap_or_default(),
        name,
        dimensions,
        statistic,
        unit: p.get("Unit").map(scalar_text),
    })
}

/// A metric of the deployed function (or, without dimensions, of every function of the account):
/// `Namespace`, `MetricName` and `Dimensions` of `m`, in `unit` if it names one.
pub fn metric_query(
    m: &Value,
    statistic: Option<&Value>,
    unit: Option<&Value>,
    function: &str,
) -> Result<MetricQuery, String> {
    if m.get("Namespace").and_then(Value::as_str) != Some("AWS/Lambda") {
        return Err("it watches no AWS/Lambda metric".into());
    }
    let name = m.get("MetricName").and_then(Value::as_str);
    let Some(metric) = name.and_then(Metric::parse) else {
        return Err(format!(
            "metric {} is not simulated (Errors, Invocations, Duration and Throttles are)",
            name.unwrap_or("(none)")
        ));
    };
    // `Statistic` or `ExtendedStatistic` (a percentile) of an alarm; `Stat` of metric math.
    let name = statistic
        .and_then(Value::as_str)
        .or_else(|| m.get("ExtendedStatistic").and_then(Value::as_str));
    let statistic = match name {
        Some(s) => Statistic::parse(s).ok_or_else(|| {
            format!("statistic {s} is not simulated (Sum, Average, Maximum, Minimum, SampleCount and percentiles like p99 are)")
        })?,
        None => return Err("it has no Statistic or ExtendedStatistic".into()),
    };
    if let Some(unit) = unit.map(scalar_text)
        && unit != metric.unit()
    {
        return Err(format!(
            "its Unit is {unit}, but Lambda publishes {metric:?} in {}: {NO_DATA}. Remove Unit, or write Unit: {}",
            metric.unit(),
            metric.unit()
        ));
    }
    let mut query = MetricQuery::new(metric, statistic);
    let names: Vec<&str> = m
        .get("Dimensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d["Name"].as_str())
        .collect();
    let has = |name: &str| names.contains(&name);
    // `{}`: Lambda's account-wide set, every function of the account and region.
    query.every_function = names.is_empty();
    // Lambda publishes its metrics under these dimension sets only: an alarm on another set
    // gets no data in AWS, stays INSUFFICIENT_DATA and never stops a deployment.
    if has("ExecutedVersion") && !(has("FunctionName") && has("Resource")) {
        return Err(format!(
            "its dimensions ({}) are not a set Lambda publishes: ExecutedVersion comes only with FunctionName \
             and Resource (FUNCTION:ALIAS), so {NO_DATA}. Add Resource: !Sub ${{Function}}:ALIAS",
            names.join(", ")
        ));
    }
    if has("Resource") && !has("FunctionName") {
        return Err(format!(
            "its dimensions ({}) are not a set Lambda publishes: Resource comes only with FunctionName, so \
             {NO_DATA}. Add FunctionName",
            names.join(", ")
        ));
    }
    for d in m.get("Dimensions").and_then(Value::as_array).into_iter().flatten() {
        let value = scalar_text(&d["Value"]);
        match d["Name"].as_str() {
            Some("FunctionName") if value != function => {
                return Err(format!("it watches function {value}, not {function}"));
            }
            Some("FunctionName") => {}
            Some("Resource") => {
                let (name, q) = value.split_once(':').unwrap_or((&value, ""));
                if name != function {
                    return Err(format!("it watches resource {value}, not {function}"));
                }
                query.qualifier = (!q.is_empty()).then(|| q.to_string());
            }
            Some("ExecutedVersion") => query.executed_version = Some(value),
            other => return Err(format!("dimension {other:?} is not simulated")),
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn reads_single_metric_alarms() {
        let p = props(
            "{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Average, Threshold: 0.05, Period: 120, \
             EvaluationPeriods: 3, DatapointsToAlarm: 2, ComparisonOperator: GreaterThanOrEqualToThreshold, \
             Dimensions: [{Name: FunctionName, Value: f}, {Name: Resource, Value: 'f:live'}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        let a = alarm_of("A", &p, "f").unwrap();
        assert_eq!(
            a.to_string(),
            "Errors Average (through live, version 2) >= 0.05 for 2 of 3 period(s) of 2 min"
        );
    }

    #[test]
    fn reads_metric_math_alarms() {
        let p = props(
            "{ComparisonOperator: GreaterThanThreshold, Threshold: 5, Metrics: [\
               {Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}},\
               {Id: i, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Invocations}, Period: 60, Stat: Sum}},\
               {Id: r, Expression: 100 * e / i}]}",
        );
        let a = alarm_of("Rate", &p, "f").unwrap();
        assert!(
            matches!(&a.source, AlarmSource::Expression(e) if e.text == "100 * e / i"),
            "{a:?}"
        );
    }

    #[test]
    fn reads_latency_alarms_with_percentiles() {
        let p = props(
            "{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Threshold: 250, \
              ComparisonOperator: GreaterThanThreshold, Period: 60, EvaluationPeriods: 1, \
              Dimensions: [{Name: FunctionName, Value: f}, {Name: Resource, Value: 'f:live'}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        let a = alarm_of("Slow", &p, "f").unwrap();
        assert_eq!(
            a.to_string(),
            "Duration p99 (through live, version 2) > 250 for 1 of 1 period(s) of 1 min"
        );
        let stat = props(
            "{ComparisonOperator: GreaterThanThreshold, Threshold: 250, Metrics: [\
               {Id: d, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Duration}, Period: 60, Stat: p90}}]}",
        );
        assert!(alarm_of("Slow", &stat, "f").is_ok());
    }

    #[test]
    fn says_why_an_alarm_is_not_simulated() {
        let why = |yaml: &str| alarm_of("A", &props(yaml), "f").unwrap_err();
        assert!(why("{Namespace: AWS/ApiGateway, MetricName: 5XXError, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("no AWS/Lambda metric"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: ConcurrentExecutions, Statistic: Maximum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("metric ConcurrentExecutions is not simulated"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: other}]}").contains("watches function other, not f"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: tm99, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("statistic tm99 is not simulated"));
        assert!(why("{ComparisonOperator: GreaterThanThreshold, Threshold: 1, Metrics: [{Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}}, {Id: r, Expression: 'FILL(e, 0)'}]}").contains("FILL(...) is not simulated"));
        // Dimension sets Lambda never publishes: no data in AWS, so never simulated as firing.
        let executed_only = why(
            "{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        assert!(
            executed_only.contains("ExecutedVersion comes only with FunctionName and Resource"),
            "{executed_only}"
        );
        assert!(executed_only.contains(NO_DATA), "{executed_only}");
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: Resource, Value: 'f:live'}]}").contains("Resource comes only with FunctionName"));
        // Lambda's metrics come once a minute: a 10 s period never has data.
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Period: 10, Threshold: 0, ComparisonOperator: GreaterThanThreshold}").contains("Period is 10 s"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, TreatMissingData: sometimes}").contains("TreatMissingData \"sometimes\""));
    }

    #[test]
    fn reads_units_low_samples_and_the_account_wide_set() {
        let read = |yaml: &str| alarm_of("A", &props(yaml), "f");
        let wrong_unit = read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Unit: Seconds, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}]}").unwrap_err();
        assert!(
            wrong_unit.contains("Unit is Seconds, but Lambda publishes Duration in Milliseconds"),
            "{wrong_unit}"
        );
        assert!(wrong_unit.contains(NO_DATA), "{wrong_unit}");
        let math_unit = read("{ComparisonOperator: GreaterThanThreshold, Threshold: 1, Metrics: [{Id: e, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum, Unit: Percent}}]}").unwrap_err();
        assert!(math_unit.contains("Unit is Percent"), "{math_unit}");
        let right = read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, Unit: Milliseconds, EvaluateLowSampleCountPercentile: ignore, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: f}]}").unwrap();
        assert!(right.ignore_low_samples);
        assert!(right.to_string().ends_with("low sample counts ignored"), "{right}");
        let AlarmSource::Metric(q) = &right.source else {
            panic!("one metric")
        };
        assert!(!q.every_function, "FunctionName scopes it to the function");
        assert!(read("{Namespace: AWS/Lambda, MetricName: Duration, ExtendedStatistic: p99, EvaluateLowSampleCountPercentile: sometimes, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").unwrap_err().contains("not one of evaluate, ignore"));
        let account = read("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold}").unwrap();
        let AlarmSource::Metric(q) = &account.source else {
            panic!("one metric")
        };
        assert!(
            q.every_function,
            "no dimensions: every function of the account, hooks included"
        );
    }

    #[test]
    fn reads_alarms_on_custom_metrics() {
        let a = alarm_of(
            "Failed",
            &props("{Namespace: Shop, MetricName: OrderFailed, Statistic: Sum, Unit: Count, Threshold: 0, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: service, Value: orders}]}"),
            "f",
        )
        .unwrap();
        let AlarmSource::Custom(c) = &a.source else {
            panic!("a custom metric: {a}")
        };
        assert_eq!(c.dimensions, [("service".to_string(), "orders".to_string())]);
        assert_eq!(c.unit.as_deref(), Some("Count"));
        assert_eq!(
            a.to_string(),
            "Shop/OrderFailed Sum (service=orders) > 0 for 1 of 1 period(s) of 1 min"
        );
    }

    #[test]
    fn reads_treat_missing_data() {
        let a = alarm_of(
            "A",
            &props("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold, TreatMissingData: breaching}"),
            "f",
        )
        .unwrap();
        assert_eq!(a.treat_missing_data, MissingData::Breaching);
        assert!(a.to_string().ends_with(", missing data breaching"), "{a}");
        let default = alarm_of(
            "A",
            &props("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 0, ComparisonOperator: GreaterThanThreshold}"),
            "f",
        )
        .unwrap();
        assert_eq!(default.treat_missing_data, MissingData::Missing, "CloudWatch's default");
    }
}
