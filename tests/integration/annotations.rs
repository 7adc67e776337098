//! Flux v1 annotations against a real registry with token auth (the GitLab
//! registry's flow): creation times read from image configs once per digest
//! (image indexes included), and the annotation core — discover, list tags,
//! look up creation times, decide, rewrite — bumping the walkthrough's workload
//! to the newest non-`tmp` build, again after a second push, and not at all
//! once it is locked. (The engine's strategy, commits and pushes come with the
//! wiring step.)

use std::path::Path;

use tagpilot::config::secrets::SecretSet;
use tagpilot::registry::created_store::CreatedStore;
use tagpilot::registry::{
    CredentialSource, ObjectKey, RegistryClient, ScanTarget, Secret, SecretData, TagLister as _,
};
use tagpilot::update::UpdateMode;
use tagpilot::update::annotations::{
    self, AnnotationReport, AnnotationUpdates, CreatedAt, Outcome, RegistryFacts, TagFacts,
};

use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::registry::{block_on, client_with, target, test_options};

const REPOSITORY: &str = "lucj/hello";

pub fn pull_secret(host: &str) -> SecretSet {
    let json = serde_json::json!({"auths": {host: {"username": USER, "password": PASSWORD}}});
    let mut secrets = SecretSet::default();
    secrets.insert(
        ObjectKey::new("apps", "gitlab-registry"),
        SecretData {
            secret_type: "kubernetes.io/dockerconfigjson".into(),
            data: [(
                ".dockerconfigjson".to_string(),
                Secret::new(json.to_string().into_bytes()),
            )]
            .into_iter()
            .collect(),
        },
    );
    secrets
}

fn authenticated_target(host: &str, image: &tagpilot::image::ImageReference) -> ScanTarget {
    let mut target = target(host, &image.repository());
    target.image = image.clone();
    target.credentials = CredentialSource::Secret(ObjectKey::new("apps", "gitlab-registry"));
    target
}

#[test]
fn creation_times_are_read_from_the_config_once_per_digest() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    let mut pusher = ImagePusher::new(&registry, REPOSITORY);
    let old = pusher.push_with_created("old", Some("2024-02-01T10:00:00Z"));
    pusher.push_with_created("new", Some("2024-03-01T10:00:00.5+01:00"));
    pusher.push_with_created("zero", Some("0001-01-01T00:00:00Z"));
    pusher.push_with_created("none", None);
    let multi = pusher.push_index(
        "multi",
        &[
            ("linux", "arm64", "2024-01-01T00:00:00Z"),
            ("linux", "amd64", "2024-01-02T00:00:00Z"),
        ],
    );
    let state = tempfile::tempdir().unwrap();
    let store = CreatedStore::open(state.path()).unwrap();
    let client = client_with(test_options(), pull_secret(&registry.host));
    let image =
        tagpilot::image::ImageReference::parse(&format!("{}/{REPOSITORY}", registry.host)).unwrap();
    let target = authenticated_target(&registry.host, &image);
    let expected = [
        ("old", Some("2024-02-01T10:00:00Z")),
        ("new", Some("2024-03-01T09:00:00.5Z")),
        ("zero", None),
        ("none", None),
        ("multi", Some("2024-01-02T00:00:00Z")),
    ];
    for (tag, created) in expected {
        let found = block_on(client.image_created(&target, tag, &store)).unwrap();
        assert!(found.fetched, "{tag}: first lookup asks the registry");
        assert_eq!(
            found.created.map(|t| t.to_string()),
            created.map(str::to_string),
            "{tag}"
        );
    }
    let found = block_on(client.image_created(&target, "old", &store)).unwrap();
    assert_eq!(found.digest, old);
    let found = block_on(client.image_created(&target, "multi", &store)).unwrap();
    assert_eq!(
        found.digest, multi,
        "an index is stored under its own digest"
    );

    // Known digests cost one HEAD each, even after a restart.
    store.save().unwrap();
    let reopened = CreatedStore::open(state.path()).unwrap();
    let before = client.request_count();
    for (tag, created) in expected {
        let found = block_on(client.image_created(&target, tag, &reopened)).unwrap();
        assert!(!found.fetched, "{tag}: known digest");
        assert_eq!(
            found.created.map(|t| t.to_string()),
            created.map(str::to_string)
        );
    }
    assert_eq!(client.request_count() - before, expected.len() as u64);

    // A missing tag is a clear error naming the image.
    let error = block_on(client.image_created(&target, "missing", &store))
        .unwrap_err()
        .to_string();
    assert!(error.contains(REPOSITORY), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
}

/// One run of the annotation core, as the engine will drive it.
pub fn run_once(
    client: &RegistryClient,
    store: &CreatedStore,
    host: &str,
    repo: &Path,
) -> AnnotationReport {
    let discovery = annotations::discover(repo, Path::new(".")).unwrap();
    let mut facts = RegistryFacts::default();
    for image in discovery.images() {
        let list = block_on(client.list_tags(&authenticated_target(host, &image))).unwrap();
        facts.set_tags(&image, list.tags);
    }
    for (image, tag) in annotations::created_lookups(&discovery, &facts) {
        let found =
            block_on(client.image_created(&authenticated_target(host, &image), &tag, store))
                .unwrap();
        let created = found.created.map_or(CreatedAt::Absent, CreatedAt::Known);
        facts.set_tag_facts(
            &image,
            &tag,
            TagFacts {
                digest: Some(found.digest),
                created: Some(created),
            },
        );
    }
    store.save().unwrap();
    let decisions = annotations::decide(&discovery, &facts);
    for decision in &decisions {
        assert!(
            matches!(
                decision.outcome,
                Outcome::Update(_) | Outcome::UpToDate | Outcome::NotAutomated
            ),
            "{decision:?}"
        );
    }
    let updates: AnnotationUpdates = decisions
        .iter()
        .filter_map(|d| d.update())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations::apply_updates(repo, Path::new("."), &updates, UpdateMode::Write).unwrap()
}

