//! `git.push.options` reach the server: a real git server whose
//! `pre-receive` hook records `GIT_PUSH_OPTION_COUNT` and each
//! `GIT_PUSH_OPTION_<n>`, over ssh and over http (through the origin guard's
//! relay); a server that does not advertise push options refuses them before
//! anything is pushed, with an error that says how to fix it.

use std::path::Path;

use tagpilot::git::{
    AutomationSpec, Credentials, GitError, GitWorkspace, RepoSpec, Secret, run_automation_blocking,
};
use tempfile::TempDir;

use crate::harness::git_fixtures::{
    DEPLOY_FILE, automation, deploy_yaml, git_in, set_tag, show, ssh_credentials,
};
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};

/// What Flux sends for `options: {merge_request.create: "", merge_request.target: main, topic: "bumps from tagpilot"}`.
const OPTIONS: [&str; 3] = [
    "merge_request.create=",
    "merge_request.target=main",
    "topic=bumps from tagpilot",
];

/// A repository whose pre-receive hook appends what it received to `push-options.log`.
fn recording_repo(repos: &GitRepos, advertise: bool) -> std::path::PathBuf {
    let bare = repos.create(
        "config",
        &[(DEPLOY_FILE, &deploy_yaml("v1")), ("README.md", "config\n")],
    );
    record_push_options(&bare, advertise);
    bare
}

/// Makes `bare` advertise push options (or not) and record in
/// `push-options.log` what each push brought: `count=N`, then `option=…` lines.
pub fn record_push_options(bare: &Path, advertise: bool) {
    git_in(
        bare,
        &[
            "config",
            "receive.advertisePushOptions",
            if advertise { "true" } else { "false" },
        ],
    );
    let hook = bare.join("hooks").join("pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nlog=\"$(pwd)/push-options.log\"\necho \"count=${GIT_PUSH_OPTION_COUNT-unset}\" >> \"$log\"\n\
         i=0\nwhile [ \"$i\" -lt \"${GIT_PUSH_OPTION_COUNT-0}\" ]; do\n  eval \"echo \\\"option=\\$GIT_PUSH_OPTION_$i\\\"\" >> \"$log\"\n  i=$((i + 1))\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &hook,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
}

/// What the hook recorded.
pub fn recorded(bare: &Path) -> String {
    std::fs::read_to_string(bare.join("push-options.log")).unwrap_or_default()
}

fn with_options(repo: RepoSpec) -> AutomationSpec {
    let mut spec = automation(repo);
    spec.push.options = OPTIONS.iter().map(ToString::to_string).collect();
    spec
}

const EXPECTED_LOG: &str = "count=3\noption=merge_request.create=\noption=merge_request.target=main\noption=topic=bumps from tagpilot\n";

#[test]
fn push_options_reach_the_servers_hook_over_ssh() {
    let repos = GitRepos::new();
    let bare = recording_repo(&repos, true);
    let server = SshGitServer::start();
    let state = TempDir::new().unwrap();
    let spec = with_options(RepoSpec {
        credentials: ssh_credentials(&server),
        ..RepoSpec::anonymous(server.url(&bare))
    });
    run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2"))
        .unwrap_or_else(|e| panic!("{e:?}\nsshd: {}", server.log_text()));
    assert_eq!(recorded(&bare), EXPECTED_LOG);
    assert_eq!(show(&bare, "main", DEPLOY_FILE), deploy_yaml("v2"));
}

#[test]
fn push_options_reach_the_servers_hook_over_http_through_the_origin_guard() {
    let repos = GitRepos::new();
    let bare = recording_repo(&repos, true);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let mut spec = with_options(RepoSpec {
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ..RepoSpec::anonymous(server.url(&bare))
    });
    // To a push branch too: the options go with every push.
    spec.push.branch = Some("image-updates".into());
    run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2"))
        .unwrap_or_else(|e| panic!("{e:?}\nlighttpd: {}", server.log_text()));
    assert_eq!(recorded(&bare), EXPECTED_LOG);
    assert_eq!(show(&bare, "image-updates", DEPLOY_FILE), deploy_yaml("v2"));
}

#[test]
fn a_server_that_does_not_take_push_options_refuses_them_before_anything_is_pushed() {
    let repos = GitRepos::new();
    let bare = recording_repo(&repos, false);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let before = git_in(&bare, &["rev-parse", "main"]);
    let spec = with_options(RepoSpec {
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ..RepoSpec::anonymous(server.url(&bare))
    });
    let error = run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2"))
        .unwrap_err();
    assert!(
        matches!(error, GitError::PushOptionsNotSupported { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{} does not accept push options (it does not advertise push-options), so git.push.options cannot be sent and nothing was pushed: enable them on the server (for git: receive.advertisePushOptions=true) or remove git.push.options",
            server.url(&bare)
        )
    );
    assert!(error.is_refused_push());
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), before);
    assert_eq!(recorded(&bare), "", "the hook never ran");
}
