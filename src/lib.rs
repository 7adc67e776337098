//! tagpilot: keeps the container image tags in a GitOps config repository current.
//!
//! The pipeline is `registry` (scan tags) → `policy` (pick the latest tag) →
//! `update` (rewrite `$imagepolicy`-marked YAML fields) → `git` (commit, push),
//! optionally followed by `apply` (server-side apply to a cluster). `engine`
//! schedules that loop for both ways of running: standalone from YAML files
//! and as a Kubernetes controller (`controller`). The objects themselves are
//! `api`'s (one hub type per kind, the source of the CRDs and of the loader's
//! input, served in tagpilot's and Flux's versions); `config` reads them and
//! validates them into the domain types of the other modules. `cli` is the
//! command line. `forge` keeps a pull request open on Gitea, GitLab or GitHub
//! for an automation that proposes its changes instead of pushing them. See
//! `docs/design.md` for the module boundaries: the core modules (`image`,
//! `policy`, `update`, `registry`, `git`, `forge`, `api`, `config`, `engine`)
//! never use `kube`.

pub mod api;
pub mod apply;
pub mod cli;
pub mod config;
pub mod controller;
pub mod engine;
pub mod forge;
pub mod git;
pub mod gotemplate;
pub mod image;
mod parallel;
pub mod policy;
pub mod redact;
pub mod registry;
pub mod secret;
pub mod update;
