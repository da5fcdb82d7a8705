//! The scripted `hello` of hook-sim and the example `hello` function answer alike: tests that
//! use the fast scripted one prove what the deployed one does.

use hook_examples::hello;
use hook_sim::Behavior;
use serde_json::{Value, json};

fn scripted(version: &str, event: &Value) -> Value {
    let mut behavior = Behavior::hello(version);
    loop {
        behavior = match behavior {
            Behavior::Custom(f) => f(event),
            Behavior::Respond(v) => return v,
            other => panic!("the scripted hello answered {other:?}"),
        }
    }
}

#[test]
fn scripted_and_example_hello_keep_the_same_contract() {
    let events = [
        json!({"name": "canary"}),
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"queryStringParameters": null}),
        json!({"version": "2.0", "rawQueryString": "name=api", "queryStringParameters": {"name": "api"}}),
        json!({"queryStringParameters": {"name": "q"}, "name": "direct"}),
        json!({"queryStringParameters": {"other": "x"}, "name": "direct"}),
        json!([1, 2]),
        Value::Null,
    ];
    for version in ["1", "2", "$LATEST"] {
        for event in &events {
            assert_eq!(
                scripted(version, event),
                hello::respond(event, version),
                "version {version}, event {event}"
            );
        }
    }
}
