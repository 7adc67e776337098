//! The object a marker is in: `apiVersion`, `kind`, `metadata.name` and
//! `metadata.namespace` of its YAML document, as Flux reads them (kyaml's
//! `GetMeta`) to group changes by object in commit message templates.
//!
//! A document with none of `apiVersion`, `kind`, `metadata.name`,
//! `metadata.namespace`, `metadata.labels` and `metadata.annotations` (a Helm
//! values file, a top-level list) has no identity: Flux leaves the changes in
//! it out of the template data, and so do tagpilot's Flux templates.

use serde::{Deserialize, Serialize};

/// The identity of a Kubernetes object in a YAML document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId {
    /// `apiVersion`, or empty.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`, or empty.
    pub kind: String,
    /// `metadata.name`, or empty.
    pub name: String,
    /// `metadata.namespace` as written, or empty.
    pub namespace: String,
}

#[derive(Default)]
struct Document {
    start: usize,
    id: ObjectId,
    has_metadata: bool,
}

/// Follows the event stream of a YAML text and records each document's identity.
#[derive(Default)]
pub(crate) struct ObjectTracker {
    documents: Vec<Document>,
    /// For each open collection: whether it is a mapping, and its last key (top two levels only).
    levels: Vec<(bool, Option<String>, usize)>,
}

fn is_empty_scalar(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

impl ObjectTracker {
    /// A document starts at byte `offset`.
    pub(crate) fn document_start(&mut self, offset: usize) {
        self.documents.push(Document {
            start: offset,
            ..Document::default()
        });
        self.levels.clear();
    }

    /// Whether the next node is a key of the innermost mapping (counts it).
    fn next_node(&mut self) -> bool {
        match self.levels.last_mut() {
            Some((mapping, _, children)) => {
                let is_key = *mapping && *children % 2 == 0;
                *children += 1;
                is_key
            }
            None => false,
        }
    }

    /// A mapping or sequence opens.
    pub(crate) fn start_collection(&mut self, mapping: bool) {
        let is_key = self.next_node();
        if !is_key
            && self.levels.len() == 2
            && self.path_is(&["metadata"])
            && let Some((_, Some(key), _)) = self.levels.get(1)
            && (key == "labels" || key == "annotations")
            && let Some(document) = self.documents.last_mut()
        {
            document.has_metadata = true;
        }
        self.levels.push((mapping, None, 0));
    }

    /// A mapping or sequence closes.
    pub(crate) fn end_collection(&mut self) {
        self.levels.pop();
    }

    /// An alias node.
    pub(crate) fn alias(&mut self) {
        self.next_node();
    }

    fn path_is(&self, keys: &[&str]) -> bool {
        self.levels.len() > keys.len()
            && keys
                .iter()
                .enumerate()
                .all(|(i, key)| matches!(&self.levels[i], (true, Some(k), _) if k == key))
    }

    /// A scalar node.
    pub(crate) fn scalar(&mut self, value: &str) {
        let is_key = self.next_node();
        let depth = self.levels.len();
        if is_key {
            if depth <= 2
                && let Some(level) = self.levels.last_mut()
            {
                level.1 = Some(value.to_string());
            }
            return;
        }
        if is_empty_scalar(value) || !matches!(self.levels.first(), Some((true, _, _))) {
            return;
        }
        let Some(document) = self.documents.last_mut() else {
            return;
        };
        let key = |level: &(bool, Option<String>, usize)| level.1.clone().unwrap_or_default();
        match depth {
            1 => match key(&self.levels[0]).as_str() {
                "apiVersion" => document.id.api_version = value.to_string(),
                "kind" => document.id.kind = value.to_string(),
                _ => return,
            },
            2 if key(&self.levels[0]) == "metadata" && self.levels[1].0 => {
                match key(&self.levels[1]).as_str() {
                    "name" => document.id.name = value.to_string(),
                    "namespace" => document.id.namespace = value.to_string(),
                    _ => return,
                }
            }
            _ => return,
        }
        document.has_metadata = true;
    }

    /// The identity of the object whose document holds byte `offset`, if it has one.
    pub(crate) fn object_at(&self, offset: usize) -> Option<ObjectId> {
        let at = self.documents.partition_point(|d| d.start <= offset);
        let document = self.documents.get(at.checked_sub(1)?)?;
        document.has_metadata.then(|| document.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::scan::scan;

    fn objects(text: &str) -> Vec<Option<ObjectId>> {
        scan(text)
            .map(|s| s.marked.into_iter().map(|m| m.object).collect())
            .unwrap_or_default()
    }

    fn id(api_version: &str, kind: &str, name: &str, namespace: &str) -> Option<ObjectId> {
        Some(ObjectId {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.into(),
        })
    }

    #[test]
    fn each_marker_gets_its_documents_identity() {
        let text = concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n",
            "spec:\n  template:\n    metadata:\n      name: inner\n    spec:\n      containers:\n",
            "        - image: nginx:1 # {\"$imagepolicy\": \"ns:p\"}\n",
            "---\n",
            "# kustomization without metadata\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
            "images:\n  - name: app\n    newTag: v1 # {\"$imagepolicy\": \"ns:p:tag\"}\n",
            "---\n",
            "image:\n  tag: v1 # {\"$imagepolicy\": \"ns:p:tag\"}\n",
        );
        assert_eq!(
            objects(text),
            vec![
                id("apps/v1", "Deployment", "web", "shop"),
                id("kustomize.config.k8s.io/v1beta1", "Kustomization", "", ""),
                None,
            ]
        );
    }

    #[test]
    fn labels_alone_give_an_identity() {
        let text = "metadata:\n  labels:\n    app: x\nimage: a:1 # {\"$imagepolicy\": \"ns:p\"}\n";
        assert_eq!(objects(text), vec![id("", "", "", "")]);
    }
}
