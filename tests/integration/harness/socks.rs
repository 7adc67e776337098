//! A real SOCKS5 proxy: Debian's `dante-server` (`danted`), on 127.0.0.1 with
//! a free port and no authentication, logging every connection it passes
//! (`pass(1): tcp/connect [: CLIENT PROXY-IN -> PROXY-OUT TARGET`) so a test can prove
//! the traffic went through it. Flux proxies ssh git through SOCKS5 only.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use super::process::{ServerProcess, free_port, require_program, write};

/// A running danted.
pub struct SocksProxy {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _process: ServerProcess,
    _dir: TempDir,
}

impl SocksProxy {
    /// Starts danted on a free port.
    pub fn start() -> Self {
        let danted = require_program("/usr/sbin/danted", "apt-get install dante-server");
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("danted.log");
        let user = if running_as_root() { "root" } else { "nobody" };
        write(
            &dir.path().join("danted.conf"),
            format!(
                "logoutput: {log}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\nclientmethod: none\nsocksmethod: none\nuser.privileged: {user}\nuser.unprivileged: {user}\n\
                 client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\nsocks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: connect error\n}}\n",
                log = log.display()
            ),
        );
        let mut command = Command::new(danted);
        command
            .arg("-f")
            .arg(dir.path().join("danted.conf"))
            .arg("-p")
            .arg(dir.path().join("danted.pid"))
            .args(["-N", "1"]);
        let mut process = ServerProcess::start("danted", command, &dir.path().join("stdout.log"));
        process.wait_for_port(port);
        Self {
            port,
            log,
            _process: process,
            _dir: dir,
        }
    }

    /// `socks5://127.0.0.1:PORT` (a Secret's `address`).
    pub fn address(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.port)
    }

    /// What danted logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many connections it passed to `127.0.0.1:port`.
    pub fn connections_to(&self, port: u16) -> usize {
        // `… tcp/connect [: CLIENT PROXY-IN -> PROXY-OUT TARGET`
        let target = format!(" 127.0.0.1.{port}");
        self.log_text()
            .lines()
            .filter(|line| line.contains("tcp/connect") && line.trim_end().ends_with(&target))
            .count()
    }
}

fn running_as_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}
