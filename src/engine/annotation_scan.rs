//! Scanning for strategy `Annotations`: the images an automation's workloads
//! name are scanned inside its run (no ImageRepository), through the same
//! client as ImageRepositories — auth challenges and token servers, retries,
//! the scan budget and the tag cap — and with the same rule: only a complete
//! list is recorded in the tag store (invariant 4); a partial or failed scan
//! keeps the last complete one, creation times and all, so no decision changes
//! because of it.
//!
//! A scan of one image is its tag list plus, for the tags a creation-time
//! filter needs, the manifest digest of each (a `HEAD`); a digest new to the
//! [`CreatedStore`] costs a manifest and a config blob, once ever. An image is
//! scanned when its host's interval has passed since its last complete scan,
//! when a webhook announced a push to it (the announced tags are looked up
//! again at once), or when this process has not scanned it yet; otherwise the
//! last scan is used as it is. Budgets (invariant 11): at most [`MAX_IMAGES`]
//! images per automation, and at most [`MAX_LOOKUPS_PER_IMAGE`] lookups per
//! image and run, the tags never looked up first; the rest follow in the next
//! runs, which the engine schedules shortly after.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};

use super::annotation_memory::{AnnotationMemory, Announced, ImageScan, Lookup, lock, scan_key};
use crate::config::annotation_registries::AnnotationSettings;
use crate::config::meta::ObjectKey;
use crate::image::ImageReference;
use crate::registry::created::CreatedLookup;
use crate::registry::created_store::CreatedStore;
use crate::registry::{DigestResolver, ScanError, ScanTarget, TagList, TagLister, TagStore};
use crate::update::annotations::{CreatedAt, Discovery, RegistryFacts, TagFacts, created_lookups};

/// The most images one automation scans.
pub const MAX_IMAGES: usize = 500;
/// The most creation times looked up per image and run.
pub const MAX_LOOKUPS_PER_IMAGE: usize = 1000;
/// Lookups in flight per automation (the client also limits requests per host).
const LOOKUP_CONCURRENCY: usize = 16;
/// How many runs may miss a tag a webhook announced before it is forgotten.
const ANNOUNCED_TAG_RUNS: u32 = 5;

/// Why an automation's images cannot be scanned at all.
#[derive(Debug, thiserror::Error)]
pub enum AnnotationScanError {
    /// More images than [`MAX_IMAGES`].
    #[error(
        "the annotated workloads under the update path name {count} images; at most {MAX_IMAGES} are scanned per automation (split the path over several automations)"
    )]
    TooManyImages {
        /// How many images.
        count: usize,
    },
}

/// What one run did with one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageScanReport {
    /// The image, as the workloads name it.
    pub image: String,
    /// Tags known after the run.
    pub tags: usize,
    /// Whether the registry was asked for the tag list in this run (else the
    /// last scan was recent enough).
    pub scanned: bool,
    /// When its last complete scan finished (seconds since the epoch).
    pub last_scan_time: Option<u64>,
    /// Images whose config was fetched in this run (creation times new to the store).
    pub fetched_configs: usize,
    /// Creation times still to look up (over the per-run budget).
    pub pending_lookups: usize,
    /// Why the scan or a lookup failed (the last complete scan was used).
    pub error: Option<String>,
}

/// The registry facts of one run, and what was done to get them.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Tags, digests and creation times for [`crate::update::annotations::decide`].
    pub facts: RegistryFacts,
    /// One report per image.
    pub reports: Vec<ImageScanReport>,
}

impl Gathered {
    /// Whether lookups are left for the next runs.
    pub fn has_pending_lookups(&self) -> bool {
        self.reports.iter().any(|r| r.pending_lookups > 0)
    }
}

/// Scans the images of one automation's annotated workloads.
pub struct AnnotationScanner<C> {
    /// The automation.
    pub automation: ObjectKey,
    /// Its registry settings.
    pub settings: AnnotationSettings,
    /// The registry client.
    pub client: Arc<C>,
    /// The tag store (complete lists only).
    pub tags: Arc<TagStore>,
    /// Creation times by digest.
    pub created: Arc<CreatedStore>,
    /// What earlier runs found.
    pub memory: Arc<Mutex<AnnotationMemory>>,
}

