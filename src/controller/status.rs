//! Each object's status as the engine's results say it should be, and writing
//! it: server-side apply of the status subresource under [`FIELD_MANAGER`],
//! only when it differs from what was last written (a status write is an
//! update every watcher sees).

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::FIELD_MANAGER;
use super::conditions::{
    Health, REASON_GIT_OPERATION_FAILED, REASON_NO_RESULT, REASON_SCAN_FAILED, REASON_SUSPENDED,
    rfc3339,
};
use super::kinds::Kind;
use super::snapshot::{ObjectId, ObjectInfo, Snapshot};
use crate::api::status::{
    GitRepositoryStatus, ImagePolicyStatus, ImageRef, ImageRepositoryStatus,
    ImageUpdateAutomationStatus, PullRequestRef, ScanResult,
};
use crate::config::meta::ObjectKey;
use crate::engine::objects::ObjectSet;
use crate::engine::state::Status;
use crate::image::ImageReference;
use crate::registry::TagStore;

/// How many tags `lastScanResult.latestTags` shows.
const LATEST_TAGS: usize = 10;

/// Why a status could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The API server refused the patch (or could not be reached).
    #[error("cannot write the status of {kind} {key}: {source}")]
    Patch {
        /// The object's kind.
        kind: &'static str,
        /// The object.
        key: ObjectKey,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The status could not be serialized (a bug).
    #[error("cannot serialize a status: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// The health and status body of every object in `snapshot` (`objects`: its valid ones, as the engine holds them).
pub fn desired(
    snapshot: &Snapshot,
    objects: &ObjectSet,
    status: &Status,
    store: &TagStore,
) -> Result<BTreeMap<ObjectId, (Health, Value)>, StatusError> {
    let mut out = BTreeMap::new();
    for ((kind, key), info) in &snapshot.infos {
        let id = (*kind, key.clone());
        // An object that cannot run keeps the results it had (a policy its latestRef).
        let (computed, body) = match kind {
            Kind::ImageRepository => repository(objects, status, store, key)?,
            Kind::ImagePolicy => policy(objects, status, key)?,
            Kind::GitRepository => (
                Health::Ready {
                    message: "valid; fetched by the automations that use it".into(),
                },
                serde_json::to_value(GitRepositoryStatus::default())
                    .map_err(StatusError::Serialize)?,
            ),
            Kind::ImageUpdateAutomation => automation(objects, status, key)?,
            // The Sync driver holds what Syncs did (`controller::sync`).
            Kind::Sync => continue,
        };
        let health = snapshot.problems.get(&id).cloned().unwrap_or(computed);
        let mut body = body;
        if let Value::Object(map) = &mut body {
            let conditions = health.conditions(info.generation, &info.conditions);
            map.insert(
                "conditions".into(),
                serde_json::to_value(conditions).map_err(StatusError::Serialize)?,
            );
            if let Some(generation) = info.generation {
                map.insert("observedGeneration".into(), generation.into());
            }
        }
        out.insert(id, (health, body));
    }
    Ok(out)
}

fn repository(
    objects: &ObjectSet,
    status: &Status,
    store: &TagStore,
    key: &ObjectKey,
) -> Result<(Health, Value), StatusError> {
    let entry = objects.repositories.get(key);
    let mut body = ImageRepositoryStatus {
        canonical_image_name: entry.map(|e| e.target.image.name().to_string()),
        ..ImageRepositoryStatus::default()
    };
    if let Some(stored) = store.get(key) {
        body.last_scan_result = Some(ScanResult {
            tag_count: i64::try_from(stored.tags.len()).unwrap_or(i64::MAX),
            scan_time: rfc3339(stored.scanned_at),
            latest_tags: stored
                .tags
                .iter()
                .rev()
                .take(LATEST_TAGS)
                .cloned()
                .collect(),
        });
    }
    let engine = status.repositories.get(&key.to_string());
    let health = if entry.is_some_and(|e| e.suspend) {
        Health::Failed {
            reason: REASON_SUSPENDED,
            message: "suspended: not scanned".into(),
        }
    } else if let Some(error) = engine.and_then(|s| s.last_error.clone()) {
        Health::Failed {
            reason: REASON_SCAN_FAILED,
            message: error,
        }
    } else if let Some(result) = &body.last_scan_result {
        Health::Ready {
            message: format!("successful scan: found {} tags", result.tag_count),
        }
    } else {
        Health::Progressing {
            message: "scanning".into(),
        }
    };
    Ok((
        health,
        serde_json::to_value(body).map_err(StatusError::Serialize)?,
    ))
}

fn image_ref(text: &str) -> Option<ImageRef> {
    let reference = ImageReference::parse(text).ok()?;
    Some(ImageRef {
        name: reference.name().to_string(),
        tag: reference.tag()?.to_string(),
        digest: reference.digest().map(str::to_string),
    })
}

fn policy(
    objects: &ObjectSet,
    status: &Status,
    key: &ObjectKey,
) -> Result<(Health, Value), StatusError> {
    let engine = status.policies.get(&key.to_string());
    let latest = engine
        .and_then(|s| s.latest_ref.as_deref())
        .and_then(image_ref);
    let body = ImagePolicyStatus {
        latest_ref: latest.clone(),
        observed_previous_ref: engine
            .and_then(|s| s.previous_ref.as_deref())
            .and_then(image_ref),
        ..ImagePolicyStatus::default()
    };
    let error = engine.and_then(|s| s.last_error.clone());
    let suspended = objects.policies.get(key).is_some_and(|e| e.suspend);
    let health = match (error, &latest) {
        _ if suspended => Health::Failed {
            reason: REASON_SUSPENDED,
            message: "suspended: not evaluated; its last result stays".into(),
        },
        (Some(error), None) if error.contains("has not been scanned") => {
            Health::Progressing { message: error }
        }
        (Some(error), _) => Health::Failed {
            reason: REASON_NO_RESULT,
            message: error,
        },
        (None, Some(latest)) => Health::Ready {
            message: format!(
                "latest image tag for {} resolved to {}{}",
                latest.name,
                latest.tag,
                skipped_text(engine.map_or(&[][..], |s| &s.skipped))
            ),
        },
        (None, None) => Health::Progressing {
            message: "waiting for the first scan of its ImageRepository".into(),
        },
    };
    Ok((
        health,
        serde_json::to_value(body).map_err(StatusError::Serialize)?,
    ))
}

/// `; skipped 1.2.0: not signed …; 1.1.0: …` (better tags passed over), or nothing.
fn skipped_text(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", skipped.join("; "))
    }
}

