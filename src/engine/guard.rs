//! The downgrade guard and the bridge from update reports to commit data.
//!
//! Before writing, the update engine runs dry; any marker whose new value the
//! policy's own version order ranks below what the file holds is held back
//! (invariant 3) unless the policy allows downgrades, and the remaining results
//! are written. The changes then become the git module's template data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::config::meta::ObjectKey;
use crate::git::{ChangeLine, ChangeSet, ImageUpdate};
use crate::image::ImageReference;
use crate::policy::{ExclusionList, Policy};
use crate::update::{
    PolicyId, PolicyResult, PolicyResults, SetterSuffix, UpdateMode, UpdateReport, apply_results,
    preview_results, write_report,
};

/// A marker that was not moved because the result is older than what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldDowngrade {
    /// File and line.
    pub location: String,
    /// The marker's setter.
    pub setter: String,
    /// What the file holds.
    pub current: String,
    /// The (older) policy result.
    pub result: String,
}

/// One policy result an automation writes, with what the guard needs.
#[derive(Debug, Clone)]
pub(crate) struct PolicyInput {
    pub(crate) key: ObjectKey,
    pub(crate) policy: Policy,
    pub(crate) allow_downgrade: bool,
    pub(crate) reference: ImageReference,
    pub(crate) previous: Option<String>,
}

/// The results an automation writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct AutomationInputs {
    pub(crate) policies: BTreeMap<PolicyId, PolicyInput>,
}

impl AutomationInputs {
    /// The policy results to write, leaving out the policies in `held_back`.
    fn results(&self, held_back: &BTreeSet<PolicyId>) -> PolicyResults {
        let mut results = PolicyResults::new();
        for (id, input) in &self.policies {
            if !held_back.contains(id)
                && let Ok(result) = PolicyResult::new(input.reference.clone())
            {
                results.insert(id.clone(), result);
            }
        }
        results
    }
}

/// Runs the update engine, holding back results that would move a marker to
/// an older version than the file holds (invariant 3), unless the policy
/// allows downgrades.
pub(crate) fn update_with_guard(
    root: &Path,
    path: &Path,
    inputs: &AutomationInputs,
    mode: UpdateMode,
) -> Result<(UpdateReport, Vec<HeldDowngrade>), crate::git::ApplyError> {
    let preview = preview_results(root, path, &inputs.results(&BTreeSet::new()), mode)?;
    for skipped in &preview.skipped {
        let file = crate::update::report::slash_path(&skipped.file);
        match skipped.line {
            Some(line) => tracing::warn!(%file, line, reason = %skipped.reason, "skipping marker"),
            None => tracing::warn!(%file, reason = %skipped.reason, "skipping file"),
        }
    }
    let mut held = Vec::new();
    let mut blocked = BTreeSet::new();
    for change in &preview.changes {
        let Some(input) = inputs.policies.get(&change.setter.policy) else {
            continue;
        };
        if input.allow_downgrade {
            continue;
        }
        if is_downgrade(
            &input.policy,
            change.setter.suffix,
            &change.old,
            &change.new,
        ) {
            held.push(HeldDowngrade {
                location: format!("{}:{}", change.file.display(), change.line),
                setter: change.setter.to_string(),
                current: change.old.clone(),
                result: change.new.clone(),
            });
            blocked.insert(change.setter.policy.clone());
        }
    }
    for downgrade in &held {
        tracing::warn!(
            location = %downgrade.location,
            setter = %downgrade.setter,
            current = %downgrade.current,
            result = %downgrade.result,
            "not moving a marker to an older version (annotate the policy with tagpilot.dev/allow-downgrade: \"true\" to allow it)"
        );
    }
    if blocked.is_empty() {
        // Nothing held back: the preview is the update; write it as it is
        // rather than reading and parsing every file a second time.
        write_report(root, &preview, mode)?;
        return Ok((preview, held));
    }
    let report = apply_results(root, path, &inputs.results(&blocked), mode)?;
    Ok((report, held))
}

/// Whether writing `new` over `old` moves the marker to a version the policy ranks lower.
fn is_downgrade(policy: &Policy, suffix: Option<SetterSuffix>, old: &str, new: &str) -> bool {
    let tags = match suffix {
        Some(SetterSuffix::Tag) => Some((old.to_string(), new.to_string())),
        None => ImageReference::parse(old)
            .ok()
            .and_then(|o| o.tag().map(str::to_string))
            .zip(
                ImageReference::parse(new)
                    .ok()
                    .and_then(|n| n.tag().map(str::to_string)),
            ),
        Some(SetterSuffix::Name | SetterSuffix::Digest) => None,
    };
    let Some((old_tag, new_tag)) = tags else {
        return false;
    };
    if old_tag == new_tag {
        return false;
    }
    let none = ExclusionList::new::<&str>(&[]).unwrap_or_default();
    policy
        .select(&[old_tag.as_str(), new_tag.as_str()], &none)
        .is_ok_and(|selection| selection.tag == old_tag)
}

pub(crate) fn change_set(report: &UpdateReport, inputs: &AutomationInputs) -> ChangeSet {
    let changes: Vec<ChangeLine> = report
        .changes
        .iter()
        .map(|change| ChangeLine {
            file: crate::update::report::slash_path(&change.file),
            line: change.line,
            setter: change.setter.to_string(),
            old: change.old.clone(),
            new: change.new.clone(),
            object: change.object.clone(),
        })
        .collect();
    let mut images = Vec::new();
    for (id, input) in &inputs.policies {
        if report.changes.iter().any(|c| &c.setter.policy == id) {
            images.push(ImageUpdate {
                policy: input.key.name.clone(),
                namespace: input.key.namespace.clone(),
                name: input.reference.name().to_string(),
                tag: input.reference.tag().unwrap_or_default().to_string(),
                digest: input.reference.digest().map(str::to_string),
                previous: input.previous.clone(),
                about: Default::default(),
            });
        }
    }
    ChangeSet { changes, images }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::OrderingSpec;

    #[test]
    fn downgrades_are_detected_by_the_policy_ordering() {
        let semver = Policy::new(
            "shop/app",
            None,
            None,
            OrderingSpec::Semver { range: ">=1.0.0" },
        )
        .unwrap();
        assert!(is_downgrade(
            &semver,
            Some(SetterSuffix::Tag),
            "1.2.0",
            "1.1.0"
        ));
        assert!(!is_downgrade(
            &semver,
            Some(SetterSuffix::Tag),
            "1.1.0",
            "1.2.0"
        ));
        assert!(is_downgrade(
            &semver,
            None,
            "reg/app:1.2.0",
            "reg/app:1.1.0"
        ));
        assert!(!is_downgrade(&semver, Some(SetterSuffix::Name), "a", "b"));
        // A value the policy does not rank (e.g. a hand-written tag) is not "newer".
        assert!(!is_downgrade(
            &semver,
            Some(SetterSuffix::Tag),
            "latest",
            "1.1.0"
        ));
        let numerical = Policy::new(
            "shop/app",
            Some("^main-[a-f0-9]+-(?P<build>[0-9]+)$"),
            Some("$build"),
            OrderingSpec::Numerical { order: None },
        )
        .unwrap();
        assert!(is_downgrade(
            &numerical,
            Some(SetterSuffix::Tag),
            "main-abc-120",
            "main-def-119"
        ));
    }
}
