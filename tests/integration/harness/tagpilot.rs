//! Running the `tagpilot` binary the way a user does: a config directory of
//! Flux YAML (ImageRepository, ImagePolicy, GitRepository, Secret,
//! ImageUpdateAutomation) for the harness's real servers, a state directory,
//! and `run --once`, `run` as a daemon, `plan` and `status`. Also waiting for a
//! condition with a deadline (never a fixed sleep).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;

use super::git_server::SshGitServer;

/// How long a condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The log filter of the daemons the tests start: the default level (info)
/// plus the engine's lines for runs that change nothing (`no change`,
/// `scanned: no new tags`), which tests wait for.
pub const TEST_LOG_LEVEL: &str = "info,tagpilot::engine::cycle=debug";

/// The file the engine tests' markers live in.
pub const DEPLOY_FILE: &str = "apps/api.yaml";

/// A Deployment whose container image is `image`, marked for policy `shop:<policy>`.
pub fn deployment(name: &str, image: &str, policy: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}   # kept as is\nspec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image} # {{\"$imagepolicy\": \"shop:{policy}\"}}\n"
    )
}

/// An ImageRepository (Flux `v1beta2`) and a semver ImagePolicy (Flux `v1`),
/// both named `name` in namespace `shop`.
pub fn semver_image(name: &str, image: &str, range: &str, interval: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  image: {image}\n  interval: {interval}\n  insecure: true\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: {name}\n  namespace: shop\n  labels:\n    app: {name}\nspec:\n  imageRepositoryRef:\n    name: {name}\n  policy:\n    semver:\n      range: '{range}'\n"
    )
}

fn secret(name: &str, data: &[(&str, &[u8])]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n"
    );
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    yaml
}

fn git_repository(url: &str, secret: Option<&str>) -> String {
    let secret_ref = secret
        .map(|name| format!("  secretRef:\n    name: {name}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: {url}\n  ref:\n    branch: main\n  interval: 1h\n{secret_ref}"
    )
}

/// A GitRepository `shop/config` at `url` over ssh, with a Secret holding the
/// harness's client key and known_hosts.
pub fn ssh_source(server: &SshGitServer, url: &str) -> String {
    let identity = std::fs::read(&server.identity_path).unwrap();
    let known_hosts = std::fs::read(&server.known_hosts_path).unwrap();
    format!(
        "{}---\n{}",
        secret(
            "git-ssh",
            &[("identity", &identity), ("known_hosts", &known_hosts)]
        ),
        git_repository(url, Some("git-ssh"))
    )
}

/// A GitRepository `shop/config` at `url` over http, with a basic-auth Secret.
pub fn http_source(url: &str, username: &str, password: &str) -> String {
    format!(
        "{}---\n{}",
        secret(
            "git-http",
            &[
                ("username", username.as_bytes()),
                ("password", password.as_bytes())
            ]
        ),
        git_repository(url, Some("git-http"))
    )
}

/// A GitRepository `shop/config` at `url` over https, with a basic-auth
/// Secret that also holds the CA certificate (`ca.crt`).
pub fn https_source(url: &str, username: &str, password: &str, ca: &[u8]) -> String {
    format!(
        "{}---\n{}",
        secret(
            "git-https",
            &[
                ("username", username.as_bytes()),
                ("password", password.as_bytes()),
                ("ca.crt", ca)
            ]
        ),
        git_repository(url, Some("git-https"))
    )
}

/// A GitRepository `shop/config` at `url` over http, with a Secret holding a bearer token.
pub fn bearer_source(url: &str, token: &str) -> String {
    format!(
        "{}---\n{}",
        secret("git-bearer", &[("bearerToken", token.as_bytes())]),
        git_repository(url, Some("git-bearer"))
    )
}

/// A GitRepository `shop/config` at `url` without credentials (local paths).
pub fn plain_source(url: &str) -> String {
    git_repository(url, None)
}

/// An ImageUpdateAutomation (Flux `v1beta2`) of the GitRepository `shop/config`.
#[derive(Debug, Clone)]
pub struct Automation {
    /// Its name (namespace `shop`).
    pub name: String,
    /// `spec.update.path`.
    pub path: String,
    /// `spec.git.commit.messageTemplate` (a literal block).
    pub template: Option<String>,
    /// `spec.git.commit.messageTemplateValues`.
    pub values: Vec<(String, String)>,
    /// `spec.policySelector.matchLabels.app`.
    pub app: Option<String>,
    /// `spec.interval`.
    pub interval: String,
}

/// The commit author name the engine tests configure.
pub const AUTHOR_NAME: &str = "Tag Pilot Bot";
/// The commit author email the engine tests configure.
pub const AUTHOR_EMAIL: &str = "bot@tagpilot.example";

impl Automation {
    /// An automation named `name` updating `./apps`, default message, 1h interval.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            path: "./apps".to_string(),
            template: None,
            values: Vec::new(),
            app: None,
            interval: "1h".to_string(),
        }
    }

    /// The YAML document.
    pub fn yaml(&self) -> String {
        let mut commit = format!(
            "    commit:\n      author:\n        name: {AUTHOR_NAME}\n        email: {AUTHOR_EMAIL}\n"
        );
        if let Some(template) = &self.template {
            commit.push_str("      messageTemplate: |\n");
            for line in template.lines() {
                commit.push_str(&format!("        {line}\n"));
            }
        }
        if !self.values.is_empty() {
            commit.push_str("      messageTemplateValues:\n");
            for (key, value) in &self.values {
                commit.push_str(&format!("        {key}: {value:?}\n"));
            }
        }
        let selector = self
            .app
            .as_ref()
            .map(|app| format!("  policySelector:\n    matchLabels:\n      app: {app}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageUpdateAutomation\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  interval: {interval}\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    checkout:\n      ref:\n        branch: main\n{commit}    push:\n      branch: main\n  update:\n    path: {path}\n    strategy: Setters\n{selector}",
            name = self.name,
            interval = self.interval,
            path = self.path,
        )
    }
}

