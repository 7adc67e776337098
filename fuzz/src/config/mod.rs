//! Mirror of `tagpilot::config` (the loader and the kinds that need no registry
//! or git types: ImagePolicy, GitRepository, ImageUpdateAutomation).

#[path = "../../../src/config/automation.rs"]
pub mod automation;
#[path = "../../../src/config/image_policy.rs"]
pub mod image_policy;
#[path = "../../../src/config/load.rs"]
pub mod load;
#[path = "../../../src/config/meta.rs"]
pub mod meta;
#[path = "../../../src/config/source.rs"]
pub mod source;
