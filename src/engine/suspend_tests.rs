//! `spec.suspend` of an ImagePolicy through the engine's cycle.

use crate::engine::test_tags::Tags;

fn objects(frozen_suspended: bool) -> super::ObjectSet {
    let dir = tempfile::tempdir().unwrap();
    let policy = |name: &str, suspend: bool| {
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{imageRepositoryRef: {{name: app}}, policy: {{semver: {{range: '>=1.0.0'}}}}, suspend: {suspend}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("objects.yaml"),
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {{name: app, namespace: shop}}\nspec: {{image: reg.example/app, interval: 1h}}\n---\n{}---\n{}",
            policy("live", false),
            policy("frozen", frozen_suspended)
        ),
    )
    .unwrap();
    let (set, errors) = super::ObjectSet::load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    set
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
