//! Real git remotes: bare repositories served over ssh (a private `sshd` running
//! `git-shell`) and over http with basic auth (`lighttpd` running
//! `git http-backend` as CGI, pushes enabled).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::process::{ServerProcess, free_port, require_program, run, write};
use super::tls::TestCertificates;

/// The http user the git server accepts.
pub const GIT_USER: &str = "tagpilot-bot";
/// Its password (tests check it never shows up in output).
pub const GIT_PASSWORD: &str = "s3cr3t-Git-Pa55";

/// A directory of bare repositories.
pub struct GitRepos {
    dir: TempDir,
}

impl Default for GitRepos {
    fn default() -> Self {
        Self::new()
    }
}

/// `git` with a fixed identity and no user or system config.
pub fn git() -> Command {
    let mut command = Command::new(require_program("git", "apt-get install git"));
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

impl GitRepos {
    /// An empty directory for bare repositories.
    pub fn new() -> Self {
        Self {
            dir: TempDir::new().expect("temp dir"),
        }
    }

    /// The directory that holds the repositories.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Creates `NAME.git` on branch `main` holding `files` (path, contents) in one commit,
    /// accepting pushes over http. Returns the bare repository's path.
    pub fn create(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let bare = self.dir.path().join(format!("{name}.git"));
        run(git()
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare));
        run(git()
            .arg("-C")
            .arg(&bare)
            .args(["config", "http.receivepack", "true"]));
        let work = TempDir::new().expect("temp dir");
        run(git().args(["init", "-q", "-b", "main"]).arg(work.path()));
        for (path, contents) in files {
            write(&work.path().join(path), contents);
        }
        run(git().arg("-C").arg(work.path()).args(["add", "-A"]));
        run(git().arg("-C").arg(work.path()).args([
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Initial commit",
        ]));
        run(git()
            .arg("-C")
            .arg(work.path())
            .arg("push")
            .arg("-q")
            .arg(&bare)
            .arg("main"));
        bare
    }
}

/// A private sshd that serves the repositories under a [`GitRepos`] root to one key.
pub struct SshGitServer {
    /// The port sshd listens on.
    pub port: u16,
    /// The client's private key (OpenSSH format).
    pub identity_path: PathBuf,
    /// A `known_hosts` file naming the server's host key.
    pub known_hosts_path: PathBuf,
    process: ServerProcess,
    command: (PathBuf, PathBuf),
    _dir: TempDir,
}

impl SshGitServer {
    /// Starts sshd on a free port.
    pub fn start() -> Self {
        let sshd = require_program("/usr/sbin/sshd", "apt-get install openssh-server");
        let keygen = require_program("ssh-keygen", "apt-get install openssh-client");
        let git_shell = require_program("git-shell", "apt-get install git");
        let dir = TempDir::new().expect("temp dir");
        let d = dir.path();
        let host_key = d.join("ssh_host_ed25519_key");
        let identity_path = d.join("client_ed25519");
        for key in [&host_key, &identity_path] {
            run(Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "tagpilot-test", "-f"])
                .arg(key));
        }
        let client_public = std::fs::read_to_string(identity_path.with_extension("pub"))
            .expect("client public key");
        let user = whoami();
        write(
            &d.join("authorized_keys.d").join(&user),
            format!(
                "restrict,command=\"{} -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" {}",
                git_shell.display(),
                client_public.trim()
            ),
        );
        let port = free_port();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}/%u\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
            host = host_key.display(),
            pid = d.join("sshd.pid").display(),
            keys = d.join("authorized_keys.d").display(),
        );
        let config_path = d.join("sshd_config");
        write(&config_path, config);
        // sshd needs its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut command = Command::new(&sshd);
        command.arg("-D").arg("-e").arg("-f").arg(&config_path);
        let mut process = ServerProcess::start("sshd", command, &d.join("sshd.log"));
        process.wait_for_port(port);
        let command = (sshd, config_path);
        let host_public =
            std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let mut fields = host_public.split_whitespace();
        let known_hosts_path = d.join("known_hosts");
        write(
            &known_hosts_path,
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                fields.next().unwrap_or_default(),
                fields.next().unwrap_or_default()
            ),
        );
        Self {
            port,
            identity_path,
            known_hosts_path,
            process,
            command,
            _dir: dir,
        }
    }

    /// Kills sshd (an outage of the git server); [`Self::restart`] brings it back.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts sshd again on the same port with the same keys, and waits for it.
    pub fn restart(&mut self) {
        let mut command = Command::new(&self.command.0);
        command.arg("-D").arg("-e").arg("-f").arg(&self.command.1);
        let log = self._dir.path().join("sshd-restarted.log");
        self.process = ServerProcess::start("sshd", command, &log);
        self.process.wait_for_port(self.port);
    }

    /// The `ssh://` URL of a bare repository (absolute path on this machine).
    pub fn url(&self, bare: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            whoami(),
            self.port,
            bare.display()
        )
    }

    /// `GIT_SSH_COMMAND` for the git CLI: the test key, strict host key checking.
    pub fn git_ssh_command(&self) -> String {
        format!(
            "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.identity_path.display(),
            self.known_hosts_path.display()
        )
    }

    /// What sshd has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// lighttpd serving `git http-backend` under `/git/` with basic auth. Its
