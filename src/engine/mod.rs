//! The loop both modes share: scheduling by interval, webhook and manual triggers,
//! batching policy results into one automation run per repository.

mod annotation_memory;
mod annotation_report;
mod annotation_scan;
pub mod annotations;
mod automation_git;
pub mod cycle;
pub mod daemon;
pub mod eligibility;
mod guard;
pub mod http;
mod http_hooks;
pub mod http_server;
mod image_details;
pub mod metrics;
pub mod objects;
mod progress;
pub mod pull_request;
pub mod receiver;
pub mod runs;
pub mod state;
#[cfg(test)]
mod test_tags;
pub mod webhook;

/// What the engine asks the registry, in one bound: tag lists, digests, and
/// facts about an image (signatures, platforms, creation time). The
/// [`crate::registry::RegistryClient`] in production, fakes in unit tests.
pub trait EngineClient:
    crate::registry::TagLister
    + crate::registry::DigestResolver
    + crate::registry::inspect::ImageInspector
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<C> EngineClient for C where
    C: crate::registry::TagLister
        + crate::registry::DigestResolver
        + crate::registry::inspect::ImageInspector
        + Clone
        + Send
        + Sync
        + 'static
{
}
