//! Faults of the world around the standalone engine, with the real servers:
//! the registry process killed and started again on its port, the git server
//! (sshd) killed and started again, a full file system under the state
//! directory, and `tagpilot` itself SIGKILLed at random points of a cycle.
//! Afterwards the config repository holds every bump exactly once (no lost,
//! duplicated or half-written commit, `git fsck` clean, linear history) and the
//! daemon's next cycle recovers. Every wait is for a condition, with a deadline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::engine::World;
use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::tagpilot::{
    Automation, Daemon, Tagpilot, deployment, plain_source, semver_image, ssh_source, wait_for,
};

/// A config directory for `shop/api` with short intervals (so "recovers within
/// one interval" is observable without waiting long) and the given source.
fn quick_tagpilot(world: &World, source: &str, interval: &str) -> Tagpilot {
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &world.image_of("api"), ">=1.0.0 <2.0.0", interval),
    );
    tagpilot.write("source.yaml", source);
    let mut automation = Automation::new("apps");
    automation.interval = interval.to_string();
    tagpilot.write("automation.yaml", &automation.yaml());
    tagpilot
}

/// `git fsck --strict` finds nothing, and no merge commit is in `main`.
/// Dangling objects are allowed: a push killed between writing its objects and
/// moving the branch (with a `file://` remote the pushing process writes both)
/// leaves an unreferenced commit, which is in no history and `git gc` removes.
pub fn assert_repository_sound(bare: &Path) {
    let fsck = Command::new("git")
        .args(["fsck", "--strict", "--no-progress", "--no-dangling"])
        .current_dir(bare)
        .output()
        .unwrap();
    assert!(
        fsck.status.success() && fsck.stdout.is_empty(),
        "git fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    assert_eq!(
        git_in(bare, &["rev-list", "--min-parents=2", "main"]),
        "",
        "linear history"
    );
    // A lock on a ref, the index or the config would block every later push;
    // a killed pack write leaves only a uniquely named temporary file in
    // objects/pack, which blocks nothing.
    let locks: Vec<_> = crate::engine::files_under(bare)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "lock"))
        .filter(|f| !f.starts_with(bare.join("objects")))
        .collect();
    assert!(locks.is_empty(), "stale locks in the remote: {locks:?}");
}

/// Every bot commit on `main` changes exactly one line of `apps/api.yaml`, to
/// a tag no other commit set: (the tags in commit order).
fn bumps_in_history(bare: &Path) -> Vec<String> {
    let log = git_in(
        bare,
        &[
            "log",
            "--reverse",
            "--format=commit %H",
            "-p",
            "main",
            "--",
            "apps/api.yaml",
        ],
    );
    let mut tags = Vec::new();
    for commit in log.split("commit ").filter(|c| !c.trim().is_empty()) {
        let added: Vec<&str> = commit
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .collect();
        let image_lines: Vec<&str> = added
            .iter()
            .copied()
            .filter(|l| l.contains("image: "))
            .collect();
        if added.len() > 1 {
            continue; // the initial commit adds the whole file
        }
        assert_eq!(image_lines.len(), 1, "one changed line per bump:\n{commit}");
        let image = image_lines[0].split(" # ").next().unwrap();
        let tag = image.rsplit_once(':').unwrap().1.trim().to_string();
        tags.push(tag);
    }
    let mut unique = tags.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        tags.len(),
        "a bump was committed twice: {tags:?}"
    );
    tags
}

