//! Flux's Receivers on tagpilot's `--listen` server: `POST /hook/<digest>`,
//! where the digest is Flux's (`sha256(token + name + namespace)`, hex), so the
//! URL a sender is given carries the secret and senders that cannot set
//! headers work; the types that sign or carry a token are verified as
//! notification-controller verifies them.
//!
//! A Receiver is Flux's `notification.toolkit.fluxcd.io` Receiver object,
//! unchanged, with the `token` of the Secret it names ([`Receiver::from_object`]):
//! from the `--config` directory in standalone mode, from the cluster with
//! `tagpilot controller --receivers`. A verified delivery ([`verify`]) is
//! checked against replays ([`replay`]) and becomes a
//! [`Trigger::Requested`](super::webhook::Trigger) for the Receiver's
//! `spec.resources`; the payload's pushed images ([`payload`]) only tell the
//! engine which tag to expect.

pub mod google;
pub mod payload;
pub mod replay;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::webhook::{ObjectLabels, ResourceRef};
use crate::api::Kind;
use crate::config::load::RawObject;
use crate::config::meta::ObjectKey;
use crate::registry::SecretSource;
use crate::secret::Secret;

/// The path prefix of every Receiver route (Flux's `ReceiverWebhookPath`).
pub const HOOK_PATH: &str = "/hook/";

/// The API group of Flux's Receiver kind.
pub const RECEIVER_GROUP: &str = "notification.toolkit.fluxcd.io";

/// Why a Receiver object cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiverError {
    /// The object is not a Receiver of a version tagpilot reads.
    #[error(
        "Receiver {key}: apiVersion {api_version:?} is not notification.toolkit.fluxcd.io/v1 or v1beta2"
    )]
    Version {
        /// The Receiver.
        key: ObjectKey,
        /// What it says.
        api_version: String,
    },
    /// The spec does not parse.
    #[error("Receiver {key}: {message}")]
    Spec {
        /// The Receiver.
        key: ObjectKey,
        /// The field and what is wrong.
        message: String,
    },
    /// The type is one Flux has but tagpilot does not serve.
    #[error(
        "Receiver {key}: spec.type {type_name:?} is not served by tagpilot (it serves generic, generic-hmac, github, gitlab, harbor, dockerhub, quay, gcr, nexus and acr); keep it on Flux's notification-controller"
    )]
    UnsupportedType {
        /// The Receiver.
        key: ObjectKey,
        /// The type.
        type_name: String,
    },
    /// The Secret is missing or lacks a key.
    #[error("Receiver {key}: {message}")]
    Secret {
        /// The Receiver.
        key: ObjectKey,
        /// What is missing (never a value).
        message: String,
    },
}

/// The Receiver types tagpilot serves (Flux's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverType {
    /// The secret URL is the only check.
    Generic,
    /// `X-Signature: sha1|sha256|sha512=<hex HMAC of the body>`.
    GenericHmac,
    /// `X-Hub-Signature-256` (or `X-Hub-Signature`), and `X-GitHub-Event` within `spec.events`.
    GitHub,
    /// `X-Gitlab-Token`, and `X-Gitlab-Event` within `spec.events`.
    GitLab,
    /// `Authorization` equal to the token.
    Harbor,
    /// The secret URL; the body must be a Docker Hub payload.
    DockerHub,
    /// The secret URL; the body must be a Quay payload.
    Quay,
    /// A Google-signed OIDC ID token (Pub/Sub push) for the Secret's `email` and `audience`.
    Gcr,
    /// `X-Nexus-Webhook-Signature: <hex HMAC-SHA1 of the body>`.
    Nexus,
    /// The secret URL; the body must be an ACR payload.
    Acr,
}

impl ReceiverType {
    /// The type named `name` in `spec.type`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "generic" => Self::Generic,
            "generic-hmac" => Self::GenericHmac,
            "github" => Self::GitHub,
            "gitlab" => Self::GitLab,
            "harbor" => Self::Harbor,
            "dockerhub" => Self::DockerHub,
            "quay" => Self::Quay,
            "gcr" => Self::Gcr,
            "nexus" => Self::Nexus,
            "acr" => Self::Acr,
            _ => return None,
        })
    }

    /// Its name in `spec.type` (and in metrics).
    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::GenericHmac => "generic-hmac",
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Harbor => "harbor",
            Self::DockerHub => "dockerhub",
            Self::Quay => "quay",
            Self::Gcr => "gcr",
            Self::Nexus => "nexus",
            Self::Acr => "acr",
        }
    }
}

