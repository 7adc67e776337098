//! Golden trees: `testdata/update/<case>/{input,expected}/` compared byte for byte.
//!
//! Each case also has `results.json` (policy → image reference) and
//! `expected-changes.json` (the structured change list and the skipped files).
//! For every case the runner checks, on a fresh copy of `input/`:
//! - a dry run writes nothing and predicts exactly the expected tree;
//! - a real run produces the expected tree and the expected changes, and every
//!   file it did not change keeps its inode and mtime (it was not rewritten);
//! - a second run changes nothing.
//!
//! Git cannot hold a `.git` directory or symlinks that point outside a
//! temporary tree, so the `file-types` and `symlinks` cases add them at run time.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::image::ImageReference;

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/update")
        .join(case)
}

fn load_results(case: &str) -> PolicyResults {
    let text = fs::read_to_string(case_dir(case).join("results.json")).unwrap();
    let map: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    map.into_iter()
        .map(|(policy, image)| {
            (
                PolicyId::parse(&policy).unwrap(),
                PolicyResult::new(ImageReference::parse(&image).unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Regular files under `dir` (symlinks not followed), relative path → bytes.
pub(crate) fn read_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let relative = entry.path().strip_prefix(dir).unwrap().to_path_buf();
                files.insert(relative, fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

/// (inode, mtime) of every regular file.
#[cfg(unix)]
pub(crate) fn identities(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    read_tree(dir)
        .into_keys()
        .map(|path| {
            let meta = fs::metadata(dir.join(&path)).unwrap();
            (path, (meta.ino(), meta.modified().unwrap()))
        })
        .collect()
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in read_tree(from) {
        let target = to.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}

/// Run-time additions that git cannot hold; returns a directory outside the tree to check.
fn setup(case: &str, repo: &Path, outside: &Path) {
    match case {
        "file-types" => {
            fs::create_dir_all(repo.join(".git")).unwrap();
            fs::write(
                repo.join(".git/config.yaml"),
                "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
            )
            .unwrap();
        }
        #[cfg(unix)]
        "symlinks" => {
            use std::os::unix::fs::symlink;
            fs::write(
                outside.join("outside.yaml"),
                "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
            )
            .unwrap();
            symlink(outside.join("outside.yaml"), repo.join("escape.yaml")).unwrap();
            symlink(outside, repo.join("escape-dir")).unwrap();
            symlink("real/app.yaml", repo.join("inside.yaml")).unwrap();
            symlink("real", repo.join("inside-dir")).unwrap();
            symlink("loop-b.yaml", repo.join("loop-a.yaml")).unwrap();
            symlink("loop-a.yaml", repo.join("loop-b.yaml")).unwrap();
            symlink(".", repo.join("real/self")).unwrap();
            fs::create_dir_all(repo.join(".git")).unwrap();
            fs::write(
                repo.join(".git/secret.yaml"),
                "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
            )
            .unwrap();
            symlink(".git/secret.yaml", repo.join("gitlink.yaml")).unwrap();
        }
        _ => {}
    }
}

fn check_after(case: &str, repo: &Path, outside: &Path) {
    match case {
        "file-types" => assert_eq!(
            fs::read_to_string(repo.join(".git/config.yaml")).unwrap(),
            "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
            ".git must not be touched"
        ),
        "symlinks" => {
            assert_eq!(
                fs::read_to_string(outside.join("outside.yaml")).unwrap(),
                "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
                "a file outside the repository must not be touched"
            );
            assert_eq!(
                fs::read_to_string(repo.join(".git/secret.yaml")).unwrap(),
                "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
                "a link must not lead into .git"
            );
            let link = fs::symlink_metadata(repo.join("inside.yaml")).unwrap();
            assert!(link.file_type().is_symlink(), "a symlink stays a symlink");
        }
        _ => {}
    }
}

fn changes_json(report: &UpdateReport) -> Value {
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|s| match s.line {
            Some(line) => format!("{}:{line}", report::slash_path(&s.file)),
            None => report::slash_path(&s.file),
        })
        .collect();
    json!({ "changes": report.changes, "skipped": skipped })
}

/// Runs a case in both write modes: the atomic one (`tagpilot update`) and
/// the in-place one (the engine's working copy) must give the same bytes.
fn run_case(case: &str) {
    run_case_with(case, UpdateMode::Write);
    run_case_with(case, UpdateMode::WriteInPlace);
}

fn run_case_with(case: &str, mode: UpdateMode) {
    let label = format!("{case} ({mode:?})");
    let dir = case_dir(case);
    let results = load_results(case);
    let expected_tree = read_tree(&dir.join("expected"));
    let expected_changes: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("expected-changes.json")).unwrap())
            .unwrap();

    let outside = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    copy_tree(&dir.join("input"), &repo);
    setup(case, &repo, outside.path());
    let input_tree = read_tree(&repo);

    // A dry run writes nothing but predicts the expected tree exactly.
    let dry = apply_results(&repo, Path::new("."), &results, UpdateMode::DryRun).unwrap();
    assert_eq!(read_tree(&repo), input_tree, "{label}: a dry run wrote");
    let mut predicted = input_tree.clone();
    for file in &dry.files {
        predicted.insert(file.file.clone(), file.updated.clone().into_bytes());
    }
    assert_eq!(
        changes_json(&dry),
        expected_changes,
        "{label}: dry-run changes"
    );

    #[cfg(unix)]
    let before = identities(&repo);
    let report = apply_results(&repo, Path::new("."), &results, mode).unwrap();
    let actual = read_tree(&repo);
    let mut expected = expected_tree.clone();
    // Run-time additions are not in the expected tree; they must be unchanged.
    for (path, bytes) in &input_tree {
        if !dir.join("input").join(path).exists() {
            expected.insert(path.clone(), bytes.clone());
        }
    }
    for (path, bytes) in &expected {
        let got = actual.get(path).map(|b| String::from_utf8_lossy(b));
        assert_eq!(
            got.as_deref(),
            Some(&*String::from_utf8_lossy(bytes)),
            "{label}: {} differs",
            path.display()
        );
        assert_eq!(
            actual.get(path),
            Some(bytes),
            "{label}: {} bytes",
            path.display()
        );
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "{label}: extra or missing files"
    );
    assert_eq!(
        predicted, actual,
        "{label}: the dry run predicted something else"
    );
    assert_eq!(changes_json(&report), expected_changes, "{label}: changes");
    check_after(case, &repo, outside.path());

    #[cfg(unix)]
    {
        let after = identities(&repo);
        let changed: Vec<_> = report.files.iter().map(|f| f.file.clone()).collect();
        for (path, identity) in &before {
            if !changed.contains(path) {
                assert_eq!(
                    after.get(path),
                    Some(identity),
                    "{label}: {} was rewritten though unchanged",
                    path.display()
                );
            }
        }
    }

    let again = apply_results(&repo, Path::new("."), &results, mode).unwrap();
    assert!(
        again.changes.is_empty(),
        "{label}: second run changed {:?}",
        again.changes
    );
    assert_eq!(read_tree(&repo), actual, "{label}: second run wrote");

    // The engine's path: a dry run's report, written as it is, gives the same tree.
    let replay = work.path().join("replay");
    copy_tree(&dir.join("input"), &replay);
    setup(case, &replay, outside.path());
    let preview = apply_results(&replay, Path::new("."), &results, UpdateMode::DryRun).unwrap();
    write_report(&replay, &preview, mode).unwrap();
    assert_eq!(
        read_tree(&replay),
        actual,
        "{label}: writing the dry run's report"
    );
    check_after(case, &replay, outside.path());
}

macro_rules! golden {
    ($($name:ident => $case:literal,)*) => {
        $(#[test] fn $name() { run_case($case); })*

        #[test]
        fn every_case_directory_has_a_test() {
            let listed = [$($case),*];
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/update");
            for entry in fs::read_dir(root).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(listed.contains(&name.as_str()), "testdata/update/{name} has no test");
            }
        }
    };
}

golden! {
    kustomize_images => "kustomize-images",
    helmrelease_values => "helmrelease-values",
    deployment_full_ref => "deployment-full-ref",
    crlf => "crlf",
    anchors => "anchors",
    block_scalars => "block-scalars",
    invalid_markers => "invalid-markers",
    unknown_policy => "unknown-policy",
    quoted => "quoted",
    no_final_newline => "no-final-newline",
    multi_doc => "multi-doc",
    invalid_yaml => "invalid-yaml",
    already_matching => "already-matching",
    non_ascii => "non-ascii",
    file_types => "file-types",
    symlinks => "symlinks",
}

#[test]
fn an_update_path_may_not_leave_the_root() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    fs::create_dir_all(repo.join("apps")).unwrap();
    fs::create_dir_all(work.path().join("elsewhere")).unwrap();
    let results = PolicyResults::new();
    for path in [
        PathBuf::from(".."),
        PathBuf::from("apps/../../elsewhere"),
        work.path().join("elsewhere"),
    ] {
        let error = apply_results(&repo, &path, &results, UpdateMode::DryRun).unwrap_err();
        assert!(
            matches!(error, UpdateError::OutsideRoot { .. }),
            "{path:?}: {error}"
        );
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(work.path().join("elsewhere"), repo.join("out")).unwrap();
        let error =
            apply_results(&repo, Path::new("out"), &results, UpdateMode::DryRun).unwrap_err();
        assert!(matches!(error, UpdateError::OutsideRoot { .. }), "{error}");
    }
    let inside = apply_results(&repo, &repo.join("apps"), &results, UpdateMode::DryRun).unwrap();
    assert!(inside.is_empty());
}

#[test]
fn a_sub_path_reports_paths_relative_to_the_root() {
    let work = tempfile::tempdir().unwrap();
    fs::create_dir_all(work.path().join("apps/web")).unwrap();
    fs::write(
        work.path().join("apps/web/values.yaml"),
        "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
    )
    .unwrap();
    fs::write(
        work.path().join("top.yaml"),
        "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
    )
    .unwrap();
    let results = load_results("crlf"); // ns:app = app:2
    let report =
        apply_results(work.path(), Path::new("apps"), &results, UpdateMode::Write).unwrap();
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].file, Path::new("apps/web/values.yaml"));
    // A link under the update path to a file elsewhere in the repository is
    // followed; the change is reported (and written) at the real file.
    #[cfg(unix)]
    {
        fs::create_dir_all(work.path().join("shared")).unwrap();
        fs::write(
            work.path().join("shared/base.yaml"),
            "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("../shared/base.yaml", work.path().join("apps/base.yaml"))
            .unwrap();
        let report =
            apply_results(work.path(), Path::new("apps"), &results, UpdateMode::Write).unwrap();
        assert_eq!(report.changes.len(), 1);
        assert_eq!(report.changes[0].file, Path::new("shared/base.yaml"));
        let link = fs::symlink_metadata(work.path().join("apps/base.yaml")).unwrap();
        assert!(link.file_type().is_symlink());
    }
    // The single-file form works too.
    let report = apply_results(
        work.path(),
        Path::new("top.yaml"),
        &results,
        UpdateMode::Write,
    )
    .unwrap();
    assert_eq!(report.changes[0].file, Path::new("top.yaml"));
}

#[test]
fn the_dry_run_diff_is_git_style() {
    let report = UpdateReport {
        files: vec![FileUpdate {
            file: PathBuf::from("apps/values.yaml"),
            original: "a: 1\nimage: app:1\n".into(),
            updated: "a: 1\nimage: app:2\n".into(),
        }],
        ..UpdateReport::default()
    };
    insta::assert_snapshot!(report.unified_diff(), @r"
    diff --git a/apps/values.yaml b/apps/values.yaml
    --- a/apps/values.yaml
    +++ b/apps/values.yaml
    @@ -1,2 +1,2 @@
     a: 1
    -image: app:1
    +image: app:2
    ");
}

#[test]
fn files_that_are_not_utf8_or_not_yaml_are_skipped_and_named() {
    let work = tempfile::tempdir().unwrap();
    let marker = "# {\"$imagepolicy\": \"ns:app\"}";
    let mut latin1 = format!("image: app:1 {marker}\nnote: ").into_bytes();
    latin1.push(0xe9); // é in Latin-1
    latin1.push(b'\n');
    fs::write(work.path().join("latin1.yaml"), &latin1).unwrap();
    fs::write(
        work.path().join("broken.yaml"),
        format!("a: [app:1 {marker}\n"),
    )
    .unwrap();
    fs::write(
        work.path().join("ok.yaml"),
        format!("image: app:1 {marker}\n"),
    )
    .unwrap();
    let results = load_results("crlf"); // ns:app = app:2
    let report = apply_results(work.path(), Path::new("."), &results, UpdateMode::Write).unwrap();
    assert_eq!(report.changes.len(), 1);
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.file.to_string_lossy().into_owned(), s.reason.to_string()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "broken.yaml");
    assert!(
        skipped[0].1.starts_with("not valid YAML: "),
        "{}",
        skipped[0].1
    );
    assert!(skipped[0].1.contains("line "), "{}", skipped[0].1);
    assert_eq!(skipped[1], ("latin1.yaml".into(), "not UTF-8 text".into()));
    assert_eq!(fs::read(work.path().join("latin1.yaml")).unwrap(), latin1);
}
