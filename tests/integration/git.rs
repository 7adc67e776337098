//! The git module against real remotes: ssh with a checked host key, http with
//! basic auth, local paths; commits (author, message, signature), retries after
//! a lost push race, the lease on tagpilot's own push branch, and recovery from
//! crashed runs and corrupt working copies.

use std::path::Path;

use tagpilot::git::{
    AutomationOutcome, AutomationSpec, ChangeSet, CheckoutSpec, CommitSpec, Credentials, GitError,
    GitWorkspace, MessageData, PushSpec, RepoSpec, Secret, SigningKey, run_automation,
    run_automation_blocking,
};
use tempfile::TempDir;

use crate::harness::git_fixtures::{
    DEPLOY_FILE, author, automation, commit_identity_and_message, deploy_yaml, git_in,
    push_other_commit, set_tag, show, ssh_credentials, ssh_keypair,
};
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};

const DEFAULT_MESSAGE: &str = "Update image: shop/front-end → main-1a2b3c4-118\n\n\
    apps/front-end.yaml:8 shop:front-end ghcr.io/acme/front-end:main-0a0a0a0-117 → ghcr.io/acme/front-end:main-1a2b3c4-118\n";

fn config_repo(repos: &GitRepos) -> std::path::PathBuf {
    repos.create(
        "config",
        &[
            (DEPLOY_FILE, &deploy_yaml("main-0a0a0a0-117")),
            ("README.md", "config\n"),
        ],
    )
}

fn pushed(outcome: &AutomationOutcome) -> (String, u32) {
    match outcome {
        AutomationOutcome::Pushed {
            commit, attempts, ..
        } => (commit.to_string(), *attempts),
        other => panic!("expected a push, got {other:?}"),
    }
}

#[tokio::test]
async fn ssh_clone_commit_and_push_with_a_checked_host_key() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = SshGitServer::start();
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let spec = automation(RepoSpec {
        url: server.url(&bare),
        credentials: ssh_credentials(&server),
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    });
    let outcome = run_automation(workspace.clone(), spec.clone(), set_tag("main-1a2b3c4-118"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nsshd log:\n{}", server.log_text()));
    let (commit, attempts) = pushed(&outcome);
    assert_eq!(attempts, 1);
    assert_eq!(git_in(&bare, &["rev-parse", "main"]).trim(), commit);
    assert_eq!(
        commit_identity_and_message(&bare, "main"),
        (
            "tagpilot|tagpilot@example.com|tagpilot|tagpilot@example.com".to_string(),
            DEFAULT_MESSAGE.to_string()
        )
    );
    assert_eq!(
        show(&bare, "main", DEPLOY_FILE),
        deploy_yaml("main-1a2b3c4-118")
    );
    assert_eq!(git_in(&bare, &["rev-list", "--count", "main"]).trim(), "2");

    // The same result again: no change, no commit (invariant 5), the working copy reused.
    let again = run_automation(workspace, spec, set_tag("main-1a2b3c4-118"))
        .await
        .unwrap();
    assert!(
        matches!(&again, AutomationOutcome::NoChange { head } if head.to_string() == commit),
        "{again:?}"
    );
    assert_eq!(git_in(&bare, &["rev-list", "--count", "main"]).trim(), "2");
}

#[test]
fn ssh_host_keys_that_differ_or_are_missing_are_refused() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = SshGitServer::start();
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let host = format!("[127.0.0.1]:{}", server.port);
    let identity = Secret::new(std::fs::read(&server.identity_path).unwrap());
    let other_key = ssh_keypair(state.path(), "other", "").1;
    let other_key = other_key.split(' ').nth(1).unwrap();
    for (known_hosts, expected) in [
        (
            format!("{host} ssh-ed25519 {other_key}\n"),
            "does not match",
        ),
        (
            format!("[127.0.0.1]:1 ssh-ed25519 {other_key}\n"),
            "is not in known_hosts",
        ),
    ] {
        let repo = RepoSpec {
            url: server.url(&bare),
            credentials: Credentials::Ssh {
                identity: identity.clone(),
                password: None,
                known_hosts,
            },
            ca_certificate: None,
            timeout: tagpilot::git::DEFAULT_TIMEOUT,
            proxy: None,
        };
        let error = workspace
            .prepare(&repo, &CheckoutSpec::branch("main"))
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains(expected) && text.contains(&host), "{text}");
        assert!(!error.is_transient(), "{error:?}");
    }
}

