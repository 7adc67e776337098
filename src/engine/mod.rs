//! The loop both modes share: scheduling by interval, webhook and manual triggers,
//! batching policy results into one automation run per repository.

mod annotation_scan;
pub mod annotations;
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
