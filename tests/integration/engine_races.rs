//! The engine when git does not go smoothly, through the binary over ssh: two
//! automations pushing to the same branch at once, a push that loses a race to
//! another writer, and a process killed between its commit and its push. The
//! remote refuses non-fast-forward pushes, so a force push would fail loudly;
//! the tests also check that no commit that landed was ever rewritten.

use std::path::Path;
use std::process::Child;

use crate::engine::{World, bot_identity, head_commit};
use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::{SshGitServer, git};
use crate::harness::images::ImagePusher;
use crate::harness::process::{run, write};
use crate::harness::tagpilot::{RunOutput, ssh_source, wait_for};

/// Makes the bare repository refuse history rewrites, as hosted git servers do for protected branches.
fn protect(bare: &Path) {
    git_in(bare, &["config", "receive.denyNonFastForwards", "true"]);
    git_in(bare, &["config", "receive.denyDeletes", "true"]);
}

fn install_hook(bare: &Path, script: &str) {
    let hook = bare.join("hooks/pre-receive");
    write(&hook, script);
    run(std::process::Command::new("chmod").arg("755").arg(&hook));
}

fn is_ancestor(bare: &Path, ancestor: &str, of: &str) -> bool {
    git()
        .arg("-C")
        .arg(bare)
        .args(["merge-base", "--is-ancestor", ancestor, of])
        .status()
        .unwrap()
        .success()
}

/// The commit a `run --once` says it pushed.
fn pushed_commit(output: &RunOutput) -> String {
    output
        .stdout
        .lines()
        .find_map(|line| line.split(": pushed ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no push reported:\n{}\n{}", output.stdout, output.stderr))
        .to_string()
}

fn finish(child: Child) -> RunOutput {
    let output = child.wait_with_output().unwrap();
    RunOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_linear(bare: &Path) {
    assert_eq!(
        git_in(bare, &["rev-list", "--min-parents=2", "main"]),
        "",
        "no merge commits"
    );
}

#[test]
fn two_automations_pushing_at_once_both_land_without_rewriting_history() {
    let world = World::with(&[("api", &["1.0.0"]), ("web", &["1.0.0"])]);
    protect(&world.bare);
    let server = SshGitServer::start();
    let source = ssh_source(&server, &server.url(&world.bare));
    // Two independent tagpilots (own state directories), one image each, same branch.
    let api = world.tagpilot_for("api", "api-bot", &source);
    let web = world.tagpilot_for("web", "web-bot", &source);
    let mut landed = Vec::new();
    for round in 1..=3 {
        let tag = format!("1.{round}.0");
        ImagePusher::new(&world.registry, "shop/api").push(&tag);
        ImagePusher::new(&world.registry, "shop/web").push(&tag);
        let before = world.head();
        // Started together; whether their pushes collide is up to the scheduler.
        // The invariant is checked either way.
        let (a, b) = (api.spawn_once(), web.spawn_once());
        let (a, b) = (finish(a).success(), finish(b).success());
        let (a, b) = (pushed_commit(&a), pushed_commit(&b));
        let head = world.head();
        assert!(is_ancestor(&world.bare, &before, &head), "round {round}");
        for commit in [&a, &b] {
            assert!(
                is_ancestor(&world.bare, commit, &head),
                "round {round}: the pushed commit {commit} is not in main's history"
            );
        }
        assert!(
            world
                .file("api")
                .contains(&format!("{}:{tag} #", world.image_of("api"))),
            "round {round}: the api bump was lost:\n{}",
            world.file("api")
        );
        assert!(
            world
                .file("web")
                .contains(&format!("{}:{tag} #", world.image_of("web"))),
            "round {round}: the web bump was lost:\n{}",
            world.file("web")
        );
        landed.extend([a, b]);
    }
    assert_eq!(world.commit_count(), 1 + 6, "one commit per automation run");
    let head = world.head();
    for commit in &landed {
        assert!(
            is_ancestor(&world.bare, commit, &head),
            "{commit} rewritten"
        );
    }
    assert_linear(&world.bare);
}

#[test]
fn a_push_that_loses_the_race_is_fetched_reapplied_and_lands_after_the_other_writer() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    protect(&world.bare);
    let server = SshGitServer::start();
    // Another writer's commit, ready on a side branch of the bare repository.
    let work = tempfile::TempDir::new().unwrap();
    let clone = work.path().join("other");
    run(git().args(["clone", "-q"]).arg(&world.bare).arg(&clone));
    write(&clone.join("README.md"), "edited by a human\n");
    git_in(&clone, &["commit", "-qam", "Edit the README"]);
    git_in(
        &clone,
        &["push", "-q", "origin", "HEAD:refs/heads/other-writer"],
    );
    let other = git_in(&clone, &["rev-parse", "HEAD"]).trim().to_string();
    // The first push tagpilot sends finds main moved by that writer in the meantime.
    install_hook(
        &world.bare,
        "#!/bin/sh\nif [ ! -e raced ]; then\n  touch raced\n  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/heads/other-writer\nfi\n",
    );
    let tagpilot = world.tagpilot(&ssh_source(&server, &server.url(&world.bare)));
    let output = tagpilot.run_once_with(&["--log-level", "info"]).success();
    assert!(
        world.bare.join("raced").exists(),
        "the hook did not run: {}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("push rejected; fetching and re-applying"),
        "the first push was rejected and retried:\n{}",
        output.stderr
    );
    let commit = pushed_commit(&output);
    assert_eq!(world.head(), commit);
    assert_eq!(
        git_in(&world.bare, &["rev-parse", "main^"]).trim(),
        other,
        "the bot's commit sits on the other writer's"
    );
    assert_eq!(
        git_in(&world.bare, &["show", "main:README.md"]),
        "edited by a human\n",
        "the other writer's change is kept"
    );
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(world.commit_count(), 3);
    assert_linear(&world.bare);
}