fn automation(
    objects: &ObjectSet,
    status: &Status,
    key: &ObjectKey,
) -> Result<(Health, Value), StatusError> {
    let engine = status.automations.get(&key.to_string());
    // What the last run considered, as Flux records it; not the policies'
    // results since (a suspended or failing automation has not seen those,
    // and writing each change before the run it triggers doubles the writes).
    // Flux keys them by name: an automation uses its own namespace's policies.
    let observed_policies = engine
        .map(|s| &s.observed_policies)
        .into_iter()
        .flatten()
        .filter_map(|(policy, latest)| {
            let name = policy
                .rsplit_once('/')
                .map_or(policy.as_str(), |(_, name)| name);
            Some((name.to_string(), image_ref(latest)?))
        })
        .collect();
    let body = ImageUpdateAutomationStatus {
        last_automation_run_time: engine.and_then(|s| s.last_run_time).and_then(rfc3339),
        last_push_commit: engine.and_then(|s| s.last_push_commit.clone()),
        last_push_time: engine.and_then(|s| s.last_push_time).and_then(rfc3339),
        observed_policies,
        pull_request: engine
            .and_then(|s| s.pull_request.as_ref())
            .map(|p| PullRequestRef {
                number: p.number,
                url: p.url.clone(),
                state: p.state.clone(),
            }),
        ..ImageUpdateAutomationStatus::default()
    };
    let suspended = objects.automations.get(key).is_some_and(|e| e.suspend);
    let health = if suspended {
        Health::Failed {
            reason: REASON_SUSPENDED,
            message: "suspended: not run".into(),
        }
    } else {
        match engine {
            Some(s) if s.last_error.is_some() => Health::Failed {
                reason: REASON_GIT_OPERATION_FAILED,
                message: s.last_error.clone().unwrap_or_default(),
            },
            Some(s) if let Some(message) = annotation_problems(s) => message,
            Some(s) if s.last_run_time.is_some() => Health::Ready {
                message: match (&s.pull_request, &s.last_push_commit) {
                    (Some(pull), _) if pull.state == "open" => format!(
                        "change proposed in pull request #{} ({})",
                        pull.number, pull.url
                    ),
                    (Some(pull), _) if pull.state == "declined" => format!(
                        "pull request #{} was closed without merging; waiting for a different change ({})",
                        pull.number, pull.url
                    ),
                    (_, Some(commit)) => format!(
                        "repository up to date (last push {})",
                        commit.get(..12).unwrap_or(commit)
                    ),
                    (_, None) => "repository up to date".into(),
                },
            },
            _ => Health::Progressing {
                message: "waiting for the first run".into(),
            },
        }
    };
    Ok((
        health,
        serde_json::to_value(body).map_err(StatusError::Serialize)?,
    ))
}