#[test]
fn an_ssh_identity_the_server_does_not_know_is_an_authentication_error() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = SshGitServer::start();
    let state = TempDir::new().unwrap();
    let (stranger, _) = ssh_keypair(state.path(), "stranger", "key-pa55");
    let repo = RepoSpec {
        url: server.url(&bare),
        credentials: Credentials::Ssh {
            identity: Secret::new(std::fs::read(&stranger).unwrap()),
            password: Some(Secret::new("key-pa55".into())),
            known_hosts: std::fs::read_to_string(&server.known_hosts_path).unwrap(),
        },
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    };
    let workspace = GitWorkspace::new(state.path());
    let error = workspace
        .prepare(&repo, &CheckoutSpec::branch("main"))
        .unwrap_err();
    assert!(
        matches!(error, GitError::Authentication { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("did not accept the ssh identity"),
        "{error}"
    );
    // A wrong key password is named as such, before connecting.
    let Credentials::Ssh {
        identity,
        known_hosts,
        ..
    } = repo.credentials.clone()
    else {
        unreachable!()
    };
    let wrong = RepoSpec {
        credentials: Credentials::Ssh {
            identity,
            password: Some(Secret::new("nope".into())),
            known_hosts,
        },
        ..repo
    };
    let error = workspace
        .prepare(&wrong, &CheckoutSpec::branch("main"))
        .unwrap_err();
    assert!(
        error.to_string().contains("password does not decrypt"),
        "{error}"
    );
    assert!(!format!("{error:?}").contains("nope"));
}

#[test]
fn http_basic_auth_commits_with_a_template_and_pushes() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let mut spec = automation(RepoSpec {
        url: server.url(&bare),
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    });
    spec.commit.message_template = Some(
        "[{{values.env}}] {{automation.namespace}}/{{automation.name}}: <{{images.0.tag}}> & more\n\n\
         {{#each changes}}{{file}}:{{line}} {{old}} -> {{new}}\n{{/each}}"
            .into(),
    );
    spec.values.insert("env".into(), "prod".into());
    let outcome = run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2"))
        .unwrap_or_else(|e| panic!("{e:?}\nlighttpd log:\n{}", server.log_text()));
    pushed(&outcome);
    assert_eq!(
        commit_identity_and_message(&bare, "main").1,
        "[prod] flux-system/apps: <v2> & more\n\n\
         apps/front-end.yaml:8 ghcr.io/acme/front-end:main-0a0a0a0-117 -> ghcr.io/acme/front-end:v2\n"
    );
    assert_eq!(show(&bare, "main", DEPLOY_FILE), deploy_yaml("v2"));
}

#[test]
fn a_wrong_http_password_is_a_clear_error_without_the_password() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let wrong = "not-the-Pa55word-42";
    let repo = RepoSpec {
        url: server.url(&bare),
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(wrong.into()),
        },
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    };
    let error = GitWorkspace::new(state.path())
        .prepare(&repo, &CheckoutSpec::branch("main"))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, GitError::Authentication { .. }),
        "{error:?}"
    );
    assert!(
        text.contains(&server.url(&bare)) && text.contains(GIT_USER),
        "{text}"
    );
    let debug = format!("{error:?} {repo:?}");
    for shown in [&text, &debug] {
        assert!(
            !shown.contains(wrong) && !shown.contains(GIT_PASSWORD),
            "{shown}"
        );
    }
    // Without credentials the server's demand is explained too.
    let anonymous = GitWorkspace::new(state.path())
        .prepare(
            &RepoSpec::anonymous(server.url(&bare)),
            &CheckoutSpec::branch("main"),
        )
        .unwrap_err();
    assert!(anonymous.to_string().contains("secretRef"), "{anonymous}");
}

