//! The engine's side of requirements: facts looked up in order, cached, and
//! only for the few best candidates; an in-memory registry counts requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::config::image_policy::ImagePolicyObject;
use crate::config::meta::ObjectKey;
use crate::config::secrets::SecretSet;
use crate::image::ImageReference;
use crate::policy::Skipped;
use crate::registry::SecretData;
use crate::registry::cosign::CosignKeys;
use crate::registry::created::ImageCreated;
use crate::registry::platforms::ImagePlatform;
use crate::secret::Secret;

/// A registry in memory: tag → digest, digest → signature/platforms/created.
#[derive(Default)]
struct Registry {
    digests: BTreeMap<String, String>,
    signatures: BTreeMap<String, SignatureOutcome>,
    platforms: BTreeMap<String, Vec<ImagePlatform>>,
    created: BTreeMap<String, Timestamp>,
    /// Digests whose lookups fail with a 503 (transient) or garbage (permanent).
    failing: BTreeMap<String, u16>,
    heads: AtomicUsize,
    signature_checks: AtomicUsize,
    platform_checks: AtomicUsize,
    created_checks: AtomicUsize,
}

fn error(status: u16) -> ScanError {
    if status == 0 {
        ScanError::InvalidResponse {
            image: "reg.example/app".into(),
            url: "x".into(),
            reason: "garbage".into(),
        }
    } else {
        ScanError::Status {
            image: "reg.example/app".into(),
            url: "https://reg.example/v2/app/manifests/x".into(),
            status,
            detail: String::new(),
        }
    }
}

impl DigestResolver for Registry {
    async fn manifest_digest(&self, _target: &ScanTarget, tag: &str) -> Result<String, ScanError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.digests.get(tag).cloned().ok_or_else(|| error(0))
    }
}

impl ImageInspector for Registry {
    async fn signature(
        &self,
        _target: &ScanTarget,
        digest: &str,
        _keys: &CosignKeys,
    ) -> Result<SignatureOutcome, ScanError> {
        self.signature_checks.fetch_add(1, Ordering::SeqCst);
        if let Some(status) = self.failing.get(digest) {
            return Err(error(*status));
        }
        Ok(self
            .signatures
            .get(digest)
            .cloned()
            .unwrap_or(SignatureOutcome::Unsigned))
    }

    async fn platforms(
        &self,
        _target: &ScanTarget,
        digest: &str,
    ) -> Result<Vec<ImagePlatform>, ScanError> {
        self.platform_checks.fetch_add(1, Ordering::SeqCst);
        Ok(self.platforms.get(digest).cloned().unwrap_or_default())
    }
}

const PUBLIC_KEY: &str = include_str!("../../testdata/cosign/cosign.pub");

fn digest(n: u32) -> String {
    format!("sha256:{n:064}")
}

fn entry(extra: &str) -> PolicyEntry {
    let object = ImagePolicyObject::from_yaml(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: app, namespace: shop}}\nspec:\n  imageRepositoryRef: {{name: app}}\n  policy: {{semver: {{range: '>=1.0.0'}}}}\n{extra}"
    ))
    .unwrap();
    let mut secrets = SecretSet::default();
    secrets.insert(
        ObjectKey::new("shop", "keys"),
        SecretData {
            secret_type: "Opaque".into(),
            data: [(
                "cosign.pub".to_string(),
                Secret::new(PUBLIC_KEY.as_bytes().to_vec()),
            )]
            .into(),
        },
    );
    PolicyEntry::from_object(&object, &secrets).unwrap()
}

const VERIFY: &str = "  verify: {provider: cosign, secretRef: {name: keys}}\n";

/// Tags `1.0.0`..`1.{n-1}.0` with digests 0..n-1, and their `.sig` tags where `signed`.
fn registry(n: u32, signed: &[u32]) -> (Registry, Vec<String>) {
    let mut registry = Registry::default();
    let mut tags = Vec::new();
    for i in 0..n {
        let tag = format!("1.{i}.0");
        registry.digests.insert(tag.clone(), digest(i));
        tags.push(tag);
    }
    for i in signed {
        registry.signatures.insert(
            digest(*i),
            SignatureOutcome::Verified {
                key: "cosign.pub".into(),
            },
        );
        tags.push(crate::registry::signatures::signature_tag(&digest(*i)).unwrap());
    }
    tags.sort();
    (registry, tags)
}

