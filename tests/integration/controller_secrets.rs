//! Invariant 7 in controller mode, against the real API server: a full cycle
//! with every kind of credential read from Kubernetes Secrets (registry basic
//! auth, a token-auth registry through a `kubernetes.io/dockerconfigjson`
//! Secret, git over ssh with an identity, git over http basic, an encrypted
//! SSH signing key, the webhook token) at `--log-level trace`, plus failures
//! (rejected registry credentials, rejected git credentials, a push the server
//! refuses); no secret value, nor its base64, reaches the log, `/metrics`, any
//! object's status, any Event, the state directory or any commit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::blocking::Client;

use crate::controller::{is_ready, ready_condition};
use crate::engine::files_under;
use crate::engine_webhook::notifications;
use crate::harness::cluster::Cluster;
use crate::harness::git_fixtures::{git_in, ssh_keypair};
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::process::{free_port, write};
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, RegistryOptions, USER};
use crate::harness::tagpilot::{AUTHOR_EMAIL, AUTHOR_NAME, deployment, wait_for};

const WEBHOOK_SECRET: &str = "wh-S3cret-Token-93ab1f";
const WRONG_REGISTRY_PASSWORD: &str = "Wr0ng-Registry-Pa55-e81";
const WRONG_GIT_PASSWORD: &str = "Wr0ng-Git-Pa55-4c2";
const SIGNING_PASSPHRASE: &str = "Signing-Passphrase-77d";
const WRONG_TOKEN_PASSWORD: &str = "Wr0ng-Token-Pa55-b3d";
const GIT_BEARER_TOKEN: &str = "Git-Bearer-T0ken-5e6f";

/// `status/reason` of the Ready condition.
pub fn ready_reason(object: &serde_json::Value) -> String {
    ready_condition(object)
        .map(|c| {
            format!(
                "{}/{}",
                c["status"].as_str().unwrap_or_default(),
                c["reason"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

pub fn ready_message(object: &serde_json::Value) -> String {
    ready_condition(object)
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn is_stalled(object: &serde_json::Value) -> bool {
    object["status"]["observedGeneration"] == object["metadata"]["generation"]
        && object["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Stalled" && c["status"] == "True")
        })
}

/// A secret value and the forms it may take on the way out: itself, base64,
/// and base64 of `user:value` (an HTTP basic `Authorization` value).
pub fn forms(what: &str, user: &str, value: &str) -> Vec<(String, String)> {
    vec![
        (what.to_string(), value.to_string()),
        (format!("{what} (base64)"), STANDARD.encode(value)),
        (
            format!("{what} (basic auth)"),
            STANDARD.encode(format!("{user}:{value}")),
        ),
    ]
}

/// A private key file's material: every base64 body line, and the file in base64 (a Secret's `data`).
pub fn key_forms(what: &str, path: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut forms: Vec<(String, String)> = text
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 20)
        .map(|line| (format!("a line of {what}"), line.to_string()))
        .collect();
    forms.push((format!("{what} (base64)"), STANDARD.encode(&text)));
    forms
}

/// Panics naming the place and the line where any secret shows up.
pub fn assert_no_secret(place: &str, text: &str, secrets: &[(String, String)]) {
    for (what, value) in secrets {
        if let Some(line) = text.lines().find(|line| line.contains(value.as_str())) {
            panic!("{what} is in {place}: {line}");
        }
    }
}

/// Every status, every Event (both APIs) of the cluster, as (place, JSON text).
pub fn everything_a_user_can_read(cluster: &Cluster) -> Vec<(String, String)> {
    let objects: serde_json::Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "imagerepositories,imagepolicies,gitrepositories,imageupdateautomations",
        "-A",
        "-o",
        "json",
    ]))
    .unwrap();
    let mut places = Vec::new();
    for object in objects["items"].as_array().unwrap() {
        places.push((
            format!(
                "the status of {} {}/{}",
                object["kind"].as_str().unwrap(),
                object["metadata"]["namespace"].as_str().unwrap(),
                object["metadata"]["name"].as_str().unwrap()
            ),
            serde_json::to_string_pretty(&object["status"]).unwrap(),
        ));
    }
    for (api, resource) in [
        ("core/v1", "events"),
        ("events.k8s.io/v1", "events.v1.events.k8s.io"),
    ] {
        // Events are posted in the background: read them once they settle
        // (the same count a second apart).
        let read = || {
            let events = cluster.kubectl(&["get", resource, "-A", "-o", "json"]);
            let parsed: serde_json::Value = serde_json::from_str(&events).unwrap();
            let count = parsed["items"].as_array().map_or(0, Vec::len);
            (events, parsed, count)
        };
        let mut before = read();
        let (events, parsed) = wait_for(
            &format!("the {api} events to settle"),
            || {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = read();
                let settled = now.2 == before.2;
                before = now.clone();
                settled.then_some((now.0, now.1))
            },
            String::new,
        );
        assert!(
            !parsed["items"].as_array().unwrap().is_empty(),
            "no {api} events"
        );
        places.push((format!("the {api} events"), events));
    }
    places
}

