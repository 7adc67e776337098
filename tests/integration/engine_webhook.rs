//! `tagpilot run --listen` as a daemon: a real distribution registry notifies
//! it of pushes, and the push becomes a commit long before the (hour-long)
//! intervals would; the webhook refuses wrong tokens; `/healthz` and `/metrics`
//! answer; SIGTERM stops it cleanly.

use reqwest::blocking::Client;

use crate::engine::World;
use crate::harness::images::ImagePusher;
use crate::harness::process::free_port;
use crate::harness::registry::{AuthMode, Distribution, Registry, RegistryOptions};
use crate::harness::tagpilot::{Daemon, wait_for};

pub const WEBHOOK_TOKEN: &str = "wh-token-7d1c0e";

/// The `notifications:` section that sends every manifest event to `port`.
pub fn notifications(port: u16, token: &str) -> String {
    format!(
        "notifications:\n  endpoints:\n    - name: tagpilot\n      url: http://127.0.0.1:{port}/webhook/registry\n      headers:\n        Authorization: [Bearer {token}]\n      timeout: 1s\n      threshold: 5\n      backoff: 1s\n      ignoredmediatypes:\n        - application/octet-stream\n"
    )
}

/// `GET url` → (status, body), or `None` while nothing listens.
fn get(client: &Client, url: &str) -> Option<(u16, String)> {
    let response = client.get(url).send().ok()?;
    Some((
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    ))
}

#[test]
fn a_registry_push_notification_makes_the_commit_without_waiting_for_the_interval() {
    let port = free_port();
    let registry = Registry::start_with(
        Distribution::V2,
        AuthMode::Anonymous,
        RegistryOptions {
            extra_config: notifications(port, WEBHOOK_TOKEN),
            ..RegistryOptions::default()
        },
    );
    let world = World::on(registry, &[("api", &[])]);
    let tagpilot = world.tagpilot(&crate::harness::tagpilot::plain_source(&format!(
        "file://{}",
        world.bare.display()
    )));
    let listen = format!("127.0.0.1:{port}");
    let daemon: Daemon = tagpilot.spawn_listening_daemon(&listen, WEBHOOK_TOKEN, &[]);
    let client = Client::new();
    let base = format!("http://{listen}");
    let health = wait_for(
        "/healthz to answer",
        || get(&client, &format!("{base}/healthz")),
        || daemon.log_text(),
    );
    assert_eq!(health, (200, "ok\n".to_string()));
    let initial = world.head();

    // CI pushes; the registry notifies tagpilot; every interval is an hour away.
    ImagePusher::new(&world.registry, "shop/api").push_all(["1.0.0", "1.1.0", "2.0.0"]);
    let head = wait_for(
        "the webhook-triggered commit",
        || {
            daemon.assert_running();
            let head = world.head();
            (head != initial).then_some(head)
        },
        || daemon.log_text(),
    );
    wait_for(
        "the commit to hold 1.1.0",
        || world.deployed().contains(":1.1.0 #").then_some(()),
        || format!("{}\n{}", world.deployed(), daemon.log_text()),
    );
    assert!(world.commit_count() >= 2, "{head}");

    // Wrong or missing tokens: 401 and nothing else.
    let body = r#"{"events":[{"action":"push","target":{"repository":"shop/api","tag":"1.9.0"},"request":{"host":"x"}}]}"#;
    for authorization in [Some("Bearer not-the-token"), Some(WEBHOOK_TOKEN), None] {
        let mut request = client
            .post(format!("{base}/webhook/registry"))
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            )
            .body(body);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status().as_u16(), 401, "{authorization:?}");
        assert_eq!(response.text().unwrap(), "", "{authorization:?}");
    }

    let metrics = wait_for(
        "/metrics to count the commit",
        || {
            let (status, text) = get(&client, &format!("{base}/metrics"))?;
            (status == 200 && text.contains("\ntagpilot_commits_total 1\n")).then_some(text)
        },
        || {
            get(&client, &format!("{base}/metrics"))
                .map(|(_, text)| text)
                .unwrap_or_default()
        },
    );
    for expected in [
        "tagpilot_webhooks_total{result=\"accepted\"}",
        "tagpilot_webhooks_total{result=\"unauthorized\"} 3\n",
        "tagpilot_pushes_total{result=\"ok\"} 1\n",
        "tagpilot_scans_total{result=\"ok\"}",
    ] {
        assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
    }
    assert_eq!(world.commit_count(), 2, "one commit for the push burst");

    let log = daemon.log_text();
    assert_eq!(
        daemon.terminate(),
        Some(0),
        "SIGTERM is a clean exit\n{log}"
    );
}

