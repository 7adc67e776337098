//! The result of an update run: changes, changed files, skipped files, and the diff.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use super::object::ObjectId;
use super::results::{PolicyId, Setter};
use super::scan::YamlError;

/// One marked value that changed (what commit messages and `-o json` list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The file, relative to the repository root.
    #[serde(serialize_with = "path_as_string")]
    pub file: PathBuf,
    /// The 1-based line of the value.
    pub line: usize,
    /// The marker's setter (`ns:name`, `ns:name:tag`, …).
    #[serde(serialize_with = "display_as_string")]
    pub setter: Setter,
    /// The value before.
    pub old: String,
    /// The value after.
    pub new: String,
    /// The object (YAML document) the value is in, when the document has one
    /// (commit message templates group changes by it).
    #[serde(skip)]
    pub object: Option<ObjectId>,
}

/// A file whose content changed (or, in a dry run, would change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpdate {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The content before.
    pub original: String,
    /// The content after.
    pub updated: String,
}

/// A file that contains the marker token but was not updated, or one marker
/// in it that could not be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// The file, relative to the repository root.
    #[serde(serialize_with = "path_as_string")]
    pub file: PathBuf,
    /// The 1-based line of the skipped marker; `None` when the whole file was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Why it was skipped.
    #[serde(serialize_with = "display_as_string")]
    pub reason: SkipReason,
}

/// Why a file was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The file is not valid YAML.
    InvalidYaml(YamlError),
    /// The file is not UTF-8 text.
    NotUtf8,
    /// A symbolic link whose target is outside the repository.
    SymlinkOutsideRoot,
    /// A symbolic link whose target is inside a `.git` directory.
    SymlinkIntoGit,
    /// A symbolic link that dangles or loops.
    BrokenSymlink(String),
    /// A marked file larger than [`super::MAX_MARKED_FILE_BYTES`]: not read
    /// whole, so memory stays bounded whatever the repository holds.
    TooLarge {
        /// Its size in bytes.
        bytes: u64,
    },
    /// In-place mode: the file has other hard links, so writing it in place
    /// would change files elsewhere (possibly outside the repository).
    HardLinked {
        /// Its number of links.
        links: u64,
    },
    /// A `:digest` marker, and the policy result has no digest (the file's
    /// other markers are applied).
    NoDigest,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidYaml(error) => write!(f, "not valid YAML: {error}"),
            Self::NotUtf8 => f.write_str("not UTF-8 text"),
            Self::SymlinkOutsideRoot => {
                f.write_str("symbolic link leads outside the repository; not followed")
            }
            Self::SymlinkIntoGit => {
                f.write_str("symbolic link leads into a .git directory; not followed")
            }
            Self::BrokenSymlink(error) => write!(f, "symbolic link cannot be resolved: {error}"),
            Self::TooLarge { bytes } => write!(
                f,
                "marked file of {bytes} bytes is larger than the {} MiB limit; not updated",
                super::MAX_MARKED_FILE_BYTES / (1024 * 1024)
            ),
            Self::HardLinked { links } => write!(
                f,
                "file has {links} hard links; an in-place write would change the other names too, so it is not updated (run without --in-place to replace it instead)"
            ),
            Self::NoDigest => {
                f.write_str("the marker asks for a digest and the policy result has none")
            }
        }
    }
}

/// What an update run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Every changed value, ordered by file then line.
    pub changes: Vec<Change>,
    /// Every changed file with its old and new content, ordered by path.
    pub files: Vec<FileUpdate>,
    /// Files (and markers) that were skipped, ordered by path and line.
    pub skipped: Vec<SkippedFile>,
    /// Every policy a marker names, in the files that could be read (whether
    /// or not its value changed): a given result no marker uses is a typo.
    pub policies_named: BTreeSet<PolicyId>,
}

impl fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", slash_path(&self.file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl UpdateReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A git-style unified diff (`a/` and `b/` prefixes) of every changed file.
    pub fn unified_diff(&self) -> String {
        unified_diff(&self.files)
    }
}

/// A git-style unified diff (`a/` and `b/` prefixes) of `files`.
pub fn unified_diff(files: &[FileUpdate]) -> String {
    let mut out = String::new();
    for file in files {
        let name = slash_path(&file.file);
        let diff = similar::TextDiff::from_lines(&file.original, &file.updated);
        out.push_str(&format!("diff --git a/{name} b/{name}\n"));
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string(),
        );
    }
    out
}

/// A path with `/` separators (as git and reports show it).
pub fn slash_path(path: &Path) -> String {
    let parts: Vec<_> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

fn path_as_string<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&slash_path(path))
}

fn display_as_string<T: fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
