//! `provider: azure` and `provider: gcp` end to end: the binary gets an
//! identity token from a local server that speaks Azure AD's, ACR's and the
//! metadata services' protocols ([`CloudIdentityServer`], HTTPS for Azure AD
//! and the exchange, trusted through `SSL_CERT_FILE`), and scans a real
//! distribution registry — mapped as the cloud registry's host — whose
//! htpasswd accepts exactly the credentials the protocol yields
//! (`00000000-0000-0000-0000-000000000000` with the ACR refresh token,
//! `oauth2accesstoken` with the GCP token). No token reaches the logs.

use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::harness::cloud_identity::{
    AAD_TOKEN, CLIENT_ID, CLIENT_SECRET, CloudIdentityServer, FEDERATED_TOKEN, GCP_TOKEN, TENANT,
};
use crate::harness::images::ImagePusher;
use crate::harness::proxy::ForwardProxy;
use crate::harness::registry::{AuthMode, Distribution, Registry, RegistryOptions};
use crate::harness::tls::TestCertificates;
use crate::registry::tagpilot_isolated;

const ACR_HOST: &str = "shop.azurecr.io";
const GAR_HOST: &str = "europe-docker.pkg.dev";
const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

/// The cloud endpoints, and a registry that accepts `user`/`password` only.
struct Cloud {
    server: CloudIdentityServer,
    certificates: TestCertificates,
    registry: Registry,
    home: tempfile::TempDir,
    config: tempfile::TempDir,
    _certificates_dir: tempfile::TempDir,
}

impl Cloud {
    fn start(user: &str, password: impl FnOnce(&CloudIdentityServer) -> String) -> Self {
        let certificates_dir = tempfile::tempdir().unwrap();
        let certificates = TestCertificates::generate(certificates_dir.path());
        let server = CloudIdentityServer::start(&certificates);
        let registry = Registry::start_with(
            Distribution::V2,
            AuthMode::Basic,
            RegistryOptions {
                extra_users: vec![(user.to_string(), password(&server))],
                ..RegistryOptions::default()
            },
        );
        Self {
            server,
            certificates,
            registry,
            home: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
            _certificates_dir: certificates_dir,
        }
    }

    fn acr() -> Self {
        Self::start(ACR_USER, |server| server.refresh_token.clone())
    }

    fn gcp() -> Self {
        Self::start("oauth2accesstoken", |_| GCP_TOKEN.to_string())
    }

    /// Writes the config directory's objects.
    fn write(&self, yaml: &str) {
        std::fs::write(self.config.path().join("objects.yaml"), yaml).unwrap();
    }

    /// The binary, isolated, trusting the test CA, with `host` mapped to the registry.
    fn tagpilot(&self, host: &str) -> Command {
        let mut command = tagpilot_isolated(self.home.path());
        command
            .env("SSL_CERT_FILE", &self.certificates.ca_cert)
            .env(
                "TAGPILOT_REGISTRY_ENDPOINTS",
                format!("{host}={}", self.registry.base_url()),
            )
            .env("TAGPILOT_TEST_ACR_EXCHANGE_URL", self.server.exchange_url());
        command
    }

    /// `tagpilot --log-level trace tags -o json --config DIR IMAGE`.
    fn tags(&self, command: &mut Command, image: &str) -> Output {
        command
            .args(["--log-level", "trace", "tags", "-o", "json", "--config"])
            .arg(self.config.path())
            .arg(image)
            .output()
            .unwrap()
    }

    /// A workload identity's environment (what AKS's webhook injects).
    fn workload_identity(&self, command: &mut Command) {
        let token_file = self.home.path().join("azure-identity-token");
        std::fs::write(&token_file, FEDERATED_TOKEN).unwrap();
        command
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
            .env("AZURE_AUTHORITY_HOST", self.server.authority_host());
    }
}

fn image_repository(name: &str, image: &str, provider: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  image: {image}\n  interval: 5m\n  provider: {provider}\n---\n"
    )
}

/// Every token of the flow, in the forms a leak would take.
fn assert_no_token(place: &str, text: &str, cloud: &Cloud) {
    let refresh = cloud.server.refresh_token.as_str();
    for (what, value) in [
        ("the AAD token", AAD_TOKEN.to_string()),
        ("the federated token", FEDERATED_TOKEN.to_string()),
        ("the client secret", CLIENT_SECRET.to_string()),
        ("the ACR refresh token", refresh.to_string()),
        (
            "the ACR basic credentials",
            STANDARD.encode(format!("{ACR_USER}:{refresh}")),
        ),
        ("the GCP token", GCP_TOKEN.to_string()),
        (
            "the GCP basic credentials",
            STANDARD.encode(format!("oauth2accesstoken:{GCP_TOKEN}")),
        ),
    ] {
        if let Some(line) = text.lines().find(|line| line.contains(&value)) {
            panic!("{what} is in {place}: {line}");
        }
    }
}

