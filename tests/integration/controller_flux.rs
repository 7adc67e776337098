//! `tagpilot controller --flux-compat`: the same reconciliation over objects in
//! Flux's API groups (`image.toolkit.fluxcd.io/v1`, `source.toolkit.fluxcd.io/v1`),
//! for clusters migrating off Flux's image controllers (watching one namespace).
//!
//! Flux's own CRDs are not vendored into this repository; the test serves our
//! schemas (Flux's field names) under Flux's groups and versions, which is
//! what the controller's watches and status writes depend on.

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;

/// `tagpilot crds`, moved to Flux's groups and `v1`.
fn flux_group_crds() -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tagpilot"))
        .arg("crds")
        .output()
        .unwrap();
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&String::from_utf8(output.stdout).unwrap()).unwrap();
    let items: Vec<serde_json::Value> = documents
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|mut crd| {
            let group = if crd["spec"]["names"]["kind"] == "GitRepository" {
                "source.toolkit.fluxcd.io"
            } else {
                "image.toolkit.fluxcd.io"
            };
            let plural = crd["spec"]["names"]["plural"].as_str().unwrap().to_string();
            crd["metadata"]["name"] = format!("{plural}.{group}").into();
            crd["spec"]["group"] = group.into();
            crd["spec"]["versions"][0]["name"] = "v1".into();
            crd
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// Our objects with Flux's apiVersions.
fn as_flux(objects: &str) -> String {
    objects
        .split("---\n")
        .map(|document| {
            let api = if document.contains("\nkind: GitRepository\n") {
                "source.toolkit.fluxcd.io/v1"
            } else {
                "image.toolkit.fluxcd.io/v1"
            };
            document.replace("tagpilot.dev/v1alpha1", api)
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn flux_compat_reconciles_objects_in_fluxs_api_groups() {
    let cluster = Cluster::start();
    cluster.apply(&flux_group_crds());
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/imagerepositories.image.toolkit.fluxcd.io",
        "crd/imagepolicies.image.toolkit.fluxcd.io",
        "crd/gitrepositories.source.toolkit.fluxcd.io",
        "crd/imageupdateautomations.image.toolkit.fluxcd.io",
    ]);
    let world = World::new(&["1.0.0", "1.4.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&as_flux(&shop_objects(
        &world,
        &server.url(&world.bare),
        "^1\\.",
    )));
    let controller = cluster.spawn_controller(
        "flux",
        cluster.kubeconfig(),
        &["--flux-compat", "--namespace", "shop"],
    );
    let log = || controller.log_text();
    let policy = cluster.wait_for_object(
        "the Flux-group policy's latestRef",
        "imagepolicies.image.toolkit.fluxcd.io",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.4.0" && is_ready(o),
        log,
    );
    assert_eq!(policy["apiVersion"], "image.toolkit.fluxcd.io/v1");
    let automation = cluster.wait_for_object(
        "the Flux-group automation's push",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    assert!(
        world.deployed().contains(":1.4.0 #"),
        "{}",
        world.deployed()
    );
    let source = cluster
        .get_json("gitrepositories.source.toolkit.fluxcd.io", "shop", "config")
        .unwrap();
    assert!(is_ready(&source), "{source:#}");
    controller.assert_running();
}
