//! `spec.suspend` of an ImagePolicy through the engine's cycle.

/// A registry whose tags the test sets.
#[derive(Clone, Default)]
struct Tags(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl crate::registry::TagLister for Tags {
    async fn list_tags(
        &self,
        _target: &crate::registry::ScanTarget,
    ) -> Result<crate::registry::TagList, crate::registry::ScanError> {
        let tags = self.0.lock().map(|t| t.clone()).unwrap_or_default();
        Ok(crate::registry::TagList::complete(tags))
    }
}

impl crate::registry::inspect::ImageInspector for Tags {
    async fn signature(
        &self,
        _target: &crate::registry::ScanTarget,
        _digest: &str,
        _keys: &crate::registry::cosign::CosignKeys,
    ) -> Result<crate::registry::signatures::SignatureOutcome, crate::registry::ScanError> {
        unreachable!("no policy here has requirements")
    }

    async fn platforms(
        &self,
        _target: &crate::registry::ScanTarget,
        _digest: &str,
    ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, crate::registry::ScanError> {
        unreachable!("no policy here has requirements")
    }
}

impl crate::registry::DigestResolver for Tags {
    async fn manifest_digest(
        &self,
        _target: &crate::registry::ScanTarget,
        _tag: &str,
    ) -> Result<String, crate::registry::ScanError> {
        Ok(format!("sha256:{}", "0".repeat(64)))
    }
}

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

impl crate::registry::created::CreatedLookup for Tags {
    async fn lookup_created(
        &self,
        _target: &crate::registry::ScanTarget,
        _tag: &str,
        _store: &crate::registry::created_store::CreatedStore,
    ) -> Result<crate::registry::created::ImageCreated, crate::registry::ScanError> {
        unreachable!("no policy here has requirements")
    }
}
