//! Flux v1 annotations: find workloads automated the fluxd way and keep their
//! container images current, byte-exactly.
//!
//! fluxd (Flux v1) read automation from workload annotations instead of
//! markers: `fluxcd.io/automated: "true"` (or `flux.weave.works/automated`),
//! a filter per container in `fluxcd.io/tag.<container>` (or
//! `flux.weave.works/tag.<container>`, `filter.fluxcd.io/<container>`), and
//! `fluxcd.io/locked: "true"` to freeze a workload. This module is the pure
//! core of that strategy, in three steps the engine drives:
//!
//! 1. [`discover`] walks the update path like the setters (`walk`:
//!    inside the repository, no symlink escapes, `.git` skipped), screens each
//!    file for the literal `automated`, parses it once into a span tree
//!    (`tree`, the scanner's parser) and lists every annotated
//!    [`Workload`] with its [`Container`]s, image fields and [`TagPattern`]
//!    (parsed and matched by [`crate::policy::annotation_filter`]).
//! 2. The caller lists tags for [`Discovery::images`], looks up the creation
//!    time of every tag in [`created_lookups`], and fills a
//!    [`RegistryFacts`]; [`decide`] then chooses per container
//!    ([`crate::policy::creation_order`]).
//! 3. [`apply_updates`] writes the chosen tags: only the bytes of the image
//!    value (or of the Helm `tag:` value) change, with the quoting kept
//!    ([`super::rewrite::encode`]); every other byte of the file is preserved
//!    (invariants 1 and 2), files are written like the setters' ([`UpdateMode`]).
//!
//! Which kinds are read, and where their containers are: [`workload`] and
//! [`helm`]. Filter syntax and bounds: [`crate::policy::annotation_filter`].

pub mod facts;
pub mod helm;
pub mod migrate;
pub mod migrate_policy;
pub(crate) mod splice;
pub(crate) mod tree;
pub mod workload;

#[cfg(test)]
mod golden_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::policy::annotation_filter::{BoundedRegex, PatternError, TagPattern};
pub use crate::policy::creation_order::{Choice, CreatedAt, HoldReason, SelectError};
pub use facts::{
    ContainerDecision, ContainerKey, Outcome, RegistryFacts, TagFacts, created_lookups, decide,
};
pub use workload::{Container, Workload, WorkloadId};

use super::report::{FileUpdate, SkipReason, SkippedFile, unified_diff};
use super::{UpdateError, UpdateMode, walk};
use crate::image::ImageReference;

/// The literal a file must contain to be parsed (both automation keys end in it).
pub const SCREEN_TOKEN: &str = "automated";

/// A file with annotated workloads, as read.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// Where it really is (reads and writes go here).
    pub(crate) real: PathBuf,
    /// Its content.
    pub text: String,
    /// Its annotated workloads, in source order.
    pub workloads: Vec<Workload>,
}

/// Everything [`discover`] found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Files with annotated workloads, by path.
    pub files: Vec<ScannedFile>,
    /// Files that contain the screen token but cannot be read as YAML, by path.
    pub skipped: Vec<SkippedFile>,
}

impl Discovery {
    /// Every annotated workload, by file then source order.
    pub fn workloads(&self) -> impl Iterator<Item = &Workload> {
        self.files.iter().flat_map(|f| f.workloads.iter())
    }

    /// The images to list tags for: those of containers fluxd would update
    /// (automated, not locked, not ignored), distinct by name, sorted by name
    /// (each as first written; its tag and digest mean nothing to a scan).
    pub fn images(&self) -> Vec<ImageReference> {
        let mut images: BTreeMap<String, ImageReference> = BTreeMap::new();
        for workload in self.workloads().filter(|w| w.is_updated()) {
            for container in &workload.containers {
                images
                    .entry(container.image.name().to_string())
                    .or_insert_with(|| container.image.clone());
            }
        }
        images.into_values().collect()
    }
}