/// Every commit object (headers, signature, message, trailers) of a bare repository.
fn commits(bare: &std::path::Path) -> String {
    git_in(bare, &["rev-list", "--all"])
        .lines()
        .map(|rev| git_in(bare, &["cat-file", "commit", rev]))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn yaml_object(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n{spec}---\n"
    )
}

pub fn image_repository(name: &str, image: &str, secret: Option<&str>) -> String {
    let secret_ref = secret
        .map(|s| format!("  secretRef:\n    name: {s}\n"))
        .unwrap_or_default();
    yaml_object(
        "ImageRepository",
        name,
        &format!("  image: {image}\n  interval: 1h\n  insecure: true\n{secret_ref}"),
    )
}

pub fn image_policy(name: &str, extra: &str) -> String {
    yaml_object(
        "ImagePolicy",
        name,
        &format!(
            "  imageRepositoryRef:\n    name: {name}\n{extra}  policy:\n    semver:\n      range: '>=1.0.0 <2.0.0'\n"
        ),
    )
}

pub fn git_repository(name: &str, url: &str, secret: Option<&str>) -> String {
    let secret_ref = secret
        .map(|s| format!("  secretRef:\n    name: {s}\n"))
        .unwrap_or_default();
    yaml_object(
        "GitRepository",
        name,
        &format!("  url: {url}\n  ref:\n    branch: main\n  interval: 1h\n{secret_ref}"),
    )
}

pub fn automation(name: &str, source: &str, path: &str, signing_secret: Option<&str>) -> String {
    let signing = signing_secret
        .map(|s| {
            format!(
                "      signingKey:\n        type: ssh\n        secretRef:\n          name: {s}\n"
            )
        })
        .unwrap_or_default();
    yaml_object(
        "ImageUpdateAutomation",
        name,
        &format!(
            "  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: {source}\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n      author:\n        name: {AUTHOR_NAME}\n        email: {AUTHOR_EMAIL}\n{signing}    push:\n      branch: main\n  update:\n    path: {path}\n    strategy: Setters\n"
        ),
    )
}

fn secret(cluster: &Cluster, name: &str, args: &[&str]) {
    let mut command = vec!["create", "secret"];
    command.extend_from_slice(args);
    command.extend_from_slice(&["-n", "shop"]);
    command.insert(3, name);
    cluster.kubectl(&command);
}

