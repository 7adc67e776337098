//! What the registry says, and the decision per container.
//!
//! The caller (the engine) fills [`RegistryFacts`] with the tags of every
//! image in [`super::Discovery::images`] and, for the tags that
//! [`created_lookups`] names, the digest and creation time of their image.
//! [`decide`] is then pure: one [`ContainerDecision`] per container of every
//! annotated workload, and [`ContainerDecision::update`] gives what
//! [`super::apply_updates`] writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::Discovery;
use super::workload::{Container, Workload, WorkloadId};
use crate::image::ImageReference;
use crate::policy::creation_order::{Choice, CreatedAt, HoldReason, SelectError, choose};

/// One container of one workload in one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerKey {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The workload.
    pub workload: WorkloadId,
    /// The container's name.
    pub container: String,
}

impl ContainerKey {
    /// The key of `container` in `workload`.
    pub fn new(workload: &Workload, container: &Container) -> Self {
        Self {
            file: workload.file.clone(),
            workload: workload.id.clone(),
            container: container.name.clone(),
        }
    }

    /// How messages and commit data name the container where a setter would
    /// be named: `deployment/hello:hello` (kind, workload, container), with
    /// the workload's namespace first when the file gives one
    /// (`apps:deployment/hello:hello`, fluxd's resource ID).
    pub fn label(&self) -> String {
        let workload = format!(
            "{}/{}:{}",
            self.workload.kind.to_ascii_lowercase(),
            self.workload.name,
            self.container
        );
        match &self.workload.namespace {
            Some(namespace) => format!("{namespace}:{workload}"),
            None => workload,
        }
    }
}

/// What is known of one tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagFacts {
    /// The manifest digest the tag points to.
    pub digest: Option<String>,
    /// The creation time of its image, once looked up.
    pub created: Option<CreatedAt>,
}

/// Tags and per-tag facts by image name (as written in the workloads).
#[derive(Debug, Clone, Default)]
pub struct RegistryFacts {
    tags: BTreeMap<String, Vec<String>>,
    facts: BTreeMap<(String, String), TagFacts>,
}

impl RegistryFacts {
    /// Records the complete tag list of `image` (its name; tag and digest ignored).
    pub fn set_tags(&mut self, image: &ImageReference, tags: Vec<String>) {
        self.tags.insert(image.name().to_string(), tags);
    }

    /// The tag list of `image`, if it was listed.
    pub fn tags(&self, image: &ImageReference) -> Option<&[String]> {
        self.tags.get(image.name()).map(Vec::as_slice)
    }

    /// Records what is known of `tag` of `image`.
    pub fn set_tag_facts(&mut self, image: &ImageReference, tag: &str, facts: TagFacts) {
        self.facts
            .insert((image.name().to_string(), tag.to_string()), facts);
    }

    /// What is known of `tag` of `image`.
    pub fn tag_facts(&self, image: &ImageReference, tag: &str) -> Option<&TagFacts> {
        self.facts.get(&(image.name().to_string(), tag.to_string()))
    }
}

/// The `(image, tag)` pairs whose creation time [`decide`] needs and `facts`
/// lacks: every listed tag that passes a creation-time filter of an updated
/// container, plus its current tag. Sorted, without duplicates. A container
/// whose filter is invalid or runs out of its backtracking budget adds nothing
/// ([`decide`] reports it).
pub fn created_lookups(
    discovery: &Discovery,
    facts: &RegistryFacts,
) -> Vec<(ImageReference, String)> {
    let mut wanted: BTreeMap<(String, String), ImageReference> = BTreeMap::new();
    for workload in discovery.workloads().filter(|w| w.is_updated()) {
        for container in &workload.containers {
            let (Ok(pattern), Some(tags)) = (&container.filter, facts.tags(&container.image))
            else {
                continue;
            };
            if !pattern.orders_by_created() {
                continue;
            }
            let current = container.image.tag();
            let mut needed = Vec::new();
            let matched = tags.iter().try_for_each(|tag| {
                if Some(tag.as_str()) == current || pattern.matches(tag)? {
                    needed.push(tag);
                }
                Ok::<(), super::PatternError>(())
            });
            if matched.is_err() {
                continue;
            }
            for tag in needed {
                let missing = facts
                    .tag_facts(&container.image, tag)
                    .is_none_or(|f| f.created.is_none());
                if missing {
                    wanted
                        .entry((container.image.name().to_string(), tag.clone()))
                        .or_insert_with(|| container.image.clone());
                }
            }
        }
    }
    wanted
        .into_iter()
        .map(|((_, tag), image)| (image, tag))
        .collect()
}

