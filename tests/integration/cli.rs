//! The command line's contract: names, `--version`, exit codes.

use std::process::Command;

fn tagpilot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tagpilot"))
}

#[test]
fn version_names_the_binary_and_the_crate_version() {
    let output = tagpilot().arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("tagpilot {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_documented_command() {
    let output = tagpilot().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "run",
        "plan",
        "status",
        "controller",
        "policy",
        "tags",
        "update",
        "apply",
        "crds",
    ] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "`tagpilot --help` does not list `{command}`:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_with_2_and_say_so_on_stderr() {
    let output = tagpilot().arg("no-such-command").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "stdout carries data only");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-command"));
}
