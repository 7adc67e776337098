//! The update engine's pure core (image references, setters, scanner, rewrite),
//! compiled from tagpilot's own sources.
//!
//! Depending on the `tagpilot` crate would build kube, the AWS SDK and libgit2
//! with sanitizer instrumentation on every fuzz run; these modules need none of
//! that, so the fuzz crate includes the files themselves. The module tree
//! mirrors tagpilot's, so `crate::image` and `super::results` resolve the same.

#[path = "../../src/image.rs"]
pub mod image;
pub mod update;