#[test]
fn no_change_makes_no_commit_and_pushes_nothing() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let before = git_in(&bare, &["rev-parse", "main"]);
    let spec = automation(RepoSpec::anonymous(bare.to_str().unwrap()));
    let outcome = run_automation_blocking(&GitWorkspace::new(state.path()), &spec, |_: &Path| {
        Ok(ChangeSet::default())
    })
    .unwrap();
    assert!(
        matches!(outcome, AutomationOutcome::NoChange { .. }),
        "{outcome:?}"
    );
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), before);
}

#[test]
fn a_lost_push_race_is_retried_by_fetching_and_reapplying_never_forcing() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let spec = automation(RepoSpec {
        url: server.url(&bare),
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    });
    let mut calls = 0;
    let mut other = None;
    let mut bump = set_tag("main-1a2b3c4-118");
    let bare_for_apply = bare.clone();
    let outcome =
        run_automation_blocking(&GitWorkspace::new(state.path()), &spec, |root: &Path| {
            calls += 1;
            if calls == 1 {
                // Another writer lands a commit between our fetch and our push.
                other = Some(push_other_commit(
                    &bare_for_apply,
                    "main",
                    "README.md",
                    "edited by someone else\n",
                ));
            }
            bump(root)
        })
        .unwrap();
    let (commit, attempts) = pushed(&outcome);
    assert_eq!((attempts, calls), (2, 2));
    let other = other.unwrap();
    assert_eq!(git_in(&bare, &["rev-parse", "main"]).trim(), commit);
    // Both commits landed: the other writer's is our commit's parent.
    assert_eq!(
        git_in(&bare, &["rev-parse", "main^"]).trim(),
        other,
        "the other commit must not be overwritten"
    );
    assert_eq!(show(&bare, "main", "README.md"), "edited by someone else\n");
    assert_eq!(
        show(&bare, "main", DEPLOY_FILE),
        deploy_yaml("main-1a2b3c4-118")
    );
    assert_eq!(
        commit_identity_and_message(&bare, "main").1,
        DEFAULT_MESSAGE
    );
}

/// A cycle prepares working copies ahead, while it scans. The automation's run
/// takes its kept copy when the remote branch has not moved (an untracked file
/// left in it survives: no second reset), resets it when the branch moved (the
/// other commit is the parent, never overwritten), and anyone else who prepares
/// the same working copy drops the kept one instead of waiting on its lock.
#[test]
fn a_working_copy_prepared_ahead_is_taken_by_its_run_and_blocks_no_one() {
    let http = OverHttp::start();
    let (bare, spec, workspace) = (&http.bare, &http.spec, &http.workspace);
    let leftover = workspace
        .state_dir_for(&spec.repo.url, "main")
        .join("repo")
        .join("left-by-prepare-ahead.txt");
    let run = |tag: &'static str, expect_leftover: bool| {
        let mut bump = set_tag(tag);
        let mut saw = Vec::new();
        let outcome = run_automation_blocking(workspace, spec, |root: &Path| {
            let leftover = root.join("left-by-prepare-ahead.txt");
            saw.push(leftover.exists());
            // Not for the commit, which takes every change in the tree.
            let _ = std::fs::remove_file(leftover);
            bump(root)
        })
        .unwrap();
        assert_eq!(saw, [expect_leftover], "{tag}");
        pushed(&outcome)
    };

    workspace.prepare_ahead(&spec.automation, &spec.repo, &spec.checkout);
    std::fs::write(&leftover, "kept\n").unwrap();
    let (first, attempts) = run("main-1a2b3c4-118", true);
    assert_eq!(attempts, 1);
    assert_eq!(git_in(bare, &["rev-parse", "main"]).trim(), first);

    workspace.prepare_ahead(&spec.automation, &spec.repo, &spec.checkout);
    std::fs::write(&leftover, "kept\n").unwrap();
    let other = push_other_commit(bare, "main", "README.md", "edited by someone else\n");
    let (second, attempts) = run("main-2b3c4d5-119", false);
    assert_eq!(attempts, 1, "the moved branch was fetched before applying");
    assert_eq!(git_in(bare, &["rev-parse", "main^"]).trim(), other);
    assert_eq!(show(bare, "main", "README.md"), "edited by someone else\n");

    workspace.prepare_ahead(&spec.automation, &spec.repo, &spec.checkout);
    let (sender, receiver) = std::sync::mpsc::channel();
    let (other_workspace, repo, checkout) =
        (workspace.clone(), spec.repo.clone(), spec.checkout.clone());
    std::thread::spawn(move || {
        let prepared = other_workspace
            .prepare(&repo, &checkout)
            .map(|c| c.base().to_string());
        let _ = sender.send(prepared);
    });
    let base = receiver
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("a plain prepare waited for the working copy kept for another owner")
        .unwrap();
    assert_eq!(base, second);
}