fn stdout_json(output: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn azure_workload_identity_opens_an_acr_registry_through_the_token_exchange() {
    let cloud = Cloud::acr();
    ImagePusher::new(&cloud.registry, "team/app").push_all(["1.0.0", "1.2.0"]);
    cloud.write(&image_repository(
        "app",
        &format!("{ACR_HOST}/team/app"),
        "azure",
    ));
    let mut command = cloud.tagpilot(ACR_HOST);
    cloud.workload_identity(&mut command);
    let output = cloud.tags(&mut command, &format!("{ACR_HOST}/team/app"));
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"image": format!("{ACR_HOST}/team/app"), "tags": ["1.0.0", "1.2.0"], "complete": true})
    );
    assert_no_token("stderr", &String::from_utf8_lossy(&output.stderr), &cloud);

    // The protocol as Azure documents it: the federated token as client
    // assertion for ACR's scope, then the exchange for this registry.
    let seen = cloud.server.seen();
    let aad: Vec<_> = seen
        .iter()
        .filter(|s| s.path == format!("/{TENANT}/oauth2/v2.0/token"))
        .collect();
    assert_eq!(aad.len(), 1, "{seen:#?}");
    assert_eq!(
        aad[0].params["scope"],
        "https://containerregistry.azure.net/.default"
    );
    assert_eq!(aad[0].params["client_assertion"], FEDERATED_TOKEN);
    let exchange: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/oauth2/exchange")
        .collect();
    assert_eq!(exchange.len(), 1, "{seen:#?}");
    assert_eq!(exchange[0].method, "POST");
    assert_eq!(exchange[0].params["grant_type"], "access_token");
    assert_eq!(exchange[0].params["service"], ACR_HOST);
    assert_eq!(exchange[0].params["access_token"], AAD_TOKEN);
    assert_eq!(exchange[0].params["tenant"], TENANT);
}

#[test]
fn azure_client_secret_and_managed_identity_are_the_other_identities() {
    let cloud = Cloud::acr();
    ImagePusher::new(&cloud.registry, "team/app").push_all(["2.0.0"]);
    cloud.write(&image_repository(
        "app",
        &format!("{ACR_HOST}/team/app"),
        "azure",
    ));
    let image = format!("{ACR_HOST}/team/app");

    let mut secret = cloud.tagpilot(ACR_HOST);
    secret
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", cloud.server.authority_host());
    let output = cloud.tags(&mut secret, &image);
    assert_eq!(stdout_json(&output)["tags"], serde_json::json!(["2.0.0"]));
    assert_no_token("stderr", &String::from_utf8_lossy(&output.stderr), &cloud);
    let with_secret = cloud
        .server
        .seen()
        .into_iter()
        .find(|s| s.path.ends_with("/oauth2/v2.0/token"))
        .unwrap();
    assert_eq!(with_secret.params["client_secret"], CLIENT_SECRET);

    // No other identity configured: the machine's managed identity (IMDS).
    let mut managed = cloud.tagpilot(ACR_HOST);
    managed.env("TAGPILOT_TEST_AZURE_IMDS_URL", cloud.server.imds_url());
    let output = cloud.tags(&mut managed, &image);
    assert_eq!(stdout_json(&output)["tags"], serde_json::json!(["2.0.0"]));
    assert_no_token("stderr", &String::from_utf8_lossy(&output.stderr), &cloud);
    let imds = cloud
        .server
        .seen()
        .into_iter()
        .find(|s| s.path == "/metadata/identity/oauth2/token")
        .unwrap();
    assert_eq!(imds.headers["metadata"], "true");
    assert_eq!(
        imds.params["resource"],
        "https://containerregistry.azure.net"
    );
}