/// Lists the annotated workloads in the files under `root/path`.
///
/// `path` is relative to `root` (an absolute path must lie inside it), as for
/// [`super::apply_results`]. Fails only when the tree cannot be walked or a
/// file cannot be read; a file that is not UTF-8 or not YAML is listed in
/// [`Discovery::skipped`].
pub fn discover(root: &Path, path: &Path) -> Result<Discovery, UpdateError> {
    let (root, target) = walk::resolve(root, path)?;
    let mut discovery = Discovery::default();
    let mut candidates = Vec::new();
    walk::walk(
        &root,
        &target,
        false,
        &mut discovery.skipped,
        &mut |candidate| candidates.push(candidate),
    )?;
    candidates.sort_by(|a, b| a.relative.cmp(&b.relative));
    for candidate in candidates {
        let read_error = |source| UpdateError::Read {
            path: candidate.relative.clone(),
            source,
        };
        // Memory stays bounded whatever the repository holds (as for markers).
        let size = std::fs::metadata(&candidate.real)
            .map_err(read_error)?
            .len();
        if size > super::MAX_MARKED_FILE_BYTES {
            discovery.skipped.push(SkippedFile {
                file: candidate.relative.clone(),
                line: None,
                reason: SkipReason::TooLarge { bytes: size },
            });
            continue;
        }
        let bytes = std::fs::read(&candidate.real).map_err(read_error)?;
        if memchr::memmem::find(&bytes, SCREEN_TOKEN.as_bytes()).is_none() {
            continue;
        }
        let skip = |reason| SkippedFile {
            file: candidate.relative.clone(),
            line: None,
            reason,
        };
        let Ok(text) = String::from_utf8(bytes) else {
            discovery.skipped.push(skip(SkipReason::NotUtf8));
            continue;
        };
        let documents = match tree::parse(&text) {
            Ok(documents) => documents,
            Err(error) => {
                discovery.skipped.push(skip(SkipReason::InvalidYaml(error)));
                continue;
            }
        };
        let workloads: Vec<Workload> = documents
            .iter()
            .flat_map(|d| workload::workloads_in(d, &candidate.relative))
            .collect();
        drop(documents);
        if !workloads.is_empty() {
            discovery.files.push(ScannedFile {
                file: candidate.relative,
                real: candidate.real,
                text,
                workloads,
            });
        }
    }
    discovery.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(discovery)
}

/// One container image that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnotationChange {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The 1-based line of the rewritten value.
    pub line: usize,
    /// The workload.
    pub workload: WorkloadId,
    /// The container (`chart-image` or a values key for Helm images).
    pub container: String,
    /// The image before.
    pub old: String,
    /// The image after.
    pub new: String,
}

/// What [`apply_updates`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnotationReport {
    /// Every changed image, by file then line.
    pub changes: Vec<AnnotationChange>,
    /// Every changed file with its old and new content, by path.
    pub files: Vec<FileUpdate>,
    /// Files that were skipped, by path.
    pub skipped: Vec<SkippedFile>,
}

impl AnnotationReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A git-style unified diff of every changed file.
    pub fn unified_diff(&self) -> String {
        unified_diff(&self.files)
    }
}

/// The images to write: container → new reference (tag, and digest when the
/// current image is pinned by one).
pub type AnnotationUpdates = BTreeMap<ContainerKey, ImageReference>;

/// Writes `updates` into the files under `root/path`.
///
/// Reads the tree again (a container that is gone is left out), changes only
/// the bytes of each updated image value, and writes changed files in `mode`
/// with the setters' guarantees (nothing is written unless every file could be
/// read; idempotent; unchanged files are not touched).
pub fn apply_updates(
    root: &Path,
    path: &Path,
    updates: &AnnotationUpdates,
    mode: UpdateMode,
) -> Result<AnnotationReport, UpdateError> {
    let discovery = discover(root, path)?;
    let mut report = AnnotationReport {
        skipped: discovery.skipped,
        ..AnnotationReport::default()
    };
    let mut reals = Vec::new();
    for file in discovery.files {
        let mut edits = Vec::new();
        for workload in &file.workloads {
            for container in &workload.containers {
                let key = ContainerKey::new(workload, container);
                let Some(new) = updates.get(&key) else {
                    continue;
                };
                if let Some((edit, change)) = image_edit(&file.file, workload, container, new) {
                    edits.push(edit);
                    report.changes.push(change);
                }
            }
        }
        let Some(updated) = splice::splice(&file.text, edits) else {
            continue;
        };
        reals.push(file.real);
        report.files.push(FileUpdate {
            file: file.file,
            original: file.text,
            updated,
        });
    }
    report
        .changes
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    super::write_files(&reals, &report.files, mode)?;
    Ok(report)
}

/// The edit that moves `container` to `new`, if it changes anything.
fn image_edit(
    file: &Path,
    workload: &Workload,
    container: &Container,
    new: &ImageReference,
) -> Option<(splice::Edit, AnnotationChange)> {
    let new_tag = new.tag()?;
    let (field, value) = match &container.fields.tag {
        Some(tag_field) => (tag_field, new_tag.to_string()),
        None => {
            let written = ImageReference::parse(&container.fields.name.value).ok()?;
            let field = &container.fields.name;
            (field, written.with_tag(new_tag, new.digest()).to_string())
        }
    };
    if field.value == value {
        return None;
    }
    let after = container.image.with_tag(new_tag, new.digest());
    Some((
        splice::Edit {
            span: field.span.clone(),
            text: super::rewrite::encode(&value, field.style, field.tagged),
        },
        AnnotationChange {
            file: file.to_path_buf(),
            line: field.line,
            workload: workload.id.clone(),
            container: container.name.clone(),
            old: container.image.to_string(),
            new: after.to_string(),
        },
    ))
}
