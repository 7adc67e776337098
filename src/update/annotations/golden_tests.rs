//! Golden trees: `testdata/annotations/<case>/{input,expected}/` compared byte for byte.
//!
//! Each case has `facts.json` (image name → tag → creation time, `null` for an
//! image without one; every tag's digest is `sha256(NAME:TAG)`) and
//! `expected-decisions.txt` (one line per container). For every case the
//! runner, on a fresh copy of `input/`, discovers, decides from the facts, and
//! checks that a dry run writes nothing and predicts the expected tree, that a
//! real run produces it (files it did not change keep their inode and mtime),
//! and that a second run changes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::*;
use crate::update::golden_tests::{copy_tree, read_tree};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/annotations")
        .join(case)
}

/// The registry as the case describes it.
fn load_facts(case: &str) -> RegistryFacts {
    let text = fs::read_to_string(case_dir(case).join("facts.json")).unwrap();
    let images: BTreeMap<String, BTreeMap<String, Option<String>>> =
        serde_json::from_str(&text).unwrap();
    let mut facts = RegistryFacts::default();
    for (name, tags) in images {
        let image = ImageReference::parse(&name).unwrap();
        facts.set_tags(&image, tags.keys().cloned().collect());
        for (tag, created) in tags {
            let digest = format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{name}:{tag}")))
            );
            let created = match created {
                Some(time) => CreatedAt::Known(time.parse().unwrap()),
                None => CreatedAt::Absent,
            };
            facts.set_tag_facts(
                &image,
                &tag,
                TagFacts {
                    digest: Some(digest),
                    created: Some(created),
                },
            );
        }
    }
    facts
}

fn render(discovery: &Discovery, decisions: &[ContainerDecision]) -> String {
    let mut out = String::new();
    for d in decisions {
        let outcome = match &d.outcome {
            Outcome::NotAutomated => "not automated (or locked, or ignored)".to_string(),
            Outcome::UpToDate => "up to date".to_string(),
            Outcome::Update(image) => format!("update to {image}"),
            Outcome::Held { tag, reason } => format!("held ({tag} ranks first: {reason})"),
            Outcome::DigestUnknown { tag } => format!("digest of {tag} unknown"),
            Outcome::NotScanned => "image not scanned".to_string(),
            Outcome::Failed(error) => format!("failed: {error}"),
            Outcome::InvalidFilter(error) => format!("invalid filter: {error}"),
        };
        let _ = writeln!(
            out,
            "{} {} {} {} [{}]: {outcome}",
            crate::update::report::slash_path(&d.key.file),
            d.key.workload,
            d.key.container,
            d.current,
            d.filter
        );
    }
    for workload in discovery.workloads() {
        for (container, reason) in &workload.unusable {
            let _ = writeln!(out, "unusable {} {container}: {reason}", workload.id);
        }
    }
    for s in &discovery.skipped {
        let _ = writeln!(
            out,
            "skipped {}: {}",
            crate::update::report::slash_path(&s.file),
            s.reason
        );
    }
    out
}

fn run_case(case: &str) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_tree(&case_dir(case).join("input"), &repo);
    let expected = read_tree(&case_dir(case).join("expected"));
    let facts = load_facts(case);

    let discovery = discover(&repo, Path::new(".")).unwrap();
    assert_eq!(
        created_lookups(&discovery, &facts),
        vec![],
        "{case}: every creation time is given"
    );
    let decisions = decide(&discovery, &facts);
    let rendered = render(&discovery, &decisions);
    let golden = case_dir(case).join("expected-decisions.txt");
    if std::env::var_os("TAGPILOT_BLESS").is_some() {
        fs::write(&golden, &rendered).unwrap();
    }
    assert_eq!(
        rendered,
        fs::read_to_string(&golden).unwrap_or_default(),
        "{case}: decisions"
    );
    let updates: AnnotationUpdates = decisions
        .iter()
        .filter_map(|d| d.update())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let before = read_tree(&repo);
    #[cfg(unix)]
    let identities = crate::update::golden_tests::identities(&repo);
    let dry = apply_updates(&repo, Path::new("."), &updates, UpdateMode::DryRun).unwrap();
    assert_eq!(read_tree(&repo), before, "{case}: a dry run writes nothing");
    let mut predicted = before.clone();
    for file in &dry.files {
        predicted.insert(file.file.clone(), file.updated.clone().into_bytes());
    }
    assert_eq!(predicted, expected, "{case}: the dry run predicts the tree");

    let report = apply_updates(&repo, Path::new("."), &updates, UpdateMode::Write).unwrap();
    assert_eq!(
        report, dry,
        "{case}: the write run does what the dry run said"
    );
    assert_eq!(read_tree(&repo), expected, "{case}: expected tree");
    assert_eq!(
        report.changes.len(),
        updates.len(),
        "{case}: one change per update"
    );
    #[cfg(unix)]
    {
        let after = crate::update::golden_tests::identities(&repo);
        for (path, identity) in identities {
            if !report.files.iter().any(|f| f.file == path) {
                assert_eq!(
                    after[&path],
                    identity,
                    "{case}: {} untouched",
                    path.display()
                );
            }
        }
    }
    let again = apply_updates(&repo, Path::new("."), &updates, UpdateMode::Write).unwrap();
    assert!(again.is_empty(), "{case}: a second run changes nothing");
    let rediscovered = discover(&repo, Path::new(".")).unwrap();
    assert!(
        decide(&rediscovered, &facts)
            .iter()
            .all(|d| d.update().is_none()),
        "{case}: after the update every container is current"
    );
}

#[test]
fn walkthrough() {
    run_case("walkthrough");
}

#[test]
fn kinds() {
    run_case("kinds");
}

#[test]
fn helmrelease() {
    run_case("helmrelease");
}

#[test]
fn byte_exact() {
    run_case("byte-exact");
}

#[test]
fn filters() {
    run_case("filters");
}

#[test]
fn invalid_yaml() {
    run_case("invalid-yaml");
}

#[test]
fn lookups_name_every_matching_tag_and_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&case_dir("walkthrough").join("input"), dir.path());
    let discovery = discover(dir.path(), Path::new(".")).unwrap();
    let image = ImageReference::parse("registry.gitlab.com/lucj/hello").unwrap();
    assert_eq!(discovery.images(), vec![image.with_tag("master", None)]);
    let mut facts = RegistryFacts::default();
    facts.set_tags(
        &image,
        vec!["tmp".into(), "master".into(), "1a2b3c4".into()],
    );
    let wanted: Vec<String> = created_lookups(&discovery, &facts)
        .into_iter()
        .map(|(_, tag)| tag)
        .collect();
    assert_eq!(wanted, ["1a2b3c4", "master"], "tmp is filtered out");
    let decisions = decide(&discovery, &facts);
    assert!(matches!(
        decisions[0].outcome,
        Outcome::Failed(SelectError::CreationTimeMissing { .. })
    ));
}
