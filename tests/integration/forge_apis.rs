//! GitLab and GitHub pull requests AGAINST LOCAL STAND-INS, NOT THE REAL
//! FORGES: neither can run here, so `harness::forge_api` serves their REST
//! APIs from a model that checks every request (method, path, headers, query
//! parameters, JSON body fields) against the documentation and fails the test
//! on any departure. Gitea is tested for real in `forge_gitea`.
//!
//! Per forge: the pull request lifecycle (open, leave alone, update, close
//! with a comment), a merge and a reviewer's close noticed, retries (502,
//! 429 with `Retry-After`), a create whose answer was lost opening no second
//! pull request, and a refusal whose message names the forge and the HTTP
//! status but never the token. `forge_apis_cli` checks the stand-ins themselves
//! and runs the binary against the GitHub one.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use tagpilot::forge::{
    Action, Forge, ForgeKind, ForgeTarget, ForgeToken, Proposal, Recorded, RecordedState,
    github::GitHub, gitlab::GitLab, propose, withdraw,
};
use tagpilot::registry::transport::RetryPolicy;
use tagpilot::secret::Secret;

use crate::harness::forge_api::{ApiServer, Fault, Pulls};
use crate::harness::forge_models::{GitHubModel, GitLabModel};
use crate::registry::RecordingSleeper;

pub const TOKEN: &str = "forge-T0ken-do-not-print-4d2a";
pub const HEAD: &str = "tagpilot/apps";

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(60),
    }
}

fn proposal(title: &str) -> Proposal {
    Proposal {
        head: HEAD.into(),
        base: "main".into(),
        title: title.into(),
        body: "apps/api.yaml:10 shop:api app:1.0.0 → app:1.1.0".into(),
    }
}

pub struct GitHubWorld {
    pub server: ApiServer,
    pulls: Pulls,
    forge: GitHub,
    sleeper: Arc<RecordingSleeper>,
}

pub async fn github() -> GitHubWorld {
    let pulls = Pulls::default();
    let server = ApiServer::start(GitHubModel {
        repository: "acme/config".into(),
        prefix: "/api/v3".into(),
        token: TOKEN.into(),
        pulls: pulls.clone(),
    })
    .await;
    // GitHub Enterprise Server layout: `https://HOST/api/v3`.
    let target = ForgeTarget::derive(
        "https://ghe.example.com/acme/config.git",
        Some(ForgeKind::GitHub),
        Some(&format!("{}/api/v3", server.base)),
    )
    .unwrap();
    let sleeper = Arc::new(RecordingSleeper::default());
    let token = ForgeToken::Basic {
        username: "bot".into(),
        password: Secret::new(TOKEN.into()),
    };
    let forge = GitHub::new(&target, token, None)
        .unwrap()
        .with_retry(retry(), sleeper.clone());
    GitHubWorld {
        server,
        pulls,
        forge,
        sleeper,
    }
}

pub struct GitLabWorld {
    pub server: ApiServer,
    pulls: Pulls,
    forge: GitLab,
    sleeper: Arc<RecordingSleeper>,
}

pub async fn gitlab() -> GitLabWorld {
    let pulls = Pulls::default();
    let server = ApiServer::start(GitLabModel {
        project: "team/platform/config".into(),
        token: TOKEN.into(),
        pulls: pulls.clone(),
    })
    .await;
    let target = ForgeTarget::derive(
        "ssh://git@gitlab.example.com/team/platform/config.git",
        None,
        Some(&format!("{}/api/v4", server.base)),
    )
    .unwrap();
    assert_eq!(target.repository, "team/platform/config");
    let sleeper = Arc::new(RecordingSleeper::default());
    let token = ForgeToken::Basic {
        username: "oauth2".into(),
        password: Secret::new(TOKEN.into()),
    };
    let forge = GitLab::new(&target, token, None)
        .unwrap()
        .with_retry(retry(), sleeper.clone());
    GitLabWorld {
        server,
        pulls,
        forge,
        sleeper,
    }
}

