//! The HTTP endpoint of `--listen`: `GET /healthz`, `GET /metrics` and
//! `POST /webhook/registry`. Webhooks need `Authorization: Bearer <token>`
//! (compared in constant time), bodies are size-limited, and an accepted push is
//! handed to the engine over a channel; the request never waits for a scan.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::mpsc;

use super::metrics::Metrics;
use super::webhook::{PushedImage, pushed_images};

/// The largest webhook body accepted (larger bodies get 413 and are not read further).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// A secret token whose `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookToken(Arc<str>);

impl WebhookToken {
    /// Wraps a token (surrounding whitespace, e.g. a file's final newline, is removed).
    pub fn new(token: &str) -> Self {
        Self(Arc::from(token.trim()))
    }

    /// Whether `candidate` equals the token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let expected = self.0.as_bytes();
        let given = candidate.as_bytes();
        let mut difference = expected.len() ^ given.len();
        for (index, byte) in expected.iter().enumerate() {
            difference |= usize::from(byte ^ given.get(index).copied().unwrap_or(0));
        }
        difference == 0 && !expected.is_empty()
    }
}

impl std::fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    token: Option<WebhookToken>,
    pushes: mpsc::Sender<Vec<PushedImage>>,
}

/// The router (exposed for tests that drive it without a socket).
pub fn router(
    metrics: Arc<Metrics>,
    token: Option<WebhookToken>,
    pushes: mpsc::Sender<Vec<PushedImage>>,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_handler))
        .route("/webhook/registry", post(webhook_handler))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(AppState {
            metrics,
            token,
            pushes,
        })
}

/// Serves the router on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_handler(
    State(state): State<AppState>,
) -> ([(&'static str, &'static str); 1], String) {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn webhook_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let authorized = match &state.token {
        Some(token) => headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|given| token.matches(given.trim())),
        None => false,
    };
    if !authorized {
        state
            .metrics
            .increment("tagpilot_webhooks_total", &[("result", "unauthorized")]);
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    match pushed_images(&body) {
        Ok(images) => {
            state
                .metrics
                .increment("tagpilot_webhooks_total", &[("result", "accepted")]);
            let count = images.len();
            if !images.is_empty() {
                tracing::info!(count, "webhook: images pushed");
                if state.pushes.send(images).await.is_err() {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "shutting down\n".to_string(),
                    );
                }
            }
            (StatusCode::ACCEPTED, format!("{{\"pushes\":{count}}}\n"))
        }
        Err(error) => {
            state
                .metrics
                .increment("tagpilot_webhooks_total", &[("result", "invalid")]);
            (StatusCode::BAD_REQUEST, format!("{error}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        let token = WebhookToken::new("s3cret\n");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret2"));
        assert!(!token.matches(""));
        assert!(!WebhookToken::new("").matches(""));
        assert_eq!(format!("{token:?}"), "[redacted]");
    }
}
