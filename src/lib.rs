//! tagpilot: keeps the container image tags in a GitOps config repository current.
//!
//! The pipeline is `registry` (scan tags) → `policy` (pick the latest tag) →
//! `update` (rewrite `$imagepolicy`-marked YAML fields) → `git` (commit, push),
//! optionally followed by `apply` (server-side apply to a cluster). `engine`
//! schedules that loop for both ways of running: standalone from YAML files
//! (`config`) and as a Kubernetes controller (`controller`). `cli` is the
//! command line. See `DESIGN.md` for the module boundaries: the core modules
//! (`image`, `policy`, `update`, `registry`, `git`, `config`, `engine`) never
//! use `kube`.

pub mod api;
pub mod apply;
pub mod cli;
pub mod config;
pub mod controller;
pub mod engine;
pub mod git;
pub mod image;
pub mod policy;
pub mod registry;
pub mod secret;
pub mod update;
