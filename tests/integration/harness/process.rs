//! Starting and stopping real server processes: free ports, temp dirs, readiness
//! by polling (never sleeping a fixed time), stop by PID on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to become ready before the test fails.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The directory where `scripts/install-test-deps.sh` puts built tools.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("TAGPILOT_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/tagpilot-tools"),
    }
}

/// Finds a program, or panics with what to install.
pub fn require_program(program: &str, install_hint: &str) -> PathBuf {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        if candidate.is_file() {
            return candidate.to_path_buf();
        }
    } else if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths).chain([PathBuf::from("/usr/sbin")]) {
            let path = dir.join(program);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "{program} is not installed: {install_hint} (scripts/install-test-deps.sh installs everything the tests need)"
    );
}

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed before returning).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A loopback port that refuses every connection for as long as the returned
/// socket lives: bound but never listening, so no other test's server can take
/// it meanwhile (a port from [`free_port`] can be reused by a parallel test).
pub fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    let port = socket.local_addr().expect("local addr").port();
    (socket, port)
}

/// A "server" on a loopback port that accepts connections and never says a
/// word (a registry that hangs); it lives as long as the test process.
pub fn black_hole_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// A running server process, killed (by PID) when dropped.
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr to `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("create server log");
        let err = file.try_clone().expect("clone log handle");
        command.stdin(Stdio::null()).stdout(file).stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (by PID) and waits for it to exit, as a crash or an outage would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server has written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` returns true, failing with the server's log if it exits or times out.
    pub fn wait_until(&mut self, what: &str, ready: impl FnMut() -> bool) {
        self.wait_until_within(what, READY_TIMEOUT, ready);
    }

    /// [`Self::wait_until`] with its own limit (for servers that take longer to start).
    pub fn wait_until_within(
        &mut self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {what}; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if ready() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready ({what}) after {limit:?}; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Waits until the server accepts TCP connections on `port`.
    pub fn wait_for_port(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        self.wait_until(&format!("listening on {addr}"), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion and returns its stdout, panicking with stderr on failure.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes a file, creating parent directories.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dir");
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
