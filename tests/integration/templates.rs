//! Flux commit message templates: the golden outputs under `testdata/` are
//! what real Go renders. The Go oracle (`tests/gotemplate-oracle`, built pinned
//! by `scripts/install-test-deps.sh`) re-renders every case with Go's
//! `text/template` and Sprig and must agree byte for byte; the library tests
//! (`git::flux_message_tests`) compare tagpilot's output with the same files.

use std::path::Path;
use std::process::Command;

use crate::harness::process::{require_program, tools_dir};

/// The hash `scripts/install-test-deps.sh` records for a Go program built
/// from `tests/NAME`: sha256 of every `*.go`, `go.mod` and `go.sum` below
/// it, in path order, first 16 hex digits.
fn source_hash(name: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    let mut files = Vec::new();
    let mut directories = vec![root];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                directories.push(path);
            } else if file.ends_with(".go") || file == "go.mod" || file == "go.sum" {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(std::fs::read(file).unwrap());
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

#[test]
fn goldens_match_real_go() {
    let oracle = tools_dir().join("bin/gotemplate-oracle");
    let oracle = require_program(
        &oracle.to_string_lossy(),
        "build the Go template oracle (tests/gotemplate-oracle) with Go",
    );
    // The tools directory is shared: an oracle built from other sources would
    // disagree for that reason alone.
    let built =
        std::fs::read_to_string(tools_dir().join("bin/gotemplate-oracle.hash")).unwrap_or_default();
    assert_eq!(
        built.trim(),
        source_hash("gotemplate-oracle"),
        "{} was built from other sources than tests/gotemplate-oracle: run bash scripts/install-test-deps.sh",
        oracle.display()
    );
    for tree in ["testdata/flux-templates", "testdata/gotemplate-conformance"] {
        let output = Command::new(&oracle)
            .args(["check", tree])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run gotemplate-oracle");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "real Go disagrees with the goldens in {tree}:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}
