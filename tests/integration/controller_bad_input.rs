//! Bad input in controller mode, against the real API server: specs the CRD
//! schema accepts but tagpilot cannot run (a bad regex, a bad semver range,
//! `update.path: ../..`) stall naming the field while the valid objects next
//! to them still reconcile; Secrets with garbage content (not a key, not a
//! Docker config) get a status message that names them and never echoes them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::controller::is_ready;
use crate::controller_secrets::{
    assert_no_secret, automation, everything_a_user_can_read, forms, git_repository, image_policy,
    image_repository, is_stalled, key_forms, ready_message, ready_reason, yaml_object,
};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_fixtures::ssh_keypair;
use crate::harness::git_server::SshGitServer;
use crate::harness::tagpilot::deployment;

const GARBAGE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nR2FyYmFnZS1LZXktTWF0ZXJpYWwtUzNjcjN0LTFhMmIzYw==\n-----END OPENSSH PRIVATE KEY-----\n";
const GARBAGE_TEXT: &str = "Garbage-Identity-S3cr3t-5d6e";
const GARBAGE_DOCKER: &str = "Garbage-Docker-S3cr3t-7f8a";
const GARBAGE_AUTH: &str = "Garbage!!Auth-S3cr3t-9b0c";
const GARBAGE_OPAQUE: &str = "Garbage-Opaque-S3cr3t-1d2e";
const GARBAGE_SIGNING: &str = "Garbage-Signing-S3cr3t-3f4a";
const RIGHT_PASSPHRASE: &str = "Right-Passphrase-S3cr3t-5b6c";
const WRONG_PASSPHRASE: &str = "Wrong-Passphrase-S3cr3t-7d8e";

