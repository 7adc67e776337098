//! The Go programs under `tests/` that tests run (the Flux policy oracle, the
//! Go template oracle), built by `scripts/install-test-deps.sh`
//! (`build_go_program`) into the tools directory as `bin/NAME-HASH`, HASH
//! naming the sources it was built from. Several checkouts share the tools
//! directory, each finding the build of its own sources. Shared by the test
//! binaries with `#[path]`.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The tools directory (`$TAGPILOT_TOOLS_DIR`, default `~/.cache/tagpilot-tools`).
pub fn tools_directory() -> PathBuf {
    match std::env::var_os("TAGPILOT_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/tagpilot-tools"),
    }
}

/// The first 16 hex digits of the SHA-256 of every `*.go`, `go.mod` and
/// `go.sum` under `tests/NAME`, in path order (as the install script hashes them).
pub fn source_hash(name: &str) -> String {
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
    // Byte order of the whole path, as `LC_ALL=C sort` orders them.
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(std::fs::read(file).unwrap());
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

/// The build of `tests/NAME` from these sources; panics with what to run
/// when there is none.
pub fn built_go_program(name: &str) -> PathBuf {
    let binary = tools_directory()
        .join("bin")
        .join(format!("{name}-{}", source_hash(name)));
    assert!(
        binary.is_file(),
        "{} is not built from this checkout's tests/{name}: run `bash scripts/install-test-deps.sh` \
         (needs Go and the Go module proxy; it runs `go build` in tests/{name})",
        binary.display()
    );
    binary
}
