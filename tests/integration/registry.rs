//! Registry scanning against real registries: anonymous, basic and token auth
//! on distribution 2.8, pagination on distribution v3, digests, the tag cap,
//! and ECR end to end (moto's token opening the local registry mapped as the
//! ECR host). Faults are in `registry_faults`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tagpilot::config::secrets::SecretSet;
use tagpilot::image::ImageReference;
use tagpilot::registry::ecr::{AwsEcrTokenSource, EcrRegistry, EcrTokenFuture, EcrTokenSource};
use tagpilot::registry::store::RecordOutcome;
use tagpilot::registry::transport::Sleeper;
use tagpilot::registry::{
    CredentialSource, DigestResolver as _, ObjectKey, RegistryClient, RegistryEndpoints,
    RetryPolicy, ScanError, ScanOptions, ScanTarget, SecretData, TagList, TagLister as _, TagStore,
};

use crate::harness::fault_proxy::FaultProxy;
use crate::harness::images::ImagePusher;
use crate::harness::moto::{ACCOUNT, Moto, REGION};
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, RegistryOptions, USER};
use crate::harness::tls::TestCertificates;

/// Records waits instead of sleeping (no timed assertions, fast retries).
#[derive(Default)]
pub struct RecordingSleeper(pub Mutex<Vec<Duration>>);

impl Sleeper for RecordingSleeper {
    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Fast retries for tests.
pub fn test_options() -> ScanOptions {
    ScanOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(60),
        },
        ..ScanOptions::default()
    }
}

pub fn client_with(options: ScanOptions, secrets: SecretSet) -> RegistryClient {
    RegistryClient::builder(options)
        .secrets(Arc::new(secrets))
        .sleeper(Arc::new(RecordingSleeper::default()))
        .build()
        .unwrap()
}

pub fn target(host: &str, repository: &str) -> ScanTarget {
    let mut target = ScanTarget::new(
        ObjectKey::new("apps", repository.replace('/', "-")),
        ImageReference::parse(&format!("{host}/{repository}")).unwrap(),
    );
    target.insecure = true;
    target.timeout = Duration::from_secs(20);
    target
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn secret(pairs: &[(&str, &str)], secret_type: &str) -> SecretData {
    SecretData {
        secret_type: secret_type.into(),
        data: pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    tagpilot::registry::Secret::new(v.as_bytes().to_vec()),
                )
            })
            .collect(),
    }
}

fn basic_auth_secrets(password: &str) -> SecretSet {
    let mut secrets = SecretSet::default();
    secrets.insert(
        ObjectKey::new("apps", "registry-creds"),
        secret(
            &[("username", USER), ("password", password)],
            "kubernetes.io/basic-auth",
        ),
    );
    secrets
}

fn docker_config_secrets(host: &str) -> SecretSet {
    let json = serde_json::json!({"auths": {host: {"username": USER, "password": PASSWORD}}});
    let mut secrets = SecretSet::default();
    secrets.insert(
        ObjectKey::new("apps", "pull-secret"),
        secret(
            &[(".dockerconfigjson", &json.to_string())],
            "kubernetes.io/dockerconfigjson",
        ),
    );
    secrets
}

#[test]
fn anonymous_registry_lists_every_tag_sorted_and_resolves_digests() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    let digests = ImagePusher::new(&registry, "team/app").push_all(["v1.10.0", "v1.2.0", "latest"]);
    let client = client_with(test_options(), SecretSet::default());
    let target = target(&registry.host, "team/app");
    let list = block_on(client.list_tags(&target)).unwrap();
    assert_eq!(
        list,
        TagList {
            tags: vec!["latest".into(), "v1.10.0".into(), "v1.2.0".into()],
            complete: true,
            pages: 1
        }
    );
    let digest = block_on(client.manifest_digest(&target, "v1.2.0")).unwrap();
    assert_eq!(digest, digests[1]);
    let missing =
        block_on(client.list_tags(&self::target(&registry.host, "team/none"))).unwrap_err();
    assert!(matches!(missing, ScanError::NotFound { .. }), "{missing}");
    assert!(missing.to_string().contains("team/none"), "{missing}");
    assert!(!missing.is_transient());
}