#[test]
fn controller_bad_input_stalls_naming_the_field_and_garbage_secrets_are_named_not_echoed() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.1.0"]);
    let ssh = SshGitServer::start();
    cluster.namespace("shop");
    let missing_repo = ssh.url(&world.repos.root().join("nowhere.git"));
    let (encrypted_key, _) = ssh_keypair(cluster.dir(), "encrypted", RIGHT_PASSPHRASE);
    let docker = |auths: serde_json::Value| {
        serde_json::json!({ "auths": { world.registry.host.clone(): auths } }).to_string()
    };
    for (name, kind, data) in [
        (
            "garbage-key",
            "Opaque",
            vec![("identity", GARBAGE_KEY.to_string())],
        ),
        (
            "garbage-text",
            "Opaque",
            vec![("identity", GARBAGE_TEXT.to_string())],
        ),
        (
            "garbage-docker",
            "kubernetes.io/dockerconfigjson",
            vec![(".dockerconfigjson", docker(GARBAGE_DOCKER.into()))],
        ),
        (
            "garbage-auth",
            "kubernetes.io/dockerconfigjson",
            vec![(
                ".dockerconfigjson",
                docker(serde_json::json!({ "auth": GARBAGE_AUTH })),
            )],
        ),
        (
            "garbage-opaque",
            "Opaque",
            vec![("token", GARBAGE_OPAQUE.to_string())],
        ),
        (
            "garbage-signing",
            "Opaque",
            vec![("identity", GARBAGE_SIGNING.to_string())],
        ),
        (
            "wrong-passphrase",
            "Opaque",
            vec![
                ("identity", std::fs::read_to_string(&encrypted_key).unwrap()),
                ("password", WRONG_PASSPHRASE.to_string()),
            ],
        ),
    ] {
        let mut secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": "shop"}, "data": {}
        });
        for (key, value) in data {
            secret["data"][key] = STANDARD.encode(value).into();
        }
        if name.ends_with("key") || name.ends_with("text") {
            let known_hosts = std::fs::read_to_string(&ssh.known_hosts_path).unwrap();
            secret["data"]["known_hosts"] = STANDARD.encode(known_hosts).into();
        }
        cluster.apply(&secret.to_string());
    }
    let file_url = format!("file://{}", world.bare.display());
    // A second copy of the config for the signing cases: a signing key is only
    // read when there is something to commit.
    let to_sign = world.repos.create(
        "to-sign",
        &[(
            "apps/api.yaml",
            &deployment("api", &format!("{}:1.0.0", world.image), "api"),
        )],
    );
    cluster.apply(
        &[
            image_repository("api", &world.image, None),
            image_policy("api", ""),
            yaml_object(
                "ImagePolicy",
                "bad-regex",
                "  imageRepositoryRef:\n    name: api\n  filterTags:\n    pattern: '^1\\.(('\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
            ),
            yaml_object(
                "ImagePolicy",
                "bad-range",
                "  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=banana'\n",
            ),
            git_repository("config", &file_url, None),
            git_repository("to-sign", &format!("file://{}", to_sign.display()), None),
            automation("apps", "config", "./apps", None),
            automation("escape", "config", "../..", None),
            git_repository("garbage-key", &missing_repo, Some("garbage-key")),
            git_repository("garbage-text", &missing_repo, Some("garbage-text")),
            automation("garbage-key", "garbage-key", "./apps", None),
            automation("garbage-text", "garbage-text", "./apps", None),
            automation("garbage-signing", "to-sign", "./apps", Some("garbage-signing")),
            automation("wrong-passphrase", "to-sign", "./apps", Some("wrong-passphrase")),
            image_repository("garbage-docker", &world.image, Some("garbage-docker")),
            image_repository("garbage-auth", &world.image, Some("garbage-auth")),
            image_repository("garbage-opaque", &world.image, Some("garbage-opaque")),
        ]
        .concat(),
    );
    let controller =
        cluster.spawn_controller("bad-input", cluster.kubeconfig(), &["--log-level", "trace"]);
    let log = || controller.log_text();

    // Specs the schema accepts and tagpilot cannot run: Stalled, the field named.
    for (kind, name, field) in [
        ("imagepolicy", "bad-regex", "spec.filterTags.pattern"),
        ("imagepolicy", "bad-range", "spec.policy.semver.range"),
        ("imageupdateautomation", "escape", "spec.update.path"),
    ] {
        let stalled = cluster.wait_for_object(
            &format!("{kind} {name} to stall"),
            kind,
            "shop",
            name,
            is_stalled,
            log,
        );
        let message = ready_message(&stalled);
        eprintln!("{kind} {name}: {message}");
        assert!(message.contains(field), "{kind} {name}: {message}");
        assert_eq!(ready_reason(&stalled), "False/InvalidSpec", "{stalled:#}");
    }
    // ...and the valid objects next to them still run.
    cluster.wait_for_object(
        "the valid automation to push",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(world.commit_count(), 2, "one commit, nothing from `escape`");

    // Garbage in a Secret: a message that names the Secret (or its key), never its content.
    for (kind, name, named) in [
        ("imageupdateautomation", "garbage-key", "identity"),
        ("imageupdateautomation", "garbage-text", "identity"),
        ("imagerepository", "garbage-docker", "shop/garbage-docker"),
        ("imagerepository", "garbage-auth", "shop/garbage-auth"),
        ("imagerepository", "garbage-opaque", "shop/garbage-opaque"),
        (
            "imageupdateautomation",
            "garbage-signing",
            "Secret shop/garbage-signing",
        ),
        (
            "imageupdateautomation",
            "wrong-passphrase",
            "Secret shop/wrong-passphrase",
        ),
    ] {
        let failed = cluster.wait_for_object(
            &format!("{kind} {name} to report its Secret"),
            kind,
            "shop",
            name,
            |o| ready_reason(o).starts_with("False/"),
            log,
        );
        let message = ready_message(&failed);
        eprintln!("{kind} {name}: {} {message}", ready_reason(&failed));
        assert!(message.contains(named), "{kind} {name}: {message}");
    }
    assert_eq!(
        crate::harness::git_fixtures::git_in(&to_sign, &["rev-list", "--count", "main"]).trim(),
        "1",
        "nothing unsigned was pushed"
    );
    controller.assert_running();

    let mut garbage: Vec<(String, String)> = Vec::new();
    for (what, value) in [
        (
            "the garbage key's body",
            GARBAGE_KEY.lines().nth(1).unwrap(),
        ),
        ("the garbage identity", GARBAGE_TEXT),
        ("the garbage docker config", GARBAGE_DOCKER),
        ("the garbage auth", GARBAGE_AUTH),
        ("the garbage opaque value", GARBAGE_OPAQUE),
        ("the garbage signing key", GARBAGE_SIGNING),
        ("the right passphrase", RIGHT_PASSPHRASE),
        ("the wrong passphrase", WRONG_PASSPHRASE),
    ] {
        garbage.extend(forms(what, "", value));
    }
    garbage.extend(key_forms("the encrypted signing key", &encrypted_key));
    assert_no_secret("the controller's log", &log(), &garbage);
    for (place, text) in everything_a_user_can_read(&cluster) {
        assert_no_secret(&place, &text, &garbage);
    }
}
