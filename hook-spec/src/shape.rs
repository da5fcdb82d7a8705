//! What a spec expects at a key path, in words, from the spec's JSON Schema: the hint of a
//! type error ("`retry`: a mapping with `attempts` (a whole number ≥ 1, required) …").

use serde_json::Value;

/// The expected shape at `path` (`checks[0].retry`, `defaults.timeout`), when the schema
/// knows it.
pub(crate) fn expected_at(path: &str) -> Option<String> {
    // Made once: every type error of every file validated asks it.
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::schema::schema);
    let node = walk(schema, schema, &segments(path))?;
    let shape = describe(schema, node, 0)?;
    let about = resolve(schema, node)
        .get("description")
        .or_else(|| node.get("description"))
        .and_then(Value::as_str)
        .map(|d| d.lines().next().unwrap_or_default().trim_end_matches('.').to_string());
    Some(match about {
        Some(a) if !a.is_empty() && !shape.contains(&a) => format!("expected {shape} — {a}"),
        _ => format!("expected {shape}"),
    })
}

fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let name = part.split('[').next().unwrap_or_default();
        if !name.is_empty() {
            out.push(name.to_string());
        }
        if part.contains('[') {
            out.push("[]".to_string());
        }
    }
    out
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..8 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix("#/$defs/").and_then(|n| root.get("$defs")?.get(n)) {
                Some(next) => node = next,
                None => break,
            },
            None => break,
        }
    }
    node
}

/// The alternatives of a node, without `null` (an optional key is not asked to be null).
fn variants<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    let node = resolve(root, node);
    for key in ["anyOf", "oneOf"] {
        if let Some(list) = node.get(key).and_then(Value::as_array) {
            return list
                .iter()
                .map(|v| resolve(root, v))
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
        }
    }
    vec![node]
}

fn walk<'a>(root: &'a Value, node: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(node);
    };
    for v in variants(root, node) {
        if first == "[]" {
            if let Some(items) = v.get("items") {
                return walk(root, items, rest);
            }
            continue;
        }
        if let Some(p) = v.get("properties").and_then(|p| p.get(first.as_str())) {
            return walk(root, p, rest);
        }
        // A map: the key is free text (a JSONPath may hold dots), its value is the shape.
        if let Some(values) = v.get("additionalProperties").filter(|a| a.is_object()) {
            return Some(values);
        }
    }
    None
}

fn types(v: &Value) -> Vec<&str> {
    match v.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    }
}

fn describe(root: &Value, node: &Value, depth: usize) -> Option<String> {
    let vs = variants(root, node);
    // One of some words (`before`, `after`, `both`).
    let consts: Vec<String> = vs
        .iter()
        .filter_map(|v| v.get("const").and_then(Value::as_str).map(|c| format!("`{c}`")))
        .collect();
    if !consts.is_empty() && consts.len() == vs.len() {
        return Some(format!("one of {}", consts.join(", ")));
    }
    let parts: Vec<String> = vs.iter().filter_map(|v| describe_one(root, v, depth)).collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(", or "))
    }
}

fn describe_one(root: &Value, v: &Value, depth: usize) -> Option<String> {
    if let Some(props) = v.get("properties").and_then(Value::as_object)
        && !props.is_empty()
    {
        if depth > 0 {
            return Some("a mapping".to_string());
        }
        let required: Vec<&str> = v
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let keys: Vec<String> = props
            .iter()
            .map(|(k, p)| {
                let inner = describe(root, p, depth + 1).unwrap_or_else(|| "any value".to_string());
                let req = if required.contains(&k.as_str()) {
                    ", required"
                } else {
                    ""
                };
                format!("`{k}` ({inner}{req})")
            })
            .collect();
        return Some(format!("a mapping with {}", keys.join(", ")));
    }
    if let Some(pattern_desc) = v.get("examples").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        let ex: Vec<String> = pattern_desc
            .iter()
            .filter_map(Value::as_str)
            .map(|e| format!("`{e}`"))
            .collect();
        if !ex.is_empty() {
            return Some(format!("text like {}", ex.join(" or ")));
        }
    }
    let ts = types(v);
    let words: Vec<String> = ts
        .iter()
        .map(|t| match *t {
            "integer" => match v.get("minimum").and_then(Value::as_i64) {
                Some(min) => format!("a whole number ≥ {min}"),
                None => "a whole number".to_string(),
            },
            "number" => "a number".to_string(),
            "boolean" => "`true` or `false`".to_string(),
            "string" => "text".to_string(),
            "array" => {
                let item = v
                    .get("items")
                    .and_then(|i| describe(root, i, depth + 1))
                    .unwrap_or_else(|| "values".to_string());
                format!("a list of {}", plural(&item))
            }
            "object" => match v.get("additionalProperties").filter(|a| a.is_object()) {
                Some(values) => format!(
                    "a mapping of names to {}",
                    plural(&describe(root, values, depth + 1).unwrap_or_else(|| "values".into()))
                ),
                None => "a mapping".to_string(),
            },
            other => other.to_string(),
        })
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" or "))
    }
}

fn plural(item: &str) -> String {
    match item {
        "text" => "texts".to_string(),
        _ => item.strip_prefix("a ").map_or(item.to_string(), |s| format!("{s}s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_keys_of_a_mapping() {
        let s = expected_at("checks[0].retry").unwrap();
        assert!(
            s.starts_with("expected a mapping with `attempts` (a whole number ≥ 1, required)"),
            "{s}"
        );
        assert!(s.contains("`backoff` (text like `800ms`"), "{s}");
    }

    #[test]
    fn whole_numbers_lists_and_words() {
        assert!(
            expected_at("checks[2].repeat")
                .unwrap()
                .starts_with("expected a whole number ≥ 1")
        );
        assert!(
            expected_at("checks[0].targets")
                .unwrap()
                .starts_with("expected a list of texts")
        );
        assert!(
            expected_at("checks[0].phase")
                .unwrap()
                .starts_with("expected one of `before`, `after`, `both`")
        );
        assert!(
            expected_at("fail_fast")
                .unwrap()
                .starts_with("expected `true` or `false`")
        );
        assert!(expected_at("checks[0].expect.json.$.body.x").is_some());
        assert_eq!(expected_at("nowhere.at.all"), None);
    }
}
