//! The real `flux` CLI (v2.9.5, `harness::flux`) driving `tagpilot controller
//! --flux-compat` over Flux's own CRDs, as a team used to Flux drives it:
//! `flux get images all -A` shows tagpilot's status as it shows Flux's,
//! `flux reconcile image repository|policy|update` triggers a run and returns
//! when it is done (tagpilot writes `status.lastHandledReconcileAt`), and
//! `flux suspend|resume image update` stops and restarts the automation. With
//! `--receivers` it also serves the cluster's Flux Receiver objects
//! (`notification.toolkit.fluxcd.io/v1`, Flux's CRD) on `/hook/<digest>`; a
//! delivery that names a suspended automation runs nothing.

use openssl::hash::MessageDigest;
use reqwest::blocking::Client;

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::controller_flux::{as_flux, install_flux_crds};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::flux::FluxOutput;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::process::free_port;
use crate::harness::receivers::{hmac_hex, webhook_path};
use crate::harness::tagpilot::wait_for;

const RECEIVER_TOKEN: &str = "receiver-token-0c41";

/// A Flux Receiver for GitHub `package` events, unchanged Flux YAML, and its Secret.
const RECEIVER: &str = "apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: ghcr
  namespace: shop
spec:
  type: github
  events:
    - package
  secretRef:
    name: ghcr-webhook-token
  resources:
    - apiVersion: image.toolkit.fluxcd.io/v1
      kind: ImageRepository
      name: '*'
      matchLabels:
        app: api
---
apiVersion: v1
kind: Secret
metadata:
  name: ghcr-webhook-token
  namespace: shop
stringData:
  token: receiver-token-0c41
";

/// A generic Flux Receiver naming the automation and its GitRepository (what a
/// CI job calls after pushing to the config repository), with the same Secret.
const CONFIG_RECEIVER: &str = "apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: config-push
  namespace: shop
spec:
  type: generic
  secretRef:
    name: ghcr-webhook-token
  resources:
    - apiVersion: image.toolkit.fluxcd.io/v1
      kind: ImageUpdateAutomation
      name: apps
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: GitRepository
      name: config
";

