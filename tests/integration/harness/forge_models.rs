//! NOT REAL FORGES: the GitHub and GitLab API models behind
//! [`super::forge_api::ApiServer`], each endpoint checked against its
//! documentation (see that module).

use serde_json::{Value, json};

use super::forge_api::{
    ApiAnswer, ApiModel, ApiRequest, ModelPull, Pulls, check_fields, check_query, not_found,
};

/// GitHub REST v3 (`/repos/{owner}/{repo}/...`), one repository.
pub struct GitHubModel {
    /// `owner/name`.
    pub repository: String,
    /// The path prefix of the API (`` for api.github.com, `/api/v3` for GHES).
    pub prefix: String,
    /// The token every request must carry as `Authorization: Bearer`.
    pub token: String,
    pub pulls: Pulls,
}

impl GitHubModel {
    fn pull_json(&self, pull: &ModelPull) -> Value {
        let owner = self.repository.split('/').next().unwrap_or_default();
        json!({
            "url": format!("https://api.github.example/repos/{}/pulls/{}", self.repository, pull.number),
            "id": 1000 + pull.number,
            "number": pull.number,
            "html_url": format!("https://github.example/{}/pull/{}", self.repository, pull.number),
            "state": if pull.state == "open" { "open" } else { "closed" },
            "title": pull.title,
            "body": if pull.body.is_empty() { Value::Null } else { Value::String(pull.body.clone()) },
            "merged_at": if pull.state == "merged" { json!("2026-12-01T00:00:00Z") } else { Value::Null },
            "merged": pull.state == "merged",
            "head": {
                "label": format!("{owner}:{}", pull.head),
                "ref": pull.head,
                "sha": "0123456789abcdef0123456789abcdef01234567",
                "repo": { "full_name": self.repository },
            },
            "base": {
                "label": format!("{owner}:{}", pull.base),
                "ref": pull.base,
                "repo": { "full_name": self.repository },
            },
        })
    }

    fn check_headers(&self, request: &ApiRequest, problems: &mut Vec<String>) -> bool {
        let context = format!("{} {}", request.method, request.path);
        let header = |name: &str| request.headers.get(name).map(String::as_str);
        if header("accept") != Some("application/vnd.github+json") {
            problems.push(format!(
                "{context}: Accept must be application/vnd.github+json, got {:?}",
                header("accept")
            ));
        }
        if header("x-github-api-version") != Some("2022-11-28") {
            problems.push(format!(
                "{context}: X-GitHub-Api-Version must be 2022-11-28"
            ));
        }
        if header("user-agent").is_none_or(str::is_empty) {
            problems.push(format!("{context}: GitHub requires a User-Agent"));
        }
        header("authorization") == Some(format!("Bearer {}", self.token).as_str())
    }
}

