//! Health after an apply (a Sync's `wait`): Deployments, StatefulSets and
//! DaemonSets rolled out (the controller observed the latest generation and
//! every replica is updated and available), Jobs complete, everything else
//! present. Polled until healthy or the timeout; the unhealthy objects are
//! named with the reason.

use std::time::Duration;

use serde_json::Value;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

use super::applier::{Applier, Planned};
use super::error::{ApplyError, ObjectFailure, kube_message};
use super::object::ObjectRef;

/// How often health is polled.
const POLL: Duration = Duration::from_secs(1);

/// How long CRDs and Namespaces may take to become Established / Active.
const DEFINITION_TIMEOUT: Duration = Duration::from_secs(60);

impl Applier {
    /// Waits until every CRD is Established and every Namespace Active.
    pub(super) async fn wait_for_definitions(
        &self,
        planned: &[Planned],
        indices: &[usize],
    ) -> Result<(), ApplyError> {
        let deadline = tokio::time::Instant::now() + DEFINITION_TIMEOUT;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client().clone());
        let namespaces: Api<Namespace> = Api::all(self.client().clone());
        let mut pending: Vec<&ObjectRef> = indices.iter().map(|&i| &planned[i].object).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for object in pending {
                let read = |source| ApplyError::Kube {
                    action: format!("reading {object}"),
                    source,
                };
                let ready = if object.is_crd() {
                    crds.get_opt(&object.name)
                        .await
                        .map_err(read)?
                        .is_some_and(|crd| {
                            crd.status
                                .and_then(|s| s.conditions)
                                .unwrap_or_default()
                                .iter()
                                .any(|c| c.type_ == "Established" && c.status == "True")
                        })
                } else {
                    namespaces
                        .get_opt(&object.name)
                        .await
                        .map_err(read)?
                        .and_then(|n| n.status)
                        .and_then(|s| s.phase)
                        .is_some_and(|phase| phase == "Active")
                };
                if !ready {
                    still.push(object);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let names: Vec<String> = pending.iter().map(ToString::to_string).collect();
                return Err(ApplyError::DefinitionTimeout {
                    what: format!("{} to be Established/Active", names.join(", ")),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Waits until every object in `objects` is healthy; returns the ones that
    /// are not when `timeout` is up (empty: all healthy).
    pub async fn wait_healthy(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
    ) -> Result<Vec<ObjectFailure>, ApplyError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: Vec<ObjectRef> = objects.to_vec();
        loop {
            let mut unhealthy = Vec::new();
            for object in pending {
                if let Some(reason) = self.unhealthy_reason(&object).await? {
                    unhealthy.push(ObjectFailure {
                        object,
                        message: reason,
                    });
                }
            }
            if unhealthy.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(unhealthy);
            }
            // A failed Job will not get better.
            if unhealthy.iter().all(|f| f.message.starts_with("failed")) {
                return Ok(unhealthy);
            }
            pending = unhealthy.into_iter().map(|f| f.object).collect();
            tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    /// `None` when healthy, else why not.
    async fn unhealthy_reason(&self, object: &ObjectRef) -> Result<Option<String>, ApplyError> {
        let Some(served) = self.served(object).await? else {
            return Ok(Some("its kind is not served".to_string()));
        };
        let live = match self
            .api(&served.resource, object)
            .get_opt(&object.name)
            .await
        {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(Some("not found".to_string())),
            Err(error) => return Ok(Some(kube_message(&error))),
        };
        let generation = live.metadata.generation.unwrap_or(0);
        let value = serde_json::to_value(&live).unwrap_or_default();
        Ok(match (object.group(), object.kind.as_str()) {
            ("apps", "Deployment" | "StatefulSet") => rollout(&value, generation, "replicas"),
            ("apps", "DaemonSet") => rollout(&value, generation, "daemonset"),
            ("batch", "Job") => job(&value),
            _ => None,
        })
    }
}

fn number(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Why a workload has not rolled out, if it has not.
fn rollout(value: &Value, generation: i64, shape: &str) -> Option<String> {
    let observed = number(value, "/status/observedGeneration");
    if observed < generation {
        return Some(format!(
            "not rolled out: the controller has not observed generation {generation} (observed {observed})"
        ));
    }
    let (wanted, updated, available) = if shape == "daemonset" {
        (
            number(value, "/status/desiredNumberScheduled"),
            number(value, "/status/updatedNumberScheduled"),
            number(value, "/status/numberAvailable"),
        )
    } else {
        let wanted = value
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let available = if value.pointer("/status/availableReplicas").is_some() {
            number(value, "/status/availableReplicas")
        } else {
            number(value, "/status/readyReplicas")
        };
        (wanted, number(value, "/status/updatedReplicas"), available)
    };
    if updated < wanted || available < wanted {
        return Some(format!(
            "not rolled out: {updated}/{wanted} updated, {available}/{wanted} available"
        ));
    }
    None
}

/// Why a Job is not complete, if it is not.
fn job(value: &Value) -> Option<String> {
    let conditions = value
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    if holds("Failed") {
        Some("failed: the Job has a Failed condition".to_string())
    } else if holds("Complete") {
        None
    } else {
        Some("not complete".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollouts_and_jobs() {
        let deployment = serde_json::json!({
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 3, "updatedReplicas": 2, "availableReplicas": 2},
        });
        assert_eq!(rollout(&deployment, 3, "replicas"), None);
        let old = rollout(&deployment, 4, "replicas").unwrap();
        assert!(old.contains("generation 4"), "{old}");
        let fresh = serde_json::json!({"spec": {"replicas": 2}});
        assert!(
            rollout(&fresh, 0, "replicas")
                .unwrap()
                .contains("0/2 updated")
        );
        let done =
            serde_json::json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(job(&done), None);
        assert!(job(&serde_json::json!({})).is_some());
    }
}
