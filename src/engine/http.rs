//! The HTTP endpoint of `--listen`: `GET /healthz`, `GET /metrics` and
//! `POST /webhook/registry`. Webhooks need `Authorization: Bearer <token>`
//! (compared in constant time, before any of the body is read), bodies are
//! size- and time-limited, and an accepted push is handed to the engine over
//! a channel; the request never waits for a scan. Connections are bounded in
//! number and time by [`super::http_server`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::mpsc;

use super::http_server::{ServerLimits, serve_bounded};
use super::metrics::Metrics;
use super::webhook::{PushedImage, pushed_images};

/// The largest webhook body accepted (larger bodies get 413 and are not read further).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;
/// The longest a webhook body may take to arrive (slower bodies get 408).
pub const WEBHOOK_BODY_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves the router on a bound listener until `shutdown` resolves, within
/// the connection limits of [`ServerLimits::for_this_process`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = ServerLimits::for_this_process();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            max_connections = limits.max_connections,
            header_read_timeout = ?limits.header_read,
            "listening"
        );
    }
    serve_bounded(listener, app, limits, shutdown).await
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
    body: Body,
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
    // Read only after the token matched, and never past the limits.
    let read = tokio::time::timeout(
        WEBHOOK_BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_WEBHOOK_BODY),
    );
    let body: Bytes = match read.await {
        Ok(Ok(body)) => body,
        Err(_) => {
            state
                .metrics
                .increment("tagpilot_webhooks_total", &[("result", "too_slow")]);
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s\n",
                    WEBHOOK_BODY_TIMEOUT.as_secs()
                ),
            );
        }
        Ok(Err(_)) => {
            state
                .metrics
                .increment("tagpilot_webhooks_total", &[("result", "too_large")]);
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_WEBHOOK_BODY} bytes\n"),
            );
        }
    };
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
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    fn post(token: Option<&str>, body: Vec<u8>) -> Request<Body> {
        let mut request = Request::post("/webhook/registry").header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        );
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn webhooks_need_the_token_a_known_body_and_a_bounded_size() {
        let metrics = Arc::new(Metrics::new());
        let (sender, mut receiver) = mpsc::channel(4);
        let app = router(metrics.clone(), Some(WebhookToken::new("s3cret")), sender);
        let push = br#"{"events":[{"action":"push","target":{"repository":"team/app","tag":"v2"},"request":{"host":"127.0.0.1:5000"}}]}"#.to_vec();

        let response = app
            .clone()
            .oneshot(post(Some("wrong"), push.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = app.clone().oneshot(post(None, push.clone())).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(receiver.try_recv().is_err(), "nothing reaches the engine");

        let oversized = vec![b' '; MAX_WEBHOOK_BODY + 1];
        let response = app
            .clone()
            .oneshot(post(Some("s3cret"), oversized))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

        let response = app
            .clone()
            .oneshot(post(Some("s3cret"), b"{not json".to_vec()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let response = app
            .clone()
            .oneshot(post(Some("s3cret"), push))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let pushed = receiver.try_recv().unwrap();
        assert_eq!(pushed[0].repository, "team/app");
        assert_eq!(pushed[0].tag, "v2");
        assert_eq!(
            metrics.get("tagpilot_webhooks_total", &[("result", "unauthorized")]),
            2.0
        );
    }

    /// Regression: the body was read (up to 1 MiB) before the token was checked,
    /// so unauthenticated clients could make the daemon buffer their bodies.
    #[tokio::test]
    async fn unauthenticated_webhooks_used_to_be_read_before_the_token_check() {
        let (sender, _receiver) = mpsc::channel(1);
        let app = router(
            Arc::new(Metrics::new()),
            Some(WebhookToken::new("s3cret")),
            sender,
        );
        // A body that fails as soon as anyone reads it.
        let body = Body::from_stream(futures::stream::once(async {
            Err::<Bytes, _>(std::io::Error::other("the body was read"))
        }));
        let request = Request::post("/webhook/registry")
            .header("authorization", "Bearer wrong")
            .body(body)
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    /// A client that sends the token and then trickles (or never sends) its
    /// body gets 408 after [`WEBHOOK_BODY_TIMEOUT`] instead of holding the
    /// handler (issue 17, finding 4). Virtual time: the timeout fires at once.
    #[tokio::test(start_paused = true)]
    async fn a_webhook_body_that_never_arrives_gets_408() {
        let metrics = Arc::new(Metrics::new());
        let (sender, _receiver) = mpsc::channel(1);
        let app = router(metrics.clone(), Some(WebhookToken::new("s3cret")), sender);
        let body = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let request = Request::post("/webhook/registry")
            .header("authorization", "Bearer s3cret")
            .body(body)
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            metrics.get("tagpilot_webhooks_total", &[("result", "too_slow")]),
            1.0
        );
    }

    #[tokio::test]
    async fn without_a_configured_token_every_webhook_is_refused() {
        let (sender, _receiver) = mpsc::channel(1);
        let app = router(Arc::new(Metrics::new()), None, sender);
        let response = app.oneshot(post(Some(""), b"{}".to_vec())).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

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
