//! A real kube-apiserver on an embedded etcd (`tests/kube-apiserver`, built by
//! `scripts/install-test-deps.sh`), on 127.0.0.1 with a free port and its data
//! in a temporary directory. It writes an admin kubeconfig (token auth, a CA
//! for its own serving certificate) once `/readyz` answers.
//!
//! `kubectl` runs through [`kubectl_command`], whose discovery cache belongs to
//! one API server: the default one (`~/.kube/cache`) is keyed by host and port,
//! and a port used before by another test's API server (with Flux's CRDs, say)
//! maps `imageupdateautomation` to a group this server does not have, so every
//! `kubectl get` of it fails with NotFound until that cache expires.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::process::{ServerProcess, require_program, tools_dir};

/// A running kube-apiserver.
pub struct KubeApiServer {
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    process: ServerProcess,
    _dir: TempDir,
}

impl KubeApiServer {
    /// Starts the API server and waits for its kubeconfig (it is written after `/readyz` is OK).
    pub fn start() -> Self {
        let binary = require_program(
            tools_dir()
                .join("bin/kube-apiserver-test")
                .to_str()
                .unwrap_or_default(),
            "build it with tests/kube-apiserver/build.sh (Go, from the module proxy)",
        );
        let dir = TempDir::new().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut command = Command::new(binary);
        command
            .arg("-kubeconfig")
            .arg(&kubeconfig)
            .arg("-data-dir")
            .arg(dir.path().join("data"));
        let mut process =
            ServerProcess::start("kube-apiserver", command, &dir.path().join("apiserver.log"));
        let path = kubeconfig.clone();
        process.wait_until_within(
            "the kubeconfig is written (/readyz OK)",
            Duration::from_secs(90),
            || path.is_file(),
        );
        Self {
            kubeconfig,
            process,
            _dir: dir,
        }
    }

    /// A kube-rs client for the admin user.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("a client config from the kubeconfig");
        kube::Client::try_from(config).expect("a kube client")
    }

    /// What the API server has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// `kubectl --kubeconfig KUBECONFIG`, its discovery cache beside the
/// kubeconfig (each API server and cluster writes its kubeconfigs in a
/// directory of its own), never in the shared `~/.kube/cache`.
pub fn kubectl_command(kubeconfig: &Path) -> Command {
    let kubectl = require_program("kubectl", "install kubectl 1.32 (dl.k8s.io)");
    let cache = kubeconfig
        .parent()
        .expect("a kubeconfig in a directory")
        .join("kubectl-cache");
    let mut command = Command::new(kubectl);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache);
    command
}
