//! Strategy `Annotations` through the engine's cycle: an in-memory registry
//! (tags, digests, creation times) and a real local git repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::{CycleMode, Engine};
use crate::engine::annotations::ContainerResult;
use crate::engine::metrics::Metrics;
use crate::engine::objects::ObjectSet;
use crate::registry::created::{CreatedLookup, ImageCreated};
use crate::registry::created_store::CreatedStore;
use crate::registry::{DigestResolver, ScanError, ScanTarget, TagList, TagLister};

const IMAGE: &str = "registry.example/lucj/hello";

/// A registry whose tags point to images the test builds.
#[derive(Clone, Default)]
struct Builds {
    /// tag → (digest, creation time)
    tags: Arc<Mutex<BTreeMap<String, (String, Timestamp)>>>,
    configs_fetched: Arc<AtomicUsize>,
    /// Tag listings answer 503 while set.
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Builds {
    /// One CI build: `tags` point to one new image created at `second`.
    fn push(&self, second: i64, tags: &[&str]) {
        let digest = format!("sha256:{second:064}");
        let created = Timestamp::from_second(second).unwrap();
        let mut map = self.tags.lock().unwrap();
        for tag in tags {
            map.insert(tag.to_string(), (digest.clone(), created));
        }
    }

    fn get(&self, target: &ScanTarget, tag: &str) -> Result<(String, Timestamp), ScanError> {
        self.tags
            .lock()
            .unwrap()
            .get(tag)
            .cloned()
            .ok_or_else(|| ScanError::NotFound {
                image: target.image.name().to_string(),
                host: target.image.registry().to_string(),
                detail: format!("{tag} not found"),
            })
    }
}

impl TagLister for Builds {
    async fn list_tags(&self, target: &ScanTarget) -> Result<TagList, ScanError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ScanError::Status {
                image: target.image.name().to_string(),
                url: format!("https://{}/v2/", target.image.registry()),
                status: 503,
                detail: "down for maintenance".into(),
            });
        }
        let tags: Vec<String> = self.tags.lock().unwrap().keys().cloned().collect();
        Ok(TagList::complete(tags))
    }
}

impl DigestResolver for Builds {
    async fn manifest_digest(&self, target: &ScanTarget, tag: &str) -> Result<String, ScanError> {
        Ok(self.get(target, tag)?.0)
    }
}

impl CreatedLookup for Builds {
    async fn lookup_created(
        &self,
        target: &ScanTarget,
        tag: &str,
        store: &CreatedStore,
    ) -> Result<ImageCreated, ScanError> {
        let (digest, created) = self.get(target, tag)?;
        if let Some(known) = store.get(&digest) {
            return Ok(ImageCreated {
                digest,
                created: known,
                fetched: false,
            });
        }
        self.configs_fetched.fetch_add(1, Ordering::SeqCst);
        store.insert(&digest, Some(created));
        Ok(ImageCreated {
            digest,
            created: Some(created),
            fetched: true,
        })
    }
}

fn workload(tag: &str, locked: bool) -> String {
    let lock = if locked {
        "    fluxcd.io/locked: \"true\"\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n  annotations:\n    flux.weave.works/automated: \"true\"\n    flux.weave.works/tag.hello: regexp:^((?!tmp).)*$\n{lock}spec:\n  template:\n    spec:\n      containers:\n      - name: hello\n        image: {IMAGE}:{tag}\n"
    )
}

/// A bare repository whose `main` holds `apps/hello.yaml`, and a way to read it back.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new(hello: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path().join("config.git")).unwrap();
        let blob = repo.blob(hello.as_bytes()).unwrap();
        let mut apps = repo.treebuilder(None).unwrap();
        apps.insert("hello.yaml", blob, 0o100644).unwrap();
        let apps = apps.write().unwrap();
        let mut root = repo.treebuilder(None).unwrap();
        root.insert("apps", apps, 0o040000).unwrap();
        let tree = repo.find_tree(root.write().unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(
            Some("refs/heads/main"),
            &signature,
            &signature,
            "seed",
            &tree,
            &[],
        )
        .unwrap();
        Self { dir }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().join("config.git").display())
    }

    fn head(&self) -> (String, String) {
        let repo = git2::Repository::open_bare(self.dir.path().join("config.git")).unwrap();
        let commit = repo
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        let entry = commit
            .tree()
            .unwrap()
            .get_path(Path::new("apps/hello.yaml"))
            .unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        (
            String::from_utf8(blob.content().to_vec()).unwrap(),
            commit.message().unwrap_or_default().to_string(),
        )
    }
}

