//! Flux commit message templates: the golden outputs under `testdata/` are
//! what real Go renders. The Go oracle (`tests/gotemplate-oracle`, built pinned
//! by `scripts/install-test-deps.sh`) re-renders every case with Go's
//! `text/template` and Sprig and must agree byte for byte; the library tests
//! (`git::flux_message_tests`) compare tagpilot's output with the same files.

use std::process::Command;

use crate::harness::process::{require_program, tools_dir};

#[test]
fn goldens_match_real_go() {
    let oracle = tools_dir().join("bin/gotemplate-oracle");
    let oracle = require_program(
        &oracle.to_string_lossy(),
        "build the Go template oracle (tests/gotemplate-oracle) with Go",
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
