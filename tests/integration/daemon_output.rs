//! What `tagpilot run` (the daemon) prints at its default level, as a person
//! watching it sees it: a line per scan that changed the tag list, per policy
//! change and per commit pushed, none per scan that found nothing new; no
//! colour into a file; and a webhook's hostile tag cannot forge a log line
//! (issue 17, finding 6).

use reqwest::blocking::Client;

use crate::engine::World;
use crate::harness::images::ImagePusher;
use crate::harness::process::{free_port, write};
use crate::harness::tagpilot::{Daemon, plain_source, wait_for};

const TOKEN: &str = "progress-token-5e1";

struct Endpoint {
    client: Client,
    base: String,
}

impl Endpoint {
    fn metrics(&self) -> Option<String> {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .ok()?;
        response.text().ok()
    }

    /// The value of the metric line that starts with `name` (0 when absent).
    fn metric(&self, name: &str) -> u64 {
        self.metrics()
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sends a distribution push notification for `shop/api:TAG`.
    fn push_notification(&self, tag: &str) {
        let body = serde_json::json!({"events": [{
            "action": "push",
            "target": {"repository": "shop/api", "tag": tag},
            "request": {"host": "registry.invalid"},
        }]});
        let response = self
            .client
            .post(format!("{}/webhook/registry", self.base))
            .bearer_auth(TOKEN)
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            )
            .body(body.to_string())
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

/// The engine's `pushed` lines (not the webhook's `images pushed`, nor a forged one).
fn pushed_lines(log: &str) -> Vec<&str> {
    lines_with(log, "cycle: pushed automation=")
        .into_iter()
        .filter(|line| !line.contains("forged"))
        .collect()
}

const SCAN_OK: &str = "tagpilot_scans_total{result=\"ok\"}";

#[test]
fn the_daemon_prints_a_line_per_change_and_none_per_unchanged_scan_at_its_default_level() {
    let world = World::new(&["1.0.0"]);
    let tagpilot = world.tagpilot(&plain_source(&format!("file://{}", world.bare.display())));
    let token_file = tagpilot.home_dir().join("token");
    write(&token_file, TOKEN);
    let listen = format!("127.0.0.1:{}", free_port());
    // No --log-level: the daemon's default.
    let daemon: Daemon = tagpilot.spawn_daemon_with(
        &[],
        &[
            "--listen",
            &listen,
            "--webhook-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let endpoint = Endpoint {
        client: Client::new(),
        base: format!("http://{listen}"),
    };
    // Start: the first scan finds the list (a change), the policy gets its
    // first result (a change), the automation has nothing to commit (no line).
    wait_for(
        "the first policy result",
        || {
            daemon.assert_running();
            daemon
                .log_text()
                .contains("policy result changed")
                .then_some(())
        },
        || daemon.log_text(),
    );
    let initial = world.head();

    // CI pushes 1.1.0 and the registry says so: one scan line, one policy line, one push line.
    ImagePusher::new(&world.registry, "shop/api").push("1.1.0");
    endpoint.push_notification("1.1.0");
    let head = wait_for(
        "the commit of 1.1.0",
        || {
            daemon.assert_running();
            let head = world.head();
            (head != initial).then_some(head)
        },
        || daemon.log_text(),
    );
    wait_for(
        "the pushed line",
        || (!pushed_lines(&daemon.log_text()).is_empty()).then_some(()),
        || daemon.log_text(),
    );

    // A notification for a tag already listed: a scan that changes nothing.
    let scans = endpoint.metric(SCAN_OK);
    endpoint.push_notification("1.1.0");
    wait_for(
        "the unchanged scan",
        || (endpoint.metric(SCAN_OK) > scans).then_some(()),
        || endpoint.metrics().unwrap_or_default(),
    );

    let log = daemon.log_text();
    let scanned = lines_with(&log, "scanned: the tag list changed");
    assert_eq!(scanned.len(), 2, "one line per changed scan:\n{log}");
    assert!(
        scanned[0].contains("INFO") && scanned[0].contains("added=1.0.0"),
        "{log}"
    );
    assert!(scanned[1].contains("added=1.1.0"), "{log}");
    let policies = lines_with(&log, "policy result changed");
    assert_eq!(policies.len(), 2, "{log}");
    assert!(
        policies[1].contains("policy=shop/api")
            && policies[1].contains(":1.0.0")
            && policies[1].contains(":1.1.0"),
        "{log}"
    );
    let pushed = pushed_lines(&log);
    assert_eq!(pushed.len(), 1, "one line per commit pushed:\n{log}");
    assert!(
        pushed[0].contains("automation=shop/apps") && pushed[0].contains(&head),
        "{log}"
    );
    assert!(
        endpoint.metric(SCAN_OK) >= 3,
        "three scans happened, only two changed something"
    );
    for quiet in ["no new tags", "no change", "DEBUG", "WARN"] {
        assert!(
            !log.contains(quiet),
            "{quiet:?} at the default level:\n{log}"
        );
    }
    assert!(!log.contains('\x1b'), "colour in a log file:\n{log:?}");

    // Issue 17, finding 6: a tag holding a newline and ANSI escapes.
    let forged = "9.9.9\n2030-01-01T00:00:00.000000Z  INFO tagpilot::engine::cycle: pushed automation=shop/apps commit=forged\x1b[2J";
    let accepted = endpoint.metric("tagpilot_webhooks_total{result=\"accepted\"}");
    endpoint.push_notification(forged);
    wait_for(
        "the hostile webhook to be handled",
        || {
            let handled =
                endpoint.metric("tagpilot_webhooks_total{result=\"accepted\"}") > accepted;
            (handled && daemon.log_text().contains("commit=forged")).then_some(())
        },
        || daemon.log_text(),
    );
    let log = daemon.log_text();
    assert!(!log.contains('\x1b'), "a raw ESC reached the log:\n{log:?}");
    assert!(
        !log.lines().any(|line| line.starts_with("2030-01-01")),
        "a forged line:\n{log}"
    );
    assert!(
        log.contains("9.9.9\\n2030-01-01T00:00:00.000000Z  INFO") && log.contains("\\u{1b}[2J"),
        "the tag is shown escaped:\n{log}"
    );
    assert_eq!(pushed_lines(&log).len(), 1, "{log}");
    assert_eq!(daemon.terminate(), Some(0));
}
