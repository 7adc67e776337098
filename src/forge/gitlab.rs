//! GitLab, REST API v4 merge requests (as GitLab's "Merge requests API" and
//! "Notes API" pages document them), the project addressed by its
//! URL-encoded full path (`/projects/group%2Fproject`):
//!
//! - find: `GET /projects/:id/merge_requests?state=opened&source_branch=H&target_branch=B&per_page=100`,
//!   keeping a merge request whose source project is the target project (no forks);
//! - get: `GET /projects/:id/merge_requests/:iid`;
//! - create: `POST /projects/:id/merge_requests` `{source_branch, target_branch, title, description}` → 201;
//! - edit: `PUT /projects/:id/merge_requests/:iid` `{title, description}` → 200;
//! - comment: `POST /projects/:id/merge_requests/:iid/notes` `{body}` → 201;
//! - close: `PUT /projects/:id/merge_requests/:iid` `{state_event: "close"}` → 200.
//!
//! Authentication: `PRIVATE-TOKEN: T` (an access token as the Secret's
//! `password`), or `Authorization: Bearer T` (`bearerToken`).

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;

use super::http::{ForgeHttp, ForgeToken};
use super::{Forge, ForgeError, ForgeKind, ForgeTarget, Proposal, PullRequest, PullRequestState};
use crate::registry::transport::{RetryPolicy, Sleeper};

/// A GitLab project.
#[derive(Debug)]
pub struct GitLab {
    http: ForgeHttp,
    path: String,
}

#[derive(Debug, Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    state: String,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    source_project_id: Option<u64>,
    #[serde(default)]
    target_project_id: Option<u64>,
}

impl From<MergeRequest> for PullRequest {
    fn from(mr: MergeRequest) -> Self {
        Self {
            number: mr.iid,
            url: mr.web_url,
            title: mr.title,
            body: mr.description.unwrap_or_default(),
            state: match mr.state.as_str() {
                "opened" => PullRequestState::Open,
                "merged" => PullRequestState::Merged,
                _ => PullRequestState::Closed,
            },
        }
    }
}

impl GitLab {
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
            path: format!("/projects/{}", super::path_segment(&target.repository)),
        }
    }

    async fn merge_request(
        &self,
        method: Method,
        number: u64,
        body: Option<&serde_json::Value>,
    ) -> Result<PullRequest, ForgeError> {
        let mr: MergeRequest = self
            .http
            .json(
                method,
                &format!("{}/merge_requests/{number}", self.path),
                &[],
                body,
                &[200],
            )
            .await?;
        Ok(mr.into())
    }
}

impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitLab
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        let found: Vec<MergeRequest> = self
            .http
            .json(
                Method::GET,
                &format!("{}/merge_requests", self.path),
                &[
                    ("state", "opened".to_string()),
                    ("source_branch", head.to_string()),
                    ("target_branch", base.to_string()),
                    ("per_page", "100".to_string()),
                ],
                None,
                &[200],
            )
            .await?;
        Ok(found
            .into_iter()
            .find(|mr| {
                mr.state == "opened"
                    && mr.source_branch == head
                    && mr.target_branch == base
                    && mr.source_project_id == mr.target_project_id
            })
            .map(PullRequest::from))
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.merge_request(Method::GET, number, None).await
    }

    async fn create(&self, proposal: &Proposal) -> Result<PullRequest, ForgeError> {
        let body = json!({
            "source_branch": proposal.head,
            "target_branch": proposal.base,
            "title": proposal.title,
            "description": proposal.body,
        });
        let mr: MergeRequest = self
            .http
            .json(
                Method::POST,
                &format!("{}/merge_requests", self.path),
                &[],
                Some(&body),
                &[201],
            )
            .await?;
        Ok(mr.into())
    }

    async fn edit(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ForgeError> {
        let body = json!({ "title": title, "description": body });
        self.merge_request(Method::PUT, number, Some(&body)).await
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        self.http
            .send(
                Method::POST,
                &format!("{}/merge_requests/{number}/notes", self.path),
                &[],
                Some(&json!({ "body": text })),
                &[201],
            )
            .await
            .map(|_| ())
    }

    async fn close(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let body = json!({ "state_event": "close" });
        self.merge_request(Method::PUT, number, Some(&body)).await
    }
}
