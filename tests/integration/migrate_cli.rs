//! `tagpilot migrate flux-v1` through the binary: the golden repository of
//! `testdata/migrate/flux-v1/` (several workloads, every filter kind, workloads
//! that cannot be migrated) byte for byte, the dry run's diff (which `git apply`
//! turns into the real run's tree), and the exit codes of the CLI contract.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::update_cli::{copy_tree, read_tree};

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/migrate/flux-v1")
}

fn migrate(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagpilot"))
        .args(["migrate", "flux-v1"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn golden(name: &str) -> String {
    fs::read_to_string(case_dir().join(name)).unwrap()
}

#[test]
fn migrate_flux_v1_writes_markers_and_objects_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), dir.path());
    let output = migrate(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), golden("expected-stdout.txt"));
    assert_eq!(
        read_tree(dir.path()),
        read_tree(&case_dir().join("expected"))
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("cannot order by creation time"), "{stdout}");
    assert!(stdout.contains("not migrated: it is locked"), "{stdout}");

    // Everything migratable is done: a second run has nothing to do.
    fs::remove_file(dir.path().join("image-automation.yaml")).unwrap();
    let again = migrate(dir.path(), &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("could be migrated"));
    assert!(!dir.path().join("image-automation.yaml").exists());
}

#[test]
fn migrate_flux_v1_dry_run_prints_a_diff_that_git_applies() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), dir.path());
    let output = migrate(dir.path(), &["--dry-run"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), golden("expected-dry-run.diff"));
    assert_eq!(text(&output.stderr), golden("expected-dry-run-stderr.txt"));
    assert_eq!(read_tree(dir.path()), read_tree(&case_dir().join("input")));
    let scratch = tempfile::tempdir().unwrap();
    let patch = scratch.path().join("migration.diff");
    fs::write(&patch, &output.stdout).unwrap();
    let applied = Command::new("git")
        .arg("apply")
        .arg(&patch)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert_eq!(
        read_tree(dir.path()),
        read_tree(&case_dir().join("expected"))
    );
}

