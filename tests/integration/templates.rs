//! Flux commit message templates: the golden outputs under `testdata/` are
//! what real Go renders. The Go oracle (`tests/gotemplate-oracle`, built pinned
//! by `scripts/install-test-deps.sh`) re-renders every case with Go's
//! `text/template` and Sprig and must agree byte for byte; the library tests
//! (`git::flux_message_tests`) compare tagpilot's output with the same files.

use std::process::Command;

use crate::go_programs::built_go_program;

#[test]
fn goldens_match_real_go() {
    let oracle = built_go_program("gotemplate-oracle");
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