#[test]
fn azure_tokens_are_cached_across_repositories_and_scans() {
    let cloud = Cloud::acr();
    ImagePusher::new(&cloud.registry, "team/app").push_all(["1.0.0"]);
    ImagePusher::new(&cloud.registry, "team/api").push_all(["3.0.0"]);
    let mut objects = String::new();
    for name in ["app", "api"] {
        objects += &image_repository(name, &format!("{ACR_HOST}/team/{name}"), "azure");
    }
    cloud.write(&objects);
    let state = tempfile::tempdir().unwrap();
    let mut command = cloud.tagpilot(ACR_HOST);
    cloud.workload_identity(&mut command);
    let output = command
        .args(["--log-level", "trace", "run", "--once", "--config"])
        .arg(cloud.config.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert!(
        stderr.contains("shop/app") && stderr.contains("shop/api"),
        "{stderr}"
    );
    assert_no_token("stderr", &stderr, &cloud);
    // Two repositories of one registry: one AAD token, one exchange.
    assert_eq!(
        cloud.server.count(&format!("/{TENANT}/oauth2/v2.0/token")),
        1
    );
    assert_eq!(cloud.server.count("/oauth2/exchange"), 1);
    for file in crate::engine::files_under(state.path()) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert_no_token(&file.display().to_string(), &text, &cloud);
    }
}

#[test]
fn azure_refusals_say_what_to_check_without_a_token() {
    let cloud = Cloud::acr();
    cloud.write(&image_repository(
        "app",
        &format!("{ACR_HOST}/team/app"),
        "azure",
    ));
    let image = format!("{ACR_HOST}/team/app");
    let failure = |command: &mut Command| {
        let output = cloud.tags(command, &image);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
        assert_no_token("stderr", &stderr, &cloud);
        stderr
    };

    // A wrong client secret: Azure AD's error code, and what to check.
    let mut wrong_secret = cloud.tagpilot(ACR_HOST);
    wrong_secret
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", "Wr0ng-Client-Secret-9e1")
        .env("AZURE_AUTHORITY_HOST", cloud.server.authority_host());
    let stderr = failure(&mut wrong_secret);
    assert!(
        stderr.contains(&format!(
            "provider azure: an Azure AD token from https://{}/{TENANT}/oauth2/v2.0/token failed: it answered 401 (invalid_client); check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            cloud.server.https_authority
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("Wr0ng-Client-Secret-9e1"), "{stderr}");

    // An identity without AcrPull: the exchange refuses.
    cloud.server.refuse_exchange();
    let mut no_pull = cloud.tagpilot(ACR_HOST);
    cloud.workload_identity(&mut no_pull);
    let stderr = failure(&mut no_pull);
    assert!(
        stderr.contains(&format!(
            "the ACR token exchange from {} failed: it answered 401 (UNAUTHORIZED); check that the Azure identity may pull from {ACR_HOST} (the AcrPull role)",
            cloud.server.exchange_url()
        )),
        "{stderr}"
    );

    // No identity at all, and no metadata service: what could be set.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!(
        "http://{}/metadata/identity/oauth2/token",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let mut none = cloud.tagpilot(ACR_HOST);
    none.env("TAGPILOT_TEST_AZURE_IMDS_URL", &nowhere);
    let stderr = failure(&mut none);
    assert!(
        stderr.contains("an Azure AD token (managed identity)")
            && stderr.contains("no other Azure identity is configured: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or use workload identity"),
        "{stderr}"
    );

    // A test-only override that is not a loopback URL is refused, not used.
    let mut elsewhere = cloud.tagpilot(ACR_HOST);
    cloud.workload_identity(&mut elsewhere);
    elsewhere.env(
        "TAGPILOT_TEST_ACR_EXCHANGE_URL",
        "https://collector.example/exchange",
    );
    let stderr = failure(&mut elsewhere);
    assert!(
        stderr.contains("environment variable TAGPILOT_TEST_ACR_EXCHANGE_URL: this test-only override must be an http:// or https:// URL on 127.0.0.1"),
        "{stderr}"
    );
}

#[test]
fn gcp_metadata_token_opens_an_artifact_registry() {
    let cloud = Cloud::gcp();
    ImagePusher::new(&cloud.registry, "shop/images/api").push_all(["0.9.0", "1.0.0"]);
    let image = format!("{GAR_HOST}/shop/images/api");
    cloud.write(&image_repository("api", &image, "gcp"));
    let mut command = cloud.tagpilot(GAR_HOST);
    command.env(
        "TAGPILOT_TEST_GCP_METADATA_URL",
        cloud.server.gcp_metadata_url(),
    );
    let output = cloud.tags(&mut command, &image);
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"image": image, "tags": ["0.9.0", "1.0.0"], "complete": true})
    );
    assert_no_token("stderr", &String::from_utf8_lossy(&output.stderr), &cloud);
    let seen = cloud.server.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].headers["metadata-flavor"], "Google");

    // Off GCP (no metadata server): the scan fails and says why.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let mut off_gcp = cloud.tagpilot(GAR_HOST);
    off_gcp.env("TAGPILOT_TEST_GCP_METADATA_URL", &nowhere);
    let output = cloud.tags(&mut off_gcp, &image);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("provider gcp: a GCP access token from")
            && stderr.contains("provider gcp needs the GCP metadata server"),
        "{stderr}"
    );
}

