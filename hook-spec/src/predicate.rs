//! Predicates: what an expected value says about an actual one.
//!
//! A plain value means equality (`$.statusCode: 200`). A map is a set of operators that
//! must all hold: `{ matches: "^Hello" }`, `{ ">=": 1, "<": 10 }`, `{ exists: false }`,
//! `{ type: string }`, `{ count: { ">": 0 } }`, `{ not: { contains: error } }`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::duration::{Dur, duration_text};
use crate::invalid::{Invalid, invalid};
use crate::limits::{MAX_PATTERN_BYTES, MAX_PATTERN_HEAP, MAX_SPEC_PATTERN_HEAP};
use crate::words::suggest;

/// Operator names a predicate map accepts.
pub(super) const OPERATORS: &[&str] = &[
    "==",
    "equals",
    "!=",
    "not_equals",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "exists",
    "type",
    "count",
    "not",
    "in",
];

/// JSON types for `type:`.
pub(super) const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object", "null"];

/// A compiled regular expression, compared by its source.
///
/// Compiled within bounds: a source of at most [`MAX_PATTERN_BYTES`], at most
/// [`MAX_PATTERN_HEAP`] of heap each, and while a spec is being read, at most
/// [`MAX_SPEC_PATTERN_HEAP`] for all of its patterns together. Matching uses no lazy DFA,
/// whose caches would grow with the answers matched, so a match costs memory in proportion
/// to the pattern only.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regex_automata::meta::Regex,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

