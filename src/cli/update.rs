//! `tagpilot update`: apply policy results given on the command line to a directory.
//!
//! The `--set` values resolve into [`PolicyResults`] before any I/O; a malformed
//! one is invalid input (exit 2). Then [`update::apply_results`] runs with the
//! directory as both repository root and update path, so paths print relative
//! to it. No marker changed is a success with empty output.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use serde::Serialize;

use super::{CommandError, CommandResult, OutputFormat};
use crate::image::ImageReference;
use crate::update::{
    self, Change, PolicyId, PolicyResult, PolicyResults, SkippedFile, UpdateError, UpdateMode,
    report::slash_path,
};

/// Arguments of `tagpilot update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The directory to update (recursively).
    dir: PathBuf,
    /// A policy result `NAMESPACE:POLICY=IMAGE:TAG[@DIGEST]` (repeatable).
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
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// The `-o json` document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutput<'a> {
    dry_run: bool,
    changes: &'a [Change],
    skipped: &'a [SkippedFile],
}

/// Runs `tagpilot update`.
pub fn run(args: UpdateArgs) -> CommandResult {
    let results = parse_results(&args.set).map_err(CommandError::InvalidInput)?;
    let mode = if args.dry_run {
        UpdateMode::DryRun
    } else if args.in_place {
        UpdateMode::WriteInPlace
    } else {
        UpdateMode::Write
    };
    let report = update::apply_results(&args.dir, std::path::Path::new("."), &results, mode)
        .map_err(|error| match error {
            UpdateError::Root { .. }
            | UpdateError::Path { .. }
            | UpdateError::OutsideRoot { .. } => CommandError::InvalidInput(anyhow!(error)),
            _ => CommandError::Failed(anyhow!(error)),
        })?;
    let mut out = String::new();
    match args.output {
        OutputFormat::Json => {
            let json = JsonOutput {
                dry_run: args.dry_run,
                changes: &report.changes,
                skipped: &report.skipped,
            };
            out = serde_json::to_string_pretty(&json)
                .context("cannot encode the report as JSON")
                .map_err(CommandError::Failed)?;
            out.push('\n');
        }
        OutputFormat::Text if args.dry_run => out = report.unified_diff(),
        OutputFormat::Text => {
            for file in &report.files {
                out.push_str(&slash_path(&file.file));
                out.push('\n');
            }
        }
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write to stdout")
        .map_err(CommandError::Failed)
}

/// Turns `NS:NAME=REF` values into results; a policy may be given only once.
fn parse_results(values: &[String]) -> anyhow::Result<PolicyResults> {
    let mut results = PolicyResults::new();
    for value in values {
        let (policy, reference) = parse_assignment(value).with_context(|| {
            format!("invalid --set {value:?}: expected NAMESPACE:POLICY=IMAGE:TAG[@DIGEST]")
        })?;
        if results.insert(policy.clone(), reference).is_some() {
            return Err(anyhow!(
                "--set gives policy {policy} more than once; give each policy one result"
            ));
        }
    }
    Ok(results)
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
        let results =
            parse_results(&["shop:front-end=ghcr.io/shop/front-end:1.2.3".into()]).unwrap();
        assert_eq!(results.len(), 1);
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
