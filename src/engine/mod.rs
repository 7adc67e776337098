//! The loop both modes share: scheduling by interval, webhook and manual triggers,
//! batching policy results into one automation run per repository.

pub mod cycle;
pub mod daemon;
pub mod eligibility;
mod guard;
pub mod http;
pub mod http_server;
mod image_details;
pub mod metrics;
pub mod objects;
mod progress;
pub mod pull_request;
pub mod state;
pub mod webhook;