/// What one run of the binary printed.
#[derive(Debug)]
pub struct RunOutput {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl RunOutput {
    /// What a finished command printed.
    pub fn from_output(output: Output) -> Self {
        Self::from(output)
    }

    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is 0.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "tagpilot failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A config directory, a state directory and a home directory for the binary.
pub struct Tagpilot {
    config: TempDir,
    state: PathBuf,
    _state_dir: Option<TempDir>,
    home: TempDir,
}

impl Default for Tagpilot {
    fn default() -> Self {
        Self::new()
    }
}

impl Tagpilot {
    /// Empty config and state directories.
    pub fn new() -> Self {
        let state = TempDir::new().unwrap();
        Self {
            config: TempDir::new().unwrap(),
            state: state.path().join("state"),
            _state_dir: Some(state),
            home: TempDir::new().unwrap(),
        }
    }

    /// The config directory.
    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    /// A private scratch directory (the binary's `HOME`).
    pub fn home_dir(&self) -> &Path {
        self.home.path()
    }

    /// The state directory (created by the binary on first use).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Writes `yaml` as `file` under the config directory.
    pub fn write(&self, file: &str, yaml: &str) -> &Self {
        super::process::write(&self.config.path().join(file), yaml);
        self
    }

    /// `tagpilot ARGS` with an isolated environment (no user config, no cloud lookups).
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tagpilot"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.home.path().join(".docker"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    fn engine_args(&self, command: &mut Command, subcommand: &[&str]) {
        command
            .args(subcommand)
            .arg("--config")
            .arg(self.config.path())
            .arg("--state-dir")
            .arg(&self.state);
    }

    /// `tagpilot [GLOBAL] run --once`.
    pub fn run_once_with(&self, global: &[&str]) -> RunOutput {
        let mut command = self.command();
        command.args(global);
        self.engine_args(&mut command, &["run", "--once"]);
        RunOutput::from(command.output().unwrap())
    }

    /// The command of `tagpilot run --once`, not started.
    pub fn run_once_command(&self) -> Command {
        let mut command = self.command();
        self.engine_args(&mut command, &["run", "--once"]);
        command
    }

    /// `tagpilot run --once`.
    pub fn run_once(&self) -> RunOutput {
        self.run_once_with(&[])
    }

