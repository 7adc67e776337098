//! Flux's Receiver routes of `--listen`: `POST /hook/<digest>`. The route is
//! looked up first (an unknown path is 404 and nothing is read), then the body
//! is read within the same bounds as every webhook, verified for the
//! Receiver's type ([`super::receiver::verify`]), checked against replays
//! ([`super::receiver::replay`]), and handed to the engine as a
//! [`Trigger::Requested`]. A refusal's cause is logged; the sender only gets
//! the status (401, 400) and a short reason, as from Flux.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::http::{AppState, read_body};
use super::receiver::HOOK_PATH;
use super::receiver::replay::{REPLAY_WINDOW, Verdict};
use super::receiver::verify::verify;
use super::webhook::Trigger;

const METRIC: &str = "tagpilot_receiver_deliveries_total";

pub(super) async fn hook_handler(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let Some(receiver) = state.receivers.get(&format!("{HOOK_PATH}{digest}")) else {
        state
            .metrics
            .increment(METRIC, &[("type", "none"), ("result", "not_found")]);
        return (StatusCode::NOT_FOUND, String::new());
    };
    let kind = receiver.receiver_type.name();
    let count = |result: &str| {
        state
            .metrics
            .increment(METRIC, &[("type", kind), ("result", result)]);
    };
    if receiver.suspend {
        count("suspended");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the receiver is suspended\n".into(),
        );
    }
    let body = match read_body(&state.metrics, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let delivery = match verify(&receiver, &headers, &body, &state.google).await {
        Ok(delivery) => delivery,
        Err(refusal) => {
            count(refusal.label());
            tracing::warn!(receiver = %receiver.key, r#type = kind, %refusal, "receiver: delivery refused");
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let reason = if status == StatusCode::UNAUTHORIZED {
                "the delivery's signature or token does not verify\n".to_string()
            } else {
                format!("{refusal}\n")
            };
            return (status, reason);
        }
    };
    match state.replays.check(
        &receiver.key,
        &body,
        delivery.id.as_deref(),
        delivery.sent_at,
        Instant::now(),
    ) {
        Verdict::Replayed => {
            count("replayed");
            tracing::info!(receiver = %receiver.key, "receiver: a delivery seen before; not acted on again");
            return (
                StatusCode::OK,
                "already handled: this delivery was received before\n".into(),
            );
        }
        Verdict::Stale => {
            count("stale");
            tracing::info!(receiver = %receiver.key, "receiver: a delivery older than the replay window; ignored");
            return (
                StatusCode::OK,
                format!(
                    "ignored: the event is older than {} s\n",
                    REPLAY_WINDOW.as_secs()
                ),
            );
        }
        Verdict::New => {}
    }
    count("accepted");
    tracing::info!(receiver = %receiver.key, r#type = kind, pushed = delivery.pushed.len(), "receiver: reconciling its resources");
    let trigger = Trigger::Requested {
        receiver: receiver.key.clone(),
        resources: receiver.resources.clone(),
        pushed: delivery.pushed,
    };
    if state.triggers.send(trigger).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    (StatusCode::OK, "ok\n".into())
}
