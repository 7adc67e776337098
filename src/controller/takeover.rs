//! Taking over from Flux's image controllers (`--flux-compat`).
//!
//! - [`check_flux_leases`]: tagpilot refuses to start while Flux's
//!   image-reflector-controller or image-automation-controller holds its
//!   leader-election Lease (`<controller>-leader-election`, with a hash suffix
//!   when sharded; in Flux's namespace), since both would then write the same
//!   statuses and push to the same branches. A Lease is held while it names a
//!   holder and its last renewal plus its duration is in the future; Flux's
//!   controllers clear the holder when they stop cleanly, and an unclean stop
//!   frees it after the lease duration (35 s by default).
//! - [`recorded_results`]: what Flux's status (or tagpilot's own, from before a
//!   restart) already says — each policy's `latestRef` and
//!   `observedPreviousRef`, each automation's last push — becomes the engine's
//!   starting point, so a takeover does not announce known results again or
//!   forget the last push. The repository itself decides what is committed:
//!   what Flux already wrote there is not written again.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::kinds::Kind;
use super::snapshot::CachedObject;
use crate::config::meta::ObjectKey;
use crate::engine::state::{AutomationStatus, PolicyStatus, Status};

/// The Lease name prefixes of Flux's image controllers.
pub const FLUX_LEASE_PREFIXES: [&str; 2] = [
    "image-reflector-controller-leader-election",
    "image-automation-controller-leader-election",
];

/// Why tagpilot does not take over.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// A Flux image controller is running.
    #[error(
        "Flux's image controllers are still running: {held}. Scale them down first \
         (kubectl -n {namespace} scale deployment image-reflector-controller image-automation-controller --replicas=0), \
         or pass --ignore-flux-leases to run next to them anyway"
    )]
    Held {
        /// Flux's namespace.
        namespace: String,
        /// Each held Lease, its holder and when it expires.
        held: String,
    },
    /// The Leases could not be read.
    #[error(
        "cannot read the Leases in namespace {namespace} to check that Flux's image controllers are stopped: {source} \
         (grant `list` on leases there, see deploy/flux-compat/rbac.yaml, or pass --ignore-flux-leases)"
    )]
    Read {
        /// Flux's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Fails when a Flux image controller holds its Lease in `namespace` at `now`.
pub async fn check_flux_leases(
    client: &kube::Client,
    namespace: &str,
    now: Timestamp,
) -> Result<(), TakeoverError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let leases = api
        .list(&ListParams::default())
        .await
        .map_err(|source| TakeoverError::Read {
            namespace: namespace.to_string(),
            source: Box::new(source),
        })?;
    let held = held_flux_leases(&leases.items, now);
    if held.is_empty() {
        Ok(())
    } else {
        Err(TakeoverError::Held {
            namespace: namespace.to_string(),
            held: held.join("; "),
        })
    }
}

/// One line per Flux image-controller Lease that is held at `now`.
pub fn held_flux_leases(leases: &[Lease], now: Timestamp) -> Vec<String> {
    let mut held = Vec::new();
    for lease in leases {
        let name = lease.metadata.name.as_deref().unwrap_or_default();
        if !FLUX_LEASE_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            continue;
        }
        let Some(spec) = &lease.spec else {
            continue;
        };
        let holder = spec.holder_identity.as_deref().unwrap_or_default();
        if holder.is_empty() {
            continue;
        }
        let expires = spec
            .renew_time
            .as_ref()
            .map(|time| time.0)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .checked_add(SignedDuration::from_secs(i64::from(
                spec.lease_duration_seconds.unwrap_or(0),
            )))
            .unwrap_or(Timestamp::MAX);
        if expires > now {
            held.push(format!(
                "Lease {name} is held by {holder} until {}",
                Timestamp::from_second(expires.as_second()).unwrap_or(expires)
            ));
        }
    }
    held
}

/// The results the objects' status already records, in the engine's terms
/// (keys `namespace/name`, references `name:tag[@digest]`).
pub fn recorded_results(cached: &[CachedObject]) -> Status {
    let mut status = Status::default();
    for entry in cached {
        let meta = &entry.object.metadata;
        let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
            continue;
        };
        let key = ObjectKey::new(namespace, name).to_string();
        let recorded = &entry.object.data["status"];
        match entry.kind {
            Kind::ImagePolicy => {
                let Some(latest) = image_ref(&recorded["latestRef"]) else {
                    continue;
                };
                status.policies.insert(
                    key,
                    PolicyStatus {
                        latest_ref: Some(latest),
                        previous_ref: image_ref(&recorded["observedPreviousRef"]),
                        last_error: None,
                        skipped: Vec::new(),
                    },
                );
            }
            Kind::ImageUpdateAutomation => {
                let Some(commit) = recorded["lastPushCommit"].as_str() else {
                    continue;
                };
                let seconds = |field: &str| {
                    recorded[field]
                        .as_str()
                        .and_then(|t| t.parse::<Timestamp>().ok())
                        .and_then(|t| u64::try_from(t.as_second()).ok())
                };
                status.automations.insert(
                    key,
                    AutomationStatus {
                        last_push_commit: Some(commit.to_string()),
                        last_push_time: seconds("lastPushTime"),
                        ..AutomationStatus::default()
                    },
                );
            }
            _ => {}
        }
    }
    status
}

/// Flux's `ImageRef` (`name`, `tag`, `digest`) as `name:tag[@digest]`.
fn image_ref(value: &Value) -> Option<String> {
    let name = value["name"].as_str().filter(|n| !n.is_empty())?;
    let tag = value["tag"].as_str().filter(|t| !t.is_empty())?;
    Some(match value["digest"].as_str().filter(|d| !d.is_empty()) {
        Some(digest) => format!("{name}:{tag}@{digest}"),
        None => format!("{name}:{tag}"),
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    use super::*;

    fn lease(name: &str, holder: &str, renewed: Timestamp, seconds: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed)),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn only_live_flux_image_controller_leases_count() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let leases = [
            lease(
                "image-reflector-controller-leader-election",
                "irc-7d9f",
                now,
                35,
            ),
            // Sharded: Flux appends a hash of the label selector.
            lease(
                "image-automation-controller-leader-election-1a2b3c4d",
                "iac-1",
                now,
                35,
            ),
            // Expired, released, or another controller's.
            lease(
                "image-automation-controller-leader-election",
                "iac-0",
                now - SignedDuration::from_secs(60),
                35,
            ),
            lease("image-reflector-controller-leader-election-x", "", now, 35),
            lease("source-controller-leader-election", "sc", now, 35),
        ];
        let held = held_flux_leases(&leases, now);
        assert_eq!(held.len(), 2, "{held:?}");
        assert!(
            held[0]
                .contains("image-reflector-controller-leader-election is held by irc-7d9f until"),
            "{held:?}"
        );
        assert!(
            held[1].contains("leader-election-1a2b3c4d is held by iac-1"),
            "{held:?}"
        );
    }

    #[test]
    fn flux_image_refs_become_engine_references() {
        let with_digest =
            serde_json::json!({"name": "reg/app", "tag": "1.2.0", "digest": "sha256:ab"});
        assert_eq!(image_ref(&with_digest).unwrap(), "reg/app:1.2.0@sha256:ab");
        let plain = serde_json::json!({"name": "reg/app", "tag": "1.2.0"});
        assert_eq!(image_ref(&plain).unwrap(), "reg/app:1.2.0");
        assert_eq!(image_ref(&serde_json::json!({"name": "reg/app"})), None);
    }
}
