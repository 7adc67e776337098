//! `tagpilot update`: apply policy results given on the command line to a directory.
//!
//! The `--set` values resolve into [`PolicyResults`] before any I/O; a malformed
//! one is invalid input (exit 2), and so is a DIR that is missing or a file.
//! Then the update engine runs dry over the directory (as both repository root
//! and update path, so paths print relative to it). A `--set` that no marker
//! uses is a failure (exit 1: a typo must not pass silently), and so is any
//! skipped file or marker with `--strict`; in both cases nothing is written.
//! Otherwise the changed files are written as the dry run computed them. No
//! marker changed is a success with empty output.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use super::logging::escape_controls;
use super::{CommandError, CommandResult, OutputFormat};
use crate::image::ImageReference;
use crate::update::{
    self, Change, PolicyId, PolicyResult, PolicyResults, SkippedFile, UpdateError, UpdateMode,
    UpdateReport, report::slash_path,
};

/// Arguments of `tagpilot update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The directory to update (recursively).
    dir: PathBuf,
    /// A policy result `NAMESPACE:POLICY=IMAGE:TAG[@DIGEST]` (repeatable). Each
    /// must be used by at least one marker under DIR.
    #[arg(long = "set", required = true)]
    set: Vec<String>,
    /// Write nothing; print a unified diff of what would change.
    #[arg(long)]
    dry_run: bool,
    /// Overwrite changed files in place instead of replacing each atomically
    /// and durably (temporary file, fsync, rename). Much faster on large trees,
    /// but a crash mid-write can leave a file half-written: for checkouts whose
    /// content git can restore, such as a CI job's.
    #[arg(long, conflicts_with = "dry_run")]
    in_place: bool,
    /// Fail (exit 1, write nothing) when any file or marker is skipped: a
    /// marked file that is not valid YAML or not UTF-8, a symlink out of DIR,
    /// a `:digest` marker whose result has no digest.
    #[arg(long)]
    strict: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// The `-o json` document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutput<'a> {
    dry_run: bool,
    /// Whether the changes are on disk (false for a dry run and a refused run).
    written: bool,
    changes: &'a [Change],
    skipped: &'a [SkippedFile],
}

/// Runs `tagpilot update`.
pub fn run(args: UpdateArgs) -> CommandResult {
    let given = parse_results(&args.set).map_err(CommandError::InvalidInput)?;
    check_directory(&args.dir).map_err(CommandError::InvalidInput)?;
    let mode = if args.dry_run {
        UpdateMode::DryRun
    } else if args.in_place {
        UpdateMode::WriteInPlace
    } else {
        UpdateMode::Write
    };
    let report = update::preview_results(&args.dir, Path::new("."), &given.results, mode)
        .map_err(classify)?;
    if let Some(error) = unused_setters(&given, &report, &args.dir) {
        print_skipped(&report);
        return Err(CommandError::Failed(error));
    }
    let refused = args.strict && !report.skipped.is_empty();
    let write = mode != UpdateMode::DryRun && !refused;
    if write {
        update::write_report(&args.dir, &report, mode).map_err(classify)?;
    }
    match args.output {
        OutputFormat::Json => super::output::print_json(&JsonOutput {
            dry_run: args.dry_run,
            written: write && !report.files.is_empty(),
            changes: &report.changes,
            skipped: &report.skipped,
        })?,
        OutputFormat::Text if args.dry_run => super::output::print_text(&report.unified_diff())?,
        OutputFormat::Text if refused => {}
        OutputFormat::Text => {
            let mut out = String::new();
            for file in &report.files {
                out.push_str(&escape_controls(&slash_path(&file.file)));
                out.push('\n');
            }
            super::output::print_text(&out)?;
        }
    }
    match args.output {
        OutputFormat::Text => eprint!("{}", summary(&report, args.dry_run, write)),
        // stdout holds the JSON (with `skipped`); a person watching stderr sees them too.
        OutputFormat::Json => print_skipped(&report),
    }
    if refused {
        return Err(CommandError::Failed(anyhow!(
            "{} skipped with --strict; nothing was written",
            count(report.skipped.len(), "file or marker", "files or markers")
        )));
    }
    Ok(())
}

fn classify(error: UpdateError) -> CommandError {
    match error {
        UpdateError::Root { .. } | UpdateError::Path { .. } | UpdateError::OutsideRoot { .. } => {
            CommandError::InvalidInput(anyhow!(error))
        }
        _ => CommandError::Failed(anyhow!(error)),
    }
}

