use super::*;
use crate::controller::kinds::ApiFlavor;

struct NoCluster {
    labels: BTreeMap<String, String>,
}

impl ClusterReads for NoCluster {
    async fn secret(&self, _key: &ObjectKey) -> Option<Secret> {
        None
    }
    async fn namespace_labels(&self, _namespace: &str) -> BTreeMap<String, String> {
        self.labels.clone()
    }
    async fn service_account(
        &self,
        _key: &ObjectKey,
    ) -> Result<Option<k8s_openapi::api::core::v1::ServiceAccount>, String> {
        Ok(None)
    }
}

fn cached(kind: Kind, value: serde_json::Value) -> CachedObject {
    CachedObject {
        kind,
        resource: kind.api_resource(ApiFlavor::Tagpilot),
        object: Arc::new(serde_json::from_value(value).unwrap()),
    }
}

fn objects(pattern: &str, access_from: serde_json::Value) -> Vec<CachedObject> {
    vec![
        cached(
            Kind::ImageRepository,
            serde_json::json!({"apiVersion": "tagpilot.dev/v1alpha1", "kind": "ImageRepository",
                "metadata": {"name": "api", "namespace": "images", "generation": 1},
                "spec": {"image": "reg.example/api", "accessFrom": access_from}}),
        ),
        cached(
            Kind::ImagePolicy,
            serde_json::json!({"apiVersion": "tagpilot.dev/v1alpha1", "kind": "ImagePolicy",
                "metadata": {"name": "api", "namespace": "apps", "generation": 3},
                "spec": {"imageRepositoryRef": {"name": "api", "namespace": "images"},
                         "filterTags": {"pattern": pattern},
                         "policy": {"semver": {"range": ">=1.0.0"}}},
                "status": {"conditions": []}}),
        ),
    ]
}

fn flux_automation(managed_fields: serde_json::Value) -> CachedObject {
    CachedObject {
        kind: Kind::ImageUpdateAutomation,
        resource: Kind::ImageUpdateAutomation.api_resource(ApiFlavor::Flux),
        object: Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
                "metadata": {"name": "apps", "namespace": "shop", "managedFields": managed_fields},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": "config"}, "interval": "1h"},
            }))
            .unwrap(),
        ),
    }
}

/// The API server serves a `v1beta1` object as `v1`; the version the user
/// wrote (which decides what its message template sees) is that of the
/// last writer of its spec.
#[test]
fn the_version_an_object_was_written_in_comes_from_its_managed_fields() {
    let entry =
        |api_version: &str, time: &str, fields: serde_json::Value, subresource: Option<&str>| {
            let mut entry = serde_json::json!({
                "apiVersion": api_version, "manager": "someone", "operation": "Update",
                "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields,
            });
            if let Some(subresource) = subresource {
                entry["subresource"] = subresource.into();
            }
            entry
        };
    let spec = serde_json::json!({"f:spec": {"f:interval": {}}});
    let status = serde_json::json!({"f:status": {"f:conditions": {}}});
    let written = flux_automation(serde_json::json!([
        entry(
            "image.toolkit.fluxcd.io/v1beta1",
            "2026-01-01T00:00:00Z",
            spec.clone(),
            None
        ),
        entry(
            "image.toolkit.fluxcd.io/v1",
            "2026-01-02T00:00:00Z",
            status,
            Some("status")
        ),
    ]));
    assert_eq!(written_in(&written), Some(ApiVersion::FluxV1beta1));
    let rewritten = flux_automation(serde_json::json!([
        entry(
            "image.toolkit.fluxcd.io/v1beta1",
            "2026-01-01T00:00:00Z",
            spec.clone(),
            None
        ),
        entry(
            "image.toolkit.fluxcd.io/v1beta2",
            "2026-01-03T00:00:00Z",
            spec.clone(),
            None
        ),
    ]));
    assert_eq!(written_in(&rewritten), Some(ApiVersion::FluxV1beta2));
    let current = flux_automation(serde_json::json!([entry(
        "image.toolkit.fluxcd.io/v1",
        "2026-01-01T00:00:00Z",
        spec,
        None
    ),]));
    assert_eq!(written_in(&current), None, "the watched version itself");
    assert_eq!(written_in(&flux_automation(serde_json::json!([]))), None);
    let raw = raw_object(&written).unwrap();
    assert_eq!(raw.written_in, Some(ApiVersion::FluxV1beta1));
    let decoded = raw
        .decode::<crate::api::ImageUpdateAutomationSpec>()
        .unwrap();
    assert_eq!(decoded.api_version, ApiVersion::FluxV1beta1);
}

