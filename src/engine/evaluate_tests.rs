//! What an evaluation re-computes: only the policies whose repository was
//! scanned since their last result.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::meta::ObjectKey;
use crate::registry::{DigestResolver, ScanError, ScanTarget, TagList, TagLister};

/// A registry with fixed tags that counts digest lookups.
#[derive(Clone, Default)]
struct Counting {
    digests: Arc<AtomicUsize>,
}

impl TagLister for Counting {
    async fn list_tags(&self, _target: &ScanTarget) -> Result<TagList, ScanError> {
        Ok(TagList::complete([
            "1.0.0".to_string(),
            "1.1.0".to_string(),
        ]))
    }
}

impl DigestResolver for Counting {
    async fn manifest_digest(&self, _target: &ScanTarget, _tag: &str) -> Result<String, ScanError> {
        self.digests.fetch_add(1, Ordering::SeqCst);
        Ok(format!("sha256:{}", "1".repeat(64)))
    }
}

impl crate::registry::inspect::ImageInspector for Counting {
    async fn signature(
        &self,
        _target: &ScanTarget,
        _digest: &str,
        _keys: &crate::registry::cosign::CosignKeys,
    ) -> Result<crate::registry::signatures::SignatureOutcome, ScanError> {
        unreachable!("no policy here has requirements")
    }

    async fn platforms(
        &self,
        _target: &ScanTarget,
        _digest: &str,
    ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, ScanError> {
        unreachable!("no policy here has requirements")
    }
}

impl crate::registry::created::CreatedLookup for Counting {
    async fn lookup_created(
        &self,
        _target: &ScanTarget,
        _tag: &str,
        _store: &crate::registry::created_store::CreatedStore,
    ) -> Result<crate::registry::created::ImageCreated, ScanError> {
        unreachable!("no policy here has requirements")
    }
}

fn objects() -> super::ObjectSet {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for name in ["a", "b"] {
        text.push_str(&format!(
            "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{image: reg.example/{name}, interval: 1h}}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{imageRepositoryRef: {{name: {name}}}, digestReflectionPolicy: Always, interval: 1h, policy: {{semver: {{range: '>=1.0.0'}}}}}}\n"
        ));
    }
    std::fs::write(dir.path().join("objects.yaml"), text).unwrap();
    let (set, errors) = super::ObjectSet::load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    set
}

/// Regression (issue 19): the daemon evaluated every policy after every scan
/// of any repository (2,000 policies x 2,000 scans a round), and asked the
/// registry again for the digest of every `Always` policy each time.
#[tokio::test]
async fn a_policy_is_evaluated_again_only_after_its_repository_is_scanned() {
    let state = tempfile::tempdir().unwrap();
    let registry = Counting::default();
    let metrics = Arc::new(crate::engine::metrics::Metrics::new());
    let mut engine =
        super::Engine::new(objects(), registry.clone(), state.path(), metrics).unwrap();
    let (a, b) = (ObjectKey::new("shop", "a"), ObjectKey::new("shop", "b"));
    engine.scan(&[a.clone(), b.clone()]).await;
    let first = engine.evaluate(super::CycleMode::Commit).await;
    assert_eq!(registry.digests.load(Ordering::SeqCst), 2);
    assert!(first.iter().all(|report| report.changed), "{first:?}");
    // A scan of b: a's result is reused, b's digest is asked again (`Always`).
    engine.scan(std::slice::from_ref(&b)).await;
    let second = engine.evaluate(super::CycleMode::Commit).await;
    assert_eq!(registry.digests.load(Ordering::SeqCst), 3);
    let latest: Vec<_> = second
        .iter()
        .map(|r| (r.changed, r.latest.clone()))
        .collect();
    assert_eq!(
        latest,
        [
            (
                false,
                Some(format!("reg.example/a:1.1.0@sha256:{}", "1".repeat(64)))
            ),
            (
                false,
                Some(format!("reg.example/b:1.1.0@sha256:{}", "1".repeat(64)))
            ),
        ]
    );
    // New objects (the controller's refresh): everything is evaluated again.
    engine.set_objects(objects());
    engine.evaluate(super::CycleMode::Commit).await;
    assert_eq!(registry.digests.load(Ordering::SeqCst), 5);
}
