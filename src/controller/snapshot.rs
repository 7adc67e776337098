//! One consistent view of the cluster's objects for the engine: the cached
//! custom resources turned into the same [`RawObject`]s standalone mode reads
//! from files, plus the Secrets they name (read from the object's own
//! namespace, never another), validated by [`ObjectSet::from_raw`]. What fails
//! validation is kept as a [`Health`] per object: an invalid spec is Stalled;
//! a missing dependency or a cross-namespace reference that the repository's
//! `accessFrom` does not allow is a (retried) failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;

use super::conditions::{Health, REASON_ACCESS_DENIED, REASON_DEPENDENCY_NOT_READY};
use super::kinds::Kind;
use super::service_accounts::ServiceAccounts;
use super::{FLUX_REQUESTED_AT_ANNOTATION, REQUESTED_AT_ANNOTATION};
use crate::api::ApiVersion;
use crate::config::load::{InvalidCause, LoadError, RawObject};
use crate::config::meta::{ObjectKey, ObjectMeta};
use crate::config::secrets::SecretSet;
use crate::engine::objects::ObjectSet;
use crate::registry::{SecretData, SecretSource};

/// What the controller needs of one object besides its spec.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// The reconcile requests it carries.
    pub requested_at: Requests,
    /// `metadata.labels` (what a Receiver's `matchLabels` selects).
    pub labels: BTreeMap<String, String>,
    /// Its `event.toolkit.fluxcd.io/*` annotations (copied into posted events, as Flux does).
    pub event_annotations: BTreeMap<String, String>,
    /// The conditions the object has now (their transition times are kept).
    pub conditions: Vec<Condition>,
    /// Where the object lives in the API.
    pub resource: ApiResource,
}

impl ObjectInfo {
    /// A reference for events about `key`.
    pub fn reference(&self, key: &ObjectKey) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.resource.api_version.clone()),
            kind: Some(self.resource.kind.clone()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: self.uid.clone(),
            ..ObjectReference::default()
        }
    }
}

/// An object's kind and key.
pub type ObjectId = (Kind, ObjectKey);

/// The reconcile requests an object carries (any new value asks for one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    /// `reconcile.fluxcd.io/requestedAt` (`flux reconcile`, Flux's Receivers).
    pub flux: Option<String>,
    /// `reconcile.tagpilot.dev/requestedAt`.
    pub tagpilot: Option<String>,
}

impl Requests {
    /// The request that is new in `self` compared with `before` (Flux's first
    /// when both changed); on first sight, whichever is set.
    pub fn newer_than(&self, before: Option<&Self>) -> Option<&str> {
        fn changed<'a>(now: &'a Option<String>, then: Option<&Option<String>>) -> Option<&'a str> {
            now.as_deref()
                .filter(|_| then.is_none_or(|then| then != now))
        }
        changed(&self.flux, before.map(|b| &b.flux))
            .or_else(|| changed(&self.tagpilot, before.map(|b| &b.tagpilot)))
    }
}

/// The validated objects and what is wrong with the others.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The valid objects, as the engine runs them.
    pub objects: ObjectSet,
    /// Every object seen, valid or not.
    pub infos: BTreeMap<ObjectId, ObjectInfo>,
    /// Objects that cannot run, and why.
    pub problems: BTreeMap<ObjectId, Health>,
}

/// One cached custom resource.
#[derive(Debug, Clone)]
pub struct CachedObject {
    /// Its kind.
    pub kind: Kind,
    /// Where it lives in the API.
    pub resource: ApiResource,
    /// The object.
    pub object: Arc<DynamicObject>,
}

