//! The HTTP endpoint of `--listen`: `GET /healthz`, `GET /readyz`,
//! `GET /metrics`, `POST /webhook/registry` and Flux's Receiver routes
//! `POST /hook/<digest>` ([`super::http_hooks`]). `/webhook/registry` needs
//! `Authorization: Bearer <token>` (compared in constant time, before any of
//! the body is read); bodies are size- and time-limited, and an accepted
//! delivery is handed to the engine over a channel as a [`Trigger`]; the
//! request never waits for a scan. Connections are bounded in number and time
//! by [`super::http_server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::mpsc;

use super::http_server::{ServerLimits, serve_bounded};
use super::metrics::Metrics;
use super::receiver::google::{GOOGLE_CERTS_URL, GoogleKeys};
use super::receiver::replay::ReplayGuard;
use super::receiver::{HOOK_PATH, ReceiverTable};
use super::webhook::{Trigger, pushed_images};

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

/// Whether the process has done its first sync (objects loaded, caches
/// listed, the Lease tried): `/readyz` answers 200 from then on.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Ready from the start (for callers with nothing to wait for).
    pub fn ready() -> Self {
        let readiness = Self::default();
        readiness.set_ready();
        readiness
    }

    /// Marks the first sync done.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the first sync is done.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything the endpoints serve.
#[derive(Clone)]
pub(super) struct AppState {
    pub(super) metrics: Arc<Metrics>,
    token: Option<WebhookToken>,
    pub(super) triggers: mpsc::Sender<Trigger>,
    readiness: Readiness,
    pub(super) receivers: ReceiverTable,
    pub(super) google: Arc<GoogleKeys>,
    pub(super) replays: Arc<ReplayGuard>,
}

/// What `--listen` serves, before it is turned into a router.
pub struct Endpoints {
    state: AppState,
}

impl Endpoints {
    /// `/healthz`, `/metrics` and `/webhook/registry` (with `token`), ready at
    /// once, with no Receivers.
    pub fn new(
        metrics: Arc<Metrics>,
        token: Option<WebhookToken>,
        triggers: mpsc::Sender<Trigger>,
    ) -> Self {
        Self {
            state: AppState {
                metrics,
                token,
                triggers,
                readiness: Readiness::ready(),
                receivers: ReceiverTable::default(),
                google: Arc::new(GoogleKeys::new(GOOGLE_CERTS_URL)),
                replays: Arc::new(ReplayGuard::default()),
            },
        }
    }

    /// `/readyz` follows `readiness`.
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.state.readiness = readiness;
        self
    }

    /// Serves Flux's Receiver routes for `receivers`.
    pub fn receivers(mut self, receivers: ReceiverTable) -> Self {
        self.state.receivers = receivers;
        self
    }

    /// Checks `gcr` Receivers' ID tokens with the keys published at `url`
    /// (default: Google's).
    pub fn google_certs_url(mut self, url: &str) -> Self {
        self.state.google = Arc::new(GoogleKeys::new(url));
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz_handler))
            .route("/metrics", get(metrics_handler))
            .route("/webhook/registry", post(webhook_handler))
            .route(
                &format!("{HOOK_PATH}{{digest}}"),
                post(super::http_hooks::hook_handler),
            )
            .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
            .with_state(self.state)
    }
}

/// The router with `/healthz`, `/readyz` (ready at once), `/metrics` and
/// `/webhook/registry` (exposed for tests that drive it without a socket).
pub fn router(
    metrics: Arc<Metrics>,
    token: Option<WebhookToken>,
    triggers: mpsc::Sender<Trigger>,
) -> Router {
    Endpoints::new(metrics, token, triggers).router()
}

async fn readyz_handler(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first sync has not finished\n",
        )
    }
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

/// Reads a webhook body within [`MAX_WEBHOOK_BODY`] and
/// [`WEBHOOK_BODY_TIMEOUT`]; the answer to send when it cannot.
pub(super) async fn read_body(
    metrics: &Metrics,
    body: Body,
) -> Result<Bytes, (StatusCode, String)> {
    let read = tokio::time::timeout(
        WEBHOOK_BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_WEBHOOK_BODY),
    );
    match read.await {
        Ok(Ok(body)) => Ok(body),
        Err(_) => {
            metrics.increment("tagpilot_webhooks_total", &[("result", "too_slow")]);
            Err((
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s\n",
                    WEBHOOK_BODY_TIMEOUT.as_secs()
                ),
            ))
        }
        Ok(Err(_)) => {
            metrics.increment("tagpilot_webhooks_total", &[("result", "too_large")]);
            Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_WEBHOOK_BODY} bytes\n"),
            ))
        }
    }
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
    let body = match read_body(&state.metrics, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    match pushed_images(&body) {
        Ok(images) => {
            state
                .metrics
                .increment("tagpilot_webhooks_total", &[("result", "accepted")]);
            let count = images.len();
            if !images.is_empty() {
                tracing::info!(count, "webhook: images pushed");
                if state.triggers.send(Trigger::Pushed(images)).await.is_err() {
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
        let Trigger::Pushed(pushed) = receiver.try_recv().unwrap() else {
            panic!("not a push")
        };
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

    #[tokio::test]
    async fn readyz_answers_503_until_the_first_sync_then_200() {
        let (sender, _receiver) = mpsc::channel(1);
        let readiness = Readiness::default();
        let app = Endpoints::new(Arc::new(Metrics::new()), None, sender)
            .readiness(readiness.clone())
            .router();
        let get = || Request::get("/readyz").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        readiness.set_ready();
        let response = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let health = Request::get("/healthz").body(Body::empty()).unwrap();
        assert_eq!(app.oneshot(health).await.unwrap().status(), StatusCode::OK);
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