impl ApiModel for GitHubModel {
    fn answer(&mut self, request: &ApiRequest, problems: &mut Vec<String>) -> ApiAnswer {
        if !self.check_headers(request, problems) {
            return ApiAnswer::json(
                401,
                json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest" }),
            );
        }
        let context = format!("{} {}", request.method, request.path);
        let Some(rest) = request
            .path
            .strip_prefix(&format!("{}/repos/{}/", self.prefix, self.repository))
        else {
            return not_found(request, problems);
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let method = request.method.as_str();
        match (method, segments.as_slice()) {
            ("GET", ["pulls"]) => {
                check_query(
                    request,
                    &[
                        "state",
                        "head",
                        "base",
                        "sort",
                        "direction",
                        "per_page",
                        "page",
                    ],
                    problems,
                );
                let owner = self.repository.split('/').next().unwrap_or_default();
                let head = request.query.get("head").map(|h| {
                    h.strip_prefix(&format!("{owner}:"))
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            problems
                                .push(format!("{context}: head must be user:ref-name, got {h:?}"));
                            h.clone()
                        })
                });
                if request
                    .query
                    .get("per_page")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n > 100)
                {
                    problems.push(format!("{context}: per_page is at most 100"));
                }
                let state = request
                    .query
                    .get("state")
                    .cloned()
                    .unwrap_or_else(|| "open".into());
                let pulls: Vec<Value> = self
                    .pulls
                    .all()
                    .iter()
                    .filter(|p| match state.as_str() {
                        "open" => p.state == "open",
                        "closed" => p.state != "open",
                        _ => true,
                    })
                    .filter(|p| head.as_ref().is_none_or(|h| &p.head == h))
                    .filter(|p| request.query.get("base").is_none_or(|b| &p.base == b))
                    .map(|p| self.pull_json(p))
                    .collect();
                ApiAnswer::json(200, Value::Array(pulls))
            }
            ("POST", ["pulls"]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &["head", "base"],
                    &[
                        "title",
                        "head",
                        "head_repo",
                        "base",
                        "body",
                        "maintainer_can_modify",
                        "draft",
                        "issue",
                    ],
                    problems,
                );
                let text = |key: &str| {
                    request
                        .body
                        .as_ref()
                        .and_then(|b| b[key].as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                if text("title").is_empty() {
                    problems.push(format!("{context}: title is required (without issue)"));
                }
                let (head, base) = (text("head"), text("base"));
                if self.pulls.open(&head, &base).is_some() {
                    return ApiAnswer::json(
                        422,
                        json!({ "message": "Validation Failed", "errors": [{ "resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {head}.") }] }),
                    );
                }
                let pull = self.pulls.add(&head, &base, &text("title"), &text("body"));
                ApiAnswer::json(201, self.pull_json(&pull))
            }
            ("GET", ["pulls", number]) => match number.parse().ok().and_then(|n| self.pulls.get(n))
            {
                Some(pull) => ApiAnswer::json(200, self.pull_json(&pull)),
                None => ApiAnswer::json(404, json!({ "message": "Not Found" })),
            },
            ("PATCH", ["pulls", number]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &[],
                    &["title", "body", "state", "base", "maintainer_can_modify"],
                    problems,
                );
                let body = request.body.clone().unwrap_or(Value::Null);
                if let Some(state) = body["state"].as_str()
                    && !["open", "closed"].contains(&state)
                {
                    problems.push(format!("{context}: state must be open or closed"));
                }
                let changed = number.parse().ok().and_then(|n| {
                    self.pulls.update(n, |pull| {
                        if let Some(title) = body["title"].as_str() {
                            pull.title = title.into();
                        }
                        if let Some(text) = body["body"].as_str() {
                            pull.body = text.into();
                        }
                        if body["state"] == "closed" && pull.state == "open" {
                            pull.state = "closed".into();
                        }
                    })
                });
                match changed {
                    Some(pull) => ApiAnswer::json(200, self.pull_json(&pull)),
                    None => ApiAnswer::json(404, json!({ "message": "Not Found" })),
                }
            }
            ("POST", ["issues", number, "comments"]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &["body"],
                    &["body"],
                    problems,
                );
                let text = request
                    .body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or_default()
                    .to_string();
                match number.parse().ok().and_then(|n| {
                    self.pulls
                        .update(n, |pull| pull.comments.push(text.clone()))
                }) {
                    Some(_) => ApiAnswer::json(201, json!({ "id": 1, "body": text })),
                    None => ApiAnswer::json(404, json!({ "message": "Not Found" })),
                }
            }
            _ => not_found(request, problems),
        }
    }
}

/// GitLab REST v4 (`/api/v4/projects/:id/...`), one project addressed by its
/// URL-encoded full path.
pub struct GitLabModel {
    /// The project's full path, e.g. `team/config`.
    pub project: String,
    /// The token every request must carry as `PRIVATE-TOKEN` (or `Authorization: Bearer`).
    pub token: String,
    pub pulls: Pulls,
}

impl GitLabModel {
    fn mr_json(&self, pull: &ModelPull) -> Value {
        json!({
            "id": 5000 + pull.number,
            "iid": pull.number,
            "project_id": 42,
            "title": pull.title,
            "description": if pull.body.is_empty() { Value::Null } else { Value::String(pull.body.clone()) },
            "state": match pull.state.as_str() { "open" => "opened", other => other },
            "source_branch": pull.head,
            "target_branch": pull.base,
            "source_project_id": 42,
            "target_project_id": 42,
            "web_url": format!("https://gitlab.example/{}/-/merge_requests/{}", self.project, pull.number),
        })
    }
}

