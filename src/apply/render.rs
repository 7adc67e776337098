//! Rendering a path into manifests: a directory with a `kustomization.yaml`
//! (`.yml`, `Kustomization`) is built by an external kustomize (`kustomize
//! build DIR`, else `kubectl kustomize DIR`); any other directory is read as
//! plain YAML, every `.yaml`/`.yml` file recursively (hidden entries skipped),
//! and documents that are not Kubernetes objects are skipped with a warning.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::ApplyError;
use super::object::Manifest;

/// The file names that make a directory a kustomization.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// How to render: which kustomize to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The kustomize binary (`kustomize` by default); `kubectl kustomize` is
    /// used when it is not on PATH.
    pub kustomize: String,
    /// When set, the path and every file read must resolve (symlinks followed)
    /// inside this directory (a repository's root: invariant 8).
    pub confine_to: Option<PathBuf>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            kustomize: "kustomize".to_string(),
            confine_to: None,
        }
    }
}

/// Fails when `path` resolves outside `root` (both resolved, symlinks followed).
fn check_confined(path: &Path, root: &Path) -> Result<(), ApplyError> {
    let resolve = |p: &Path| {
        p.canonicalize().map_err(|source| ApplyError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let (resolved, root) = (resolve(path)?, resolve(root)?);
    if resolved.starts_with(&root) {
        Ok(())
    } else {
        Err(ApplyError::InvalidManifest {
            origin: path.display().to_string(),
            message: "leads outside the repository (through a symlink); refusing to read it"
                .to_string(),
        })
    }
}

/// Renders `path` (a directory, or one YAML file) into manifests, in file and document order.
/// Blocks (reads files, may run kustomize); call it from a blocking task.
pub fn render(path: &Path, options: &RenderOptions) -> Result<Vec<Manifest>, ApplyError> {
    if let Some(root) = &options.confine_to
        && path.exists()
    {
        check_confined(path, root)?;
    }
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|source| ApplyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        return parse_documents(&text, &path.display().to_string());
    }
    if !path.is_dir() {
        return Err(ApplyError::NoSuchPath {
            path: path.to_path_buf(),
        });
    }
    if KUSTOMIZATION_FILES
        .iter()
        .any(|name| path.join(name).is_file())
    {
        let (command, text) = kustomize_build(path, options)?;
        return parse_documents(&text, &command);
    }
    let files = crate::config::load::yaml_files(path).map_err(|error| match error {
        crate::config::load::LoadError::Read { path, source } => ApplyError::Read { path, source },
        other => ApplyError::InvalidManifest {
            origin: path.display().to_string(),
            message: other.to_string(),
        },
    })?;
    let mut manifests = Vec::new();
    for file in files {
        if let Some(root) = &options.confine_to {
            check_confined(&file, root)?;
        }
        let text = std::fs::read_to_string(&file).map_err(|source| ApplyError::Read {
            path: file.clone(),
            source,
        })?;
        let shown = file
            .strip_prefix(path)
            .unwrap_or(&file)
            .display()
            .to_string();
        manifests.extend(parse_documents(&text, &shown)?);
    }
    Ok(manifests)
}

/// Runs kustomize on `dir`; returns the command as shown to users and its output.
fn kustomize_build(dir: &Path, options: &RenderOptions) -> Result<(String, String), ApplyError> {
    let candidates: [(PathBuf, Vec<&str>); 2] = [
        (PathBuf::from(&options.kustomize), vec!["build"]),
        (PathBuf::from("kubectl"), vec!["kustomize"]),
    ];
    for (binary, args) in candidates {
        let mut command = Command::new(&binary);
        command.args(&args).arg(dir);
        let shown = format!("{} {} {}", binary.display(), args.join(" "), dir.display());
        match command.output() {
            Ok(output) if output.status.success() => {
                let text = String::from_utf8(output.stdout).map_err(|_| ApplyError::Kustomize {
                    path: dir.to_path_buf(),
                    command: shown.clone(),
                    stderr: "the output is not UTF-8".to_string(),
                })?;
                return Ok((shown, text));
            }
            Ok(output) => {
                return Err(ApplyError::Kustomize {
                    path: dir.to_path_buf(),
                    command: shown,
                    stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(ApplyError::Kustomize {
                    path: dir.to_path_buf(),
                    command: shown,
                    stderr: error.to_string(),
                });
            }
        }
    }
    Err(ApplyError::KustomizeNotFound {
        path: dir.to_path_buf(),
        binary: options.kustomize.clone(),
    })
}

/// Splits a YAML stream into objects; documents without `apiVersion`, `kind`
/// and `metadata.name` are skipped with a warning, invalid YAML is an error.
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Manifest>, ApplyError> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|error| ApplyError::InvalidManifest {
            origin: source.to_string(),
            message: format!("not valid YAML: {error}"),
        })?;
    let mut manifests = Vec::new();
    for (index, value) in documents.into_iter().enumerate() {
        let origin = format!("{source} (document {})", index + 1);
        if value.is_null() {
            continue;
        }
        let looks_like_object = value.get("apiVersion").and_then(|v| v.as_str()).is_some()
            && value.get("kind").and_then(|v| v.as_str()).is_some()
            && value
                .pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .is_some_and(|name| !name.is_empty());
        if !looks_like_object {
            tracing::warn!(%origin, "skipping a document that is not a Kubernetes object (apiVersion, kind, metadata.name)");
            continue;
        }
        if value.get("kind").and_then(|v| v.as_str()) == Some("List") {
            let items = value
                .get("items")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            manifests.extend(items.into_iter().map(|item| Manifest {
                origin: origin.clone(),
                value: item,
            }));
            continue;
        }
        manifests.push(Manifest { origin, value });
    }
    Ok(manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_yaml_skips_non_objects_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\nsome: values\n---\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b/c.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let manifests = render(dir.path(), &RenderOptions::default()).unwrap();
        let names: Vec<&str> = manifests
            .iter()
            .map(|m| m.value["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(manifests[0].origin, "a.yaml (document 1)");
        let single = render(&dir.path().join("b/c.yml"), &RenderOptions::default()).unwrap();
        assert_eq!(single.len(), 1, "one file renders too");
    }

    #[test]
    fn symlinks_out_of_the_repository_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("secret.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n",
        )
        .unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("deploy")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            repo.path().join("deploy/link.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.path().join("elsewhere")).unwrap();
        let options = RenderOptions {
            confine_to: Some(repo.path().to_path_buf()),
            ..RenderOptions::default()
        };
        for path in ["deploy", "elsewhere"] {
            let error = render(&repo.path().join(path), &options).unwrap_err();
            assert!(
                error.to_string().contains("outside the repository"),
                "{error}"
            );
        }
    }

    #[test]
    fn invalid_yaml_names_the_file() {
        let error = parse_documents("a: [unclosed\n", "apps/bad.yaml").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("apps/bad.yaml: not valid YAML"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_kustomize_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
        let options = RenderOptions {
            kustomize: "/nonexistent/kustomize".to_string(),
            confine_to: None,
        };
        match kustomize_build(dir.path(), &options) {
            // kubectl is on this machine: the fallback renders the empty kustomization.
            Ok((command, _)) => assert!(command.starts_with("kubectl kustomize"), "{command}"),
            Err(error) => assert!(
                matches!(error, ApplyError::KustomizeNotFound { .. }),
                "{error}"
            ),
        }
    }
}
