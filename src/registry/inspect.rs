//! [`ImageInspector`]: what the engine asks the registry about one candidate
//! image when a policy has requirements beyond the tag (its signatures, its
//! platforms, its creation time). A trait, like [`super::TagLister`], so the
//! engine's unit tests can answer from memory; [`RegistryClient`] answers from
//! the registry.

use std::future::Future;

use super::client::RegistryClient;
use super::cosign::CosignKeys;
use super::created::CreatedLookup;
use super::platforms::ImagePlatform;
use super::signatures::SignatureOutcome;
use super::{ScanError, ScanTarget};

/// Facts about one image of a repository. Creation times come through [`CreatedLookup`], which the Flux v1 annotations
/// path uses on its own.
pub trait ImageInspector: CreatedLookup {
    /// Whether the image `digest` carries a signature by one of `keys`.
    fn signature(
        &self,
        target: &ScanTarget,
        digest: &str,
        keys: &CosignKeys,
    ) -> impl Future<Output = Result<SignatureOutcome, ScanError>> + Send;

    /// The platforms the image `digest` is built for.
    fn platforms(
        &self,
        target: &ScanTarget,
        digest: &str,
    ) -> impl Future<Output = Result<Vec<ImagePlatform>, ScanError>> + Send;
}

impl ImageInspector for RegistryClient {
    async fn signature(
        &self,
        target: &ScanTarget,
        digest: &str,
        keys: &CosignKeys,
    ) -> Result<SignatureOutcome, ScanError> {
        self.cosign_signature(target, digest, keys).await
    }

    async fn platforms(
        &self,
        target: &ScanTarget,
        digest: &str,
    ) -> Result<Vec<ImagePlatform>, ScanError> {
        self.image_platforms(target, digest).await
    }
}