/// Opens, leaves alone, updates and closes a pull request; its URL.
async fn lifecycle(forge: &impl Forge) -> String {
    let step = |title: &'static str, commit: &'static str, pushed| async move {
        propose(forge, &proposal(title), commit, pushed, None)
            .await
            .unwrap()
    };
    let opened = step("Update app to 1.1.0", "c1", true).await;
    assert_eq!(opened.action, Action::Opened);
    let pull = opened.pull_request.unwrap();
    assert_eq!(pull.number, 1);
    assert_eq!(
        step("Update app to 1.1.0", "c1", false).await.action,
        Action::Unchanged
    );
    assert_eq!(
        step("Update app to 1.2.0", "c2", true).await.action,
        Action::Updated
    );
    let closed = withdraw(forge, HEAD, "main", None).await.unwrap();
    assert_eq!(closed.action, Action::Closed);
    pull.url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_stand_in_lifecycle_open_keep_update_close() {
    let world = github().await;
    let url = lifecycle(&world.forge).await;
    assert_eq!(url, "https://github.example/acme/config/pull/1");
    let stored = world.pulls.get(1).unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.title.as_str()),
        ("closed", "Update app to 1.2.0")
    );
    assert_eq!(stored.comments, [tagpilot::forge::CLOSE_COMMENT]);
    assert_eq!(
        world.server.requests(),
        [
            "GET /api/v3/repos/acme/config/pulls",
            "POST /api/v3/repos/acme/config/pulls",
            "GET /api/v3/repos/acme/config/pulls",
            "GET /api/v3/repos/acme/config/pulls",
            "PATCH /api/v3/repos/acme/config/pulls/1",
            "GET /api/v3/repos/acme/config/pulls",
            "POST /api/v3/repos/acme/config/issues/1/comments",
            "PATCH /api/v3/repos/acme/config/pulls/1",
        ]
    );
    let first = &world.server.full_requests()[0];
    assert_eq!(first.query["head"], format!("acme:{HEAD}"));
    assert_eq!(first.query["base"], "main");
    assert_eq!(first.query["state"], "open");
    assert_eq!(first.headers["authorization"], format!("Bearer {TOKEN}"));
    world.server.assert_conformant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_stand_in_lifecycle_open_keep_update_close() {
    let world = gitlab().await;
    let url = lifecycle(&world.forge).await;
    assert_eq!(
        url,
        "https://gitlab.example/team/platform/config/-/merge_requests/1"
    );
    let stored = world.pulls.get(1).unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.title.as_str()),
        ("closed", "Update app to 1.2.0")
    );
    assert_eq!(stored.comments, [tagpilot::forge::CLOSE_COMMENT]);
    let project = "/api/v4/projects/team%2Fplatform%2Fconfig";
    assert_eq!(
        world.server.requests(),
        [
            format!("GET {project}/merge_requests"),
            format!("POST {project}/merge_requests"),
            format!("GET {project}/merge_requests"),
            format!("GET {project}/merge_requests"),
            format!("PUT {project}/merge_requests/1"),
            format!("GET {project}/merge_requests"),
            format!("POST {project}/merge_requests/1/notes"),
            format!("PUT {project}/merge_requests/1"),
        ]
    );
    let first = &world.server.full_requests()[0];
    assert_eq!(first.query["state"], "opened");
    assert_eq!(first.query["source_branch"], HEAD);
    assert_eq!(first.query["target_branch"], "main");
    assert_eq!(first.headers["private-token"], TOKEN);
    let close = world.server.full_requests().pop().unwrap();
    assert_eq!(close.body, Some(json!({ "state_event": "close" })));
    world.server.assert_conformant();
}

