//! What changed, in the commit message: before a message is rendered, each
//! updated image's OCI annotations (and those of the image the files named
//! before) are read from the registry and put in its [`ImageAbout`].
//!
//! The apply step runs on a blocking thread (libgit2), so the lookups are
//! driven on the engine's runtime from there, all at once, within
//! [`LOOKUP_BUDGET`]. They never fail a commit: an image whose details
//! cannot be read is committed without them, with a warning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::guard::AutomationInputs;
use super::objects::ObjectSet;
use crate::git::{ChangeSet, ImageAbout};
use crate::image::ImageReference;
use crate::registry::image_details::{ImageDetails, OciAnnotations};
use crate::registry::{DigestResolver, ScanTarget};

/// The longest all lookups of one commit message may take together.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(20);

/// Reads what updated images say about themselves, for one automation run.
pub(crate) struct ImageDescriber<C> {
    client: Arc<C>,
    runtime: tokio::runtime::Handle,
    /// (policy namespace, policy name) → its ImageRepository's scan target.
    targets: BTreeMap<(String, String), ScanTarget>,
}

impl<C: DigestResolver + 'static> ImageDescriber<C> {
    /// A describer for the policies of `inputs`; call from async code (it
    /// keeps the current runtime's handle).
    pub(crate) fn new(client: Arc<C>, objects: &ObjectSet, inputs: &AutomationInputs) -> Self {
        let targets = inputs
            .policies
            .values()
            .filter_map(|input| {
                let policy = objects.policies.get(&input.key)?;
                let repository = objects.repositories.get(&policy.repository)?;
                Some((
                    (input.key.namespace.clone(), input.key.name.clone()),
                    repository.target.clone(),
                ))
            })
            .collect();
        Self {
            client,
            runtime: tokio::runtime::Handle::current(),
            targets,
        }
    }

    /// Fills in each image's [`ImageAbout`]. Blocking: call it from a
    /// blocking thread (the apply step), never from async code.
    pub(crate) fn describe(&self, changes: &mut ChangeSet) {
        let olds: Vec<Option<String>> = changes
            .images
            .iter()
            .map(|image| changes.old_reference(image))
            .collect();
        let lookups = changes.images.iter().zip(&olds).map(|(image, old)| {
            let target = self
                .targets
                .get(&(image.namespace.clone(), image.policy.clone()));
            let new = image.digest.clone().unwrap_or_else(|| image.tag.clone());
            let old = old
                .as_deref()
                .and_then(|text| ImageReference::parse(text).ok())
                .filter(|old| target.is_some_and(|t| old.name() == t.image.name()))
                .and_then(|old| old.digest().or(old.tag()).map(str::to_string));
            async move {
                let Some(target) = target else {
                    return (None, None);
                };
                let (new, old) = futures::future::join(self.lookup(target, &new, false), async {
                    match &old {
                        Some(old) => self.lookup(target, old, true).await,
                        None => None,
                    }
                })
                .await;
                (new, old)
            }
        });
        let all = futures::future::join_all(lookups);
        let results = self
            .runtime
            .block_on(async { tokio::time::timeout(LOOKUP_BUDGET, all).await })
            .unwrap_or_else(|_| {
                tracing::warn!(
                    budget_s = LOOKUP_BUDGET.as_secs(),
                    "reading the images' annotations for the commit message took too long; committing without them"
                );
                vec![(None, None); changes.images.len()]
            });
        let none = OciAnnotations::default();
        for ((image, old), (new_details, old_details)) in
            changes.images.iter_mut().zip(&olds).zip(results)
        {
            let new = new_details.as_ref().map_or(&none, |d| &d.annotations);
            let old_annotations = old_details.as_ref().map(|d| &d.annotations);
            image.about = ImageAbout::new(
                new,
                old.as_deref().map(|reference| (reference, old_annotations)),
            );
        }
    }

    /// `previous`: the image the files named before, which the registry may
    /// well not hold any more (old builds get deleted): not worth a warning.
    async fn lookup(
        &self,
        target: &ScanTarget,
        reference: &str,
        previous: bool,
    ) -> Option<Arc<ImageDetails>> {
        match self.client.image_details(target, reference).await {
            Ok(details) => details,
            Err(error) if previous => {
                tracing::debug!(
                    image = %target.image.name(),
                    reference,
                    error = %crate::redact::text(&error.to_string()),
                    "cannot read the previous image's annotations for the commit message; committing without them"
                );
                None
            }
            Err(error) => {
                tracing::warn!(
                    image = %target.image.name(),
                    reference,
                    error = %crate::redact::text(&error.to_string()),
                    "cannot read the image's annotations for the commit message; committing without them"
                );
                None
            }
        }
    }
}
