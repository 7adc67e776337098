//! Fuzzes the Go template interpreter on arbitrary template text over
//! Flux-shaped data.
//!
//! Properties: never panics (parse and execution errors are values), and the
//! output stays within the documented limit.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::gotemplate::exec::MAX_OUTPUT;
use tagpilot_fuzz::gotemplate::{Map, Struct, Template, Value};

fn data() -> Value {
    let change = Value::Struct(Arc::new(Struct::plain(
        "update.Change",
        vec![
            ("OldValue", Value::string("ghcr.io/acme/app:1.0")),
            ("NewValue", Value::string("ghcr.io/acme/app:1.1")),
            ("Setter", Value::string("flux-system:app")),
        ],
    )));
    let id = Value::Struct(Arc::new(Struct::plain(
        "update.ObjectIdentifier",
        vec![("Kind", Value::string("Deployment")), ("Name", Value::string("app"))],
    )));
    let changes = Value::list("[]update.Change", vec![change.clone(), change]);
    let objects = Value::Map(Arc::new(Map::new(
        "update.ObjectChanges",
        "update.ObjectIdentifier",
        Value::list("[]update.Change", vec![]),
        vec![(id, changes.clone())],
    )));
    let files = Value::Map(Arc::new(Map::new(
        "map[string]update.ObjectChanges",
        "string",
        Value::Missing,
        vec![(Value::string("apps/app.yaml"), objects.clone())],
    )));
    let mut changed = Struct::plain("update.Result", vec![("FileChanges", files)]);
    changed.methods = vec![("Changes".into(), changes), ("Objects".into(), objects)];
    let values = Value::Map(Arc::new(Map::new(
        "map[string]string",
        "string",
        Value::string(""),
        vec![(Value::string("cluster"), Value::string("prod"))],
    )));
    Value::Struct(Arc::new(Struct::plain(
        "source.TemplateData",
        vec![
            ("AutomationObject", Value::string("flux-system/app")),
            ("Changed", Value::Struct(Arc::new(changed))),
            ("Values", values),
        ],
    )))
}

fuzz_target!(|data_bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(data_bytes) else {
        return;
    };
    let Ok(template) = Template::parse("commit message", text) else {
        return;
    };
    if let Ok(output) = template.execute(&data()) {
        assert!(output.len() <= MAX_OUTPUT, "output of {} bytes", output.len());
    }
});