/// The table `flux get` prints, as rows of trimmed cells (columns are tab-aligned).
fn table(output: &FluxOutput) -> Vec<Vec<String>> {
    assert!(
        output.success,
        "flux failed:\n{}\n{}",
        output.stdout, output.stderr
    );
    output
        .stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split('\t')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

fn ok(output: FluxOutput) -> String {
    assert!(
        output.success,
        "flux failed:\n{}\n{}",
        output.stdout, output.stderr
    );
    output.stderr
}

#[test]
fn the_flux_cli_gets_reconciles_suspends_and_resumes_tagpilots_objects() {
    let cluster = Cluster::start();
    install_flux_crds(&cluster);
    let world = World::new(&["1.0.0", "1.4.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&as_flux(&shop_objects(
        &world,
        &server.url(&world.bare),
        "^1\\.",
    )));
    cluster.apply(RECEIVER);
    cluster.apply(CONFIG_RECEIVER);
    cluster.kubectl(&[
        "label",
        "imagerepositories.image.toolkit.fluxcd.io",
        "api",
        "-n",
        "shop",
        "app=api",
    ]);
    let listen = format!("127.0.0.1:{}", free_port());
    let controller = cluster.spawn_controller(
        "flux-cli",
        cluster.kubeconfig(),
        &[
            "--flux-compat",
            "--ignore-flux-leases",
            "--namespace",
            "shop",
            "--listen",
            &listen,
            "--receivers",
        ],
    );
    let log = || controller.log_text();
    let client = Client::new();
    wait_for(
        "/readyz",
        || {
            let response = client.get(format!("http://{listen}/readyz")).send().ok()?;
            (response.status().as_u16() == 200).then_some(())
        },
        log,
    );
    cluster.wait_for_object(
        "the first push",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );

    let rows = table(&cluster.flux(&["get", "images", "all", "-A"]));
    let headers: Vec<String> = rows
        .iter()
        .filter(|row| row[0] == "NAMESPACE")
        .map(|row| row.join("|"))
        .collect();
    assert_eq!(
        headers,
        [
            "NAMESPACE|NAME|LAST SCAN|SUSPENDED|READY|MESSAGE",
            "NAMESPACE|NAME|IMAGE|TAG|READY|MESSAGE",
            "NAMESPACE|NAME|LAST RUN|SUSPENDED|READY|MESSAGE",
        ]
    );
    let row = |name: &str| -> Vec<String> {
        rows.iter()
            .find(|row| row[1] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
            .iter()
            .filter(|cell| !cell.is_empty())
            .cloned()
            .collect()
    };
    let repository = row("imagerepository/api");
    assert_eq!(
        [&repository[..2], &repository[3..]].concat(),
        [
            "shop",
            "imagerepository/api",
            "False",
            "True",
            "successful scan: found 2 tags"
        ]
    );
    assert!(
        repository[2].parse::<jiff::Timestamp>().is_ok(),
        "{repository:?}"
    );
    assert_eq!(
        row("imagepolicy/api"),
        [
            "shop".to_string(),
            "imagepolicy/api".into(),
            world.image.clone(),
            "1.4.0".into(),
            "True".into(),
            format!("latest image tag for {} resolved to 1.4.0", world.image),
        ]
    );
    let automation = row("imageupdateautomation/apps");
    assert_eq!(&automation[3..5], ["False", "True"], "{automation:?}");
    assert!(
        automation[5].starts_with("repository up to date (last push "),
        "{automation:?}"
    );

    // A new tag; `flux reconcile image repository` scans now and returns when done.
    ImagePusher::new(&world.registry, "shop/api").push("1.5.0");
    let progress = ok(cluster.flux(&["reconcile", "image", "repository", "api", "-n", "shop"]));
    assert!(progress.contains("✔ scan fetched 3 tags"), "{progress}");
    let repository = cluster
        .get_json("imagerepositories.image.toolkit.fluxcd.io", "shop", "api")
        .unwrap();
    assert_eq!(
        repository["status"]["lastHandledReconcileAt"],
        repository["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"],
        "{repository:#}"
    );
    let progress = ok(cluster.flux(&["reconcile", "image", "policy", "api", "-n", "shop"]));
    assert!(
        progress.contains(&format!("✔ selected ref {}:1.5.0", world.image)),
        "{progress}"
    );
    let progress = ok(cluster.flux(&["reconcile", "image", "update", "apps", "-n", "shop"]));
    assert!(
        progress.contains("✔ repository up to date (last push "),
        "{progress}"
    );
    assert!(
        world.deployed().contains(":1.5.0 #"),
        "{}",
        world.deployed()
    );

    // A GitHub `package` delivery to the Flux Receiver: scanned and committed now.
    ImagePusher::new(&world.registry, "shop/api").push("1.5.1");
    let body = format!(
        r#"{{"action":"published","package":{{"name":"api","package_type":"CONTAINER","package_version":{{"container_metadata":{{"tag":{{"name":"1.5.1"}}}},"package_url":"{}:1.5.1"}}}}}}"#,
        world.image
    );
    let signature = hmac_hex(MessageDigest::sha256(), RECEIVER_TOKEN, body.as_bytes());
    let response = client
        .post(format!(
            "http://{listen}{}",
            webhook_path(RECEIVER_TOKEN, "ghcr", "shop")
        ))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "package")
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("X-Hub-Signature-256", format!("sha256={signature}"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", log());
    wait_for(
        "the Receiver's commit of 1.5.1",
        || world.deployed().contains(":1.5.1 #").then_some(()),
        || format!("{}\n{}", world.deployed(), log()),
    );

    // Suspended: nothing is committed, and reconcile refuses, as with Flux.
    let progress = ok(cluster.flux(&["suspend", "image", "update", "apps", "-n", "shop"]));
    assert!(
        progress.contains("✔ image update automation suspended"),
        "{progress}"
    );
    ImagePusher::new(&world.registry, "shop/api").push("1.6.0");
    ok(cluster.flux(&["reconcile", "image", "repository", "api", "-n", "shop"]));
    cluster.wait_for_object(
        "the policy to choose 1.6.0",
        "imagepolicies.image.toolkit.fluxcd.io",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.6.0",
        log,
    );
    // A delivery to the Receiver that names the suspended automation and its
    // GitRepository runs nothing either (it used to run it, push included).
    let response = client
        .post(format!(
            "http://{listen}{}",
            webhook_path(RECEIVER_TOKEN, "config-push", "shop")
        ))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", log());
    // A run takes about a second here; give it five.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(
        world.deployed().contains(":1.5.1 #"),
        "a suspended automation ran: {}\n{}",
        world.deployed(),
        log()
    );
    let refused = cluster.flux(&["reconcile", "image", "update", "apps", "-n", "shop"]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("✗ resource is suspended"),
        "{}",
        refused.stderr
    );
    let updates = table(&cluster.flux(&["get", "images", "update", "-n", "shop"]));
    assert_eq!(
        [&updates[1][..1], &updates[1][2..5]].concat(),
        ["apps", "True", "False", "suspended: not run"],
        "{updates:?}"
    );
    assert!(
        world.deployed().contains(":1.5.1 #"),
        "{}",
        world.deployed()
    );

    let progress = ok(cluster.flux(&["resume", "image", "update", "apps", "-n", "shop"]));
    assert!(
        progress.contains("✔ ImageUpdateAutomation apps reconciliation completed"),
        "{progress}"
    );
    assert!(
        world.deployed().contains(":1.6.0 #"),
        "{}",
        world.deployed()
    );
    controller.assert_running();
}