/// A Receiver ready to serve: its type, its token and what it reconciles.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Its namespace and name.
    pub key: ObjectKey,
    /// How deliveries are verified.
    pub receiver_type: ReceiverType,
    /// The Secret's `token`.
    pub token: Secret<Vec<u8>>,
    /// For `gcr`: the Secret's `email` and `audience`.
    pub google: Option<GoogleIdentity>,
    /// `spec.events` (case-insensitive; empty: every event).
    pub events: Vec<String>,
    /// `spec.resources`.
    pub resources: Vec<ResourceRef>,
    /// `spec.suspend`: deliveries get 503.
    pub suspend: bool,
}

/// Who a `gcr` Receiver accepts: the push subscription's service account and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleIdentity {
    /// The service account's email (`email` claim).
    pub email: String,
    /// The expected `aud` claim.
    pub audience: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiverObject {
    api_version: String,
    metadata: Metadata,
    spec: ReceiverSpec,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiverSpec {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    resources: Vec<ResourceSpec>,
    #[serde(default)]
    secret_ref: Option<NameRef>,
    #[serde(default)]
    suspend: bool,
    #[serde(default)]
    resource_filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpec {
    #[serde(default)]
    api_version: Option<String>,
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Deserialize)]
struct NameRef {
    name: String,
}

impl Receiver {
    /// Reads a Receiver object (JSON of the YAML document or the API object)
    /// and the Secret it names, from the Receiver's namespace.
    pub fn from_object(
        object: &serde_json::Value,
        secrets: &impl SecretSource,
    ) -> Result<Self, ReceiverError> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(crate::config::meta::DEFAULT_NAMESPACE);
        let key = ObjectKey::new(namespace, name);
        let spec_error = |message: String| ReceiverError::Spec {
            key: key.clone(),
            message,
        };
        let parsed: ReceiverObject = serde_path_to_error::deserialize(object)
            .map_err(|e| spec_error(format!("{}: {}", e.path(), e.inner())))?;
        if !matches!(
            parsed.api_version.as_str(),
            "notification.toolkit.fluxcd.io/v1" | "notification.toolkit.fluxcd.io/v1beta2"
        ) {
            return Err(ReceiverError::Version {
                key,
                api_version: parsed.api_version,
            });
        }
        let key = ObjectKey::new(
            parsed
                .metadata
                .namespace
                .as_deref()
                .unwrap_or(crate::config::meta::DEFAULT_NAMESPACE),
            &parsed.metadata.name,
        );
        let spec = parsed.spec;
        let receiver_type = ReceiverType::from_name(&spec.type_name).ok_or_else(|| {
            ReceiverError::UnsupportedType {
                key: key.clone(),
                type_name: spec.type_name.clone(),
            }
        })?;
        if spec.resource_filter.is_some() || spec.resources.iter().any(|r| r.filter.is_some()) {
            return Err(spec_error(
                "spec.resourceFilter and spec.resources[].filter (CEL) are not supported yet; list the resources instead".into(),
            ));
        }
        if spec.resources.is_empty() {
            return Err(spec_error(
                "spec.resources must name at least one object".into(),
            ));
        }
        let mut resources = Vec::new();
        for (index, resource) in spec.resources.into_iter().enumerate() {
            if resource.name == "*" && resource.match_labels.is_none() {
                return Err(spec_error(format!(
                    "spec.resources[{index}]: name \"*\" needs matchLabels"
                )));
            }
            let kind = Kind::from_name(&resource.kind).filter(|_| {
                resource.api_version.as_deref().is_none_or(|version| {
                    version.starts_with("image.toolkit.fluxcd.io/")
                        || version.starts_with("source.toolkit.fluxcd.io/")
                        || version.starts_with("tagpilot.dev/")
                })
            });
            resources.push(ResourceRef {
                kind,
                kind_name: resource.kind,
                namespace: resource.namespace.unwrap_or_else(|| key.namespace.clone()),
                name: resource.name,
                match_labels: resource.match_labels.unwrap_or_default(),
            });
        }
        let secret_name = spec
            .secret_ref
            .ok_or_else(|| spec_error("spec.secretRef is required".into()))?
            .name;
        let secret_key = ObjectKey::new(&key.namespace, &secret_name);
        let secret = secrets
            .secret(&secret_key)
            .ok_or_else(|| ReceiverError::Secret {
                key: key.clone(),
                message: format!("Secret {secret_key} (spec.secretRef) does not exist"),
            })?;
        let field = |name: &str| {
            secret
                .get(name)
                .filter(|value| !value.is_empty())
                .map(<[u8]>::to_vec)
                .ok_or_else(|| ReceiverError::Secret {
                    key: key.clone(),
                    message: format!("Secret {secret_key} has no {name:?} key"),
                })
        };
        let token = field("token")?;
        let google = if receiver_type == ReceiverType::Gcr {
            let text = |name: &str| {
                field(name).map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
            };
            Some(GoogleIdentity {
                email: text("email")?,
                audience: text("audience")?,
            })
        } else {
            None
        };
        Ok(Self {
            key,
            receiver_type,
            token: Secret::new(token),
            google,
            events: spec.events,
            resources,
            suspend: spec.suspend,
        })
    }

    /// Flux's webhook path: `/hook/` and the hex sha256 of token, name and namespace.
    pub fn webhook_path(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.token.expose());
        hash.update(self.key.name.as_bytes());
        hash.update(self.key.namespace.as_bytes());
        format!("{HOOK_PATH}{}", hex::encode(hash.finalize()))
    }
}

