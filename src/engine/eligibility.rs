//! A policy's requirements beyond the tag (`spec.verify`,
//! `spec.requiredPlatforms`, `spec.minimumAge`), met with registry facts: the
//! policy ranks the candidates ([`Walk`]), this module looks up the facts of
//! each in turn, best first, and the policy judges them. Only the candidates
//! down to the first eligible one are looked at, at most
//! [`crate::policy::MAX_CHECKED`], never the whole tag list.
//!
//! Requests are bounded further by [`FactCache`]:
//! - a tag's digest is resolved (one `HEAD`) once per scan of its repository;
//! - a verified signature is remembered per image, digest and key set, for the
//!   life of the process; a missing one costs nothing when the stored tag
//!   list has no `sha256-<hex>.sig` tag, and an untrusted one is checked again
//!   after the next scan (a signature may be added to the same tag);
//! - platforms are remembered per digest, creation times per digest on disk
//!   (the shared [`CreatedStore`]).
//!
//! A transient registry error (a timeout, a 5xx) stops the evaluation, so the
//! previous result stays (invariant 4); an answer that cannot be used (garbage,
//! a missing manifest) makes that candidate skipped, with the reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::metrics::Metrics;
use crate::config::policy_entry::PolicyEntry;
use crate::policy::{
    ExclusionList, Platform, PolicyError, Selection, SignatureCheck, SkipReason, Skipped, Walk,
};
use crate::registry::created_store::{CreatedStore, CreatedStoreError};
use crate::registry::inspect::ImageInspector;
use crate::registry::signatures::{SignatureOutcome, signature_tag};
use crate::registry::{DigestResolver, ScanError, ScanTarget};

/// Entries each in-memory map holds at most (it is emptied when full).
const MAX_ENTRIES: usize = 10_000;

type ImageDigest = (String, String);
type KeyedDigest = (String, String, String);

/// Registry facts by digest, shared by every evaluation of a process.
#[derive(Debug)]
pub struct FactCache {
    digests: Mutex<HashMap<ImageDigest, (u64, String)>>,
    trusted: Mutex<HashMap<KeyedDigest, String>>,
    untrusted: Mutex<HashMap<KeyedDigest, (u64, String)>>,
    platforms: Mutex<HashMap<String, Vec<Platform>>>,
    created: Arc<CreatedStore>,
}

impl FactCache {
    /// A cache whose creation times are `created` (the engine's one store).
    pub fn new(created: Arc<CreatedStore>) -> Self {
        Self {
            digests: Mutex::default(),
            trusted: Mutex::default(),
            untrusted: Mutex::default(),
            platforms: Mutex::default(),
            created,
        }
    }

    /// Writes the creation times learned since the last save.
    pub fn save(&self) -> Result<(), CreatedStoreError> {
        self.created.save()
    }
}

fn remember<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, key: K, value: V) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }
}

fn recall<K: std::hash::Hash + Eq, V: Clone>(map: &Mutex<HashMap<K, V>>, key: &K) -> Option<V> {
    map.lock().ok().and_then(|map| map.get(key).cloned())
}

/// Why a policy has no new result.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// No tag matches, or no candidate is eligible (the error lists why).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The registry failed while a candidate was checked; retried at the next
    /// evaluation, and the previous result stays meanwhile.
    #[error("cannot check {tag}: {source}")]
    Registry {
        /// The candidate being checked.
        tag: String,
        /// The registry's error.
        #[source]
        source: ScanError,
    },
}

/// Everything one evaluation needs besides the policy.
pub struct Inputs<'a> {
    /// The policy's repository.
    pub target: &'a ScanTarget,
    /// Its tags (a complete list, sorted byte-wise, as the tag store keeps them).
    pub tags: &'a [String],
    /// When that list was scanned (seconds since the epoch): cached digests
    /// and untrusted signatures are looked up again after each scan.
    pub scanned_at: u64,
    /// Its exclusion list.
    pub exclusions: &'a ExclusionList,
    /// The time ages are measured at.
    pub now: Timestamp,
    /// Where checks are counted (`None` on the command line).
    pub metrics: Option<&'a Metrics>,
}