impl<C: TagLister + DigestResolver + CreatedLookup> AnnotationScanner<C> {
    fn target(&self, image: &ImageReference) -> ScanTarget {
        self.settings
            .target(scan_key(&self.automation, image), image)
    }

    /// Lists the tags of every image `discovery` needs (or takes the last
    /// scan), looks up the creation times its filters need, and records what
    /// was found (tag store, creation-time store, memory).
    pub async fn gather(&self, discovery: &Discovery) -> Result<Gathered, AnnotationScanError> {
        let images = discovery.images();
        if images.len() > MAX_IMAGES {
            return Err(AnnotationScanError::TooManyImages {
                count: images.len(),
            });
        }
        let now = Instant::now();
        let (previous, announced) = {
            let mut memory = lock(&self.memory);
            memory
                .images
                .insert(self.automation.clone(), images.clone());
            let previous: Vec<Option<ImageScan>> = images
                .iter()
                .map(|image| {
                    memory
                        .scans
                        .get(&scan_key(&self.automation, image))
                        .cloned()
                })
                .collect();
            let announced = memory
                .announced
                .get(&self.automation)
                .cloned()
                .unwrap_or_default();
            (previous, announced)
        };
        let due = |image: &ImageReference, previous: &Option<ImageScan>| match previous {
            None => true,
            Some(scan) => {
                announced.contains_key(image.name())
                    || scan.scanned_at.is_none_or(|at| {
                        now.duration_since(at) >= self.settings.settings(image).interval
                    })
            }
        };
        let listings = futures::future::join_all(images.iter().zip(&previous).map(
            |(image, previous)| async move {
                if due(image, previous) {
                    Some(self.client.list_tags(&self.target(image)).await)
                } else {
                    None
                }
            },
        ))
        .await;
        let mut gathered = Gathered::default();
        let mut scans = Vec::new();
        let mut frozen = BTreeSet::new();
        for ((image, previous), listing) in images.iter().zip(previous).zip(listings) {
            let (scan, report) = self.record(image, previous, listing, now);
            if report.error.is_some() {
                frozen.insert(image.name().to_string());
            }
            gathered.reports.push(report);
            scans.push(scan);
        }
        // Known facts: fresh lookups (or any, for an image whose scan failed).
        for (image, scan) in images.iter().zip(&scans) {
            let Some(scan) = scan else { continue };
            gathered.facts.set_tags(image, scan.tags.clone());
            let interval = self.settings.settings(image).interval;
            let announced_tags = announced.get(image.name()).map(|a| &a.tags);
            for (tag, lookup) in &scan.lookups {
                let fresh = now.duration_since(lookup.at) < interval
                    && announced_tags.is_none_or(|tags| !tags.contains(tag));
                if (fresh || frozen.contains(image.name()))
                    && let Some(facts) = self.tag_facts(lookup)
                {
                    gathered.facts.set_tag_facts(image, tag, facts);
                }
            }
        }
        self.look_up(discovery, &images, &mut scans, &frozen, &mut gathered, now)
            .await;
        if let Err(error) = self.created.save() {
            tracing::warn!(automation = %self.automation, %error, "cannot save the creation times");
        }
        self.remember(&images, scans, &announced, &frozen);
        for report in &mut gathered.reports {
            if let Ok(image) = ImageReference::parse(&report.image) {
                report.last_scan_time = self
                    .tags
                    .get(&scan_key(&self.automation, &image))
                    .map(|stored| stored.scanned_at);
            }
        }
        Ok(gathered)
    }

