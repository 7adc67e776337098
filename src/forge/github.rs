//! GitHub and GitHub Enterprise Server, REST API v3 (the "REST API endpoints
//! for pull requests" and "for issue comments" pages), version `2022-11-28`:
//!
//! - find: `GET /repos/{owner}/{repo}/pulls?state=open&head=OWNER:H&base=B&per_page=100`
//!   (one open pull request per head and base at most), checked on `head.ref`,
//!   `base.ref` and the head repository;
//! - get: `GET /repos/{owner}/{repo}/pulls/{pull_number}` (`merged` tells a merge);
//! - create: `POST /repos/{owner}/{repo}/pulls` `{title, head, base, body}` → 201;
//! - edit: `PATCH /repos/{owner}/{repo}/pulls/{pull_number}` `{title, body}` → 200;
//! - comment: `POST /repos/{owner}/{repo}/issues/{pull_number}/comments` `{body}` → 201;
//! - close: `PATCH /repos/{owner}/{repo}/pulls/{pull_number}` `{state: "closed"}` → 200.
//!
//! Headers: `Accept: application/vnd.github+json`, `X-GitHub-Api-Version:
//! 2022-11-28`, `Authorization: Bearer T`, a `User-Agent`.

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;

use super::http::{ForgeHttp, ForgeToken};
use super::{Forge, ForgeError, ForgeKind, ForgeTarget, Proposal, PullRequest, PullRequestState};
use crate::registry::transport::{RetryPolicy, Sleeper};

/// The REST API version requested.
pub const API_VERSION: &str = "2022-11-28";

/// A GitHub repository.
#[derive(Debug)]
pub struct GitHub {
    http: ForgeHttp,
    repository: String,
    owner: String,
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
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    head: Branch,
    base: Branch,
}

impl From<Pull> for PullRequest {
    fn from(pull: Pull) -> Self {
        let merged = pull.merged.unwrap_or(false) || pull.merged_at.is_some();
        Self {
            number: pull.number,
            url: pull.html_url,
            title: pull.title,
            body: pull.body.unwrap_or_default(),
            state: match (pull.state.as_str(), merged) {
                (_, true) => PullRequestState::Merged,
                ("open", _) => PullRequestState::Open,
                _ => PullRequestState::Closed,
            },
        }
    }
}

impl GitHub {
    /// A client for `target`.
    pub fn new(
        target: &ForgeTarget,
        token: ForgeToken,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ForgeError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static(API_VERSION),
        );
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
            owner: target.owner().to_string(),
            path: format!("/repos/{}", super::repository_path(&target.repository)),
        }
    }

    async fn pull(
        &self,
        method: Method,
        number: u64,
        body: Option<&serde_json::Value>,
    ) -> Result<PullRequest, ForgeError> {
        let pull: Pull = self
            .http
            .json(
                method,
                &format!("{}/pulls/{number}", self.path),
                &[],
                body,
                &[200],
            )
            .await?;
        Ok(pull.into())
    }
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitHub
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        let pulls: Vec<Pull> = self
            .http
            .json(
                Method::GET,
                &format!("{}/pulls", self.path),
                &[
                    ("state", "open".to_string()),
                    ("head", format!("{}:{head}", self.owner)),
                    ("base", base.to_string()),
                    ("per_page", "100".to_string()),
                ],
                None,
                &[200],
            )
            .await?;
        Ok(pulls
            .into_iter()
            .find(|pull| {
                pull.state == "open"
                    && pull.head.reference == head
                    && pull.base.reference == base
                    && pull
                        .head
                        .repo
                        .as_ref()
                        .is_some_and(|r| r.full_name.eq_ignore_ascii_case(&self.repository))
            })
            .map(PullRequest::from))
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.pull(Method::GET, number, None).await
    }

    async fn create(&self, proposal: &Proposal) -> Result<PullRequest, ForgeError> {
        let body = json!({
            "title": proposal.title,
            "head": proposal.head,
            "base": proposal.base,
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
        self.pull(Method::PATCH, number, Some(&body)).await
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
        self.pull(Method::PATCH, number, Some(&json!({ "state": "closed" })))
            .await
    }
}
