//! `tagpilot status`: what the engine last saw and did, read from the state
//! directory (like `flux get images all`).

use std::path::PathBuf;

use anyhow::anyhow;

use super::run::default_state_dir;
use super::{CommandError, CommandResult, OutputFormat};
use crate::apply::standalone::SyncStatusFile;
use crate::engine::state::Status;

/// Arguments of `tagpilot status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The state directory of `tagpilot run` (default: `$XDG_STATE_HOME/tagpilot`, else `~/.local/state/tagpilot`).
    #[arg(long, env = "TAGPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs `tagpilot status`.
pub fn run(args: StatusArgs) -> CommandResult {
    let state_dir = args.state_dir.unwrap_or_else(default_state_dir);
    if !state_dir.is_dir() {
        return Err(CommandError::InvalidInput(anyhow!(
            "{} is not a state directory (give the --state-dir of `tagpilot run`)",
            state_dir.display()
        )));
    }
    let status = Status::load(&state_dir).map_err(|e| CommandError::Failed(e.into()))?;
    let syncs = SyncStatusFile::load(&state_dir).map_err(|e| CommandError::Failed(e.into()))?;
    match args.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&status)
                .map_err(|e| CommandError::Failed(anyhow!("cannot encode the status: {e}")))?;
            if !syncs.syncs.is_empty() {
                value["syncs"] = serde_json::to_value(&syncs.syncs)
                    .map_err(|e| CommandError::Failed(anyhow!("cannot encode the status: {e}")))?;
            }
            super::output::epoch_times_to_rfc3339(&mut value);
            super::output::print_json(&value)?;
        }
        OutputFormat::Text => {
            print!("{}", render_status(&status));
            if !syncs.syncs.is_empty() {
                print!("\n{}", render_syncs(&syncs));
            }
        }
    }
    Ok(())
}

/// The Sync table of `tagpilot status` (from `syncs.json`).
pub fn render_syncs(syncs: &SyncStatusFile) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = syncs
        .syncs
        .iter()
        .map(|(key, sync)| {
            let (ready, message) = sync.ready.as_ref().map_or_else(
                || (dash(), dash()),
                |c| (c.status.clone(), format!("{}: {}", c.reason, c.message)),
            );
            vec![
                key.clone(),
                ready,
                sync.last_applied_revision.clone().unwrap_or_else(dash),
                sync.inventory.len().to_string(),
                sync.drift_corrected_total.to_string(),
                message,
            ]
        })
        .collect();
    table(
        &[
            "SYNC",
            "READY",
            "APPLIED REVISION",
            "OBJECTS",
            "DRIFT CORRECTED",
            "MESSAGE",
        ],
        &rows,
    )
}

/// The tables `tagpilot status` prints.
pub fn render_status(status: &Status) -> String {
    let dash = || "-".to_string();
    let mut out = String::new();
    let rows: Vec<Vec<String>> = status
        .repositories
        .iter()
        .map(|(key, repository)| {
            vec![
                key.clone(),
                repository.image.clone(),
                repository.tag_count.to_string(),
                repository.last_scan_time.map_or_else(dash, rfc3339),
                repository.last_error.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    out.push_str(&table(
        &["IMAGEREPOSITORY", "IMAGE", "TAGS", "LAST SCAN", "ERROR"],
        &rows,
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = status
        .policies
        .iter()
        .map(|(key, policy)| {
            vec![
                key.clone(),
                policy.latest_ref.clone().unwrap_or_else(dash),
                policy.previous_ref.clone().unwrap_or_else(dash),
                policy.last_error.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    out.push_str(&table(
        &["IMAGEPOLICY", "LATEST", "PREVIOUS", "ERROR"],
        &rows,
    ));
    out.push('\n');
    // Better tags passed over (spec.verify, requiredPlatforms, minimumAge): shown only when some were.
    let rows: Vec<Vec<String>> = status
        .policies
        .iter()
        .flat_map(|(key, policy)| {
            policy
                .skipped
                .iter()
                .map(move |line| vec![key.clone(), line.clone()])
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["IMAGEPOLICY", "SKIPPED"], &rows));
        out.push('\n');
    }
    let rows: Vec<Vec<String>> = status
        .automations
        .iter()
        .map(|(key, automation)| {
            let held = automation.held_downgrades.len();
            let error = match (&automation.last_error, held) {
                (None, 0) => dash(),
                (Some(error), 0) => error.clone(),
                (None, held) => format!("{held} downgrade(s) held back"),
                (Some(error), held) => format!("{held} downgrade(s) held back; {error}"),
            };
            vec![
                key.clone(),
                automation
                    .last_push_commit
                    .as_deref()
                    .map_or_else(dash, |c| c.chars().take(12).collect()),
                automation.last_push_time.map_or_else(dash, rfc3339),
                automation.last_run_time.map_or_else(dash, rfc3339),
                error,
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "IMAGEUPDATEAUTOMATION",
            "LAST PUSH",
            "PUSHED AT",
            "LAST RUN",
            "ERROR",
        ],
        &rows,
    ));
    // Only automations with `git.push.pullRequest` have one (a table of their own).
    let rows: Vec<Vec<String>> = status
        .automations
        .iter()
        .filter_map(|(key, automation)| {
            let pull = automation.pull_request.as_ref()?;
            Some(vec![
                key.clone(),
                format!("#{}", pull.number),
                pull.state.clone(),
                pull.url.clone(),
            ])
        })
        .collect();
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["IMAGEUPDATEAUTOMATION", "PULL REQUEST", "STATE", "URL"],
            &rows,
        ));
    }
    out.push_str(&render_annotations(status));
    out
}

/// The tables of strategy `Annotations` (nothing when no automation has one):
/// the images its workloads name, and each container's last decision.
fn render_annotations(status: &Status) -> String {
    let dash = || "-".to_string();
    let mut images = Vec::new();
    let mut containers = Vec::new();
    for (key, automation) in &status.automations {
        for image in &automation.images {
            images.push(vec![
                key.clone(),
                image.image.clone(),
                image.tags.to_string(),
                image.last_scan_time.map_or_else(dash, rfc3339),
                image.error.clone().unwrap_or_else(dash),
            ]);
        }
        for container in &automation.containers {
            let result = match (&container.latest, &container.message) {
                (Some(latest), Some(message)) => {
                    format!("{} → {latest} ({message})", container.result.text())
                }
                (Some(latest), None) => format!("{} → {latest}", container.result.text()),
                (None, Some(message)) => format!("{} ({message})", container.result.text()),
                (None, None) => container.result.text().to_string(),
            };
            containers.push(vec![
                key.clone(),
                format!("{}:{}", container.file, container.line),
                container.container.clone(),
                container.image.clone(),
                container.filter.clone(),
                result,
            ]);
        }
    }
    let mut out = String::new();
    if !images.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["AUTOMATION", "IMAGE", "TAGS", "LAST SCAN", "ERROR"],
            &images,
        ));
    }
    if !containers.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &[
                "AUTOMATION",
                "FILE",
                "CONTAINER",
                "IMAGE",
                "FILTER",
                "RESULT",
            ],
            &containers,
        ));
    }
    out
}

