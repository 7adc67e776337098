//! Reading YAML files into raw objects: every `.yaml`/`.yml` file under a
//! directory, every document in each file. A raw object knows where it came from
//! (file and document index), its apiVersion, kind, name and namespace; the
//! typed conversion of each kind happens in that kind's module.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::meta::{DEFAULT_NAMESPACE, ObjectMeta};

/// Why a file or a document could not be read as an object.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{path}: not valid YAML: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A document is not an object with `apiVersion`, `kind` and `metadata.name`.
    #[error("{path} (document {document}): {message}")]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// The 1-based index among the file's non-empty documents.
        document: usize,
        /// What is missing.
        message: String,
    },
    /// An object's fields do not fit its kind.
    #[error("{origin}: {kind} {namespace}/{name}: {message}")]
    Invalid {
        /// `file (document N)`.
        origin: String,
        /// The object's kind.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The field and what is wrong with it.
        message: String,
        /// Whether the object itself is wrong or names one that is missing.
        cause: InvalidCause,
    },
}

/// Why an object is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidCause {
    /// Its own fields are wrong: only a change to it can fix it.
    Spec,
    /// It names another object (a Secret, a GitRepository, an ImageRepository)
    /// that does not exist or is itself invalid: it may become valid without
    /// being changed, once the other one appears.
    MissingReference,
}

/// One YAML document that looks like a Kubernetes object.
#[derive(Debug, Clone)]
pub struct RawObject {
    /// The file it came from.
    pub path: PathBuf,
    /// Its 1-based index among the file's non-empty documents.
    pub document: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// The whole document.
    pub value: serde_json::Value,
}

impl RawObject {
    /// The object's namespace (`default` when absent).
    pub fn namespace(&self) -> &str {
        self.metadata
            .namespace
            .as_deref()
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    /// `file (document N)`, for messages.
    pub fn origin(&self) -> String {
        format!("{} (document {})", self.path.display(), self.document)
    }

    /// A [`LoadError::Invalid`] for this object: its own fields are wrong.
    pub fn invalid(&self, message: impl std::fmt::Display) -> LoadError {
        self.invalid_because(InvalidCause::Spec, message)
    }

    /// A [`LoadError::Invalid`] for this object: it names a missing object.
    pub fn missing_reference(&self, message: impl std::fmt::Display) -> LoadError {
        self.invalid_because(InvalidCause::MissingReference, message)
    }

    fn invalid_because(&self, cause: InvalidCause, message: impl std::fmt::Display) -> LoadError {
        LoadError::Invalid {
            origin: self.origin(),
            kind: self.kind.clone(),
            namespace: self.namespace().to_string(),
            name: self.metadata.name.clone(),
            message: message.to_string(),
            cause,
        }
    }

    /// Deserializes the whole document into `T`; errors name the field path.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, LoadError> {
        serde_path_to_error::deserialize(&self.value).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if path == "." {
                self.invalid(inner)
            } else {
                self.invalid(format!("{path}: {inner}"))
            }
        })
    }
}

/// Every YAML file under `dir` (recursively, sorted, hidden entries skipped).
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| LoadError::Read {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Read {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            if file_type.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every object in one file's text. Empty documents are skipped.
pub fn parse_objects(path: &Path, text: &str) -> Result<Vec<RawObject>, Vec<LoadError>> {
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|error| {
        vec![LoadError::Yaml {
            path: path.to_path_buf(),
            message: without_snippet(&error.to_string()),
        }]
    })?;
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for (index, value) in documents.into_iter().enumerate() {
        if value.is_null() {
            continue;
        }
        match raw_object(path, index + 1, value) {
            Ok(object) => objects.push(object),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// The parser's first line (`line 8 column 9: what is wrong`), without the
/// excerpt of the file it adds below: that excerpt would copy the lines around
/// the error, a Secret's values included, into the log (invariant 7).
fn without_snippet(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn raw_object(
    path: &Path,
    document: usize,
    value: serde_json::Value,
) -> Result<RawObject, LoadError> {
    let not_an_object = |message: &str| LoadError::NotAnObject {
        path: path.to_path_buf(),
        document,
        message: message.to_string(),
    };
    let text_field = |field: &str| -> Result<String, LoadError> {
        match value.get(field) {
            Some(serde_json::Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(_) => Err(not_an_object(&format!(
                "`{field}` must be a non-empty string"
            ))),
            None => Err(not_an_object(&format!("`{field}` is missing"))),
        }
    };
    if !value.is_object() {
        return Err(not_an_object(
            "a document must be a mapping with apiVersion, kind and metadata",
        ));
    }
    let api_version = text_field("apiVersion")?;
    let kind = text_field("kind")?;
    let metadata_value = value
        .get("metadata")
        .ok_or_else(|| not_an_object("`metadata` is missing"))?;
    let metadata: ObjectMeta = serde_path_to_error::deserialize(metadata_value)
        .map_err(|error| not_an_object(&format!("metadata.{}: {}", error.path(), error.inner())))?;
    if metadata.name.is_empty() {
        return Err(not_an_object("`metadata.name` is empty"));
    }
    Ok(RawObject {
        path: path.to_path_buf(),
        document,
        api_version,
        kind,
        metadata,
        value,
    })
}

/// Reads every object under `dir`. Errors are collected, not fatal: one bad file
/// or document does not hide the others.
pub fn read_dir_objects(dir: &Path) -> (Vec<RawObject>, Vec<LoadError>) {
    let files = match yaml_files(dir) {
        Ok(files) => files,
        Err(error) => return (Vec::new(), vec![error]),
    };
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_objects(&path, &text) {
                Ok(found) => objects.extend(found),
                Err(found) => errors.extend(found),
            },
            Err(source) => errors.push(LoadError::Read { path, source }),
        }
    }
    (objects, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_document_and_names_bad_ones() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\n---\nkind: Secret\nmetadata:\n  name: b\n---\n- not\n- an object\n";
        let errors = parse_objects(Path::new("x.yaml"), text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "x.yaml (document 2): `apiVersion` is missing",
                "x.yaml (document 3): a document must be a mapping with apiVersion, kind and metadata",
            ]
        );
        let ok = parse_objects(
            Path::new("x.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: ns\n",
        )
        .unwrap();
        assert_eq!(ok[0].namespace(), "ns");
        assert_eq!(ok[0].origin(), "x.yaml (document 1)");
    }

    /// Regression: a YAML syntax error in a Secret file printed the lines
    /// around it, so the password on the line above reached stderr.
    #[test]
    fn yaml_errors_used_to_quote_the_lines_around_them_secrets_included() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: Hunter2-Secret\n   extra: [unclosed\n";
        let errors = parse_objects(Path::new("s.yaml"), text).unwrap_err();
        let message = errors[0].to_string();
        assert!(!message.contains("Hunter2"), "{message}");
        assert!(
            message.starts_with("s.yaml: not valid YAML: line 7 column 9: "),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }

    #[test]
    fn invalid_yaml_names_the_file() {
        let errors = parse_objects(Path::new("bad.yaml"), "a: [unclosed\n").unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("bad.yaml: not valid YAML"),
            "{}",
            errors[0]
        );
    }
}