    /// `tagpilot run --once`, started but not waited for.
    pub fn spawn_once(&self) -> Child {
        let mut command = self.command();
        command.args(["--log-level", TEST_LOG_LEVEL]);
        self.engine_args(&mut command, &["run", "--once"]);
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `tagpilot plan`.
    pub fn plan(&self) -> RunOutput {
        let mut command = self.command();
        self.engine_args(&mut command, &["plan"]);
        RunOutput::from(command.output().unwrap())
    }

    /// `tagpilot status`.
    pub fn status(&self) -> RunOutput {
        let mut command = self.command();
        command.arg("status").arg("--state-dir").arg(&self.state);
        RunOutput::from(command.output().unwrap())
    }

    /// `tagpilot run` (no `--once`) with `extra` arguments, logging at
    /// [`TEST_LOG_LEVEL`] to a file.
    pub fn spawn_daemon(&self, extra: &[&str]) -> Daemon {
        self.spawn_daemon_with(&["--log-level", TEST_LOG_LEVEL], extra)
    }

    /// [`Self::spawn_daemon`] listening on `listen` for webhooks with
    /// `token` (written to a file in its home), plus `extra` arguments.
    pub fn spawn_listening_daemon(&self, listen: &str, token: &str, extra: &[&str]) -> Daemon {
        let token_file = self.home_dir().join("webhook-token");
        super::process::write(&token_file, token);
        let mut args = vec![
            "--listen",
            listen,
            "--webhook-token-file",
            token_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.spawn_daemon(&args)
    }

    /// [`Self::spawn_daemon`] with at most `files` open file descriptors
    /// (`prlimit --nofile`, the way `ulimit -n` or a container runtime sets it).
    pub fn spawn_daemon_with_fd_limit(&self, files: u64, extra: &[&str]) -> Daemon {
        let prlimit = super::process::require_program("prlimit", "apt-get install util-linux");
        let tagpilot = self.command();
        let mut command = Command::new(prlimit);
        command
            .arg(format!("--nofile={files}:{files}"))
            .arg("--")
            .arg(tagpilot.get_program())
            .env_clear()
            .envs(
                tagpilot
                    .get_envs()
                    .filter_map(|(key, value)| value.map(|value| (key, value))),
            )
            .stdin(Stdio::null());
        self.spawn_daemon_command(command, &["--log-level", TEST_LOG_LEVEL], extra)
    }

    /// `tagpilot [GLOBAL] run [EXTRA]` (no `--once`), stdout and stderr to a file.
    pub fn spawn_daemon_with(&self, global: &[&str], extra: &[&str]) -> Daemon {
        self.spawn_daemon_command(self.command(), global, extra)
    }

    fn spawn_daemon_command(
        &self,
        mut command: Command,
        global: &[&str],
        extra: &[&str],
    ) -> Daemon {
        let log = self.home.path().join("daemon.log");
        let file = std::fs::File::create(&log).unwrap();
        command.args(global);
        self.engine_args(&mut command, &["run"]);
        command
            .args(extra)
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        Daemon {
            child: RefCell::new(Some(command.spawn().unwrap())),
            log,
        }
    }
}

/// A running `tagpilot run` daemon; killed (by PID) when dropped.
pub struct Daemon {
    child: RefCell<Option<Child>>,
    log: PathBuf,
}

impl Daemon {
    /// What the daemon has printed so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.child
            .borrow()
            .as_ref()
            .map(Child::id)
            .unwrap_or_default()
    }

    /// Fails the test with the daemon's log if it has exited.
    pub fn assert_running(&self) {
        if let Some(child) = self.child.borrow_mut().as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("tagpilot exited ({status}); its log:\n{}", self.log_text());
        }
    }

    /// Sends SIGTERM and waits (with a deadline) for the exit code.
    pub fn terminate(self) -> Option<i32> {
        self.send_sigterm();
        self.wait_for_exit()
    }

    /// Sends SIGTERM (by PID) without waiting.
    pub fn send_sigterm(&self) {
        let pid = self.child.borrow().as_ref().unwrap().id();
        super::process::run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    }

    /// Waits (with a deadline) for the daemon to exit; its exit code (`None`: killed by a signal).
    pub fn wait_for_exit(self) -> Option<i32> {
        let mut child = self.child.borrow_mut().take().unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tagpilot did not exit within {DEADLINE:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.get_mut().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` until it returns `Some`, failing with `what` and `context()` after [`DEADLINE`].
pub fn wait_for<T>(
    what: &str,
    mut condition: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = condition() {
            return value;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {DEADLINE:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