#[test]
fn basic_auth_uses_the_secret_and_names_it_when_refused() {
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "team/app").push_all(["1.0.0", "1.1.0"]);
    let mut target = target(&registry.host, "team/app");
    target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "registry-creds"));
    let client = client_with(test_options(), basic_auth_secrets(PASSWORD));
    let list = block_on(client.list_tags(&target)).unwrap();
    assert_eq!(list.tags, ["1.0.0", "1.1.0"]);

    let wrong = client_with(test_options(), basic_auth_secrets("wrong-password"));
    let error = block_on(wrong.list_tags(&target)).unwrap_err();
    assert!(
        matches!(error, ScanError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("check the credentials in Secret apps/registry-creds"),
        "{message}"
    );
    assert!(!message.contains("wrong-password"), "{message}");

    let anonymous = client_with(test_options(), SecretSet::default());
    target.credentials = CredentialSource::Anonymous;
    let error = block_on(anonymous.list_tags(&target))
        .unwrap_err()
        .to_string();
    assert!(error.contains("set spec.secretRef"), "{error}");

    target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "missing"));
    let error = block_on(anonymous.list_tags(&target))
        .unwrap_err()
        .to_string();
    assert!(error.contains("Secret apps/missing not found"), "{error}");
}

#[test]
fn token_auth_fetches_one_token_per_repository_until_it_expires() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all(["a", "b"]);
    let token_server = registry.token_server.as_ref().unwrap();
    let mut target = target(&registry.host, "team/app");
    target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "pull-secret"));
    let client = client_with(test_options(), docker_config_secrets(&registry.host));
    let before = token_server.request_count();
    for _ in 0..3 {
        assert_eq!(
            block_on(client.list_tags(&target)).unwrap().tags,
            ["a", "b"]
        );
    }
    assert_eq!(
        token_server.request_count() - before,
        1,
        "three scans, one token request"
    );
    // Anonymous callers get a token without pull access: refused, with a hint.
    target.credentials = CredentialSource::Anonymous;
    let error = block_on(client.list_tags(&target)).unwrap_err();
    assert!(matches!(error, ScanError::Unauthorized { .. }), "{error}");
}

/// Regression (issue 19): concurrent first scans of a token-auth host each
/// went out without credentials and collected a `401` of their own: 2,000
/// extra requests for 2,000 repositories. The first request now learns the
/// scheme while the others wait for it.
#[test]
fn concurrent_first_scans_of_a_host_share_one_challenge() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    let repositories: Vec<String> = (0..6).map(|i| format!("team/app-{i}")).collect();
    for repository in &repositories {
        ImagePusher::new(&registry, repository).push_all(["v1"]);
    }
    let proxy = FaultProxy::start(&registry.host);
    let client = client_with(test_options(), docker_config_secrets(&proxy.host));
    let targets: Vec<ScanTarget> = repositories
        .iter()
        .map(|repository| {
            let mut target = target(&proxy.host, repository);
            target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "pull-secret"));
            target
        })
        .collect();
    let lists = block_on(futures::future::join_all(
        targets.iter().map(|target| client.list_tags(target)),
    ));
    for list in lists {
        assert_eq!(list.unwrap().tags, ["v1"]);
    }
    let requests = proxy.requests();
    let listings = requests
        .iter()
        .filter(|line| line.contains("/tags/list"))
        .count();
    assert_eq!(
        listings,
        repositories.len() + 1,
        "one challenge, then one authenticated listing per repository: {requests:#?}"
    );
}

