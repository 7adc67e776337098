//! The CRD schemas and the loader are derived from the same hub types
//! (`src/api/`). A field the loader reads but a CRD schema lacked would be
//! pruned by the API server without a word, and the controller would run
//! without it. This test sends one object of each kind with every field set
//! through the real API server and checks that everything came back, and that
//! the read-back still loads.

use serde_json::Value;
use tagpilot::api::{
    GitRepositorySpec, ImagePolicySpec, ImageRepositorySpec, ImageUpdateAutomationSpec, SyncSpec,
    decode,
};

use crate::harness::cluster::Cluster;

const EVERY_FIELD: &str = include_str!("../../testdata/crd/every-field.yaml");

/// Panics unless every value of `expected` is in `actual` at the same place.
pub fn assert_kept(expected: &Value, actual: &Value, path: &str) {
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

/// The document loads as its kind's hub type (which refuses unknown fields).
fn parse_as_config(kind: &str, document: &Value) {
    let result = match kind {
        "ImageRepository" => decode::<ImageRepositorySpec>(document, None).err(),
        "ImagePolicy" => decode::<ImagePolicySpec>(document, None).err(),
        "GitRepository" => decode::<GitRepositorySpec>(document, None).err(),
        "ImageUpdateAutomation" => decode::<ImageUpdateAutomationSpec>(document, None).err(),
        "Sync" => decode::<SyncSpec>(document, None).err(),
        other => panic!("no hub type for {other}"),
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
