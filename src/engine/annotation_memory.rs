//! What the engine remembers of strategy `Annotations` between runs: the
//! last complete scan of each image (tags, and the digest each needed tag
//! pointed to), the images each automation's workloads name (for matching
//! webhook pushes), and the pushes webhooks announced. In memory only: after a
//! restart each image is scanned once more (a failing first scan falls back
//! to its last complete tag list in the tag store).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::meta::ObjectKey;
use crate::image::ImageReference;

/// One tag's digest lookup.
#[derive(Debug, Clone)]
pub(super) struct Lookup {
    /// The manifest digest; `None` when the tag's image cannot be read (its
    /// creation time counts as absent).
    pub(super) digest: Option<String>,
    /// When it was looked up.
    pub(super) at: Instant,
}

/// The last complete scan of one image.
#[derive(Debug, Clone)]
pub(super) struct ImageScan {
    /// When its tag list was listed by this process (`None`: the list is the
    /// tag store's, from before a restart, so the image is due).
    pub(super) scanned_at: Option<Instant>,
    /// Its tags, sorted.
    pub(super) tags: Vec<String>,
    /// Digest lookups by tag.
    pub(super) lookups: BTreeMap<String, Lookup>,
}

/// Tags a webhook announced for one image, and how many runs missed them.
#[derive(Debug, Clone, Default)]
pub(super) struct Announced {
    /// The pushed tags not listed yet.
    pub(super) tags: BTreeSet<String>,
    /// Runs that did not list them.
    pub(super) misses: u32,
}

/// What the engine remembers of annotation scans between runs.
#[derive(Debug, Default)]
pub struct AnnotationMemory {
    /// The last complete scan, by [`scan_key`].
    pub(super) scans: BTreeMap<ObjectKey, ImageScan>,
    /// The images each automation's last run found.
    pub(super) images: BTreeMap<ObjectKey, Vec<ImageReference>>,
    /// Pushes announced by webhooks, by automation and image name.
    pub(super) announced: BTreeMap<ObjectKey, BTreeMap<String, Announced>>,
}

impl AnnotationMemory {
    /// The automations whose last run found an image of `repository` (on
    /// `host`, when the push names one that matches), each with the image name.
    pub fn automations_for_push(
        &self,
        host: Option<&str>,
        repository: &str,
    ) -> Vec<(ObjectKey, String)> {
        let find = |exact_host: bool| -> Vec<(ObjectKey, String)> {
            let mut found = Vec::new();
            for (automation, images) in &self.images {
                for image in images {
                    let host_matches =
                        host.is_some_and(|h| h == image.registry() || h == image.api_host());
                    if image.repository() == repository && (!exact_host || host_matches) {
                        found.push((automation.clone(), image.name().to_string()));
                    }
                }
            }
            found
        };
        let exact = find(true);
        if exact.is_empty() { find(false) } else { exact }
    }

    /// Records that `tag` of `image` was pushed: the next run of `automation`
    /// scans the image and looks the tag up again.
    pub fn announce(&mut self, automation: &ObjectKey, image: &str, tag: &str) {
        let entry = self
            .announced
            .entry(automation.clone())
            .or_default()
            .entry(image.to_string())
            .or_default();
        entry.tags.insert(tag.to_string());
        entry.misses = 0;
    }

    /// How soon `automation` should run again because an announced tag was
    /// not listed yet (0.5, 1, 2, 4, 8 s after the misses).
    pub fn retry_after(&self, automation: &ObjectKey) -> Option<Duration> {
        let misses = self
            .announced
            .get(automation)?
            .values()
            .map(|a| a.misses)
            .max()?;
        (misses > 0).then(|| Duration::from_millis(500) * 2u32.pow(misses - 1))
    }

    /// Forgets automations that are gone.
    pub fn retain(&mut self, automations: &BTreeSet<ObjectKey>) {
        let keep = |key: &ObjectKey| automations.contains(key);
        self.images.retain(|key, _| keep(key));
        self.announced.retain(|key, _| keep(key));
        self.scans.retain(|key, _| {
            automations.iter().any(|a| {
                a.namespace == key.namespace
                    && key
                        .name
                        .strip_prefix(&a.name)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        });
    }
}

/// Locks `memory`, ignoring poisoning (the data is a cache).
pub(crate) fn lock(memory: &Mutex<AnnotationMemory>) -> MutexGuard<'_, AnnotationMemory> {
    memory
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tag store key of `image` scanned for `automation`.
pub fn scan_key(automation: &ObjectKey, image: &ImageReference) -> ObjectKey {
    ObjectKey::new(
        &automation.namespace,
        format!("{}/{}", automation.name, image.name()),
    )
}