/// The cluster reads a snapshot needs: Secrets and namespace labels.
pub trait ClusterReads {
    /// The Secret `key`, if it exists.
    fn secret(&self, key: &ObjectKey) -> impl Future<Output = Option<Secret>> + Send;
    /// The labels of `namespace` (empty when it cannot be read).
    fn namespace_labels(
        &self,
        namespace: &str,
    ) -> impl Future<Output = BTreeMap<String, String>> + Send;
    /// The ServiceAccount `key`, if it exists; `Err`: the API server's answer.
    fn service_account(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<Option<ServiceAccount>, String>> + Send;
}

/// [`ClusterReads`] through the API server.
#[derive(Clone)]
pub struct ApiReads(pub kube::Client);

impl ClusterReads for ApiReads {
    async fn secret(&self, key: &ObjectKey) -> Option<Secret> {
        let api: Api<Secret> = Api::namespaced(self.0.clone(), &key.namespace);
        match api.get_opt(&key.name).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(secret = %key, %error, "cannot read a referenced Secret");
                None
            }
        }
    }

    async fn service_account(&self, key: &ObjectKey) -> Result<Option<ServiceAccount>, String> {
        let api: Api<ServiceAccount> = Api::namespaced(self.0.clone(), &key.namespace);
        api.get_opt(&key.name).await.map_err(|error| {
            tracing::warn!(service_account = %key, %error, "cannot read a referenced ServiceAccount");
            error.to_string()
        })
    }

    async fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let api: Api<Namespace> = Api::all(self.0.clone());
        match api.get_opt(namespace).await {
            Ok(found) => found.and_then(|n| n.metadata.labels).unwrap_or_default(),
            Err(error) => {
                tracing::warn!(namespace, %error, "cannot read a namespace's labels");
                BTreeMap::new()
            }
        }
    }
}

/// The Secrets of the current snapshot, shared with the registry client (which
/// is built once and asks for credentials at each scan).
#[derive(Debug, Clone, Default)]
pub struct SharedSecrets(Arc<RwLock<SecretSet>>);

impl SharedSecrets {
    /// Replaces the Secrets.
    pub fn replace(&self, secrets: SecretSet) {
        if let Ok(mut slot) = self.0.write() {
            *slot = secrets;
        }
    }
}

impl SecretSource for SharedSecrets {
    fn secret(&self, key: &ObjectKey) -> Option<SecretData> {
        self.0.read().ok().and_then(|set| set.secret(key))
    }
}

/// Builds a snapshot from the cached objects.
#[tracing::instrument(skip_all, fields(objects = cached.len()))]
pub async fn build(cached: &[CachedObject], reads: &impl ClusterReads) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let mut raw = Vec::new();
    for entry in cached {
        let Some(object) = raw_object(entry) else {
            continue;
        };
        let key = ObjectKey::new(object.namespace(), &object.metadata.name);
        snapshot.infos.insert(
            (entry.kind, key),
            ObjectInfo {
                generation: entry.object.metadata.generation,
                uid: entry.object.metadata.uid.clone(),
                requested_at: Requests {
                    flux: object
                        .metadata
                        .annotations
                        .get(FLUX_REQUESTED_AT_ANNOTATION)
                        .cloned(),
                    tagpilot: object
                        .metadata
                        .annotations
                        .get(REQUESTED_AT_ANNOTATION)
                        .cloned(),
                },
                labels: object.metadata.labels.clone(),
                event_annotations: object
                    .metadata
                    .annotations
                    .iter()
                    .filter(|(key, _)| key.starts_with("event.toolkit.fluxcd.io/"))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
                conditions: current_conditions(&entry.object),
                resource: entry.resource.clone(),
            },
        );
        raw.push(object);
    }
    // Secrets named by the objects, each from the referring object's namespace.
    let mut secret_keys = BTreeSet::new();
    for object in &raw {
        for pointer in secret_pointers(&object.kind) {
            if let Some(name) = object.value.pointer(pointer).and_then(|v| v.as_str()) {
                secret_keys.insert(ObjectKey::new(object.namespace(), name));
            }
        }
        // Strategy Annotations: each registry host's credentials and CA.
        let registries = object
            .value
            .pointer("/spec/update/registries")
            .and_then(|v| v.as_array());
        for registry in registries.into_iter().flatten() {
            for pointer in ["/secretRef/name", "/certSecretRef/name"] {
                if let Some(name) = registry.pointer(pointer).and_then(|v| v.as_str()) {
                    secret_keys.insert(ObjectKey::new(object.namespace(), name));
                }
            }
        }
    }
    let accounts = ServiceAccounts::read(&raw, reads).await;
    secret_keys.extend(accounts.secret_keys().cloned());
    let mut secrets = Vec::new();
    for key in &secret_keys {
        if let Some(secret) = reads.secret(key).await
            && let Some(object) = secret_object(&secret)
        {
            secrets.push(object);
        }
    }
    let denied = deny_cross_namespace(&raw, reads).await;
    raw.retain(|object| {
        let id = (
            Kind::ImagePolicy,
            ObjectKey::new(object.namespace(), &object.metadata.name),
        );
        !(object.kind == "ImagePolicy" && denied.contains_key(&id))
    });
    snapshot.problems.extend(denied);
    secrets.extend(raw);
    let (objects, errors) = ObjectSet::from_raw(&secrets);
    for error in errors {
        if let LoadError::Invalid {
            kind,
            namespace,
            name,
            message,
            cause,
            ..
        } = error
        {
            if let Some(kind) = Kind::from_name(&kind) {
                snapshot.problems.insert(
                    (kind, ObjectKey::new(namespace, name)),
                    classify(cause, message),
                );
            } else {
                tracing::warn!(%kind, %namespace, %name, %message, "unusable object");
            }
        } else {
            tracing::warn!(%error, "unusable object");
        }
    }
    let mut objects = objects;
    accounts.apply(&mut objects, &mut snapshot.problems);
    snapshot.objects = objects;
    snapshot
}

