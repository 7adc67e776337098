//! Reading YAML files into raw objects: every `.yaml`/`.yml` file under a
//! directory, every document in each file. A raw object knows where it came from
//! (file and document index), its apiVersion, kind, name and namespace; it is
//! read into its kind's hub type by [`RawObject::decode`] (see [`crate::api`]),
//! and validated into a domain type by that kind's module.
//!
//! Each document of a file is parsed on its own, so a YAML error in one
//! document is reported with the others' errors and does not hide them.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::meta::{DEFAULT_NAMESPACE, ObjectMeta};
use crate::api::{ApiObject, ApiSpec, ApiVersion};

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

/// Why an object cannot be validated, before it is tied to its file: what
/// each kind's validation returns ([`RawObject::reject`] adds the origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Whether the object itself is wrong or names one that is missing.
    pub cause: InvalidCause,
    /// The field and what is wrong with it.
    pub message: String,
}

impl Invalid {
    /// The object's own fields are wrong.
    pub fn spec(message: impl std::fmt::Display) -> Self {
        Self {
            cause: InvalidCause::Spec,
            message: message.to_string(),
        }
    }

    /// The object names one that does not exist (or is itself invalid).
    pub fn missing(message: impl std::fmt::Display) -> Self {
        Self {
            cause: InvalidCause::MissingReference,
            message: message.to_string(),
        }
    }
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
    /// The version the object was written in, when it differs from
    /// `api_version` (the controller reads every object as the version it
    /// watches); `None` in files.
    pub written_in: Option<ApiVersion>,
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

    /// A [`LoadError::Invalid`] for this object from a validation's [`Invalid`].
    pub fn reject(&self, invalid: Invalid) -> LoadError {
        self.invalid_because(invalid.cause, invalid.message)
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

    /// Reads the object into its kind's hub type: every field checked against
    /// its apiVersion's schema, that version's defaults applied. Errors name
    /// the fields (all of them) and the version.
    pub fn decode<S: ApiSpec>(&self) -> Result<ApiObject<S>, LoadError> {
        crate::api::decode(&self.value, self.written_in).map_err(|error| self.invalid(error))
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

/// Reads every object in one file's text, or every error if any document is
/// bad (see [`read_objects`] for both at once).
pub fn parse_objects(path: &Path, text: &str) -> Result<Vec<RawObject>, Vec<LoadError>> {
    let (objects, errors) = read_objects(path, text);
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// Reads every object in one file's text: the good documents' objects and
/// one error per bad document (a YAML error in one document hides neither
/// the others nor their errors). Empty documents are skipped.
pub fn read_objects(path: &Path, text: &str) -> (Vec<RawObject>, Vec<LoadError>) {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let mut document = 0;
    for (first_line, chunk) in split_documents(text) {
        // Parsed after as many blank lines as precede it, so that the parser's
        // line numbers are the file's.
        let padded = format!("{}{chunk}", "\n".repeat(first_line));
        let value: serde_json::Value = match serde_saphyr::from_str(&padded) {
            Ok(value) => value,
            Err(error) => {
                document += 1;
                errors.push(LoadError::Yaml {
                    path: path.to_path_buf(),
                    message: without_snippet(&error.to_string()),
                });
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        document += 1;
        match raw_object(path, document, value) {
            Ok(object) => objects.push(object),
            Err(error) => errors.push(error),
        }
    }
    (objects, errors)
}

/// The documents of a YAML stream: each with the 0-based line it starts on.
/// A line starting with `---` or `...` (followed by a blank or nothing) ends a
/// document wherever it appears (YAML 1.2, 9.1.2), so each piece parses alone.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let marker = |prefix: &str| {
            line.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
        };
        if marker("---") || marker("...") {
            if offset > start {
                documents.push((start_line, &text[start..offset]));
            }
            // `...` ends a document; `---` starts one (and may carry content).
            if marker("...") {
                start = offset + line.len();
                start_line = index + 1;
            } else {
                start = offset;
                start_line = index;
            }
        }
        offset += line.len();
    }
    if text.len() > start {
        documents.push((start_line, &text[start..]));
    }
    documents
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
        written_in: None,
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
            Ok(text) => {
                let (found, bad) = read_objects(&path, &text);
                objects.extend(found);
                errors.extend(bad);
            }
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

    /// Regression (issue 13): a YAML error in one document of a file hid the
    /// errors of the other documents and the objects that were fine.
    #[test]
    fn a_yaml_error_in_one_document_hides_neither_the_others_nor_their_errors() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\nkind: Secret\nmetadata: {name: b}\n---\nkey: [unclosed\n--- # a comment\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n...\n---\n- not an object\n";
        let (objects, errors) = read_objects(Path::new("x.yaml"), text);
        let names: Vec<&str> = objects.iter().map(|o| o.metadata.name.as_str()).collect();
        assert_eq!(names, ["a", "c"], "the good documents still load");
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(messages[0], "x.yaml (document 2): `apiVersion` is missing");
        assert!(
            messages[1].starts_with("x.yaml: not valid YAML: line 9 column 6: "),
            "the line is the file's: {}",
            messages[1]
        );
        assert_eq!(
            messages[2],
            "x.yaml (document 5): a document must be a mapping with apiVersion, kind and metadata"
        );
        let fine = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n";
        let objects = parse_objects(Path::new("x.yaml"), fine).unwrap();
        let names: Vec<&str> = objects.iter().map(|o| o.metadata.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(objects[1].document, 2, "empty documents are not counted");
        let text = "a: |\n  ---\n  text\n";
        assert_eq!(split_documents(text).len(), 1, "an indented --- is text");
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
