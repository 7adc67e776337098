//! The git side of an automation run that both strategies share: the spec git
//! runs with, and the commit message `plan` shows. (What a push attempt did is
//! logged from `cycle`, whose log target users and tests filter on.)

use super::cycle::Runner;
use crate::config::meta::ObjectKey;
use crate::git::{
    AutomationRef, AutomationSpec, ChangeSet, MessageData, MessageTemplate, render_commit_message,
};

impl<C: super::EngineClient> Runner<C> {
    /// What git needs to run automation `key`.
    pub(super) fn automation_spec(
        &self,
        key: &ObjectKey,
        entry: &super::objects::AutomationEntry,
        source: &super::objects::SourceEntry,
    ) -> AutomationSpec {
        AutomationSpec {
            automation: automation_ref(key),
            repo: source.repo.clone(),
            checkout: entry.checkout.clone(),
            commit: entry.commit.clone(),
            push: entry.push.clone(),
            values: entry.values.clone(),
            update_path: crate::update::report::slash_path(&entry.path),
            retry: self.retry.clone(),
        }
    }
}

/// Automation `key` as git names it (in commit messages, and as the owner of
/// a working copy prepared ahead).
pub(super) fn automation_ref(key: &ObjectKey) -> AutomationRef {
    AutomationRef {
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

/// The commit message `plan` shows for `changes` (none when nothing changes).
pub(super) fn planned_message(
    automation: AutomationRef,
    changes: &ChangeSet,
    values: std::collections::BTreeMap<String, String>,
    update_path: String,
    template: Option<&MessageTemplate>,
) -> Result<Option<String>, String> {
    if changes.changes.is_empty() {
        return Ok(None);
    }
    let data = MessageData::new(automation, changes, values).with_update_path(update_path);
    render_commit_message(template, &data)
        .map(Some)
        .map_err(|e| e.to_string())
}