/// DIR must be an existing directory; say exactly what it is otherwise.
fn check_directory(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(anyhow!(
            "{} is a file, not a directory: give the directory to update \
             (every *.yaml, *.yml and Kustomization file under it is read)",
            dir.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(anyhow!("directory {} does not exist", dir.display()))
        }
        Err(error) => Err(anyhow!("cannot read directory {}: {error}", dir.display())),
    }
}

/// The error naming every `--set` whose policy no marker under `dir` names.
fn unused_setters(
    given: &GivenResults,
    report: &UpdateReport,
    dir: &Path,
) -> Option<anyhow::Error> {
    let unused: Vec<&str> = given
        .values
        .iter()
        .filter(|(policy, _)| !report.policies_named.contains(policy))
        .map(|(_, value)| value.as_str())
        .collect();
    if unused.is_empty() {
        return None;
    }
    let named: Vec<String> = report
        .policies_named
        .iter()
        .map(ToString::to_string)
        .collect();
    let markers = if named.is_empty() {
        "no marker at all".to_string()
    } else {
        format!("markers for {}", named.join(", "))
    };
    let unused: Vec<String> = unused.iter().map(|v| format!("--set {v}")).collect();
    Some(anyhow!(
        "no marker under {} uses the policy of {} (it holds {markers}); check the policy's \
         namespace and name; nothing was written",
        dir.display(),
        unused.join(", "),
    ))
}

/// The text summary on stderr: each skipped file or marker, then the counts.
fn summary(report: &UpdateReport, dry_run: bool, written: bool) -> String {
    let mut out = String::new();
    for skipped in &report.skipped {
        let _ = writeln!(out, "skipped {}", escape_controls(&skipped.to_string()));
    }
    let verb = if written {
        "updated"
    } else if dry_run {
        "would update"
    } else {
        "did not update"
    };
    let files = count(report.files.len(), "file", "files");
    let values = count(report.changes.len(), "value", "values");
    let _ = writeln!(
        out,
        "{verb} {files} ({values}), skipped {}",
        report.skipped.len()
    );
    out
}

/// The skipped files and markers, on stderr (with `-o text` before an error
/// that refuses the run; with `-o json` beside the JSON's `skipped`).
fn print_skipped(report: &UpdateReport) {
    for skipped in &report.skipped {
        eprintln!("skipped {}", escape_controls(&skipped.to_string()));
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `--set` values: the results, and each policy with the text it was given as.
#[derive(Debug)]
struct GivenResults {
    results: PolicyResults,
    values: Vec<(PolicyId, String)>,
}

/// Turns `NS:NAME=REF` values into results; a policy may be given only once.
fn parse_results(values: &[String]) -> anyhow::Result<GivenResults> {
    let mut given = GivenResults {
        results: PolicyResults::new(),
        values: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for value in values {
        let (policy, reference) = parse_assignment(value).with_context(|| {
            format!("invalid --set {value:?}: expected NAMESPACE:POLICY=IMAGE:TAG[@DIGEST]")
        })?;
        if !seen.insert(policy.clone()) {
            return Err(anyhow!(
                "--set gives policy {policy} more than once; give each policy one result"
            ));
        }
        given.results.insert(policy.clone(), reference);
        given.values.push((policy, value.clone()));
    }
    Ok(given)
}

fn parse_assignment(value: &str) -> anyhow::Result<(PolicyId, PolicyResult)> {
    let (policy, reference) = value
        .split_once('=')
        .ok_or_else(|| anyhow!("no '=' between the policy and the image"))?;
    let policy = PolicyId::parse(policy.trim())?;
    let image = ImageReference::parse(reference)?;
    Ok((policy, PolicyResult::new(image)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_parse_and_name_their_mistakes() {
        let given = parse_results(&["shop:front-end=ghcr.io/shop/front-end:1.2.3".into()]).unwrap();
        assert_eq!(given.results.len(), 1);
        for bad in [
            "shop:front-end",
            "shop=nginx:1",
            "shop:front-end=nginx",
            "shop:front-end=Bad:1",
        ] {
            let error = parse_results(&[bad.to_string()]).unwrap_err();
            assert!(format!("{error:#}").contains(bad), "{error:#}");
        }
        let twice = ["a:b=x:1".to_string(), "a:b=x:2".to_string()];
        assert!(parse_results(&twice).is_err());
    }
}
