//! Checking out what is not a branch (Flux's `ref.tag`, `semver`, `name`,
//! `commit`) against real git servers over ssh and http: the automation's
//! commit is built on the commit the reference resolves to and pushed to
//! `push.branch` (tagpilot's own branch, rebuilt under its lease each run),
//! never to the tag or the checked-out branch.

use std::path::Path;

use tagpilot::git::{
    AutomationOutcome, AutomationSpec, CheckoutSpec, Credentials, GitError, GitReference,
    GitWorkspace, PushSpec, RepoSpec, Secret, run_automation_blocking,
};
use tempfile::TempDir;

use crate::harness::git_fixtures::{
    DEPLOY_FILE, automation, deploy_yaml, git_in, push_other_commit, set_tag, show, ssh_credentials,
};
use crate::harness::git_server::{
    GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer, git,
};
use crate::harness::process::run;

const PUSH_BRANCH: &str = "image-updates";

fn config_repo(repos: &GitRepos) -> std::path::PathBuf {
    repos.create(
        "config",
        &[(DEPLOY_FILE, &deploy_yaml("v1")), ("README.md", "config\n")],
    )
}

/// Commits `README.md` = `readme` on `main` from a clone, tags the commit
/// (annotated unless `lightweight`) and pushes both; returns the commit.
fn release(bare: &Path, readme: &str, tag: &str, lightweight: bool) -> String {
    let commit = push_other_commit(bare, "main", "README.md", readme);
    let mut command = git();
    command.arg("-C").arg(bare).arg("tag");
    if !lightweight {
        command.args(["-a", "-m", &format!("Release {tag}")]);
    }
    run(command.arg(tag).arg(&commit));
    commit
}

fn spec_for(repo: RepoSpec, reference: GitReference) -> AutomationSpec {
    let mut spec = automation(repo);
    spec.checkout = CheckoutSpec { reference };
    spec.push = PushSpec {
        branch: Some(PUSH_BRANCH.into()),
        ..PushSpec::default()
    };
    spec
}

fn pushed_commit(outcome: &AutomationOutcome) -> String {
    match outcome {
        AutomationOutcome::Pushed { commit, .. } => commit.to_string(),
        other => panic!("expected a push, got {other:?}"),
    }
}

fn rev(bare: &Path, rev: &str) -> String {
    git_in(bare, &["rev-parse", rev]).trim().to_string()
}

#[test]
fn a_tag_checkout_over_ssh_builds_on_the_tag_and_pushes_to_the_push_branch() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let tagged = release(&bare, "release 1\n", "v1.0.0", false);
    // main moves on after the release; the tag's content is what gets updated.
    let main_head = push_other_commit(&bare, "main", "README.md", "after the release\n");
    let server = SshGitServer::start();
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let repo = RepoSpec {
        credentials: ssh_credentials(&server),
        ..RepoSpec::anonymous(server.url(&bare))
    };
    let spec = spec_for(repo, GitReference::Tag("v1.0.0".into()));

    let outcome = run_automation_blocking(&workspace, &spec, set_tag("v2"))
        .unwrap_or_else(|e| panic!("{e:?}\nsshd: {}", server.log_text()));
    let first = pushed_commit(&outcome);
    assert_eq!(rev(&bare, PUSH_BRANCH), first);
    assert_eq!(
        rev(&bare, &format!("{PUSH_BRANCH}^")),
        tagged,
        "built on the tag"
    );
    assert_eq!(show(&bare, PUSH_BRANCH, DEPLOY_FILE), deploy_yaml("v2"));
    assert_eq!(show(&bare, PUSH_BRANCH, "README.md"), "release 1\n");
    assert_eq!(rev(&bare, "main"), main_head, "main untouched");
    assert_eq!(rev(&bare, "v1.0.0^{commit}"), tagged, "the tag untouched");

    // The same result again: the push branch already holds it (nothing pushed).
    let again = run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap();
    assert!(
        matches!(&again, AutomationOutcome::AlreadyPushed { head, .. } if head.to_string() == first),
        "{again:?}"
    );
    // A new result replaces tagpilot's commit, still on the tag (the lease is held).
    let second = pushed_commit(&run_automation_blocking(&workspace, &spec, set_tag("v3")).unwrap());
    assert_eq!(rev(&bare, PUSH_BRANCH), second);
    assert_eq!(rev(&bare, &format!("{PUSH_BRANCH}^")), tagged);
    assert_eq!(show(&bare, PUSH_BRANCH, DEPLOY_FILE), deploy_yaml("v3"));
}

fn http_repo(server: &HttpGitServer, bare: &Path) -> RepoSpec {
    RepoSpec {
        credentials: Credentials::Basic {
            username: GIT_USER.into(),
            password: Secret::new(GIT_PASSWORD.into()),
        },
        ..RepoSpec::anonymous(server.url(bare))
    }
}