#[test]
fn migrate_flux_v1_exit_codes_follow_the_contract() {
    // Nothing automated: exit 1, nothing written.
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        case_dir().join("input/apps/plain.yaml"),
        dir.path().join("plain.yaml"),
    )
    .unwrap();
    let output = migrate(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(read_tree(dir.path()).len(), 1);

    // An unreadable filter: exit 2, names the file and the annotation, changes nothing.
    let bad = "kind: Deployment\nmetadata:\n  name: x\n  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.app: semver:not a range\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/acme/x:1.0.0\n";
    fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let output = migrate(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("fluxcd.io/tag.app"), "{stderr}");
    assert!(stderr.contains("not a range"), "{stderr}");
    assert_eq!(
        fs::read_to_string(dir.path().join("bad.yaml")).unwrap(),
        bad
    );

    // Flags and paths.
    let good = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), good.path());
    let before = read_tree(good.path());
    for args in [
        vec!["--api-version", "example.com/v1"],
        vec!["--namespace", "Not_A_Name"],
        vec!["--output", "apps/hello.yaml"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_tagpilot"))
            .args(["migrate", "flux-v1", "."])
            .args(&args)
            .current_dir(good.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(read_tree(good.path()), before, "{args:?}");
    }
    let output = migrate(&good.path().join("missing"), &[]);
    assert_eq!(output.status.code(), Some(2));

    // Our own API group on request.
    let output = migrate(
        good.path(),
        &[
            "--api-version",
            "tagpilot.dev/v1alpha1",
            "--namespace",
            "shop",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let objects = fs::read_to_string(good.path().join("image-automation.yaml")).unwrap();
    assert!(objects.starts_with("apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\n"));
    assert!(objects.contains("  namespace: shop\n"));
    assert!(!objects.contains("image.toolkit.fluxcd.io"));
    let hello = fs::read_to_string(good.path().join("apps/hello.yaml")).unwrap();
    assert!(
        hello.contains("# {\"$imagepolicy\": \"shop:lucj-hello\"}"),
        "{hello}"
    );
}

/// The acceptance check of the migration: the same registry and the same
/// annotated repository give the same images whether the engine runs the
/// annotations (strategy `Annotations`) or the migrated markers and objects
/// (both `tagpilot run --once`, real git server over http) — for filters
/// whose tags sort the way they were built (semver, `main-N`, `build-N`, and
/// version tags for `glob:*`).
#[test]
fn the_migrated_configuration_bumps_like_the_annotations() {
    use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer};
    use crate::harness::images::ImagePusher;
    use crate::harness::registry::{AuthMode, Distribution, Registry};
    use crate::harness::tagpilot::{Automation, Tagpilot, http_source};

    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    let host = registry.host.clone();
    for (repository, tags) in [
        ("acme/shop", &["1.2.3", "1.2.9", "1.3.0"][..]),
        ("acme/proxy", &["main-100", "main-105"][..]),
        ("acme/db", &["build-9", "build-41", "build-100"][..]),
        ("acme/api", &["2.4.0", "2.5.0"][..]),
        ("acme/agent", &["7", "8"][..]),
    ] {
        let mut pusher = ImagePusher::new(&registry, repository);
        for (day, tag) in tags.iter().enumerate() {
            pusher.push_with_created(tag, Some(&format!("2024-03-0{}T10:00:00Z", day + 1)));
        }
    }
    let input = |name: &str| {
        fs::read_to_string(case_dir().join("input/apps").join(name))
            .unwrap()
            .replace("ghcr.io/acme/", &format!("{host}/acme/"))
    };
    let files = [
        ("shop.yaml", input("shop.yaml")),
        ("helm.yaml", input("helm.yaml")),
    ];

    // The migrated markers and objects, run by the engine.
    let migrated = tempfile::tempdir().unwrap();
    fs::create_dir(migrated.path().join("apps")).unwrap();
    for (name, text) in &files {
        fs::write(migrated.path().join("apps").join(name), text).unwrap();
    }
    let tagpilot = Tagpilot::new();
    let objects = tagpilot.config_dir().join("images.yaml");
    let output = migrate(
        migrated.path(),
        &["--namespace", "shop", "--output", objects.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // The test registry speaks plain HTTP: the one setting a user adds by hand.
    let yaml = fs::read_to_string(&objects)
        .unwrap()
        .replace("  interval: 5m\n", "  interval: 5m\n  insecure: true\n");
    fs::write(&objects, yaml).unwrap();
    let repos = GitRepos::new();
    let contents: Vec<(String, String)> = files
        .iter()
        .map(|(name, _)| {
            let path = format!("apps/{name}");
            let text = fs::read_to_string(migrated.path().join(&path)).unwrap();
            (path, text)
        })
        .collect();
    let contents: Vec<(&str, &str)> = contents
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let bare = repos.create("config", &contents);
    // fluxd's rules on the annotations: the engine's Annotations strategy.
    let annotated_files: Vec<(String, String)> = files
        .iter()
        .map(|(name, text)| (format!("apps/{name}"), text.clone()))
        .collect();
    let annotated_files: Vec<(&str, &str)> = annotated_files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let annotated_bare = repos.create("annotated", &annotated_files);
    let server = HttpGitServer::start(&repos);
    tagpilot.write(
        "source.yaml",
        &http_source(&server.url(&bare), GIT_USER, GIT_PASSWORD),
    );
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());
    tagpilot.run_once().success();
    let annotations = Tagpilot::new();
    annotations.write(
        "source.yaml",
        &http_source(&server.url(&annotated_bare), GIT_USER, GIT_PASSWORD),
    );
    annotations.write(
        "automation.yaml",
        &crate::annotations_engine::automation(
            "1h",
            &format!("      - host: {host}\n        insecure: true\n"),
        ),
    );
    annotations.run_once().success();

    let images = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                let l = l.trim_start().trim_start_matches("- ");
                l.starts_with("image: ") || l.starts_with("repository: ") || l.starts_with("tag: ")
            })
            .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_string())
            .collect()
    };
    for (name, _) in &files {
        let by_annotations =
            crate::harness::git_fixtures::show(&annotated_bare, "main", &format!("apps/{name}"));
        let by_markers = crate::harness::git_fixtures::show(&bare, "main", &format!("apps/{name}"));
        assert_eq!(images(&by_markers), images(&by_annotations), "{name}");
    }
    let shop = crate::harness::git_fixtures::show(&annotated_bare, "main", "apps/shop.yaml");
    for bumped in [
        "acme/shop:1.2.9",
        "acme/proxy:main-105\"",
        "acme/db:build-100",
        "acme/shop:1.3.0",
        "acme/agent:7",
    ] {
        assert!(shop.contains(bumped), "{bumped} in\n{shop}");
    }
    let helm = crate::harness::git_fixtures::show(&annotated_bare, "main", "apps/helm.yaml");
    assert!(helm.contains("tag: 2.5.0"), "{helm}");
}
