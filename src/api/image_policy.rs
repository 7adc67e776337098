//! ImagePolicy: how to pick the latest tag of one ImageRepository.
//!
//! Versions: Flux `v1beta1` has only `imageRepositoryRef`, `filterTags` and
//! `policy`; `v1beta2` and `v1` add `digestReflectionPolicy`, `interval` and
//! `suspend`. Every Flux version defaults an ordering's `order` to `asc`.
//!
//! `verify`, `requiredPlatforms` and `minimumAge` are tagpilot's own
//! (`tagpilot.dev` only): Flux's ImagePolicy has no such fields, so an object
//! of a Flux apiVersion that sets one fails as an unknown field. `verify` has
//! the shape of Flux's OCIRepository `spec.verify`.
//!
//! Flux's CRDs default `digestReflectionPolicy` to `Never`; ours leave it
//! absent (which means the same), because `v1beta1` lacks the field: see
//! [`super::image_repository`] for why such a default breaks server-side
//! apply to objects written in `v1beta1`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::meta::{GoDuration, LocalObjectReference, NamespacedObjectReference};
use super::version::{ApiVersion, FLUX_ALL, Kind, SINCE_V1BETA2, VersionRule};

/// Fields only `tagpilot.dev` has.
const TAGPILOT_ONLY: &[ApiVersion] = &[ApiVersion::Tagpilot];

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
    /// Only images with a valid signature by a trusted key are candidates
    /// (`tagpilot.dev` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<ImageVerification>,
    /// Platforms (`os/architecture[/variant]`, e.g. `linux/arm64`) a
    /// candidate's image must hold, every one of them (`tagpilot.dev` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_platforms: Vec<String>,
    /// How long after its image's `created` time a tag becomes a candidate,
    /// e.g. `72h` (`tagpilot.dev` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_age: Option<GoDuration>,
}

/// `spec.verify`: the shape of Flux's OCIRepository `spec.verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageVerification {
    /// The signature format: `cosign` (the default; `notation` is not supported yet).
    #[serde(default)]
    pub provider: VerificationProvider,
    /// A Secret in the policy's namespace whose `*.pub` entries are the
    /// trusted public keys (PEM, ECDSA P-256, as `cosign generate-key-pair` writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Keyless verification: the OIDC identities whose certificates are
    /// trusted. Not supported yet (an object setting it is refused).
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_oidc_identity: Vec<OidcIdentityMatch>,
}

/// `spec.verify.provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    /// Sigstore cosign signatures.
    #[default]
    Cosign,
    /// Notary Project signatures (not supported yet).
    Notation,
}

/// One entry of `spec.verify.matchOIDCIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcIdentityMatch {
    /// A regular expression the certificate's OIDC issuer must match.
    pub issuer: String,
    /// A regular expression the certificate's subject must match.
    pub subject: String,
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
            VersionRule::OnlyIn("spec.verify", TAGPILOT_ONLY),
            VersionRule::OnlyIn("spec.requiredPlatforms", TAGPILOT_ONLY),
            VersionRule::OnlyIn("spec.minimumAge", TAGPILOT_ONLY),
            VersionRule::Default("spec.policy.alphabetical.order", FLUX_ALL, r#""asc""#),
            VersionRule::Default("spec.policy.numerical.order", FLUX_ALL, r#""asc""#),
        ]
    }
}