#[tokio::test]
async fn an_invalid_regex_is_stalled_with_the_field_named() {
    let reads = NoCluster {
        labels: BTreeMap::from([("team".into(), "apps".into())]),
    };
    let allowed = serde_json::json!({"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]});
    let snapshot = build(&objects("^v(", allowed.clone()), &reads).await;
    let id = (Kind::ImagePolicy, ObjectKey::new("apps", "api"));
    match &snapshot.problems[&id] {
        Health::Stalled { message } => {
            assert!(message.contains("spec.filterTags.pattern"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot.infos[&id].generation, Some(3));
    let fixed = build(&objects("^v", allowed), &reads).await;
    assert!(fixed.problems.is_empty(), "{:?}", fixed.problems);
    assert_eq!(fixed.objects.policies.len(), 1);
}

#[test]
fn missing_references_are_dependencies_and_the_rest_is_stalled() {
    let missing = classify(
        InvalidCause::MissingReference,
        "spec.secretRef: Secret shop/git not found in the config directory".into(),
    );
    match missing {
        Health::Failed { reason, message } => {
            assert_eq!(reason, REASON_DEPENDENCY_NOT_READY);
            assert_eq!(message, "spec.secretRef: Secret shop/git not found");
        }
        other => panic!("{other:?}"),
    }
    let invalid = "spec.filterTags.extract: capture group `ts` not found in the pattern";
    assert!(matches!(
        classify(InvalidCause::Spec, invalid.into()),
        Health::Stalled { .. }
    ));
}

#[tokio::test]
async fn cross_namespace_references_need_access_from() {
    let reads = NoCluster {
        labels: BTreeMap::from([("team".into(), "other".into())]),
    };
    for access_from in [
        serde_json::Value::Null,
        serde_json::json!({"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]}),
    ] {
        let snapshot = build(&objects("^v", access_from), &reads).await;
        let id = (Kind::ImagePolicy, ObjectKey::new("apps", "api"));
        assert!(
            matches!(&snapshot.problems[&id], Health::Failed { reason, .. } if *reason == REASON_ACCESS_DENIED),
            "{:?}",
            snapshot.problems
        );
        assert!(snapshot.objects.policies.is_empty());
    }
    let open = serde_json::json!({"namespaceSelectors": [{}]});
    let snapshot = build(&objects("^v", open), &reads).await;
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
}

/// Flux's annotation and ours both ask for a reconcile; the one that changed
/// is what `lastHandledReconcileAt` reports (Flux's when both did).
#[test]
fn either_reconcile_annotation_is_a_request() {
    let request = |flux: Option<&str>, ours: Option<&str>| Requests {
        flux: flux.map(str::to_string),
        tagpilot: ours.map(str::to_string),
    };
    let first = request(Some("t1"), None);
    assert_eq!(first.newer_than(None), Some("t1"));
    assert_eq!(first.newer_than(Some(&first)), None);
    let ours = request(Some("t1"), Some("u1"));
    assert_eq!(ours.newer_than(Some(&first)), Some("u1"));
    let both = request(Some("t2"), Some("u2"));
    assert_eq!(both.newer_than(Some(&ours)), Some("t2"));
    assert_eq!(request(None, None).newer_than(None), None);
}
