//! Workloads in one document: kind, name, Flux v1 policy annotations, containers.
//!
//! The kinds and the places of their containers follow fluxd, plus the Job,
//! Pod and PodTemplate kinds fluxd did not read:
//!
//! | kind | containers under |
//! | --- | --- |
//! | Deployment, StatefulSet, DaemonSet, ReplicaSet, Job | `spec.template.spec` |
//! | CronJob | `spec.jobTemplate.spec.template.spec` |
//! | Pod | `spec` |
//! | PodTemplate | `template.spec` |
//! | HelmRelease | `spec.values` (see [`super::helm`]) |
//! | any `…List` | each of `items` |
//!
//! `containers` come first, then `initContainers`; a name seen twice keeps its
//! first container, as fluxd's setter did. Annotation keys are read with the
//! prefixes in this order, the first present one winning: `fluxcd.io/`,
//! `flux.weave.works/`, and for filters `filter.fluxcd.io/<container>` last.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::helm;
use super::tree::{Node, Scalar};
use crate::image::ImageReference;
use crate::policy::annotation_filter::{PatternError, TagPattern};
use crate::update::scan::QuoteStyle;

/// The current annotation prefix.
pub const PREFIX: &str = "fluxcd.io/";
/// The older prefix fluxd still read.
pub const ALTERNATE_PREFIX: &str = "flux.weave.works/";
/// The per-container filter prefix (`filter.fluxcd.io/<container>`).
pub const FILTER_PREFIX: &str = "filter.fluxcd.io/";

/// Which workload: namespace (if the file gives one), kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkloadId {
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// The kind (`Deployment`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for WorkloadId {
    /// fluxd's form: `NAMESPACE:kind/NAME`, `<cluster>` without a namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let namespace = self.namespace.as_deref().unwrap_or("<cluster>");
        write!(
            f,
            "{namespace}:{}/{}",
            self.kind.to_ascii_lowercase(),
            self.name
        )
    }
}

/// One scalar that holds (part of) an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageField {
    /// Its bytes in the file.
    pub span: std::ops::Range<usize>,
    /// Its 1-based line.
    pub line: usize,
    /// Its quoting.
    pub style: QuoteStyle,
    /// Whether it has an explicit tag.
    pub tagged: bool,
    /// Its value.
    pub value: String,
}

impl ImageField {
    /// The field for a scalar that can be rewritten in place.
    pub(crate) fn from_scalar(scalar: &Scalar<'_>) -> Option<Self> {
        Some(Self {
            span: scalar.span.clone(),
            line: scalar.line,
            style: scalar.style.filter(|_| scalar.is_rewritable())?,
            tagged: scalar.tagged,
            value: scalar.value.to_string(),
        })
    }
}

/// Where a container's image is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFields {
    /// The field holding the name (`image:`, or `repository:` in Helm values),
    /// with the tag when there is no separate tag field.
    pub name: ImageField,
    /// A separate tag field (Helm values' `tag:`).
    pub tag: Option<ImageField>,
    /// A separate registry field (Helm values' `registry:`); never rewritten.
    pub registry: Option<ImageField>,
}

/// A container of an automated workload.
#[derive(Debug, Clone)]
pub struct Container {
    /// The container's name (`chart-image` or the values key for Helm images).
    pub name: String,
    /// The image, composed from its fields.
    pub image: ImageReference,
    /// Its filter (`glob:*` without a filter annotation), or why the annotation is unusable.
    pub filter: Result<TagPattern, PatternError>,
    /// The annotation key that gave the filter, if any.
    pub filter_key: Option<String>,
    /// Where the image is written.
    pub fields: ImageFields,
}

/// An annotation of a workload, with its bytes (for the migration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The key scalar's bytes.
    pub key_span: std::ops::Range<usize>,
    /// The value scalar's bytes.
    pub value_span: std::ops::Range<usize>,
    /// The 1-based line of the key.
    pub line: usize,
}

/// A workload with Flux v1 annotations.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// Which workload.
    pub id: WorkloadId,
    /// `automated: "true"`.
    pub automated: bool,
    /// `locked: "true"`: never updated.
    pub locked: bool,
    /// `ignore: "true"`: fluxd left such workloads alone entirely.
    pub ignored: bool,
    /// The containers with an image, in fluxd's order.
    pub containers: Vec<Container>,
    /// Every annotation of the workload, in source order.
    pub annotations: Vec<Annotation>,
    /// The bytes of the `annotations` key in `metadata`.
    pub annotations_key: Option<std::ops::Range<usize>>,
    /// Containers whose image cannot be rewritten in place (block scalar,
    /// alias, not a valid reference), with why.
    pub unusable: Vec<(String, String)>,
}

impl Workload {
    /// Whether fluxd would update it: automated, not locked, not ignored.
    pub fn is_updated(&self) -> bool {
        self.automated && !self.locked && !self.ignored
    }

    /// The value of the policy `name` (`automated`, `tag.app`), first prefix first.
    pub fn policy(&self, name: &str) -> Option<&str> {
        policy_value(&self.annotations, name)
    }
}

fn policy_value<'a>(annotations: &'a [Annotation], name: &str) -> Option<&'a str> {
    policy_entry(annotations, name).map(|a| a.value.as_str())
}