/// The policy's result under its requirements: the best candidate whose image
/// passes them, with the better ones skipped and why.
pub async fn select<C: ImageInspector + DigestResolver>(
    client: &C,
    cache: &FactCache,
    entry: &PolicyEntry,
    inputs: &Inputs<'_>,
) -> Result<Selection, EvaluationError> {
    let mut walk = entry
        .policy
        .walk(inputs.tags, inputs.exclusions, entry.requirements.clone());
    while let Some(candidate) = walk.current() {
        let tag = candidate.tag.clone();
        let registry = |source: ScanError| EvaluationError::Registry {
            tag: tag.clone(),
            source,
        };
        let digest = match digest_of(client, cache, inputs, &tag).await {
            Ok(digest) => digest,
            Err(error) if error.is_transient() => return Err(registry(error)),
            Err(error) => {
                walk.skip(None, unreadable(&error));
                continue;
            }
        };
        match judge(client, cache, entry, inputs, &walk, &tag, &digest).await {
            Ok(None) => walk.accept(Some(digest)),
            Ok(Some(reason)) => {
                tracing::debug!(tag = %tag, %reason, "candidate skipped");
                walk.skip(Some(digest), reason);
            }
            Err(error) if error.is_transient() => return Err(registry(error)),
            Err(error) => walk.skip(Some(digest), unreadable(&error)),
        }
    }
    Ok(walk.finish()?)
}

fn unreadable(error: &ScanError) -> SkipReason {
    SkipReason::Unreadable {
        error: crate::redact::with_causes(error),
    }
}

async fn digest_of<C: DigestResolver>(
    client: &C,
    cache: &FactCache,
    inputs: &Inputs<'_>,
    tag: &str,
) -> Result<String, ScanError> {
    let key = (inputs.target.image.name().to_string(), tag.to_string());
    if let Some((scanned_at, digest)) = recall(&cache.digests, &key)
        && scanned_at == inputs.scanned_at
    {
        return Ok(digest);
    }
    let digest = client.manifest_digest(inputs.target, tag).await?;
    remember(&cache.digests, key, (inputs.scanned_at, digest.clone()));
    Ok(digest)
}

