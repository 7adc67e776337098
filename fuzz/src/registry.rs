//! The one item of `tagpilot::registry` the config loader names: `ObjectKey`
//! (the same fields, constructor and `Display` as `src/registry/mod.rs`), and
//! the registry's pure parsers, compiled from their own sources.

use std::fmt;

#[path = "../../src/registry/challenge.rs"]
pub mod challenge;
#[path = "../../src/registry/pagination.rs"]
pub mod pagination;
#[path = "../../src/registry/token.rs"]
pub mod token;

/// The namespace and name of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// A key from a namespace and a name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