#[test]
fn distribution_v3_pagination_follows_every_link() {
    let registry = Registry::start(Distribution::V3, AuthMode::Token);
    let tags: Vec<String> = (0..20).map(|i| format!("1.0.{i}")).collect();
    ImagePusher::new(&registry, "team/app").push_all(tags.iter().map(String::as_str));
    let mut target = target(&registry.host, "team/app");
    target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "pull-secret"));
    let options = ScanOptions {
        page_size: 3,
        ..test_options()
    };
    let client = client_with(options.clone(), docker_config_secrets(&registry.host));
    let list = block_on(client.list_tags(&target)).unwrap();
    let mut expected = tags.clone();
    expected.sort();
    assert_eq!(list.tags, expected);
    assert!(list.complete);
    assert_eq!(list.pages, 7, "20 tags in pages of 3");

    // The cap makes the scan partial, and a partial scan never replaces the stored list.
    let state = tempfile::tempdir().unwrap();
    let store = TagStore::open(state.path()).unwrap();
    let stored = store
        .record(&target.id, target.image.name(), &list, SystemTime::now())
        .unwrap();
    assert!(matches!(stored, RecordOutcome::Updated { .. }));
    let capped = client_with(
        ScanOptions {
            max_tags: 5,
            ..options
        },
        docker_config_secrets(&registry.host),
    );
    let partial = block_on(capped.list_tags(&target)).unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.tags.len(), 5);
    assert_eq!(partial.pages, 2, "stops fetching at the cap");
    assert_eq!(
        store
            .record(&target.id, target.image.name(), &partial, SystemTime::now())
            .unwrap(),
        RecordOutcome::KeptPrevious
    );
    assert_eq!(store.get(&target.id).unwrap().tags, expected);
}

#[test]
fn a_ca_from_cert_secret_ref_verifies_an_https_registry() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::generate(dir.path());
    let registry = Registry::start_with(
        Distribution::V2,
        AuthMode::Anonymous,
        RegistryOptions {
            tls: Some((
                certificates.server_cert.clone(),
                certificates.server_key.clone(),
            )),
            ..RegistryOptions::default()
        },
    );
    ImagePusher::new(&registry, "team/app").push_all(["v1", "v2"]);
    let ca = std::fs::read_to_string(&certificates.ca_cert).unwrap();
    let mut secrets = SecretSet::default();
    secrets.insert(
        ObjectKey::new("apps", "registry-ca"),
        secret(&[("ca.crt", &ca)], "Opaque"),
    );
    secrets.insert(
        ObjectKey::new("apps", "not-tls"),
        secret(&[("username", "x")], "Opaque"),
    );
    let client = client_with(test_options(), secrets);
    let mut target = target(&registry.host, "team/app");
    target.insecure = false;
    // Without the CA the certificate is not trusted.
    let error = block_on(client.list_tags(&target)).unwrap_err();
    assert!(matches!(error, ScanError::Transport { .. }), "{error}");
    target.cert_secret = Some(ObjectKey::new("apps", "registry-ca"));
    assert_eq!(
        block_on(client.list_tags(&target)).unwrap().tags,
        ["v1", "v2"]
    );
    target.cert_secret = Some(ObjectKey::new("apps", "not-tls"));
    let error = block_on(client.list_tags(&target)).unwrap_err().to_string();
    assert!(
        error.contains("Secret apps/not-tls") && error.contains("ca.crt"),
        "{error}"
    );
}

/// Counts `GetAuthorizationToken` calls on the way to the real SDK client.
struct CountingEcr {
    inner: AwsEcrTokenSource,
    calls: AtomicUsize,
}

impl EcrTokenSource for CountingEcr {
    fn authorization_token<'a>(&'a self, registry: &'a EcrRegistry) -> EcrTokenFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.authorization_token(registry)
    }
}

