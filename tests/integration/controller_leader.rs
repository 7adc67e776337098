//! Leader election with two real controller processes on one Lease: one acts,
//! the standby refuses webhooks and waits; after SIGKILL of the leader the
//! standby takes over and finishes the pending work with no double commit.

use std::time::Instant;

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::engine::World;
use crate::engine_webhook::WEBHOOK_TOKEN;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::process::{free_port, write};
use crate::harness::tagpilot::wait_for;

fn lease_holder(cluster: &Cluster) -> Option<String> {
    cluster
        .get_json("lease", "default", "tagpilot-controller")?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_string)
}

fn pushes_in(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("engine::cycle: pushed "))
        .count()
}

#[test]
fn two_controllers_one_acts_and_the_standby_takes_over_without_a_double_commit() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.1.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&shop_objects(&world, &server.url(&world.bare), "^1\\."));
    let token_file = cluster.dir().join("webhook-token");
    write(&token_file, format!("{WEBHOOK_TOKEN}\n"));
    let ports = [free_port(), free_port()];
    let election = |identity: &'static str, port: u16| {
        cluster.spawn_controller(
            identity,
            cluster.kubeconfig(),
            &[
                "--leader-elect",
                "--lease-namespace",
                "default",
                "--lease-duration",
                "4s",
                "--identity",
                identity,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--webhook-token-file",
                token_file.to_str().unwrap(),
            ],
        )
    };
    let controllers = [
        ("a", election("a", ports[0])),
        ("b", election("b", ports[1])),
    ];
    let logs = || {
        controllers
            .iter()
            .map(|(name, c)| format!("--- {name}:\n{}", c.log_text()))
            .collect::<String>()
    };
    cluster.wait_for_object(
        "the first push",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string(),
        logs,
    );
    assert_eq!(world.commit_count(), 2);
    let leader = lease_holder(&cluster).unwrap();
    let (leader_process, leader_port, standby_name, standby, standby_port) = match leader.as_str() {
        "a" => (
            &controllers[0].1,
            ports[0],
            "b",
            &controllers[1].1,
            ports[1],
        ),
        "b" => (
            &controllers[1].1,
            ports[1],
            "a",
            &controllers[0].1,
            ports[0],
        ),
        other => panic!("unknown holder {other}"),
    };
    // Webhooks: the standby sends the registry to retry (it reaches the leader
    // behind the same Service); the leader accepts.
    let webhook = |port: u16| {
        reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{port}/webhook/registry"))
            .header("Authorization", format!("Bearer {WEBHOOK_TOKEN}"))
            .header("Content-Type", "application/vnd.docker.distribution.events.v1+json")
            .body(r#"{"events":[{"action":"push","target":{"repository":"shop/api","tag":"1.1.0"},"request":{"host":"x"}}]}"#)
            .send()
            .unwrap()
    };
    let refused = webhook(standby_port);
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(webhook(leader_port).status().as_u16(), 202);
    let leader_gauge = |port: u16| {
        let text = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("tagpilot_controller_leader "))
            .map(str::to_string)
    };
    assert_eq!(leader_gauge(leader_port).as_deref(), Some("1"));
    assert_eq!(leader_gauge(standby_port).as_deref(), Some("0"));
    wait_for(
        "the standby to say it stands by",
        || standby.log_text().contains("standing by").then_some(()),
        logs,
    );
    assert_eq!(pushes_in(&leader_process.log_text()), 1, "{}", logs());
    assert_eq!(pushes_in(&standby.log_text()), 0, "{}", logs());

    // The leader dies without releasing anything; CI pushes a new build meanwhile.
    leader_process.kill();
    let killed = Instant::now();
    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    wait_for(
        "the standby to take the lease",
        || (lease_holder(&cluster).as_deref() == Some(standby_name)).then_some(()),
        logs,
    );
    eprintln!(
        "takeover after SIGKILL: {:?} (lease duration 4s)",
        killed.elapsed()
    );
    let automation = cluster.wait_for_object(
        "the new leader to push 1.2.0",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["observedPolicies"]["api"]["tag"] == "1.2.0" && is_ready(o),
        logs,
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    assert_eq!(world.commit_count(), 3, "one commit per change, none twice");
    assert_eq!(pushes_in(&standby.log_text()), 1, "{}", logs());
    assert!(
        world.deployed().contains(&format!("{}:1.2.0", world.image)),
        "{}",
        world.deployed()
    );
    standby.assert_running();
    // A clean shutdown hands the Lease over instead of letting it expire.
    let log = standby.log_text();
    assert_eq!(
        standby.terminate(),
        Some(0),
        "SIGTERM is a clean exit\n{log}"
    );
    assert_eq!(lease_holder(&cluster), None, "the lease is released");
}