    /// The scan to use for `image` after `listing` (`None`: not asked).
    fn record(
        &self,
        image: &ImageReference,
        previous: Option<ImageScan>,
        listing: Option<Result<TagList, ScanError>>,
        now: Instant,
    ) -> (Option<ImageScan>, ImageScanReport) {
        let key = scan_key(&self.automation, image);
        let mut report = ImageScanReport {
            image: image.name().to_string(),
            tags: 0,
            scanned: listing.is_some(),
            last_scan_time: None,
            fetched_configs: 0,
            pending_lookups: 0,
            error: None,
        };
        // The last complete list, for a scan that failed before this process saw one.
        let stored = || {
            self.tags.get(&key).map(|stored| ImageScan {
                scanned_at: None,
                tags: stored.tags.clone(),
                lookups: BTreeMap::new(),
            })
        };
        let scan = match listing {
            None => previous,
            Some(Ok(list)) if list.complete => {
                if let Err(error) = self
                    .tags
                    .record(&key, image.name(), &list, SystemTime::now())
                {
                    report.error = Some(format!("cannot store the tag list: {error}"));
                }
                let mut lookups = previous.map(|p| p.lookups).unwrap_or_default();
                lookups.retain(|tag, _| list.tags.binary_search(tag).is_ok());
                Some(ImageScan {
                    scanned_at: Some(now),
                    tags: list.tags,
                    lookups,
                })
            }
            Some(Ok(list)) => {
                report.error = Some(format!(
                    "the scan stopped after {} tags (the tag cap); the previous list is kept",
                    list.tags.len()
                ));
                previous.or_else(stored)
            }
            Some(Err(error)) => {
                report.error = Some(crate::redact::with_causes(&error));
                previous.or_else(stored)
            }
        };
        match &report.error {
            Some(error) => {
                tracing::warn!(automation = %self.automation, image = %image.name(), %error, "scan failed; keeping the previous tag list");
            }
            None if report.scanned => {
                tracing::debug!(automation = %self.automation, image = %image.name(), tags = scan.as_ref().map_or(0, |s| s.tags.len()), "scanned");
            }
            None => {}
        }
        report.tags = scan.as_ref().map_or(0, |s| s.tags.len());
        (scan, report)
    }

    /// What `lookup` says of its tag, if its creation time is known.
    fn tag_facts(&self, lookup: &Lookup) -> Option<TagFacts> {
        match &lookup.digest {
            None => Some(TagFacts {
                digest: None,
                created: Some(CreatedAt::Absent),
            }),
            Some(digest) => self.created.get(digest).map(|created| TagFacts {
                digest: Some(digest.clone()),
                created: Some(created.map_or(CreatedAt::Absent, CreatedAt::Known)),
            }),
        }
    }

    /// Looks up the creation times the decisions need, within the budget.
    async fn look_up(
        &self,
        discovery: &Discovery,
        images: &[ImageReference],
        scans: &mut [Option<ImageScan>],
        frozen: &BTreeSet<String>,
        gathered: &mut Gathered,
        now: Instant,
    ) {
        let index: BTreeMap<&str, usize> = images
            .iter()
            .enumerate()
            .map(|(i, image)| (image.name(), i))
            .collect();
        let mut wanted: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (image, tag) in created_lookups(discovery, &gathered.facts) {
            if frozen.contains(image.name()) {
                continue;
            }
            if let Some(&i) = index.get(image.name()) {
                wanted.entry(i).or_default().push(tag);
            }
        }
        let mut todo = Vec::new();
        for (i, mut tags) in wanted {
            let Some(scan) = &scans[i] else { continue };
            // Never looked up first, then the oldest lookups.
            tags.sort_by_key(|tag| scan.lookups.get(tag).map(|l| l.at));
            for (n, tag) in tags.into_iter().enumerate() {
                if n < MAX_LOOKUPS_PER_IMAGE {
                    todo.push((i, tag));
                    continue;
                }
                gathered.reports[i].pending_lookups += 1;
                // Over the budget: an older lookup still counts.
                if let Some(facts) = scan.lookups.get(&tag).and_then(|l| self.tag_facts(l)) {
                    gathered.facts.set_tag_facts(&images[i], &tag, facts);
                }
            }
        }
        let targets: Vec<ScanTarget> = images.iter().map(|image| self.target(image)).collect();
        let results: Vec<(usize, String, Result<_, ScanError>)> = stream::iter(todo)
            .map(|(i, tag)| {
                let target = &targets[i];
                async move {
                    let result = self
                        .client
                        .lookup_created(target, &tag, &self.created)
                        .await;
                    (i, tag, result)
                }
            })
            .buffer_unordered(LOOKUP_CONCURRENCY)
            .collect()
            .await;
        let mut failures: BTreeMap<usize, (usize, String)> = BTreeMap::new();
        for (i, tag, result) in results {
            let image = &images[i];
            let lookup = match result {
                Ok(found) => {
                    if found.fetched {
                        gathered.reports[i].fetched_configs += 1;
                    }
                    Lookup {
                        digest: Some(found.digest),
                        at: now,
                    }
                }
                Err(error) if error.is_transient() => {
                    let failure = failures.entry(i).or_insert((0, String::new()));
                    failure.0 += 1;
                    if failure.1.is_empty() {
                        failure.1 = format!("tag {tag}: {}", crate::redact::with_causes(&error));
                    }
                    // An older lookup still counts.
                    if let Some(facts) = scans[i]
                        .as_ref()
                        .and_then(|s| s.lookups.get(&tag))
                        .and_then(|l| self.tag_facts(l))
                    {
                        gathered.facts.set_tag_facts(image, &tag, facts);
                    }
                    continue;
                }
                Err(error) => {
                    // Not an image whose config can be read (an artifact, a
                    // deleted tag): it ranks as having no creation time.
                    tracing::warn!(automation = %self.automation, image = %image.name(), %tag, error = %crate::redact::with_causes(&error), "no creation time for this tag");
                    Lookup {
                        digest: None,
                        at: now,
                    }
                }
            };
            if let Some(facts) = self.tag_facts(&lookup) {
                gathered.facts.set_tag_facts(image, &tag, facts);
            }
            if let Some(scan) = &mut scans[i] {
                scan.lookups.insert(tag, lookup);
            }
        }
        for (i, (count, first)) in failures {
            let message = format!("{count} creation time lookup(s) failed; first: {first}");
            tracing::warn!(automation = %self.automation, image = %images[i].name(), error = %message, "lookups failed");
            let report = &mut gathered.reports[i];
            report.error = Some(match report.error.take() {
                Some(error) => format!("{error}; {message}"),
                None => message,
            });
        }
    }

