//! The git side of an automation run that both strategies share: the spec git
//! runs with, what a push attempt did (logs, metrics, the report), and the
//! commit message `plan` shows.

use super::cycle::{AutomationReport, Engine, with_causes};
use crate::config::meta::ObjectKey;
use crate::git::{
    AutomationOutcome, AutomationRef, AutomationSpec, ChangeSet, MessageData, MessageTemplate,
    render_message,
};
use crate::registry::{DigestResolver, TagLister};

impl<C: TagLister + DigestResolver> Engine<C> {
    /// What git needs to run automation `key`.
    pub(super) fn automation_spec(
        &self,
        key: &ObjectKey,
        entry: &super::objects::AutomationEntry,
        source: &super::objects::SourceEntry,
    ) -> AutomationSpec {
        AutomationSpec {
            automation: AutomationRef {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            },
            repo: source.repo.clone(),
            checkout: entry.checkout.clone(),
            commit: entry.commit.clone(),
            push: entry.push.clone(),
            values: entry.values.clone(),
            retry: self.retry.clone(),
        }
    }

    /// Logs, counts and reports what a push attempt of automation `key` did.
    pub(super) fn record_push(
        &self,
        key: &ObjectKey,
        outcome: Result<AutomationOutcome, crate::git::GitError>,
        report: &mut AutomationReport,
    ) {
        match outcome {
            Ok(AutomationOutcome::NoChange { .. }) => {
                tracing::debug!(automation = %key, "no change");
            }
            Ok(AutomationOutcome::Pushed {
                commit,
                changes,
                attempts,
                ..
            }) => {
                tracing::info!(
                    automation = %key,
                    commit = %commit,
                    changes = changes.changes.len(),
                    attempts,
                    "pushed"
                );
                self.metrics.increment("tagpilot_commits_total", &[]);
                let label = if attempts > 1 { "retried" } else { "ok" };
                self.metrics
                    .increment("tagpilot_pushes_total", &[("result", label)]);
                report.commit = Some(commit.to_string());
                report.changes = changes.changes;
            }
            Err(error) => {
                let message = with_causes(&error);
                tracing::warn!(automation = %key, error = %message, "automation failed");
                if error.is_refused_push() {
                    self.metrics
                        .increment("tagpilot_pushes_total", &[("result", "failed")]);
                }
                report.error = Some(message);
            }
        }
    }
}

/// The commit message `plan` shows for `changes` (none when nothing changes).
pub(super) fn planned_message(
    automation: AutomationRef,
    changes: &ChangeSet,
    values: std::collections::BTreeMap<String, String>,
    template: Option<&MessageTemplate>,
) -> Result<Option<String>, String> {
    if changes.changes.is_empty() {
        return Ok(None);
    }
    let data = MessageData::new(automation, changes, values);
    render_message(template.and_then(MessageTemplate::source), &data)
        .map(Some)
        .map_err(|e| e.to_string())
}