thread_local! {
    /// Heap left for the patterns of the spec being read on this thread (None: not reading one).
    static PATTERN_BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with a budget of [`MAX_SPEC_PATTERN_HEAP`] for the patterns it compiles.
pub(crate) fn with_pattern_budget<T>(f: impl FnOnce() -> T) -> T {
    let outer = PATTERN_BUDGET.with(|b| b.replace(Some(MAX_SPEC_PATTERN_HEAP)));
    let out = f();
    PATTERN_BUDGET.with(|b| b.set(outer));
    out
}

impl Pattern {
    /// Compiles `source` within the bounds.
    pub fn new(source: &str) -> Result<Pattern, Invalid> {
        if source.len() > MAX_PATTERN_BYTES {
            return Err(invalid!(
                "the regular expression is {} bytes long, over the limit of {MAX_PATTERN_BYTES}: \
                 match a shorter, distinctive part of the text",
                source.len()
            ));
        }
        let config = regex_automata::meta::Config::new()
            .nfa_size_limit(Some(MAX_PATTERN_HEAP))
            .onepass_size_limit(Some(MAX_PATTERN_HEAP / 4))
            .hybrid(false)
            .dfa(false);
        let regex = regex_automata::meta::Regex::builder()
            .configure(config)
            .build(source)
            .map_err(|e| {
                if e.size_limit().is_some() {
                    format!(
                        "the regular expression compiles to more than {} KiB: simplify it (a repeated \
                         Unicode class like \\w{{200}} is large; try [a-zA-Z0-9_]+ or a shorter count)",
                        MAX_PATTERN_HEAP / 1024
                    )
                } else if let Some(syntax) = e.syntax_error() {
                    // The parser's own message: the pattern, a caret, what is wrong.
                    format!(
                        "bad regular expression:\n{}",
                        syntax.to_string().trim_start_matches("regex parse error:\n")
                    )
                    .replace('\n', &crate::words::LINE_BREAK.to_string())
                } else {
                    format!("bad regular expression: {e}")
                }
            })?;
        let used = regex.memory_usage();
        if used > MAX_PATTERN_HEAP {
            return Err(invalid!(
                "the regular expression takes {} KiB compiled, over the limit of {} KiB: simplify it",
                used / 1024,
                MAX_PATTERN_HEAP / 1024
            ));
        }
        let over = PATTERN_BUDGET.with(|b| match b.get() {
            Some(left) if used > left => true,
            Some(left) => {
                b.set(Some(left - used));
                false
            }
            None => false,
        });
        if over {
            return Err(invalid!(
                "the spec's regular expressions take more than {} MiB compiled together: use fewer \
                 or simpler patterns",
                MAX_SPEC_PATTERN_HEAP / (1024 * 1024)
            ));
        }
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The source.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// One operator of a predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `==` / `equals` / a plain value.
    Eq(Value),
    /// `!=` / `not_equals`.
    Ne(Value),
    /// `<`.
    Lt(Value),
    /// `<=`.
    Le(Value),
    /// `>`.
    Gt(Value),
    /// `>=`.
    Ge(Value),
    /// `contains`: substring of a string, element of an array, key of an object.
    Contains(Value),
    /// `starts_with`.
    StartsWith(String),
    /// `ends_with`.
    EndsWith(String),
    /// `matches`: a regular expression, searched in a string.
    Matches(Pattern),
    /// `exists`.
    Exists(bool),
    /// `type`.
    Type(String),
    /// `count`: the length of a string, array or object.
    Count(Box<Predicate>),
    /// `not`: the inner predicate fails.
    Not(Box<Predicate>),
    /// `in`: equal to one of these.
    In(Vec<Value>),
}

/// A predicate: operators that must all hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// The operators, in the order written.
    pub ops: Vec<Op>,
}

impl Predicate {
    /// Equality with `value`.
    pub fn eq(value: Value) -> Self {
        Predicate {
            ops: vec![Op::Eq(value)],
        }
    }

    /// Every expected string of the predicate, nested ones included.
    pub(crate) fn strings<'a>(&'a self, out: &mut Vec<&'a str>) {
        for op in &self.ops {
            match op {
                Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => json_strings(v, out),
                Op::In(items) => items.iter().for_each(|v| json_strings(v, out)),
                Op::StartsWith(s) | Op::EndsWith(s) => out.push(s),
                Op::Count(p) | Op::Not(p) => p.strings(out),
                Op::Lt(_) | Op::Le(_) | Op::Gt(_) | Op::Ge(_) | Op::Matches(_) | Op::Exists(_) | Op::Type(_) => {}
            }
        }
    }

    /// Reads a predicate from its JSON form.
    pub fn from_value(v: Value) -> Result<Predicate, Invalid> {
        let Value::Object(map) = v else {
            return Ok(Predicate::eq(v));
        };
        if map.is_empty() {
            return Err(
                "an empty map is no predicate: write a value, or operators like { matches: \"^Hello\" }".into(),
            );
        }
        let mut ops = Vec::new();
        for (key, value) in map {
            let number = |v: &Value| -> Result<Value, Invalid> {
                if v.is_number() || v.is_string() {
                    Ok(v.clone())
                } else {
                    Err(invalid!("`{key}` compares numbers or strings, not {v}"))
                }
            };
            let text = |v: Value| -> Result<String, Invalid> {
                match v {
                    Value::String(s) => Ok(s),
                    other => Err(invalid!("`{key}` takes a string, not {other}")),
                }
            };
            ops.push(match key.as_str() {
                "==" | "equals" => Op::Eq(value),
                "!=" | "not_equals" => Op::Ne(value),
                "<" => Op::Lt(number(&value)?),
                "<=" => Op::Le(number(&value)?),
                ">" => Op::Gt(number(&value)?),
                ">=" => Op::Ge(number(&value)?),
                "contains" => Op::Contains(value),
                "starts_with" => Op::StartsWith(text(value)?),
                "ends_with" => Op::EndsWith(text(value)?),
                "matches" => {
                    let source = text(value)?;
                    Op::Matches(Pattern::new(&source)?)
                }
                "exists" => match value {
                    Value::Bool(b) => Op::Exists(b),
                    other => return Err(invalid!("`exists` takes true or false, not {other}")),
                },
                "type" => {
                    let t = text(value)?;
                    if !TYPES.contains(&t.as_str()) {
                        return Err(invalid!(
                            "unknown type `{t}`{}: use one of {}",
                            suggest(&t, TYPES).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
                            TYPES.join(", ")
                        ));
                    }
                    Op::Type(t)
                }
                "count" => Op::Count(Box::new(Predicate::from_value(value)?)),
                "not" => Op::Not(Box::new(Predicate::from_value(value)?)),
                "in" => match value {
                    Value::Array(items) => Op::In(items),
                    other => return Err(invalid!("`in` takes a list, not {other}")),
                },
                other => {
                    return Err(invalid!(
                        "unknown operator `{other}`{}; operators are {}. To compare with an object, write {{ ==: {{...}} }}",
                        suggest(other, OPERATORS).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
                        OPERATORS.join(", ")
                    ));
                }
            });
        }
        Ok(Predicate { ops })
    }
}

