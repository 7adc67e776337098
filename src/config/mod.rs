//! From objects to domain types: reading YAML files into raw objects
//! ([`load`]), and validating each kind's hub object ([`crate::api`]) once
//! into the domain type the engine runs on (parse, don't validate twice):
//! ImageRepository → [`image_repository::RepositoryEntry`] (a registry
//! `ScanTarget`), ImagePolicy → [`policy_entry::PolicyEntry`] (a `Policy`),
//! GitRepository → [`source::SourceEntry`], ImageUpdateAutomation →
//! [`automation::AutomationEntry`] (git's checkout, commit and push specs;
//! strategy `Annotations` scans by [`annotation_registries`]),
//! Sync → [`sync::SyncEntry`], Secrets → [`secrets::SecretSet`]. Both modes
//! use it: standalone from files, the controller from the API server.
//! [`support`] lists what is carried but cannot run yet.

pub mod annotation_registries;
pub mod automation;
pub mod image_policy;
pub mod image_repository;
pub mod load;
pub mod meta;
pub mod policy_entry;
mod pull_request;
pub mod secrets;
pub mod source;
pub mod support;
pub mod sync;

#[cfg(test)]
mod flux_corpus_tests;
