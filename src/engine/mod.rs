//! The loop both modes share: scheduling by interval, webhook and manual triggers,
//! batching policy results into one automation run per repository.

mod annotation_memory;
mod annotation_report;
mod annotation_scan;
pub mod annotations;
mod automation_git;
pub mod cycle;
pub mod daemon;
mod guard;
pub mod http;
pub mod http_server;
pub mod metrics;
pub mod objects;
mod progress;
pub mod state;
pub mod webhook;
