//! ImageRepository: which image to scan, how often, with which credentials.
//!
//! Versions: Flux `v1beta1` has no `proxySecretRef`, `provider` or
//! `insecure`; from `v1beta2` on Flux defaults `exclusionList` to
//! `["^.*\\.sig$"]` (cosign signatures); Flux requires `interval`, ours
//! defaults it to 5m.
//!
//! Flux's CRDs also default `provider` to `generic`; ours leave it absent
//! (which means the same). A default of a field `v1beta1` lacks would make
//! every server-side apply to a `v1beta1`-written object fail: the API server
//! converts the stored object to each writer's version, and `v1beta1` has no
//! `provider`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::meta::{AccessFrom, GoDuration, LocalObjectReference};
use super::version::{FLUX_ALL, FLUX_SINCE_V1BETA2, Kind, SINCE_V1BETA2, VersionRule};

/// How registry credentials are obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistryProvider {
    /// `secretRef` (and the ServiceAccount's image pull secrets), or anonymous.
    #[default]
    Generic,
    /// An ECR token from the AWS credential chain.
    Aws,
    /// An ACR token exchanged for an Azure AD token.
    Azure,
    /// A token from the GCP metadata server (GCR, Artifact Registry).
    Gcp,
}

/// `spec` of an ImageRepository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRepositorySpec {
    /// The image to scan, without tag or digest (e.g. `ghcr.io/team/app`).
    pub image: String,
    /// How often to scan (a Go duration, e.g. `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// The timeout of each registry request (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// A Secret (this namespace) with a `.dockerconfigjson` or `username`/`password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// A Secret (this namespace) with the address of an HTTP(S) proxy
    /// (`address`, and optionally `username` and `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// A ServiceAccount (this namespace) whose image pull secrets are used
    /// (`provider: generic`), or whose identity is used (other providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// A Secret (this namespace) with `ca.crt`, and optionally `tls.crt`/`tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Not scanned while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Namespaces whose ImagePolicies may use this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Regular expressions of tags no policy sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// Where credentials come from (default `generic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<RegistryProvider>,
    /// Talk plain HTTP to the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl ApiSpec for ImageRepositorySpec {
    const KIND: Kind = Kind::ImageRepository;

    fn version_rules() -> &'static [VersionRule] {
        &[
            VersionRule::OnlyIn("spec.proxySecretRef", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.provider", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.insecure", SINCE_V1BETA2),
            VersionRule::Required("spec.interval", FLUX_ALL),
            VersionRule::Default(
                "spec.exclusionList",
                FLUX_SINCE_V1BETA2,
                r#"["^.*\\.sig$"]"#,
            ),
        ]
    }
}
