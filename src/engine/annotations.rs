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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;

use super::annotation_memory::lock;
pub use super::annotation_report::{ContainerReport, ContainerResult};
use super::annotation_report::{change_set, container_reports};
use super::annotation_scan::AnnotationScanner;
pub use super::annotation_scan::ImageScanReport;
use super::automation_git::planned_message;
use super::cycle::{AutomationReport, CycleMode, Engine, HeldDowngrade, Runner};
use super::objects::{AutomationEntry, SourceEntry};
use crate::config::annotation_registries::AnnotationSettings;
use crate::config::meta::ObjectKey;
use crate::git::{ApplyError, ChangeSet};
use crate::image::ImageReference;
use crate::update::UpdateMode;
use crate::update::annotations::{
    AnnotationReport, AnnotationUpdates, ContainerDecision, Outcome, apply_updates, decide,
    discover,
};
use crate::update::report::slash_path;

/// How soon an automation runs again while creation times are left to look up.
const PENDING_LOOKUPS_RETRY: Duration = Duration::from_secs(5);

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

impl<C: super::EngineClient> Runner<C> {
    /// Runs automation `key` (strategy `Annotations`) in `mode`, filling `report`.
    pub(super) async fn run_annotations(
        &self,
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
                        .map_err(|e| crate::redact::with_causes(&*e))?;
                    let message = planned_message(
                        spec.automation,
                        &findings.changes,
                        values,
                        spec.update_path.clone(),
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
}

impl<C: super::EngineClient> Engine<C> {
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
            if self.objects.is_active_automation(&automation) {
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
