//! What can go wrong talking to a forge. Every message names the forge, the
//! request (method and path, never the query or a header) and, when the forge
//! answered, the HTTP status and the forge's own short message; none holds the
//! token (the client never puts it in a URL, and answers are cut and redacted).

use super::ForgeKind;

/// Why a pull request could not be found, opened, updated or closed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered with a status that is not the documented success.
    #[error(
        "{forge} API: {method} {path} answered HTTP {status}{}",
        detail_suffix(detail)
    )]
    Status {
        /// Which forge.
        forge: ForgeKind,
        /// The HTTP method.
        method: &'static str,
        /// The URL path (no query).
        path: String,
        /// The HTTP status.
        status: u16,
        /// The forge's message (its JSON `message`/`error`), shortened.
        detail: Option<String>,
    },
    /// The request could not be sent or its answer not read (after retries).
    #[error("{forge} API: {method} {path}: {reason}")]
    Transport {
        /// Which forge.
        forge: ForgeKind,
        /// The HTTP method.
        method: &'static str,
        /// The URL path (no query).
        path: String,
        /// What failed (connection refused, timeout, ...), redacted.
        reason: String,
    },
    /// The answer was not the JSON the API documents.
    #[error("{forge} API: {method} {path}: unexpected answer ({reason})")]
    Decode {
        /// Which forge.
        forge: ForgeKind,
        /// The HTTP method.
        method: &'static str,
        /// The URL path (no query).
        path: String,
        /// What did not parse.
        reason: String,
    },
    /// Listing open pull requests went past the page budget.
    #[error(
        "{forge} API: more than {pages} pages of open pull requests to {base}; cannot tell whether one is tagpilot's"
    )]
    TooManyPages {
        /// Which forge.
        forge: ForgeKind,
        /// The target branch.
        base: String,
        /// The pages read.
        pages: u32,
    },
    /// The whole reconciliation took longer than its budget.
    #[error("{forge} API: no answer within {seconds} s")]
    Timeout {
        /// Which forge.
        forge: ForgeKind,
        /// The budget.
        seconds: u64,
    },
    /// The HTTP client could not be built (a bad CA certificate).
    #[error("{forge} API: cannot build the HTTP client: {reason}")]
    Client {
        /// Which forge.
        forge: ForgeKind,
        /// Why.
        reason: String,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl ForgeError {
    /// Whether trying again later may succeed (the forge was down, slow or
    /// rate-limiting), as opposed to a refusal that needs a person (a bad
    /// token, a missing repository, a protected branch).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => crate::registry::transport::is_retryable_status(*status),
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Decode { .. } | Self::TooManyPages { .. } | Self::Client { .. } => false,
        }
    }

    /// The HTTP status, when the forge answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_forge_the_request_and_the_status() {
        let error = ForgeError::Status {
            forge: ForgeKind::GitLab,
            method: "PUT",
            path: "/api/v4/projects/team%2Fconfig/merge_requests/4".into(),
            status: 403,
            detail: Some("403 Forbidden".into()),
        };
        assert_eq!(
            error.to_string(),
            "GitLab API: PUT /api/v4/projects/team%2Fconfig/merge_requests/4 answered HTTP 403: 403 Forbidden"
        );
        assert!(!error.is_transient());
        let busy = ForgeError::Status {
            forge: ForgeKind::GitHub,
            method: "GET",
            path: "/repos/acme/config/pulls".into(),
            status: 502,
            detail: None,
        };
        assert_eq!(
            busy.to_string(),
            "GitHub API: GET /repos/acme/config/pulls answered HTTP 502"
        );
        assert!(busy.is_transient());
    }
}