/// The Receivers among `raw` (standalone mode: the `--config` directory's
/// documents of kind `Receiver`), each with its Secret from `secrets`; and the
/// errors of those that cannot be served, each naming its file.
pub fn from_raw(raw: &[RawObject], secrets: &impl SecretSource) -> (Vec<Receiver>, Vec<String>) {
    let mut receivers = Vec::new();
    let mut errors = Vec::new();
    for object in raw.iter().filter(|object| object.kind == "Receiver") {
        match Receiver::from_object(&object.value, secrets) {
            Ok(receiver) => receivers.push(receiver),
            Err(error) => errors.push(format!(
                "{} (document {}): {error}",
                object.path.display(),
                object.document
            )),
        }
    }
    (receivers, errors)
}

/// The labels of every object of a kind tagpilot runs (what `matchLabels` selects).
pub fn labels_of(raw: &[RawObject]) -> ObjectLabels {
    raw.iter()
        .filter_map(|object| {
            let kind = Kind::from_name(&object.kind)?;
            Some((
                (
                    kind,
                    ObjectKey::new(object.namespace(), &object.metadata.name),
                ),
                object.metadata.labels.clone(),
            ))
        })
        .collect()
}

/// The Receivers being served, by the sha256 of their webhook path (so a
/// lookup's timing says nothing about the path); replaced as a whole when the
/// configuration changes (controller mode).
#[derive(Debug, Clone, Default)]
pub struct ReceiverTable(Arc<RwLock<BTreeMap<String, Arc<Receiver>>>>);

impl ReceiverTable {
    /// A table serving `receivers`.
    pub fn new(receivers: Vec<Receiver>) -> Self {
        let table = Self::default();
        table.replace(receivers);
        table
    }

    /// Serves `receivers` from now on.
    pub fn replace(&self, receivers: Vec<Receiver>) {
        let by_path = receivers
            .into_iter()
            .map(|receiver| (path_digest(&receiver.webhook_path()), Arc::new(receiver)))
            .collect();
        if let Ok(mut slot) = self.0.write() {
            *slot = by_path;
        }
    }

    /// The Receiver whose webhook path is `path`.
    pub fn get(&self, path: &str) -> Option<Arc<Receiver>> {
        let digest = path_digest(path);
        self.0
            .read()
            .ok()
            .and_then(|table| table.get(&digest).cloned())
    }

    /// How many Receivers are served.
    pub fn len(&self) -> usize {
        self.0.read().map_or(0, |table| table.len())
    }

    /// Whether none is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the Receivers served (never their paths: a path is the secret).
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.0.read().map_or_else(
            |_| Vec::new(),
            |table| {
                table
                    .values()
                    .map(|receiver| receiver.key.clone())
                    .collect()
            },
        )
    }
}

fn path_digest(path: &str) -> String {
    hex::encode(Sha256::digest(path.as_bytes()))
}

#[cfg(test)]
mod tests;
