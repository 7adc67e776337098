//! What the engine cannot act on yet. Every field that has behaviour is
//! carried into the domain types; until the behaviour lands, an object that
//! sets one fails here with a clear "not supported yet" error (in controller
//! mode: Stalled) instead of running without it. Each check is one `if`:
//! delete it when the behaviour lands.

use super::image_repository::RepositoryEntry;
use super::source::SourceEntry;
use super::sync::SyncEntry;
use crate::api::git_repository::GitProvider;
use crate::registry::CredentialSource;

/// An ImageRepository's fields the scanner does not act on yet.
pub fn repository(entry: &RepositoryEntry) -> Result<(), String> {
    // Flux's object-level workload identity (a feature gate, off by default):
    // a cloud provider logs in as the ServiceAccount instead of the controller.
    let provider = match entry.target.credentials {
        CredentialSource::Aws => Some("aws"),
        CredentialSource::Azure => Some("azure"),
        CredentialSource::Gcp => Some("gcp"),
        _ => None,
    };
    if let (Some(provider), Some(_)) = (provider, &entry.target.service_account) {
        return Err(format!(
            "spec.serviceAccountName with provider {provider} (Flux's object-level workload identity) is not supported; remove it to log in with tagpilot's own {provider} identity"
        ));
    }
    Ok(())
}

/// A GitRepository's fields the git client does not act on yet.
pub fn source(entry: &SourceEntry) -> Result<(), String> {
    match entry.provider {
        GitProvider::Generic => {}
        GitProvider::Aws => return Err(not_yet("spec.provider: aws")),
        GitProvider::Azure => return Err(not_yet("spec.provider: azure")),
        GitProvider::Github => return Err(not_yet("spec.provider: github")),
    }
    Ok(())
}

/// A Sync's GitRepository settings the applier does not act on yet: a Sync
/// applies the repository's files as Flux's source-controller would serve
/// them, so settings that change those files (or freeze the revision) matter.
pub fn sync(_entry: &SyncEntry, source: &SourceEntry) -> Result<(), String> {
    if source.reference.branch().is_none() {
        return Err(format!(
            "spec.sourceRef: the GitRepository's spec.ref is a {}; Syncs of a {} are not supported yet",
            source.reference.kind(),
            source.reference.kind()
        ));
    }
    if source.suspend {
        return Err(
            "spec.sourceRef: the GitRepository is suspended; Syncs of a suspended GitRepository are not supported yet"
                .to_string(),
        );
    }
    if let Some(field) = source.content.fields_set().first() {
        return Err(format!(
            "spec.sourceRef: the GitRepository sets {field}, which Syncs do not support yet"
        ));
    }
    Ok(())
}

fn not_yet(what: &str) -> String {
    format!("{what} is not supported yet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageReference;
    use crate::registry::{ObjectKey, ScanTarget};

    fn entry(credentials: CredentialSource, service_account: Option<&str>) -> RepositoryEntry {
        let mut target = ScanTarget::new(
            ObjectKey::new("shop", "app"),
            ImageReference::parse("shop.azurecr.io/app").unwrap(),
        );
        target.credentials = credentials;
        target.service_account = service_account.map(|name| ObjectKey::new("shop", name));
        RepositoryEntry {
            target,
            exclusions: Default::default(),
            interval: std::time::Duration::from_secs(60),
            suspend: false,
            access_from: None,
        }
    }

    #[test]
    fn a_service_account_works_with_generic_only() {
        assert!(repository(&entry(CredentialSource::Anonymous, Some("puller"))).is_ok());
        assert!(repository(&entry(CredentialSource::Azure, None)).is_ok());
        assert!(repository(&entry(CredentialSource::Gcp, None)).is_ok());
        let error = repository(&entry(CredentialSource::Azure, Some("puller"))).unwrap_err();
        assert_eq!(
            error,
            "spec.serviceAccountName with provider azure (Flux's object-level workload identity) is not supported; remove it to log in with tagpilot's own azure identity"
        );
    }
}