/// The config repository served over smart HTTP with basic auth, an
/// automation of it, and a workspace in a directory of its own.
struct OverHttp {
    bare: std::path::PathBuf,
    spec: AutomationSpec,
    workspace: GitWorkspace,
    _server: HttpGitServer,
    _state: TempDir,
    _repos: GitRepos,
}

impl OverHttp {
    fn start() -> Self {
        let repos = GitRepos::new();
        let bare = config_repo(&repos);
        let server = HttpGitServer::start(&repos);
        let state = TempDir::new().unwrap();
        Self {
            spec: basic_http_spec(&server, &bare),
            workspace: GitWorkspace::new(state.path()),
            bare,
            _server: server,
            _state: state,
            _repos: repos,
        }
    }
}

fn install_hook(bare: &Path, name: &str, script: &str) {
    let hook = bare.join("hooks").join(name);
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(
        &hook,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
}

fn basic_http_spec(server: &HttpGitServer, bare: &Path) -> AutomationSpec {
    automation(RepoSpec {
        url: server.url(bare),
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ca_certificate: None,
        timeout: tagpilot::git::DEFAULT_TIMEOUT,
        proxy: None,
    })
}

/// Regression: a hook's refusal was retried like a moved branch (it can only
/// be refused again) and the error dropped what the hook printed.
#[test]
fn a_hook_refusal_fails_at_once_with_what_the_server_said() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    install_hook(
        &bare,
        "update",
        "#!/bin/sh\necho refused >> refusals\necho 'main is frozen' >&2\nexit 1\n",
    );
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let before = git_in(&bare, &["rev-parse", "main"]);
    let spec = basic_http_spec(&server, &bare);
    let error = run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v9"))
        .unwrap_err();
    let GitError::PushRejected {
        reference,
        reason,
        branch_moved,
        ..
    } = &error
    else {
        panic!("expected a rejected push, got {error:?}");
    };
    assert_eq!(reference, "refs/heads/main");
    assert!(!branch_moved);
    assert!(reason.contains("hook declined"), "{reason}");
    assert!(reason.contains("main is frozen"), "{reason}");
    assert_eq!(
        std::fs::read_to_string(bare.join("refusals")).unwrap(),
        "refused\n",
        "pushed once, not retried"
    );
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), before);
}

