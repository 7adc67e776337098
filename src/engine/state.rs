//! What the engine remembers between cycles and restarts, beyond the tag store:
//! the latest result of each policy (and the one before it), the last push of
//! each automation, and the last error of every object. Kept in memory and
//! persisted atomically as `status.json` under the state directory; read by
//! `tagpilot status`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The file name under the state directory.
pub const STATUS_FILE: &str = "status.json";

/// Why the status could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a status file (corrupt or from another program).
    #[error("{} is not a tagpilot status file ({source}); move it away to start afresh", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The last scan of an ImageRepository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    /// The image scanned.
    pub image: String,
    /// Tags in the last complete scan.
    pub tag_count: usize,
    /// When the last complete scan finished (seconds since the epoch).
    pub last_scan_time: Option<u64>,
    /// The error of the last scan, if it failed (the stored tags are older).
    pub last_error: Option<String>,
}

/// The result of an ImagePolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The chosen reference, `name:tag[@digest]`.
    pub latest_ref: Option<String>,
    /// The reference chosen before the latest change.
    pub previous_ref: Option<String>,
    /// Why the last evaluation failed (the latest ref is then the older one).
    pub last_error: Option<String>,
    /// Better candidates the last evaluation passed over, and why
    /// (`1.3.0: not signed (no cosign signature)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// The last run of an ImageUpdateAutomation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationStatus {
    /// The last commit pushed.
    pub last_push_commit: Option<String>,
    /// When it was pushed (seconds since the epoch).
    pub last_push_time: Option<u64>,
    /// When the automation last ran.
    pub last_run_time: Option<u64>,
    /// The policies that run considered (`namespace/name` → the latest
    /// reference then), Flux's `status.observedPolicies`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed_policies: BTreeMap<String, String>,
    /// Markers not moved because the result is older than what the file holds.
    #[serde(default)]
    pub held_downgrades: Vec<String>,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// The pull request of `git.push.pullRequest`, as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<super::pull_request::PullRequestStatus>,
    /// Strategy `Annotations`: each image the workloads name, as last scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<super::annotations::ImageScanReport>,
    /// Strategy `Annotations`: the last decision for each container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<super::annotations::ContainerReport>,
}

/// Everything `status.json` holds, keyed by `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// ImageRepositories.
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryStatus>,
    /// ImagePolicies.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyStatus>,
    /// ImageUpdateAutomations.
    #[serde(default)]
    pub automations: BTreeMap<String, AutomationStatus>,
}

impl Status {
    /// Reads `status.json` from `state_dir`; a missing file is an empty status.
    pub fn load(state_dir: &Path) -> Result<Self, StateError> {
        load_json(state_dir, STATUS_FILE)
    }

    /// Takes the results of `recorded` (another controller's, e.g. Flux's
    /// status of the same objects) for the objects this status knows nothing
    /// of: a policy without a result, an automation without a push. Whether
    /// anything changed.
    pub fn adopt(&mut self, recorded: Status) -> bool {
        let mut changed = false;
        for (key, policy) in recorded.policies {
            let slot = self.policies.entry(key).or_default();
            if slot.latest_ref.is_none() && policy.latest_ref.is_some() {
                slot.latest_ref = policy.latest_ref;
                slot.previous_ref = policy.previous_ref;
                changed = true;
            }
        }
        for (key, automation) in recorded.automations {
            let slot = self.automations.entry(key).or_default();
            if slot.last_push_commit.is_none() && automation.last_push_commit.is_some() {
                slot.last_push_commit = automation.last_push_commit;
                slot.last_push_time = automation.last_push_time;
                changed = true;
            }
        }
        changed
    }

    /// Writes `status.json` atomically (temporary file, fsync, rename).
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        save_json(self, state_dir, STATUS_FILE)
    }
}

/// Reads the JSON file `name` from `state_dir`; a missing file is `T::default()`.
pub fn load_json<T: DeserializeOwned + Default>(
    state_dir: &Path,
    name: &str,
) -> Result<T, StateError> {
    let path = state_dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(StateError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

/// Writes `value` as the JSON file `name` in `state_dir` atomically
/// (temporary file, fsync, rename): a crash leaves the old or the new file.
pub fn save_json<T: Serialize>(value: &T, state_dir: &Path, name: &str) -> Result<(), StateError> {
    let path = state_dir.join(name);
    let io = |source| StateError::Io {
        action: "write",
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let temporary = state_dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)
}

/// Seconds since the Unix epoch.
pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Status::load(dir.path()).unwrap(), Status::default());
        let mut status = Status::default();
        status.policies.insert(
            "shop/app".into(),
            PolicyStatus {
                latest_ref: Some("app:v2".into()),
                previous_ref: Some("app:v1".into()),
                last_error: None,
                ..PolicyStatus::default()
            },
        );
        status.save(dir.path()).unwrap();
        assert_eq!(Status::load(dir.path()).unwrap(), status);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        std::fs::write(dir.path().join(STATUS_FILE), "{not json").unwrap();
        let error = Status::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is not a tagpilot status file"), "{error}");
    }
}
