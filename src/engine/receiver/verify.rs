//! Verifying one delivery to a Receiver as Flux's notification-controller
//! does for its type (`internal/server/receiver_handlers.go`): tokens and
//! signatures compared in constant time, the event allow-list, and the
//! payload decoded as its sender documents it. The body is only looked at
//! after the route (the secret path) matched, and it is already bounded in
//! size and time by the HTTP layer.

use axum::http::HeaderMap;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::google::{GoogleError, GoogleKeys};
use super::payload::{self, Delivery};
use super::{Receiver, ReceiverType};

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The signature, token or ID token is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// The Google ID token could not be checked (its keys could not be fetched).
    #[error("cannot check the Google ID token: {0}")]
    Google(#[source] GoogleError),
    /// The event is not in `spec.events`.
    #[error("the {sender} event {event:?} is not in spec.events")]
    EventNotAllowed {
        /// GitHub, GitLab.
        sender: &'static str,
        /// The event the sender named.
        event: String,
    },
    /// The body is not what the sender documents.
    #[error("{0}")]
    Payload(String),
}

impl Refusal {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::Google(_) => 503,
            Self::EventNotAllowed { .. } | Self::Payload(_) => 400,
        }
    }

    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) | Self::Google(_) => "unauthorized",
            Self::EventNotAllowed { .. } => "event_not_allowed",
            Self::Payload(_) => "invalid",
        }
    }
}

/// Verifies a delivery of `body` with `headers` for `receiver`; what it says on success.
pub async fn verify(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: &[u8],
    google: &GoogleKeys,
) -> Result<Delivery, Refusal> {
    let token = receiver.token.expose().as_slice();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let mut delivery = match receiver.receiver_type {
        ReceiverType::Generic => payload::generic(headers, body),
        ReceiverType::GenericHmac => {
            check_prefixed_hmac(header("x-signature"), "X-Signature", token, body)?;
            payload::generic(headers, body)
        }
        ReceiverType::GitHub => {
            match header("x-hub-signature-256") {
                Some(signature) => {
                    check_prefixed_hmac(Some(signature), "X-Hub-Signature-256", token, body)?;
                }
                None => {
                    check_prefixed_hmac(header("x-hub-signature"), "X-Hub-Signature", token, body)?
                }
            }
            let event = header("x-github-event").unwrap_or_default();
            allowed(receiver, "GitHub", event)?;
            payload::github(header("content-type"), body, event)?
        }
        ReceiverType::GitLab => {
            let given = header("x-gitlab-token").unwrap_or_default();
            if !constant_time_eq(given.as_bytes(), token) {
                return Err(Refusal::Unauthorized(
                    "the X-Gitlab-Token header does not match the receiver's token".into(),
                ));
            }
            let event = header("x-gitlab-event").unwrap_or_default();
            allowed(receiver, "GitLab", event)?;
            payload::gitlab(body)
        }
        ReceiverType::Harbor => {
            let given = header("authorization").unwrap_or_default();
            if !constant_time_eq(given.as_bytes(), token) {
                return Err(Refusal::Unauthorized(
                    "the Authorization header does not match the receiver's token".into(),
                ));
            }
            payload::harbor(body)?
        }
        ReceiverType::DockerHub => payload::docker_hub(body)?,
        ReceiverType::Quay => payload::quay(body)?,
        ReceiverType::Acr => payload::acr(body)?,
        ReceiverType::Nexus => {
            let signature = header("x-nexus-webhook-signature")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    Refusal::Unauthorized("the X-Nexus-Webhook-Signature header is missing".into())
                })?;
            let expected = hmac_hex(MessageDigest::sha1(), token, body)?;
            if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
                return Err(Refusal::Unauthorized("invalid Nexus signature".into()));
            }
            payload::nexus(body)?
        }
        ReceiverType::Gcr => {
            let identity = receiver.google.as_ref().ok_or_else(|| {
                Refusal::Unauthorized("the gcr receiver has no email and audience".into())
            })?;
            let bearer = header("authorization")
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Refusal::Unauthorized(
                        "the Authorization header is missing or not a Bearer token".into(),
                    )
                })?;
            google.verify(bearer, identity).await.map_err(|error| {
                if error.is_unavailable() {
                    Refusal::Google(error)
                } else {
                    Refusal::Unauthorized(format!("cannot authenticate GCR request: {error}"))
                }
            })?;
            payload::gcr(body)?
        }
    };
    if delivery.id.is_none() {
        delivery.id = delivery_id(receiver.receiver_type, &header);
    }
    Ok(delivery)
}

/// The sender's own id of a delivery, from its headers.
fn delivery_id<'a>(
    receiver_type: ReceiverType,
    header: &impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    let name = match receiver_type {
        ReceiverType::GitHub => "x-github-delivery",
        ReceiverType::GitLab => "x-gitlab-event-uuid",
        ReceiverType::Nexus => "x-nexus-webhook-delivery",
        _ => "ce-id",
    };
    header(name)
        .filter(|id| !id.is_empty())
        .map(|id| id.chars().take(200).collect())
}

fn allowed(receiver: &Receiver, sender: &'static str, event: &str) -> Result<(), Refusal> {
    if receiver.events.is_empty()
        || receiver
            .events
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(event))
    {
        Ok(())
    } else {
        Err(Refusal::EventNotAllowed {
            sender,
            event: event.chars().take(100).collect(),
        })
    }
}

/// Checks `<algorithm>=<hex HMAC>` (sha1, sha256 or sha512), as go-github's `ValidateSignature`.
fn check_prefixed_hmac(
    signature: Option<&str>,
    header: &str,
    token: &[u8],
    body: &[u8],
) -> Result<(), Refusal> {
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Refusal::Unauthorized(format!("the {header} header is missing")))?;
    let (algorithm, given) = signature.split_once('=').ok_or_else(|| {
        Refusal::Unauthorized(format!("the {header} header is not <algorithm>=<hex>"))
    })?;
    let digest = match algorithm {
        "sha1" => MessageDigest::sha1(),
        "sha256" => MessageDigest::sha256(),
        "sha512" => MessageDigest::sha512(),
        _ => {
            return Err(Refusal::Unauthorized(format!(
                "the {header} header names an unknown algorithm (sha1, sha256 or sha512)"
            )));
        }
    };
    let expected = hmac_hex(digest, token, body)?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Unauthorized(format!(
            "the {header} signature does not match the body"
        )))
    }
}

fn hmac_hex(digest: MessageDigest, key: &[u8], body: &[u8]) -> Result<String, Refusal> {
    let failed = |_| Refusal::Unauthorized("cannot compute the HMAC".into());
    let key = PKey::hmac(key).map_err(failed)?;
    let mut signer = Signer::new(digest, &key).map_err(failed)?;
    signer.update(body).map_err(failed)?;
    Ok(hex::encode(signer.sign_to_vec().map_err(failed)?))
}

/// Equality in time independent of where the inputs differ (lengths may leak).
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = given.len() ^ expected.len();
    for (index, byte) in expected.iter().enumerate() {
        difference |= usize::from(byte ^ given.get(index).copied().unwrap_or(0));
    }
    difference == 0 && !expected.is_empty()
}

#[cfg(test)]
pub(crate) fn sign_for_tests(algorithm: &str, key: &[u8], body: &[u8]) -> String {
    let digest = match algorithm {
        "sha1" => MessageDigest::sha1(),
        "sha512" => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    };
    hmac_hex(digest, key, body).unwrap_or_default()
}
