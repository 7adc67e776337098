//! `migrate flux-v1`: Flux v1 annotations → `$imagepolicy` markers plus
//! ImageRepository/ImagePolicy objects.
//!
//! For every automated workload under the directory ([`super::discover`]):
//! - each container's filter becomes the closest ImagePolicy
//!   ([`super::migrate_policy::translate`]); equal policies are shared, and one
//!   ImageRepository serves every policy of an image with the same exclusions;
//! - the image value gets a marker comment at the end of its line
//!   (`# {"$imagepolicy": "NS:POLICY"}`; Helm values with a separate `tag:`
//!   get `:name` on the repository and `:tag` on the tag);
//! - the automation annotations (`*/automated`, `*/tag.*`, `filter.fluxcd.io/*`
//!   and the Helm path annotations) are removed, line by line, and the
//!   `annotations:` key too when nothing is left under it.
//!
//! A workload is migrated whole or not at all, and one that is not is said
//! plainly with why: locked or ignored (it must stay frozen; markers would
//! move it), a filter with no ImagePolicy equivalent, an image value that is
//! not the last thing on its line (flow style, or a comment already there), a
//! Helm registry in its own field. Annotations in flow style are left in place
//! with a note. Only the marked values and the removed lines change; every
//! other byte is kept.

use std::collections::BTreeMap;
use std::path::Path;

use super::migrate_policy::{Translation, policy_yaml, repository_yaml, translate};
use super::splice::{Edit, line_end, line_start, splice};
use super::workload::{ALTERNATE_PREFIX, Container, FILTER_PREFIX, ImageField, PREFIX, Workload};
use super::{Discovery, discover};
use crate::update::report::{FileUpdate, slash_path};
use crate::update::{UpdateError, UpdateMode};

/// Why a migration cannot run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The tree cannot be walked or read, or a file cannot be written.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// Filter annotations that cannot be read; nothing was changed.
    #[error("invalid Flux v1 filter annotations (nothing was changed):\n  {}", .0.join("\n  "))]
    InvalidFilters(Vec<String>),
}

/// Settings of a migration.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The namespace of the objects written (and of the markers' policies).
    pub namespace: String,
    /// The objects' `apiVersion`.
    pub api_version: String,
}

/// What a migration did (or, in a dry run, would do).
#[derive(Debug, Clone, Default)]
pub struct Migration {
    /// Changed workload files with their old and new content, by path.
    pub files: Vec<FileUpdate>,
    /// The ImageRepository and ImagePolicy objects, as one multi-document YAML.
    pub objects: String,
    /// How many ImageRepository and ImagePolicy objects `objects` holds.
    pub counts: (usize, usize),
    /// One line per migrated container and per changed workload, in file order.
    pub actions: Vec<String>,
    /// What the user must know: workloads left alone and why, lost orderings.
    pub notes: Vec<String>,
}

/// One container to mark.
struct Marked<'w> {
    workload: &'w Workload,
    container: &'w Container,
    translation: Translation,
}

/// Migrates the automated workloads under `root`, writing files in `mode`.
pub fn migrate(
    root: &Path,
    options: &MigrateOptions,
    mode: UpdateMode,
) -> Result<Migration, MigrateError> {
    let discovery = discover(root, Path::new("."))?;
    let mut migration = Migration::default();
    let invalid: Vec<String> = discovery
        .workloads()
        .filter(|w| w.is_updated())
        .flat_map(|w| {
            w.containers.iter().filter_map(move |c| {
                let error = c.filter.as_ref().err()?;
                Some(format!(
                    "{}: {} annotation {}: {error}",
                    slash_path(&w.file),
                    w.id,
                    c.filter_key.as_deref().unwrap_or_default()
                ))
            })
        })
        .collect();
    if !invalid.is_empty() {
        return Err(MigrateError::InvalidFilters(invalid));
    }
    for skipped in &discovery.skipped {
        migration.notes.push(format!(
            "{}: skipped: {}",
            slash_path(&skipped.file),
            skipped.reason
        ));
    }
    let marked = plan(&discovery, &mut migration.notes);
    let names = Names::assign(&marked);
    let mut reals = Vec::new();
    for file in &discovery.files {
        let mut edits = Vec::new();
        for workload in &file.workloads {
            let containers: Vec<&Marked<'_>> = marked
                .iter()
                .filter(|m| std::ptr::eq(m.workload, workload))
                .collect();
            if containers.is_empty() {
                continue;
            }
            for m in &containers {
                let policy = format!("{}:{}", options.namespace, names.policy(m));
                let fields = &m.container.fields;
                let (name_suffix, tag) = match &fields.tag {
                    Some(tag) => (":name", Some(tag)),
                    None => ("", None),
                };
                edits.push(marker(&fields.name, &policy, name_suffix));
                if let Some(tag) = tag {
                    edits.push(marker(tag, &policy, ":tag"));
                }
                migration.actions.push(format!(
                    "{}: {} container {}: marker {policy} ({})",
                    slash_path(&file.file),
                    workload.id,
                    m.container.name,
                    m.container
                        .filter
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ));
            }
            match annotation_removals(&file.text, workload) {
                Some((removals, count)) => {
                    migration.actions.push(format!(
                        "{}: {}: removed {count} Flux v1 annotation(s)",
                        slash_path(&file.file),
                        workload.id,
                    ));
                    edits.extend(removals);
                }
                None => migration.notes.push(format!(
                    "{}: {}: its Flux v1 annotations are not one per line (flow style); remove them by hand",
                    slash_path(&file.file),
                    workload.id
                )),
            }
        }
        if let Some(updated) = splice(&file.text, edits) {
            reals.push(file.real.clone());
            migration.files.push(FileUpdate {
                file: file.file.clone(),
                original: file.text.clone(),
                updated,
            });
        }
    }
    names.render(options, &mut migration);
    crate::update::write_files(&reals, &migration.files, mode)?;
    Ok(migration)
}

