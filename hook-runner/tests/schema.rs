//! The shipped JSON Schema is the one the spec model generates.

#[test]
fn shipped_schema_is_in_sync() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hook-spec.schema.json");
    let generated = serde_json::to_string_pretty(&hook_sdk::spec::schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "hook-runner/hook-spec.schema.json is out of date: run `UPDATE_SCHEMA=1 cargo test -p hook-runner --test schema`"
    );
}