#[test]
fn controller_secrets_never_reach_logs_metrics_status_events_or_commits() {
    let cluster = Cluster::start();
    let listen_port = free_port();
    let basic = Registry::start_with(
        Distribution::V2,
        AuthMode::Basic,
        RegistryOptions {
            extra_config: notifications(listen_port, WEBHOOK_SECRET),
            ..RegistryOptions::default()
        },
    );
    let token = Registry::start(Distribution::V2, AuthMode::Token);
    ImagePusher::new(&basic, "shop/basic").push_all(["1.0.0", "1.1.0"]);
    ImagePusher::new(&token, "shop/token").push_all(["1.0.0", "1.2.0"]);
    let basic_image = format!("{}/shop/basic", basic.host);
    let token_image = format!("{}/shop/token", token.host);
    let files = [
        (
            "apps/basic.yaml",
            deployment("basic", &format!("{basic_image}:1.0.0"), "basic"),
        ),
        (
            "apps/token.yaml",
            deployment("token", &format!("{token_image}:1.0.0"), "token"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let repos = GitRepos::new();
    let over_ssh = repos.create("over-ssh", &files);
    let over_http = repos.create("over-http", &files);
    let rejecting = repos.create("rejecting", &files);
    let hook = rejecting.join("hooks/pre-receive");
    write(
        &hook,
        "#!/bin/sh\necho 'push refused: main is frozen' >&2\nexit 1\n",
    );
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ssh = SshGitServer::start();
    let http = HttpGitServer::start(&repos);
    let (signing_key, _) = ssh_keypair(cluster.dir(), "signing", SIGNING_PASSPHRASE);

    cluster.namespace("shop");
    secret(
        &cluster,
        "registry-basic",
        &[
            "generic",
            "--type=kubernetes.io/basic-auth",
            &format!("--from-literal=username={USER}"),
            &format!("--from-literal=password={PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "registry-docker",
        &[
            "docker-registry",
            &format!("--docker-server={}", token.host),
            &format!("--docker-username={USER}"),
            &format!("--docker-password={PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "registry-wrong",
        &[
            "generic",
            &format!("--from-literal=username={USER}"),
            &format!("--from-literal=password={WRONG_REGISTRY_PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "registry-docker-wrong",
        &[
            "docker-registry",
            &format!("--docker-server={}", token.host),
            &format!("--docker-username={USER}"),
            &format!("--docker-password={WRONG_TOKEN_PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "git-bearer",
        &[
            "generic",
            &format!("--from-literal=bearerToken={GIT_BEARER_TOKEN}"),
        ],
    );
    secret(
        &cluster,
        "git-ssh",
        &[
            "generic",
            &format!("--from-file=identity={}", ssh.identity_path.display()),
            &format!("--from-file=known_hosts={}", ssh.known_hosts_path.display()),
        ],
    );
    secret(
        &cluster,
        "git-http",
        &[
            "generic",
            &format!("--from-literal=username={GIT_USER}"),
            &format!("--from-literal=password={GIT_PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "git-wrong",
        &[
            "generic",
            &format!("--from-literal=username={GIT_USER}"),
            &format!("--from-literal=password={WRONG_GIT_PASSWORD}"),
        ],
    );
    secret(
        &cluster,
        "signing",
        &[
            "generic",
            &format!("--from-file=identity={}", signing_key.display()),
            &format!("--from-literal=password={SIGNING_PASSPHRASE}"),
        ],
    );
    cluster.apply(
        &[
            image_repository("basic", &basic_image, Some("registry-basic")),
            image_repository("token", &token_image, Some("registry-docker")),
            image_repository("rejected", &basic_image, Some("registry-wrong")),
            image_repository(
                "rejected-token",
                &token_image,
                Some("registry-docker-wrong"),
            ),
            image_policy("basic", ""),
            image_policy("token", ""),
            git_repository("over-ssh", &ssh.url(&over_ssh), Some("git-ssh")),
            git_repository("over-http", &http.url(&over_http), Some("git-http")),
            git_repository("wrong-password", &http.url(&over_http), Some("git-wrong")),
            git_repository("rejecting", &http.url(&rejecting), Some("git-http")),
            git_repository("bearer", &http.url(&over_http), Some("git-bearer")),
            automation("over-ssh", "over-ssh", "./apps", Some("signing")),
            automation("over-http", "over-http", "./apps", None),
            automation("wrong-password", "wrong-password", "./apps", None),
            automation("rejected-push", "rejecting", "./apps", None),
            automation("bearer", "bearer", "./apps", None),
        ]
        .concat(),
    );

    let token_file = cluster.dir().join("webhook-token");
    write(&token_file, format!("{WEBHOOK_SECRET}\n"));
    let listen = format!("127.0.0.1:{listen_port}");
    let controller = cluster.spawn_controller(
        "secrets",
        cluster.kubeconfig(),
        &[
            "--log-level",
            "trace",
            "--listen",
            &listen,
            "--webhook-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let log = || controller.log_text();
    for name in ["over-ssh", "over-http"] {
        cluster.wait_for_object(
            &format!("automation {name} to push"),
            "imageupdateautomation",
            "shop",
            name,
            |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
            log,
        );
    }
    for bare in [&over_ssh, &over_http] {
        let basic_file = git_in(bare, &["show", "main:apps/basic.yaml"]);
        let token_file = git_in(bare, &["show", "main:apps/token.yaml"]);
        assert!(basic_file.contains(":1.1.0 #"), "{basic_file}");
        assert!(token_file.contains(":1.2.0 #"), "{token_file}");
    }
    assert!(
        git_in(&over_ssh, &["cat-file", "commit", "main"])
            .contains("-----BEGIN SSH SIGNATURE-----"),
        "the ssh automation signs its commits"
    );

    // The failures: each reported, none with a secret (checked below with the rest).
    for name in ["rejected", "rejected-token"] {
        let rejected = cluster.wait_for_object(
            &format!("the rejected registry credentials of {name}"),
            "imagerepository",
            "shop",
            name,
            |o| ready_reason(o) == "False/ScanFailed",
            log,
        );
        eprintln!("{name}: {}", ready_message(&rejected));
    }
    for name in ["wrong-password", "rejected-push", "bearer"] {
        let failed = cluster.wait_for_object(
            &format!("automation {name} to fail"),
            "imageupdateautomation",
            "shop",
            name,
            |o| ready_reason(o) == "False/GitOperationFailed",
            log,
        );
        eprintln!("{name}: {}", ready_message(&failed));
    }
    assert!(
        git_in(&rejecting, &["rev-list", "--count", "main"]).trim() == "1",
        "the refused push left the repository alone"
    );

    // A push notification, with the webhook token, makes the next commits at once.
    ImagePusher::new(&basic, "shop/basic").push("1.3.0");
    for bare in [&over_ssh, &over_http] {
        wait_for(
            "the webhook-triggered bump",
            || {
                git_in(bare, &["show", "main:apps/basic.yaml"])
                    .contains(":1.3.0 #")
                    .then_some(())
            },
            log,
        );
    }
    let metrics = Client::new()
        .get(format!("http://{listen}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("tagpilot_webhooks_total"), "{metrics}");
    controller.assert_running();
    // Events are posted in the order they happen, in the background: once
    // 1.3.0's are there, so are those of every failure before.
    cluster.wait_for_events("shop", &[], &[":1.3.0"]);

    let mut secrets = Vec::new();
    secrets.extend(forms("the registry password", USER, PASSWORD));
    secrets.extend(forms(
        "the rejected registry password",
        USER,
        WRONG_REGISTRY_PASSWORD,
    ));
    secrets.extend(forms("the git password", GIT_USER, GIT_PASSWORD));
    secrets.extend(forms(
        "the rejected git password",
        GIT_USER,
        WRONG_GIT_PASSWORD,
    ));
    secrets.extend(forms("the webhook token", "", WEBHOOK_SECRET));
    secrets.extend(forms(
        "the rejected token-server password",
        USER,
        WRONG_TOKEN_PASSWORD,
    ));
    secrets.extend(forms("the git bearer token", "", GIT_BEARER_TOKEN));
    secrets.extend(forms(
        "the signing key's passphrase",
        "",
        SIGNING_PASSPHRASE,
    ));
    secrets.extend(key_forms("the ssh identity", &ssh.identity_path));
    secrets.extend(key_forms("the signing key", &signing_key));
    let docker_config = cluster.kubectl(&[
        "get",
        "secret",
        "registry-docker",
        "-n",
        "shop",
        "-o",
        "jsonpath={.data.\\.dockerconfigjson}",
    ]);
    secrets.push((
        "the .dockerconfigjson (base64)".into(),
        docker_config.clone(),
    ));
    // Every token the token server issues starts with the same JWT header.
    let issued = token.token_server.as_ref().unwrap().token_for(
        USER,
        PASSWORD,
        "repository:shop/token:pull",
    );
    let jwt_header = issued.split('.').next().unwrap().to_string();
    secrets.push(("a registry bearer token".into(), jwt_header));

    let kubeconfig = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let kube_token = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("token: "))
        .unwrap()
        .to_string();
    secrets.push(("the controller's Kubernetes token".into(), kube_token));

    // The detector is not blind: the Secrets themselves hold these values, in base64.
    let stored = cluster.kubectl(&["get", "secrets", "-n", "shop", "-o", "json"]);
    let mut in_secrets: Vec<String> = [
        PASSWORD,
        WRONG_REGISTRY_PASSWORD,
        GIT_PASSWORD,
        WRONG_GIT_PASSWORD,
        SIGNING_PASSPHRASE,
        GIT_BEARER_TOKEN,
    ]
    .iter()
    .map(|value| STANDARD.encode(value))
    .collect();
    for path in [&ssh.identity_path, &signing_key] {
        in_secrets.push(STANDARD.encode(std::fs::read(path).unwrap()));
    }
    in_secrets.push(docker_config.clone());
    for value in &in_secrets {
        assert!(
            stored.contains(value.as_str()),
            "{value} is not in the Secrets"
        );
        assert!(
            secrets.iter().any(|(_, v)| v == value),
            "{value} is checked"
        );
    }

    let log_text = log();
    assert!(log_text.contains("TRACE"), "trace logging was on");
    assert!(
        log_text.contains("/api/v1/namespaces/shop/secrets/registry-basic"),
        "the Secret reads were traced"
    );
    assert_no_secret("the controller's log", &log_text, &secrets);
    assert_no_secret("/metrics", &metrics, &secrets);
    for (place, text) in everything_a_user_can_read(&cluster) {
        assert_no_secret(&place, &text, &secrets);
    }
    // Nor on disk: working copies, tag store, status. Read at rest: a run
    // retrying meanwhile made and removed a lock file between the listing
    // and the read (CI, "No such file or directory").
    controller.terminate();
    for file in files_under(&cluster.dir().join("secrets-state")) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert_no_secret(&file.display().to_string(), &text, &secrets);
    }
    for bare in [&over_ssh, &over_http, &rejecting] {
        assert_no_secret(
            &format!("a commit of {}", bare.display()),
            &commits(bare),
            &secrets,
        );
    }
}