/// JSON pointers to the Secret names each kind may hold.
fn secret_pointers(kind: &str) -> &'static [&'static str] {
    match kind {
        "ImageRepository" => &[
            "/spec/secretRef/name",
            "/spec/certSecretRef/name",
            "/spec/proxySecretRef/name",
        ],
        "GitRepository" => &["/spec/secretRef/name", "/spec/proxySecretRef/name"],
        "ImagePolicy" => &["/spec/verify/secretRef/name"],
        "ImageUpdateAutomation" => &["/spec/git/commit/signingKey/secretRef/name"],
        _ => &[],
    }
}

/// A missing reference is a dependency that may appear; anything else is the
/// spec's fault.
fn classify(cause: InvalidCause, message: String) -> Health {
    match cause {
        InvalidCause::MissingReference => Health::Failed {
            reason: REASON_DEPENDENCY_NOT_READY,
            message: message.replace(" in the config directory", ""),
        },
        InvalidCause::Spec => Health::Stalled { message },
    }
}

/// Policies whose cross-namespace ImageRepository does not grant them access.
async fn deny_cross_namespace(
    raw: &[RawObject],
    reads: &impl ClusterReads,
) -> BTreeMap<ObjectId, Health> {
    let mut denied = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for policy in raw.iter().filter(|o| o.kind == "ImagePolicy") {
        let namespace = policy.namespace();
        let Some(target_namespace) = policy
            .value
            .pointer("/spec/imageRepositoryRef/namespace")
            .and_then(|v| v.as_str())
            .filter(|n| *n != namespace)
        else {
            continue;
        };
        let Some(target_name) = policy
            .value
            .pointer("/spec/imageRepositoryRef/name")
            .and_then(|v| v.as_str())
        else {
            continue;
        };
        let Some(repository) = raw.iter().find(|o| {
            o.kind == "ImageRepository"
                && o.namespace() == target_namespace
                && o.metadata.name == target_name
        }) else {
            continue; // Validation reports it as not defined.
        };
        if !labels.contains_key(namespace) {
            let found = reads.namespace_labels(namespace).await;
            labels.insert(namespace.to_string(), found);
        }
        let namespace_labels = labels.get(namespace).cloned().unwrap_or_default();
        if !access_allowed(&repository.value, &namespace_labels) {
            denied.insert(
                (
                    Kind::ImagePolicy,
                    ObjectKey::new(namespace, &policy.metadata.name),
                ),
                Health::Failed {
                    reason: REASON_ACCESS_DENIED,
                    message: format!(
                        "spec.imageRepositoryRef: ImageRepository {target_namespace}/{target_name} does not allow access from namespace {namespace} (see its spec.accessFrom)"
                    ),
                },
            );
        }
    }
    denied
}