/// The `World` of `shop/api` at 1.0.0 and 1.1.0 with its config directory,
/// plus the objects `extra` writes for a server on a port that accepts
/// connections and never answers.
fn with_a_stuck_server(
    extra: impl FnOnce(u16) -> String,
) -> (World, crate::harness::tagpilot::Tagpilot) {
    let stuck_port = crate::harness::process::black_hole_port();
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&crate::harness::tagpilot::plain_source(&format!(
        "file://{}",
        world.bare.display()
    )));
    tagpilot.write("stuck.yaml", &extra(stuck_port));
    (world, tagpilot)
}

/// Regression: the daemon used to wait for every due scan before evaluating, so
/// one registry that never answers held back every other image's commit until
/// its request timed out (here ten minutes).
#[test]
fn a_registry_that_never_answers_does_not_delay_the_other_images() {
    let (world, tagpilot) = with_a_stuck_server(|stuck_port| {
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: stuck\n  namespace: shop\nspec:\n  image: 127.0.0.1:{stuck_port}/shop/stuck\n  interval: 1h\n  timeout: 10m\n  insecure: true\n"
        )
    });
    let initial = world.head();
    let daemon: Daemon = tagpilot.spawn_daemon(&[]);
    wait_for(
        "the commit for the answering registry",
        || {
            daemon.assert_running();
            (world.head() != initial).then_some(())
        },
        || daemon.log_text(),
    );
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    let log = daemon.log_text();
    assert_eq!(
        daemon.terminate(),
        Some(0),
        "SIGTERM with a scan in flight\n{log}"
    );
}

/// The stuck GitRepository and its automation (sorted before `shop/apps`).
fn stuck_git_repository(stuck_port: u16) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: stuck\n  namespace: shop\nspec:\n  url: http://127.0.0.1:{stuck_port}/config.git\n  ref:\n    branch: main\n  interval: 1h\n  timeout: 10m\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageUpdateAutomation\nmetadata:\n  name: aaa-stuck\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: stuck\n  git:\n    commit:\n      author:\n        name: tagpilot\n        email: tagpilot@example.com\n  update:\n    path: ./\n    strategy: Setters\n"
    )
}

/// Regression: the daemon ran the due automations and waited for all of them
/// before looking at anything else, so while one clone hung (here with a
/// ten-minute timeout) no webhook was handled and no other commit was made.
/// Each working copy's runs are now a task of their own, recorded as they end.
#[test]
fn a_git_server_that_never_answers_does_not_hold_back_the_daemon() {
    let (world, tagpilot) = with_a_stuck_server(stuck_git_repository);
    let listen = format!("127.0.0.1:{}", free_port());
    let initial = world.head();
    let daemon: Daemon = tagpilot.spawn_listening_daemon(&listen, WEBHOOK_TOKEN, &[]);
    wait_for(
        "the first commit, while the other clone hangs",
        || {
            daemon.assert_running();
            (world.head() != initial).then_some(())
        },
        || daemon.log_text(),
    );
    // CI pushes 1.2.0 and the registry's webhook announces it: the daemon
    // handles it and commits it although the stuck clone is still running.
    ImagePusher::new(&world.registry, "shop/api").push_all(["1.2.0"]);
    let body = format!(
        r#"{{"events":[{{"action":"push","target":{{"repository":"shop/api","tag":"1.2.0"}},"request":{{"host":"{}"}}}}]}}"#,
        world.registry.host
    );
    let response = Client::new()
        .post(format!("http://{listen}/webhook/registry"))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .header("Authorization", format!("Bearer {WEBHOOK_TOKEN}"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "{:?}", response.text());
    wait_for(
        "the commit of 1.2.0",
        || {
            daemon.assert_running();
            world.deployed().contains(":1.2.0 #").then_some(())
        },
        || format!("{}\n{}", world.deployed(), daemon.log_text()),
    );
    let log = daemon.log_text();
    assert!(
        !log.contains("automation failed automation=shop/aaa-stuck"),
        "the stuck clone is still running, not failed:\n{log}"
    );
}

/// Regression: a cycle ran its automations one after another, so one whose git
/// server accepts connections and never answers (here with a ten-minute
/// timeout) held back the commit of every automation after it until its clone
/// timed out. Automations of different working copies now run side by side.
#[test]
fn a_git_server_that_never_answers_does_not_delay_the_other_automations() {
    // Sorted before `shop/apps`, so it used to run first.
    let (world, tagpilot) = with_a_stuck_server(stuck_git_repository);
    let initial = world.head();
    let log = tagpilot.home_dir().join("once.log");
    let mut once = tagpilot
        .run_once_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        "the commit of the automation whose git server answers",
        || {
            assert!(
                once.try_wait().unwrap().is_none(),
                "run --once ended while a clone hangs\n{}",
                text()
            );
            (world.head() != initial).then_some(())
        },
        text,
    );
    once.kill().unwrap();
    once.wait().unwrap();
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
}
