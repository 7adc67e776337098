//! The update engine's limits (issue 17): marked files above the size limit,
//! in-place writes and hard links, and the sweep of crashed runs' temporary
//! files.

use std::fs;
use std::path::Path;

use super::*;
use crate::image::ImageReference;

const MARKED: &str = "image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"ns:app\"}\n";

fn results() -> PolicyResults {
    let mut results = PolicyResults::new();
    results.insert(
        PolicyId::parse("ns:app").unwrap(),
        PolicyResult::new(ImageReference::parse("ghcr.io/org/app:2.0.0").unwrap()).unwrap(),
    );
    results
}

/// `size` bytes of YAML comments with the marked line at `marker_at` (or none).
fn big_file(path: &Path, size: usize, marker_at: Option<usize>) {
    let mut text = String::with_capacity(size + MARKED.len());
    let line = format!("# {}\n", "x".repeat(77));
    let mut marker_at = marker_at;
    while text.len() < size {
        if marker_at.is_some_and(|at| text.len() >= at) {
            text.push_str(MARKED);
            marker_at = None;
        }
        text.push_str(&line);
    }
    fs::write(path, text).unwrap();
}

#[test]
fn marked_files_above_the_limit_are_skipped_by_size_and_unmarked_ones_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let limit = usize::try_from(MAX_MARKED_FILE_BYTES).unwrap();
    // The marker right after the limit, so it straddles a 64 KiB read chunk somewhere.
    big_file(
        &dir.path().join("big.yaml"),
        limit + 300_000,
        Some(limit + 65_530),
    );
    big_file(&dir.path().join("big-unmarked.yaml"), limit + 300_000, None);
    fs::write(dir.path().join("small.yaml"), MARKED).unwrap();
    let before = fs::read(dir.path().join("big.yaml")).unwrap();

    let report = apply_results(dir.path(), Path::new("."), &results(), UpdateMode::Write).unwrap();
    assert_eq!(report.changes.len(), 1, "the small file is updated");
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].file, Path::new("big.yaml"));
    let reason = report.skipped[0].reason.to_string();
    assert!(
        matches!(report.skipped[0].reason, SkipReason::TooLarge { bytes } if bytes > MAX_MARKED_FILE_BYTES),
        "{reason}"
    );
    assert!(reason.contains("8 MiB limit"), "{reason}");
    assert_eq!(fs::read(dir.path().join("big.yaml")).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn in_place_runs_skip_hard_linked_files_and_atomic_runs_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir(&repo).unwrap();
    let outside = dir.path().join("outside.yaml");
    fs::write(&outside, MARKED).unwrap();
    fs::hard_link(&outside, repo.join("linked.yaml")).unwrap();
    fs::write(repo.join("plain.yaml"), MARKED).unwrap();

    let report =
        apply_results(&repo, Path::new("."), &results(), UpdateMode::WriteInPlace).unwrap();
    assert_eq!(report.changes.len(), 1, "plain.yaml is written in place");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].file, Path::new("linked.yaml"));
    assert_eq!(
        report.skipped[0].reason,
        SkipReason::HardLinked { links: 2 }
    );
    assert!(
        report.skipped[0]
            .reason
            .to_string()
            .contains("without --in-place"),
        "the message says what to do"
    );
    assert_eq!(
        fs::read_to_string(&outside).unwrap(),
        MARKED,
        "the file outside is untouched"
    );

    // An atomic run replaces the name inside the repository; the other name keeps its content.
    let report = apply_results(&repo, Path::new("."), &results(), UpdateMode::Write).unwrap();
    assert_eq!(report.changes.len(), 1);
    assert!(
        fs::read_to_string(repo.join("linked.yaml"))
            .unwrap()
            .contains("2.0.0")
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), MARKED);
}

#[cfg(target_os = "linux")]
#[test]
fn atomic_runs_sweep_stale_temporary_files_and_dry_runs_do_not() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("apps")).unwrap();
    fs::write(dir.path().join("apps/app.yaml"), MARKED).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let leftover = dir
        .path()
        .join(format!("apps/.app.yaml.tagpilot-{dead}-0.tmp"));
    let live = dir.path().join(format!(
        "apps/.app.yaml.tagpilot-{}-0.tmp",
        std::os::unix::process::parent_id()
    ));
    let foreign = dir
        .path()
        .join(format!("apps/.notes.txt.tagpilot-{dead}-0.tmp"));
    for path in [&leftover, &live, &foreign] {
        fs::write(path, "half-writ").unwrap();
    }
    apply_results(dir.path(), Path::new("."), &results(), UpdateMode::DryRun).unwrap();
    assert!(leftover.exists(), "a dry run writes and removes nothing");
    apply_results(dir.path(), Path::new("."), &results(), UpdateMode::Write).unwrap();
    assert!(!leftover.exists(), "the crashed run's file is removed");
    assert!(live.exists(), "a running process's file is kept");
    assert!(foreign.exists(), "a name that is not ours is kept");
}

/// The atomic write stages every file before it renames any: when one file
/// cannot be staged, no original changes and no temporary file stays.
#[test]
fn a_file_that_cannot_be_staged_leaves_every_original_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    fs::write(&good, "old").unwrap();
    let gone = dir.path().join("gone/missing.yaml");
    let files = [
        FileUpdate {
            file: "good.yaml".into(),
            original: "old".into(),
            updated: "new".into(),
        },
        FileUpdate {
            file: "gone/missing.yaml".into(),
            original: "old".into(),
            updated: "new".into(),
        },
    ];
    let error = write_staged(&[good.clone(), gone], &files).unwrap_err();
    assert!(
        matches!(&error, UpdateError::Write { path, .. } if path == Path::new("gone/missing.yaml")),
        "{error:?}"
    );
    assert_eq!(fs::read_to_string(&good).unwrap(), "old");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["good.yaml"]);
}

/// When the write returns, every file has its new content, its permissions,
/// and no temporary file is left beside it.
#[cfg(unix)]
#[test]
fn the_atomic_write_replaces_every_file_and_leaves_no_temporary() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut reals = Vec::new();
    let mut files = Vec::new();
    for i in 0..40 {
        let path = dir.path().join(format!("app-{i}.yaml"));
        fs::write(&path, format!("old {i}")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        reals.push(path);
        files.push(FileUpdate {
            file: format!("app-{i}.yaml").into(),
            original: format!("old {i}"),
            updated: format!("new {i}"),
        });
    }
    write_staged(&reals, &files).unwrap();
    for (i, path) in reals.iter().enumerate() {
        assert_eq!(fs::read_to_string(path).unwrap(), format!("new {i}"));
        assert_eq!(
            fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 40);
}
