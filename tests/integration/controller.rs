//! Controller mode against a real kube-apiserver: the CRDs (schema validation,
//! printer columns, status subresource), and `tagpilot controller` scanning a
//! real registry and committing to a real git server, with status written back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::World;
use crate::engine_webhook::WEBHOOK_TOKEN;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::process::{free_port, write};
use crate::harness::tagpilot::{AUTHOR_EMAIL, AUTHOR_NAME, wait_for};

const POLICY: &str = "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: crds\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0'\n";

#[test]
fn crds_validate_objects_and_kubectl_shows_the_printer_columns() {
    let cluster = Cluster::start();
    cluster.namespace("crds");
    cluster.apply(POLICY);
    // OpenAPI validation: bad enum, bad interval, missing required field.
    for (bad, expected) in [
        (
            POLICY.replace(
                "  policy:\n",
                "  digestReflectionPolicy: Sometimes\n  policy:\n",
            ),
            "digestReflectionPolicy",
        ),
        (
            POLICY.replace("  policy:\n", "  interval: five minutes\n  policy:\n"),
            "spec.interval",
        ),
        (
            POLICY.replace("  policy:\n    semver:\n      range: '>=1.0.0'\n", ""),
            "spec.policy: Required value",
        ),
    ] {
        let bad = bad.replace("name: api\n  namespace", "name: bad\n  namespace");
        let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&bad));
        assert!(!ok, "the API server accepted:\n{bad}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // The status subresource: a status patch is kept, a spec patch does not touch it.
    cluster.kubectl(&[
        "patch",
        "imagepolicy",
        "api",
        "-n",
        "crds",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"observedGeneration":1,"latestRef":{"name":"reg.example/shop/api","tag":"1.2.3"},"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"latest tag 1.2.3","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ]);
    let table = cluster.kubectl(&["get", "imagepolicies", "-n", "crds"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "READY", "STATUS", "LATEST TAG", "AGE"],
        "{table}"
    );
    assert_eq!(
        &lines[1][..4],
        ["api", "True", "latest tag 1.2.3", "1.2.3"],
        "{table}"
    );
    let wide = cluster.kubectl(&["get", "imagepolicies", "-n", "crds", "-o", "wide"]);
    assert!(
        wide.contains("IMAGE") && wide.contains("reg.example/shop/api"),
        "{wide}"
    );
}

/// The four objects of the `shop` namespace for `world`, in our API group,
/// the config repository reached over ssh through `url` with Secret `git-ssh`.
pub fn shop_objects(world: &World, url: &str, pattern: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1
kind: ImageRepository
metadata:
  name: api
  namespace: shop
spec:
  image: {image}
  interval: 1h
  insecure: true
---
{policy}---
apiVersion: tagpilot.dev/v1alpha1
kind: GitRepository
metadata:
  name: config
  namespace: shop
spec:
  url: {url}
  ref:
    branch: main
  interval: 1h
  secretRef:
    name: git-ssh
---
apiVersion: tagpilot.dev/v1alpha1
kind: ImageUpdateAutomation
metadata:
  name: apps
  namespace: shop
spec:
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: config
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: {AUTHOR_NAME}
        email: {AUTHOR_EMAIL}
    push:
      branch: main
  update:
    path: ./apps
    strategy: Setters
",
        image = world.image,
        policy = shop_policy(pattern),
    )
}

/// The ImagePolicy `shop/api` with `filterTags.pattern`.
pub fn shop_policy(pattern: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: api
  namespace: shop
spec:
  imageRepositoryRef:
    name: api
  filterTags:
    pattern: '{pattern}'
  policy:
    semver:
      range: '>=1.0.0 <2.0.0'
"
    )
}

/// `kubectl create secret generic git-ssh` in `shop` with the ssh server's client key.
pub fn git_ssh_secret(cluster: &Cluster, server: &SshGitServer) {
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "git-ssh",
        "-n",
        "shop",
        &format!("--from-file=identity={}", server.identity_path.display()),
        &format!(
            "--from-file=known_hosts={}",
            server.known_hosts_path.display()
        ),
    ]);
}

pub fn ready_condition(object: &serde_json::Value) -> Option<&serde_json::Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

pub fn is_ready(object: &serde_json::Value) -> bool {
    ready_condition(object).is_some_and(|c| c["status"] == "True")
        && object["status"]["observedGeneration"] == object["metadata"]["generation"]
}

