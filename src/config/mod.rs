//! Objects from YAML files (standalone mode): ImageRepository, ImagePolicy,
//! GitRepository, ImageUpdateAutomation, Sync and Secrets, accepted with our own
//! apiVersion or Flux's, validated once into domain types.

pub mod automation;
pub mod image_policy;
pub mod image_repository;
pub mod load;
pub mod meta;
pub mod secrets;
pub mod source;
pub mod sync;
