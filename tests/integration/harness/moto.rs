//! The moto server: a real AWS-compatible ECR API (CreateRepository, PutImage,
//! DescribeImages, GetAuthorizationToken), installed in a venv by
//! `scripts/install-test-deps.sh`.

use std::process::Command;

use tempfile::TempDir;

use super::process::{ServerProcess, free_port, require_program, tools_dir};

/// The AWS region the tests use.
pub const REGION: &str = "us-east-1";
/// The account moto assigns to everything.
pub const ACCOUNT: &str = "123456789012";

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    process: ServerProcess,
    _dir: TempDir,
}

impl Moto {
    /// Starts moto on a free port.
    pub fn start() -> Self {
        let binary = require_program(
            tools_dir()
                .join("venv/bin/moto_server")
                .to_str()
                .unwrap_or_default(),
            "install moto in a venv: `python3 -m venv V && V/bin/pip install 'moto[server]'`",
        );
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", REGION)
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "false");
        let mut process =
            ServerProcess::start("moto_server", command, &dir.path().join("moto.log"));
        process.wait_for_port(port);
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::blocking::Client::new();
        let health = format!("{endpoint}/moto-api/data.json");
        process.wait_until("moto answers HTTP", || {
            client
                .get(&health)
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        Self {
            endpoint,
            process,
            _dir: dir,
        }
    }

    /// An ECR client pointed at this server with dummy static credentials.
    pub fn ecr_client(&self) -> aws_sdk_ecr::Client {
        let credentials =
            aws_sdk_ecr::config::Credentials::new("test", "test", None, None, "tests");
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new(REGION))
            .credentials_provider(credentials)
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// What moto has logged.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}