/// A hook that holds every push until the test says `accept` or `reject` (in `signals`).
fn holding_hook(signals: &Path) -> String {
    let dir = signals.display();
    format!(
        "#!/bin/sh\ntouch {dir}/reached\ni=0\nwhile [ ! -e {dir}/accept ] && [ ! -e {dir}/reject ]; do\n  i=$((i+1)); [ $i -gt 1200 ] && exit 1\n  sleep 0.05\ndone\n[ -e {dir}/accept ] && touch {dir}/accepted\n[ -e {dir}/accept ]\n"
    )
}

/// The working copy's local `main` (the run's own commit, pushed or not).
fn local_head(state: &Path) -> String {
    let git_dir = std::fs::read_dir(state.join("git"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("repo"))
        .find(|path| path.join(".git").exists())
        .expect("a working copy");
    git_in(&git_dir, &["rev-parse", "main"]).trim().to_string()
}

/// Kills `tagpilot run --once` while its push waits in the server's hook, lets
/// the server `accept` or `reject` that push, restarts, and checks the remote
/// ends with exactly one commit for the change.
fn crash_between_commit_and_push(decision: &str) {
    let world = World::new(&["1.0.0", "1.1.0"]);
    protect(&world.bare);
    let server = SshGitServer::start();
    let signals = tempfile::TempDir::new().unwrap();
    install_hook(&world.bare, &holding_hook(signals.path()));
    let tagpilot = world.tagpilot(&ssh_source(&server, &server.url(&world.bare)));
    let initial = world.head();

    let mut child = tagpilot.spawn_once();
    wait_for(
        "the push to reach the server's hook",
        || signals.path().join("reached").exists().then_some(()),
        || format!("sshd log:\n{}", server.log_text()),
    );
    child.kill().unwrap(); // SIGKILL: no cleanup of any kind
    let killed = finish(child);
    assert_eq!(killed.code, None, "killed by a signal");
    let unpushed = local_head(tagpilot.state_dir());
    assert_ne!(unpushed, initial, "the killed run had committed locally");

    write(&signals.path().join(decision), "");
    if decision == "accept" {
        // The server finishes the push on its own; the client never heard back.
        wait_for(
            "the orphaned push to land",
            || (world.head() == unpushed).then_some(()),
            || {
                format!(
                    "hook accepted: {}",
                    signals.path().join("accepted").exists()
                )
            },
        );
    } else {
        assert_eq!(world.head(), initial, "the rejected push did not land");
    }
    std::fs::remove_file(world.bare.join("hooks/pre-receive")).unwrap();

    let restarted = tagpilot.run_once().success();
    assert_eq!(
        world.commit_count(),
        2,
        "exactly one commit for the change after the restart ({decision}ed push)\n{}",
        git_in(&world.bare, &["log", "--oneline", "main"])
    );
    assert!(is_ancestor(&world.bare, &initial, &world.head()));
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(
        head_commit(&world.bare),
        (bot_identity(), world.expected_message("1.0.0", "1.1.0"))
    );
    if decision == "accept" {
        assert!(
            restarted.stdout.contains("automation shop/apps: no change"),
            "{}",
            restarted.stdout
        );
    } else {
        pushed_commit(&restarted);
    }
    // A further run stays a no-op.
    tagpilot.run_once().success();
    assert_eq!(world.commit_count(), 2);
}

#[test]
fn killed_before_the_push_landed_then_restarted_pushes_exactly_once() {
    crash_between_commit_and_push("reject");
}

#[test]
fn killed_after_the_server_took_the_push_then_restarted_does_not_push_again() {
    crash_between_commit_and_push("accept");
}

#[test]
fn sigterm_during_the_first_push_lets_it_finish_and_exits_0() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    protect(&world.bare);
    let server = SshGitServer::start();
    let signals = tempfile::TempDir::new().unwrap();
    install_hook(&world.bare, &holding_hook(signals.path()));
    let tagpilot = world.tagpilot(&ssh_source(&server, &server.url(&world.bare)));
    let daemon = tagpilot.spawn_daemon(&[]);
    wait_for(
        "the first cycle's push to reach the server's hook",
        || signals.path().join("reached").exists().then_some(()),
        || daemon.log_text(),
    );
    daemon.send_sigterm();
    write(&signals.path().join("accept"), "");
    let log_before = daemon.log_text();
    let code = daemon.wait_for_exit();
    assert_eq!(
        code,
        Some(0),
        "SIGTERM in the middle of a push: finish it, then exit 0\n{log_before}"
    );
    assert_eq!(world.commit_count(), 2, "the push in flight landed");
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
}