/// The annotation that sets policy `name`: the first present of
/// `fluxcd.io/NAME`, `flux.weave.works/NAME` and (for `tag.C`) `filter.fluxcd.io/C`.
fn policy_entry<'a>(annotations: &'a [Annotation], name: &str) -> Option<&'a Annotation> {
    let filter_key = name
        .strip_prefix("tag.")
        .map(|c| format!("{FILTER_PREFIX}{c}"));
    [
        Some(format!("{PREFIX}{name}")),
        Some(format!("{ALTERNATE_PREFIX}{name}")),
        filter_key,
    ]
    .into_iter()
    .flatten()
    .find_map(|key| annotations.iter().find(|a| a.key == key))
}

/// Every workload with at least one Flux v1 annotation in a document (a List's items included).
pub(crate) fn workloads_in(document: &Node<'_>, file: &std::path::Path) -> Vec<Workload> {
    let mut found = Vec::new();
    collect(document, file, &mut found, 0);
    found
}

fn collect(node: &Node<'_>, file: &std::path::Path, found: &mut Vec<Workload>, depth: usize) {
    let Some(kind) = node.get("kind").and_then(Node::as_str) else {
        return;
    };
    if kind.ends_with("List") {
        if depth < 4 {
            for item in node.get("items").map(Node::items).unwrap_or_default() {
                collect(item, file, found, depth + 1);
            }
        }
        return;
    }
    let metadata = node.get("metadata");
    let annotations_entry = metadata.and_then(|m| m.entry("annotations"));
    let annotations = read_annotations(annotations_entry.map(|(_, value)| value));
    let is_flux = |a: &Annotation| {
        a.key.starts_with(PREFIX)
            || a.key.starts_with(ALTERNATE_PREFIX)
            || a.key.starts_with(FILTER_PREFIX)
    };
    if !annotations.iter().any(is_flux) {
        return;
    }
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or_default();
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str);
    let is_true = |name: &str| policy_value(&annotations, name) == Some("true");
    let mut workload = Workload {
        file: file.to_path_buf(),
        id: WorkloadId {
            namespace: namespace.map(str::to_string),
            kind: kind.to_string(),
            name: name.to_string(),
        },
        automated: is_true("automated"),
        locked: is_true("locked"),
        ignored: is_true("ignore"),
        containers: Vec::new(),
        annotations: Vec::new(),
        annotations_key: annotations_entry.map(|(key, _)| key.span.clone()),
        unusable: Vec::new(),
    };
    let mut images = Vec::new();
    match kind {
        "HelmRelease" => helm::images(node, &annotations, &mut images, &mut workload.unusable),
        _ => {
            if let Some(pod) = pod_spec(node, kind) {
                pod_images(pod, &mut images, &mut workload.unusable);
            }
        }
    }
    for (name, image, fields) in images {
        if workload.containers.iter().any(|c| c.name == name) {
            continue;
        }
        let tag_policy = format!("tag.{name}");
        let entry = policy_entry(&annotations, &tag_policy);
        let filter = match entry {
            Some(entry) => TagPattern::parse(&entry.value),
            None => Ok(TagPattern::all()),
        };
        workload.containers.push(Container {
            filter_key: entry.map(|e| e.key.clone()),
            name,
            image,
            filter,
            fields,
        });
    }
    workload.annotations = annotations;
    found.push(workload);
}

fn pod_spec<'n, 'a>(node: &'n Node<'a>, kind: &str) -> Option<&'n Node<'a>> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            node.at(&["spec", "template", "spec"])
        }
        "CronJob" => node.at(&["spec", "jobTemplate", "spec", "template", "spec"]),
        "Pod" => node.get("spec"),
        "PodTemplate" => node.at(&["template", "spec"]),
        _ => None,
    }
}

/// A found image: container name, reference, fields.
pub(crate) type FoundImage = (String, ImageReference, ImageFields);

fn pod_images(pod: &Node<'_>, images: &mut Vec<FoundImage>, unusable: &mut Vec<(String, String)>) {
    for list in ["containers", "initContainers"] {
        for container in pod.get(list).map(Node::items).unwrap_or_default() {
            let Some(name) = container.get("name").and_then(Node::as_str) else {
                continue;
            };
            let Some(image) = container.get("image") else {
                continue;
            };
            match single_field(image) {
                Ok((reference, field)) => images.push((
                    name.to_string(),
                    reference,
                    ImageFields {
                        name: field,
                        tag: None,
                        registry: None,
                    },
                )),
                Err(reason) => unusable.push((name.to_string(), reason)),
            }
        }
    }
}

/// An `image:` node that holds a whole reference in one rewritable scalar.
pub(crate) fn single_field(node: &Node<'_>) -> Result<(ImageReference, ImageField), String> {
    let scalar = node
        .as_scalar()
        .ok_or_else(|| "the image is not a plain value (an alias or a collection)".to_string())?;
    let field = ImageField::from_scalar(scalar).ok_or_else(|| {
        format!(
            "the image on line {} is a block or multi-line scalar; it is never rewritten",
            scalar.line
        )
    })?;
    let reference = ImageReference::parse(&field.value).map_err(|e| e.to_string())?;
    Ok((reference, field))
}

fn read_annotations(node: Option<&Node<'_>>) -> Vec<Annotation> {
    node.map(Node::string_entries)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| Annotation {
            key: key.value.to_string(),
            value: value.value.to_string(),
            key_span: key.span.clone(),
            value_span: value.span.clone(),
            line: key.line,
        })
        .collect()
}
