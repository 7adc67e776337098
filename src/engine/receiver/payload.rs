//! What a verified delivery says: the images it reports pushed, the sender's
//! delivery id and when the sender sent it (for [`super::replay`]). Each
//! sender's payload as its documentation shows it; a body a type requires but
//! that is not what its sender sends is refused (as Flux refuses it), while
//! `generic` accepts any body and reads the shapes it knows: CNCF distribution
//! envelopes, CloudEvents (structured, or binary with `ce-*` headers) and
//! Amazon EventBridge events, e.g. ECR's `ECR Image Action`.

use axum::http::HeaderMap;
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::Value;

use super::verify::Refusal;
use crate::engine::webhook::{PushedImage, pushed_images};
use crate::image::ImageReference;

/// What a delivery says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The images reported pushed, with their tags.
    pub pushed: Vec<PushedImage>,
    /// The sender's id of this delivery, when it gives one.
    pub id: Option<String>,
    /// When the sender says the event happened.
    pub sent_at: Option<Timestamp>,
}

fn json(body: &[u8], sender: &str) -> Result<Value, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::Payload(format!("cannot decode the {sender} webhook payload: {e}"))
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Refusal::Payload(format!(
            "the {sender} webhook payload is not a JSON object"
        )))
    }
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn rfc3339(value: &Value, pointer: &str) -> Option<Timestamp> {
    text(value, pointer)?.parse().ok()
}

fn epoch(value: &Value, pointer: &str) -> Option<Timestamp> {
    let seconds = value.pointer(pointer)?.as_f64()?;
    // Whole seconds: the fraction never matters for a replay window.
    Timestamp::from_second(seconds as i64).ok()
}

/// An image named by a full reference (`host/path:tag`).
fn from_reference(reference: &str) -> Option<PushedImage> {
    let parsed = ImageReference::parse(reference).ok()?;
    Some(PushedImage {
        host: Some(parsed.registry().to_string()),
        repository: parsed.repository(),
        tag: parsed.tag()?.to_string(),
    })
}

/// `generic` and `generic-hmac`: any body; the shapes tagpilot knows are read.
pub fn generic(headers: &HeaderMap, body: &[u8]) -> Delivery {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Delivery::default();
    };
    // Binary-mode CloudEvents: the attributes are headers, the body is `data`.
    if header("ce-specversion").is_some() {
        let mut delivery = event_data(&value);
        delivery.id = header("ce-id").map(str::to_string);
        delivery.sent_at = header("ce-time").and_then(|t| t.parse().ok());
        return delivery;
    }
    // Structured CloudEvents.
    if value.get("specversion").is_some() {
        let mut delivery = value.get("data").map(event_data).unwrap_or_default();
        delivery.id = text(&value, "/id").map(str::to_string);
        delivery.sent_at = rfc3339(&value, "/time").or(delivery.sent_at);
        return delivery;
    }
    event_data(&value)
}

/// The data of an event: an EventBridge event, an ECR event's `detail`, or a
/// registry notification envelope.
fn event_data(value: &Value) -> Delivery {
    if value.get("detail-type").is_some() || value.get("detail").is_some() {
        let account = text(value, "/account");
        let region = text(value, "/region");
        let detail = value.get("detail").unwrap_or(value);
        let mut delivery = ecr_detail(detail, account, region);
        delivery.id = text(value, "/id").map(str::to_string);
        delivery.sent_at = rfc3339(value, "/time");
        return delivery;
    }
    if value.get("repository-name").is_some() {
        return ecr_detail(value, None, None);
    }
    Delivery {
        pushed: pushed_images(value.to_string().as_bytes()).unwrap_or_default(),
        ..Delivery::default()
    }
}

/// ECR's `ECR Image Action` detail: a successful PUSH with a tag.
fn ecr_detail(detail: &Value, account: Option<&str>, region: Option<&str>) -> Delivery {
    let pushed = match (
        text(detail, "/action-type"),
        text(detail, "/result"),
        text(detail, "/repository-name"),
        text(detail, "/image-tag"),
    ) {
        (Some("PUSH"), Some("SUCCESS") | None, Some(repository), Some(tag)) => vec![PushedImage {
            host: account
                .zip(region)
                .map(|(account, region)| format!("{account}.dkr.ecr.{region}.amazonaws.com")),
            repository: repository.to_string(),
            tag: tag.to_string(),
        }],
        _ => Vec::new(),
    };
    Delivery {
        pushed,
        ..Delivery::default()
    }
}