/// A merge and a reviewer's close, made on the stand-in, are noticed.
async fn merges_and_declines_are_noticed(forge: &impl Forge, pulls: &Pulls) {
    let open = |number, commit: &str| Recorded {
        number,
        commit: commit.into(),
        state: RecordedState::Open,
    };
    propose(forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap();
    pulls.update(1, |p| p.state = "merged".into());
    let merged = withdraw(forge, HEAD, "main", Some(&open(1, "c1")))
        .await
        .unwrap();
    assert_eq!(merged.action, Action::Merged);
    propose(forge, &proposal("v3"), "c2", true, None)
        .await
        .unwrap();
    pulls.update(2, |p| p.state = "closed".into());
    let declined = propose(forge, &proposal("v3"), "c2", false, Some(&open(2, "c2")))
        .await
        .unwrap();
    assert_eq!(declined.action, Action::Declined);
    assert_eq!(pulls.all().len(), 2, "not reopened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_stand_in_merges_and_reviewer_closes_are_noticed() {
    let world = github().await;
    merges_and_declines_are_noticed(&world.forge, &world.pulls).await;
    world.server.assert_conformant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_stand_in_merges_and_reviewer_closes_are_noticed() {
    let world = gitlab().await;
    merges_and_declines_are_noticed(&world.forge, &world.pulls).await;
    world.server.assert_conformant();
}

fn fault(method: Method, path_suffix: &str, status: u16, after_model: bool) -> Fault {
    Fault {
        method,
        path_suffix: path_suffix.into(),
        status,
        headers: Vec::new(),
        body: json!({ "message": "Server Error" }),
        after_model,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_stand_in_retries_and_a_lost_create_opens_one_pull_request() {
    let world = github().await;
    world
        .server
        .inject(fault(Method::GET, "/pulls", 502, false));
    world.server.inject(Fault {
        headers: vec![("retry-after", "7".into())],
        ..fault(Method::GET, "/pulls", 429, false)
    });
    // The pull request is made, but the answer is lost: a 502 comes back.
    world
        .server
        .inject(fault(Method::POST, "/pulls", 502, true));
    let opened = propose(&world.forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap();
    assert_eq!(opened.action, Action::Opened);
    assert_eq!(world.pulls.all().len(), 1, "one pull request, not two");
    assert_eq!(
        world.server.requests(),
        [
            "GET /api/v3/repos/acme/config/pulls",
            "GET /api/v3/repos/acme/config/pulls",
            "GET /api/v3/repos/acme/config/pulls",
            "POST /api/v3/repos/acme/config/pulls",
            "GET /api/v3/repos/acme/config/pulls",
        ]
    );
    let waits = world.sleeper.0.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert_eq!(waits[1], Duration::from_secs(7), "Retry-After is honoured");
    world.server.assert_conformant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_stand_in_retries_and_a_lost_create_opens_one_merge_request() {
    let world = gitlab().await;
    world
        .server
        .inject(fault(Method::GET, "/merge_requests", 503, false));
    world
        .server
        .inject(fault(Method::POST, "/merge_requests", 504, true));
    let opened = propose(&world.forge, &proposal("v2"), "c1", true, None)
        .await
        .unwrap();
    assert_eq!(opened.action, Action::Opened);
    assert_eq!(world.pulls.all().len(), 1, "one merge request, not two");
    assert_eq!(world.sleeper.0.lock().unwrap().len(), 1);
    world.server.assert_conformant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stand_in_refusals_name_the_forge_and_status_never_the_token() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let (error, path) = match kind {
            ForgeKind::GitHub => {
                let world = github().await;
                world.server.inject(Fault {
                    body: json!({ "message": format!("Bad credentials: {TOKEN}") }),
                    ..fault(Method::GET, "/pulls", 401, false)
                });
                let error = propose(&world.forge, &proposal("v2"), "c1", true, None)
                    .await
                    .unwrap_err();
                (error, "GET /api/v3/repos/acme/config/pulls")
            }
            _ => {
                let world = gitlab().await;
                world.server.inject(Fault {
                    body: json!({ "message": "403 Forbidden" }),
                    ..fault(Method::GET, "/merge_requests", 403, false)
                });
                let error = propose(&world.forge, &proposal("v2"), "c1", true, None)
                    .await
                    .unwrap_err();
                (
                    error,
                    "GET /api/v4/projects/team%2Fplatform%2Fconfig/merge_requests",
                )
            }
        };
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("{kind} API: {path} answered HTTP ")),
            "{text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!error.is_transient());
    }
}
