//! Webhook triggers and Receiver requests: what they ask the driver to do now.

use tokio::time::Instant;

use super::super::kinds::Kind;
use super::Driver;
use crate::config::meta::ObjectKey;
use crate::engine::webhook::Trigger;

impl Driver {
    pub(super) fn webhook(&mut self, trigger: Trigger) {
        let now = Instant::now();
        match trigger {
            Trigger::Pushed(images) => {
                for image in images {
                    for key in self
                        .engine
                        .repositories_for_push(image.host.as_deref(), &image.repository)
                    {
                        tracing::info!(repository = %key, tag = %image.tag, "webhook: scanning now");
                        self.announced_tags.announce(&key, &image.tag);
                        self.scans.request(&key, now);
                    }
                    for automation in self.engine.automations_for_push(
                        image.host.as_deref(),
                        &image.repository,
                        &image.tag,
                    ) {
                        tracing::info!(automation = %automation, repository = %image.repository, tag = %image.tag, "webhook: running the automation now");
                        super::run_now(&mut self.next_run, automation, now);
                    }
                }
            }
            Trigger::Requested {
                receiver,
                resources,
                ..
            } => {
                let objects = self
                    .snapshot
                    .infos
                    .iter()
                    .map(|((kind, key), info)| (*kind, key, &info.labels));
                let targets: Vec<(Kind, ObjectKey)> = resources
                    .iter()
                    .flat_map(|resource| resource.resolve(objects.clone()))
                    .collect();
                for (kind, key) in targets {
                    tracing::info!(%receiver, kind = kind.name(), object = %key, "receiver: reconciling now");
                    self.request(kind, &key, now);
                }
            }
        }
    }

    /// Schedules `kind` `key` now (a reconcile request: annotation or Receiver).
    fn request(&mut self, kind: Kind, key: &ObjectKey, now: Instant) {
        match kind {
            Kind::ImageRepository => {
                self.scan_failures.forget(key);
                self.scans.request(key, now);
            }
            Kind::ImageUpdateAutomation => {
                self.run_failures.forget(key);
                super::run_now(&mut self.next_run, key.clone(), now);
            }
            Kind::GitRepository => {
                let objects = self.engine.objects();
                for (automation, entry) in &objects.automations {
                    if &entry.source == key {
                        super::run_now(&mut self.next_run, automation.clone(), now);
                    }
                }
                self.syncs.source_changed(objects, key);
            }
            Kind::Sync => self.syncs.request(key),
            Kind::ImagePolicy => self.evaluate_now = true,
        }
    }
}
