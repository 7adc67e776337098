//! Images in a HelmRelease's `spec.values`, read the way fluxd read them.
//!
//! Three sources, later ones replacing earlier ones of the same container name:
//! 1. `values` itself holding an image: the container `chart-image`;
//! 2. each top-level key of `values` whose value holds an image: a container
//!    named after the key (`values.app.image` is container `app`);
//! 3. annotations mapping a container to dot paths under `spec.values`:
//!    `repository.fluxcd.io/<c>` (required), `registry.fluxcd.io/<c>`,
//!    `tag.fluxcd.io/<c>`.
//!
//! A mapping "holds an image" when it has `image:` as a string, optionally with
//! sibling `registry:` and `tag:` strings, or `image:` as a mapping with
//! `repository:` and optional `registry:` and `tag:`. The reference is
//! `[registry/]name[:tag]`. An update writes the tag into the tag field when
//! there is one, else into the name field; the registry field is never written
//! (an update changes only the tag).
//!
//! Containers come out as fluxd listed them: `chart-image` first, then by name.

use std::collections::BTreeMap;

use super::tree::Node;
use super::workload::{Annotation, FoundImage, ImageField, ImageFields};
use crate::image::ImageReference;

/// The container name of an image at the top of `values`.
pub const CHART_IMAGE: &str = "chart-image";

/// Annotation prefixes of the user-defined image paths.
const REGISTRY_PATH: &str = "registry.fluxcd.io/";
const REPOSITORY_PATH: &str = "repository.fluxcd.io/";
const TAG_PATH: &str = "tag.fluxcd.io/";

/// An image's parts, each a scalar node.
struct Parts<'n, 'a> {
    registry: Option<&'n Node<'a>>,
    name: &'n Node<'a>,
    tag: Option<&'n Node<'a>>,
}

/// Adds the images of a HelmRelease `node` to `images`.
pub(crate) fn images(
    node: &Node<'_>,
    annotations: &[Annotation],
    images: &mut Vec<FoundImage>,
    unusable: &mut Vec<(String, String)>,
) {
    let Some(values @ Node::Mapping(entries)) = node.at(&["spec", "values"]) else {
        return;
    };
    let mut found: BTreeMap<String, Parts<'_, '_>> = BTreeMap::new();
    if let Some(parts) = as_container(values) {
        found.insert(CHART_IMAGE.to_string(), parts);
    }
    for (key, value) in entries {
        if let (Some(key), Some(parts)) = (key.as_str(), as_container(value)) {
            found.insert(key.to_string(), parts);
        }
    }
    for (container, paths) in mapped_paths(annotations) {
        if let Some(parts) = mapped(values, &paths) {
            found.insert(container, parts);
        }
    }
    let chart_first = found.remove_entry(CHART_IMAGE);
    for (name, parts) in chart_first.into_iter().chain(found) {
        match resolve(&parts) {
            Ok(Some((reference, fields))) => images.push((name, reference, fields)),
            Ok(None) => {}
            Err(reason) => unusable.push((name, reason)),
        }
    }
}

/// `m.image` as a string (with sibling registry/tag) or as a repository mapping.
fn as_container<'n, 'a>(m: &'n Node<'a>) -> Option<Parts<'n, 'a>> {
    let image = m.get("image")?;
    match image {
        Node::Scalar(_) => Some(Parts {
            registry: m.get("registry").filter(|n| n.as_str().is_some()),
            name: image,
            tag: m.get("tag").filter(|n| n.as_str().is_some()),
        }),
        Node::Mapping(_) => {
            let repository = image.get("repository").filter(|n| n.as_str().is_some())?;
            Some(Parts {
                registry: image.get("registry").filter(|n| n.as_str().is_some()),
                name: repository,
                tag: image.get("tag").filter(|n| n.as_str().is_some()),
            })
        }
        _ => None,
    }
}

#[derive(Default)]
struct Paths {
    registry: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
}

fn mapped_paths(annotations: &[Annotation]) -> BTreeMap<String, Paths> {
    let mut paths: BTreeMap<String, Paths> = BTreeMap::new();
    for annotation in annotations {
        let (container, slot): (&str, fn(&mut Paths) -> &mut Option<String>) =
            if let Some(c) = annotation.key.strip_prefix(REGISTRY_PATH) {
                (c, |p| &mut p.registry)
            } else if let Some(c) = annotation.key.strip_prefix(REPOSITORY_PATH) {
                (c, |p| &mut p.repository)
            } else if let Some(c) = annotation.key.strip_prefix(TAG_PATH) {
                (c, |p| &mut p.tag)
            } else {
                continue;
            };
        *slot(paths.entry(container.to_string()).or_default()) = Some(annotation.value.clone());
    }
    paths
}

/// The parts at user-given dot paths under `values`; a repository path is required.
fn mapped<'n, 'a>(values: &'n Node<'a>, paths: &Paths) -> Option<Parts<'n, 'a>> {
    let at = |path: &Option<String>| -> Option<Option<&'n Node<'a>>> {
        match path {
            None => Some(None),
            Some(path) => {
                let steps: Vec<&str> = path.split('.').collect();
                values.at(&steps).filter(|n| n.as_str().is_some()).map(Some)
            }
        }
    };
    Some(Parts {
        registry: at(&paths.registry)?,
        name: at(&paths.repository)??,
        tag: at(&paths.tag)?,
    })
}

/// The reference and writable fields of `parts`; `Ok(None)` when the parts do
/// not form an image reference (fluxd ignored such values too).
fn resolve(parts: &Parts<'_, '_>) -> Result<Option<(ImageReference, ImageFields)>, String> {
    let text = |node: Option<&Node<'_>>| node.and_then(Node::as_str).map(str::to_string);
    let mut composed = String::new();
    if let Some(registry) = text(parts.registry) {
        composed.push_str(&registry);
        composed.push('/');
    }
    composed.push_str(&text(Some(parts.name)).unwrap_or_default());
    if let Some(tag) = text(parts.tag) {
        composed.push(':');
        composed.push_str(&tag);
    }
    let Ok(reference) = ImageReference::parse(&composed) else {
        return Ok(None);
    };
    let field = |node: &Node<'_>| -> Result<ImageField, String> {
        let scalar = node.as_scalar().ok_or("not a scalar")?;
        ImageField::from_scalar(scalar).ok_or_else(|| {
            format!(
                "the image part on line {} is a block or multi-line scalar; it is never rewritten",
                scalar.line
            )
        })
    };
    let fields = ImageFields {
        name: field(parts.name)?,
        tag: parts.tag.map(field).transpose()?,
        registry: parts.registry.and_then(|n| field(n).ok()),
    };
    Ok(Some((reference, fields)))
}
