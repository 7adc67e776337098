//! `tagpilot update` through the binary: what it prints, what it writes in each
//! write mode, and its exit codes. The golden trees of `testdata/update/` are
//! the inputs and the expected bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SET: &str = "shop:front-end=registry.shop.local:5000/shop/front-end:1.1.0";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/update/kustomize-images")
}

pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn read_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn update(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagpilot"))
        .arg("update")
        .arg(dir)
        .args(["--set", SET])
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn both_write_modes_print_the_changed_files_and_write_the_expected_bytes() {
    let expected = read_tree(&case_dir().join("expected"));
    for mode in [&[][..], &["--in-place"][..]] {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&case_dir().join("input"), work.path());
        let output = update(work.path(), mode);
        assert!(output.status.success(), "{mode:?}: {output:?}");
        assert_eq!(
            stdout(&output),
            "kustomization.yaml\noverlays/dev/kustomization.yml\noverlays/prod/Kustomization\n",
            "{mode:?}"
        );
        assert_eq!(read_tree(work.path()), expected, "{mode:?}");
        let again = update(work.path(), mode);
        assert!(again.status.success());
        assert_eq!(stdout(&again), "", "{mode:?}: a second run changes nothing");
    }
}

#[test]
fn a_dry_run_prints_a_diff_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), work.path());
    let before = read_tree(work.path());
    let output = update(work.path(), &["--dry-run"]);
    assert!(output.status.success(), "{output:?}");
    let diff = stdout(&output);
    assert!(
        diff.contains("--- a/overlays/prod/Kustomization\n+++ b/overlays/prod/Kustomization\n"),
        "{diff}"
    );
    assert!(diff.contains("+    newTag: 1.1.0"), "{diff}");
    assert_eq!(read_tree(work.path()), before);

    let json = update(work.path(), &["--dry-run", "-o", "json"]);
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["dryRun"], true);
    assert_eq!(
        document["changes"].as_array().unwrap().len(),
        6,
        "{document}"
    );
    assert_eq!(read_tree(work.path()), before);
}

#[test]
fn invalid_arguments_exit_with_2_and_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), work.path());
    let before = read_tree(work.path());
    let both = update(work.path(), &["--dry-run", "--in-place"]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    let bad = Command::new(env!("CARGO_BIN_EXE_tagpilot"))
        .arg("update")
        .arg(work.path())
        .args(["--set", "shop:front-end=nginx"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("shop:front-end=nginx"));
    assert_eq!(read_tree(work.path()), before);
}

/// Regression (issue 13): a typo in `--set` passed silently, exit 0 and nothing changed.
#[test]
fn a_set_that_no_marker_uses_fails_naming_it_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), work.path());
    let before = read_tree(work.path());
    let typo = "shop:frontend=registry.shop.local:5000/shop/front-end:1.1.0";
    for extra in [&[][..], &["--dry-run"][..], &["-o", "json"][..]] {
        let output = update(work.path(), &[&["--set", typo][..], extra].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(&format!("--set {typo}")) && stderr.contains("shop:front-end"),
            "names the unused setter and the policies the markers name: {stderr}"
        );
        assert!(
            !stderr.contains(&format!("--set {SET}")),
            "the used one is not blamed: {stderr}"
        );
        assert_eq!(stdout(&output), "", "{extra:?}");
        assert_eq!(read_tree(work.path()), before, "{extra:?}: nothing written");
    }
}

#[test]
fn a_file_or_a_missing_directory_is_named_for_what_it_is() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), work.path());
    let file = work.path().join("kustomization.yaml");
    let output = update(&file, &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} is a file, not a directory", file.display())),
        "{stderr}"
    );
    let missing = work.path().join("no-such-dir");
    let output = update(&missing, &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("error: directory {} does not exist\n", missing.display())
    );
}

/// Invalid YAML and a `:digest` marker whose result has no digest were only
/// log lines; they are listed as skipped, and `--strict` refuses the run.
#[test]
fn skipped_files_and_markers_are_listed_and_strict_makes_them_fail() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case_dir().join("input"), work.path());
    fs::write(
        work.path().join("broken.yaml"),
        "image: x:1 # {\"$imagepolicy\": \"shop:front-end\"}\nfoo: [unclosed\n",
    )
    .unwrap();
    fs::write(
        work.path().join("pinned.yaml"),
        "tag: 1.0.0 # {\"$imagepolicy\": \"shop:front-end:tag\"}\ndigest: sha256:0 # {\"$imagepolicy\": \"shop:front-end:digest\"}\n",
    )
    .unwrap();
    let before = read_tree(work.path());

    let strict = update(work.path(), &["--strict", "-o", "json"]);
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    let document: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(document["written"], false);
    assert_eq!(
        document["skipped"],
        serde_json::json!([
            {"file": "broken.yaml", "reason": "not valid YAML: unclosed bracket '[' at line 2 column 6"},
            {"file": "pinned.yaml", "line": 2, "reason": "the marker asks for a digest and the policy result has none"},
        ])
    );
    assert!(
        String::from_utf8_lossy(&strict.stderr)
            .contains("error: 2 files or markers skipped with --strict; nothing was written"),
        "{strict:?}"
    );
    assert_eq!(read_tree(work.path()), before, "--strict wrote nothing");

    let text = update(work.path(), &[]);
    assert!(text.status.success(), "{text:?}");
    assert_eq!(
        stdout(&text),
        "kustomization.yaml\noverlays/dev/kustomization.yml\noverlays/prod/Kustomization\npinned.yaml\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&text.stderr),
        "skipped broken.yaml: not valid YAML: unclosed bracket '[' at line 2 column 6\n\
         skipped pinned.yaml:2: the marker asks for a digest and the policy result has none\n\
         updated 4 files (7 values), skipped 2\n"
    );
    assert!(
        fs::read_to_string(work.path().join("pinned.yaml"))
            .unwrap()
            .starts_with("tag: 1.1.0 "),
        "the file's other marker is applied"
    );
}

/// Regression (issue 19): the default write kept every staged file open until
/// the renames, so a run that changed more files than `ulimit -n` allows (often
/// 1,024) failed with "Too many open files" and wrote nothing.
#[cfg(unix)]
#[test]
fn more_changed_files_than_open_files_allowed_used_to_fail() {
    const FILES: usize = 300;
    for mode in ["", "--in-place"] {
        let work = tempfile::tempdir().unwrap();
        for i in 0..FILES {
            let dir = work.path().join(format!("team-{:02}", i / 50));
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join(format!("app-{i:03}.yaml")),
                "image: registry.shop.local:5000/shop/front-end:1.0.0 # {\"$imagepolicy\": \"shop:front-end\"}\n",
            )
            .unwrap();
        }
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 64 && exec \"$0\" update \"$1\" --set \"$2\" {mode}"
            ))
            .arg(env!("CARGO_BIN_EXE_tagpilot"))
            .arg(work.path())
            .arg(SET)
            .output()
            .unwrap();
        assert!(output.status.success(), "{mode:?}: {output:?}");
        assert_eq!(stdout(&output).lines().count(), FILES, "{mode:?}");
        let tree = read_tree(work.path());
        assert_eq!(tree.len(), FILES, "{mode:?}: no temporary file is left");
        for (path, bytes) in tree {
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                "image: registry.shop.local:5000/shop/front-end:1.1.0 # {\"$imagepolicy\": \"shop:front-end\"}\n",
                "{mode:?}: {}",
                path.display()
            );
        }
    }
}