#[test]
fn a_branch_that_keeps_moving_is_retried_up_to_the_bound() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    // Before each update, someone else commits to main: every push finds it moved.
    install_hook(
        &bare,
        "pre-receive",
        "#!/bin/sh\nunset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n\
         export GIT_AUTHOR_NAME=Other GIT_AUTHOR_EMAIL=other@example.com GIT_COMMITTER_NAME=Other GIT_COMMITTER_EMAIL=other@example.com\n\
         commit=$(git commit-tree -p refs/heads/main -m 'Someone else' 'refs/heads/main^{tree}') && \
         git update-ref refs/heads/main \"$commit\"\n",
    );
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let spec = basic_http_spec(&server, &bare);
    let error = run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v9"))
        .unwrap_err();
    let GitError::RetriesExhausted {
        attempts, source, ..
    } = &error
    else {
        panic!("expected exhausted retries, got {error:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(source.as_ref(), GitError::PushRejected { reference, branch_moved: true, .. } if reference == "refs/heads/main"),
        "{source:?}"
    );
    assert!(error.is_transient());
    assert_eq!(
        git_in(&bare, &["log", "--format=%s", "main"])
            .lines()
            .filter(|s| *s == "Someone else")
            .count(),
        3,
        "three pushes, each refused because main had moved"
    );
    assert_eq!(
        show(&bare, "main", DEPLOY_FILE),
        deploy_yaml("main-0a0a0a0-117"),
        "tagpilot's change never landed"
    );
}

#[test]
fn a_separate_push_branch_is_rebuilt_on_the_checkout_head_under_a_lease() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let mut spec = automation(RepoSpec::anonymous(format!("file://{}", bare.display())));
    spec.push = PushSpec {
        branch: Some("tagpilot/updates".into()),
        refspec: None,
        ..PushSpec::default()
    };
    let main_before = git_in(&bare, &["rev-parse", "main"]);

    let (first, _) = pushed(&run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap());
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates"]).trim(),
        first
    );
    assert_eq!(
        git_in(&bare, &["rev-parse", "main"]),
        main_before,
        "main untouched"
    );

    // The checkout branch moves; the next result is rebuilt on its new head,
    // replacing tagpilot's previous commit (we hold the lease).
    let main_now = push_other_commit(&bare, "main", "README.md", "moved\n");
    let (second, _) = pushed(&run_automation_blocking(&workspace, &spec, set_tag("v3")).unwrap());
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates"]).trim(),
        second
    );
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates^"]).trim(),
        main_now
    );
    assert_eq!(
        show(&bare, "tagpilot/updates", DEPLOY_FILE),
        deploy_yaml("v3")
    );

    // The same result again: the branch already holds it, so it is left alone.
    let again = run_automation_blocking(&workspace, &spec, set_tag("v3")).unwrap();
    assert!(
        matches!(&again, AutomationOutcome::AlreadyPushed { head, .. } if head.to_string() == second),
        "{again:?}"
    );
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates"]).trim(),
        second
    );

    // Someone else pushes to tagpilot's branch: the lease is broken, nothing is overwritten.
    let foreign = push_other_commit(&bare, "tagpilot/updates", "NOTES.md", "mine\n");
    let error = run_automation_blocking(&workspace, &spec, set_tag("v4")).unwrap_err();
    assert!(
        matches!(&error, GitError::LeaseBroken { branch, actual, .. } if branch == "tagpilot/updates" && *actual == foreign),
        "{error:?}"
    );
    assert!(error.to_string().contains("tagpilot/updates"), "{error}");
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates"]).trim(),
        foreign
    );

    // A fresh state directory has no lease: an existing branch is not taken over.
    let other_state = TempDir::new().unwrap();
    let error =
        run_automation_blocking(&GitWorkspace::new(other_state.path()), &spec, set_tag("v4"))
            .unwrap_err();
    assert!(
        matches!(&error, GitError::LeaseBroken { expected, .. } if expected == "none"),
        "{error:?}"
    );

    // Once the branch is deleted, tagpilot recreates it.
    git_in(&bare, &["branch", "-D", "tagpilot/updates"]);
    let (recreated, _) =
        pushed(&run_automation_blocking(&workspace, &spec, set_tag("v4")).unwrap());
    assert_eq!(
        git_in(&bare, &["rev-parse", "tagpilot/updates"]).trim(),
        recreated
    );
}