#[test]
fn azure_ad_the_exchange_and_the_registry_go_through_the_proxy() {
    let cloud = Cloud::acr();
    ImagePusher::new(&cloud.registry, "team/app").push_all(["1.0.0"]);
    let proxy = ForwardProxy::start();
    cloud.write(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: proxy\n  namespace: shop\nstringData:\n  address: {}\n---\n{}",
        proxy.address(),
        image_repository("app", &format!("{ACR_HOST}/team/app"), "azure")
            .replace("  provider: azure\n", "  provider: azure\n  proxySecretRef:\n    name: proxy\n")
    ));
    let mut command = cloud.tagpilot(ACR_HOST);
    cloud.workload_identity(&mut command);
    let output = cloud.tags(&mut command, &format!("{ACR_HOST}/team/app"));
    assert_eq!(stdout_json(&output)["tags"], serde_json::json!(["1.0.0"]));
    // As in Flux: Azure AD and the exchange through the proxy, then the registry.
    let tunnels = proxy
        .requests()
        .iter()
        .filter(|line| line.starts_with(&format!("CONNECT {} ", cloud.server.https_authority)))
        .count();
    assert_eq!(tunnels, 2, "{:#?}", proxy.requests());
    proxy.wait_for_request("for the registry", |line| {
        line.starts_with(&format!(
            "GET http://{}/v2/team/app/tags/list",
            cloud.registry.host
        ))
    });
}

/// The library's client with `env` as its environment (the managed identity
/// and the exchange over plain HTTP on loopback: no TLS trust needed in-process).
fn client_with_env(cloud: &Cloud, host: &str) -> tagpilot::registry::RegistryClient {
    let env = tagpilot::registry::cloud::env_from([
        ("TAGPILOT_TEST_AZURE_IMDS_URL", cloud.server.imds_url()),
        (
            "TAGPILOT_TEST_ACR_EXCHANGE_URL",
            format!("http://{}/oauth2/exchange", cloud.server.http_authority),
        ),
    ]);
    let options = tagpilot::registry::ScanOptions {
        endpoints: tagpilot::registry::RegistryEndpoints::parse([format!(
            "{host}={}",
            cloud.registry.base_url()
        )
        .as_str()])
        .unwrap(),
        ..crate::registry::test_options()
    };
    tagpilot::registry::RegistryClient::builder(options)
        .environment(env)
        .build()
        .unwrap()
}

#[test]
fn acr_credentials_are_reused_until_the_registry_refuses_them() {
    use tagpilot::registry::{CredentialSource, TagLister as _};
    let cloud = Cloud::acr();
    ImagePusher::new(&cloud.registry, "team/app").push_all(["1.0.0"]);
    let client = client_with_env(&cloud, ACR_HOST);
    let mut target = crate::registry::target(ACR_HOST, "team/app");
    target.insecure = false; // the endpoint mapping decides the scheme
    target.credentials = CredentialSource::Azure;
    for _ in 0..3 {
        let list = crate::registry::block_on(client.list_tags(&target)).unwrap();
        assert_eq!(list.tags, ["1.0.0"]);
    }
    assert_eq!(cloud.server.count("/metadata/identity/oauth2/token"), 1);
    assert_eq!(
        cloud.server.count("/oauth2/exchange"),
        1,
        "three scans, one exchange"
    );

    // A registry that refuses the refresh token: each scan exchanges anew.
    let refusing = Cloud::start(ACR_USER, |_| "not-the-refresh-token".to_string());
    ImagePusher::new(&refusing.registry, "team/app").push_all(["1.0.0"]);
    let client = client_with_env(&refusing, ACR_HOST);
    for _ in 0..2 {
        let error = crate::registry::block_on(client.list_tags(&target))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("answered 401: not authorized; check that the Azure identity may pull from shop.azurecr.io (the AcrPull role)"),
            "{error}"
        );
    }
    assert_eq!(refusing.server.count("/oauth2/exchange"), 2);
    assert_eq!(
        refusing.server.count("/metadata/identity/oauth2/token"),
        1,
        "the Azure AD token is still good"
    );
}