fn engine(remote: &Remote, builds: &Builds, state: &Path) -> Engine<Builds> {
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("objects.yaml"),
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: config, namespace: shop}}\nspec: {{url: '{}', interval: 1h, ref: {{branch: main}}}}\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata: {{name: hello, namespace: shop}}\nspec:\n  interval: 1h\n  sourceRef: {{name: config}}\n  git: {{commit: {{author: {{email: bot@example.com}}}}}}\n  update:\n    strategy: Annotations\n    path: ./apps\n    registries:\n      - host: registry.example\n        interval: 1h\n",
            remote.url()
        ),
    )
    .unwrap();
    let (objects, errors) = ObjectSet::load(config.path());
    assert!(errors.is_empty(), "{errors:?}");
    Engine::new(objects, builds.clone(), state, Arc::new(Metrics::new())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_follows_the_newest_build_that_is_not_tmp() {
    let builds = Builds::default();
    builds.push(100, &["9f8e7d6"]);
    builds.push(200, &["1a2b3c4", "master"]);
    builds.push(300, &["tmp"]);
    let remote = Remote::new(&workload("master", false));
    let state = tempfile::tempdir().unwrap();
    let mut engine = engine(&remote, &builds, state.path());

    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(!report.has_errors(), "{report:#?}");
    assert!(automation.commit.is_some(), "{automation:#?}");
    let (file, message) = remote.head();
    assert_eq!(
        file,
        workload("1a2b3c4", false),
        "the sha wins the tie with master"
    );
    assert_eq!(
        message,
        format!(
            "Update image: shop/hello → 1a2b3c4\n\napps/hello.yaml:13 deployment/hello:hello {IMAGE}:master → {IMAGE}:1a2b3c4\n"
        )
    );
    assert_eq!(automation.images[0].tags, 4);
    // Two images pass the filter (master is the sha's image); tmp is never read.
    assert_eq!(builds.configs_fetched.load(Ordering::SeqCst), 2);
    let status = &engine.status().automations["shop/hello"];
    assert_eq!(status.containers[0].result, ContainerResult::Update);
    assert_eq!(status.containers[0].container, "deployment/hello:hello");

    // Nothing new: no commit, no scan (the host's interval is an hour), no lookup.
    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none());
    assert!(!automation.images[0].scanned);
    assert_eq!(automation.containers[0].result, ContainerResult::UpToDate);
    assert_eq!(builds.configs_fetched.load(Ordering::SeqCst), 2);

    // The next build, announced by a webhook: the run scans at once.
    builds.push(400, &["5d6e7f8", "master"]);
    builds.push(500, &["tmp"]);
    let keys = engine.automations_for_push(Some("registry.example"), "lucj/hello", "master");
    assert_eq!(keys, [crate::config::meta::ObjectKey::new("shop", "hello")]);
    let report = engine.cycle(CycleMode::Commit).await;
    assert!(report.automations[0].images[0].scanned);
    assert_eq!(remote.head().0, workload("5d6e7f8", false));
    assert!(report.automations[0].run_again_after.is_none());
    assert!(
        engine
            .automations_for_push(Some("other.example"), "lucj/other", "v1")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_bump_and_holds_downgrades_and_locks() {
    let builds = Builds::default();
    builds.push(100, &["old"]);
    builds.push(200, &["new"]);
    let remote = Remote::new(&workload("old", false));
    let state = tempfile::tempdir().unwrap();
    let mut engine = engine(&remote, &builds, state.path());
    let report = engine.cycle(CycleMode::Plan).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none());
    let diff = automation.diff.as_deref().unwrap();
    assert!(
        diff.contains(&format!("+        image: {IMAGE}:new")),
        "{diff}"
    );
    assert!(
        automation
            .message
            .as_deref()
            .unwrap()
            .starts_with("Update image: shop/hello → new")
    );
    assert_eq!(
        remote.head().0,
        workload("old", false),
        "a plan pushes nothing"
    );

    // The file runs `tmp`, built after every image the filter lets through:
    // moving to the newest of those would go back in time, so it is held.
    builds.push(300, &["tmp"]);
    let remote = Remote::new(&workload("tmp", false));
    let state = tempfile::tempdir().unwrap();
    let mut engine = self::engine(&remote, &builds, state.path());
    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none(), "{automation:#?}");
    assert_eq!(
        automation.containers[0].result,
        ContainerResult::HeldDowngrade
    );
    assert_eq!(automation.held_downgrades.len(), 1);
    assert_eq!(automation.held_downgrades[0].location, "apps/hello.yaml:13");
    assert_eq!(automation.held_downgrades[0].result, format!("{IMAGE}:new"));
    assert!(
        !report.has_errors(),
        "a held downgrade is reported, not an error"
    );

    let remote = Remote::new(&workload("old", true));
    let state = tempfile::tempdir().unwrap();
    let mut engine = self::engine(&remote, &builds, state.path());
    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none());
    assert_eq!(automation.containers[0].result, ContainerResult::Locked);
    assert!(
        automation.images.is_empty(),
        "a locked workload's image is not scanned"
    );
}

