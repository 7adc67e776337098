//! The dry run: every object is sent once with `dryRun=All` before anything
//! changes, and `--dry-run` reports what a real apply would do from it.

use futures::stream::{self, StreamExt as _};
use kube::api::DynamicObject;
use serde_json::Value;

use super::applier::{
    Action, Applier, ApplyOptions, ApplyReport, ObjectResult, PatchFailure, Planned,
};
use super::error::{ApplyError, ObjectFailure};

impl Applier {
    /// Dry-runs `indices`; any refusal fails the whole set.
    pub(super) async fn dry_run(
        &self,
        planned: &mut [Planned],
        indices: &[usize],
        options: &ApplyOptions,
        after_definitions: bool,
    ) -> Result<(), ApplyError> {
        let results: Vec<(usize, Result<DynamicObject, PatchFailure>)> =
            stream::iter(indices.iter().copied())
                .map(|index| {
                    let entry = &planned[index];
                    async move { (index, self.patch(entry, options, true).await) }
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        let mut failures = Vec::new();
        for (index, result) in results {
            match result {
                Ok(object) => {
                    planned[index].dry_run_version = object.metadata.resource_version.clone();
                    planned[index].dry_run_result = Some(object);
                }
                Err(PatchFailure::Transport(error)) => return Err(error),
                Err(PatchFailure::Object(message)) => failures.push(ObjectFailure {
                    object: planned[index].object.clone(),
                    message,
                }),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            failures.sort_by(|a, b| a.object.cmp(&b.object));
            Err(ApplyError::Rejected {
                failures,
                after_definitions,
            })
        }
    }

    /// For `--dry-run`: created when the object does not exist, else compares
    /// the dry-run result with the live object.
    pub(super) async fn dry_run_report(
        &self,
        planned: &[Planned],
    ) -> Result<ApplyReport, ApplyError> {
        let mut report = ApplyReport::default();
        for entry in planned {
            let action = match (&entry.served, &entry.dry_run_version, entry.deferred) {
                (Some(served), Some(_), false) => {
                    let api = self.api(&served.resource, &entry.object);
                    let live = api.get_opt(&entry.object.name).await.map_err(|source| {
                        ApplyError::Kube {
                            action: format!("reading {}", entry.object),
                            source,
                        }
                    })?;
                    match (live, &entry.dry_run_result) {
                        (Some(live), Some(after)) if comparable(&live) == comparable(after) => {
                            Action::Unchanged
                        }
                        _ => Action::Configured,
                    }
                }
                _ => Action::Created,
            };
            report.objects.push(ObjectResult {
                object: entry.object.clone(),
                action,
            });
        }
        Ok(report)
    }
}

/// An object without the fields every write changes.
fn comparable(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(metadata) = value["metadata"].as_object_mut() {
        for field in ["managedFields", "resourceVersion", "generation"] {
            metadata.remove(field);
        }
    }
    value
}
