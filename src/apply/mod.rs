//! The slim applier: render a path of the config repository (plain YAML or
//! kustomize), server-side apply it to a cluster, prune what was removed.
//!
//! Data flow: [`render`] turns a directory into [`Manifest`]s → [`Applier::apply`]
//! resolves each kind through discovery, dry-runs the whole set
//! (`dryRun=All`), applies CRDs and Namespaces and waits for them, then applies
//! the rest with field manager [`FIELD_MANAGER`] → [`Applier::prune`] deletes
//! what the previous inventory had and the new set does not →
//! [`Applier::wait_healthy`] waits for rollouts. [`sync::reconcile`] does all of
//! that for one Sync and returns its next status (the function controller mode
//! calls); [`standalone::SyncRunner`] fetches sources and runs Syncs at their
//! intervals for `tagpilot run`. Only this module and `controller` use `kube`.

mod applier;
mod discovery;
mod dry_run;
mod error;
mod health;
mod object;
mod prune;
pub mod render;
pub mod standalone;
pub mod sync;

pub use applier::{
    Action, Applier, ApplyOptions, ApplyReport, ConflictPolicy, FIELD_MANAGER, ObjectResult,
};
pub use discovery::Served;
pub use error::{ApplyError, ObjectFailure};
pub use object::{Manifest, ObjectRef};
pub use prune::{INVENTORY_KEY, PruneReport};
pub use render::{RenderOptions, render};