pub fn moto_token_password(moto: &Moto) -> String {
    use base64::Engine as _;
    block_on(async {
        let output = moto
            .ecr_client()
            .get_authorization_token()
            .send()
            .await
            .unwrap();
        let token = output.authorization_data()[0]
            .authorization_token()
            .unwrap()
            .to_string();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap();
        let text = String::from_utf8(decoded).unwrap();
        text.strip_prefix("AWS:").unwrap().to_string()
    })
}

pub fn ecr_host() -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")
}

/// A basic-auth registry that accepts moto's ECR token for user `AWS`.
pub fn ecr_backed_registry(moto: &Moto) -> Registry {
    let password = moto_token_password(moto);
    Registry::start_with(
        Distribution::V2,
        AuthMode::Basic,
        RegistryOptions {
            extra_users: vec![("AWS".into(), password)],
            ..RegistryOptions::default()
        },
    )
}

#[test]
fn ecr_tokens_are_cached_even_when_moto_says_they_already_expired() {
    let moto = Moto::start();
    let registry = ecr_backed_registry(&moto);
    ImagePusher::new(&registry, "shop/front-end").push_all(["main-1", "main-2"]);
    let sdk_config = block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load(),
    );
    let counting = Arc::new(CountingEcr {
        inner: AwsEcrTokenSource::from_sdk_config(sdk_config),
        calls: AtomicUsize::new(0),
    });
    let options = ScanOptions {
        endpoints: RegistryEndpoints::parse([
            format!("{}={}", ecr_host(), registry.base_url()).as_str()
        ])
        .unwrap(),
        ..test_options()
    };
    let client = RegistryClient::builder(options)
        .ecr_token_source(counting.clone())
        .build()
        .unwrap();
    let mut target = target(&ecr_host(), "shop/front-end");
    target.insecure = false; // the endpoint mapping decides the scheme
    target.credentials = CredentialSource::Aws;
    for _ in 0..3 {
        let list = block_on(client.list_tags(&target)).unwrap();
        assert_eq!(list.tags, ["main-1", "main-2"]);
    }
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        1,
        "one GetAuthorizationToken for three scans"
    );
    // A non-ECR host with provider aws is refused before any request.
    let mut wrong = self::target(&registry.host, "shop/front-end");
    wrong.credentials = CredentialSource::Aws;
    let error = block_on(client.list_tags(&wrong)).unwrap_err().to_string();
    assert!(error.contains("provider aws needs an ECR host"), "{error}");
}

#[test]
fn ecr_end_to_end_through_the_cli() {
    let moto = Moto::start();
    let registry = ecr_backed_registry(&moto);
    ImagePusher::new(&registry, "shop/front-end").push_all(["main-abc-1", "main-abc-2"]);
    let password = moto_token_password(&moto);
    let home = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("repo.yaml"),
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: front-end\n  namespace: shop\nspec:\n  image: {}/shop/front-end\n  interval: 5m\n  provider: aws\n",
            ecr_host()
        ),
    )
    .unwrap();
    let output = crate::registry::tagpilot_isolated(home.path())
        .env("AWS_ENDPOINT_URL_ECR", &moto.endpoint)
        .env(
            "TAGPILOT_REGISTRY_ENDPOINTS",
            format!("{}={}", ecr_host(), registry.base_url()),
        )
        .args(["--log-level", "trace", "tags", "-o", "json", "--config"])
        .arg(config.path())
        .arg(format!("{}/shop/front-end", ecr_host()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"image": format!("{}/shop/front-end", ecr_host()), "tags": ["main-abc-1", "main-abc-2"], "complete": true})
    );
    assert!(
        !stderr.contains(&password),
        "the ECR password leaked into the logs"
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    if let Some(line) = stderr.lines().find(|l| l.contains(&encoded)) {
        panic!("the ECR token leaked into the logs: {line}");
    }
}

/// The binary with a private HOME, static AWS credentials, no IMDS and no
/// Docker config of the machine: nothing leaves 127.0.0.1.
pub fn tagpilot_isolated(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tagpilot"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("NO_COLOR", "1");
    command
}