#[test]
fn the_registry_down_for_a_minute_then_back_keeps_the_old_tags_and_the_next_bump_lands_within_an_interval()
 {
    let mut world = World::new(&["1.0.0"]);
    let tagpilot = quick_tagpilot(
        &world,
        &plain_source(&format!("file://{}", world.bare.display())),
        "2s",
    );
    let daemon: Daemon = tagpilot.spawn_daemon(&[]);
    wait_for(
        "the first scan",
        || daemon.log_text().contains("scanned").then_some(()),
        || daemon.log_text(),
    );

    world.registry.stop();
    let down_since = Instant::now();
    wait_for(
        "a failed scan while the registry is down",
        || {
            daemon.assert_running();
            daemon
                .log_text()
                .lines()
                .any(|l| l.contains("scan failed") && l.contains("shop/api"))
                .then_some(())
        },
        || daemon.log_text(),
    );
    let during = daemon.log_text();
    let failure = during
        .lines()
        .find(|l| l.contains("scan failed"))
        .unwrap()
        .to_string();
    assert!(
        failure.contains("keeping the previous tag list") && failure.contains(&world.registry.host),
        "the failure names the registry and says nothing is lost: {failure}"
    );
    // Down for a minute in all: the daemon keeps running and retrying, and
    // nothing changes in the repository meanwhile.
    while down_since.elapsed() < Duration::from_secs(60) {
        daemon.assert_running();
        assert_eq!(world.commit_count(), 1, "nothing changes while it is down");
        std::thread::sleep(Duration::from_millis(500));
    }
    let failures = daemon
        .log_text()
        .lines()
        .filter(|l| l.contains("scan failed") && l.contains("shop/api"))
        .count();
    assert!(
        failures >= 3,
        "scans went on being retried while the registry was down ({failures} failures logged)"
    );
    assert!(world.deployed().contains(":1.0.0 #"));

    world.registry.restart();
    ImagePusher::new(&world.registry, "shop/api").push("1.1.0");
    wait_for(
        "the bump after the registry came back",
        || {
            daemon.assert_running();
            world.deployed().contains(":1.1.0 #").then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(world.commit_count(), 2);
    assert_repository_sound(&world.bare);
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn the_git_server_down_then_back_gets_the_bump_exactly_once() {
    let world = World::new(&["1.0.0"]);
    let mut server = SshGitServer::start();
    let tagpilot = quick_tagpilot(&world, &ssh_source(&server, &server.url(&world.bare)), "2s");
    let daemon: Daemon = tagpilot.spawn_daemon(&[]);
    wait_for(
        "the first automation run",
        || daemon.log_text().contains("no change").then_some(()),
        || daemon.log_text(),
    );

    server.stop();
    ImagePusher::new(&world.registry, "shop/api").push("1.1.0");
    wait_for(
        "a failed automation run while the git server is down",
        || {
            daemon.assert_running();
            daemon
                .log_text()
                .lines()
                .any(|l| l.contains("automation failed") && l.contains("shop/apps"))
                .then_some(())
        },
        || daemon.log_text(),
    );
    // The failure names the repository and the cause. (A run that was under way
    // when sshd was stopped may fail first with a reset connection; every run
    // after that is refused.)
    let port = format!("127.0.0.1:{}", server.port);
    wait_for(
        "an automation failure naming the repository and the refused connection",
        || {
            daemon
                .log_text()
                .lines()
                .any(|l| {
                    l.contains("automation failed") && l.contains(&port) && l.contains("refused")
                })
                .then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(world.commit_count(), 1);

    server.restart();
    wait_for(
        "the bump after the git server came back",
        || {
            daemon.assert_running();
            world.deployed().contains(":1.1.0 #").then_some(())
        },
        || daemon.log_text(),
    );
    // Give it more cycles: the bump must not be pushed a second time.
    let pushes = |text: &str| {
        text.lines()
            .filter(|l| l.contains("engine::cycle: pushed"))
            .count()
    };
    wait_for(
        "two more automation runs",
        || {
            let text = daemon.log_text();
            let (_, after) = text.rsplit_once("engine::cycle: pushed")?;
            (after.matches("no change").count() >= 2).then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(pushes(&daemon.log_text()), 1, "{}", daemon.log_text());
    assert_eq!(world.commit_count(), 2);
    assert_eq!(bumps_in_history(&world.bare), ["1.1.0"]);
    assert_repository_sound(&world.bare);
    assert_eq!(daemon.terminate(), Some(0));
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallFileSystem {
    dir: tempfile::TempDir,
}

impl SmallFileSystem {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            output.status.success(),
            "the disk-full test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system to the last byte with `filler`.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        let mut size = block.len();
        while size > 0 {
            match file.write(&block[..size]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => size /= 2,
            }
        }
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallFileSystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_state_directory_fails_the_run_clearly_and_the_next_run_recovers() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = quick_tagpilot(
        &world,
        &plain_source(&format!("file://{}", world.bare.display())),
        "1h",
    );
    tagpilot.run_once().success();
    assert_eq!(world.commit_count(), 2);

    // The state directory moves onto a small file system, which then fills up.
    let disk = SmallFileSystem::mount("8m");
    let state = disk.path().join("state");
    copy_dir(tagpilot.state_dir(), &state);
    let filler = disk.fill();
    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    let run = |tagpilot: &Tagpilot| {
        let mut command = tagpilot.command();
        command
            .args(["run", "--once", "--config"])
            .arg(tagpilot.config_dir())
            .arg("--state-dir")
            .arg(&state);
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&tagpilot);
    assert_eq!(
        code,
        Some(1),
        "a full disk fails the run\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("No space left on device") || stderr.contains("ENOSPC"),
        "the error says why:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(world.commit_count(), 2, "nothing half-written was pushed");
    assert_repository_sound(&world.bare);

    std::fs::remove_file(filler).unwrap();
    let (code, stdout, stderr) = run(&tagpilot);
    assert_eq!(
        code,
        Some(0),
        "space is back: the run recovers\n{stdout}\n{stderr}"
    );
    assert!(
        world.deployed().contains(":1.2.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(world.commit_count(), 3);
    assert_eq!(bumps_in_history(&world.bare), ["1.1.0", "1.2.0"]);
    assert_repository_sound(&world.bare);
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// SIGKILL at a random moment of a cycle that has a bump to make, ten times.
/// The killed process runs one cycle (`run --once`: scan, evaluate, commit,
/// push — the daemon's cycle, started at once, so the kills spread over all of
/// its steps). After each kill a daemon must land the bump exactly once, within
/// one interval (2 s: when the killed run had not stored the new tag yet, the
/// daemon's next scan is one interval after the last stored one); the
/// repository never holds a lost, duplicated or half-written commit.
#[test]
fn sigkill_at_random_points_of_a_cycle_loses_and_duplicates_nothing() {
    let world = World::new(&["1.0.0"]);
    let tagpilot = quick_tagpilot(
        &world,
        &plain_source(&format!("file://{}", world.bare.display())),
        "2s",
    );
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    // How long a cycle with a bump takes here, to spread the kills over it.
    pusher.push("1.0.1");
    let started = Instant::now();
    tagpilot.run_once().success();
    let cycle = started.elapsed();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut expected = vec!["1.0.1".to_string()];
    let mut landed_before_the_kill = 0;
    for round in 2..=11 {
        let tag = format!("1.0.{round}");
        pusher.push(&tag);
        expected.push(tag.clone());
        let delay = cycle.mul_f64(rng.f64() * 1.2);
        let mut doomed = tagpilot.spawn_once();
        std::thread::sleep(delay);
        let _ = doomed.kill(); // SIGKILL, by PID
        let _ = doomed.wait();
        // The kill may have left the push done, half done or not started.
        assert_repository_sound(&world.bare);
        if world.deployed().contains(&format!(":{tag} #")) {
            landed_before_the_kill += 1;
        }
        let context = || format!("seed {seed}, round {round}, killed after {delay:?}");
        let daemon = tagpilot.spawn_daemon(&[]);
        // Until the bump is in, and the daemon has run the automation at least
        // once (a SIGTERM before its handlers exist would end it by the default
        // action: harmless while it only reads its config, but not an exit 0).
        wait_for(
            "the restarted daemon to land the bump",
            || {
                daemon.assert_running();
                let log = daemon.log_text();
                let ran = log.contains("engine::cycle: pushed")
                    || log.contains("engine::cycle: no change");
                (ran && world.deployed().contains(&format!(":{tag} #"))).then_some(())
            },
            || format!("{}\n{}", context(), daemon.log_text()),
        );
        assert_eq!(
            world.deployed(),
            deployment("api", &format!("{}:{tag}", world.image), "api"),
            "{}: the file is whole and current",
            context()
        );
        assert_eq!(bumps_in_history(&world.bare), expected, "{}", context());
        assert_eq!(world.commit_count(), expected.len() + 1, "{}", context());
        assert_repository_sound(&world.bare);
        let log = daemon.log_text();
        assert_eq!(
            daemon.terminate(),
            Some(0),
            "{}; its log:\n{log}",
            context()
        );
    }
    println!(
        "seed {seed}: the bump had landed before the kill in {landed_before_the_kill} of 10 rounds"
    );
}

/// Regression: a run killed while libgit2 held a ref lock in the working copy
/// (`.git/refs/remotes/origin/main.lock`, found by the SIGKILL test) left the
/// lock behind, and every later fetch failed with "failed to lock file" until
/// someone deleted it by hand.
#[test]
fn a_lock_file_left_in_the_working_copy_by_a_killed_run_used_to_block_every_later_run() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = quick_tagpilot(
        &world,
        &plain_source(&format!("file://{}", world.bare.display())),
        "1h",
    );
    tagpilot.run_once().success();
    let git_dirs: Vec<PathBuf> = std::fs::read_dir(tagpilot.state_dir().join("git"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("repo/.git"))
        .collect();
    assert_eq!(git_dirs.len(), 1);
    // Where the SIGKILL test found it: the fetch had deleted the old remote
    // head and was writing the new one under its lock.
    let _ = std::fs::remove_file(git_dirs[0].join("refs/remotes/origin/main"));
    std::fs::write(git_dirs[0].join("refs/remotes/origin/main.lock"), "").unwrap();
    std::fs::write(git_dirs[0].join("index.lock"), "").unwrap();
    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    let run = tagpilot.run_once();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(world.deployed().contains(":1.2.0 #"));
    assert_eq!(bumps_in_history(&world.bare), ["1.1.0", "1.2.0"]);
}

/// Regression (found by `bench/soak`: a few bumps took 66 s instead of 0.1 s):
/// a registry notifies as it stores the manifest, which can be before
/// `tags/list` shows the tag; the webhook's scan then saw the old list, and the
/// bump waited for the next interval.
#[test]
fn a_webhook_scan_that_missed_the_announced_tag_used_to_wait_for_the_interval() {
    use crate::harness::fault_proxy::{Fault, FaultProxy};
    let world = World::new(&["1.0.0"]);
    let proxy = FaultProxy::start(&world.registry.host);
    let tagpilot = quick_tagpilot(
        &world,
        &plain_source(&format!("file://{}", world.bare.display())),
        "1h",
    );
    let listen = format!("127.0.0.1:{}", crate::harness::process::free_port());
    let endpoint = format!("{}=http://{}", world.registry.host, proxy.host);
    let daemon = tagpilot.spawn_listening_daemon(
        &listen,
        "announced-token",
        &["--registry-endpoint", &endpoint],
    );
    wait_for(
        "the first automation run",
        || daemon.log_text().contains("no change").then_some(()),
        || daemon.log_text(),
    );
    ImagePusher::new(&world.registry, "shop/api").push("1.1.0");
    // The first listing after the push still shows the old tags, as a registry
    // that notified before linking the tag would.
    proxy.set_rule(|line, _| {
        static STALE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
        if line.starts_with("GET /v2/shop/api/tags/list")
            && STALE.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            Fault::ReplaceBody(r#"{"name":"shop/api","tags":["1.0.0"]}"#.into())
        } else {
            Fault::Pass
        }
    });
    let status = reqwest::blocking::Client::new()
        .post(format!("http://{listen}/webhook/registry"))
        .header("Authorization", "Bearer announced-token")
        .body(format!(
            r#"{{"events":[{{"action":"push","target":{{"repository":"shop/api","tag":"1.1.0"}},"request":{{"host":"{}"}}}}]}}"#,
            world.registry.host
        ))
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 202);
    wait_for(
        "the bump, long before the hour-long interval",
        || {
            daemon.assert_running();
            world.deployed().contains(":1.1.0 #").then_some(())
        },
        || format!("{:?}\n{}", proxy.requests(), daemon.log_text()),
    );
    assert!(
        proxy
            .requests()
            .iter()
            .filter(|l| l.contains("tags/list"))
            .count()
            >= 3,
        "the stale listing was followed by another: {:?}",
        proxy.requests()
    );
    assert_eq!(world.commit_count(), 2);
    assert_eq!(daemon.terminate(), Some(0));
}