/// Strategy `Annotations`: images that could not be scanned (ScanFailed), or
/// containers that could not be decided (NoResult), the first one named.
fn annotation_problems(status: &crate::engine::state::AutomationStatus) -> Option<Health> {
    let failed_scans: Vec<_> = status.images.iter().filter(|i| i.error.is_some()).collect();
    if let Some(first) = failed_scans.first() {
        return Some(Health::Failed {
            reason: REASON_SCAN_FAILED,
            message: format!(
                "{} image(s) could not be scanned; {}: {}",
                failed_scans.len(),
                first.image,
                first.error.as_deref().unwrap_or_default()
            ),
        });
    }
    let problems: Vec<_> = status
        .containers
        .iter()
        .filter(|c| c.result.is_problem())
        .collect();
    let first = problems.first()?;
    Some(Health::Failed {
        reason: REASON_NO_RESULT,
        message: format!(
            "{} container(s) not updated; {} ({}): {}",
            problems.len(),
            first.container,
            first.file,
            first.message.as_deref().unwrap_or_default()
        ),
    })
}

/// Writes `body` as the status of `key` by server-side apply (forced: this
/// field manager owns the whole status).
#[tracing::instrument(skip(client, info, body), fields(kind = kind.name(), namespace = %key.namespace, name = %key.name))]
pub async fn write(
    client: &kube::Client,
    kind: Kind,
    key: &ObjectKey,
    info: &ObjectInfo,
    body: &Value,
) -> Result<(), StatusError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &key.namespace, &info.resource);
    let patch = json!({
        "apiVersion": info.resource.api_version,
        "kind": info.resource.kind,
        "status": body,
    });
    api.patch_status(
        &key.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| StatusError::Patch {
        kind: kind.name(),
        key: key.clone(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{Request, Response};
    use kube::client::Body;

    use super::*;
    use crate::controller::kinds::ApiFlavor;
    use crate::controller::snapshot::ObjectInfo;
    use crate::engine::state::{AutomationStatus, PolicyStatus};

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn info(kind: Kind, generation: i64) -> ObjectInfo {
        ObjectInfo {
            generation: Some(generation),
            uid: None,
            requested_at: Default::default(),
            labels: Default::default(),
            event_annotations: Default::default(),
            conditions: Vec::new(),
            resource: kind.api_resource(ApiFlavor::Tagpilot),
        }
    }

    #[test]
    fn results_become_flux_status_fields_and_problems_keep_them() {
        let key = ObjectKey::new("shop", "api");
        let mut snapshot = Snapshot::default();
        snapshot
            .infos
            .insert((Kind::ImagePolicy, key.clone()), info(Kind::ImagePolicy, 4));
        snapshot.infos.insert(
            (Kind::ImageUpdateAutomation, ObjectKey::new("shop", "apps")),
            info(Kind::ImageUpdateAutomation, 1),
        );
        let mut engine = Status::default();
        engine.policies.insert(
            "shop/api".into(),
            PolicyStatus {
                latest_ref: Some(format!("reg.example:5000/shop/api:1.2.0@{DIGEST}")),
                previous_ref: Some("reg.example:5000/shop/api:1.1.0".into()),
                last_error: None,
                ..PolicyStatus::default()
            },
        );
        engine.automations.insert(
            "shop/apps".into(),
            AutomationStatus {
                last_push_commit: Some("0123456789abcdef".into()),
                last_push_time: Some(0),
                last_run_time: Some(0),
                // What its last run saw: the policy has moved on since.
                observed_policies: [("shop/api".into(), "reg.example:5000/shop/api:1.1.0".into())]
                    .into(),
                ..AutomationStatus::default()
            },
        );
        let state = tempfile::tempdir().unwrap();
        let store = TagStore::open(state.path()).unwrap();
        let objects = ObjectSet::default();
        let wanted = super::desired(&snapshot, &objects, &engine, &store).unwrap();
        let (health, body) = &wanted[&(Kind::ImagePolicy, key.clone())];
        assert!(matches!(health, Health::Ready { .. }), "{health:?}");
        assert_eq!(
            body["latestRef"],
            json!({"name": "reg.example:5000/shop/api", "tag": "1.2.0", "digest": DIGEST})
        );
        assert_eq!(body["observedPreviousRef"]["tag"], "1.1.0");
        assert_eq!(body["observedGeneration"], 4);
        assert_eq!(body["conditions"][0]["type"], "Ready");
        assert_eq!(body["conditions"][0]["observedGeneration"], 4);
        let (_, automation) =
            &wanted[&(Kind::ImageUpdateAutomation, ObjectKey::new("shop", "apps"))];
        assert_eq!(automation["lastPushCommit"], "0123456789abcdef");
        assert_eq!(automation["lastPushTime"], "1970-01-01T00:00:00Z");
        assert_eq!(
            automation["observedPolicies"],
            json!({"api": {"name": "reg.example:5000/shop/api", "tag": "1.1.0"}}),
            "the policies as the last run saw them, not their results since"
        );

        // An invalid spec: Stalled, and the last result is still shown.
        snapshot.problems.insert(
            (Kind::ImagePolicy, key.clone()),
            Health::Stalled {
                message: "spec.policy.semver.range: bad".into(),
            },
        );
        let wanted = super::desired(&snapshot, &objects, &engine, &store).unwrap();
        let (_, body) = &wanted[&(Kind::ImagePolicy, key)];
        assert_eq!(body["latestRef"]["tag"], "1.2.0");
        let types: Vec<&str> = body["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Ready", "Stalled"]);
    }

    /// The write is one server-side apply of the status subresource, forced,
    /// under the one field manager (checked on the request, with no server).
    #[tokio::test]
    async fn status_is_applied_to_the_subresource_under_one_field_manager() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await?;
                let content_type = parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                record.lock().unwrap().push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    content_type,
                    serde_json::from_slice::<Value>(&bytes).unwrap(),
                ));
                let answer = json!({"apiVersion": "tagpilot.dev/v1alpha1", "kind": "ImagePolicy",
                    "metadata": {"name": "api", "namespace": "shop"}});
                Ok::<_, kube::Error>(Response::new(Body::from(
                    serde_json::to_vec(&answer).unwrap(),
                )))
            }
        });
        let client = kube::Client::new(service, "default");
        let key = ObjectKey::new("shop", "api");
        let body = json!({"observedGeneration": 2});
        write(
            &client,
            Kind::ImagePolicy,
            &key,
            &info(Kind::ImagePolicy, 2),
            &body,
        )
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        let (method, uri, content_type, sent) = &seen[0];
        assert_eq!(method, "PATCH");
        assert!(
            uri.starts_with(
                "/apis/tagpilot.dev/v1alpha1/namespaces/shop/imagepolicies/api/status?"
            ),
            "{uri}"
        );
        assert!(
            uri.contains("fieldManager=tagpilot") && uri.contains("force=true"),
            "{uri}"
        );
        assert_eq!(content_type, "application/apply-patch+yaml");
        assert_eq!(
            sent,
            &json!({"apiVersion": "tagpilot.dev/v1alpha1", "kind": "ImagePolicy", "status": {"observedGeneration": 2}})
        );
    }
}
