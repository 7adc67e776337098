//! Gitea and Forgejo, REST API v1 (`/api/v1`, as Gitea's swagger documents it):
//!
//! - find: `GET /repos/{owner}/{repo}/pulls?state=open&base_branch=B&limit=50&page=N`,
//!   filtered on `head.ref`, `base.ref` and the head repository (no forks);
//!   pages until a short page, at most [`MAX_PAGES`] (`base_branch` is a
//!   Gitea 1.23+ filter; older servers and Forgejo ignore it and we filter);
//! - get: `GET /repos/{owner}/{repo}/pulls/{index}`;
//! - create: `POST /repos/{owner}/{repo}/pulls` `{head, base, title, body}` → 201;
//! - edit: `PATCH /repos/{owner}/{repo}/pulls/{index}` `{title, body}` → 201;
//! - comment: `POST /repos/{owner}/{repo}/issues/{index}/comments` `{body}` → 201;
//! - close: `PATCH /repos/{owner}/{repo}/pulls/{index}` `{state: "closed"}` → 201.
//!
//! Authentication: `Authorization: token T` (or basic with the Secret's user and password).

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;

use super::http::{ForgeHttp, ForgeToken};
use super::{Forge, ForgeError, ForgeKind, ForgeTarget, Proposal, PullRequest, PullRequestState};
use crate::registry::transport::{RetryPolicy, Sleeper};

/// Pages of open pull requests read at most (50 each).
pub const MAX_PAGES: u32 = 20;

/// Gitea's default (and usual maximum) page size.
const PAGE_SIZE: u32 = 50;

/// A Gitea or Forgejo repository.
#[derive(Debug)]
pub struct Gitea {
    http: ForgeHttp,
    repository: String,
    path: String,
}

#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    repo: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
    head: Branch,
    base: Branch,
}

impl From<Pull> for PullRequest {
    fn from(pull: Pull) -> Self {
        Self {
            number: pull.number,
            url: pull.html_url,
            title: pull.title,
            body: pull.body.unwrap_or_default(),
            state: match (pull.state.as_str(), pull.merged) {
                (_, true) => PullRequestState::Merged,
                ("open", _) => PullRequestState::Open,
                _ => PullRequestState::Closed,
            },
        }
    }
}

impl Gitea {
    /// A client for `target`.
    pub fn new(
        target: &ForgeTarget,
        token: ForgeToken,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ForgeError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(Self::with_http(
            ForgeHttp::new(target, token, ca_pem, headers)?,
            target,
        ))
    }

    /// The same client, retrying by `retry` and waiting with `sleeper`
    /// (tests record the waits instead of waiting).
    pub fn with_retry(mut self, retry: RetryPolicy, sleeper: Arc<dyn Sleeper>) -> Self {
        self.http = self.http.with_retry(retry, sleeper);
        self
    }

    fn with_http(http: ForgeHttp, target: &ForgeTarget) -> Self {
        Self {
            http,
            repository: target.repository.clone(),
            path: format!("/repos/{}", super::repository_path(&target.repository)),
        }
    }

    fn is_ours(&self, pull: &Pull, head: &str, base: &str) -> bool {
        pull.state == "open"
            && pull.head.reference == head
            && pull.base.reference == base
            && pull
                .head
                .repo
                .as_ref()
                .is_some_and(|r| r.full_name.eq_ignore_ascii_case(&self.repository))
    }
}

impl Forge for Gitea {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitea
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        for page in 1..=MAX_PAGES {
            let pulls: Vec<Pull> = self
                .http
                .json(
                    Method::GET,
                    &format!("{}/pulls", self.path),
                    &[
                        ("state", "open".to_string()),
                        ("base_branch", base.to_string()),
                        ("limit", PAGE_SIZE.to_string()),
                        ("page", page.to_string()),
                    ],
                    None,
                    &[200],
                )
                .await?;
            let short = pulls.len() < PAGE_SIZE as usize;
            if let Some(pull) = pulls.into_iter().find(|p| self.is_ours(p, head, base)) {
                return Ok(Some(pull.into()));
            }
            if short {
                return Ok(None);
            }
        }
        Err(ForgeError::TooManyPages {
            forge: ForgeKind::Gitea,
            base: base.to_string(),
            pages: MAX_PAGES,
        })
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let pull: Pull = self
            .http
            .json(
                Method::GET,
                &format!("{}/pulls/{number}", self.path),
                &[],
                None,
                &[200],
            )
            .await?;
        Ok(pull.into())
    }

    async fn create(&self, proposal: &Proposal) -> Result<PullRequest, ForgeError> {
        let body = json!({
            "head": proposal.head,
            "base": proposal.base,
            "title": proposal.title,
            "body": proposal.body,
        });
        let pull: Pull = self
            .http
            .json(
                Method::POST,
                &format!("{}/pulls", self.path),
                &[],
                Some(&body),
                &[201],
            )
            .await?;
        Ok(pull.into())
    }

    async fn edit(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ForgeError> {
        let body = json!({ "title": title, "body": body });
        let pull: Pull = self
            .http
            .json(
                Method::PATCH,
                &format!("{}/pulls/{number}", self.path),
                &[],
                Some(&body),
                &[200, 201],
            )
            .await?;
        Ok(pull.into())
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        self.http
            .send(
                Method::POST,
                &format!("{}/issues/{number}/comments", self.path),
                &[],
                Some(&json!({ "body": text })),
                &[201],
            )
            .await
            .map(|_| ())
    }

    async fn close(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let pull: Pull = self
            .http
            .json(
                Method::PATCH,
                &format!("{}/pulls/{number}", self.path),
                &[],
                Some(&json!({ "state": "closed" })),
                &[200, 201],
            )
            .await?;
        Ok(pull.into())
    }
}