#[test]
fn controller_scans_commits_reports_status_and_stalls_on_an_invalid_regex() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.1.0", "1.2.0", "2.0.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&shop_objects(&world, &server.url(&world.bare), "^1\\."));
    let controller = cluster.spawn_controller("controller", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let policy = cluster.wait_for_object(
        "the policy's latestRef",
        "imagepolicy",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.2.0" && is_ready(o),
        log,
    );
    assert_eq!(policy["status"]["latestRef"]["name"], world.image);
    let automation = cluster.wait_for_object(
        "the automation's lastPushCommit",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    assert_eq!(world.commit_count(), 2, "one bot commit");
    assert!(
        world.deployed().contains(&format!("{}:1.2.0", world.image)),
        "{}",
        world.deployed()
    );
    assert_eq!(
        automation["status"]["observedPolicies"]["api"]["tag"], "1.2.0",
        "{automation:#}"
    );
    let repository = cluster.get_json("imagerepository", "shop", "api").unwrap();
    assert_eq!(repository["status"]["lastScanResult"]["tagCount"], 4);
    // Status fields are owned by one field manager, written by server-side apply.
    let with_fields: serde_json::Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "imageupdateautomation",
        "-n",
        "shop",
        "apps",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    let managers: Vec<&str> = with_fields["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subresource"] == "status")
        .map(|f| f["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["tagpilot"]);
    let table = cluster.kubectl(&["get", "imagepolicies", "-n", "shop"]);
    assert!(table.contains("True") && table.contains("1.2.0"), "{table}");
    let events = cluster.kubectl(&["get", "events", "-n", "shop"]);
    // What a user sees (the README shows this output).
    eprintln!(
        "{}\n{events}",
        cluster.kubectl(&[
            "get",
            "imagerepositories,imagepolicies,gitrepositories,imageupdateautomations",
            "-n",
            "shop"
        ])
    );
    for reason in ["Pushed", "NewLatestImage", "NewTags"] {
        assert!(events.contains(reason), "{reason}:\n{events}");
    }

    // An invalid regex: Stalled, the message names the field; nothing else moves.
    cluster.apply(&shop_policy("^1\\.(("));
    let stalled = cluster.wait_for_object(
        "the policy to stall",
        "imagepolicy",
        "shop",
        "api",
        |o| {
            o["status"]["observedGeneration"] == o["metadata"]["generation"]
                && o["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Stalled" && c["status"] == "True")
                })
        },
        log,
    );
    let message = ready_condition(&stalled).unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("spec.filterTags.pattern"), "{message}");
    assert_eq!(ready_condition(&stalled).unwrap()["status"], "False");
    eprintln!(
        "{}",
        cluster.kubectl(&["get", "imagepolicies", "-n", "shop"])
    );
    // Fixing it makes it Ready again.
    cluster.apply(&shop_policy("^1\\."));
    let fixed = cluster.wait_for_object(
        "the policy to be Ready again",
        "imagepolicy",
        "shop",
        "api",
        |o| is_ready(o) && o["status"]["latestRef"]["tag"] == "1.2.0",
        log,
    );
    assert!(
        fixed["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Stalled"),
        "{fixed:#}"
    );
    assert_eq!(world.commit_count(), 2, "no change, no commit");
    controller.assert_running();
    let identity = std::fs::read_to_string(&server.identity_path).unwrap();
    let secret_line = identity.lines().nth(1).unwrap();
    assert!(
        !controller.log_text().contains(secret_line),
        "a key reached the log"
    );
}

/// A kubeconfig for the ServiceAccount `namespace/name`, with a token from the TokenRequest API.
fn service_account_kubeconfig(cluster: &Cluster, namespace: &str, name: &str) -> PathBuf {
    let token = cluster.kubectl(&["create", "token", name, "-n", namespace, "--duration=1h"]);
    let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&admin).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"] = serde_json::json!({"token": token.trim()});
    }
    let path = cluster.dir().join(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

#[test]
fn the_deploy_rbac_is_enough_for_the_controller_and_no_more() {
    let cluster = Cluster::start();
    // deploy/ as a user installs it (the Deployment has no pods here: no controller-manager).
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    cluster.kubectl(&["apply", "-k", deploy.to_str().unwrap()]);
    let kubeconfig = service_account_kubeconfig(&cluster, "tagpilot-system", "tagpilot");
    let as_controller = |args: &[&str]| cluster.kubectl_as(&kubeconfig, args, None);
    let (ok, who, stderr) = as_controller(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(who, "system:serviceaccount:tagpilot-system:tagpilot");

    let world = World::new(&["1.0.0", "1.3.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&shop_objects(&world, &server.url(&world.bare), "^1\\."));
    let controller = cluster.spawn_controller(
        "rbac",
        &kubeconfig,
        &["--leader-elect", "--lease-namespace", "tagpilot-system"],
    );
    let automation = cluster.wait_for_object(
        "a push by the controller running as its ServiceAccount",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        || controller.log_text(),
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    let lease = cluster
        .get_json("lease", "tagpilot-system", "tagpilot-controller")
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_string(), "{lease:#}");
    let events = cluster.kubectl(&["get", "events", "-n", "shop"]);
    assert!(events.contains("Pushed"), "{events}");
    let log = controller.log_text();
    assert!(
        !log.contains("forbidden"),
        "the role lacks something:\n{log}"
    );

    // Outside its role: listing Secrets, changing specs, deleting, other kinds, leases elsewhere.
    for denied in [
        &["get", "secrets", "-n", "shop"][..],
        &["delete", "imagepolicy", "api", "-n", "shop"],
        &["label", "imagepolicy", "api", "-n", "shop", "x=y"],
        &["get", "configmaps", "-n", "shop"],
        &["get", "leases", "-n", "kube-system"],
        &["create", "namespace", "elsewhere"],
    ] {
        let (ok, _, stderr) = as_controller(denied);
        assert!(!ok, "allowed: kubectl {denied:?}");
        assert!(stderr.contains("forbidden"), "kubectl {denied:?}: {stderr}");
    }
    controller.assert_running();
}

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
