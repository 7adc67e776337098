//! Mirror of `tagpilot::config` (the loader, and the ImagePolicy validation,
//! which needs no registry or git types).

#[path = "../../../src/config/image_policy.rs"]
pub mod image_policy;
#[path = "../../../src/config/load.rs"]
pub mod load;
#[path = "../../../src/config/meta.rs"]
pub mod meta;
