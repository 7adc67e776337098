//! The loop both modes share: scheduling by interval, webhook and manual triggers,
//! batching policy results into one automation run per repository.

pub mod cycle;
pub mod daemon;
mod guard;
pub mod http;
mod http_hooks;
pub mod http_server;
pub mod metrics;
pub mod objects;
mod progress;
pub mod receiver;
pub mod state;
pub mod webhook;
