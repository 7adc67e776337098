//! Invariant 7 end to end: the daemon runs a full cycle at trace log level
//! with every kind of credential tagpilot takes — registry basic auth
//! (htpasswd), a bearer token server behind a `dockerconfigjson` Secret, ECR
//! through moto and the AWS credential chain, a git ssh identity with
//! known_hosts, git http basic auth, a git bearer token (refused by the server,
//! so the failure path is covered too), an SSH commit-signing key with a
//! passphrase, the webhook token, and a registry behind a forward proxy
//! (tinyproxy) with its own basic auth — and no secret value (nor its base64)
//! shows up in stderr, `/metrics`, `status.json`, `tagpilot status`, the state
//! directory or any commit message. Plus: `Debug` of every credential type
//! prints `[redacted]`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::blocking::Client;

use crate::engine::files_under;
use crate::harness::git_fixtures::{git_in, ssh_keypair};
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::moto::{Moto, REGION};
use crate::harness::process::{free_port, write};
use crate::harness::proxy::ForwardProxy;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::harness::tagpilot::{Tagpilot, deployment, wait_for};
use crate::registry::{ecr_backed_registry, ecr_host, moto_token_password};

const WEBHOOK_TOKEN: &str = "wh-Secret-Token-88aa1f";
const GIT_BEARER_TOKEN: &str = "git-Bearer-T0ken-5c1b7e";
const SIGNING_PASSPHRASE: &str = "sign-Pa55phrase-3e9";
const AWS_SECRET_KEY: &str = "aws-Secret-Access-Key-0d4f2b";
const PROXY_USER: &str = "squid";
const PROXY_PASSWORD: &str = "pr0xy-Pa55word-6a2d";

fn secret_yaml(name: &str, secret_type: &str, data: &[(&str, &[u8])]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ntype: {secret_type}\ndata:\n"
    );
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    yaml.push_str("---\n");
    yaml
}

fn image_yaml(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n{extra}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: {name}\n  policy:\n    semver:\n      range: '>=1.0.0'\n---\n"
    )
}

fn source_yaml(name: &str, url: &str, secret: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  url: {url}\n  ref:\n    branch: main\n  interval: 1h\n  secretRef:\n    name: {secret}\n---\n"
    )
}

fn automation_yaml(name: &str, source: &str, signing: Option<&str>) -> String {
    let signing = signing
        .map(|secret| {
            format!("      signingKey:\n        type: ssh\n        secretRef:\n          name: {secret}\n")
        })
        .unwrap_or_default();
    format!(
        // `signingKey.type` is a field of Flux's v1 only.
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: {source}\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n      author:\n        name: bot\n        email: bot@example.com\n{signing}    push:\n      branch: main\n  update:\n    path: ./apps\n    strategy: Setters\n---\n"
    )
}

/// Every secret value of the test, and its base64 forms, by name.
pub struct Secrets(pub BTreeMap<String, String>);

impl Secrets {
    pub fn add(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_string(), value.to_string());
        self.0
            .insert(format!("{name} (base64)"), STANDARD.encode(value));
    }

    /// Panics naming the secret and the line if any secret is in `text`.
    pub fn assert_absent(&self, place: &str, text: &str) {
        for (name, value) in &self.0 {
            if let Some(line) = text.lines().find(|line| line.contains(value.as_str())) {
                panic!("{name} is in {place}: {line}");
            }
        }
    }
}

/// The longest base64 line of an OpenSSH private key: a piece of the key itself.
fn key_material(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with("-----"))
        .max_by_key(|l| l.len())
        .unwrap()
        .to_string()
}

