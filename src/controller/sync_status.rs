//! A Sync's status between the applier's shape (`apply::sync::SyncStatus`,
//! what standalone mode keeps in `syncs.json`) and the API's
//! (`api::status::SyncStatus`, written to the object).

use crate::api::status::{InventoryEntry, SyncStatus as SyncResourceStatus};
use crate::apply::ObjectRef;
use crate::apply::sync::SyncStatus;
use crate::controller::conditions::rfc3339;

/// The applier's status in the API's shape (conditions and
/// `observedGeneration` are the controller's to add).
pub fn to_resource(status: &SyncStatus) -> SyncResourceStatus {
    SyncResourceStatus {
        last_applied_revision: status.last_applied_revision.clone(),
        last_attempted_revision: status.last_attempted_revision.clone(),
        last_attempt_time: status.last_attempt_time.and_then(rfc3339),
        inventory: status
            .inventory
            .iter()
            .map(|o| InventoryEntry {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
            })
            .collect(),
        drift_corrected: i64::try_from(status.drift_corrected).unwrap_or(i64::MAX),
        drift_corrected_total: i64::try_from(status.drift_corrected_total).unwrap_or(i64::MAX),
        ..SyncResourceStatus::default()
    }
}

/// The part of a written status the next run needs: the inventory (what
/// prune compares with), the revisions and the drift total. Ready is left
/// out: the next run decides it again.
pub fn from_resource(resource: &SyncResourceStatus) -> SyncStatus {
    SyncStatus {
        last_applied_revision: resource.last_applied_revision.clone(),
        last_attempted_revision: resource.last_attempted_revision.clone(),
        inventory: resource
            .inventory
            .iter()
            .map(|o| ObjectRef {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
            })
            .collect(),
        drift_corrected_total: u64::try_from(resource.drift_corrected_total).unwrap_or(0),
        ..SyncStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sync::{ReadyCondition, reason};

    #[test]
    fn the_status_round_trips_through_the_resource_and_keeps_the_inventory() {
        let original = SyncStatus {
            ready: Some(ReadyCondition {
                status: "True".into(),
                reason: reason::RECONCILIATION_SUCCEEDED.into(),
                message: "applied".into(),
                last_transition_time: 0,
            }),
            last_applied_revision: Some("main@sha1:abc".into()),
            inventory: vec![ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: "settings".into(),
            }],
            drift_corrected: 2,
            drift_corrected_total: 5,
            last_attempt_time: Some(0),
            ..SyncStatus::default()
        };
        let resource = to_resource(&original);
        assert_eq!(resource.inventory[0].kind, "ConfigMap");
        assert_eq!(resource.drift_corrected, 2);
        assert_eq!(
            resource.last_attempt_time.as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        let json = serde_json::to_value(&resource).unwrap();
        assert_eq!(json["lastAppliedRevision"], "main@sha1:abc");
        let back = from_resource(&serde_json::from_value::<SyncResourceStatus>(json).unwrap());
        assert_eq!(back.inventory, original.inventory);
        assert_eq!(back.last_applied_revision, original.last_applied_revision);
        assert_eq!(back.drift_corrected_total, 5);
        assert!(
            back.ready.is_none(),
            "Ready is decided again by the next run"
        );
    }
}
