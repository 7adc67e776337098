//! Why rendering, applying, pruning or waiting failed.

use std::path::PathBuf;

use super::object::ObjectRef;

/// One object the API server refused, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The object.
    pub object: ObjectRef,
    /// The API server's message (or ours).
    pub message: String,
}

impl std::fmt::Display for ObjectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

/// What went wrong in the applier.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The path to render does not exist.
    #[error("{}: no such file or directory of manifests", path.display())]
    NoSuchPath {
        /// The path.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The path has a kustomization but no kustomize was found.
    #[error(
        "{} has a kustomization, but neither `{binary}` nor `kubectl` (which has kustomize built in) is on PATH; install one or pass --kustomize BIN",
        path.display()
    )]
    KustomizeNotFound {
        /// The kustomization directory.
        path: PathBuf,
        /// The kustomize binary looked for.
        binary: String,
    },
    /// kustomize ran and failed (its stderr says why).
    #[error("rendering {} with {command} failed: {stderr}", path.display())]
    Kustomize {
        /// The kustomization directory.
        path: PathBuf,
        /// The command that ran.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A manifest is not a Kubernetes object, or its YAML is invalid.
    #[error("{origin}: {message}")]
    InvalidManifest {
        /// `file (document N)`.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The server dry run refused objects: nothing of the set was changed
    /// (except CRDs and Namespaces, when `after_definitions` says so).
    #[error("{} refused by the server, nothing applied{}: {}", count(.failures), if *.after_definitions { " beyond CRDs and Namespaces" } else { "" }, join(.failures))]
    Rejected {
        /// The refused objects.
        failures: Vec<ObjectFailure>,
        /// Whether CRDs and Namespaces of the set had been applied first.
        after_definitions: bool,
    },
    /// Applying objects failed after the dry run passed (some objects may be applied).
    #[error("{} failed to apply: {}", count(.failures), join(.failures))]
    Failed {
        /// The objects that failed.
        failures: Vec<ObjectFailure>,
    },
    /// CRDs or Namespaces did not become Established/Active in time.
    #[error("timed out waiting for {what}")]
    DefinitionTimeout {
        /// What was waited for.
        what: String,
    },
    /// The API server could not be reached or answered an error outside any one object.
    #[error("{action}: {}", kube_message(.source))]
    Kube {
        /// What was being done.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The inventory ConfigMap holds something that is not an inventory.
    #[error("inventory {name}: {message}")]
    Inventory {
        /// The ConfigMap's `namespace/name`.
        name: String,
        /// What is wrong.
        message: String,
    },
}

fn count(failures: &[ObjectFailure]) -> String {
    match failures.len() {
        1 => "1 object".to_string(),
        n => format!("{n} objects"),
    }
}

fn join(failures: &[ObjectFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApplyError {
    /// Whether retrying the same input later may succeed (network, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { source, .. } => is_transient_kube(source),
            Self::DefinitionTimeout { .. } | Self::Failed { .. } => true,
            _ => false,
        }
    }

    /// Whether the input (manifests, flags) is at fault rather than the cluster.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::NoSuchPath { .. }
                | Self::Kustomize { .. }
                | Self::InvalidManifest { .. }
                | Self::Rejected { .. }
        )
    }
}

/// Whether a kube client error is worth retrying.
pub(crate) fn is_transient_kube(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The server's message of a kube error (the status message for API errors).
pub(crate) fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
