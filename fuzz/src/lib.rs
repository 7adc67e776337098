//! tagpilot's pure core, compiled from its own sources: the update engine
//! (image references, setters, scanner, rewrite), the tag policies (semver
//! ranges), the API's hub types and schemas, the config loader (YAML files
//! into objects), what registries send that is parsed without I/O
//! (challenges, token answers, `Link` headers and the page budget) with the
//! URL redaction, and the Go template interpreter (Flux commit messages).
//!
//! Depending on the `tagpilot` crate would build kube, the AWS SDK and libgit2
//! with sanitizer instrumentation on every fuzz run; these modules need none of
//! that, so the fuzz crate includes the files themselves. The module tree
//! mirrors tagpilot's, so `crate::image` and `super::results` resolve the same.

#[path = "../../src/api/mod.rs"]
pub mod api;
pub mod config;
#[path = "../../src/gotemplate/mod.rs"]
pub mod gotemplate;
#[path = "../../src/image.rs"]
pub mod image;
#[path = "../../src/policy/mod.rs"]
pub mod policy;
#[path = "../../src/redact.rs"]
pub mod redact;
pub mod registry;
#[path = "../../src/secret.rs"]
pub mod secret;
pub mod update;
