//! The JSON Schema of the spec format, for editors and `hook-runner schema`.

use serde_json::Value;

use crate::model::SpecFile;

/// The JSON Schema of the spec format, for editors (`# yaml-language-server: $schema=...`).
pub fn schema() -> Value {
    let schema = schemars::schema_for!(SpecFile);
    serde_json::to_value(schema).expect("schemas serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_every_check_key() {
        let s = schema();
        let check = &s["$defs"]["Check"]["properties"];
        for key in [
            "name",
            "phase",
            "invoke",
            "http",
            "metrics",
            "expect",
            "capture",
            "repeat",
            "concurrency",
            "thresholds",
        ] {
            assert!(check.get(key).is_some(), "schema lacks {key}: {check}");
        }
    }
}
