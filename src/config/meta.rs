//! Pieces every kind's validation shares: object keys, durations (from
//! [`crate::api::meta`]) and paths inside the repository.

use std::path::{Component, Path, PathBuf};

pub use crate::api::meta::{
    DEFAULT_NAMESPACE, DurationError, GoDuration, LocalObjectReference, ObjectMeta,
};
pub use crate::api::version::TAGPILOT_API;
pub use crate::registry::ObjectKey;

/// The `namespace/name` key of an object.
pub fn object_key(metadata: &ObjectMeta) -> ObjectKey {
    ObjectKey::new(metadata.namespace(), &metadata.name)
}

/// A path from an object (`spec.update.path`, a Sync's `spec.path`) as a
/// clean path relative to the repository root: `.` components dropped, `..`
/// and absolute paths refused (invariant 8).
pub fn repository_path(path: &str) -> Result<PathBuf, String> {
    let mut clean = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{path:?} leads outside the repository; give a path relative to its root"
                ));
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_paths_stay_inside_the_repository() {
        assert_eq!(
            repository_path("./overlays/prod").unwrap(),
            PathBuf::from("overlays/prod")
        );
        assert_eq!(repository_path(".").unwrap(), PathBuf::new());
        for bad in ["../..", "/etc", "a/../../b"] {
            assert!(repository_path(bad).is_err(), "{bad}");
        }
    }
}
