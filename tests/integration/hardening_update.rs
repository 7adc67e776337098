//! `tagpilot update` against a hostile or damaged tree (issue 17): leftovers
//! of a run killed with SIGKILL, hard links out of the tree in `--in-place`
//! mode, and a marked file far larger than any manifest.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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
