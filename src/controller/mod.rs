//! Controller mode: the objects as custom resources (their types and CRDs are
//! `crate::api`'s), watches, status conditions, events and leader election.
//! The only module besides `apply` that uses `kube`.
//!
//! Data flow: reflectors ([`watch`]) keep a cache of the watched kinds; on every
//! change the [`snapshot`] turns them (and the Secrets they name, read from the
//! object's namespace, with the image pull secrets of the ServiceAccounts they
//! name, [`service_accounts`]) into the same raw objects standalone mode reads from
//! files, and `engine::objects::ObjectSet::from_raw` validates them with the
//! same code. With `--flux-compat` the watched version is Flux's `v1`; an
//! object written in another version keeps that version's meaning (see
//! [`snapshot`]). Invalid
//! objects become Stalled; valid ones run through the shared `engine::cycle::Engine`
//! in the [`driver`] loop, and each object's result is written back as its
//! status ([`status`], conditions in [`conditions`]) by server-side apply under
//! one field manager. With `--leader-elect` only the holder of a
//! `coordination.k8s.io` Lease ([`lease`]) runs the loop, Syncs included
//! ([`sync`]: fetch, render and apply with `apply`, the same as standalone mode).

pub mod backoff;
pub mod conditions;
pub mod driver;
pub mod events;
pub mod flux_events;
pub mod kinds;
pub mod lease;
pub mod receivers;
pub mod scans;
pub mod service_accounts;
pub mod snapshot;
pub mod status;
pub mod sync;
pub mod sync_status;
pub mod takeover;
pub mod watch;

/// The field manager of every server-side apply tagpilot makes.
pub const FIELD_MANAGER: &str = "tagpilot";

/// The annotation that asks for a reconcile now (any new value).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.tagpilot.dev/requestedAt";

/// Flux's annotation for the same (set by `flux reconcile` and Flux's
/// Receivers), honoured in both API groups; its value is written back as
/// `status.lastHandledReconcileAt` once the reconcile is done.
pub const FLUX_REQUESTED_AT_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
