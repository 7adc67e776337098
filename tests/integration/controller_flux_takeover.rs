//! Replacing Flux's image controllers (README "Replacing Flux's image
//! controllers"), step by step on a real API server with Flux's own CRDs:
//! objects that Flux has been reconciling (their status holds `latestRef`,
//! `observedPreviousRef`, `lastPushCommit`; the repository holds the tag Flux
//! committed); Flux's controllers' Leases. While a Lease is held tagpilot
//! refuses to start; once Flux's controllers are scaled down (their Leases
//! released, as they release them on a clean stop) it takes over without a
//! commit and without announcing known results again, and Alerts keep working:
//! every event reaches a notification-controller endpoint (a local server
//! that checks each payload against Flux's event format) with `--events-addr`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::controller_flux::{as_flux, install_flux_crds};
use crate::controller_rbac::service_account_kubeconfig;
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_fixtures::push_other_commit;
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::tagpilot::{DEPLOY_FILE, deployment, wait_for};

/// A stand-in for notification-controller's event endpoint: records each
/// POSTed event, answers the very first with 500 (the sender must retry),
/// then 202 as notification-controller does.
struct EventsServer {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
}

impl EventsServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorded = events.clone();
        std::thread::spawn(move || {
            let mut first = true;
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut length = 0;
                let mut content_type = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue; // A connection closed before any request.
                }
                assert!(line.starts_with("POST / HTTP/1.1"), "{line}");
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    if let Some(value) = lower.strip_prefix("content-type:") {
                        content_type = value.trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let status = if first {
                    "500 Internal Server Error"
                } else {
                    "202 Accepted"
                };
                if !first {
                    assert_eq!(content_type, "application/json");
                    recorded
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                }
                first = false;
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, events }
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }
}

/// Checks one payload against Flux's `event/v1beta1.Event` (every field, its
/// type, nothing else); returns it.
fn flux_event(event: &Value) -> &Value {
    let object = event.as_object().unwrap();
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut allowed = vec![
        "involvedObject",
        "message",
        "metadata",
        "reason",
        "reportingController",
        "reportingInstance",
        "severity",
        "timestamp",
    ];
    if !object.contains_key("metadata") {
        allowed.retain(|f| *f != "metadata");
    }
    assert_eq!(fields, allowed, "{event:#}");
    let involved = &event["involvedObject"];
    for field in ["kind", "namespace", "name", "uid", "apiVersion"] {
        assert!(involved[field].is_string(), "{field}: {event:#}");
    }
    assert!(["info", "error"].contains(&event["severity"].as_str().unwrap()));
    let timestamp = event["timestamp"].as_str().unwrap();
    assert!(timestamp.parse::<jiff::Timestamp>().is_ok() && timestamp.ends_with('Z'));
    assert!(!event["message"].as_str().unwrap().is_empty());
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert_eq!(event["reportingController"], "tagpilot");
    assert!(event["reportingInstance"].is_string());
    if let Some(metadata) = event["metadata"].as_object() {
        let group = involved["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .0;
        for (key, value) in metadata {
            assert!(
                key.starts_with(&format!("{group}/"))
                    || key.starts_with("event.toolkit.fluxcd.io/"),
                "{key}: {event:#}"
            );
            assert!(value.is_string());
        }
    }
    event
}

/// Flux's status of the objects, as its controllers left it, and their Leases.
fn flux_was_here(cluster: &Cluster, world: &World, pushed: &str) {
    let patch = |resource: &str, name: &str, manager: &str, status: Value| {
        cluster.kubectl(&[
            "patch",
            resource,
            name,
            "-n",
            "shop",
            "--subresource=status",
            "--type=merge",
            &format!("--field-manager={manager}"),
            "-p",
            &serde_json::json!({ "status": status }).to_string(),
        ]);
    };
    let ready = |message: &str| {
        serde_json::json!([{"type": "Ready", "status": "True", "reason": "Succeeded",
            "message": message, "observedGeneration": 1, "lastTransitionTime": "2026-11-29T10:00:00Z"}])
    };
    patch(
        "imagerepositories.image.toolkit.fluxcd.io",
        "api",
        "image-reflector-controller",
        serde_json::json!({"observedGeneration": 1, "canonicalImageName": world.image,
            "lastScanResult": {"tagCount": 2, "scanTime": "2026-11-29T10:00:00Z", "latestTags": ["1.4.0", "1.0.0"]},
            "conditions": ready("successful scan: found 2 tags")}),
    );
    patch(
        "imagepolicies.image.toolkit.fluxcd.io",
        "api",
        "image-reflector-controller",
        serde_json::json!({"observedGeneration": 1,
            "latestRef": {"name": world.image, "tag": "1.4.0"},
            "observedPreviousRef": {"name": world.image, "tag": "1.0.0"},
            "conditions": ready(&format!("Latest image tag for {} resolved to 1.4.0", world.image))}),
    );
    patch(
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "apps",
        "image-automation-controller",
        serde_json::json!({"observedGeneration": 1, "lastPushCommit": pushed,
            "lastPushTime": "2026-11-29T10:00:05Z", "lastAutomationRunTime": "2026-11-29T10:00:05Z",
            "conditions": ready("repository up to date")}),
    );
    let now = jiff::Timestamp::now();
    for controller in ["image-reflector-controller", "image-automation-controller"] {
        cluster.apply(&format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {controller}-leader-election\n  namespace: flux-system\nspec:\n  holderIdentity: {controller}-6c7d9f8b5-x2k4q_0b1f\n  leaseDurationSeconds: 35\n  acquireTime: \"{now:.6}\"\n  renewTime: \"{now:.6}\"\n"
        ));
    }
}