#[test]
fn a_refspec_is_pushed_and_a_forced_refspec_on_the_checkout_branch_refused() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let mut spec = automation(RepoSpec::anonymous(bare.to_str().unwrap()));
    spec.push.refspec = Some("HEAD:refs/heads/review".into());
    let (commit, _) = pushed(&run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap());
    assert_eq!(git_in(&bare, &["rev-parse", "review"]).trim(), commit);
    spec.push.refspec = Some("+HEAD:refs/heads/main".into());
    let error = run_automation_blocking(&workspace, &spec, set_tag("v3")).unwrap_err();
    assert!(error.to_string().contains("never force-pushes"), "{error}");
}

#[test]
fn a_crashed_runs_leftovers_are_discarded_and_the_result_pushed_once() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let repo = RepoSpec::anonymous(bare.to_str().unwrap());
    let checkout_spec = CheckoutSpec::branch("main");
    {
        // A run that committed and then died before pushing, leaving junk behind.
        let mut checkout = workspace.prepare(&repo, &checkout_spec).unwrap();
        let changes = set_tag("v2")(checkout.path()).unwrap();
        let commit_spec = CommitSpec {
            author: author(),
            message_template: None,
            signing_key: None,
        };
        let data = MessageData {
            changes: changes.changes,
            images: changes.images,
            ..MessageData::default()
        };
        assert!(checkout.commit(&commit_spec, &data).unwrap().is_some());
        std::fs::write(checkout.path().join("README.md"), "half-written\n").unwrap();
        std::fs::write(checkout.path().join("stray.tmp"), "junk\n").unwrap();
    }
    let remote_head = git_in(&bare, &["rev-parse", "main"]);
    let checkout = workspace.prepare(&repo, &checkout_spec).unwrap();
    assert_eq!(checkout.head().unwrap().to_string(), remote_head.trim());
    assert_eq!(
        std::fs::read_to_string(checkout.path().join("README.md")).unwrap(),
        "config\n"
    );
    assert!(!checkout.path().join("stray.tmp").exists());
    drop(checkout);

    let spec = automation(repo);
    pushed(&run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap());
    assert_eq!(git_in(&bare, &["rev-list", "--count", "main"]).trim(), "2");
}

#[test]
fn a_corrupt_working_copy_is_cloned_again() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let repo = RepoSpec::anonymous(bare.to_str().unwrap());
    let branch = CheckoutSpec::branch("main");
    let remote_head = git_in(&bare, &["rev-parse", "main"]);
    let dot_git = workspace
        .prepare(&repo, &branch)
        .unwrap()
        .path()
        .join(".git");

    std::fs::write(dot_git.join("HEAD"), "garbage\n").unwrap();
    let checkout = workspace.prepare(&repo, &branch).unwrap();
    assert_eq!(checkout.head().unwrap().to_string(), remote_head.trim());
    drop(checkout);

    for entry in std::fs::read_dir(dot_git.join("objects")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    let checkout = workspace.prepare(&repo, &branch).unwrap();
    assert_eq!(checkout.head().unwrap().to_string(), remote_head.trim());
    assert_eq!(
        std::fs::read_to_string(checkout.path().join(DEPLOY_FILE)).unwrap(),
        deploy_yaml("main-0a0a0a0-117")
    );
}

