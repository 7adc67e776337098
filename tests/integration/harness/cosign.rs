//! The real `cosign` CLI (v2, built by `scripts/install-test-deps.sh` from the
//! Go module proxy): key pairs and key-based signatures with the transparency
//! log off, pushed to the harness's plain-HTTP registries. Every run has its
//! own HOME and DOCKER_CONFIG, so nothing of the machine's is read or written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use super::process::{require_program, tools_dir};
use super::registry::{PASSWORD, Registry, USER};

/// The password of every test key.
const KEY_PASSWORD: &str = "cosign-test-key-password";

/// A cosign key pair in its own directory.
pub struct KeyPair {
    /// `cosign.key` (encrypted with the test password).
    pub private: PathBuf,
    /// `cosign.pub` (PEM).
    pub public: PathBuf,
}

impl KeyPair {
    /// The public key's PEM text.
    pub fn public_pem(&self) -> String {
        std::fs::read_to_string(&self.public).unwrap()
    }
}

/// Runs cosign in a scratch home.
pub struct Cosign {
    program: PathBuf,
    home: TempDir,
}

impl Cosign {
    /// Finds the cosign the install script built, or fails with the hint.
    pub fn new() -> Self {
        let program = require_program(
            &tools_dir().join("bin/cosign").to_string_lossy(),
            "cosign v2 is built from github.com/sigstore/cosign/v2 by scripts/install-test-deps.sh",
        );
        Self {
            program,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .env("COSIGN_PASSWORD", KEY_PASSWORD);
        command
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir).args(args).output().unwrap()
    }

    /// A new key pair in `<home>/<name>/`.
    pub fn key_pair(&self, name: &str) -> KeyPair {
        let dir = self.home.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let output = self.run(&dir, &["generate-key-pair"]);
        assert!(
            output.status.success(),
            "cosign generate-key-pair: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        KeyPair {
            private: dir.join("cosign.key"),
            public: dir.join("cosign.pub"),
        }
    }

    fn registry_args(registry: &Registry) -> Vec<String> {
        let mut args = vec![
            "--allow-http-registry".to_string(),
            "--allow-insecure-registry".to_string(),
        ];
        if registry.auth != super::registry::AuthMode::Anonymous {
            args.push(format!("--registry-username={USER}"));
            args.push(format!("--registry-password={PASSWORD}"));
        }
        args
    }

    /// Signs `image@digest` on `registry` with `key` (no transparency log).
    pub fn sign(&self, registry: &Registry, key: &KeyPair, reference: &str) {
        let key_arg = format!("--key={}", key.private.display());
        let mut args = vec!["sign", "--yes", "--tlog-upload=false", key_arg.as_str()];
        let extra = Self::registry_args(registry);
        args.extend(extra.iter().map(String::as_str));
        args.push(reference);
        let output = self.run(self.home.path(), &args);
        assert!(
            output.status.success(),
            "cosign sign {reference}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Whether `cosign verify --key` accepts `reference` (no transparency log).
    pub fn verifies(&self, registry: &Registry, key: &KeyPair, reference: &str) -> bool {
        let key_arg = format!("--key={}", key.public.display());
        let mut args = vec!["verify", "--insecure-ignore-tlog=true", key_arg.as_str()];
        let extra = Self::registry_args(registry);
        args.extend(extra.iter().map(String::as_str));
        args.push(reference);
        self.run(self.home.path(), &args).status.success()
    }
}
