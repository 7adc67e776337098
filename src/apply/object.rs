//! Object identity: [`ObjectRef`] (apiVersion, kind, namespace, name) is what an
//! inventory records and what messages name; [`Manifest`] is one rendered
//! document with where it came from.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// One object as an inventory records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `v1`, `apps/v1`, ...
    pub api_version: String,
    /// `Deployment`, ...
    pub kind: String,
    /// The namespace (absent for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The identity that survives an apiVersion change: group, kind, namespace, name.
    pub fn identity(&self) -> (String, String, Option<String>, String) {
        (
            self.group().to_string(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }

    /// kubectl's way of naming it: `deployment.apps/web`, `configmap/settings`.
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.group() {
            "" => format!("{kind}/{}", self.name),
            group => format!("{kind}.{group}/{}", self.name),
        }
    }

    /// Whether it is a CustomResourceDefinition.
    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }

    /// Whether it is a Namespace.
    pub fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.group().is_empty()
    }

    /// Apply order: CRDs, then Namespaces, then everything else (prune goes the other way).
    pub fn stage(&self) -> u8 {
        if self.is_crd() {
            0
        } else if self.is_namespace() {
            1
        } else {
            2
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl PartialOrd for ObjectRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ObjectRef {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.stage(), self.identity(), &self.api_version).cmp(&(
            other.stage(),
            other.identity(),
            &other.api_version,
        ))
    }
}

/// One rendered document.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `file (document N)` or `kustomize build DIR (document N)`.
    pub origin: String,
    /// The object.
    pub value: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn names_and_order() {
        let deployment = object("apps/v1", "Deployment", Some("shop"), "web");
        assert_eq!(deployment.kubectl_name(), "deployment.apps/web");
        assert_eq!(deployment.to_string(), "Deployment shop/web");
        let namespace = object("v1", "Namespace", None, "shop");
        assert_eq!(namespace.kubectl_name(), "namespace/shop");
        let crd = object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "widgets.example.com",
        );
        let mut all = vec![deployment.clone(), namespace.clone(), crd.clone()];
        all.sort();
        assert_eq!(all, [crd, namespace, deployment]);
    }
}