fn show(v: &Value) -> String {
    v.to_string()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Eq(v) => write!(f, "== {}", show(v)),
            Op::Ne(v) => write!(f, "!= {}", show(v)),
            Op::Lt(v) => write!(f, "< {}", show(v)),
            Op::Le(v) => write!(f, "<= {}", show(v)),
            Op::Gt(v) => write!(f, "> {}", show(v)),
            Op::Ge(v) => write!(f, ">= {}", show(v)),
            Op::Contains(v) => write!(f, "contains {}", show(v)),
            Op::StartsWith(s) => write!(f, "starts with {s:?}"),
            Op::EndsWith(s) => write!(f, "ends with {s:?}"),
            Op::Matches(p) => write!(f, "matches /{}/", p.as_str()),
            Op::Exists(true) => f.write_str("exists"),
            Op::Exists(false) => f.write_str("does not exist"),
            Op::Type(t) => write!(f, "is {t}"),
            Op::Count(p) => write!(f, "count {p}"),
            Op::Not(p) => write!(f, "not ({p})"),
            Op::In(items) => write!(f, "in {}", show(&Value::Array(items.clone()))),
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.ops.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" and "))
    }
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Predicate::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Predicate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Predicate {
    fn schema_name() -> Cow<'static, str> {
        "Predicate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let any = serde_json::json!({});
        let num_or_str = serde_json::json!({"type": ["number", "string"]});
        let pred = serde_json::json!({"$ref": "#/$defs/Predicate"});
        schemars::json_schema!({
            "description": "A value (equality), or a map of operators that must all hold",
            "anyOf": [
                {"type": ["string", "number", "integer", "boolean", "array", "null"]},
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": false,
                    "properties": {
                        "==": any, "equals": any, "!=": any, "not_equals": any,
                        "<": num_or_str, "<=": num_or_str, ">": num_or_str, ">=": num_or_str,
                        "contains": any,
                        "starts_with": {"type": "string"},
                        "ends_with": {"type": "string"},
                        "matches": {"type": "string", "format": "regex"},
                        "exists": {"type": "boolean"},
                        "type": {"enum": TYPES},
                        "count": pred, "not": pred,
                        "in": {"type": "array"}
                    }
                }
            ]
        })
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Cmp {
    fn parse(op: &str) -> Option<Cmp> {
        Some(match op {
            "<" | "under" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" | "over" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "==" => Cmp::Eq,
            _ => return None,
        })
    }

    /// Whether `actual OP expected` holds.
    pub fn holds<T: PartialOrd>(self, actual: T, expected: T) -> bool {
        match self {
            Cmp::Lt => actual < expected,
            Cmp::Le => actual <= expected,
            Cmp::Gt => actual > expected,
            Cmp::Ge => actual >= expected,
            Cmp::Eq => actual == expected,
        }
    }

    /// Whether `x OP bound` holds for every `x` in `lo..=hi`: a bound that can never fail.
    pub fn always_holds(self, bound: f64, lo: f64, hi: f64) -> bool {
        match self {
            Cmp::Ge => bound <= lo,
            Cmp::Gt => bound < lo,
            Cmp::Le => bound >= hi,
            Cmp::Lt => bound > hi,
            Cmp::Eq => false,
        }
    }

    /// Whether `x OP bound` holds for no `x` in `lo..=hi`: a bound that can never pass.
    pub fn never_holds(self, bound: f64, lo: f64, hi: f64) -> bool {
        match self {
            Cmp::Ge => bound > hi,
            Cmp::Gt => bound >= hi,
            Cmp::Le => bound < lo,
            Cmp::Lt => bound <= lo,
            Cmp::Eq => bound < lo || bound > hi,
        }
    }

    /// The symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
        }
    }
}

/// Splits `"< 300ms"` into the operator and the rest.
pub(super) fn split_comparison(text: &str) -> Option<(Cmp, &str)> {
    let t = text.trim();
    for op in ["<=", ">=", "==", "<", ">"] {
        if let Some(rest) = t.strip_prefix(op) {
            return Some((Cmp::parse(op)?, rest.trim()));
        }
    }
    None
}

/// Comparisons of a duration: `"< 300ms"`, or `{ under: 800ms }`, `{ ">=": 1ms, "<": 1s }`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationPredicate {
    /// All must hold.
    pub bounds: Vec<(Cmp, Duration)>,
}

impl DurationPredicate {
    /// Whether `actual` meets every bound.
    pub fn holds(&self, actual: Duration) -> bool {
        self.bounds.iter().all(|(op, d)| op.holds(actual, *d))
    }

