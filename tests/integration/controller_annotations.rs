//! Strategy `Annotations` in controller mode (real kube-apiserver, token
//! registry, ssh git server): the automation's credentials come from a
//! `kubernetes.io/dockerconfigjson` Secret named in `update.registries`; each
//! build is committed, the automation's status and events say so, and a
//! container that cannot be decided turns Ready false naming it. Flux's
//! versions refuse the strategy at the API server.

use crate::annotations_engine::{Walkthrough, workload};
use crate::controller::{git_ssh_secret, is_ready, ready_condition};
use crate::harness::cluster::Cluster;
use crate::harness::git_fixtures::push_other_commit;
use crate::harness::registry::{PASSWORD, USER};

fn objects(world: &Walkthrough) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1
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
  name: hello
  namespace: shop
spec:
  interval: 1h
  sourceRef:
    name: config
  git:
    commit:
      author:
        email: bot@tagpilot.example
  update:
    strategy: Annotations
    path: ./apps
    registries:
      - host: {host}
        secretRef:
          name: gitlab-registry
        insecure: true
        interval: 1s
",
        url = world.ssh.url(&world.bare),
        host = world.registry.host,
    )
}

#[test]
fn the_controller_commits_each_build_and_reports_it_on_the_automation() {
    let cluster = Cluster::start();
    let mut world = Walkthrough::start(String::new());
    let host = world.registry.host.clone();
    world.ci_build("1a2b3c4");
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &world.ssh);
    cluster.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "gitlab-registry",
        "-n",
        "shop",
        &format!("--docker-server={host}"),
        &format!("--docker-username={USER}"),
        &format!("--docker-password={PASSWORD}"),
    ]);
    cluster.apply(&objects(&world));
    let controller = cluster.spawn_controller("controller", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let automation = cluster.wait_for_object(
        "the first build's commit",
        "imageupdateautomation",
        "shop",
        "hello",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );
    assert_eq!(world.deployed(), workload(&host, "1a2b3c4", false));
    assert_eq!(
        automation["status"]["lastPushCommit"].as_str().unwrap(),
        crate::harness::git_fixtures::git_in(&world.bare, &["rev-parse", "main"]).trim()
    );

    // The next build: the registry host's interval is a second.
    world.ci_build("5d6e7f8");
    crate::harness::tagpilot::wait_for(
        "the second build's commit",
        || {
            controller.assert_running();
            (world.deployed() == workload(&host, "5d6e7f8", false)).then_some(())
        },
        log,
    );
    cluster.wait_for_events("shop", &[], &["Pushed"]);

    // A workload whose filter is invalid: Ready turns false and names it.
    let broken = workload(&host, "master", false)
        .replace("name: hello\n  annotations", "name: broken\n  annotations")
        .replace("regexp:^((?!tmp).)*$", "semver:not a range");
    push_other_commit(&world.bare, "main", "apps/broken.yaml", &broken);
    let automation = cluster.wait_for_object(
        "Ready false for the broken workload",
        "imageupdateautomation",
        "shop",
        "hello",
        |o| ready_condition(o).is_some_and(|c| c["status"] == "False"),
        log,
    );
    let ready = ready_condition(&automation).unwrap();
    assert_eq!(ready["reason"], "NoResult", "{ready}");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("deployment/broken:hello") && message.contains("not a range"),
        "{message}"
    );
    let text = serde_json::to_string(&automation).unwrap() + &controller.log_text();
    assert!(!text.contains(PASSWORD), "the registry password leaked");

    // Flux's versions keep Setters only: the API server refuses Annotations.
    crate::controller_flux::install_flux_crds(&cluster);
    let flux = objects(&world)
        .split("---\n")
        .nth(1)
        .unwrap()
        .replace("tagpilot.dev/v1alpha1", "image.toolkit.fluxcd.io/v1")
        .replace("name: hello\n", "name: flux\n");
    let without_registries = flux.split("    registries:").next().unwrap().to_string();
    let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&without_registries));
    assert!(!ok, "the API server accepted:\n{without_registries}");
    assert!(
        stderr.contains("spec.update.strategy") && stderr.contains("\"Setters\""),
        "{stderr}"
    );
    // Nor has a Flux version the registries.
    let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&flux));
    assert!(!ok, "the API server accepted:\n{flux}");
    assert!(stderr.contains("spec.update.registries"), "{stderr}");
}
