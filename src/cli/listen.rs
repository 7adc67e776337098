//! `--listen` and `--webhook-token-file`, shared by `run` and `controller`:
//! resolved (token read, combination checked) before anything starts, then the
//! HTTP server (`/healthz`, `/readyz`, `/metrics`, `POST /webhook/registry`,
//! Flux's Receivers on `POST /hook/<digest>`) started in the background until
//! the stop signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use tokio::sync::watch;

use super::CommandError;
use crate::engine::http::{WebhookToken, serve};
use crate::engine::receiver::google::GOOGLE_CERTS_URL;

/// The HTTP endpoint's flags.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Serve `/healthz`, `/readyz`, `/metrics`, `POST /webhook/registry` and Flux's Receivers (`POST /hook/...`) on this address (e.g. `127.0.0.1:9090`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A file holding the bearer token webhook requests must send (required for webhooks).
    #[arg(long)]
    webhook_token_file: Option<PathBuf>,
    /// Where Google publishes the keys of its ID tokens (`gcr` Receivers: Pub/Sub push);
    /// change it only for a test or a mirror.
    #[arg(long, value_name = "URL", default_value = GOOGLE_CERTS_URL)]
    google_certs_url: String,
}

/// Where to serve, and the token webhooks must carry.
pub struct Listen {
    /// The address to bind.
    pub addr: SocketAddr,
    /// `None`: every webhook request is refused.
    pub token: Option<WebhookToken>,
    /// Where `gcr` Receivers fetch Google's ID-token keys.
    pub google_certs_url: String,
}

impl ListenArgs {
    /// Reads the token file; `None` without `--listen`. A token file without
    /// `--listen`, or an unreadable or empty one, is invalid input.
    pub fn resolve(&self) -> Result<Option<Listen>, CommandError> {
        let token = match &self.webhook_token_file {
            Some(path) => Some(read_token(path).map_err(CommandError::InvalidInput)?),
            None => None,
        };
        match self.listen {
            None if token.is_some() => Err(CommandError::InvalidInput(anyhow!(
                "--webhook-token-file needs --listen"
            ))),
            None => Ok(None),
            Some(addr) => {
                if token.is_none() {
                    tracing::warn!("no --webhook-token-file: webhook requests will be refused");
                }
                Ok(Some(Listen {
                    addr,
                    token,
                    google_certs_url: self.google_certs_url.clone(),
                }))
            }
        }
    }
}

/// Binds `addr` (an error if it cannot) and serves `app` in the background
/// until `stop` changes.
pub async fn spawn_server(
    addr: SocketAddr,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> Result<(), CommandError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
        .map_err(CommandError::Failed)?;
    tokio::spawn(async move {
        let until = async move {
            let _ = stop.changed().await;
        };
        if let Err(error) = serve(listener, app, until).await {
            tracing::error!(%error, "the HTTP server stopped");
        }
    });
    Ok(())
}

fn read_token(path: &Path) -> Result<WebhookToken, anyhow::Error> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --webhook-token-file {}", path.display()))?;
    if text.trim().is_empty() {
        return Err(anyhow!("--webhook-token-file {} is empty", path.display()));
    }
    Ok(WebhookToken::new(&text))
}