#[test]
fn tagpilot_takes_over_from_flux_without_a_commit_and_alerts_keep_working() {
    let cluster = Cluster::start();
    install_flux_crds(&cluster);
    let world = World::new(&["1.0.0", "1.4.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    cluster.namespace("flux-system");
    git_ssh_secret(&cluster, &server);
    // What Flux's image-automation-controller committed and pushed last.
    let pushed = push_other_commit(
        &world.bare,
        "main",
        DEPLOY_FILE,
        &deployment("api", &format!("{}:1.4.0", world.image), "api"),
    );
    let commits = world.commit_count();
    cluster.apply(&as_flux(&shop_objects(
        &world,
        &server.url(&world.bare),
        "^1\\.",
    )));
    flux_was_here(&cluster, &world, &pushed);
    // tagpilot installed as the README says (`kubectl apply -k deploy/flux-compat`),
    // and run as its ServiceAccount with the Deployment's flags.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/flux-compat");
    cluster.kubectl(&["apply", "-k", deploy.to_str().unwrap()]);
    let kubeconfig = service_account_kubeconfig(&cluster, "tagpilot-system", "tagpilot");
    let alerts = EventsServer::start();
    let args = [
        "--flux-compat",
        "--events-addr",
        &alerts.url,
        "--receivers",
        "--leader-elect",
        "--lease-namespace",
        "tagpilot-system",
    ];

    // Step 0: Flux's controllers still run. tagpilot refuses, and says what to do.
    let refused = cluster.spawn_controller("too-early", &kubeconfig, &args);
    assert_eq!(refused.wait_for_exit(), Some(1));
    let log = refused.log_text();
    for expected in [
        "Flux's image controllers are still running: Lease image-automation-controller-leader-election is held by image-automation-controller-6c7d9f8b5-x2k4q_0b1f until",
        "kubectl -n flux-system scale deployment image-reflector-controller image-automation-controller --replicas=0",
        "--ignore-flux-leases",
    ] {
        assert!(log.contains(expected), "{expected}\n{log}");
    }

    // Step 1: `kubectl -n flux-system scale deployment ... --replicas=0`; Flux's
    // controllers release their Leases as they stop.
    for controller in ["image-reflector-controller", "image-automation-controller"] {
        cluster.kubectl(&[
            "patch",
            "lease",
            &format!("{controller}-leader-election"),
            "-n",
            "flux-system",
            "--type=merge",
            "-p",
            r#"{"spec":{"holderIdentity":"","leaseDurationSeconds":1}}"#,
        ]);
    }

    // Step 2: tagpilot takes over.
    let controller = cluster.spawn_controller("takeover", &kubeconfig, &args);
    let log = || controller.log_text();
    let automation = cluster.wait_for_object(
        "tagpilot's first run of the automation",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "shop",
        "apps",
        |o| is_ready(o) && o["status"]["lastAutomationRunTime"] != "2026-11-29T10:00:05Z",
        log,
    );
    // Nothing committed: the repository already holds what the policy says.
    assert_eq!(world.commit_count(), commits, "{}", log());
    assert_eq!(automation["status"]["lastPushCommit"], pushed.as_str());
    assert_eq!(automation["status"]["lastPushTime"], "2026-11-29T10:00:05Z");
    let policy = cluster.wait_for_object(
        "tagpilot's policy status",
        "imagepolicies.image.toolkit.fluxcd.io",
        "shop",
        "api",
        |o| is_ready(o) && o["status"]["conditions"][0]["reason"] == "Succeeded",
        log,
    );
    assert_eq!(policy["status"]["latestRef"]["tag"], "1.4.0");
    assert_eq!(policy["status"]["observedPreviousRef"]["tag"], "1.0.0");

    // Step 3: it acts. CI pushes 1.5.0; the scan at the interval is an hour
    // away, so ask for it the Flux way (what `flux reconcile image repository` does).
    ImagePusher::new(&world.registry, "shop/api").push("1.5.0");
    cluster.kubectl(&[
        "annotate",
        "--overwrite",
        "imagerepositories.image.toolkit.fluxcd.io",
        "api",
        "-n",
        "shop",
        "reconcile.fluxcd.io/requestedAt=2026-11-30T10:00:00Z",
    ]);
    wait_for(
        "tagpilot's commit of 1.5.0",
        || world.deployed().contains(":1.5.0 #").then_some(()),
        || format!("{}\n{}", world.deployed(), log()),
    );
    assert_eq!(world.commit_count(), commits + 1);
    // Events are posted in the order they happen: by the push's, the known
    // result (1.4.0) would have been announced too, had it been.
    let events = cluster.wait_for_events("shop", &[], &["Pushed"]);
    assert_eq!(
        events
            .lines()
            .filter(|line| line.contains("NewLatestImage"))
            .count(),
        1,
        "only 1.5.0 is announced, not the known 1.4.0 again:\n{events}"
    );

    // Every event reached the Alerts endpoint in Flux's format (the first
    // POST was answered 500 and retried).
    let uid = |resource: &str, name: &str| {
        cluster.get_json(resource, "shop", name).unwrap()["metadata"]["uid"].clone()
    };
    let received = wait_for(
        "the Pushed event at the Alerts endpoint",
        || {
            let events = alerts.events();
            events
                .iter()
                .any(|e| e["reason"] == "Pushed")
                .then_some(events)
        },
        || format!("{:#?}\n{}", alerts.events(), log()),
    );
    for event in &received {
        flux_event(event);
        assert_eq!(event["involvedObject"]["namespace"], "shop");
    }
    let find = |reason: &str| {
        received
            .iter()
            .find(|e| e["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} event in {received:#?}"))
    };
    // The first scan after the takeover reports 2 tags, the requested one 3.
    let new_tags = received
        .iter()
        .find(|e| e["reason"] == "NewTags" && e["message"] == "scan found 3 tags")
        .unwrap_or_else(|| panic!("no NewTags event for 3 tags in {received:#?}"));
    assert_eq!(new_tags["involvedObject"]["kind"], "ImageRepository");
    assert_eq!(
        new_tags["involvedObject"]["uid"],
        uid("imagerepositories.image.toolkit.fluxcd.io", "api")
    );
    let latest = find("NewLatestImage");
    assert_eq!(
        latest["involvedObject"]["apiVersion"],
        "image.toolkit.fluxcd.io/v1"
    );
    assert_eq!(
        latest["message"],
        format!(
            "latest image changed from {0}:1.4.0 to {0}:1.5.0",
            world.image
        )
    );
    assert_eq!(
        latest["metadata"]["image.toolkit.fluxcd.io/revision"],
        format!("{}:1.5.0", world.image)
    );
    let pushed_event = find("Pushed");
    assert_eq!(pushed_event["severity"], "info");
    assert_eq!(
        pushed_event["involvedObject"]["kind"],
        "ImageUpdateAutomation"
    );
    assert_eq!(
        pushed_event["involvedObject"]["uid"],
        uid("imageupdateautomations.image.toolkit.fluxcd.io", "apps")
    );
    let head = world.head();
    assert_eq!(
        pushed_event["metadata"]["image.toolkit.fluxcd.io/commit"],
        head.as_str()
    );
    assert_eq!(
        pushed_event["metadata"]["image.toolkit.fluxcd.io/revision"],
        format!("main@sha1:{head}")
    );
    assert_eq!(
        received
            .iter()
            .filter(|e| e["reason"] == "NewLatestImage")
            .count(),
        1,
        "the takeover announced nothing: {received:#?}"
    );

    // A failure is an error-severity event (what error Alerts select), with
    // the object's event.toolkit.fluxcd.io annotations, as Flux sends them.
    cluster.kubectl(&[
        "annotate",
        "imagepolicies.image.toolkit.fluxcd.io",
        "api",
        "-n",
        "shop",
        "event.toolkit.fluxcd.io/team=payments",
    ]);
    cluster.kubectl(&[
        "patch",
        "imagepolicies.image.toolkit.fluxcd.io",
        "api",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"spec":{"filterTags":{"pattern":"^1\\.(("}}}"#,
    ]);
    let invalid = wait_for(
        "the InvalidSpec event at the Alerts endpoint",
        || {
            alerts
                .events()
                .into_iter()
                .find(|e| e["reason"] == "InvalidSpec")
        },
        || format!("{:#?}\n{}", alerts.events(), log()),
    );
    flux_event(&invalid);
    assert_eq!(invalid["severity"], "error");
    assert_eq!(
        invalid["metadata"]["event.toolkit.fluxcd.io/team"],
        "payments"
    );
    controller.assert_running();
}