fn workload(host: &str, tag: &str, locked: bool) -> String {
    let lock = if locked {
        "    fluxcd.io/locked: \"true\"\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n  annotations:\n    flux.weave.works/automated: \"true\"\n    flux.weave.works/tag.hello: regexp:^((?!tmp).)*$\n{lock}spec:\n  template:\n    spec:\n      containers:\n      - name: hello\n        image: {host}/{REPOSITORY}:{tag} # the CI pushes tmp, the sha, the branch\n"
    )
}

#[test]
fn the_walkthrough_workload_follows_the_newest_build_that_is_not_tmp() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    let host = registry.host.clone();
    let mut pusher = ImagePusher::new(&registry, REPOSITORY);
    pusher.push_with_created("9f8e7d6", Some("2024-02-01T10:00:00Z"));
    // One build: the sha and the branch point to images created in the same second.
    pusher.push_with_created("1a2b3c4", Some("2024-03-01T10:00:00Z"));
    pusher.push_with_created("master", Some("2024-03-01T10:00:00Z"));
    pusher.push_with_created("tmp", Some("2024-03-01T10:05:00Z"));

    let repo = tempfile::tempdir().unwrap();
    let file = repo.path().join("hello.yaml");
    std::fs::write(&file, workload(&host, "master", false)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = CreatedStore::open(state.path()).unwrap();
    let client = client_with(test_options(), pull_secret(&host));

    let report = run_once(&client, &store, &host, repo.path());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        workload(&host, "1a2b3c4", false),
        "newest non-tmp build; the tie with master goes to the smaller tag"
    );
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].container, "hello");
    assert!(run_once(&client, &store, &host, repo.path()).is_empty());

    // The next build.
    pusher.push_with_created("5d6e7f8", Some("2024-03-02T10:00:00Z"));
    pusher.push_with_created("master", Some("2024-03-02T10:00:00Z"));
    pusher.push_with_created("tmp", Some("2024-03-02T10:05:00Z"));
    run_once(&client, &store, &host, repo.path());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        workload(&host, "5d6e7f8", false)
    );

    // Locked: a third build changes nothing.
    std::fs::write(&file, workload(&host, "5d6e7f8", true)).unwrap();
    pusher.push_with_created("0c1d2e3", Some("2024-03-03T10:00:00Z"));
    assert!(run_once(&client, &store, &host, repo.path()).is_empty());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        workload(&host, "5d6e7f8", true)
    );
}

/// Object storage in front of which the registry redirects blob downloads
/// (GitLab's registry does this to cloud storage): serves files under a
/// directory set once the registry runs, and records whether any request
/// carried an `Authorization` header.
struct BlobStorage {
    base_url: String,
    root: std::sync::Arc<std::sync::Mutex<Option<std::path::PathBuf>>>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BlobStorage {
    fn start() -> Self {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/", listener.local_addr().unwrap());
        let root = std::sync::Arc::new(std::sync::Mutex::new(None::<std::path::PathBuf>));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (served_root, log) = (root.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push(line.trim_end().to_string());
                }
                let path = head
                    .first()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_string();
                log.lock().unwrap().push(head.join("\n"));
                let file = served_root
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map(|root| root.join(path.trim_start_matches('/')));
                let body = file.and_then(|f| std::fs::read(f).ok());
                let mut stream = reader.into_inner();
                let response = match &body {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.write_all(body.as_deref().unwrap_or_default());
            }
        });
        Self {
            base_url,
            root,
            requests,
        }
    }
}

#[test]
fn redirected_blob_downloads_are_followed_without_credentials() {
    let storage = BlobStorage::start();
    let options = crate::harness::registry::RegistryOptions {
        extra_config: format!(
            "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {}\n",
            storage.base_url
        ),
        ..Default::default()
    };
    let registry = Registry::start_with(Distribution::V2, AuthMode::Token, options);
    *storage.root.lock().unwrap() = Some(registry.storage_dir());
    ImagePusher::new(&registry, REPOSITORY).push_with_created("v1", Some("2024-05-01T00:00:00Z"));
    let client = client_with(test_options(), pull_secret(&registry.host));
    let image =
        tagpilot::image::ImageReference::parse(&format!("{}/{REPOSITORY}", registry.host)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = CreatedStore::open(state.path()).unwrap();
    let found =
        block_on(client.image_created(&authenticated_target(&registry.host, &image), "v1", &store))
            .unwrap();
    assert_eq!(
        found.created.map(|t| t.to_string()).as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    let requests = storage.requests.lock().unwrap();
    assert!(
        !requests.is_empty(),
        "the config blob came from the storage"
    );
    for request in requests.iter() {
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "credentials followed the redirect:\n{request}"
        );
    }
}