fn target() -> ScanTarget {
    ScanTarget::new(
        ObjectKey::new("shop", "app"),
        ImageReference::parse("reg.example/app").unwrap(),
    )
}

async fn run(
    registry: &Registry,
    cache: &FactCache,
    entry: &PolicyEntry,
    tags: &[String],
    scanned_at: u64,
) -> Result<Selection, EvaluationError> {
    let target = target();
    let exclusions = ExclusionList::default();
    let inputs = Inputs {
        target: &target,
        tags,
        scanned_at,
        exclusions: &exclusions,
        now: "2026-06-01T00:00:00Z".parse().unwrap(),
        metrics: None,
    };
    select(registry, cache, entry, &inputs).await
}

fn reasons(skipped: &[Skipped]) -> Vec<String> {
    skipped.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn the_newest_signed_tag_wins_and_checks_are_cached_per_scan() {
    let (mut registry, tags) = registry(4, &[1]);
    registry.signatures.insert(
        digest(2),
        SignatureOutcome::Untrusted {
            detail: "1 signature, none by the keys".into(),
        },
    );
    let mut tags = tags;
    tags_with_sig(&mut tags, 2);
    let state = tempfile::tempdir().unwrap();
    let cache = FactCache::new(Arc::new(CreatedStore::open(state.path()).unwrap()));
    let entry = entry(VERIFY);
    let selection = run(&registry, &cache, &entry, &tags, 100).await.unwrap();
    assert_eq!(selection.tag, "1.1.0");
    assert_eq!(selection.explanation.chosen.digest, Some(digest(1)));
    assert_eq!(
        reasons(&selection.explanation.skipped),
        [
            "1.3.0: not signed (no cosign signature)",
            "1.2.0: signature not trusted: 1 signature, none by the keys"
        ]
    );
    // 1.3.0 has no .sig tag in the list: unsigned without asking.
    assert_eq!(registry.heads.load(Ordering::SeqCst), 3);
    assert_eq!(registry.signature_checks.load(Ordering::SeqCst), 2);
    // The same scan again: nothing is asked.
    run(&registry, &cache, &entry, &tags, 100).await.unwrap();
    assert_eq!(registry.heads.load(Ordering::SeqCst), 3);
    assert_eq!(registry.signature_checks.load(Ordering::SeqCst), 2);
    // After a new scan: digests again, the untrusted signature again, the verified one not.
    run(&registry, &cache, &entry, &tags, 200).await.unwrap();
    assert_eq!(registry.heads.load(Ordering::SeqCst), 6);
    assert_eq!(registry.signature_checks.load(Ordering::SeqCst), 3);
}

fn tags_with_sig(tags: &mut Vec<String>, i: u32) {
    tags.push(crate::registry::signatures::signature_tag(&digest(i)).unwrap());
    tags.sort();
}

#[tokio::test]
async fn a_thousand_unsigned_tags_cost_ten_lookups_and_fail_clearly() {
    let (registry, tags) = registry(1000, &[]);
    let state = tempfile::tempdir().unwrap();
    let cache = FactCache::new(Arc::new(CreatedStore::open(state.path()).unwrap()));
    let error = run(&registry, &cache, &entry(VERIFY), &tags, 1)
        .await
        .unwrap_err();
    assert_eq!(
        registry.heads.load(Ordering::SeqCst),
        crate::policy::MAX_CHECKED
    );
    assert_eq!(registry.signature_checks.load(Ordering::SeqCst), 0);
    assert_eq!(error.skipped().len(), crate::policy::MAX_CHECKED);
    assert!(
        error
            .to_string()
            .ends_with("990 older candidates not checked (an evaluation checks at most 10)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_transient_failure_stops_the_evaluation_and_garbage_skips_the_tag() {
    let (mut registry, mut tags) = registry(3, &[0]);
    tags_with_sig(&mut tags, 2);
    tags_with_sig(&mut tags, 1);
    registry.failing.insert(digest(2), 503);
    registry.failing.insert(digest(1), 0);
    let state = tempfile::tempdir().unwrap();
    let cache = FactCache::new(Arc::new(CreatedStore::open(state.path()).unwrap()));
    let entry = entry(VERIFY);
    let error = run(&registry, &cache, &entry, &tags, 1).await.unwrap_err();
    assert!(
        matches!(error, EvaluationError::Registry { ref tag, .. } if tag == "1.2.0"),
        "{error}"
    );
    registry.failing.remove(&digest(2));
    let selection = run(&registry, &cache, &entry, &tags, 2).await.unwrap();
    assert_eq!(selection.tag, "1.0.0");
    assert_eq!(
        reasons(&selection.explanation.skipped),
        [
            "1.2.0: not signed (no cosign signature)",
            "1.1.0: cannot be checked: scanning reg.example/app: x answered an invalid body: garbage; the registry or a proxy in front of it is misbehaving"
        ]
    );
}

#[tokio::test]
async fn platforms_and_age_are_looked_up_once_per_digest() {
    let (mut registry, tags) = registry(3, &[]);
    let arm = |digest_number: u32, platforms: &[(&str, &str)]| {
        (
            digest(digest_number),
            platforms
                .iter()
                .map(|(os, architecture)| ImagePlatform {
                    os: os.to_string(),
                    architecture: architecture.to_string(),
                    variant: None,
                })
                .collect::<Vec<_>>(),
        )
    };
    registry.platforms.extend([
        arm(2, &[("linux", "amd64")]),
        arm(1, &[("linux", "amd64"), ("linux", "arm64")]),
        arm(0, &[("linux", "amd64"), ("linux", "arm64")]),
    ]);
    registry
        .created
        .insert(digest(1), "2026-05-31T23:00:00Z".parse().unwrap());
    registry
        .created
        .insert(digest(0), "2026-05-01T00:00:00Z".parse().unwrap());
    let state = tempfile::tempdir().unwrap();
    let cache = FactCache::new(Arc::new(CreatedStore::open(state.path()).unwrap()));
    let entry = entry("  requiredPlatforms: [linux/arm64]\n  minimumAge: 24h\n");
    let selection = run(&registry, &cache, &entry, &tags, 1).await.unwrap();
    assert_eq!(selection.tag, "1.0.0");
    assert_eq!(
        reasons(&selection.explanation.skipped),
        [
            "1.2.0: lacks platform linux/arm64/v8 (it has linux/amd64)",
            "1.1.0: too young: created 2026-05-31T23:00:00Z, eligible from 2026-06-01T23:00:00Z"
        ]
    );
    assert_eq!(
        selection.explanation.recheck_at,
        Some("2026-06-01T23:00:00Z".parse().unwrap())
    );
    assert_eq!(registry.platform_checks.load(Ordering::SeqCst), 3);
    assert_eq!(registry.created_checks.load(Ordering::SeqCst), 2);
    run(&registry, &cache, &entry, &tags, 2).await.unwrap();
    assert_eq!(registry.platform_checks.load(Ordering::SeqCst), 3);
    assert_eq!(registry.created_checks.load(Ordering::SeqCst), 2);
}

impl crate::registry::created::CreatedLookup for Registry {
    async fn lookup_created(
        &self,
        _target: &ScanTarget,
        tag: &str,
        store: &CreatedStore,
    ) -> Result<ImageCreated, ScanError> {
        self.created_checks.fetch_add(1, Ordering::SeqCst);
        let digest = self.digests.get(tag).cloned().unwrap_or_default();
        let created = self.created.get(&digest).copied();
        store.insert(&digest, created);
        Ok(ImageCreated {
            digest,
            created,
            fetched: true,
        })
    }
}
