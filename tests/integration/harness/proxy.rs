//! A real forward HTTP proxy: Debian's `tinyproxy`, on 127.0.0.1 with a free
//! port, optionally with basic auth (`407` without it), logging every request
//! line (`GET http://…` for plain HTTP, `CONNECT host:port` for HTTPS) so a
//! test can prove the traffic went through it.
//!
//! tinyproxy runs in the foreground (`-d`) with its own config, log and PID
//! file in a temporary directory, and is stopped by PID when dropped.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{ServerProcess, free_port, require_program, write};

/// A running tinyproxy.
pub struct ForwardProxy {
    /// The proxy's `127.0.0.1:PORT`.
    pub authority: String,
    /// The basic-auth user and password it requires, if any.
    pub credentials: Option<(String, String)>,
    log: PathBuf,
    process: ServerProcess,
    _dir: TempDir,
}

impl ForwardProxy {
    /// A proxy that serves anyone on 127.0.0.1.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A proxy that answers `407` unless the client sends these basic-auth credentials.
    pub fn start_with_basic_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(credentials: Option<(String, String)>) -> Self {
        let binary = require_program("tinyproxy", "apt-get install tinyproxy");
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("tinyproxy.log");
        let auth = credentials
            .as_ref()
            .map(|(user, password)| format!("BasicAuth {user} {password}\n"))
            .unwrap_or_default();
        // No ConnectPort line: CONNECT is allowed to every port (test servers use free ports).
        let config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{log}\"\nLogLevel Info\nPidFile \"{pid}\"\nMaxClients 64\nAllow 127.0.0.1\nDisableViaHeader Yes\n{auth}",
            log = log.display(),
            pid = dir.path().join("tinyproxy.pid").display(),
        );
        let config_path = dir.path().join("tinyproxy.conf");
        write(&config_path, config);
        let mut command = Command::new(binary);
        command.arg("-d").arg("-c").arg(&config_path);
        let mut process =
            ServerProcess::start("tinyproxy", command, &dir.path().join("stdout.log"));
        process.wait_for_port(port);
        Self {
            authority: format!("127.0.0.1:{port}"),
            credentials,
            log,
            process,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`, without credentials (a Secret's `address`).
    pub fn address(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// tinyproxy's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every request line the proxy received, in order: `GET http://host/path HTTP/1.1`,
    /// `CONNECT host:port HTTP/1.1` (refused ones included).
    pub fn requests(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|line| line.split_once(": Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): "))
            .map(|(_, request)| request.to_string())
            .collect()
    }

    /// How many connections the proxy opened to `authority` (`127.0.0.1:PORT`)
    /// on a client's behalf: requests it let through, not ones it refused (`407`).
    pub fn connections_to(&self, authority: &str) -> usize {
        let opening = format!("opening connection to {authority}");
        self.log_text()
            .lines()
            .filter(|line| line.contains(&opening))
            .count()
    }

    /// Waits until a request line satisfies `wanted` (the log is written as
    /// requests arrive), failing with the log after a deadline.
    pub fn wait_for_request(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.requests().into_iter().find(|l| wanted(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "tinyproxy saw no request {what}; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PID of tinyproxy.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}
