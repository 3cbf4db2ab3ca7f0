//! The checked-in JSON Schema of the config format must match the types. Run with
//! `L7MP_ACCEPT=1` to regenerate `schemas/l7mp-config.schema.json` after changing them.

use std::path::Path;

#[test]
fn checked_in_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/l7mp-config.schema.json");
    let generated =
        serde_json::to_string_pretty(&l7mp_config::model::json_schema()).unwrap() + "\n";
    if std::env::var_os("L7MP_ACCEPT").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date; regenerate it with `L7MP_ACCEPT=1 cargo test -p l7mp-config --test main schema::`",
        path.display()
    );
}

#[test]
fn schema_describes_protocols_and_required_fields() {
    let schema = l7mp_config::model::json_schema().to_string();
    for word in [
        "UnixDomainSocket",
        "WebSocket",
        "retry_on",
        "idle_timeout",
        "max_sessions",
    ] {
        assert!(schema.contains(word), "schema lacks {word}");
    }
}