/// The first requirement the image fails, if any (signature, then platforms, then age).
async fn judge<C: ImageInspector + DigestResolver>(
    client: &C,
    cache: &FactCache,
    entry: &PolicyEntry,
    inputs: &Inputs<'_>,
    walk: &Walk,
    tag: &str,
    digest: &str,
) -> Result<Option<SkipReason>, ScanError> {
    let requirements = walk.requirements();
    if let Some(keys) = &entry.verify_keys {
        let check = signature_of(client, cache, inputs, keys, digest).await?;
        if let Err(reason) = requirements.check_signature(&check) {
            return Ok(Some(reason));
        }
    }
    if !requirements.platforms.is_empty() {
        let offered = match recall(&cache.platforms, &digest.to_string()) {
            Some(offered) => offered,
            None => {
                let offered: Vec<Platform> = client
                    .platforms(inputs.target, digest)
                    .await?
                    .iter()
                    .map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()))
                    .collect();
                remember(&cache.platforms, digest.to_string(), offered.clone());
                offered
            }
        };
        if let Err(reason) = requirements.check_platforms(&offered) {
            return Ok(Some(reason));
        }
    }
    if requirements.minimum_age.is_some() {
        let created = match cache.created.get(digest) {
            Some(created) => created,
            None => {
                let found = client
                    .lookup_created(inputs.target, tag, &cache.created)
                    .await?;
                if found.digest != digest {
                    return Ok(Some(SkipReason::Unreadable {
                        error: format!(
                            "the tag moved from {digest} to {} while it was checked",
                            found.digest
                        ),
                    }));
                }
                found.created
            }
        };
        if let Err(reason) = requirements.check_age(created, inputs.now) {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

async fn signature_of<C: ImageInspector>(
    client: &C,
    cache: &FactCache,
    inputs: &Inputs<'_>,
    keys: &crate::registry::cosign::CosignKeys,
    digest: &str,
) -> Result<SignatureCheck, ScanError> {
    let key = (
        inputs.target.image.name().to_string(),
        digest.to_string(),
        keys.fingerprint().to_string(),
    );
    if let Some(key_name) = recall(&cache.trusted, &key) {
        return Ok(SignatureCheck::Verified { key: key_name });
    }
    let listed = signature_tag(digest).is_some_and(|tag| inputs.tags.binary_search(&tag).is_ok());
    if !listed {
        // The stored list is complete: no signature tag, no signature.
        return Ok(SignatureCheck::Unsigned);
    }
    if let Some((scanned_at, detail)) = recall(&cache.untrusted, &key)
        && scanned_at == inputs.scanned_at
    {
        return Ok(SignatureCheck::Untrusted { detail });
    }
    let outcome = client.signature(inputs.target, digest, keys).await;
    let label = match &outcome {
        Ok(SignatureOutcome::Verified { .. }) => "verified",
        Ok(SignatureOutcome::Unsigned) => "unsigned",
        Ok(SignatureOutcome::Untrusted { .. }) => "untrusted",
        Err(_) => "error",
    };
    if let Some(metrics) = inputs.metrics {
        metrics.increment("tagpilot_signature_checks_total", &[("result", label)]);
    }
    Ok(match outcome? {
        SignatureOutcome::Verified { key: key_name } => {
            tracing::debug!(digest, key = %key_name, "signature verified");
            remember(&cache.trusted, key, key_name.clone());
            SignatureCheck::Verified { key: key_name }
        }
        SignatureOutcome::Unsigned => SignatureCheck::Unsigned,
        SignatureOutcome::Untrusted { detail } => {
            remember(&cache.untrusted, key, (inputs.scanned_at, detail.clone()));
            SignatureCheck::Untrusted { detail }
        }
    })
}

impl EvaluationError {
    /// The candidates skipped before the evaluation ended.
    pub fn skipped(&self) -> &[Skipped] {
        match self {
            Self::Policy(PolicyError::NoEligible { skipped, .. }) => skipped,
            _ => &[],
        }
    }
}

/// The skip reasons' metric labels, each set on every evaluation of a policy
/// with requirements (0 when none was skipped for it).
const SKIP_LABELS: [&str; 6] = [
    "unsigned",
    "untrustedSignature",
    "missingPlatforms",
    "tooYoung",
    "noCreationTime",
    "unreadable",
];

fn skip_label(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::Unsigned => SKIP_LABELS[0],
        SkipReason::UntrustedSignature { .. } => SKIP_LABELS[1],
        SkipReason::MissingPlatforms { .. } => SKIP_LABELS[2],
        SkipReason::TooYoung { .. } => SKIP_LABELS[3],
        SkipReason::NoCreationTime => SKIP_LABELS[4],
        SkipReason::Unreadable { .. } => SKIP_LABELS[5],
    }
}

/// Records an evaluation's skipped candidates in the policy's status (Commit
/// mode), the metric `tagpilot_policy_skipped_candidates`, and a log line when
/// they changed; returns whether they changed.
pub fn record_skips(
    key: &crate::config::meta::ObjectKey,
    status: &mut super::state::PolicyStatus,
    skipped: &[Skipped],
    metrics: &Metrics,
    mode: super::cycle::CycleMode,
) -> bool {
    let lines: Vec<String> = skipped.iter().map(ToString::to_string).collect();
    let changed = lines != status.skipped;
    if !skipped.is_empty() || !status.skipped.is_empty() {
        let policy = key.to_string();
        for label in SKIP_LABELS {
            let count = skipped
                .iter()
                .filter(|s| skip_label(&s.reason) == label)
                .count();
            metrics.set(
                "tagpilot_policy_skipped_candidates",
                &[("policy", policy.as_str()), ("reason", label)],
                count as f64,
            );
        }
    }
    if mode == super::cycle::CycleMode::Commit && changed {
        if lines.is_empty() {
            tracing::info!(policy = %key, "no candidate skipped any more");
        } else {
            tracing::warn!(policy = %key, skipped = %lines.join("; "), "candidates skipped");
        }
        status.skipped = lines;
    }
    changed
}

/// A policy's new result, with the candidates skipped on the way.
pub(super) struct Evaluated {
    pub(super) latest: String,
    pub(super) skipped: Vec<Skipped>,
    pub(super) recheck_at: Option<jiff::Timestamp>,
}

/// Why a policy has no new result, with the candidates skipped on the way.
pub(super) struct Failed {
    pub(super) message: String,
    pub(super) skipped: Vec<Skipped>,
}

impl From<String> for Failed {
    fn from(message: String) -> Self {
        Self {
            message,
            skipped: Vec::new(),
        }
    }
}

impl From<EvaluationError> for Failed {
    fn from(error: super::eligibility::EvaluationError) -> Self {
        Self {
            skipped: error.skipped().to_vec(),
            message: format!("{error:#}"),
        }
    }
}

#[cfg(test)]
#[path = "eligibility_tests.rs"]
mod tests;