/// What happens to one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The workload is not automated, or is locked or ignored.
    NotAutomated,
    /// The current tag is the one to run.
    UpToDate,
    /// Move to this image.
    Update(ImageReference),
    /// Another tag ranks first but the current one is kept.
    Held {
        /// The tag that ranked first.
        tag: String,
        /// Why it is not applied.
        reason: HoldReason,
    },
    /// The current image is pinned by digest and the new tag's digest is unknown.
    DigestUnknown {
        /// The tag that was chosen.
        tag: String,
    },
    /// The tags of the image were not listed.
    NotScanned,
    /// No choice could be made.
    Failed(SelectError),
    /// The filter annotation is invalid.
    InvalidFilter(super::PatternError),
}

/// The decision for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDecision {
    /// Which container.
    pub key: ContainerKey,
    /// Its image now.
    pub current: ImageReference,
    /// Its filter as written (`glob:*` when it has none).
    pub filter: String,
    /// What happens.
    pub outcome: Outcome,
}

impl ContainerDecision {
    /// The image to write, if the container moves.
    pub fn update(&self) -> Option<(&ContainerKey, &ImageReference)> {
        match &self.outcome {
            Outcome::Update(image) => Some((&self.key, image)),
            _ => None,
        }
    }
}

/// Decides every container of every annotated workload in `discovery`.
pub fn decide(discovery: &Discovery, facts: &RegistryFacts) -> Vec<ContainerDecision> {
    let mut decisions = Vec::new();
    let mut seen = BTreeSet::new();
    for workload in discovery.workloads() {
        for container in &workload.containers {
            let key = ContainerKey::new(workload, container);
            if !seen.insert(key.clone()) {
                continue;
            }
            let filter = match &container.filter {
                Ok(pattern) => pattern.to_string(),
                Err(_) => container.filter_key.clone().unwrap_or_default(),
            };
            decisions.push(ContainerDecision {
                outcome: outcome(workload, container, facts),
                key,
                current: container.image.clone(),
                filter,
            });
        }
    }
    decisions
}

fn outcome(workload: &Workload, container: &Container, facts: &RegistryFacts) -> Outcome {
    if !workload.is_updated() {
        return Outcome::NotAutomated;
    }
    let pattern = match &container.filter {
        Ok(pattern) => pattern,
        Err(error) => return Outcome::InvalidFilter(error.clone()),
    };
    let image = &container.image;
    let Some(tags) = facts.tags(image) else {
        return Outcome::NotScanned;
    };
    let created = |tag: &str| facts.tag_facts(image, tag).and_then(|f| f.created);
    match choose(image.name(), pattern, image.tag(), tags, &created) {
        Err(error) => Outcome::Failed(error),
        Ok(Choice::Current) => Outcome::UpToDate,
        Ok(Choice::Hold { tag, reason }) => Outcome::Held { tag, reason },
        Ok(Choice::Move(tag)) => {
            if image.digest().is_none() {
                return Outcome::Update(image.with_tag(&tag, None));
            }
            match facts
                .tag_facts(image, &tag)
                .and_then(|f| f.digest.as_deref())
            {
                Some(digest) => Outcome::Update(image.with_tag(&tag, Some(digest))),
                None => Outcome::DigestUnknown { tag },
            }
        }
    }
}
