//! `tagpilot controller --flux-compat`: the same reconciliation over objects in
//! Flux's API groups (`image.toolkit.fluxcd.io`, `source.toolkit.fluxcd.io`),
//! for clusters migrating off Flux's image controllers.
//!
//! Flux's own CRDs are not vendored into this repository; the tests install
//! tagpilot's CRDs for Flux's groups (`crds/flux/`: `v1beta1`, `v1beta2` and
//! `v1`, stored as `v1`), generated from the same hub types as the loader.

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;

/// The Flux-group CRDs of `crds/flux/`, applied and Established.
pub fn install_flux_crds(cluster: &Cluster) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/flux");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let crd: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        names.push(format!("crd/{}", crd["metadata"]["name"].as_str().unwrap()));
        cluster.apply(&text);
    }
    let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    args.extend(names.iter().map(String::as_str));
    cluster.kubectl(&args);
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
