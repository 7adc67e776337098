//! ImagePolicy: how to pick the latest tag of one ImageRepository.
//!
//! Versions: Flux `v1beta1` has only `imageRepositoryRef`, `filterTags` and
//! `policy`; `v1beta2` and `v1` add `digestReflectionPolicy`, `interval` and
//! `suspend`. Every Flux version defaults an ordering's `order` to `asc`.
//!
//! Flux's CRDs default `digestReflectionPolicy` to `Never`; ours leave it
//! absent (which means the same), because `v1beta1` lacks the field: see
//! [`super::image_repository`] for why such a default breaks server-side
//! apply to objects written in `v1beta1`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::meta::{GoDuration, NamespacedObjectReference};
use super::version::{FLUX_ALL, Kind, SINCE_V1BETA2, VersionRule};

/// `spec` of an ImagePolicy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags are ordered.
    pub image_repository_ref: NamespacedObjectReference,
    /// Exactly one ordering.
    pub policy: PolicyChoice,
    /// Which tags take part, and what part of each is ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// Whether to resolve (and pin) the chosen tag's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_reflection_policy: Option<DigestReflectionPolicy>,
    /// How often to re-check the digest (with `Always`), e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Not evaluated while true (the last result stays).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// `spec.filterTags`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagFilter {
    /// A Go RE2 regular expression a tag must match (unanchored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// A template (`$name`, `${name}`, `$1`) giving the value to order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// `spec.policy`: exactly one field must be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChoice {
    /// The highest version inside a Masterminds semver range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemverPolicy>,
    /// Byte-wise ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<OrderPolicy>,
    /// Ordering by numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<OrderPolicy>,
}

/// `spec.policy.semver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SemverPolicy {
    /// A Masterminds-style range, e.g. `>=1.0.0 <2.0.0`.
    pub range: String,
}

/// `spec.policy.numerical` and `spec.policy.alphabetical`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPolicy {
    /// `asc` (the default: the largest wins) or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
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

impl SortOrder {
    /// The order as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// `spec.digestReflectionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DigestReflectionPolicy {
    /// Never look up digests (the default).
    #[default]
    Never,
    /// Look up a digest once per chosen tag.
    IfNotPresent,
    /// Look up the digest at every interval.
    Always,
}

impl ApiSpec for ImagePolicySpec {
    const KIND: Kind = Kind::ImagePolicy;

    fn version_rules() -> &'static [VersionRule] {
        &[
            VersionRule::OnlyIn("spec.digestReflectionPolicy", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.interval", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.suspend", SINCE_V1BETA2),
            VersionRule::Default("spec.policy.alphabetical.order", FLUX_ALL, r#""asc""#),
            VersionRule::Default("spec.policy.numerical.order", FLUX_ALL, r#""asc""#),
        ]
    }
}
