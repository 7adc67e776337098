//! `spec.suspend` of an ImagePolicy through the engine's cycle.

use crate::engine::test_tags::Tags;

/// The objects of `yaml`, which must all load.
fn load(yaml: &str) -> super::ObjectSet {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
    let (set, errors) = super::ObjectSet::load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn objects(frozen_suspended: bool) -> super::ObjectSet {
    let policy = |name: &str, suspend: bool| {
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{imageRepositoryRef: {{name: app}}, policy: {{semver: {{range: '>=1.0.0'}}}}, suspend: {suspend}}}\n"
        )
    };
    load(&format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {{name: app, namespace: shop}}\nspec: {{image: reg.example/app, interval: 1h}}\n---\n{}---\n{}",
        policy("live", false),
        policy("frozen", frozen_suspended)
    ))
}

/// Flux's `spec.suspend` of an ImagePolicy (v1beta2 and v1): not
/// evaluated, its last result stays for the automations.
#[tokio::test]
async fn a_suspended_policy_keeps_its_last_result() {
    let state = tempfile::tempdir().unwrap();
    let registry = Tags::default();
    *registry.0.lock().unwrap() = vec!["1.0.0".into()];
    let metrics = std::sync::Arc::new(crate::engine::metrics::Metrics::new());
    let mut engine =
        super::Engine::new(objects(false), registry.clone(), state.path(), metrics).unwrap();
    let app = crate::config::meta::ObjectKey::new("shop", "app");
    engine.scan(std::slice::from_ref(&app)).await;
    engine.evaluate(super::CycleMode::Commit).await;
    *registry.0.lock().unwrap() = vec!["1.0.0".into(), "1.1.0".into()];
    engine.set_objects(objects(true));
    engine.scan(std::slice::from_ref(&app)).await;
    let reports = engine.evaluate(super::CycleMode::Commit).await;
    let latest = |name: &str| {
        engine.status().policies[&format!("shop/{name}")]
            .latest_ref
            .clone()
            .unwrap()
    };
    assert_eq!(latest("live"), "reg.example/app:1.1.0");
    assert_eq!(latest("frozen"), "reg.example/app:1.0.0");
    assert!(reports.iter().all(|r| r.policy != "shop/frozen"));
}

/// Regression: a webhook push or a Receiver asking for a suspended
/// ImageRepository scanned it. Nothing scans it now, whatever asks: no push
/// matches it and it has no scan task.
#[test]
fn a_suspended_repository_matches_no_push_and_has_no_scan_task() {
    let repository = |name: &str, suspend: bool| {
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{image: reg.example/app, interval: 1h, suspend: {suspend}}}\n"
        )
    };
    let set = load(&format!(
        "{}---\n{}",
        repository("live", false),
        repository("frozen", true)
    ));
    let state = tempfile::tempdir().unwrap();
    let metrics = std::sync::Arc::new(crate::engine::metrics::Metrics::new());
    let engine = super::Engine::new(set, Tags::default(), state.path(), metrics).unwrap();
    let live = crate::config::meta::ObjectKey::new("shop", "live");
    let frozen = crate::config::meta::ObjectKey::new("shop", "frozen");
    assert_eq!(
        engine.repositories_for_push(Some("reg.example"), "app"),
        std::slice::from_ref(&live)
    );
    assert!(engine.scan_task(&live).is_some());
    assert!(engine.scan_task(&frozen).is_none());
}