#[test]
fn every_kind_of_credential_through_a_full_cycle_at_trace_level_leaks_nowhere() {
    // Registries: htpasswd basic auth (it also accepts moto's ECR token for
    // user AWS), and token auth behind the test token server.
    let moto = Moto::start();
    let basic = ecr_backed_registry(&moto);
    let token = Registry::start(Distribution::V3, AuthMode::Token);
    ImagePusher::new(&basic, "shop/basic").push_all(["1.0.0", "1.1.0"]);
    ImagePusher::new(&basic, "shop/ecr").push_all(["1.0.0", "1.2.0"]);
    ImagePusher::new(&token, "shop/token").push_all(["1.0.0", "1.3.0"]);
    ImagePusher::new(&basic, "shop/proxied").push_all(["1.0.0", "1.4.0"]);
    let ecr_password = moto_token_password(&moto);
    let proxy = ForwardProxy::start_with_basic_auth(PROXY_USER, PROXY_PASSWORD);

    let files = |_: &str| -> Vec<(String, String)> {
        vec![
            (
                "apps/basic.yaml".into(),
                deployment(
                    "basic",
                    &format!("{}/shop/basic:1.0.0", basic.host),
                    "basic",
                ),
            ),
            (
                "apps/token.yaml".into(),
                deployment(
                    "token",
                    &format!("{}/shop/token:1.0.0", token.host),
                    "token",
                ),
            ),
            (
                "apps/ecr.yaml".into(),
                deployment("ecr", &format!("{}/shop/ecr:1.0.0", ecr_host()), "ecr"),
            ),
            (
                "apps/proxied.yaml".into(),
                deployment(
                    "proxied",
                    &format!("{}/shop/proxied:1.0.0", basic.host),
                    "proxied",
                ),
            ),
        ]
    };
    let repos = GitRepos::new();
    let create = |name: &str| {
        let files = files(name);
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        repos.create(name, &files)
    };
    let over_ssh = create("over-ssh");
    let over_http = create("over-http");
    let over_bearer = create("over-bearer");
    let ssh = SshGitServer::start();
    let http = HttpGitServer::start(&repos);

    let tagpilot = Tagpilot::new();
    let (signing_key, signing_public) =
        ssh_keypair(tagpilot.home_dir(), "signing", SIGNING_PASSPHRASE);
    let docker_config = serde_json::json!({"auths": {token.host.clone(): {"auth": STANDARD.encode(format!("{USER}:{PASSWORD}"))}}}).to_string();
    let mut config = String::new();
    config += &secret_yaml(
        "registry-basic",
        "kubernetes.io/basic-auth",
        &[
            ("username", USER.as_bytes()),
            ("password", PASSWORD.as_bytes()),
        ],
    );
    config += &secret_yaml(
        "registry-docker-config",
        "kubernetes.io/dockerconfigjson",
        &[(".dockerconfigjson", docker_config.as_bytes())],
    );
    config += &secret_yaml(
        "git-ssh",
        "Opaque",
        &[
            ("identity", &std::fs::read(&ssh.identity_path).unwrap()),
            (
                "known_hosts",
                &std::fs::read(&ssh.known_hosts_path).unwrap(),
            ),
        ],
    );
    config += &secret_yaml(
        "git-http",
        "Opaque",
        &[
            ("username", GIT_USER.as_bytes()),
            ("password", GIT_PASSWORD.as_bytes()),
        ],
    );
    config += &secret_yaml(
        "git-bearer",
        "Opaque",
        &[("bearerToken", GIT_BEARER_TOKEN.as_bytes())],
    );
    config += &secret_yaml(
        "signing",
        "Opaque",
        &[
            ("identity", &std::fs::read(&signing_key).unwrap()),
            ("password", SIGNING_PASSPHRASE.as_bytes()),
        ],
    );
    config += &image_yaml(
        "basic",
        &format!("{}/shop/basic", basic.host),
        "  insecure: true\n  secretRef:\n    name: registry-basic\n",
    );
    config += &image_yaml(
        "token",
        &format!("{}/shop/token", token.host),
        "  insecure: true\n  secretRef:\n    name: registry-docker-config\n",
    );
    config += &secret_yaml(
        "registry-proxy",
        "Opaque",
        &[
            ("address", proxy.address().as_bytes()),
            ("username", PROXY_USER.as_bytes()),
            ("password", PROXY_PASSWORD.as_bytes()),
        ],
    );
    config += &image_yaml(
        "proxied",
        &format!("{}/shop/proxied", basic.host),
        "  insecure: true\n  secretRef:\n    name: registry-basic\n  proxySecretRef:\n    name: registry-proxy\n",
    );
    config += &image_yaml(
        "ecr",
        &format!("{}/shop/ecr", ecr_host()),
        "  provider: aws\n",
    );
    config += &source_yaml("over-ssh", &ssh.url(&over_ssh), "git-ssh");
    config += &source_yaml("over-http", &http.url(&over_http), "git-http");
    config += &source_yaml("over-bearer", &http.url(&over_bearer), "git-bearer");
    config += &automation_yaml("signed-ssh", "over-ssh", Some("signing"));
    config += &automation_yaml("http", "over-http", None);
    config += &automation_yaml("bearer", "over-bearer", None);
    tagpilot.write("objects.yaml", &config);
    let token_file = tagpilot.home_dir().join("webhook-token");
    write(&token_file, format!("{WEBHOOK_TOKEN}\n"));

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = tagpilot.home_dir().join("daemon.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut command = tagpilot.command();
    command
        .env("AWS_ENDPOINT_URL_ECR", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIATAGPILOTTEST")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", tagpilot.home_dir().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            tagpilot.home_dir().join("aws-credentials"),
        )
        .env(
            "TAGPILOT_REGISTRY_ENDPOINTS",
            format!("{}={}", ecr_host(), basic.base_url()),
        )
        .args(["--log-level", "trace", "run", "--config"])
        .arg(tagpilot.config_dir())
        .arg("--state-dir")
        .arg(tagpilot.state_dir())
        .args(["--listen", &listen, "--webhook-token-file"])
        .arg(&token_file)
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    let mut child = command.spawn().unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let bumped = |bare: &Path| {
        ["basic:1.1.0", "token:1.3.0", "ecr:1.2.0", "proxied:1.4.0"]
            .iter()
            .all(|needle| {
                let (name, tag) = needle.split_once(':').unwrap();
                git_in(bare, &["show", &format!("main:apps/{name}.yaml")])
                    .contains(&format!(":{tag} #"))
            })
    };
    wait_for(
        "both automations with working credentials to push every bump",
        || (bumped(&over_ssh) && bumped(&over_http)).then_some(()),
        log_text,
    );
    wait_for(
        "the bearer-token automation to fail (lighttpd takes basic auth only)",
        || {
            log_text()
                .lines()
                .any(|l| l.contains("automation failed") && l.contains("shop/bearer"))
                .then_some(())
        },
        log_text,
    );

    let client = Client::new();
    let webhook = |authorization: &str| {
        client
            .post(format!("http://{listen}/webhook/registry"))
            .header("Authorization", authorization)
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            )
            .body(format!(
                r#"{{"events":[{{"action":"push","target":{{"repository":"shop/basic","tag":"1.1.0"}},"request":{{"host":"{}"}}}}]}}"#,
                basic.host
            ))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(webhook(&format!("Bearer {WEBHOOK_TOKEN}")), 202);
    assert_eq!(webhook(&format!("Bearer {WEBHOOK_TOKEN}x")), 401);
    let metrics = client
        .get(format!("http://{listen}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("tagpilot_webhooks_total"), "{metrics}");
    crate::harness::process::run(
        std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]),
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", log_text());

    // The signed commits verify with the signing key: the key was really used.
    let signers = tagpilot.home_dir().join("allowed_signers");
    std::fs::write(&signers, format!("bot@example.com {signing_public}\n")).unwrap();
    let verify = crate::harness::git_server::git()
        .arg("-C")
        .arg(&over_ssh)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", "main"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let mut secrets = Secrets(BTreeMap::new());
    secrets.add("the registry password", PASSWORD);
    secrets.add("registry basic credentials", &format!("{USER}:{PASSWORD}"));
    secrets.add("the ECR token password", &ecr_password);
    secrets.add("the ECR basic credentials", &format!("AWS:{ecr_password}"));
    secrets.add("the AWS secret access key", AWS_SECRET_KEY);
    secrets.add("the git password", GIT_PASSWORD);
    secrets.add(
        "git basic credentials",
        &format!("{GIT_USER}:{GIT_PASSWORD}"),
    );
    secrets.add("the git bearer token", GIT_BEARER_TOKEN);
    secrets.add("the webhook token", WEBHOOK_TOKEN);
    secrets.add("the signing key passphrase", SIGNING_PASSPHRASE);
    secrets.add("the signing key", &key_material(&signing_key));
    secrets.add("the ssh identity", &key_material(&ssh.identity_path));
    secrets.add("the proxy password", PROXY_PASSWORD);
    secrets.add(
        "proxy basic credentials",
        &format!("{PROXY_USER}:{PROXY_PASSWORD}"),
    );
    // Bearer tokens the token server issued are JWTs: `{"` encodes as `eyJ`.
    secrets.0.insert("a registry JWT".into(), "eyJ".into());

    // The proxied repository's tags came through the proxy.
    proxy.wait_for_request("for shop/proxied's tags", |line| {
        line.starts_with(&format!(
            "GET http://{}/v2/shop/proxied/tags/list",
            basic.host
        ))
    });
    let log = log_text();
    assert!(log.contains("TRACE"), "trace logging was on");
    assert!(log.contains("tags page"), "the scans were traced:\n{log}");
    secrets.assert_absent("the daemon's log", &log);
    secrets.assert_absent("/metrics", &metrics);
    let status_output = tagpilot.status().success();
    secrets.assert_absent("`tagpilot status`", &status_output.stdout);
    secrets.assert_absent("`tagpilot status` stderr", &status_output.stderr);
    assert!(
        status_output.stdout.contains("shop/bearer"),
        "{}",
        status_output.stdout
    );
    for bare in [&over_ssh, &over_http, &over_bearer] {
        let messages = git_in(bare, &["log", "--format=%an %ae%n%B", "main"]);
        secrets.assert_absent("a commit message", &messages);
    }
    for file in files_under(tagpilot.state_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        secrets.assert_absent(&file.display().to_string(), &text);
    }
}

/// A pull request spec holding `Super-Secret-Value-42` as its token.
fn forge_spec() -> tagpilot::forge::PullRequestSpec {
    let target = tagpilot::forge::ForgeTarget::derive("https://github.com/acme/config", None, None)
        .expect("a GitHub target");
    tagpilot::forge::PullRequestSpec {
        target,
        token: tagpilot::forge::ForgeToken::Bearer(tagpilot::git::Secret::new(
            "Super-Secret-Value-42".into(),
        )),
        ca_certificate: None,
    }
}

/// `Debug` of every type that holds a credential prints `[redacted]` in its place.
#[test]
fn debug_of_every_credential_type_is_redacted() {
    use tagpilot::engine::http::WebhookToken;
    use tagpilot::git::{Credentials as GitCredentials, Secret, SigningKey};
    use tagpilot::registry::{Credentials as RegistryCredentials, DockerConfig};

    const VALUE: &str = "Super-Secret-Value-42";
    let bytes = || Secret::new(VALUE.as_bytes().to_vec());
    let text = || Secret::new(VALUE.to_string());
    let docker_config = DockerConfig::parse(
        serde_json::json!({"auths": {"r.example": {"auth": STANDARD.encode(format!("u:{VALUE}"))}, "t.example": {"identitytoken": VALUE}}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let debugs = [
        format!("{:?}", text()),
        format!(
            "{:?}",
            RegistryCredentials::Basic {
                username: "u".into(),
                password: text()
            }
        ),
        format!("{:?}", RegistryCredentials::RegistryToken(text())),
        format!(
            "{:?}",
            RegistryCredentials::IdentityToken {
                username: "u".into(),
                token: text()
            }
        ),
        format!(
            "{:?}",
            tagpilot::registry::SecretData {
                secret_type: "Opaque".into(),
                data: [("password".to_string(), bytes())].into_iter().collect(),
            }
        ),
        format!(
            "{:?}",
            serde_saphyr::from_str::<tagpilot::config::secrets::SecretObject>(&format!(
                "metadata:\n  name: s\nstringData:\n  password: {VALUE}\ndata:\n  token: {}\n",
                STANDARD.encode(VALUE)
            ))
            .unwrap()
        ),
        format!("{docker_config:?}"),
        format!(
            "{:?}",
            GitCredentials::Ssh {
                identity: bytes(),
                known_hosts: "[127.0.0.1]:22 ssh-ed25519 AAAA".into(),
                password: Some(text()),
            }
        ),
        format!(
            "{:?}",
            GitCredentials::Basic {
                username: "u".into(),
                password: text()
            }
        ),
        format!("{:?}", GitCredentials::Bearer { token: text() }),
        format!(
            "{:?}",
            SigningKey::Ssh {
                private_key: bytes(),
                password: Some(text())
            }
        ),
        format!("{:?}", WebhookToken::new(VALUE)),
        format!(
            "{:?}",
            tagpilot::registry::proxy::ProxySettings::from_secret(
                &tagpilot::registry::SecretData {
                    secret_type: "Opaque".into(),
                    data: [
                        (
                            "address".to_string(),
                            Secret::new(format!("http://u:{VALUE}@proxy:3128").into_bytes())
                        ),
                        ("username".to_string(), bytes()),
                        ("password".to_string(), bytes()),
                    ]
                    .into_iter()
                    .collect(),
                }
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            tagpilot::forge::ForgeToken::Basic {
                username: "u".into(),
                password: text()
            }
        ),
        format!("{:?}", forge_spec()),
        format!(
            "{:?}",
            tagpilot::forge::connect(&forge_spec()).expect("a forge client")
        ),
        format!(
            "{:?}",
            tagpilot::registry::ecr::EcrToken {
                username: "AWS".into(),
                password: text(),
                expires_at: None,
            }
        ),
    ];
    for debug in debugs {
        assert!(
            !debug.contains(VALUE) && !debug.contains(&STANDARD.encode(VALUE)),
            "{debug}"
        );
    }
}