/// The containers to mark; workloads that cannot be migrated whole are noted.
fn plan<'d>(discovery: &'d Discovery, notes: &mut Vec<String>) -> Vec<Marked<'d>> {
    let mut marked = Vec::new();
    for workload in discovery.workloads().filter(|w| w.automated) {
        let place = format!("{}: {}", slash_path(&workload.file), workload.id);
        if workload.locked || workload.ignored {
            notes.push(format!(
                "{place}: not migrated: it is locked or ignored, and a marker would let image automation move it; unlock it and run again to migrate it"
            ));
            continue;
        }
        let mut reasons = Vec::new();
        let mut mine = Vec::new();
        for (container, reason) in &workload.unusable {
            reasons.push(format!("container {container}: {reason}"));
        }
        for container in &workload.containers {
            let Ok(pattern) = &container.filter else {
                continue;
            };
            let fields = &container.fields;
            let unmarkable = std::iter::once(&fields.name)
                .chain(fields.tag.as_ref())
                .find_map(|field| unmarkable(discovery_text(discovery, workload), field));
            let translation = match (translate(pattern), &fields.registry, unmarkable) {
                (Err(reason), _, _) => Err(reason),
                (_, Some(_), _) => Err(
                    "the Helm registry is in a field of its own, which a marker cannot write"
                        .to_string(),
                ),
                (_, _, Some(reason)) => Err(reason),
                (Ok(translation), None, None) => Ok(translation),
            };
            match translation {
                Ok(translation) => mine.push(Marked {
                    workload,
                    container,
                    translation,
                }),
                Err(reason) => reasons.push(format!("container {}: {reason}", container.name)),
            }
        }
        if reasons.is_empty() && !mine.is_empty() {
            marked.extend(mine);
        } else if !reasons.is_empty() {
            notes.push(format!("{place}: not migrated: {}", reasons.join("; ")));
        }
    }
    marked
}

fn discovery_text<'d>(discovery: &'d Discovery, workload: &Workload) -> &'d str {
    discovery
        .files
        .iter()
        .find(|f| f.file == workload.file)
        .map_or("", |f| f.text.as_str())
}

/// Why a marker cannot follow `field` on its line.
fn unmarkable(text: &str, field: &ImageField) -> Option<String> {
    let rest = text.get(field.span.end..line_end(text, field.span.end))?;
    let rest = rest
        .trim_end_matches(['\n', '\r'])
        .trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        None
    } else if rest.starts_with('#') {
        Some(format!(
            "line {} already has a comment after the image, where the marker goes; move the comment and run again",
            field.line
        ))
    } else {
        Some(format!(
            "the image on line {} is not the last thing on its line (flow style); add the marker by hand",
            field.line
        ))
    }
}

fn marker(field: &ImageField, policy: &str, suffix: &str) -> Edit {
    Edit {
        span: field.span.end..field.span.end,
        text: format!(" # {{\"$imagepolicy\": \"{policy}{suffix}\"}}"),
    }
}