/// Whether a repository's `spec.accessFrom.namespaceSelectors` match a namespace's labels.
fn access_allowed(repository: &serde_json::Value, labels: &BTreeMap<String, String>) -> bool {
    let Some(selectors) = repository
        .pointer("/spec/accessFrom/namespaceSelectors")
        .and_then(|v| v.as_array())
    else {
        return false;
    };
    selectors.iter().any(|selector| {
        selector
            .get("matchLabels")
            .and_then(|v| v.as_object())
            .is_none_or(|wanted| {
                wanted
                    .iter()
                    .all(|(key, value)| labels.get(key).map(String::as_str) == value.as_str())
            })
    })
}

fn current_conditions(object: &DynamicObject) -> Vec<Condition> {
    object
        .data
        .pointer("/status/conditions")
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default()
}

/// A cached custom resource as the raw object the validators read.
fn raw_object(entry: &CachedObject) -> Option<RawObject> {
    let mut value = serde_json::to_value(&*entry.object).ok()?;
    let map = value.as_object_mut()?;
    map.insert(
        "apiVersion".into(),
        entry.resource.api_version.clone().into(),
    );
    map.insert("kind".into(), entry.resource.kind.clone().into());
    map.remove("status");
    let metadata: ObjectMeta = serde_json::from_value(map.get("metadata")?.clone()).ok()?;
    Some(RawObject {
        path: PathBuf::from(format!("the API server ({})", entry.resource.plural)),
        document: 1,
        api_version: entry.resource.api_version.clone(),
        kind: entry.resource.kind.clone(),
        metadata,
        value,
        written_in: written_in(entry),
    })
}

/// The version an object's spec was last written in, when it is not the one
/// the controller reads it as.
///
/// The API server serves every object in the version asked for (Flux's CRDs
/// and ours have no conversion webhook: the fields are the same, only
/// `apiVersion` changes), so the version a user wrote is only in
/// `metadata.managedFields`: each writer's entry records the apiVersion it
/// used. The latest entry that wrote `spec` decides, so that, e.g., a
/// `v1beta1` automation keeps its `v1beta1` commit message template data.
fn written_in(entry: &CachedObject) -> Option<ApiVersion> {
    let kind = Kind::from_name(&entry.resource.kind)?;
    let watched = ApiVersion::parse(kind, &entry.resource.api_version)?;
    let managed = entry.object.metadata.managed_fields.as_ref()?;
    let writer = managed
        .iter()
        .filter(|field| field.subresource.as_deref().unwrap_or_default().is_empty())
        .filter(|field| {
            field
                .fields_v1
                .as_ref()
                .is_some_and(|fields| fields.0.get("f:spec").is_some())
        })
        .max_by_key(|field| field.time.as_ref().map(|time| time.0))?;
    let version = ApiVersion::parse(kind, writer.api_version.as_deref()?)?;
    (version != watched).then_some(version)
}

/// A Secret as the raw object the validators read.
pub(super) fn secret_object(secret: &Secret) -> Option<RawObject> {
    let mut value = serde_json::to_value(secret).ok()?;
    let metadata: ObjectMeta = serde_json::from_value(value.get("metadata")?.clone()).ok()?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), "v1".into());
        map.insert("kind".into(), "Secret".into());
    }
    Some(RawObject {
        path: PathBuf::from("the API server (secrets)"),
        document: 1,
        api_version: "v1".into(),
        kind: "Secret".into(),
        metadata,
        value,
        written_in: None,
    })
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
