//! ImageRepository and ImagePolicy: the image side of the CRDs.

// Every `printcolumn(...)` repeats `type_ = "string"`, which this lint takes for
// a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AccessFrom, LocalReference};

/// How to get registry credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistryProvider {
    /// `secretRef`, or anonymous.
    Generic,
    /// An ECR token from the AWS credential chain.
    Aws,
}

/// ImageRepository: which image to scan, how often, with which credentials.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tagpilot.dev",
    version = "v1alpha1",
    kind = "ImageRepository",
    namespaced,
    status = "ImageRepositoryStatus",
    doc = "ImageRepository: which image to scan, how often, with which credentials.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "Last Scan",
        type_ = "string",
        json_path = ".status.lastScanResult.scanTime"
    ),
    printcolumn(
        name = "Tags",
        type_ = "integer",
        json_path = ".status.lastScanResult.tagCount"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// The image to scan, without tag or digest (e.g. `ghcr.io/team/app`).
    #[schemars(length(min = 1))]
    pub image: String,
    /// How often to scan (a Go duration, e.g. `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// The longest a scan may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub timeout: Option<String>,
    /// A Secret (this namespace) with a `.dockerconfigjson` or `username`/`password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalReference>,
    /// A Secret (this namespace) with `ca.crt` for the registry's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalReference>,
    /// Plain http, or TLS without verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Where credentials come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<RegistryProvider>,
    /// Regular expressions of tags no policy sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// Not scanned while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Namespaces whose ImagePolicies may use this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Flux's workload-identity service account (accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Flux's proxy Secret (accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalReference>,
}

/// The outcome of the last successful scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// How many tags the registry listed.
    pub tag_count: i64,
    /// When the scan finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<String>,
    /// Up to ten of the tags, newest-looking first (reverse sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_tags: Vec<String>,
}

/// What the controller last saw of an ImageRepository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The image as scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// The last successful scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
}

/// A reference to an ImageRepository, possibly in another namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepositoryReference {
    /// Its name.
    pub name: String,
    /// Its namespace (the policy's when absent); needs the repository's `accessFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `filterTags`: which tags a policy considers, and what part of them it orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TagFilter {
    /// A regular expression tags must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The replacement (e.g. `$ts`) whose value is ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// A semver ordering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SemverChoice {
    /// A Masterminds-style range (e.g. `>=1.0.0 <2.0.0`).
    #[schemars(length(min = 1))]
    pub range: String,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// The highest value wins.
    Asc,
    /// The lowest value wins.
    Desc,
}

/// A numerical or alphabetical ordering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderChoice {
    /// `asc` (default) or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
}

/// Exactly one ordering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyChoice {
    /// Semantic versions in a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemverChoice>,
    /// Numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<OrderChoice>,
    /// Strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<OrderChoice>,
}

/// Whether the chosen tag's digest is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DigestReflection {
    /// Never.
    Never,
    /// Once per tag.
    IfNotPresent,
    /// At every evaluation.
    Always,
}

/// ImagePolicy: how to pick the latest tag of one ImageRepository.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tagpilot.dev",
    version = "v1alpha1",
    kind = "ImagePolicy",
    namespaced,
    status = "ImagePolicyStatus",
    doc = "ImagePolicy: how to pick the latest tag of one ImageRepository.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "Latest Tag",
        type_ = "string",
        json_path = ".status.latestRef.tag"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".status.latestRef.name",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags are ordered.
    pub image_repository_ref: RepositoryReference,
    /// Which tags count, and what part of them is ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// The ordering.
    pub policy: PolicyChoice,
    /// Whether to resolve the digest of the chosen tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_reflection_policy: Option<DigestReflection>,
    /// How often to re-evaluate (policies are also evaluated after every scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
}

/// An image reference split in Flux's way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRef {
    /// The image name (`registry/path`).
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The digest, when reflected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What the controller last chose for an ImagePolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The chosen image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The image chosen before the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
}
