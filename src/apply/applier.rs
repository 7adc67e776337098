//! Server-side apply of a set of manifests, in stages: CRDs and Namespaces
//! first (waited for until Established / Active), then everything else.
//!
//! Before anything changes, every object is sent once with `dryRun=All`, so
//! one invalid object fails the whole set and the cluster stays as it was.
//! Objects that cannot be dry-run yet (their kind comes from a CRD of the same
//! set, or their namespace from a Namespace of the same set) are dry-run right
//! after the CRDs and Namespaces are applied, and before anything else is.
//!
//! Whether an object was created, configured or left unchanged is read from
//! resource versions: the dry run returns none for an object that does not
//! exist, and a no-op apply keeps the live resource version.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::stream::{self, StreamExt as _};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Client, Resource as _};
use serde_json::Value;

use super::discovery::{Discovery, Served};
use super::error::{ApplyError, ObjectFailure, is_transient_kube, kube_message};
use super::object::{Manifest, ObjectRef};

/// tagpilot's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "tagpilot";

/// What to do when another field manager owns a field tagpilot sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Report the conflict; the object fails (kubectl's default).
    Report,
    /// Take the fields over (`--force-conflicts`).
    Force,
    /// Take fields over from manual edits (managers whose every entry is an
    /// `Update`: `kubectl edit`, `kubectl scale`); report conflicts with other
    /// appliers. What a Sync does to correct drift.
    TakeOverManualEdits,
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The field manager (`tagpilot`).
    pub field_manager: String,
    /// Conflicts with other managers.
    pub conflicts: ConflictPolicy,
    /// Only ask the server (`dryRun=All`); change nothing.
    pub dry_run: bool,
    /// Put every namespaced object in this namespace.
    pub target_namespace: Option<String>,
    /// The namespace of namespaced objects that name none.
    pub default_namespace: String,
    /// How many requests run at once.
    pub concurrency: usize,
    /// Labels added to every object (a Sync marks what it applies with its name).
    pub labels: Vec<(String, String)>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            field_manager: FIELD_MANAGER.to_string(),
            conflicts: ConflictPolicy::Report,
            dry_run: false,
            target_namespace: None,
            default_namespace: "default".to_string(),
            concurrency: 16,
            labels: Vec::new(),
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed and the apply changed nothing.
    Unchanged,
    /// It was in the previous inventory only and was deleted.
    Pruned,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
        })
    }
}

/// One object and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectResult {
    /// The object.
    pub object: ObjectRef,
    /// What happened.
    pub action: Action,
}

/// The outcome of applying a set.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Every applied object, in apply order.
    pub objects: Vec<ObjectResult>,
    /// Objects that failed after the dry run passed.
    pub failures: Vec<ObjectFailure>,
}

impl ApplyReport {
    /// How many objects got `action`.
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }
}

/// One object ready to send.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) object: ObjectRef,
    pub(super) value: Value,
    pub(super) served: Option<Served>,
    /// Needs CRDs or Namespaces of the same set before it can be dry-run.
    pub(super) deferred: bool,
    /// The dry run's resource version (`None`: the object does not exist yet).
    pub(super) dry_run_version: Option<String>,
    /// What the dry run returned.
    pub(super) dry_run_result: Option<DynamicObject>,
}

/// Applies sets of manifests with one client (and one discovery cache).
pub struct Applier {
    client: Client,
    discovery: Discovery,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier").finish_non_exhaustive()
    }
}

impl Applier {
    /// An applier using `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            discovery: Discovery::default(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The resource serving `object`'s kind, if any.
    pub async fn served(&self, object: &ObjectRef) -> Result<Option<Served>, ApplyError> {
        self.discovery
            .resolve(&self.client, &object.api_version, &object.kind)
            .await
    }

    /// Applies `manifests` (see the module docs for the stages and the dry run).
    pub async fn apply(
        &self,
        manifests: &[Manifest],
        options: &ApplyOptions,
    ) -> Result<ApplyReport, ApplyError> {
        let mut planned = self.plan(manifests, options).await?;
        let ready: Vec<usize> = (0..planned.len())
            .filter(|&i| !planned[i].deferred)
            .collect();
        self.dry_run(&mut planned, &ready, options, false).await?;
        if options.dry_run {
            return self.dry_run_report(&planned).await;
        }
        let mut report = ApplyReport::default();
        let definitions: Vec<usize> = (0..planned.len())
            .filter(|&i| planned[i].object.stage() < 2)
            .collect();
        if !definitions.is_empty() {
            self.apply_indices(&planned, &definitions, options, &mut report)
                .await?;
            if !report.failures.is_empty() {
                return Ok(report);
            }
            self.wait_for_definitions(&planned, &definitions).await?;
        }
        let deferred: Vec<usize> = (0..planned.len())
            .filter(|&i| planned[i].deferred)
            .collect();
        if !deferred.is_empty() {
            for index in &deferred {
                self.discovery
                    .forget(&planned[*index].object.api_version)
                    .await;
            }
            for index in &deferred {
                let served = self.served(&planned[*index].object).await?;
                planned[*index].served = served;
            }
            self.dry_run(&mut planned, &deferred, options, true).await?;
        }
        let rest: Vec<usize> = (0..planned.len())
            .filter(|&i| planned[i].object.stage() == 2)
            .collect();
        self.apply_indices(&planned, &rest, options, &mut report)
            .await?;
        Ok(report)
    }

