//! Shared helpers that start real servers for the integration tests, each on
//! 127.0.0.1 with a free port and a temporary directory, stopped by PID when the
//! handle is dropped. A server that cannot start fails the test with what to
//! install; nothing is skipped.

// Helpers serve tests of every area; not every test binary build uses all of them.
#![allow(dead_code)]

pub mod cloud_identity;
pub mod cluster;
pub mod cosign;
pub mod fault_proxy;
pub mod flux;
pub mod forge_api;
pub mod forge_models;
pub mod git_fixtures;
pub mod git_server;
pub mod gitea;
pub mod gpg;
pub mod images;
pub mod kube_api;
pub mod moto;
pub mod process;
pub mod proxy;
pub mod receivers;
pub mod registry;
pub mod socks;
pub mod stall_proxy;
pub mod tagpilot;
pub mod tls;
pub mod token_server;