    /// Refuses bounds that no duration can fail (`>= 0ms`) or pass (`< 0ms`).
    fn sound(self) -> Result<Self, String> {
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        if self
            .bounds
            .iter()
            .all(|(op, d)| op.always_holds(ms(d), 0.0, f64::INFINITY))
        {
            return Err(format!(
                "`{self}` holds for every duration, so it can never fail: bound it from above, like \"< 800ms\""
            ));
        }
        if let Some((op, d)) = self
            .bounds
            .iter()
            .find(|(op, d)| op.never_holds(ms(d), 0.0, f64::INFINITY))
        {
            return Err(format!(
                "`{} {}` holds for no duration, so it can never pass",
                op.symbol(),
                duration_text(*d)
            ));
        }
        Ok(self)
    }

    fn from_value(v: Value) -> Result<Self, String> {
        const OPS: &[&str] = &["under", "over", "<", "<=", ">", ">=", "=="];
        let bound = |op: Cmp, text: &str| Dur::parse(text).map(|d| (op, d.0));
        match v {
            Value::String(s) => {
                let (op, rest) = split_comparison(&s)
                    .ok_or_else(|| format!("`{s}` is no duration bound: write \"< 300ms\" or {{ under: 300ms }}"))?;
                DurationPredicate {
                    bounds: vec![bound(op, rest)?],
                }
                .sound()
            }
            Value::Object(map) if !map.is_empty() => {
                let mut bounds = Vec::new();
                for (k, v) in map {
                    let op = Cmp::parse(&k).ok_or_else(|| {
                        format!(
                            "unknown duration bound `{k}`{}: use under, over, <, <=, >, >=",
                            suggest(&k, OPS)
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default()
                        )
                    })?;
                    let text = v
                        .as_str()
                        .ok_or_else(|| format!("`{k}` takes a duration like 300ms, not {v}"))?;
                    bounds.push(bound(op, text)?);
                }
                DurationPredicate { bounds }.sound()
            }
            other => Err(format!(
                "{other} is no duration bound: write \"< 300ms\" or {{ under: 300ms }}"
            )),
        }
    }
}

impl fmt::Display for DurationPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .bounds
            .iter()
            .map(|(op, d)| format!("{} {}", op.symbol(), duration_text(*d)))
            .collect();
        f.write_str(&parts.join(" and "))
    }
}

impl<'de> Deserialize<'de> for DurationPredicate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DurationPredicate::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for DurationPredicate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for DurationPredicate {
    fn schema_name() -> Cow<'static, str> {
        "DurationBound".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let d = serde_json::json!({"$ref": "#/$defs/Duration"});
        schemars::json_schema!({
            "description": "Bounds on a duration: \"< 300ms\", or { under: 800ms }",
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(<=|>=|==|<|>)\s*[0-9]"},
                {
                    "type": "object", "minProperties": 1, "additionalProperties": false,
                    "properties": {"under": d, "over": d, "<": d, "<=": d, ">": d, ">=": d, "==": d}
                }
            ]
        })
    }
}

/// A bound on a number: `">= 0.99"`, or a plain number meaning `>=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBound {
    /// The comparison.
    pub op: Cmp,
    /// The bound.
    pub value: f64,
}

impl fmt::Display for RateBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

impl<'de> Deserialize<'de> for RateBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let parsed = match &v {
            Value::Number(n) => n.as_f64().map(|value| RateBound { op: Cmp::Ge, value }),
            Value::String(s) => split_comparison(s)
                .and_then(|(op, rest)| rest.trim().parse::<f64>().ok().map(|value| RateBound { op, value })),
            _ => None,
        };
        match parsed {
            Some(b) if b.op.always_holds(b.value, 0.0, 1.0) => Err(serde::de::Error::custom(format!(
                "success_rate `{b}` holds for every share of runs, so it can never fail: write the share that \
                 must pass, like \">= 0.99\""
            ))),
            Some(b) if b.op.never_holds(b.value, 0.0, 1.0) => Err(serde::de::Error::custom(format!(
                "success_rate `{b}` holds for no share of runs, so it can never pass: write the share that must \
                 pass, like \">= 0.99\""
            ))),
            Some(b) if (0.0..=1.0).contains(&b.value) => Ok(b),
            Some(b) => Err(serde::de::Error::custom(format!(
                "a rate is between 0 and 1: {} (write 0.99 for 99 %)",
                b.value
            ))),
            None => Err(serde::de::Error::custom(format!(
                "{v} is no rate bound: write \">= 0.99\""
            ))),
        }
    }
}