/// access log records every request with its `Authorization` header, so a
/// test can tell which credentials reached this server.
pub struct HttpGitServer {
    /// The port lighttpd listens on.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: &'static str,
    process: ServerProcess,
    access_log: PathBuf,
    _dir: TempDir,
}

/// lighttpd's TLS settings for `certificates` (none without).
fn tls_config(certificates: Option<&TestCertificates>) -> String {
    certificates.map_or_else(String::new, |certs| {
        format!(
            "server.modules += (\"mod_openssl\")\nssl.engine = \"enable\"\nssl.pemfile = \"{}\"\nssl.privkey = \"{}\"\n",
            certs.server_cert.display(),
            certs.server_key.display()
        )
    })
}

impl HttpGitServer {
    /// Starts lighttpd on a free port, serving the repositories under `repos`.
    pub fn start(repos: &GitRepos) -> Self {
        Self::start_with(repos, None)
    }

    /// Starts lighttpd serving https with `certificates` (needs lighttpd-mod-openssl).
    pub fn start_tls(repos: &GitRepos, certificates: &TestCertificates) -> Self {
        Self::start_with(repos, Some(certificates))
    }

    fn start_with(repos: &GitRepos, certificates: Option<&TestCertificates>) -> Self {
        let lighttpd = require_program("/usr/sbin/lighttpd", "apt-get install lighttpd");
        let htpasswd = require_program("htpasswd", "apt-get install apache2-utils");
        let exec_path = run(git().arg("--exec-path"));
        let backend = Path::new(exec_path.trim()).join("git-http-backend");
        assert!(
            backend.is_file(),
            "git-http-backend not found at {}",
            backend.display()
        );
        let dir = TempDir::new().expect("temp dir");
        let d = dir.path();
        let users = d.join("htpasswd");
        write(
            &users,
            run(Command::new(htpasswd).args(["-Bbn", GIT_USER, GIT_PASSWORD])),
        );
        let port = free_port();
        let access_log = d.join("access.log");
        let config = format!(
            r#"server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_cgi", "mod_accesslog")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{log}"
server.upload-dirs = ("{root}")
accesslog.filename = "{access}"
accesslog.format = "%r %>s authorization=[%{{Authorization}}i]"
alias.url = ("/git" => "{backend}")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "1", "GIT_CONFIG_NOSYSTEM" => "1")
}}
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{users}"
auth.require = ("/git" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
{tls}"#,
            tls = tls_config(certificates),
            root = d.display(),
            log = d.join("error.log").display(),
            access = access_log.display(),
            backend = backend.display(),
            repos = repos.root().display(),
            users = users.display(),
        );
        let config_path = d.join("lighttpd.conf");
        write(&config_path, config);
        let mut command = Command::new(lighttpd);
        command.arg("-D").arg("-f").arg(&config_path);
        let mut process = ServerProcess::start("lighttpd", command, &d.join("lighttpd.log"));
        process.wait_for_port(port);
        Self {
            port,
            scheme: if certificates.is_some() {
                "https"
            } else {
                "http"
            },
            process,
            access_log,
            _dir: dir,
        }
    }

    /// Every request line this server received, with its status and its
    /// `Authorization` header (`authorization=[-]` when there was none).
    pub fn requests(&self) -> Vec<String> {
        flushed_access_log(self.scheme, self.port, &self.access_log)
    }

    /// The `http(s)://` URL of the bare repository `NAME.git` (no credentials in it).
    pub fn url(&self, bare: &Path) -> String {
        let name = bare
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        format!("{}://127.0.0.1:{}/git/{name}", self.scheme, self.port)
    }

    /// What lighttpd has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// lighttpd answering every request with `302 Found` to the same path on
