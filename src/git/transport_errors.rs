//! Turning a failed fetch or push into the [`GitError`] that says why: what
//! a callback recorded, the guard's view (the timeout passed, the proxy
//! refused, the origin could not be reached, a redirect was refused), else
//! libgit2's error classified.

use std::time::Duration;

use git2::{ErrorClass, ErrorCode};

use super::Transport;
use crate::git::error::GitError;
use crate::git::origin_guard::OriginGuard;

impl Transport {
    /// The error for a failed fetch or push of `reference` (`branch "main"`):
    /// what a callback recorded, else libgit2's error classified.
    pub fn remote_error(
        &self,
        operation: &'static str,
        reference: &str,
        error: git2::Error,
    ) -> GitError {
        let expired = self
            .guard
            .borrow()
            .as_ref()
            .is_some_and(OriginGuard::expired);
        if expired {
            self.failure.borrow_mut().take();
            return GitError::Timeout {
                operation,
                reference: reference.to_string(),
                url: self.url.redacted.clone(),
                timeout: go_duration(self.timeout),
            };
        }
        if let Some(failure) = self.failure.borrow_mut().take() {
            return failure;
        }
        let proxy_failure = self
            .guard
            .borrow()
            .as_ref()
            .and_then(OriginGuard::proxy_failure);
        if let (Some(reason), Some(proxy)) = (proxy_failure, &self.proxy_display) {
            return GitError::Proxy {
                url: self.url.redacted.clone(),
                proxy: proxy.clone(),
                reason,
            };
        }
        // libgit2 only saw the guard close; the guard knows why.
        let connect_failure = self
            .guard
            .borrow()
            .as_ref()
            .and_then(OriginGuard::connect_failure);
        if let Some(reason) = connect_failure {
            return GitError::Remote {
                operation,
                url: self.url.redacted.clone(),
                reference: reference.to_string(),
                source: git2::Error::from_str(&reason),
            };
        }
        // A failed http(s) operation may be the guard's refusal reaching
        // libgit2 as a garbled answer on a reused connection; the guard records
        // it a moment later at most.
        let settle = if error.class() == ErrorClass::Http || error.class() == ErrorClass::Net {
            std::time::Duration::from_secs(1)
        } else {
            std::time::Duration::ZERO
        };
        let refused = self
            .guard
            .borrow()
            .as_ref()
            .and_then(|guard| guard.refused_within(settle));
        if let (Some(origin), Some(refused)) = (&self.origin, refused) {
            return GitError::Redirected {
                url: self.url.redacted.clone(),
                to: refused.to_string(),
                origin: origin.to_string(),
            };
        }
        if let Some(to) = refused_redirect(error.message()) {
            return GitError::Redirected {
                url: self.url.redacted.clone(),
                to,
                origin: self
                    .origin
                    .as_ref()
                    .map_or_else(|| self.url.host.clone(), ToString::to_string),
            };
        }
        if error.code() == ErrorCode::Auth {
            return self.authentication_error("the server refused the credentials");
        }
        if error.code() == ErrorCode::Certificate || error.class() == ErrorClass::Ssl {
            return GitError::UntrustedCertificate {
                url: self.url.redacted.clone(),
                reason: error.message().to_string(),
            };
        }
        GitError::Remote {
            operation,
            url: self.url.redacted.clone(),
            reference: reference.to_string(),
            source: error,
        }
    }
}

/// A duration as Go (and so Flux's `timeout`) writes it: `1m30s`, `45s`, `1.5s`.
pub(super) fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{}s", duration.as_secs_f64());
    }
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// The target of a redirect libgit2 refused itself (`cannot redirect from 'a' to 'b'`).
pub(super) fn refused_redirect(message: &str) -> Option<String> {
    let rest = message.split("cannot redirect from ").nth(1)?;
    let target = rest.split(" to ").nth(1)?;
    Some(crate::redact::text(target.trim().trim_matches('\'')).into_owned())
}
