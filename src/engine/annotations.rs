//! Strategy `Annotations` in the engine: one run of an automation whose
//! workloads carry Flux v1 annotations.
//!
//! The run goes through the same git path as the setters
//! ([`crate::git::run_automation`]: one working copy reset to the remote head,
//! at most one commit, signing, retries of a rejected push that re-apply on
//! the fresh tree). Its apply step, on the checkout it is given:
//!
//! 1. finds the annotated workloads ([`discover`]);
//! 2. scans their images and looks up creation times
//!    ([`AnnotationScanner::gather`], driven from the blocking git thread on
//!    the engine's runtime);
//! 3. decides each container ([`decide`]): a tag older than the one running
//!    is held back and reported (invariant 3), as are locked workloads,
//!    invalid filters and images that could not be scanned;
//! 4. rewrites the chosen images ([`apply_updates`]) and hands git the change
//!    set — the same data the setters give commit message templates, with the
//!    container (`deployment/hello:hello`) where a setter would be.
//!
//! `tagpilot plan` runs steps 1–4 on a dry run and prints the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

pub use super::annotation_scan::ImageScanReport;
use super::annotation_scan::{AnnotationScanner, lock};
use super::cycle::{AutomationReport, CycleMode, Engine, HeldDowngrade, planned_message};
use super::objects::{AutomationEntry, SourceEntry};
use crate::config::annotation_registries::AnnotationSettings;
use crate::config::meta::ObjectKey;
use crate::git::{ApplyError, ChangeLine, ChangeSet, ImageUpdate};
use crate::image::ImageReference;
use crate::registry::created::CreatedLookup;
use crate::registry::{DigestResolver, TagLister};
use crate::update::annotations::{
    AnnotationReport, AnnotationUpdates, ContainerDecision, ContainerKey, Discovery, HoldReason,
    Outcome, apply_updates, decide, discover,
};
use crate::update::report::slash_path;
use crate::update::{ObjectId, UpdateMode};

/// How soon an automation runs again while creation times are left to look up.
const PENDING_LOOKUPS_RETRY: Duration = Duration::from_secs(5);

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

/// What one apply step found and did.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// One per image.
    pub images: Vec<ImageScanReport>,
    /// One per container of every annotated workload.
    pub containers: Vec<ContainerReport>,
    /// The rewrite.
    pub report: AnnotationReport,
    /// The commit's change set.
    pub changes: ChangeSet,
    /// Creation times are left for the next runs.
    pub pending_lookups: bool,
}