/// `target` (`http://HOST:PORT`, another origin), and logging each request
/// with its `Authorization` header.
pub struct RedirectingServer {
    /// The port lighttpd listens on.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: &'static str,
    process: ServerProcess,
    access_log: PathBuf,
    _dir: TempDir,
}

impl RedirectingServer {
    /// Starts lighttpd on a free port, redirecting to `target`.
    pub fn start(target: &str) -> Self {
        Self::start_with(target, None)
    }

    /// Starts lighttpd serving https with `certificates`, redirecting to `target`.
    pub fn start_tls(target: &str, certificates: &TestCertificates) -> Self {
        Self::start_with(target, Some(certificates))
    }

    fn start_with(target: &str, certificates: Option<&TestCertificates>) -> Self {
        let lighttpd = require_program("/usr/sbin/lighttpd", "apt-get install lighttpd");
        let dir = TempDir::new().expect("temp dir");
        let d = dir.path();
        let port = free_port();
        let access_log = d.join("access.log");
        let config = format!(
            r#"server.modules = ("mod_redirect", "mod_accesslog")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{log}"
accesslog.filename = "{access}"
accesslog.format = "%r %>s authorization=[%{{Authorization}}i]"
url.redirect = ("^/(.*)$" => "{target}/$1")
url.redirect-code = 302
{tls}"#,
            tls = tls_config(certificates),
            root = d.display(),
            log = d.join("error.log").display(),
            access = access_log.display(),
        );
        let config_path = d.join("lighttpd.conf");
        write(&config_path, config);
        let mut command = Command::new(lighttpd);
        command.arg("-D").arg("-f").arg(&config_path);
        let mut process = ServerProcess::start("lighttpd", command, &d.join("lighttpd.log"));
        process.wait_for_port(port);
        Self {
            port,
            scheme: if certificates.is_some() {
                "https"
            } else {
                "http"
            },
            process,
            access_log,
            _dir: dir,
        }
    }

    /// Every request line this server received, with its status and `Authorization` header.
    pub fn requests(&self) -> Vec<String> {
        flushed_access_log(self.scheme, self.port, &self.access_log)
    }

    /// What lighttpd has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// lighttpd's access log, once everything it received so far is in it: the
/// log is written in batches (about once a second), so a marker request is
/// sent and waited for; marker lines are left out.
fn flushed_access_log(scheme: &str, port: u16, path: &Path) -> Vec<String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static MARKERS: AtomicUsize = AtomicUsize::new(0);
    let marker = format!(
        "/tagpilot-log-marker-{}-{}",
        std::process::id(),
        MARKERS.fetch_add(1, Ordering::SeqCst)
    );
    let curl = require_program("curl", "apt-get install curl");
    // -k: the marker only needs to reach the server, whatever its certificate.
    let _ = Command::new(curl)
        .args([
            "-s",
            "-k",
            "--http1.1",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
        ])
        .arg(format!("{scheme}://127.0.0.1:{port}{marker}"))
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(&marker) {
            return text
                .lines()
                .filter(|line| !line.contains("/tagpilot-log-marker-"))
                .map(str::to_string)
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lighttpd did not log the marker request to {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| run(Command::new("id").arg("-un")).trim().to_string())
}