/// Whether an annotation is one of fluxd's automation annotations.
fn is_automation(key: &str) -> bool {
    let policy = key
        .strip_prefix(PREFIX)
        .or_else(|| key.strip_prefix(ALTERNATE_PREFIX));
    policy.is_some_and(|p| p == "automated" || p.starts_with("tag."))
        || [
            FILTER_PREFIX,
            "registry.fluxcd.io/",
            "repository.fluxcd.io/",
            "tag.fluxcd.io/",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// The whole lines to remove and how many annotations they hold, or `None`
/// when an annotation to remove does not stand on a line of its own.
fn annotation_removals(text: &str, workload: &Workload) -> Option<(Vec<Edit>, usize)> {
    let mut removals = Vec::new();
    for annotation in workload
        .annotations
        .iter()
        .filter(|a| is_automation(&a.key))
    {
        let span = own_line(text, annotation.key_span.start, annotation.value_span.end)?;
        removals.push(Edit {
            span,
            text: String::new(),
        });
    }
    let count = removals.len();
    let everything = count == workload.annotations.len();
    if everything && let Some(key) = &workload.annotations_key {
        // `annotations:` alone on its line, its entries on the next ones.
        if let Some(span) = own_line(text, key.start, key.end + 1)
            && text.get(key.end..key.end + 1) == Some(":")
        {
            removals.push(Edit {
                span,
                text: String::new(),
            });
        }
    }
    Some((removals, count))
}

/// The whole line from `start` to `end` when only blanks precede `start` and
/// only blanks or a comment follow `end`.
fn own_line(text: &str, start: usize, end: usize) -> Option<std::ops::Range<usize>> {
    let begin = line_start(text, start);
    let finish = line_end(text, end);
    let before = text.get(begin..start)?;
    let after = text
        .get(end..finish)?
        .trim_end_matches(['\n', '\r'])
        .trim_start();
    (before.bytes().all(|b| b == b' ' || b == b'\t')
        && (after.is_empty() || after.starts_with('#')))
    .then_some(begin..finish)
}

/// Object names, in first-seen order.
struct Names {
    /// (image name, exclusions) → ImageRepository name.
    repositories: BTreeMap<(String, Vec<String>), String>,
    /// (image name, translation without note) → ImagePolicy name, and the translation.
    policies: BTreeMap<(String, Translation), (String, String)>,
    order: Vec<(String, Translation)>,
    /// ImagePolicy name → what its translation lost.
    notes: Vec<(String, String)>,
}

impl Names {
    fn assign(marked: &[Marked<'_>]) -> Self {
        let mut names = Self {
            repositories: BTreeMap::new(),
            policies: BTreeMap::new(),
            order: Vec::new(),
            notes: Vec::new(),
        };
        let mut taken: Vec<String> = Vec::new();
        let unique = |base: String, taken: &mut Vec<String>| {
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            taken.push(name.clone());
            name
        };
        let mut repository_names: Vec<String> = Vec::new();
        for m in marked {
            let image = m.container.image.name().to_string();
            let base = object_name(&m.container.image.repository());
            let repository_key = (image.clone(), m.translation.exclusions.clone());
            let repository = names
                .repositories
                .entry(repository_key)
                .or_insert_with(|| unique(base.clone(), &mut repository_names))
                .clone();
            let key = (
                image,
                Translation {
                    note: None,
                    ..m.translation.clone()
                },
            );
            if !names.policies.contains_key(&key) {
                let policy = unique(repository.clone(), &mut taken);
                if let Some(note) = &m.translation.note {
                    names.notes.push((policy.clone(), note.clone()));
                }
                names.policies.insert(key.clone(), (policy, repository));
                names.order.push(key);
            }
        }
        names
    }

    fn policy(&self, m: &Marked<'_>) -> &str {
        let key = (
            m.container.image.name().to_string(),
            Translation {
                note: None,
                ..m.translation.clone()
            },
        );
        self.policies
            .get(&key)
            .map_or("", |(name, _)| name.as_str())
    }

    fn render(&self, options: &MigrateOptions, migration: &mut Migration) {
        let mut documents = Vec::new();
        let mut repositories: Vec<(&String, &(String, Vec<String>))> =
            self.repositories.iter().map(|(k, v)| (v, k)).collect();
        repositories.sort();
        for (name, (image, exclusions)) in &repositories {
            documents.push(repository_yaml(
                &options.api_version,
                &options.namespace,
                name,
                image,
                exclusions,
            ));
        }
        for key in &self.order {
            let (name, repository) = &self.policies[key];
            documents.push(policy_yaml(
                &options.api_version,
                &options.namespace,
                name,
                repository,
                &key.1,
            ));
        }
        migration.counts = (repositories.len(), self.order.len());
        migration.objects = documents.join("---\n");
        for (policy, note) in &self.notes {
            migration
                .notes
                .push(format!("{}:{policy}: {note}", options.namespace));
        }
    }
}

/// A Kubernetes object name from a repository path (`lucj/hello` → `lucj-hello`).
fn object_name(repository: &str) -> String {
    let mut name: String = repository
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let mut name: String = name.chars().take(50).collect();
    name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "image".to_string()
    } else {
        name
    }
}
