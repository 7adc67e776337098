//! Flux commit message templates in controller mode (`--flux-compat`): the
//! API server stores Flux objects as `v1`, and the version a user wrote
//! (kept in `managedFields`) decides the template data, so the walkthrough's
//! `v1beta1` automation keeps `.Updated`. A template that does not parse
//! stalls its object; one that fails to render fails the run (not Stalled:
//! it depends on the change) and commits nothing.

use crate::controller::is_ready;
use crate::controller_flux::install_flux_crds;
use crate::controller_secrets::{is_stalled, ready_message};
use crate::harness::cluster::Cluster;
use crate::harness::flux::install_multi_version_flux_crds;
use crate::harness::git_server::{HttpGitServer, SshGitServer};
use crate::templates_flux::{Walkthrough, raw_message, v1_objects, walkthrough_objects};

const AUTOMATIONS: &str = "imageupdateautomations.image.toolkit.fluxcd.io";

#[test]
fn a_v1beta1_automation_applied_to_the_cluster_keeps_its_updated_images_template() {
    let cluster = Cluster::start();
    // Flux 2.9's CRDs serve v1 only: this is a cluster of an older Flux, where
    // the walkthrough's v1beta1 objects were written.
    install_multi_version_flux_crds(&cluster);
    let world = Walkthrough::new();
    let server = SshGitServer::start();
    cluster.namespace("flux-system");
    cluster.apply(&walkthrough_objects(
        &server.url(&world.bare),
        &std::fs::read(&server.identity_path).unwrap(),
        &std::fs::read(&server.known_hosts_path).unwrap(),
        "{{range .Updated.Images}}{{println .}}{{end}}",
    ));
    let controller = cluster.spawn_controller(
        "walkthrough",
        cluster.kubeconfig(),
        &[
            "--flux-compat",
            "--namespace",
            "flux-system",
            "--registry-endpoint",
            &world.endpoint(),
        ],
    );
    let automation = cluster.wait_for_object(
        "the walkthrough automation's push",
        AUTOMATIONS,
        "flux-system",
        "flux-system",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        || controller.log_text(),
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    assert_eq!(
        raw_message(&world.bare, "main"),
        "registry.example.com/team/app:main-89abcde-10\nregistry.example.com/team/worker:main-7777777-7\n"
    );
    controller.assert_running();
}

#[test]
fn templates_that_do_not_parse_stall_and_templates_that_fail_commit_nothing() {
    let cluster = Cluster::start();
    install_flux_crds(&cluster);
    let world = Walkthrough::new();
    let server = HttpGitServer::start(&world.repos);
    cluster.namespace("flux-system");
    let url = server.url(&world.bare);
    // `shop` uses `.Updated`, which v1 removed; `handlebars` does not parse as Go.
    let objects = v1_objects(&url, "{{range .Updated.Images}}{{println .}}{{end}}", &[]);
    let handlebars = v1_objects(&url, "{{#each changes}}{{old}}{{/each}}", &[]);
    let handlebars = handlebars
        .split("---\n")
        .find(|document| document.contains("kind: ImageUpdateAutomation"))
        .unwrap()
        .replace("name: shop\n", "name: handlebars\n");
    cluster.apply(&format!("{objects}---\n{handlebars}"));
    let head = world.head();
    let controller = cluster.spawn_controller(
        "templates",
        cluster.kubeconfig(),
        &[
            "--flux-compat",
            "--namespace",
            "flux-system",
            "--registry-endpoint",
            &world.endpoint(),
        ],
    );
    let stalled = cluster.wait_for_object(
        "the Handlebars automation stalled",
        AUTOMATIONS,
        "flux-system",
        "handlebars",
        is_stalled,
        || controller.log_text(),
    );
    assert!(
        ready_message(&stalled).contains(
            "spec.git.commit.messageTemplate: unable to create commit message template from spec"
        ),
        "{stalled:#}"
    );
    let failed = cluster.wait_for_object(
        "the .Updated automation failed",
        AUTOMATIONS,
        "flux-system",
        "shop",
        |o| ready_message(o).contains("removed '.Updated' field"),
        || controller.log_text(),
    );
    assert!(!is_stalled(&failed), "{failed:#}");
    assert!(
        ready_message(&failed).contains("Please use '.Changed' instead"),
        "{failed:#}"
    );
    assert!(
        controller.log_text().contains("flux-system/shop"),
        "the log names the object"
    );
    assert_eq!(world.head(), head, "nothing committed");
    controller.assert_running();
}
