//! `tagpilot update` against a hostile or damaged tree (issue 17): leftovers
//! of a run killed with SIGKILL, hard links out of the tree in `--in-place`
//! mode, and a marked file far larger than any manifest.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::hardening_registry::run_measured;

const MARKED_LINE: &str = "    image: ghcr.io/shop/app:1.0.0 # {\"$imagepolicy\": \"shop:app\"}\n";

fn set(tag: &str) -> String {
    format!("shop:app=ghcr.io/shop/app:{tag}")
}

fn update_command(dir: &Path, tag: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tagpilot"));
    command
        .arg("update")
        .arg(dir)
        .args(["--set", &set(tag)])
        .args(extra)
        .env("NO_COLOR", "1");
    command
}

fn update(dir: &Path, tag: &str, extra: &[&str]) -> Output {
    update_command(dir, tag, extra).output().unwrap()
}

/// Our temporary files anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in fs::read_dir(&directory).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if name.contains(".tagpilot-") && name.ends_with(".tmp") {
                found.push(name);
            }
        }
    }
    found
}

/// Regression (finding 7): `kill -9` during an atomic `tagpilot update` can
/// leave `.NAME.tagpilot-PID-N.tmp` files, which later runs never removed.
/// The next atomic run now sweeps them (only ours, only stale ones: the
/// killed PID no longer runs) and updates the tree.
#[test]
fn a_killed_runs_temporary_files_are_swept_by_the_next_run() {
    let tree = tempfile::tempdir().unwrap();
    let apps = tree.path().join("apps");
    fs::create_dir(&apps).unwrap();
    for index in 0..3000 {
        fs::write(
            apps.join(format!("app-{index:04}.yaml")),
            format!("kind: Deployment\nspec:\n{MARKED_LINE}"),
        )
        .unwrap();
    }
    // Kill runs until one is caught between creating and renaming a temporary file.
    let mut caught = Vec::new();
    for attempt in 0..20 {
        let mut child = update_command(tree.path(), &format!("2.0.{attempt}"), &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if !leftovers(&apps).is_empty() || Instant::now() > deadline {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        child.wait().unwrap();
        caught = leftovers(&apps);
        if !caught.is_empty() {
            break;
        }
    }
    assert!(
        !caught.is_empty(),
        "no run was killed while a temporary file existed"
    );
    assert!(
        caught
            .iter()
            .all(|name| name.starts_with(".app-") && name.contains(".yaml.tagpilot-")),
        "{caught:?}"
    );

    let output = update(tree.path(), "3.0.0", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("removed a temporary file left by an interrupted run"),
        "{stderr}"
    );
    assert_eq!(leftovers(tree.path()), Vec::<String>::new());
    for entry in fs::read_dir(&apps).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.contains("app:3.0.0"), "{text}");
    }
}

/// Regression (finding 8): `update --in-place` wrote through hard links, so a
/// file inside the tree linked to one outside changed the outside file. Such
/// a file is now listed as skipped (what `--in-place` promises: no file
/// outside the tree is written) and the rest is updated.
#[cfg(unix)]
#[test]
fn in_place_updates_skip_hard_linked_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("apps")).unwrap();
    let outside = dir.path().join("outside.yaml");
    fs::write(&outside, format!("spec:\n{MARKED_LINE}")).unwrap();
    fs::hard_link(&outside, tree.join("apps/linked.yaml")).unwrap();
    fs::write(
        tree.join("apps/plain.yaml"),
        format!("spec:\n{MARKED_LINE}"),
    )
    .unwrap();

    let output = update(&tree, "2.0.0", &["--in-place", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["changes"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["changes"][0]["file"], "apps/plain.yaml");
    assert_eq!(json["skipped"][0]["file"], "apps/linked.yaml", "{json}");
    let reason = json["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("2 hard links"), "{reason}");
    assert!(stderr.contains("apps/linked.yaml"), "{stderr}");
    assert_eq!(
        fs::read_to_string(&outside).unwrap(),
        format!("spec:\n{MARKED_LINE}"),
        "the file outside the tree is untouched"
    );
}

/// Regression (finding 9): one marked 150 MB file took 464 MB of memory at
/// peak. Marked files above 8 MiB are now listed as skipped (screened for the
/// marker 64 KiB at a time), so the peak stays that of a small run.
#[test]
fn a_150_mb_marked_file_is_skipped_with_flat_memory() {
    let tree = tempfile::tempdir().unwrap();
    fs::write(
        tree.path().join("small.yaml"),
        format!("spec:\n{MARKED_LINE}"),
    )
    .unwrap();
    let small = run_measured(
        &update_command(tree.path(), "2.0.0", &[]),
        Duration::from_secs(60),
    );
    assert_eq!(small.code, Some(0), "{}", small.stderr);

    let big = tree.path().join("huge.yaml");
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(fs::File::create(&big).unwrap());
        write!(file, "spec:\n{MARKED_LINE}").unwrap();
        let filler = format!("# {}\n", "x".repeat(1021));
        for _ in 0..150 * 1024 {
            file.write_all(filler.as_bytes()).unwrap();
        }
    }
    let size = fs::metadata(&big).unwrap().len();
    assert!(size > 150 * 1024 * 1024);
    let measured = run_measured(
        &update_command(tree.path(), "3.0.0", &[]),
        Duration::from_secs(120),
    );
    assert_eq!(measured.code, Some(0), "{}", measured.stderr);
    assert!(
        measured.stderr.contains("huge.yaml")
            && measured.stderr.contains(&format!(
                "marked file of {size} bytes is larger than the 8 MiB limit"
            )),
        "{}",
        measured.stderr
    );
    assert_eq!(
        measured.stdout, "small.yaml\n",
        "the small file is still updated"
    );
    let head = fs::read(&big).unwrap();
    assert!(String::from_utf8_lossy(&head[..200]).contains("app:1.0.0"));
    eprintln!(
        "peak RSS: small tree {} KiB; with a {size}-byte marked file {} KiB ({:?})",
        small.max_rss_kib, measured.max_rss_kib, measured.elapsed
    );
    assert!(
        measured.max_rss_kib <= small.max_rss_kib + 16 * 1024,
        "memory grew with the file: {} KiB against {} KiB",
        measured.max_rss_kib,
        small.max_rss_kib
    );
}