#[test]
fn a_semver_checkout_over_http_follows_the_highest_tag_in_range() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    release(&bare, "1.0.0\n", "v1.0.0", false);
    let v1_1 = release(&bare, "1.1.0\n", "v1.1.0", true);
    release(&bare, "1.2.0-rc.1\n", "v1.2.0-rc.1", false);
    release(&bare, "2.0.0\n", "v2.0.0", false);
    release(&bare, "not a version\n", "latest", true);
    let server = HttpGitServer::start(&repos);
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let spec = spec_for(
        http_repo(&server, &bare),
        GitReference::Semver(">=1.0.0 <2.0.0".into()),
    );

    pushed_commit(&run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap());
    assert_eq!(rev(&bare, &format!("{PUSH_BRANCH}^")), v1_1);
    assert_eq!(show(&bare, PUSH_BRANCH, "README.md"), "1.1.0\n");
    assert_eq!(show(&bare, PUSH_BRANCH, DEPLOY_FILE), deploy_yaml("v2"));

    // A newer release in range: the next run rebuilds the push branch on it,
    // replacing tagpilot's previous commit under its lease.
    let v1_3 = release(&bare, "1.3.0\n", "v1.3.0", false);
    pushed_commit(&run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap());
    assert_eq!(rev(&bare, &format!("{PUSH_BRANCH}^")), v1_3);
    assert_eq!(show(&bare, PUSH_BRANCH, "README.md"), "1.3.0\n");
    assert_eq!(
        git_in(
            &bare,
            &["rev-list", "--count", &format!("{v1_3}..{PUSH_BRANCH}")]
        )
        .trim(),
        "1",
        "one commit on top of the release"
    );

    // A range nothing matches says so, with how many tags were seen.
    let mut none = spec.clone();
    none.checkout = CheckoutSpec {
        reference: GitReference::Semver("<0.1.0".into()),
    };
    let error = run_automation_blocking(&workspace, &none, set_tag("v9")).unwrap_err();
    assert!(
        matches!(error, GitError::ReferenceNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "semver range \"<0.1.0\" is not in {}: none of its 6 tags is a version in the range; tag a release or widen the range",
            server.url(&bare)
        )
    );
}

#[test]
fn name_and_commit_checkouts_resolve_and_what_is_missing_is_named() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let initial = rev(&bare, "main");
    // A pull request's head, as forges publish them.
    git_in(&bare, &["branch", "review", "main"]);
    let review = push_other_commit(&bare, "review", "README.md", "under review\n");
    git_in(&bare, &["update-ref", "refs/pull/7/head", &review]);
    git_in(&bare, &["branch", "-D", "review"]);
    let later = push_other_commit(&bare, "main", "README.md", "later\n");
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let repo = RepoSpec::anonymous(format!("file://{}", bare.display()));

    let by_name = spec_for(repo.clone(), GitReference::Name("refs/pull/7/head".into()));
    pushed_commit(&run_automation_blocking(&workspace, &by_name, set_tag("v2")).unwrap());
    assert_eq!(rev(&bare, &format!("{PUSH_BRANCH}^")), review);
    assert_eq!(show(&bare, PUSH_BRANCH, "README.md"), "under review\n");

    // An older commit of main, found in main; then the same commit found in any branch.
    for branch in [Some("main".to_string()), None] {
        let mut by_commit = spec_for(
            repo.clone(),
            GitReference::Commit {
                sha: initial.clone(),
                branch: branch.clone(),
            },
        );
        by_commit.push.branch = Some(format!("from-commit-{}", branch.is_some()));
        let target = by_commit.push.branch.clone().unwrap();
        pushed_commit(&run_automation_blocking(&workspace, &by_commit, set_tag("v2")).unwrap());
        assert_eq!(rev(&bare, &format!("{target}^")), initial, "{branch:?}");
        assert_eq!(show(&bare, &target, "README.md"), "config\n");
    }
    assert_eq!(rev(&bare, "main"), later, "main untouched");

    let missing = [
        (
            GitReference::Tag("v9.9.9".into()),
            "tag \"v9.9.9\" is not in URL: the remote has no refs/tags/v9.9.9; create it or fix the checkout ref",
        ),
        (
            GitReference::Name("refs/pull/8/head".into()),
            "reference \"refs/pull/8/head\" is not in URL: the remote has no refs/pull/8/head; create it or fix the checkout ref",
        ),
        (
            GitReference::Commit {
                sha: review.clone(),
                branch: Some("main".into()),
            },
            "is not in URL: branch \"main\" does not contain it; check the commit and the branch",
        ),
        (
            GitReference::Commit {
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: None,
            },
            "commit 0123456789abcdef0123456789abcdef01234567 is not in URL: no branch contains it; check the commit id",
        ),
    ];
    for (reference, expected) in missing {
        let spec = spec_for(repo.clone(), reference.clone());
        let error = run_automation_blocking(&workspace, &spec, set_tag("v3")).unwrap_err();
        let text = error.to_string().replace(&repo.url, "URL");
        assert!(text.contains(expected), "{reference:?}: {text}");
        assert!(!error.is_transient());
    }
}

#[test]
fn a_checkout_that_is_not_a_branch_needs_a_push_branch_and_a_valid_reference() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    release(&bare, "release\n", "v1.0.0", false);
    let before = rev(&bare, "main");
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());
    let repo = RepoSpec::anonymous(bare.to_str().unwrap());
    let mut spec = spec_for(repo.clone(), GitReference::Tag("v1.0.0".into()));
    spec.push = PushSpec::default();
    let error = run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "push branch \"\" is not valid: required: the checkout is a tag (v1.0.0), not a branch to push to"
    );
    for (reference, expected) in [
        (
            GitReference::Semver("not a range".into()),
            "invalid semver range",
        ),
        (
            GitReference::Name("pull/7/head".into()),
            "is not a full reference name",
        ),
        (
            GitReference::Commit {
                sha: "abc".into(),
                branch: None,
            },
            "is not a full commit id",
        ),
    ] {
        let spec = spec_for(repo.clone(), reference.clone());
        let error = run_automation_blocking(&workspace, &spec, set_tag("v2")).unwrap_err();
        assert!(
            matches!(
                error,
                GitError::InvalidSpec {
                    what: "checkout ref",
                    ..
                }
            ) && error.to_string().contains(expected),
            "{reference:?}: {error}"
        );
    }
    assert_eq!(rev(&bare, "main"), before);
    assert!(
        git_in(&bare, &["branch", "--list", PUSH_BRANCH])
            .trim()
            .is_empty(),
        "nothing pushed"
    );
}
