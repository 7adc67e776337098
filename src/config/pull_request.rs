//! `spec.git.push.pullRequest` (tagpilot.dev only) validated into a
//! [`PullRequestSpec`]: the push branch must be the automation's own (not
//! the checkout branch), the forge and its API must be known, and there must
//! be a token — the pull request's own Secret (`token`), or else the
//! GitRepository's (`password` or `bearerToken`), which is only ever sent to
//! the repository's own host (invariant 10).

use super::load::Invalid;
use super::meta::ObjectKey;
use super::source::SourceEntry;
use crate::api::automation::{ForgeProvider, PullRequestSpec as PullRequestApi};
use crate::forge::{ForgeKind, ForgeTarget, ForgeToken, PullRequestSpec};
use crate::git::{Credentials, GitReference, Secret};
use crate::registry::SecretSource;

const FIELD: &str = "spec.git.push.pullRequest";

fn kind(provider: ForgeProvider) -> ForgeKind {
    match provider {
        ForgeProvider::Gitea => ForgeKind::Gitea,
        ForgeProvider::Gitlab => ForgeKind::GitLab,
        ForgeProvider::Github => ForgeKind::GitHub,
    }
}

/// Validates `spec` for an automation in `namespace` that checks out
/// `checkout`, pushes to `push_branch` and writes to `source`.
pub(crate) fn pull_request(
    spec: &PullRequestApi,
    namespace: &str,
    checkout: &GitReference,
    push_branch: Option<&str>,
    source: &SourceEntry,
    secrets: &impl SecretSource,
) -> Result<PullRequestSpec, Invalid> {
    let Some(base) = checkout.branch() else {
        return Err(Invalid::spec(format!(
            "{FIELD}: the checkout must be a branch (the pull request's target), not a {}",
            checkout.kind()
        )));
    };
    match push_branch {
        None => {
            return Err(Invalid::spec(format!(
                "{FIELD}: needs spec.git.push.branch, the branch the pull request proposes (e.g. tagpilot/{base})"
            )));
        }
        Some(branch) if branch == base => {
            return Err(Invalid::spec(format!(
                "{FIELD}: spec.git.push.branch is the checkout branch {base:?}; a pull request needs a branch of its own"
            )));
        }
        Some(_) => {}
    }
    let url = &source.repo.url;
    let target = ForgeTarget::derive(url, spec.provider.map(kind), spec.api_url.as_deref())
        .map_err(|message| Invalid::spec(format!("{FIELD}: {message}")))?;
    let token = match &spec.secret_ref {
        Some(reference) => {
            let key = ObjectKey::new(namespace, &reference.name);
            let secret = secrets.secret(&key).ok_or_else(|| {
                Invalid::missing(format!("{FIELD}.secretRef: Secret {key} not found"))
            })?;
            let token = secret
                .get("token")
                .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
                .filter(|token| !token.is_empty())
                .ok_or_else(|| {
                    Invalid::spec(format!(
                        "{FIELD}.secretRef: Secret {key} has no `token` (the forge API token)"
                    ))
                })?;
            ForgeToken::Bearer(Secret::new(token))
        }
        None => {
            let token = match &source.repo.credentials {
                Credentials::Basic { username, password } => ForgeToken::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                Credentials::Bearer { token } => ForgeToken::Bearer(token.clone()),
                Credentials::Ssh { .. } | Credentials::Anonymous => {
                    return Err(Invalid::spec(format!(
                        "{FIELD}: the GitRepository's Secret holds no API token (`password` or `bearerToken`); set secretRef to a Secret with `token`"
                    )));
                }
            };
            if !target.is_same_host_as(url) {
                return Err(Invalid::spec(format!(
                    "{FIELD}.apiURL: {} is not the repository's host; the GitRepository's credentials are only sent there. Set secretRef to a token for that API",
                    crate::redact::url(target.api_base.as_str())
                )));
            }
            token
        }
    };
    Ok(PullRequestSpec {
        target,
        token,
        ca_certificate: source.repo.ca_certificate.clone(),
    })
}

#[cfg(test)]
#[path = "pull_request_tests.rs"]
mod tests;
