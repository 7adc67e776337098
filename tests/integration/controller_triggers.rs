//! What makes the controller act besides intervals: a registry webhook (the
//! same endpoint as standalone mode), the `reconcile.tagpilot.dev/requestedAt`
//! annotation, and spec changes; and `--watch-label-selector`, which limits a
//! controller to its shard of the objects. A suspended object is left alone.

use reqwest::blocking::Client;

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::engine::World;
use crate::engine_webhook::{WEBHOOK_TOKEN, notifications};
use crate::harness::cluster::Cluster;
use crate::harness::git_fixtures::push_other_commit;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::process::{free_port, write};
use crate::harness::registry::{AuthMode, Distribution, Registry, RegistryOptions};
use crate::harness::tagpilot::{DEPLOY_FILE, deployment, wait_for};

#[test]
fn webhooks_and_requested_reconciles_act_at_once_on_the_controllers_shard_only() {
    let cluster = Cluster::start();
    let port = free_port();
    let registry = Registry::start_with(
        Distribution::V2,
        AuthMode::Anonymous,
        RegistryOptions {
            extra_config: notifications(port, WEBHOOK_TOKEN),
            ..RegistryOptions::default()
        },
    );
    let world = World::on(registry, &[("api", &["1.0.0", "1.1.0"])]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    // Shard `a`: every object labelled; one more repository outside the shard.
    let objects = shop_objects(&world, &server.url(&world.bare), "^1\\.").replace(
        "  namespace: shop\n",
        "  namespace: shop\n  labels:\n    shard: a\n",
    );
    cluster.apply(&objects);
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: other-shard\n  namespace: shop\n  labels:\n    shard: b\nspec:\n  image: {}\n  interval: 1m\n  insecure: true\n",
        world.image
    ));
    // In the shard, the same image, suspended: a push notification must not scan it.
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: held\n  namespace: shop\n  labels:\n    shard: a\nspec:\n  image: {}\n  interval: 1m\n  insecure: true\n  suspend: true\n",
        world.image
    ));
    let token_file = cluster.dir().join("webhook-token");
    write(&token_file, format!("{WEBHOOK_TOKEN}\n"));
    let listen = format!("127.0.0.1:{port}");
    let controller = cluster.spawn_controller(
        "shard-a",
        cluster.kubeconfig(),
        &[
            "--watch-label-selector",
            "shard=a",
            "--listen",
            &listen,
            "--webhook-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let log = || controller.log_text();
    let client = Client::new();
    let health = wait_for(
        "/healthz",
        || client.get(format!("http://{listen}/healthz")).send().ok(),
        log,
    );
    assert_eq!(health.status().as_u16(), 200);
    let deployed = |tag: &str| {
        wait_for(
            &format!("a commit with {tag}"),
            || {
                world
                    .deployed()
                    .contains(&format!(":{tag} #"))
                    .then_some(())
            },
            || format!("{}\n{}", world.deployed(), log()),
        )
    };
    deployed("1.1.0");
    assert_eq!(world.commit_count(), 2);

    // CI pushes; the registry notifies the controller; every interval is an hour away.
    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    deployed("1.2.0");
    assert_eq!(world.commit_count(), 3);
    cluster.wait_for_object(
        "the policy status to follow",
        "imagepolicy",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.2.0" && is_ready(o),
        log,
    );

    let held = cluster.get_json("imagerepository", "shop", "held").unwrap();
    assert!(
        held["status"].get("lastScanResult").is_none()
            && held["status"]["conditions"][0]["reason"] == "Suspended",
        "the suspended repository was scanned: {held:#}\n{}",
        log()
    );

    // Another writer moves the marker back; asking for a reconcile restores it now.
    push_other_commit(
        &world.bare,
        "main",
        DEPLOY_FILE,
        &deployment("api", &format!("{}:1.0.0", world.image), "api"),
    );
    assert_eq!(world.commit_count(), 4);
    cluster.request_reconcile(
        "imageupdateautomation",
        "shop",
        "apps",
        "2026-11-22T02:00:00Z",
    );
    deployed("1.2.0");
    assert_eq!(world.commit_count(), 5);

    // The other shard's object was never touched.
    let other = cluster
        .get_json("imagerepository", "shop", "other-shard")
        .unwrap();
    assert!(other.get("status").is_none(), "{other:#}");
    controller.assert_running();
}