impl Serialize for RateBound {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for RateBound {
    fn schema_name() -> Cow<'static, str> {
        "RateBound".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A bound on a rate between 0 and 1: \">= 0.99\", or a number meaning >=",
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^\s*(<=|>=|==|<|>)\s*[0-9.]+\s*$"}
            ]
        })
    }
}

/// Every string (and key) of a JSON value.
pub(crate) fn json_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k);
            json_strings(v, out)
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_values_mean_equality() {
        assert_eq!(Predicate::from_value(json!(200)).unwrap(), Predicate::eq(json!(200)));
        assert_eq!(
            Predicate::from_value(json!([1, 2])).unwrap(),
            Predicate::eq(json!([1, 2]))
        );
    }

    #[test]
    fn maps_are_operators() {
        let p = Predicate::from_value(json!({">=": 1, "<": 10})).unwrap();
        assert_eq!(p.ops, vec![Op::Ge(json!(1)), Op::Lt(json!(10))]);
        assert_eq!(p.to_string(), ">= 1 and < 10");
        let p = Predicate::from_value(json!({"not": {"contains": "error"}})).unwrap();
        assert_eq!(p.to_string(), "not (contains \"error\")");
    }

    #[test]
    fn unknown_operator_suggests() {
        let e = Predicate::from_value(json!({"match": "^x"}))
            .unwrap_err()
            .why()
            .to_string();
        assert!(
            e.starts_with("unknown operator `match` (did you mean `matches`?)"),
            "{e}"
        );
        let e = Predicate::from_value(json!({"type": "strng"}))
            .unwrap_err()
            .why()
            .to_string();
        assert!(e.contains("did you mean `string`?"), "{e}");
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = Predicate::from_value(json!({"matches": "(unclosed"}))
            .unwrap_err()
            .why()
            .to_string();
        assert!(e.starts_with("bad regular expression"), "{e}");
    }

    #[test]
    fn duration_bounds() {
        let p: DurationPredicate = serde_json::from_value(json!("< 300ms")).unwrap();
        assert!(p.holds(Duration::from_millis(299)));
        assert!(!p.holds(Duration::from_millis(300)));
        let p: DurationPredicate = serde_json::from_value(json!({"under": "1s", ">": "1ms"})).unwrap();
        assert_eq!(p.to_string(), "< 1s and > 1ms");
        let e = serde_json::from_value::<DurationPredicate>(json!({"undr": "1s"})).unwrap_err();
        assert!(e.to_string().contains("did you mean `under`?"), "{e}");
    }

    #[test]
    fn rate_bounds() {
        let b: RateBound = serde_json::from_value(json!(">= 0.99")).unwrap();
        assert_eq!(
            b,
            RateBound {
                op: Cmp::Ge,
                value: 0.99
            }
        );
        let b: RateBound = serde_json::from_value(json!(0.5)).unwrap();
        assert_eq!(b.op, Cmp::Ge);
        assert!(serde_json::from_value::<RateBound>(json!(">= 99")).is_err());
    }

    #[test]
    fn bounds_that_cannot_fail_or_pass_are_refused() {
        let rate = |v: serde_json::Value| serde_json::from_value::<RateBound>(v).map_err(|e| e.to_string());
        for v in [
            serde_json::json!(">= 0"),
            serde_json::json!(0),
            serde_json::json!("<= 1"),
            serde_json::json!("< 1.5"),
        ] {
            let e = rate(v.clone()).unwrap_err();
            assert!(
                e.contains("can never fail") || e.contains("between 0 and 1"),
                "{v}: {e}"
            );
        }
        assert!(rate(serde_json::json!(">= 0")).unwrap_err().contains("can never fail"));
        assert!(rate(serde_json::json!("> 1")).unwrap_err().contains("can never pass"));
        assert!(rate(serde_json::json!(">= 0.99")).is_ok() && rate(serde_json::json!("> 0")).is_ok());
        let duration = |v: serde_json::Value| serde_json::from_value::<DurationPredicate>(v).map_err(|e| e.to_string());
        assert!(
            duration(serde_json::json!(">= 0ms"))
                .unwrap_err()
                .contains("can never fail")
        );
        assert!(
            duration(serde_json::json!({">=": "0s"}))
                .unwrap_err()
                .contains("can never fail")
        );
        assert!(
            duration(serde_json::json!("< 0ms"))
                .unwrap_err()
                .contains("can never pass")
        );
        assert!(duration(serde_json::json!({">=": "0ms", "<": "1s"})).is_ok());
        assert!(duration(serde_json::json!("< 300ms")).is_ok());
    }
}
