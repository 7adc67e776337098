//! tagpilot's integration tests: one binary, a module per area, shared helpers
//! in `harness` that start the real servers (registries, git over ssh and http,
//! the ECR API).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod annotations;
mod annotations_engine;
mod apply;
mod apply_sync;
mod bad_input;
mod cli;
mod controller;
mod controller_annotations;
mod controller_bad_input;
mod controller_errors;
mod controller_events;
mod controller_flux;
mod controller_flux_cli;
mod controller_flux_corpus;
mod controller_flux_takeover;
mod controller_leader;
mod controller_pull_request;
mod controller_pull_secrets;
mod controller_rbac;
mod controller_schema;
mod controller_secrets;
mod controller_sync;
mod controller_templates;
mod controller_triggers;
mod daemon_output;
mod engine;
mod engine_flux_git;
mod engine_output;
mod engine_races;
mod engine_webhook;
mod faults;
mod forge_apis;
mod forge_apis_cli;
mod forge_gitea;
mod git;
mod git_checkout;
mod git_network;
mod git_push_options;
mod git_signing;
#[path = "../common/go_programs.rs"]
mod go_programs;
mod hardening_git;
mod hardening_listen;
mod hardening_registry;
mod hardening_update;
mod harness;
mod json_output;
mod migrate_cli;
mod receivers;
mod registry;
mod registry_cli;
mod registry_cloud;
mod registry_faults;
mod registry_proxy;
mod requirements;
mod secrets;
mod smoke;
mod templates;
mod templates_flux;
mod templates_oci;
mod update_cli;
mod verify;
