//! How a run of strategy `Annotations` is reported: one [`ContainerReport`]
//! per container of every annotated workload (what happened and why, for the
//! cycle report, `status.json`, `plan` and the controller's condition), and
//! the commit's [`ChangeSet`] — the same data the setters give message
//! templates, with the container where a setter would be and the workload
//! where a policy would be.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::git::{ChangeLine, ChangeSet, ImageUpdate};
use crate::image::ImageReference;
use crate::update::ObjectId;
use crate::update::annotations::{
    AnnotationReport, ContainerDecision, ContainerKey, Discovery, HoldReason, Outcome,
};
use crate::update::report::slash_path;

/// What happened to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerResult {
    /// It runs the tag to run.
    UpToDate,
    /// It moves to `latest`.
    Update,
    /// `latest` ranks first, but is older than what it runs: held back.
    HeldDowngrade,
    /// `latest` ranks first, but cannot be compared with what it runs.
    Held,
    /// Its workload is `fluxcd.io/locked: "true"`.
    Locked,
    /// Its workload is ignored, or not automated.
    NotAutomated,
    /// Its filter annotation is invalid.
    InvalidFilter,
    /// No decision could be made (no tag matches, the image was not scanned, …).
    Failed,
}

impl ContainerResult {
    /// Whether it is a problem the user must fix or look at.
    pub fn is_problem(self) -> bool {
        matches!(self, Self::InvalidFilter | Self::Failed)
    }

    /// The words `plan` and `status` print.
    pub fn text(self) -> &'static str {
        match self {
            Self::UpToDate => "up to date",
            Self::Update => "update",
            Self::HeldDowngrade => "held back (downgrade)",
            Self::Held => "held",
            Self::Locked => "locked",
            Self::NotAutomated => "not automated",
            Self::InvalidFilter => "invalid filter",
            Self::Failed => "failed",
        }
    }
}

/// The decision for one container, as reports and `status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    /// The file, relative to the repository root, with `/` separators.
    pub file: String,
    /// The 1-based line of its image (0 when unknown).
    pub line: usize,
    /// `deployment/hello:hello` (`NAMESPACE:` first when the file gives one).
    pub container: String,
    /// The image it runs.
    pub image: String,
    /// Its filter (`glob:*` when it has none).
    pub filter: String,
    /// What happened.
    pub result: ContainerResult,
    /// The image or tag that ranked first, when it is not the current one.
    pub latest: Option<String>,
    /// Why (for held, failed and invalid results).
    pub message: Option<String>,
}

/// One report per decision, plus the containers whose image cannot be rewritten.
pub(super) fn container_reports(
    discovery: &Discovery,
    decisions: &[ContainerDecision],
) -> Vec<ContainerReport> {
    let mut reports = Vec::new();
    for decision in decisions {
        let workload = discovery
            .workloads()
            .find(|w| w.file == decision.key.file && w.id == decision.key.workload);
        let line = workload
            .and_then(|w| {
                w.containers
                    .iter()
                    .find(|c| c.name == decision.key.container)
            })
            .map_or(0, |c| c.fields.tag.as_ref().unwrap_or(&c.fields.name).line);
        let (result, latest, message) = match &decision.outcome {
            Outcome::UpToDate => (ContainerResult::UpToDate, None, None),
            Outcome::Update(image) => (ContainerResult::Update, Some(image.to_string()), None),
            Outcome::Held { tag, reason } => {
                let result = if *reason == HoldReason::Downgrade {
                    ContainerResult::HeldDowngrade
                } else {
                    ContainerResult::Held
                };
                let latest = decision.current.with_tag(tag, None).to_string();
                (result, Some(latest), Some(reason.to_string()))
            }
            Outcome::NotAutomated => match workload {
                Some(w) if w.locked => (ContainerResult::Locked, None, None),
                Some(w) if w.ignored => (
                    ContainerResult::NotAutomated,
                    None,
                    Some("ignored (fluxcd.io/ignore)".into()),
                ),
                _ => (ContainerResult::NotAutomated, None, None),
            },
            Outcome::DigestUnknown { tag } => (
                ContainerResult::Failed,
                Some(tag.clone()),
                Some(format!(
                    "the image is pinned by digest and the digest of {tag} could not be resolved"
                )),
            ),
            Outcome::NotScanned => (
                ContainerResult::Failed,
                None,
                Some(format!(
                    "the tags of {} could not be listed (see the image's scan error)",
                    decision.current.name()
                )),
            ),
            Outcome::Failed(error) => (ContainerResult::Failed, None, Some(error.to_string())),
            Outcome::InvalidFilter(error) => (
                ContainerResult::InvalidFilter,
                None,
                Some(format!("{}: {error}", decision.filter)),
            ),
        };
        reports.push(ContainerReport {
            file: slash_path(&decision.key.file),
            line,
            container: decision.key.label(),
            image: decision.current.to_string(),
            filter: decision.filter.clone(),
            result,
            latest,
            message,
        });
    }
    // Containers whose image cannot be rewritten in place.
    for workload in discovery.workloads().filter(|w| w.is_updated()) {
        for (container, reason) in &workload.unusable {
            let key = ContainerKey {
                file: workload.file.clone(),
                workload: workload.id.clone(),
                container: container.clone(),
            };
            reports.push(ContainerReport {
                file: slash_path(&workload.file),
                line: 0,
                container: key.label(),
                image: String::new(),
                filter: String::new(),
                result: ContainerResult::Failed,
                latest: None,
                message: Some(reason.clone()),
            });
        }
    }
    reports
}

/// The commit's change set: each changed image as a change line (the
/// container where a setter would be) and as an image update (the workload
/// where a policy would be).
pub(super) fn change_set(report: &AnnotationReport, automation_namespace: &str) -> ChangeSet {
    let mut changes = Vec::new();
    let mut images = Vec::new();
    let mut seen = BTreeSet::new();
    for change in &report.changes {
        let key = ContainerKey {
            file: change.file.clone(),
            workload: change.workload.clone(),
            container: change.container.clone(),
        };
        let namespace = change
            .workload
            .namespace
            .clone()
            .unwrap_or_else(|| automation_namespace.to_string());
        changes.push(ChangeLine {
            file: slash_path(&change.file),
            line: change.line,
            setter: key.label(),
            old: change.old.clone(),
            new: change.new.clone(),
            object: Some(ObjectId {
                api_version: String::new(),
                kind: change.workload.kind.clone(),
                name: change.workload.name.clone(),
                namespace: change.workload.namespace.clone().unwrap_or_default(),
            }),
        });
        let Ok(new) = ImageReference::parse(&change.new) else {
            continue;
        };
        let update = ImageUpdate {
            policy: change.workload.name.clone(),
            namespace,
            name: new.name().to_string(),
            tag: new.tag().unwrap_or_default().to_string(),
            digest: new.digest().map(str::to_string),
            previous: Some(change.old.clone()),
            // The image's OCI annotations are not looked up for this strategy yet.
            about: Default::default(),
        };
        if seen.insert((
            update.namespace.clone(),
            update.policy.clone(),
            change.new.clone(),
        )) {
            images.push(update);
        }
    }
    ChangeSet { changes, images }
}