/// A working copy holds what tagpilot uses and nothing that grows or repeats
/// on every clone and run: no hook samples from the system's template
/// directory, no reflogs (one cloned with them loses them on its next run),
/// and an empty `FETCH_HEAD`. At 2,000 repositories the samples alone were
/// 26,000 files written at start-up.
#[test]
fn a_working_copy_has_no_hook_samples_reflogs_or_fetch_head() {
    let http = OverHttp::start();
    let (bare, spec, workspace) = (&http.bare, &http.spec, &http.workspace);
    pushed(&run_automation_blocking(workspace, spec, set_tag("main-1a2b3c4-118")).unwrap());
    let dot_git = workspace
        .state_dir_for(&spec.repo.url, "main")
        .join("repo")
        .join(".git");
    let hooks: Vec<String> = std::fs::read_dir(dot_git.join("hooks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(hooks, ["README.sample"], "libgit2's own template only");
    assert!(!dot_git.join("logs").exists(), "no reflogs");
    assert_eq!(
        std::fs::read_to_string(dot_git.join("FETCH_HEAD")).unwrap(),
        ""
    );
    assert_eq!(
        git_in(&dot_git, &["config", "core.logAllRefUpdates"]).trim(),
        "false"
    );

    // A working copy cloned by an earlier version, reflogs on and written.
    git_in(&dot_git, &["config", "core.logAllRefUpdates", "true"]);
    std::fs::create_dir_all(dot_git.join("logs/refs/heads")).unwrap();
    std::fs::write(dot_git.join("logs/HEAD"), "old reflog\n").unwrap();
    pushed(&run_automation_blocking(workspace, spec, set_tag("main-2b3c4d5-119")).unwrap());
    assert!(
        !dot_git.join("logs").exists(),
        "the old reflogs were removed"
    );
    assert_eq!(
        git_in(&dot_git, &["config", "core.logAllRefUpdates"]).trim(),
        "false"
    );
    assert_eq!(git_in(bare, &["rev-list", "--count", "main"]).trim(), "3");
}

#[test]
fn ssh_signed_commits_pass_git_verify_commit() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let keys = TempDir::new().unwrap();
    let (key_path, public) = ssh_keypair(keys.path(), "signer", "sign-pa55");
    let mut spec = automation(RepoSpec::anonymous(bare.to_str().unwrap()));
    spec.commit.signing_key = Some(SigningKey::Ssh {
        private_key: Secret::new(std::fs::read(&key_path).unwrap()),
        password: Some(Secret::new("sign-pa55".into())),
    });
    pushed(
        &run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2")).unwrap(),
    );
    assert_eq!(
        commit_identity_and_message(&bare, "main").0,
        "tagpilot|tagpilot@example.com|tagpilot|tagpilot@example.com"
    );

    let verify = |allowed: &str| {
        let signers = keys.path().join("allowed_signers");
        std::fs::write(&signers, allowed).unwrap();
        crate::harness::git_server::git()
            .arg("-C")
            .arg(&bare)
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
            .args(["verify-commit", "main"])
            .output()
            .unwrap()
    };
    let good = verify(&format!("tagpilot@example.com {public}\n"));
    assert!(
        good.status.success(),
        "git verify-commit: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stderr).contains("Good \"git\" signature"));
    let other = ssh_keypair(keys.path(), "other", "").1;
    let bad = verify(&format!("tagpilot@example.com {other}\n"));
    assert!(
        !bad.status.success(),
        "a signature by another key must not verify"
    );
}

#[test]
fn unknown_template_variables_and_bad_gpg_keys_fail_before_anything_is_pushed() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let before = git_in(&bare, &["rev-parse", "main"]);
    let mut spec = automation(RepoSpec::anonymous(bare.to_str().unwrap()));
    spec.commit.message_template = Some("Update {{automation.nmae}}".into());
    let error = run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap_err();
    assert!(
        matches!(&error, GitError::TemplateUnknownVariable { variable } if variable == "automation.nmae"),
        "{error:?}"
    );
    assert!(error.to_string().contains("automation.nmae"), "{error}");

    spec.commit.message_template = None;
    spec.commit.signing_key = Some(SigningKey::OpenPgp {
        armored_key: tagpilot::git::Secret::new(b"-----BEGIN PGP PRIVATE KEY BLOCK-----".to_vec()),
        passphrase: None,
    });
    let error = run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`git.asc`: not an ASCII-armored"),
        "{error}"
    );
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), before);
}