impl Findings {
    /// The held-back downgrades, in the setters' report shape.
    pub fn held_downgrades(&self) -> Vec<HeldDowngrade> {
        self.containers
            .iter()
            .filter(|c| c.result == ContainerResult::HeldDowngrade)
            .map(|c| HeldDowngrade {
                location: format!("{}:{}", c.file, c.line),
                setter: c.container.clone(),
                current: c.image.clone(),
                result: c.latest.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// How soon to run again (an announced tag not listed yet, lookups left).
    pub fn run_again_after(&self, announced: Option<Duration>) -> Option<Duration> {
        let pending = self.pending_lookups.then_some(PENDING_LOOKUPS_RETRY);
        announced.into_iter().chain(pending).min()
    }
}

/// One apply step of an Annotations automation, runnable on a blocking thread.
pub struct AnnotationPass<C> {
    /// Scans with the automation's settings.
    pub scanner: AnnotationScanner<C>,
    /// `spec.update.path`.
    pub path: PathBuf,
    /// The engine's runtime (the scans run on it).
    pub handle: Handle,
}

impl<C> AnnotationPass<C>
where
    C: crate::registry::TagLister
        + crate::registry::DigestResolver
        + crate::registry::created::CreatedLookup,
{
    /// Discovers, scans, decides and rewrites under `root` in `mode`.
    pub fn run(&self, root: &Path, mode: UpdateMode) -> Result<Findings, ApplyError> {
        let discovery = discover(root, &self.path)?;
        for skipped in &discovery.skipped {
            let file = slash_path(&skipped.file);
            tracing::warn!(%file, reason = %skipped.reason, "skipping file");
        }
        let gathered = self.handle.block_on(self.scanner.gather(&discovery))?;
        let pending_lookups = gathered.has_pending_lookups();
        let mut facts = gathered.facts;
        let mut decisions = decide(&discovery, &facts);
        let pinned: Vec<(ImageReference, String)> = decisions
            .iter()
            .filter_map(|d| match &d.outcome {
                Outcome::DigestUnknown { tag } => Some((d.current.clone(), tag.clone())),
                _ => None,
            })
            .collect();
        if !pinned.is_empty() {
            self.handle
                .block_on(self.scanner.resolve_digests(&pinned, &mut facts));
            decisions = decide(&discovery, &facts);
        }
        let updates: AnnotationUpdates = decisions
            .iter()
            .filter_map(ContainerDecision::update)
            .map(|(key, image)| (key.clone(), image.clone()))
            .collect();
        let report = apply_updates(root, &self.path, &updates, mode)?;
        let containers = container_reports(&discovery, &decisions);
        for container in containers.iter().filter(|c| c.result.is_problem()) {
            tracing::warn!(
                automation = %self.scanner.automation,
                file = %container.file,
                container = %container.container,
                error = %container.message.as_deref().unwrap_or_default(),
                "container not updated"
            );
        }
        let changes = change_set(&report, &self.scanner.automation.namespace);
        Ok(Findings {
            images: gathered.reports,
            containers,
            report,
            changes,
            pending_lookups,
        })
    }
}

impl<C: TagLister + DigestResolver + CreatedLookup + Clone + 'static> Engine<C> {
    /// Runs automation `key` (strategy `Annotations`) in `mode`, filling `report`.
    pub(super) async fn run_annotations(
        &mut self,
        key: &ObjectKey,
        entry: &AutomationEntry,
        settings: AnnotationSettings,
        source: SourceEntry,
        mode: CycleMode,
        mut report: AutomationReport,
    ) -> AutomationReport {
        let spec = self.automation_spec(key, entry, &source);
        let pass = Arc::new(AnnotationPass {
            scanner: AnnotationScanner {
                automation: key.clone(),
                settings,
                client: self.client.clone(),
                tags: self.store.clone(),
                created: self.created.clone(),
                memory: self.annotation_memory.clone(),
            },
            path: entry.path.clone(),
            handle: Handle::current(),
        });
        let findings = match mode {
            CycleMode::Commit => {
                let slot = Arc::new(Mutex::new(None));
                let apply = apply_step(pass.clone(), slot.clone());
                let outcome = crate::git::run_automation(self.workspace.clone(), spec, apply).await;
                self.record_push(key, outcome, &mut report);
                slot.lock().ok().and_then(|mut findings| findings.take())
            }
            CycleMode::Plan => {
                let workspace = self.workspace.clone();
                let values = entry.values.clone();
                let template = entry.commit.message_template.clone();
                let planning = pass.clone();
                let planned = tokio::task::spawn_blocking(move || -> Result<_, String> {
                    let checkout = workspace
                        .prepare(&spec.repo, &spec.checkout)
                        .map_err(|e| e.to_string())?;
                    let findings = planning
                        .run(checkout.path(), UpdateMode::DryRun)
                        .map_err(|e| super::cycle::with_causes(&*e))?;
                    let message = planned_message(
                        spec.automation,
                        &findings.changes,
                        values,
                        template.as_ref(),
                    )?;
                    Ok((findings, message))
                })
                .await;
                match planned {
                    Ok(Ok((findings, message))) => {
                        report.diff = Some(findings.report.unified_diff());
                        report.changes = findings.changes.changes.clone();
                        report.message = message;
                        Some(findings)
                    }
                    Ok(Err(message)) => {
                        report.error = Some(message);
                        None
                    }
                    Err(error) => {
                        report.error = Some(format!("the plan task failed: {error}"));
                        None
                    }
                }
            }
        };
        if let Some(findings) = findings {
            report.held_downgrades = findings.held_downgrades();
            for held in &report.held_downgrades {
                tracing::warn!(
                    automation = %key,
                    location = %held.location,
                    container = %held.setter,
                    current = %held.current,
                    newest = %held.result,
                    "not moving a container to an older image"
                );
            }
            for image in findings.images.iter().filter(|i| i.scanned) {
                let result = if image.error.is_some() {
                    "failed"
                } else {
                    "ok"
                };
                self.metrics
                    .increment("tagpilot_scans_total", &[("result", result)]);
            }
            report.run_again_after = findings.run_again_after(announced_retry(&pass));
            report.images = findings.images;
            report.containers = findings.containers;
        }
        report
    }

    /// The `Annotations` automations whose workloads run an image of
    /// `repository` (on `host`, when it matches); each is told that `tag` was
    /// pushed, so its next run scans the image and looks the tag up at once.
    pub fn automations_for_push(
        &self,
        host: Option<&str>,
        repository: &str,
        tag: &str,
    ) -> Vec<ObjectKey> {
        let mut memory = lock(&self.annotation_memory);
        let found = memory.automations_for_push(host, repository);
        let mut keys = Vec::new();
        for (automation, image) in found {
            let active = self
                .objects
                .automations
                .get(&automation)
                .is_some_and(|e| !e.suspend);
            if active {
                memory.announce(&automation, &image, tag);
                if !keys.contains(&automation) {
                    keys.push(automation);
                }
            }
        }
        keys
    }
}

/// Runs `pass` in git's apply step, keeping the findings of the last attempt in `slot`.
pub fn apply_step<C>(
    pass: Arc<AnnotationPass<C>>,
    slot: Arc<Mutex<Option<Findings>>>,
) -> impl FnMut(&Path) -> Result<ChangeSet, ApplyError> + Send + 'static
where
    C: crate::registry::TagLister
        + crate::registry::DigestResolver
        + crate::registry::created::CreatedLookup
        + 'static,
{
    move |root| {
        // The working copy is the engine's own, reset before every run (see the setters' path).
        let findings = pass.run(root, UpdateMode::WriteInPlace)?;
        let changes = findings.changes.clone();
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(findings);
        }
        Ok(changes)
    }
}

/// The retry delay an announced but unlisted tag asks for.
pub fn announced_retry<C>(pass: &AnnotationPass<C>) -> Option<Duration> {
    lock(&pass.scanner.memory).retry_after(&pass.scanner.automation)
}

fn container_reports(
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
fn change_set(report: &AnnotationReport, automation_namespace: &str) -> ChangeSet {
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
