//! A real Gitea (built from `code.gitea.io/gitea` by
//! `scripts/install-test-deps.sh`) on 127.0.0.1 with a free port, a throwaway
//! SQLite database and repositories in a temporary directory, an admin user
//! and an access token made by its CLI (`gitea admin user create
//! --access-token`), git over its http. Stopped by PID when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::git_fixtures::git_in;
use super::process::{ServerProcess, free_port, require_program, run, tools_dir, write};

/// The admin user.
pub const GITEA_USER: &str = "bot";
/// Its password (the tests push with the token instead).
pub const GITEA_PASSWORD: &str = "gitea-Pa55word-7e1c";
/// The Gitea version the install script builds.
pub const GITEA_VERSION: &str = "v1.27.3";

/// A running Gitea.
pub struct Gitea {
    server: ServerProcess,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin's access token (scopes: all).
    pub token: String,
    client: Client,
    _dir: TempDir,
    work: PathBuf,
}

impl Gitea {
    /// Starts Gitea with a fresh database and the admin user.
    pub fn start() -> Self {
        let hint = "run scripts/install-test-deps.sh (it builds Gitea from the Go module proxy)";
        let binary = require_program(
            tools_dir().join("bin/gitea").to_str().unwrap_or_default(),
            hint,
        );
        let share = tools_dir().join(format!("share/gitea-{GITEA_VERSION}"));
        assert!(
            share.join("options").is_dir(),
            "{} is missing: {hint}",
            share.display()
        );
        let dir = TempDir::new().unwrap();
        let work = dir.path().to_path_buf();
        let port = free_port();
        let user = run(Command::new("id").arg("-un")).trim().to_string();
        let config = work.join("app.ini");
        write(
            &config,
            format!(
                "APP_NAME = tagpilot-test\nRUN_MODE = prod\nRUN_USER = {user}\nWORK_PATH = {work}\n\
                 I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n\n\
                 [database]\nDB_TYPE = sqlite3\nPATH = {work}/gitea.db\n\n\
                 [repository]\nROOT = {work}/repos\n\n\
                 [server]\nPROTOCOL = http\nHTTP_ADDR = 127.0.0.1\nHTTP_PORT = {port}\n\
                 ROOT_URL = http://127.0.0.1:{port}/\nDISABLE_SSH = true\nSTART_SSH_SERVER = false\n\
                 OFFLINE_MODE = true\nLFS_START_SERVER = false\nSTATIC_ROOT_PATH = {share}\n\
                 APP_DATA_PATH = {work}/data\n\n\
                 [security]\nINSTALL_LOCK = true\nSECRET_KEY = tagpilot-test-secret-key\n\n\
                 [service]\nDISABLE_REGISTRATION = true\n\n\
                 [log]\nMODE = console\nLEVEL = warn\n\n\
                 [mailer]\nENABLED = false\n\n[session]\nPROVIDER = memory\n\n[cache]\nADAPTER = memory\n\n\
                 [indexer]\nISSUE_INDEXER_TYPE = db\nREPO_INDEXER_ENABLED = false\n\n\
                 [cron]\nENABLED = false\n",
                work = work.display(),
                share = share.display(),
            ),
        );
        run(Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("migrate"));
        let created = run(Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .args([
                "admin",
                "user",
                "create",
                "--admin",
                "--username",
                GITEA_USER,
            ])
            .args(["--password", GITEA_PASSWORD, "--email", "bot@example.com"])
            .args(["--must-change-password=false", "--access-token"])
            .args(["--access-token-name", "tagpilot-tests"])
            .args(["--access-token-scopes", "all"]));
        let token = created
            .lines()
            .find_map(|line| line.strip_prefix("Access token was successfully created... "))
            .unwrap_or_else(|| {
                panic!("no access token in the output of gitea admin user create:\n{created}")
            })
            .trim()
            .to_string();
        let mut command = Command::new(&binary);
        command.arg("--config").arg(&config).arg("web");
        let mut server = ServerProcess::start("gitea", command, &work.join("gitea.log"));
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let health = format!("{base}/api/healthz");
        server.wait_until("answering /api/healthz", || {
            client
                .get(&health)
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        Self {
            server,
            base,
            token,
            client,
            _dir: dir,
            work,
        }
    }

    /// Gitea's own log.
    pub fn log_text(&self) -> String {
        self.server.log_text()
    }

    /// `METHOD /api/v1PATH` as the admin, expecting a success; the JSON answer.
    pub fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("Authorization", format!("token {}", self.token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {path} answered {status}: {text}\nGitea's log:\n{}",
            self.log_text()
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The clone URL of the admin's repository `name` (no credentials in it).
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{GITEA_USER}/{name}.git", self.base)
    }

    /// Creates the admin's repository `name` holding `files` on `main`, and
    /// waits until Gitea has taken the push in.
    pub fn create_repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        self.api(
            reqwest::Method::POST,
            "/user/repos",
            Some(json!({ "name": name, "default_branch": "main", "auto_init": false })),
        );
        let seed = self.work.join(format!("seed-{name}"));
        std::fs::create_dir_all(&seed).unwrap();
        git_in(&seed, &["init", "-q", "-b", "main"]);
        for (path, text) in files {
            write(&seed.join(path), text);
        }
        git_in(&seed, &["add", "-A"]);
        git_in(
            &seed,
            &[
                "-c",
                "user.name=seed",
                "-c",
                "user.email=seed@example.com",
                "commit",
                "-qm",
                "seed",
            ],
        );
        git_in(&seed, &["push", "-q", &self.authorized_url(name), "main"]);
        // Gitea marks the repository non-empty after the push, in the background;
        // until then it answers 404 for its pull requests.
        super::tagpilot::wait_for(
            "Gitea to see the pushed repository",
            || {
                let repo = self.api(
                    reqwest::Method::GET,
                    &format!("/repos/{GITEA_USER}/{name}"),
                    None,
                );
                (repo["empty"] == false).then_some(())
            },
            || self.log_text(),
        );
        self.repo_url(name)
    }

    /// A clone URL with the admin's token in it (for the test's own git commands).
    fn authorized_url(&self, name: &str) -> String {
        format!(
            "{}/{GITEA_USER}/{name}.git",
            self.base.replacen(
                "http://",
                &format!("http://{GITEA_USER}:{}@", self.token),
                1
            )
        )
    }

    /// The head of `branch` in repository `name`, if the branch exists.
    pub fn branch_head(&self, name: &str, branch: &str) -> Option<String> {
        let listed = git_in(
            Path::new("/"),
            &[
                "ls-remote",
                &self.authorized_url(name),
                &format!("refs/heads/{branch}"),
            ],
        );
        listed.split_whitespace().next().map(str::to_string)
    }

    /// `path` at the head of `branch` in repository `name`.
    pub fn file(&self, name: &str, branch: &str, path: &str) -> String {
        let answer = self
            .client
            .get(format!(
                "{}/api/v1/repos/{GITEA_USER}/{name}/raw/{path}?ref={branch}",
                self.base
            ))
            .header("Authorization", format!("token {}", self.token))
            .send()
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{path} at {branch}: {}",
            answer.status()
        );
        answer.text().unwrap()
    }

    /// Every pull request of repository `name` (open and closed), newest first.
    pub fn pulls(&self, name: &str) -> Vec<Value> {
        let value = self.api(
            reqwest::Method::GET,
            &format!("/repos/{GITEA_USER}/{name}/pulls?state=all&limit=50"),
            None,
        );
        value.as_array().cloned().unwrap_or_default()
    }

    /// The comments of issue / pull request `number`.
    pub fn comments(&self, name: &str, number: u64) -> Vec<String> {
        let value = self.api(
            reqwest::Method::GET,
            &format!("/repos/{GITEA_USER}/{name}/issues/{number}/comments"),
            None,
        );
        value
            .as_array()
            .map(|comments| {
                comments
                    .iter()
                    .filter_map(|c| c["body"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Closes pull request `number` as a reviewer would (without merging).
    pub fn close_pull(&self, name: &str, number: u64) {
        self.api(
            reqwest::Method::PATCH,
            &format!("/repos/{GITEA_USER}/{name}/pulls/{number}"),
            Some(json!({ "state": "closed" })),
        );
    }

    /// Merges pull request `number` (a merge commit).
    pub fn merge_pull(&self, name: &str, number: u64) {
        let path = format!("/repos/{GITEA_USER}/{name}/pulls/{number}/merge");
        // Gitea checks mergeability in the background after a push; it refuses
        // (405) until then, so poll until the merge is accepted.
        super::tagpilot::wait_for(
            "Gitea to accept the merge",
            || {
                self.client
                    .post(format!("{}/api/v1{path}", self.base))
                    .header("Authorization", format!("token {}", self.token))
                    .json(&json!({ "Do": "merge" }))
                    .send()
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            },
            || self.log_text(),
        );
    }
}
