//! The v1beta1 template data's `.Updated` (image-automation-controller
//! v0.41's `update.Result`): file → object → the images written there, each
//! image a reference as go-containerregistry's `name` package (weak
//! validation) reads it: it prints as written, and `.Name`, `.Repository`,
//! `.Registry` and `.Identifier` give its normalized parts
//! (`index.docker.io/library/nginx:1.27`).

use std::collections::BTreeMap;

use super::flux_message::{namespaced_name, object, object_identifier, object_map, string_map};
use super::message::{ChangeSet, ImageUpdate};
use crate::gotemplate::Value;
use crate::update::ObjectId;

const DEFAULT_REGISTRY: &str = "index.docker.io";

/// An image reference's parts, as go-containerregistry normalizes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    original: String,
    registry: String,
    repository: String,
    identifier: String,
    digest: bool,
}

fn repository(base: &str) -> (String, String) {
    let (registry, repository) = match base.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) => (first, rest),
        _ => ("", base),
    };
    let registry = match registry {
        "" | "docker.io" => DEFAULT_REGISTRY,
        other => other,
    };
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_string()
    };
    (registry.to_string(), repository)
}

fn split_tag(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => (base, tag),
        _ => (name, ""),
    }
}

impl Reference {
    fn parse(original: &str) -> Self {
        if let Some((base, digest)) = original.split_once('@') {
            let (base, _) = split_tag(base);
            let (registry, repository) = repository(base);
            return Self {
                original: original.to_string(),
                registry,
                repository,
                identifier: digest.to_string(),
                digest: true,
            };
        }
        let (base, tag) = split_tag(original);
        let (registry, repository) = repository(base);
        Self {
            original: original.to_string(),
            registry,
            repository,
            identifier: if tag.is_empty() {
                "latest".into()
            } else {
                tag.to_string()
            },
            digest: false,
        }
    }

    fn name(&self) -> String {
        let delimiter = if self.digest { '@' } else { ':' };
        format!(
            "{}/{}{delimiter}{}",
            self.registry, self.repository, self.identifier
        )
    }
}

fn image_text(image: &ImageUpdate) -> String {
    let mut text = format!("{}:{}", image.name, image.tag);
    if let Some(digest) = &image.digest {
        text.push('@');
        text.push_str(digest);
    }
    text
}

fn image_ref(image: &ImageUpdate) -> Value {
    let reference = Reference::parse(&image_text(image));
    let mut inner = object("name.Reference", vec![], vec![]);
    if let Value::Struct(object) = &mut inner {
        std::sync::Arc::make_mut(object).string = Some(reference.original.as_str().into());
    }
    let mut value = object(
        "update.ImageRef",
        vec![("Reference", inner, true)],
        vec![
            ("String", Value::string(reference.original.as_str())),
            ("Identifier", Value::string(reference.identifier.as_str())),
            ("Name", Value::string(reference.name())),
            ("Repository", Value::string(reference.repository.as_str())),
            ("Registry", Value::string(reference.registry.as_str())),
            ("Policy", namespaced_name(&image.namespace, &image.policy)),
        ],
    );
    if let Value::Struct(object) = &mut value {
        std::sync::Arc::make_mut(object).string = Some(reference.original.as_str().into());
    }
    value
}

fn refs_list(items: Vec<Value>) -> Value {
    Value::list("[]update.ImageRef", items)
}

/// `.Updated` for the changes grouped by file and object.
pub(super) fn updated(files: &super::flux_message::FileChanges<'_>, changes: &ChangeSet) -> Value {
    let image_for = |setter: &str| -> Option<&ImageUpdate> {
        let mut parts = setter.split(':');
        let (namespace, policy) = (parts.next()?, parts.next()?);
        changes
            .images
            .iter()
            .find(|i| i.namespace == namespace && i.policy == policy)
    };
    let mut all: Vec<&ImageUpdate> = Vec::new();
    let mut objects: BTreeMap<&ObjectId, Vec<&ImageUpdate>> = BTreeMap::new();
    let mut per_file = Vec::new();
    for (file, by_object) in files {
        let mut entries = Vec::new();
        for (id, list) in by_object {
            let mut images: Vec<&ImageUpdate> = Vec::new();
            for (_, _, setter) in list {
                if let Some(image) = image_for(setter)
                    && !images.contains(&image)
                {
                    images.push(image);
                }
            }
            if images.is_empty() {
                continue;
            }
            for image in &images {
                if !all.contains(image) {
                    all.push(image);
                }
            }
            objects
                .entry(id)
                .or_default()
                .extend(images.iter().copied());
            entries.push((
                object_identifier(id),
                refs_list(images.iter().map(|i| image_ref(i)).collect()),
            ));
        }
        if entries.is_empty() {
            continue;
        }
        let map = object_map(
            "map[update.ObjectIdentifier][]update.ImageRef",
            refs_list(vec![]),
            entries,
        );
        per_file.push((
            Value::string(file.as_str()),
            object("update.FileResult", vec![("Objects", map, false)], vec![]),
        ));
    }
    let zero_file = object(
        "update.FileResult",
        vec![(
            "Objects",
            object_map(
                "map[update.ObjectIdentifier][]update.ImageRef",
                refs_list(vec![]),
                vec![],
            ),
            false,
        )],
        vec![],
    );
    let objects = object_map(
        "map[update.ObjectIdentifier][]update.ImageRef",
        refs_list(vec![]),
        objects
            .into_iter()
            .map(|(id, images)| {
                (
                    object_identifier(id),
                    refs_list(images.into_iter().map(image_ref).collect()),
                )
            })
            .collect(),
    );
    object(
        "update.Result",
        vec![(
            "Files",
            string_map("map[string]update.FileResult", zero_file, per_file),
            false,
        )],
        vec![
            (
                "Images",
                refs_list(all.into_iter().map(image_ref).collect()),
            ),
            ("Objects", objects),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_like_go_containerregistry() {
        let r = Reference::parse("nginx:1.27");
        assert_eq!(
            (r.name(), r.repository.as_str(), r.registry.as_str()),
            (
                "index.docker.io/library/nginx:1.27".to_string(),
                "library/nginx",
                "index.docker.io"
            )
        );
        let r = Reference::parse("docker.io/acme/app:v1");
        assert_eq!(r.name(), "index.docker.io/acme/app:v1");
        let r = Reference::parse("localhost:5000/app:v2@sha256:abc");
        assert_eq!(
            (r.name(), r.identifier.as_str()),
            ("localhost:5000/app@sha256:abc".to_string(), "sha256:abc")
        );
        let r = Reference::parse("ghcr.io/acme/app");
        assert_eq!(r.identifier, "latest");
    }
}