/// Left-aligned columns; cells are escaped, so an error text from outside
/// cannot break the table with a newline or a terminal escape.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| super::logging::escape_controls(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if index < last {
                let pad = widths[index] - cell.chars().count() + 2;
                text.push_str(&" ".repeat(pad));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `2026-11-22T00:10:00Z` from seconds since the epoch (UTC).
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let day_of_year = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{AutomationStatus, PolicyStatus, RepositoryStatus};

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_308_600), "2026-11-22T00:50:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn sync_table() {
        use crate::apply::sync::{ReadyCondition, SyncStatus};
        let mut syncs = SyncStatusFile::default();
        syncs.syncs.insert(
            "flux-system/web".into(),
            SyncStatus {
                ready: Some(ReadyCondition {
                    status: "False".into(),
                    reason: "ReconciliationFailed".into(),
                    message: "Deployment web/api: bad".into(),
                    last_transition_time: 0,
                }),
                last_applied_revision: Some("main@sha1:0123".into()),
                drift_corrected_total: 2,
                ..SyncStatus::default()
            },
        );
        let text = render_syncs(&syncs);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "flux-system/web  False  main@sha1:0123    0        2                ReconciliationFailed: Deployment web/api: bad"
        );
    }

    #[test]
    fn status_tables() {
        let mut status = Status::default();
        status.repositories.insert(
            "shop/front-end".into(),
            RepositoryStatus {
                image: "127.0.0.1:5000/front-end".into(),
                tag_count: 3,
                last_scan_time: Some(1_795_308_600),
                last_error: None,
            },
        );
        status.policies.insert(
            "shop/front-end".into(),
            PolicyStatus {
                latest_ref: Some("127.0.0.1:5000/front-end:main-abc-12".into()),
                previous_ref: Some("127.0.0.1:5000/front-end:main-abc-11".into()),
                last_error: None,
                ..PolicyStatus::default()
            },
        );
        status.automations.insert(
            "shop/shop".into(),
            AutomationStatus {
                last_push_commit: Some("0123456789abcdef0123".into()),
                last_push_time: Some(1_795_308_600),
                last_run_time: Some(1_795_308_660),
                held_downgrades: vec![],
                last_error: None,
                ..AutomationStatus::default()
            },
        );
        insta::assert_snapshot!(render_status(&status));
    }

    #[test]
    fn pull_requests_get_a_table_of_their_own() {
        let mut status = Status::default();
        status.automations.insert(
            "shop/apps".into(),
            AutomationStatus {
                last_run_time: Some(1_795_308_660),
                pull_request: Some(crate::engine::pull_request::PullRequestStatus {
                    number: 7,
                    url: "https://gitea.example.com/shop/config/pulls/7".into(),
                    state: "open".into(),
                    commit: "0123456789abcdef0123".into(),
                }),
                ..AutomationStatus::default()
            },
        );
        let text = render_status(&status);
        let table = text.split("\n\n").last().unwrap();
        assert_eq!(
            table,
            "IMAGEUPDATEAUTOMATION  PULL REQUEST  STATE  URL\n\
             shop/apps              #7            open   https://gitea.example.com/shop/config/pulls/7\n"
        );
    }
}
