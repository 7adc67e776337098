//! `GitRepository` (Flux's `source.toolkit.fluxcd.io` shape): the config repository.

use serde::Deserialize;

use super::meta::{GoDuration, LocalObjectReference, ObjectMeta};

/// A GitRepository object as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryObject {
    /// `tagpilot.dev/v1alpha1` or `source.toolkit.fluxcd.io/v1` (`/v1beta2`).
    pub api_version: String,
    /// `GitRepository`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// What to fetch and how.
    pub spec: GitRepositorySpec,
}

/// `spec` of a GitRepository.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitRepositorySpec {
    /// `ssh://`, `https://`, `http://` or `file://` URL.
    pub url: String,
    /// Which branch to follow.
    #[serde(default, rename = "ref")]
    pub reference: Option<GitReference>,
    /// A Secret with `identity` + `known_hosts`, or `username` + `password`, or `bearerToken`.
    #[serde(default)]
    pub secret_ref: Option<LocalObjectReference>,
    /// How often to fetch.
    pub interval: GoDuration,
    /// Timeout of git operations (default 60s).
    #[serde(default)]
    pub timeout: Option<GoDuration>,
    /// Stop fetching while true.
    #[serde(default)]
    pub suspend: bool,
    /// Flux fields tagpilot accepts and ignores (it never builds artifacts).
    #[serde(default)]
    pub ignore: Option<serde_json::Value>,
    /// Accepted and ignored (see `ignore`).
    #[serde(default)]
    pub recurse_submodules: Option<serde_json::Value>,
    /// Accepted and ignored (see `ignore`).
    #[serde(default)]
    pub include: Option<serde_json::Value>,
    /// Accepted and ignored (see `ignore`).
    #[serde(default)]
    pub verify: Option<serde_json::Value>,
    /// Accepted and ignored (see `ignore`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Accepted and ignored (see `ignore`).
    #[serde(default)]
    pub proxy_secret_ref: Option<serde_json::Value>,
}

/// `spec.ref`: tagpilot follows branches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitReference {
    /// The branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// A tag (not a valid checkout for automation; rejected at validation).
    #[serde(default)]
    pub tag: Option<String>,
    /// A semver range of tags (rejected at validation).
    #[serde(default)]
    pub semver: Option<String>,
    /// A full reference name (`refs/heads/main` is accepted as branch `main`).
    #[serde(default)]
    pub name: Option<String>,
    /// A commit (rejected at validation).
    #[serde(default)]
    pub commit: Option<String>,
}

impl GitReference {
    /// The branch this reference names, if it names one.
    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref().or_else(|| {
            self.name
                .as_deref()
                .and_then(|name| name.strip_prefix("refs/heads/"))
        })
    }
}
