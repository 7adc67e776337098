//! ImageUpdateAutomation: write policy results into a repository, commit and push.
//!
//! Versions: Flux `v1beta1` has no `policySelector` and no
//! `git.commit.messageTemplateValues`; only Flux `v1` (and ours) has
//! `git.commit.signingKey.type` (without it, a key is OpenPGP). Every Flux
//! version defaults `update` to `{strategy: Setters}` and `sourceRef.kind` to
//! `GitRepository`. How `messageTemplate` is read depends on the version too:
//! Go `text/template` over Flux's data for Flux's versions (`.Updated` exists
//! in `v1beta1` only), Handlebars for ours. `git.push.pullRequest` (propose
//! the change as a pull request) is ours only: Flux has no such field.
//!
//! `update.strategy: Annotations` (Flux v1's workload annotations) and its
//! per-registry-host settings (`update.registries`) exist in `tagpilot.dev`
//! only; Flux's versions take `Setters` and nothing else.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::git_repository::GitRepositoryRef;
use super::meta::{GoDuration, LabelSelector, LocalObjectReference, SourceReference};
use super::version::{ApiVersion, FLUX_ALL, Kind, SINCE_V1, SINCE_V1BETA2, VersionRule};

/// `spec` of an ImageUpdateAutomation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to write to.
    pub source_ref: SourceReference,
    /// Checkout, commit and push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// How often to run.
    pub interval: GoDuration,
    /// Which ImagePolicies (this namespace) feed it; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_selector: Option<LabelSelector>,
    /// What to update, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStrategy>,
    /// Not run while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// `spec.git`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitSpec {
    /// What to check out (the GitRepository's `ref` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// How to commit.
    pub commit: CommitSpec,
    /// Where to push (the checkout branch when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// `spec.git.checkout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitCheckoutSpec {
    /// A branch, tag, semver range, reference name or commit.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// `spec.git.commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitSpec {
    /// Author (and committer) of the commits.
    pub author: CommitUser,
    /// A key to sign the commits with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// The commit message template (Go `text/template` for Flux's versions,
    /// Handlebars for `tagpilot.dev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    /// Values the template can use (`.Values` / `values`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_template_values: BTreeMap<String, String>,
}

/// `spec.git.commit.author`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitUser {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The email address.
    #[schemars(length(min = 1))]
    pub email: String,
}

/// `spec.git.commit.signingKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningKey {
    /// The Secret (this namespace) holding the key: `git.asc` (and
    /// `passphrase`) for OpenPGP, `identity` (and `password`) for SSH.
    pub secret_ref: LocalObjectReference,
    /// `gpg` (the default) or `ssh`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<SigningKeyType>,
}

/// The format of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    /// An ASCII-armored OpenPGP key.
    Gpg,
    /// An OpenSSH key.
    Ssh,
}

/// `spec.git.push`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// The branch to push to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A refspec to push as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refspec: Option<String>,
    /// Push options sent to the server (`git push -o key=value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// (`tagpilot.dev` only) Propose the change for review: keep one pull
    /// (merge) request open from `branch` into the checkout branch.
    #[serde(
        default,
        rename = "pullRequest",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_request: Option<PullRequestSpec>,
}

// Pull requests instead of pushes (`spec.git.push.pullRequest`, tagpilot.dev only).

/// `spec.git.push.pullRequest`: with `branch` set apart from the checkout
/// branch, tagpilot opens, updates and closes one pull request per automation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestSpec {
    /// The forge: `gitea` (also Forgejo), `gitlab` or `github`; told from the
    /// repository's host when absent (github.com, gitlab.com, codeberg.org,
    /// hosts named `gitlab*`, `gitea*`, `forgejo*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ForgeProvider>,
    /// The forge's API base URL (`https://git.example.com/api/v1`); derived
    /// from the repository URL when absent.
    #[serde(default, rename = "apiURL", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// A Secret (this namespace) whose `token` is used for the forge's API;
    /// the GitRepository's Secret (`password` or `bearerToken`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// A forge API that tagpilot can open pull requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ForgeProvider {
    /// Gitea or Forgejo (API v1).
    Gitea,
    /// GitLab (API v4, merge requests).
    Gitlab,
    /// GitHub or GitHub Enterprise Server (REST v3).
    Github,
}

/// `spec.update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStrategy {
    /// `Setters`: rewrite the fields marked with `$imagepolicy` comments;
    /// `Annotations` (`tagpilot.dev` only): keep the images of workloads
    /// annotated the Flux v1 way current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<UpdateStrategyName>,
    /// The path under the repository root to update (the root when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Strategy `Annotations`: how to scan the images of each registry host
    /// (a host not listed is scanned anonymously over HTTPS at `spec.interval`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<AnnotationRegistry>,
}

/// The name of an update strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpdateStrategyName {
    /// Rewrite `$imagepolicy` markers.
    Setters,
    /// Keep the images of workloads annotated `fluxcd.io/automated: "true"`
    /// (or `flux.weave.works/automated`) current, as Flux v1 did.
    Annotations,
}

/// `spec.update.registries[]`: how strategy `Annotations` scans the images of
/// one registry host (no ImageRepository needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnnotationRegistry {
    /// The registry host as the images name it, with its port if any
    /// (`registry.gitlab.com`, `127.0.0.1:5000`, `docker.io`).
    #[schemars(length(min = 1))]
    pub host: String,
    /// A Secret (this namespace) with the credentials:
    /// `kubernetes.io/dockerconfigjson`, or `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// A Secret (this namespace) with `ca.crt` (and `tls.crt`/`tls.key` for a
    /// client certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Talk plain HTTP to the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// How often the images of this host are scanned (`spec.interval` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// The timeout of each request (60s when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
}

impl ApiSpec for ImageUpdateAutomationSpec {
    const KIND: Kind = Kind::ImageUpdateAutomation;

    fn version_rules() -> &'static [VersionRule] {
        &[
            VersionRule::OnlyIn("spec.policySelector", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.git.commit.messageTemplateValues", SINCE_V1BETA2),
            VersionRule::OnlyIn("spec.git.commit.signingKey.type", SINCE_V1),
            VersionRule::Default("spec.update", FLUX_ALL, r#"{"strategy": "Setters"}"#),
            VersionRule::Default("spec.update.strategy", FLUX_ALL, r#""Setters""#),
            VersionRule::Default("spec.sourceRef.kind", FLUX_ALL, r#""GitRepository""#),
            VersionRule::OnlyIn("spec.git.push.pullRequest", &[ApiVersion::Tagpilot]),
            // Flux v1 annotations are ours: Flux's versions keep Setters only.
            VersionRule::Values("spec.update.strategy", FLUX_ALL, &["Setters"]),
            VersionRule::OnlyIn("spec.update.registries", &[ApiVersion::Tagpilot]),
        ]
    }
}
