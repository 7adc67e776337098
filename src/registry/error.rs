//! [`ScanError`]: why a scan failed, with what to do about it, and whether
//! trying again later may help ([`ScanError::is_transient`]).
//!
//! Messages name the image and the cause and never carry a credential: URLs
//! here are registry API URLs (credentials travel in headers only).

use super::cloud::CloudError;
use super::ecr::EcrError;

/// Why listing tags (or resolving a digest) failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The Secret named by `secretRef` or `certSecretRef` does not exist.
    #[error("scanning {image}: Secret {secret} not found; create it or fix the reference")]
    SecretNotFound {
        /// The image being scanned.
        image: String,
        /// `namespace/name` of the missing Secret.
        secret: String,
    },
    /// The Secret exists but holds nothing usable.
    #[error("scanning {image}: Secret {secret} is not usable: {reason}")]
    InvalidSecret {
        /// The image being scanned.
        image: String,
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong with it (never its values).
        reason: String,
    },
    /// The target cannot be scanned as configured (e.g. `provider: aws` on a non-ECR host).
    #[error("scanning {image}: {reason}")]
    InvalidTarget {
        /// The image being scanned.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry (or its token server) refused the credentials, or none were given.
    #[error("scanning {image}: {host} answered {status}: not authorized; {hint}")]
    Unauthorized {
        /// The image being scanned.
        image: String,
        /// The host that refused.
        host: String,
        /// 401 or 403.
        status: u16,
        /// What to do, e.g. which Secret to check.
        hint: String,
    },
    /// The repository does not exist (or is hidden from these credentials).
    #[error("scanning {image}: repository not found at {host} ({detail}); check spec.image")]
    NotFound {
        /// The image being scanned.
        image: String,
        /// The registry host.
        host: String,
        /// The registry's error code and message.
        detail: String,
    },
    /// An HTTP status the scan cannot use (after retries for 5xx, 408 and 429).
    #[error("scanning {image}: {url} answered {status}{detail}")]
    Status {
        /// The image being scanned.
        image: String,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error code and message, if any (starts with ": ").
        detail: String,
    },
    /// The request could not be sent or the response not read (after retries).
    #[error("scanning {image}: request to {url} failed: {source}")]
    Transport {
        /// The image being scanned.
        image: String,
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// An HTTPS request was answered in plain HTTP: the registry does not
    /// speak TLS on that port.
    #[error(
        "scanning {image}: {host} answered an HTTPS request in plain HTTP; if the registry serves \
         plain HTTP, set `insecure: true` on the ImageRepository (on the command line: --insecure)"
    )]
    PlainHttp {
        /// The image being scanned.
        image: String,
        /// The registry's `host:port`.
        host: String,
    },
    /// The registry answered something that is not the API's JSON.
    #[error(
        "scanning {image}: {url} answered an invalid body: {reason}; the registry or a proxy in front of it is misbehaving"
    )]
    InvalidResponse {
        /// The image being scanned.
        image: String,
        /// The URL requested.
        url: String,
        /// What is wrong with the body.
        reason: String,
    },
    /// A `Link` header pointed at another host (refused: a registry must not make
    /// the scanner request arbitrary URLs).
    #[error(
        "scanning {image}: the registry's next-page link points to another host ({link_host}, not {registry_host}); refusing to follow it"
    )]
    ForeignLink {
        /// The image being scanned.
        image: String,
        /// The host the link named.
        link_host: String,
        /// The registry's host.
        registry_host: String,
    },
    /// The next-page links went in a circle.
    #[error("scanning {image}: the registry's next-page links loop back to {url}")]
    PaginationLoop {
        /// The image being scanned.
        image: String,
        /// The URL seen twice.
        url: String,
    },
    /// The scan reached a limit of its budget (pages, bytes, empty pages, wall
    /// time): what it read is not used, and the stored list is kept.
    #[error(
        "scanning {image}: stopped after {pages} pages and {tags} tags: {reason}; a partial scan changes nothing, so the previous tag list is kept"
    )]
    Budget {
        /// The image being scanned.
        image: String,
        /// Pages read.
        pages: u32,
        /// Tags read.
        tags: usize,
        /// Which limit, and its value.
        reason: String,
        /// Whether a later try may succeed (the time limit: a slow registry).
        transient: bool,
    },
    /// The token server did not give a token.
    #[error("scanning {image}: token request to {realm} failed: {reason}")]
    Token {
        /// The image being scanned.
        image: String,
        /// The token server URL (without query).
        realm: String,
        /// What went wrong.
        reason: String,
        /// Whether a later try may succeed (the server answered 5xx or was unreachable).
        transient: bool,
    },
    /// An ECR authorization token could not be obtained.
    #[error("scanning {image}: {source}")]
    Ecr {
        /// The image being scanned.
        image: String,
        /// Why.
        #[source]
        source: EcrError,
    },
    /// `provider: azure` or `gcp` got no registry credentials from the cloud identity.
    #[error("scanning {image}: provider {provider}: {source}")]
    Cloud {
        /// The image being scanned.
        image: String,
        /// `azure` or `gcp`.
        provider: &'static str,
        /// Why.
        #[source]
        source: Box<CloudError>,
    },
    /// The proxy of `proxySecretRef` cannot be used, or refused the request.
    #[error("scanning {image}: the proxy from Secret {secret}: {reason}")]
    Proxy {
        /// The image being scanned.
        image: String,
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong (never a credential).
        reason: String,
    },
    /// The CA or client certificate from `certSecretRef` cannot be used.
    #[error("scanning {image}: TLS settings from Secret {secret}: {reason}")]
    Tls {
        /// The image being scanned.
        image: String,
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong.
        reason: String,
    },
}

impl ScanError {
    /// Whether trying again later may succeed (the registry was unavailable,
    /// rate-limited us, or the connection failed). Permanent errors need a change
    /// of configuration, credentials or registry.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::Transport { .. } => true,
            Self::Token { transient, .. } | Self::Budget { transient, .. } => *transient,
            Self::Ecr { source, .. } => source.is_transient(),
            Self::Cloud { source, .. } => source.is_transient(),
            Self::SecretNotFound { .. }
            | Self::InvalidSecret { .. }
            | Self::InvalidTarget { .. }
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::InvalidResponse { .. }
            | Self::ForeignLink { .. }
            | Self::PaginationLoop { .. }
            | Self::PlainHttp { .. }
            | Self::Proxy { .. }
            | Self::Tls { .. } => false,
        }
    }
}

/// Whether `error` is a TLS handshake that got a plain HTTP answer: rustls
/// reads the server's `HTTP/1.1 400` as a record of an invalid content type.
/// The rustls error sits inside `io::Error`s, whose `source()` skips the
/// wrapped error, so each is opened with `get_ref()`.
pub(crate) fn is_plain_http_answer(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(mut current) = cause {
        while let Some(inner) = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            current = inner;
        }
        if matches!(
            current.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        ) {
            return true;
        }
        cause = current.source();
    }
    false
}
