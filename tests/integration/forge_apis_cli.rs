//! The GitLab and GitHub STAND-INS (local servers, not the real forges; see
//! `harness::forge_api`): that they refuse what the documentation does not
//! allow, and the binary end to end against the GitHub one.

use serde_json::json;

use crate::forge_apis::{HEAD, TOKEN, github, gitlab};
use crate::harness::forge_api::{ApiServer, Pulls};
use crate::harness::forge_models::GitHubModel;

/// The stand-ins are only worth something if they refuse what the
/// documentation does not allow: an unknown field, a missing one, a missing
/// API version header, an undocumented query parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_ins_refuse_undocumented_requests() {
    let world = github().await;
    let client = reqwest::Client::new();
    let answer = client
        .post(format!(
            "{}/api/v3/repos/acme/config/pulls?draft_mode=1",
            world.server.base
        ))
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("user-agent", "test")
        .json(&json!({ "title": "t", "head": HEAD, "labels": ["x"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let problems = world.server.problems().join("\n");
    for expected in [
        "Accept must be application/vnd.github+json",
        "X-GitHub-Api-Version must be 2022-11-28",
        "required field \"base\" missing",
        "field \"labels\" is not in the documented API",
    ] {
        assert!(problems.contains(expected), "{expected}: {problems}");
    }
    let world = gitlab().await;
    let answer = client
        .get(format!(
            "{}/api/v4/projects/team%2Fplatform%2Fconfig/merge_requests?state=open&head=x",
            world.server.base
        ))
        .header("private-token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let problems = world.server.problems().join("\n");
    assert!(
        problems.contains("query parameter \"head\" is not in the documented API"),
        "{problems}"
    );
    assert!(
        problems.contains("state \"open\" is not opened"),
        "{problems}"
    );
}

/// The binary, end to end, with a real registry and real git over http
/// (lighttpd) and the GitHub STAND-IN as the forge: the GitRepository Secret's
/// password reaches the API as a bearer token through `apiURL`, and the pull
/// request shows in `tagpilot status`.
#[test]
fn the_binary_opens_a_pull_request_on_the_github_stand_in() {
    use crate::forge_gitea::{BRANCH, pull_request_automation};
    use crate::harness::git_fixtures::git_in;
    use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer};
    use crate::harness::images::ImagePusher;
    use crate::harness::registry::{AuthMode, Distribution, Registry};
    use crate::harness::tagpilot::{DEPLOY_FILE, Tagpilot, deployment, http_source, semver_image};

    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&registry, "shop/api").push_all(["1.0.0", "1.1.0"]);
    let image = format!("{}/shop/api", registry.host);
    let repos = GitRepos::new();
    let bare = repos.create(
        "config",
        &[(
            DEPLOY_FILE,
            &deployment("api", &format!("{image}:1.0.0"), "api"),
        )],
    );
    let git = HttpGitServer::start(&repos);
    let pulls = Pulls::default();
    let server = ApiServer::start_on_own_thread(GitHubModel {
        repository: "git/config".into(),
        prefix: String::new(),
        token: GIT_PASSWORD.into(),
        pulls: pulls.clone(),
    });
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &image, ">=1.0.0 <2.0.0", "1h"),
    );
    tagpilot.write(
        "source.yaml",
        &http_source(&git.url(&bare), GIT_USER, GIT_PASSWORD),
    );
    tagpilot.write(
        "automation.yaml",
        &pull_request_automation("github", &format!("        apiURL: {}\n", server.base)),
    );
    let output = tagpilot.run_once();
    let output = output.success();
    assert!(!output.stderr.contains(GIT_PASSWORD), "{}", output.stderr);

    let all = pulls.all();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].head.as_str(), all[0].base.as_str()),
        (BRANCH, "main")
    );
    assert_eq!(all[0].title, "Update image: shop/api → 1.1.0");
    assert_eq!(
        git_in(&bare, &["show", &format!("{BRANCH}:{DEPLOY_FILE}")]),
        deployment("api", &format!("{image}:1.1.0"), "api")
    );
    let requests = server.full_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {GIT_PASSWORD}"))
    );
    server.assert_conformant();
    let status = tagpilot.status().success().stdout;
    assert!(
        status.contains(
            "shop/apps              #1            open   https://github.example/git/config/pull/1"
        ),
        "{status}"
    );
}
