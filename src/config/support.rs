//! What the engine cannot act on yet. Every field that has behaviour is
//! carried into the domain types; until the behaviour lands, an object that
//! sets one fails here with a clear "not supported yet" error (in controller
//! mode: Stalled) instead of running without it. Each check is one `if`:
//! delete it when the behaviour lands.

use super::automation::AutomationEntry;
use super::image_repository::RepositoryEntry;
use super::source::SourceEntry;
use super::sync::SyncEntry;
use crate::api::git_repository::GitProvider;
use crate::git::{MessageTemplate, validate_template};
use crate::registry::CredentialSource;

/// An ImageRepository's fields the scanner does not act on yet.
pub fn repository(entry: &RepositoryEntry) -> Result<(), String> {
    match entry.target.credentials {
        CredentialSource::Azure => return Err(not_yet("spec.provider: azure")),
        CredentialSource::Gcp => return Err(not_yet("spec.provider: gcp")),
        _ => {}
    }
    if entry.target.proxy_secret.is_some() {
        return Err(not_yet("spec.proxySecretRef"));
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

/// An automation's fields (and its GitRepository's) the git module does not act on yet.
pub fn automation(entry: &AutomationEntry) -> Result<(), String> {
    // Until the Go template engine is wired in, a Flux template is rendered as
    // Handlebars (as before it was recorded as Flux's), so it must parse as one.
    if let Some(MessageTemplate::Flux {
        source: Some(source),
        ..
    }) = &entry.commit.message_template
    {
        validate_template(source).map_err(|e| format!("spec.git.commit.messageTemplate: {e}"))?;
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
