//! A registry for unit tests of the engine: the tags the test sets, a fixed
//! digest for any tag, and no signatures, platforms or creation times (no
//! policy of these tests asks for them).

/// A registry whose tags the test sets.
#[derive(Clone, Default)]
pub(crate) struct Tags(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl crate::registry::TagLister for Tags {
    async fn list_tags(
        &self,
        _target: &crate::registry::ScanTarget,
    ) -> Result<crate::registry::TagList, crate::registry::ScanError> {
        let tags = self.0.lock().map(|t| t.clone()).unwrap_or_default();
        Ok(crate::registry::TagList::complete(tags))
    }
}

impl crate::registry::inspect::ImageInspector for Tags {
    async fn signature(
        &self,
        _target: &crate::registry::ScanTarget,
        _digest: &str,
        _keys: &crate::registry::cosign::CosignKeys,
    ) -> Result<crate::registry::signatures::SignatureOutcome, crate::registry::ScanError> {
        unreachable!("no policy of these tests has requirements")
    }

    async fn platforms(
        &self,
        _target: &crate::registry::ScanTarget,
        _digest: &str,
    ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, crate::registry::ScanError> {
        unreachable!("no policy of these tests has requirements")
    }
}

impl crate::registry::DigestResolver for Tags {
    async fn manifest_digest(
        &self,
        _target: &crate::registry::ScanTarget,
        _tag: &str,
    ) -> Result<String, crate::registry::ScanError> {
        Ok(format!("sha256:{}", "0".repeat(64)))
    }
}

impl crate::registry::created::CreatedLookup for Tags {
    async fn lookup_created(
        &self,
        _target: &crate::registry::ScanTarget,
        _tag: &str,
        _store: &crate::registry::created_store::CreatedStore,
    ) -> Result<crate::registry::created::ImageCreated, crate::registry::ScanError> {
        unreachable!("no policy of these tests has requirements")
    }
}
