//! Real OCI registries: CNCF distribution 2.8 (Debian's `docker-registry`) and
//! distribution v3 (built by `scripts/install-test-deps.sh`; it paginates
//! `tags/list`), each anonymous, with htpasswd basic auth, or with token auth
//! backed by [`TokenServer`].

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use super::process::{ServerProcess, free_port, require_program, run, tools_dir, write};
use super::token_server::{ISSUER, SERVICE, TokenServer};

/// The user the authenticated registries accept.
pub const USER: &str = "tagpilot";
/// That user's password (tests check it never shows up in output).
pub const PASSWORD: &str = "s3cr3t-Registry-Pa55";

/// Which distribution release to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Debian's docker-registry 2.8.2: no tag pagination.
    V2,
    /// distribution v3: paginates `tags/list` with `n`, `last` and `Link`.
    V3,
}

/// How clients must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No authentication.
    Anonymous,
    /// htpasswd basic auth with [`USER`]/[`PASSWORD`].
    Basic,
    /// Bearer tokens from a token server that knows [`USER`]/[`PASSWORD`].
    Token,
}

/// A running registry.
pub struct Registry {
    /// The registry's `127.0.0.1:PORT`.
    pub host: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The auth mode it was started with.
    pub auth: AuthMode,
    /// The token server, in token mode.
    pub token_server: Option<TokenServer>,
    process: ServerProcess,
    command: (PathBuf, PathBuf),
    port: u16,
    _dir: TempDir,
}

/// Extra YAML merged under the registry config's top level (e.g. `notifications:`).
#[derive(Debug, Default, Clone)]
pub struct RegistryOptions {
    /// Extra top-level YAML (already indented for the top level).
    pub extra_config: String,
    /// htpasswd users besides [`USER`] (basic mode only).
    pub extra_users: Vec<(String, String)>,
    /// Serve HTTPS with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Registry {
    /// Starts a registry of `distribution` in `auth` mode on a free port.
    pub fn start(distribution: Distribution, auth: AuthMode) -> Self {
        Self::start_with(distribution, auth, RegistryOptions::default())
    }

    /// Starts a registry with extra configuration.
    pub fn start_with(
        distribution: Distribution,
        auth: AuthMode,
        options: RegistryOptions,
    ) -> Self {
        let binary = match distribution {
            Distribution::V2 => require_program(
                "docker-registry",
                "apt-get install docker-registry (CNCF distribution 2.8)",
            ),
            Distribution::V3 => require_program(
                tools_dir()
                    .join("bin/registry-v3")
                    .to_str()
                    .unwrap_or_default(),
                "build distribution v3 with `go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2`",
            ),
        };
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut token_server = None;
        let auth_config = match auth {
            AuthMode::Anonymous => String::new(),
            AuthMode::Basic => {
                let htpasswd = require_program("htpasswd", "apt-get install apache2-utils");
                let mut users = vec![(USER.to_string(), PASSWORD.to_string())];
                users.extend(options.extra_users.iter().cloned());
                let mut lines = String::new();
                for (user, password) in &users {
                    lines.push_str(
                        run(Command::new(&htpasswd).args(["-Bbn", user, password])).trim(),
                    );
                    lines.push('\n');
                }
                let path = dir.path().join("htpasswd");
                write(&path, lines);
                format!(
                    "auth:\n  htpasswd:\n    realm: tagpilot-test\n    path: {}\n",
                    path.display()
                )
            }
            AuthMode::Token => {
                let server = TokenServer::start(dir.path(), &[(USER, PASSWORD)], false);
                let config = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    server.realm(),
                    server.cert_path.display()
                );
                token_server = Some(server);
                config
            }
        };
        let tls_config = match &options.tls {
            Some((cert, key)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: tagpilot-test-secret\n{tls_config}{auth_config}{extra}",
            root = dir.path().join("storage").display(),
            extra = options.extra_config,
        );
        let config_path: PathBuf = dir.path().join("config.yml");
        write(&config_path, config);
        let mut process = Self::spawn(&binary, &config_path, &dir.path().join("registry.log"));
        process.wait_for_port(port);
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{host}/v2/");
        // Readiness only: the tests themselves verify the certificate.
        let client = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        process.wait_until("GET /v2/ answers", || {
            client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200 || r.status().as_u16() == 401)
        });
        Self {
            host,
            scheme,
            auth,
            token_server,
            process,
            command: (binary, config_path),
            port,
            _dir: dir,
        }
    }

    fn spawn(
        binary: &std::path::Path,
        config: &std::path::Path,
        log: &std::path::Path,
    ) -> ServerProcess {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg(config)
            .env("OTEL_SDK_DISABLED", "true")
            .env("OTEL_TRACES_EXPORTER", "none");
        ServerProcess::start("registry", command, log)
    }

    /// The filesystem storage's root directory (what a `redirect` middleware's
    /// `baseurl` must serve).
    pub fn storage_dir(&self) -> PathBuf {
        self._dir.path().join("storage")
    }

    /// Kills the registry process (an outage); its storage is kept for [`Self::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the registry again on the same port with the same storage, and waits for it.
    pub fn restart(&mut self) {
        let log = self._dir.path().join("registry-restarted.log");
        self.process = Self::spawn(&self.command.0, &self.command.1, &log);
        self.process.wait_for_port(self.port);
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// What the registry has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// The `Authorization` header value that lets the test user pull and push `repository`.
    pub fn authorization(&self, repository: &str) -> Option<String> {
        use base64::Engine as _;
        match self.auth {
            AuthMode::Anonymous => None,
            AuthMode::Basic => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
            )),
            AuthMode::Token => {
                let server = self.token_server.as_ref().expect("token server");
                let token = server.token_for(
                    USER,
                    PASSWORD,
                    &format!("repository:{repository}:pull,push"),
                );
                Some(format!("Bearer {token}"))
            }
        }
    }
}