    /// Stores the scans, and updates the announcements: a tag a complete scan
    /// listed is done; one it did not is looked for again, a few times.
    fn remember(
        &self,
        images: &[ImageReference],
        scans: Vec<Option<ImageScan>>,
        announced: &BTreeMap<String, Announced>,
        frozen: &BTreeSet<String>,
    ) {
        let mut memory = lock(&self.memory);
        for (image, scan) in images.iter().zip(scans) {
            if let Some(scan) = scan {
                memory.scans.insert(scan_key(&self.automation, image), scan);
            }
        }
        let mut remaining = BTreeMap::new();
        for (name, pushed) in announced {
            let Some(image) = images.iter().find(|i| i.name() == name) else {
                continue;
            };
            let listed = memory
                .scans
                .get(&scan_key(&self.automation, image))
                .map(|s| s.tags.clone())
                .unwrap_or_default();
            let mut left = pushed.clone();
            if !frozen.contains(name) {
                left.tags.retain(|tag| listed.binary_search(tag).is_err());
            }
            if left.tags.is_empty() {
                continue;
            }
            left.misses += 1;
            if left.misses < ANNOUNCED_TAG_RUNS {
                tracing::debug!(automation = %self.automation, image = %name, misses = left.misses, "an announced tag is not listed yet; running again shortly");
                remaining.insert(name.clone(), left);
            }
        }
        if remaining.is_empty() {
            memory.announced.remove(&self.automation);
        } else {
            memory.announced.insert(self.automation.clone(), remaining);
        }
    }

    /// Resolves the digests of `wanted` tags (containers pinned by digest whose
    /// new tag's digest is not known yet) into `facts`.
    pub async fn resolve_digests(
        &self,
        wanted: &[(ImageReference, String)],
        facts: &mut RegistryFacts,
    ) {
        for (image, tag) in wanted {
            match self.client.manifest_digest(&self.target(image), tag).await {
                Ok(digest) => {
                    let created = facts.tag_facts(image, tag).and_then(|f| f.created);
                    facts.set_tag_facts(
                        image,
                        tag,
                        TagFacts {
                            digest: Some(digest),
                            created,
                        },
                    );
                }
                Err(error) => {
                    tracing::warn!(automation = %self.automation, image = %image.name(), %tag, error = %crate::redact::with_causes(&error), "cannot resolve the digest");
                }
            }
        }
    }
}