    /// Resolves kinds, sets namespaces, finds what must be deferred.
    async fn plan(
        &self,
        manifests: &[Manifest],
        options: &ApplyOptions,
    ) -> Result<Vec<Planned>, ApplyError> {
        // Kinds defined by CRDs of this set: (group, kind) -> namespaced.
        let mut defined: HashMap<(String, String), bool> = HashMap::new();
        for manifest in manifests {
            let value = &manifest.value;
            if value["kind"] == "CustomResourceDefinition" {
                let group = value["spec"]["group"].as_str().unwrap_or_default();
                let kind = value["spec"]["names"]["kind"].as_str().unwrap_or_default();
                let namespaced = value["spec"]["scope"] != "Cluster";
                defined.insert((group.to_string(), kind.to_string()), namespaced);
            }
        }
        let mut planned = Vec::new();
        let mut failures = Vec::new();
        let mut seen = HashSet::new();
        for manifest in manifests {
            let invalid = |message: &str| ApplyError::InvalidManifest {
                origin: manifest.origin.clone(),
                message: message.to_string(),
            };
            let mut value = manifest.value.clone();
            let text = |pointer: &str| {
                value
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let api_version =
                text("/apiVersion").ok_or_else(|| invalid("`apiVersion` is missing"))?;
            let kind = text("/kind").ok_or_else(|| invalid("`kind` is missing"))?;
            let name =
                text("/metadata/name").ok_or_else(|| invalid("`metadata.name` is missing"))?;
            let given_namespace = text("/metadata/namespace");
            let mut object = ObjectRef {
                api_version,
                kind,
                namespace: given_namespace.clone(),
                name,
            };
            let served = self.served(&object).await?;
            let (namespaced, deferred) = match &served {
                Some(served) => (served.namespaced, false),
                None => match defined.get(&(object.group().to_string(), object.kind.clone())) {
                    Some(namespaced) => (*namespaced, true),
                    None => {
                        failures.push(ObjectFailure {
                            message: format!(
                                "the server has no kind {} in {} (is its CustomResourceDefinition installed?)",
                                object.kind, object.api_version
                            ),
                            object,
                        });
                        continue;
                    }
                },
            };
            if namespaced {
                let namespace = options
                    .target_namespace
                    .clone()
                    .or(given_namespace)
                    .unwrap_or_else(|| options.default_namespace.clone());
                value["metadata"]["namespace"] = Value::String(namespace.clone());
                object.namespace = Some(namespace);
            } else {
                if let Some(metadata) = value["metadata"].as_object_mut() {
                    metadata.remove("namespace");
                }
                object.namespace = None;
            }
            if !options.labels.is_empty() {
                if !value["metadata"]["labels"].is_object() {
                    value["metadata"]["labels"] = Value::Object(serde_json::Map::new());
                }
                if let Some(labels) = value["metadata"]["labels"].as_object_mut() {
                    for (key, label) in &options.labels {
                        labels.insert(key.clone(), Value::String(label.clone()));
                    }
                }
            }
            if !seen.insert(object.identity()) {
                return Err(invalid(&format!("{object} is defined twice")));
            }
            planned.push(Planned {
                object,
                value,
                served,
                deferred,
                dry_run_version: None,
                dry_run_result: None,
            });
        }
        if !failures.is_empty() {
            return Err(ApplyError::Rejected {
                failures,
                after_definitions: false,
            });
        }
        // CRDs, then Namespaces, then the rest, each in manifest order.
        planned.sort_by_key(|p| p.object.stage());
        // Objects in namespaces this set creates cannot be dry-run before those exist.
        let created: BTreeSet<String> = planned
            .iter()
            .filter(|p| p.object.is_namespace())
            .map(|p| p.object.name.clone())
            .collect();
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        for namespace in created {
            let exists = namespaces
                .get_opt(&namespace)
                .await
                .map_err(|source| ApplyError::Kube {
                    action: format!("reading Namespace {namespace}"),
                    source,
                })?
                .is_some();
            if !exists {
                for entry in planned.iter_mut() {
                    if entry.object.namespace.as_deref() == Some(namespace.as_str()) {
                        entry.deferred = true;
                    }
                }
            }
        }
        Ok(planned)
    }

    /// Applies `indices` for real and records created/configured/unchanged.
    async fn apply_indices(
        &self,
        planned: &[Planned],
        indices: &[usize],
        options: &ApplyOptions,
        report: &mut ApplyReport,
    ) -> Result<(), ApplyError> {
        let mut results: Vec<(usize, Result<DynamicObject, PatchFailure>)> =
            stream::iter(indices.iter().copied())
                .map(|index| {
                    let entry = &planned[index];
                    async move { (index, self.patch(entry, options, false).await) }
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        results.sort_by_key(|(index, _)| *index);
        for (index, result) in results {
            let entry = &planned[index];
            match result {
                Ok(applied) => {
                    let action = match &entry.dry_run_version {
                        None => Action::Created,
                        Some(before)
                            if applied.metadata.resource_version.as_ref() == Some(before) =>
                        {
                            Action::Unchanged
                        }
                        Some(_) => Action::Configured,
                    };
                    report.objects.push(ObjectResult {
                        object: entry.object.clone(),
                        action,
                    });
                }
                Err(PatchFailure::Transport(error)) => return Err(error),
                Err(PatchFailure::Object(message)) => report.failures.push(ObjectFailure {
                    object: entry.object.clone(),
                    message,
                }),
            }
        }
        Ok(())
    }

    /// A dynamic API for `object`'s resource and namespace.
    pub fn api(&self, resource: &ApiResource, object: &ObjectRef) -> Api<DynamicObject> {
        match &object.namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// One server-side apply, taking fields over as `options.conflicts` allows.
    pub(super) async fn patch(
        &self,
        entry: &Planned,
        options: &ApplyOptions,
        dry_run: bool,
    ) -> Result<DynamicObject, PatchFailure> {
        let Some(served) = &entry.served else {
            return Err(PatchFailure::Object(format!(
                "the server has no kind {} in {}",
                entry.object.kind, entry.object.api_version
            )));
        };
        let api = self.api(&served.resource, &entry.object);
        let mut params = PatchParams::apply(&options.field_manager);
        params.dry_run = dry_run;
        params.force = options.conflicts == ConflictPolicy::Force;
        let name = &entry.object.name;
        match api.patch(name, &params, &Patch::Apply(&entry.value)).await {
            Ok(object) => Ok(object),
            Err(kube::Error::Api(status))
                if status.code == 409
                    && options.conflicts == ConflictPolicy::TakeOverManualEdits =>
            {
                let live = api
                    .get_opt(name)
                    .await
                    .map_err(|e| PatchFailure::from_kube(&entry.object, e))?;
                let appliers = other_appliers(live.as_ref(), &options.field_manager);
                if !appliers.is_empty() {
                    return Err(PatchFailure::Object(format!(
                        "{} (fields owned by the applier(s) {}; tagpilot takes fields over only from manual edits)",
                        status.message,
                        appliers.join(", ")
                    )));
                }
                params.force = true;
                api.patch(name, &params, &Patch::Apply(&entry.value))
                    .await
                    .map_err(|e| PatchFailure::from_kube(&entry.object, e))
            }
            Err(error) => Err(PatchFailure::from_kube(&entry.object, error)),
        }
    }
}

/// Why one patch failed: the object (reported by name) or the connection (aborts).
pub(super) enum PatchFailure {
    /// The object is at fault; the message says why.
    Object(String),
    /// The server could not be reached; the whole operation stops.
    Transport(ApplyError),
}

impl PatchFailure {
    fn from_kube(object: &ObjectRef, error: kube::Error) -> Self {
        // A patch the server cannot even type-check comes back as a 500
        // ("failed to create typed patch object"): that is the object's fault.
        let overloaded =
            matches!(&error, kube::Error::Api(status) if matches!(status.code, 429 | 503 | 504));
        let object_error = matches!(&error, kube::Error::Api(_)) && !overloaded;
        if !object_error && is_transient_kube(&error) {
            Self::Transport(ApplyError::Kube {
                action: format!("applying {object}"),
                source: error,
            })
        } else {
            Self::Object(kube_message(&error))
        }
    }
}

/// Field managers other than `ours` that own fields through `Apply`.
fn other_appliers(live: Option<&DynamicObject>, ours: &str) -> Vec<String> {
    let mut managers: Vec<String> = live
        .and_then(|object| object.meta().managed_fields.as_ref())
        .into_iter()
        .flatten()
        .filter(|entry| entry.operation.as_deref() == Some("Apply"))
        .filter_map(|entry| entry.manager.clone())
        .filter(|manager| manager != ours)
        .collect();
    managers.sort();
    managers.dedup();
    managers
}
