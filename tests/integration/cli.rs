//! The command line's contract: names, `--version`, exit codes, colour.

use std::path::Path;
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

/// `tagpilot` with no inherited environment but `PATH` (and `extra`).
fn isolated(home: &Path) -> Command {
    let mut command = tagpilot();
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    command
}

/// Regression (issue 13): `run --once` over a directory without objects did
/// nothing and exited 0.
#[test]
fn run_once_over_a_config_directory_without_objects_says_so_and_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("notes.txt"), "not yaml objects\n").unwrap();
    for command in [&["run", "--once"][..], &["plan"][..]] {
        let output = isolated(home.path())
            .args(command)
            .arg("--config")
            .arg(config.path())
            .arg("--state-dir")
            .arg(home.path().join("state"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "--config {} holds no ImageRepository, ImagePolicy, GitRepository, ImageUpdateAutomation or Sync objects",
                config.path().display()
            )),
            "{stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

/// A tree whose one file has a marker with an invalid setter: `update` at
/// `--log-level debug` logs a line about it, without needing any server.
fn tree_that_logs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        "image: x:1 # {\"$imagepolicy\": \"shop:app\"}\nother: y # {\"$imagepolicy\": \"Not A Setter\"}\n",
    )
    .unwrap();
    dir
}

fn logged_update(home: &Path, tree: &Path, color: Option<&str>, no_color: Option<&str>) -> String {
    let mut command = isolated(home);
    command.args(["--log-level", "debug"]);
    if let Some(color) = color {
        command.args(["--color", color]);
    }
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let output = command
        .arg("update")
        .arg(tree)
        .args(["--set", "shop:app=x:2", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("marker left alone"), "{stderr}");
    stderr
}

#[test]
fn logs_into_a_pipe_carry_no_colour_unless_always_is_asked_for() {
    let home = tempfile::tempdir().unwrap();
    let tree = tree_that_logs();
    for (color, no_color) in [(None, None), (Some("auto"), None), (Some("never"), None)] {
        let stderr = logged_update(home.path(), tree.path(), color, no_color);
        assert!(!stderr.contains('\x1b'), "{color:?}: {stderr:?}");
    }
    // An explicit `always` wins over NO_COLOR (no-color.org), also into a pipe.
    for no_color in [None, Some("1")] {
        let stderr = logged_update(home.path(), tree.path(), Some("always"), no_color);
        assert!(stderr.contains("\x1b["), "{no_color:?}: {stderr:?}");
    }
}

/// Runs `tagpilot ARGS` on a pseudo-terminal (util-linux `script`) and
/// returns what the terminal showed.
fn on_a_terminal(home: &Path, tree: &Path, args: &str, no_color: Option<&str>) -> String {
    let script = which("script")
        .unwrap_or_else(|| panic!("`script` is missing: apt-get install -y bsdutils (util-linux)"));
    let command = format!(
        "{} {args} --log-level debug update {} --set shop:app=x:2 --dry-run",
        env!("CARGO_BIN_EXE_tagpilot"),
        tree.display()
    );
    let mut script = Command::new(script);
    script
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "xterm")
        .args(["-qec", &command, "/dev/null"]);
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = script.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(shown.contains("marker left alone"), "{shown:?}");
    shown
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color_or_never() {
    let home = tempfile::tempdir().unwrap();
    let tree = tree_that_logs();
    assert!(on_a_terminal(home.path(), tree.path(), "", None).contains("\x1b["));
    assert!(on_a_terminal(home.path(), tree.path(), "", Some("")).contains("\x1b["));
    assert!(!on_a_terminal(home.path(), tree.path(), "", Some("1")).contains('\x1b'));
    assert!(!on_a_terminal(home.path(), tree.path(), "--color never", None).contains('\x1b'));
}

const POLICY: &str = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: app\n  filterTags:\n    pattern: '^main-(?P<n>[0-9]+)$'\n    extract: '$n'\n  policy:\n    numerical:\n      order: asc\n";

fn policy_eval(dir: &Path, policy: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("policy.yaml"), policy).unwrap();
    std::fs::write(
        dir.join("tags"),
        "main-7\nmain-12\nmain-9\nfeature-x\nmain-3.sig\n",
    )
    .unwrap();
    isolated(dir)
        .args(["policy", "eval", "--policy"])
        .arg(dir.join("policy.yaml"))
        .arg("--tags")
        .arg(dir.join("tags"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn policy_eval_prints_the_tag_on_stdout_and_why_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = policy_eval(dir.path(), POLICY, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "main-12\n");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "why: the largest number among 3 candidates (of 5 tags)\n  \
         chosen: main-12 (value 12)\n  \
         runner-up: main-9 (value 9)\n  \
         filtered out: 1 excluded by the exclusion list, 1 not matching filterTags.pattern\n"
    );
    let json = policy_eval(dir.path(), POLICY, &["-o", "json"]);
    assert!(json.status.success(), "{json:?}");
    assert!(json.stderr.is_empty(), "{json:?}");
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["tag"], "main-12");
    assert_eq!(document["explanation"]["runnersUp"][0]["tag"], "main-9");
}

/// Regression (issue 13): errors quoted the file as `<input>`, and a
/// Deployment gave "missing field `spec`".
#[test]
fn policy_eval_errors_name_the_file_and_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml").display().to_string();
    let cases = [
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {}\n".to_string(),
            format!("error: {file}: this is a Deployment, not an ImagePolicy\n"),
        ),
        (
            "kind: ImagePolicy\nspec: [\n".to_string(),
            format!("error: {file}: not valid YAML: line 2 column 7: unclosed bracket '['\n"),
        ),
        (
            POLICY.replace("order: asc", "order: up"),
            format!(
                "error: {file}: not a valid ImagePolicy: spec.policy.numerical.order: unknown variant `up`, expected `asc` or `desc`\n"
            ),
        ),
    ];
    for (policy, expected) in cases {
        let output = policy_eval(dir.path(), &policy, &[]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr, expected);
        assert!(output.stdout.is_empty());
    }
}

/// Regression (issue 13): a missing KUBECONFIG file was named three times,
/// a broken one quoted as `<input>` without its name.
#[test]
fn kubeconfig_errors_name_the_file_once() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("missing-kubeconfig");
    let broken = home.path().join("broken-kubeconfig");
    std::fs::write(&broken, "apiVersion: v1\nclusters: [\n").unwrap();
    for command in [&["apply", "."][..], &["controller"][..]] {
        for (file, cause) in [
            (&missing, "No such file or directory"),
            (&broken, "is not a valid kubeconfig: "),
        ] {
            let output = isolated(home.path())
                .current_dir(home.path())
                .env("KUBECONFIG", file)
                .args(command)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
            assert_eq!(
                stderr.matches(&file.display().to_string()).count(),
                1,
                "{command:?}: {stderr}"
            );
            assert!(stderr.contains(cause), "{command:?}: {stderr}");
            assert!(!stderr.contains("<input>"), "{command:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{command:?}: {stderr}");
        }
    }
}
