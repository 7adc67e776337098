//! The Kubernetes client of `apply`, `controller` and the Syncs of `run`:
//! the kubeconfig files of `KUBECONFIG` (else `~/.kube/config`), else the
//! in-cluster service account.
//!
//! kube's own inference reports a failure as both of its attempts, each
//! naming the file again (three times for a missing file) and quoting a bad
//! file's lines as `<input>`; here each error names the file once and says
//! what is wrong with it.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::CommandError;

/// A client for the current context, or a clear error (exit 2 for a named
/// kubeconfig file that is missing or invalid, 1 when no cluster is configured).
pub async fn client() -> Result<kube::Client, CommandError> {
    let config = config().await?;
    kube::Client::try_from(config)
        .map_err(|e| CommandError::Failed(anyhow!("cannot build the Kubernetes client: {e}")))
}

async fn config() -> Result<kube::Config, CommandError> {
    let paths = kubeconfig_paths();
    if paths.is_empty() {
        return kube::Config::incluster().map_err(|error| {
            CommandError::Failed(anyhow!(
                "no cluster configured: KUBECONFIG is not set, ~/.kube/config does not exist, \
                 and this is not a pod ({error}); set KUBECONFIG to your kubeconfig file"
            ))
        });
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        let next = read(path).map_err(CommandError::InvalidInput)?;
        merged = Some(match merged {
            None => next,
            Some(previous) => previous.merge(next).map_err(|error| {
                CommandError::InvalidInput(anyhow!(
                    "kubeconfig {} cannot be merged with the files before it in KUBECONFIG: {error}",
                    path.display()
                ))
            })?,
        });
    }
    let kubeconfig = merged.unwrap_or_default();
    let files = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|error| CommandError::Failed(anyhow!("cannot use kubeconfig {files}: {error}")))
}

/// The files of `KUBECONFIG` (split like `PATH`), else `~/.kube/config` if it exists.
fn kubeconfig_paths() -> Vec<PathBuf> {
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".kube/config"))
        .filter(|path| path.exists())
        .into_iter()
        .collect()
}

/// Reads one kubeconfig file; the error names it once.
fn read(path: &Path) -> anyhow::Result<Kubeconfig> {
    // Read first to report the file system's error in our words (kube's names
    // the path again, quoted twice).
    std::fs::metadata(path)
        .and_then(|metadata| {
            if metadata.is_dir() {
                Err(std::io::Error::other("it is a directory"))
            } else {
                std::fs::File::open(path).map(drop)
            }
        })
        .map_err(|error| anyhow!("cannot read kubeconfig {}: {error}", path.display()))?;
    // `read_from` also makes the certificate paths in the file absolute.
    Kubeconfig::read_from(path).map_err(|error| match error {
        KubeconfigError::Parse(source) => {
            let message = source.to_string();
            let first = message.lines().next().unwrap_or_default();
            anyhow!(
                "kubeconfig {} is not a valid kubeconfig: {}",
                path.display(),
                first.strip_prefix("error: ").unwrap_or(first)
            )
        }
        other => anyhow!("kubeconfig {}: {other}", path.display()),
    })
}
