//! GitRepository: the config repository automations write to and Syncs apply.
//!
//! Versions: Flux `v1beta1` and `v1beta2` have `gitImplementation` and
//! `accessFrom` (gone in `v1`); `v1beta1`'s `ref` has no `name`; `v1` adds
//! `provider`, `serviceAccountName`, `proxySecretRef` and `sparseCheckout`.
//! Every Flux version defaults `timeout` to 60s; `v1` defaults
//! `verify.mode` to `HEAD`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::meta::{AccessFrom, GoDuration, LocalObjectReference};
use super::version::{
    ApiVersion, FLUX_ALL, FLUX_BETAS, Kind, SINCE_V1, SINCE_V1BETA2, VersionRule,
};

/// `spec` of a GitRepository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitRepositorySpec {
    /// `ssh://`, `https://`, `http://` or `file://` URL.
    #[schemars(regex(pattern = r"^(http|https|ssh|file)://.*$"))]
    pub url: String,
    /// A Secret (this namespace): `identity` + `known_hosts`, `username` +
    /// `password`, or `bearerToken`; optionally `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// How credentials are obtained: `generic` (the Secret), or a cloud
    /// provider's identity (`aws`, `azure`, `github`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<GitProvider>,
    /// The ServiceAccount whose identity a cloud `provider` uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// How often to fetch.
    pub interval: GoDuration,
    /// The longest a git operation (clone, fetch, push) may take (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// The branch, tag, semver range, reference name or commit to check out.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// Verification of the commit's OpenPGP signature.
    #[serde(default, rename = "verify", skip_serializing_if = "Option::is_none")]
    pub verification: Option<GitRepositoryVerification>,
    /// A Secret (this namespace) with the address of an HTTP(S) proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Files to leave out of what is applied (`.gitignore` syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Not fetched while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Flux's choice of git library (`go-git` or `libgit2`; no effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_implementation: Option<GitImplementation>,
    /// Clone submodules too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,
    /// Other GitRepositories whose files are copied into this one's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<GitRepositoryInclude>,
    /// Only these directories are checked out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
    /// Flux's cross-namespace access list of a source (removed in Flux `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
}

/// Where the credentials of a GitRepository come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    /// The Secret of `secretRef`.
    Generic,
    /// AWS CodeCommit with the AWS identity.
    Aws,
    /// Azure DevOps with an Azure AD identity.
    Azure,
    /// GitHub with a GitHub App.
    Github,
}

/// Flux's `gitImplementation` (ignored by Flux since v2.0, and by tagpilot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GitImplementation {
    /// go-git.
    #[serde(rename = "go-git")]
    GoGit,
    /// libgit2.
    #[serde(rename = "libgit2")]
    Libgit2,
}

/// A git reference: Flux resolves `commit` first, then `name`, `semver`,
/// `tag` and `branch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitRepositoryRef {
    /// A branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A semver range over the repository's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A full reference name, e.g. `refs/heads/main` or `refs/pull/7/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A commit SHA-1 (with `branch`, fetched from that branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `spec.verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitRepositoryVerification {
    /// What to verify: `head`/`HEAD`, `Tag` or `TagAndHEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A Secret with the trusted public keys.
    pub secret_ref: LocalObjectReference,
}

/// `spec.include[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitRepositoryInclude {
    /// The GitRepository to include.
    pub repository: LocalObjectReference,
    /// The path in that repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    /// Where it goes in this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

impl ApiSpec for GitRepositorySpec {
    const KIND: Kind = Kind::GitRepository;

    fn version_rules() -> &'static [VersionRule] {
        &[
            VersionRule::OnlyIn("spec.provider", SINCE_V1),
            VersionRule::OnlyIn("spec.serviceAccountName", SINCE_V1),
            VersionRule::OnlyIn("spec.proxySecretRef", SINCE_V1),
            VersionRule::OnlyIn("spec.sparseCheckout", SINCE_V1),
            VersionRule::OnlyIn("spec.gitImplementation", FLUX_BETAS),
            VersionRule::OnlyIn("spec.accessFrom", FLUX_BETAS),
            VersionRule::OnlyIn("spec.ref.name", SINCE_V1BETA2),
            VersionRule::Default("spec.timeout", FLUX_ALL, r#""60s""#),
            VersionRule::Default("spec.gitImplementation", FLUX_BETAS, r#""go-git""#),
            VersionRule::Default("spec.verify.mode", &[ApiVersion::FluxV1], r#""HEAD""#),
        ]
    }
}