impl ApiModel for GitLabModel {
    fn answer(&mut self, request: &ApiRequest, problems: &mut Vec<String>) -> ApiAnswer {
        let context = format!("{} {}", request.method, request.path);
        let authorized = request.headers.get("private-token") == Some(&self.token)
            || request.headers.get("authorization") == Some(&format!("Bearer {}", self.token));
        if !authorized {
            return ApiAnswer::json(401, json!({ "message": "401 Unauthorized" }));
        }
        let encoded = self.project.replace('/', "%2F");
        let Some(rest) = request
            .path
            .strip_prefix(&format!("/api/v4/projects/{encoded}/"))
        else {
            return not_found(request, problems);
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["merge_requests"]) => {
                check_query(
                    request,
                    &[
                        "state",
                        "source_branch",
                        "target_branch",
                        "per_page",
                        "page",
                        "order_by",
                        "sort",
                        "view",
                    ],
                    problems,
                );
                if let Some(state) = request.query.get("state")
                    && !["opened", "closed", "locked", "merged", "all"].contains(&state.as_str())
                {
                    problems.push(format!(
                        "{context}: state {state:?} is not opened, closed, locked, merged or all"
                    ));
                }
                if request
                    .query
                    .get("per_page")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n > 100)
                {
                    problems.push(format!("{context}: per_page is at most 100"));
                }
                let mrs: Vec<Value> = self
                    .pulls
                    .all()
                    .iter()
                    .filter(|p| match request.query.get("state").map(String::as_str) {
                        Some("opened") => p.state == "open",
                        Some("closed") => p.state == "closed",
                        Some("merged") => p.state == "merged",
                        _ => true,
                    })
                    .filter(|p| {
                        request
                            .query
                            .get("source_branch")
                            .is_none_or(|h| &p.head == h)
                    })
                    .filter(|p| {
                        request
                            .query
                            .get("target_branch")
                            .is_none_or(|b| &p.base == b)
                    })
                    .map(|p| self.mr_json(p))
                    .collect();
                ApiAnswer::json(200, Value::Array(mrs))
            }
            ("POST", ["merge_requests"]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &["source_branch", "target_branch", "title"],
                    &[
                        "source_branch",
                        "target_branch",
                        "title",
                        "description",
                        "assignee_id",
                        "assignee_ids",
                        "reviewer_ids",
                        "labels",
                        "milestone_id",
                        "remove_source_branch",
                        "squash",
                        "allow_collaboration",
                        "target_project_id",
                    ],
                    problems,
                );
                let text = |key: &str| {
                    request
                        .body
                        .as_ref()
                        .and_then(|b| b[key].as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                let (head, base) = (text("source_branch"), text("target_branch"));
                if self.pulls.open(&head, &base).is_some() {
                    return ApiAnswer::json(
                        409,
                        json!({ "message": [format!("Another open merge request already exists for this source branch: !1")] }),
                    );
                }
                let pull = self
                    .pulls
                    .add(&head, &base, &text("title"), &text("description"));
                ApiAnswer::json(201, self.mr_json(&pull))
            }
            ("GET", ["merge_requests", iid]) => {
                match iid.parse().ok().and_then(|n| self.pulls.get(n)) {
                    Some(pull) => ApiAnswer::json(200, self.mr_json(&pull)),
                    None => ApiAnswer::json(404, json!({ "message": "404 Not found" })),
                }
            }
            ("PUT", ["merge_requests", iid]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &[],
                    &[
                        "title",
                        "description",
                        "state_event",
                        "target_branch",
                        "assignee_id",
                        "assignee_ids",
                        "reviewer_ids",
                        "labels",
                        "milestone_id",
                        "remove_source_branch",
                        "squash",
                        "discussion_locked",
                        "allow_collaboration",
                    ],
                    problems,
                );
                let body = request.body.clone().unwrap_or(Value::Null);
                if body.as_object().is_some_and(|b| b.is_empty()) {
                    problems.push(format!("{context}: at least one attribute is required"));
                }
                if let Some(event) = body["state_event"].as_str()
                    && !["close", "reopen"].contains(&event)
                {
                    problems.push(format!("{context}: state_event must be close or reopen"));
                }
                let changed = iid.parse().ok().and_then(|n| {
                    self.pulls.update(n, |pull| {
                        if let Some(title) = body["title"].as_str() {
                            pull.title = title.into();
                        }
                        if let Some(text) = body["description"].as_str() {
                            pull.body = text.into();
                        }
                        if body["state_event"] == "close" && pull.state == "open" {
                            pull.state = "closed".into();
                        }
                    })
                });
                match changed {
                    Some(pull) => ApiAnswer::json(200, self.mr_json(&pull)),
                    None => ApiAnswer::json(404, json!({ "message": "404 Not found" })),
                }
            }
            ("POST", ["merge_requests", iid, "notes"]) => {
                check_fields(
                    &context,
                    request.body.as_ref(),
                    &["body"],
                    &[
                        "body",
                        "created_at",
                        "merge_request_diff_head_sha",
                        "internal",
                    ],
                    problems,
                );
                let text = request
                    .body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or_default()
                    .to_string();
                match iid.parse().ok().and_then(|n| {
                    self.pulls
                        .update(n, |pull| pull.comments.push(text.clone()))
                }) {
                    Some(_) => ApiAnswer::json(201, json!({ "id": 1, "body": text })),
                    None => ApiAnswer::json(404, json!({ "message": "404 Not found" })),
                }
            }
            _ => not_found(request, problems),
        }
    }
}