/// Invariant 4: a failed scan keeps the last complete list, so no decision
/// changes; the run reports the error, and the next good scan moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scan_changes_no_decision() {
    let builds = Builds::default();
    builds.push(100, &["1a2b3c4", "master"]);
    let remote = Remote::new(&workload("master", false));
    let state = tempfile::tempdir().unwrap();
    let mut engine = engine(&remote, &builds, state.path());
    engine.cycle(CycleMode::Commit).await;
    assert_eq!(remote.head().0, workload("1a2b3c4", false));

    builds.down.store(true, Ordering::SeqCst);
    builds.push(200, &["5d6e7f8", "master"]);
    engine.automations_for_push(Some("registry.example"), "lucj/hello", "5d6e7f8");
    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none());
    assert!(report.has_errors());
    let error = automation.images[0].error.as_deref().unwrap();
    assert!(error.contains("503"), "{error}");
    assert_eq!(automation.containers[0].result, ContainerResult::UpToDate);
    assert_eq!(
        automation.run_again_after,
        Some(std::time::Duration::from_millis(500)),
        "the announced tag is looked for again shortly"
    );

    builds.down.store(false, Ordering::SeqCst);
    let report = engine.cycle(CycleMode::Commit).await;
    assert!(!report.has_errors(), "{report:#?}");
    assert_eq!(remote.head().0, workload("5d6e7f8", false));
}

/// Invariant 11: at most MAX_LOOKUPS_PER_IMAGE creation times are looked up
/// per image and run; the rest follow in a run scheduled shortly after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_time_lookups_are_budgeted_per_run() {
    use crate::engine::annotation_scan::MAX_LOOKUPS_PER_IMAGE;
    let builds = Builds::default();
    for build in 0..=MAX_LOOKUPS_PER_IMAGE as i64 {
        builds.push(1000 + build, &[&format!("build-{build:05}")]);
    }
    let remote = Remote::new(&workload("build-00000", false));
    let state = tempfile::tempdir().unwrap();
    let mut engine = engine(&remote, &builds, state.path());
    let report = engine.cycle(CycleMode::Commit).await;
    let automation = &report.automations[0];
    assert!(automation.commit.is_none());
    assert_eq!(automation.images[0].pending_lookups, 1);
    assert_eq!(automation.images[0].fetched_configs, MAX_LOOKUPS_PER_IMAGE);
    assert_eq!(automation.containers[0].result, ContainerResult::Failed);
    assert!(
        automation.containers[0]
            .message
            .as_deref()
            .unwrap()
            .contains("not looked up yet")
    );
    assert_eq!(
        automation.run_again_after,
        Some(std::time::Duration::from_secs(5))
    );
    let report = engine.cycle(CycleMode::Commit).await;
    assert!(!report.has_errors(), "{report:#?}");
    let newest = format!("build-{MAX_LOOKUPS_PER_IMAGE:05}");
    assert_eq!(remote.head().0, workload(&newest, false));
}

impl crate::registry::inspect::ImageInspector for Builds {
    async fn signature(
        &self,
        _target: &ScanTarget,
        _digest: &str,
        _keys: &crate::registry::cosign::CosignKeys,
    ) -> Result<crate::registry::signatures::SignatureOutcome, ScanError> {
        unreachable!("annotation filters never ask for signatures")
    }

    async fn platforms(
        &self,
        _target: &ScanTarget,
        _digest: &str,
    ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, ScanError> {
        unreachable!("annotation filters never ask for platforms")
    }
}