/// GitHub: JSON or form-encoded (`payload=`), as go-github's `ValidatePayload`;
/// `package` and `registry_package` events name the pushed image.
pub fn github(content_type: Option<&str>, body: &[u8], event: &str) -> Result<Delivery, Refusal> {
    let media_type = content_type
        .and_then(|t| t.split(';').next())
        .map(str::trim)
        .unwrap_or("application/json");
    let value = match media_type {
        "application/json" => json(body, "GitHub")?,
        "application/x-www-form-urlencoded" => {
            let payload = form_value(body, "payload").ok_or_else(|| {
                Refusal::Payload("the GitHub form body has no payload field".into())
            })?;
            json(payload.as_bytes(), "GitHub")?
        }
        other => {
            return Err(Refusal::Payload(format!(
                "the GitHub webhook content type {other:?} is not application/json or application/x-www-form-urlencoded"
            )));
        }
    };
    let mut pushed = Vec::new();
    if matches!(event, "package" | "registry_package") {
        let mut package = value.clone();
        if let Some(registry) = value.get("registry_package").cloned()
            && let Some(map) = package.as_object_mut()
        {
            map.insert("package".into(), registry);
        }
        pushed = pushed_images(package.to_string().as_bytes()).unwrap_or_default();
    }
    Ok(Delivery {
        pushed,
        ..Delivery::default()
    })
}

/// One field of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                index += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (byte, None) => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitLab: the events it sends (push, tag push, pipeline) name no image.
pub fn gitlab(_body: &[u8]) -> Delivery {
    Delivery::default()
}

/// Harbor's `PUSH_ARTIFACT` (other event types name no push).
pub fn harbor(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "Harbor")?;
    Ok(Delivery {
        pushed: pushed_images(body).unwrap_or_default(),
        sent_at: epoch(&value, "/occur_at"),
        ..Delivery::default()
    })
}

/// Docker Hub: `push_data.tag` of `repository.repo_name`.
pub fn docker_hub(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "DockerHub")?;
    if value.get("push_data").is_none() || value.get("repository").is_none() {
        return Err(Refusal::Payload(
            "the DockerHub webhook payload has no push_data or repository".into(),
        ));
    }
    Ok(Delivery {
        pushed: pushed_images(body).unwrap_or_default(),
        sent_at: epoch(&value, "/push_data/pushed_at"),
        ..Delivery::default()
    })
}

/// Quay: `updated_tags` of `docker_url`.
pub fn quay(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "Quay")?;
    let url = text(&value, "/docker_url")
        .ok_or_else(|| Refusal::Payload("the Quay webhook payload has no docker_url".into()))?;
    let pushed = value
        .get("updated_tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|tag| from_reference(&format!("{url}:{tag}")))
        .collect();
    Ok(Delivery {
        pushed,
        ..Delivery::default()
    })
}

/// ACR: a `push` of `target.repository:target.tag` on `request.host`.
pub fn acr(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "ACR")?;
    let pushed = match (
        text(&value, "/action"),
        text(&value, "/target/repository"),
        text(&value, "/target/tag"),
    ) {
        (Some("push"), Some(repository), Some(tag)) => vec![PushedImage {
            host: text(&value, "/request/host").map(str::to_string),
            repository: repository.to_string(),
            tag: tag.to_string(),
        }],
        _ => Vec::new(),
    };
    Ok(Delivery {
        pushed,
        id: text(&value, "/id").map(str::to_string),
        sent_at: rfc3339(&value, "/timestamp"),
    })
}

/// Nexus: a `CREATED` or `UPDATED` docker component (`name:version`).
pub fn nexus(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "Nexus")?;
    let pushed = match (
        text(&value, "/action"),
        text(&value, "/component/format"),
        text(&value, "/component/name"),
        text(&value, "/component/version"),
    ) {
        (Some("CREATED" | "UPDATED"), Some("docker"), Some(name), Some(tag)) => {
            vec![PushedImage {
                host: None,
                repository: name.to_string(),
                tag: tag.to_string(),
            }]
        }
        _ => Vec::new(),
    };
    // Nexus writes `2016-11-10T23:57:49.664+0000`.
    let sent_at = text(&value, "/timestamp").and_then(|t| {
        t.parse()
            .ok()
            .or_else(|| Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.f%z", t).ok())
    });
    Ok(Delivery {
        pushed,
        sent_at,
        ..Delivery::default()
    })
}

/// A Pub/Sub push of a Container/Artifact Registry notification: `message.data`
/// is base64 JSON `{action, digest, tag}`.
pub fn gcr(body: &[u8]) -> Result<Delivery, Refusal> {
    let value = json(body, "GCR")?;
    let data = text(&value, "/message/data")
        .ok_or_else(|| Refusal::Payload("the GCR payload has no message.data".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| Refusal::Payload(format!("cannot decode GCR webhook body: {e}")))?;
    let event = json(&decoded, "GCR")?;
    let pushed = match (text(&event, "/action"), text(&event, "/tag")) {
        (Some("INSERT"), Some(tag)) => from_reference(tag).into_iter().collect(),
        _ => Vec::new(),
    };
    Ok(Delivery {
        pushed,
        id: text(&value, "/message/messageId").map(str::to_string),
        sent_at: rfc3339(&value, "/message/publishTime"),
    })
}
