//! The CRD schemas and the config types describe the same objects twice
//! (`src/controller/crd/` for the API server, `src/config/` for the loader).
//! A field the config reads but the CRD schema lacks would be pruned by the
//! API server without a word, and the controller would run without it. This
//! test sends one object of each kind with every field set through the real
//! API server and checks that everything came back.

use serde_json::Value;
use tagpilot::config::automation::ImageUpdateAutomationObject;
use tagpilot::config::image_policy::ImagePolicyObject;
use tagpilot::config::image_repository::ImageRepository;
use tagpilot::config::source::GitRepositoryObject;
use tagpilot::config::sync::SyncObject;

use crate::harness::cluster::Cluster;

const EVERY_FIELD: &str = include_str!("../../testdata/crd/every-field.yaml");

/// Panics unless every value of `expected` is in `actual` at the same place.
fn assert_kept(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let inner = format!("{path}.{key}");
                let kept = actual
                    .get(key)
                    .unwrap_or_else(|| panic!("the API server dropped {inner}"));
                assert_kept(value, kept, &inner);
            }
        }
        (Value::Array(expected), Value::Array(actual)) => {
            assert_eq!(expected.len(), actual.len(), "{path}: {actual:?}");
            for (index, (value, kept)) in expected.iter().zip(actual).enumerate() {
                assert_kept(value, kept, &format!("{path}[{index}]"));
            }
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

/// The document parses as the config type of its kind (which refuses unknown fields).
fn parse_as_config(kind: &str, document: &Value) {
    let result = match kind {
        "ImageRepository" => serde_json::from_value::<ImageRepository>(document.clone()).err(),
        "ImagePolicy" => serde_json::from_value::<ImagePolicyObject>(document.clone()).err(),
        "GitRepository" => serde_json::from_value::<GitRepositoryObject>(document.clone()).err(),
        "ImageUpdateAutomation" => {
            serde_json::from_value::<ImageUpdateAutomationObject>(document.clone()).err()
        }
        "Sync" => serde_json::from_value::<SyncObject>(document.clone()).err(),
        other => panic!("no config type for {other}"),
    };
    assert!(result.is_none(), "{kind}: {result:?}");
}

#[test]
fn every_field_the_config_reads_survives_the_crd_schemas() {
    let documents: Vec<Value> = EVERY_FIELD
        .split("\n---\n")
        .map(|text| serde_saphyr::from_str(text).unwrap())
        .collect();
    let kinds: std::collections::BTreeSet<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 5, "one object of each kind: {kinds:?}");
    for document in &documents {
        parse_as_config(document["kind"].as_str().unwrap(), document);
    }

    let cluster = Cluster::start();
    cluster.namespace("schema");
    cluster.apply(EVERY_FIELD);
    for document in &documents {
        let kind = document["kind"].as_str().unwrap();
        let name = document["metadata"]["name"].as_str().unwrap();
        let stored = cluster
            .get_json(kind, "schema", name)
            .unwrap_or_else(|| panic!("{kind} {name} was not stored"));
        assert_kept(
            &document["spec"],
            &stored["spec"],
            &format!("{kind} {name}: spec"),
        );
        // What the controller reads back still parses as tagpilot's own type.
        let mut read_back = stored.clone();
        if let Some(object) = read_back.as_object_mut() {
            object.remove("status");
        }
        parse_as_config(kind, &read_back);
    }
}
