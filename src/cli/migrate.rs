//! `tagpilot migrate flux-v1 DIR`: Flux v1 automation annotations → markers
//! and ImageRepository/ImagePolicy objects ([`crate::update::annotations::migrate`]).
//!
//! Flags resolve before any I/O: an unknown `--api-version`, an invalid
//! `--namespace`, a missing directory or an existing objects file are invalid
//! input (exit 2), as are unreadable filter annotations (nothing is changed).
//! Nothing to migrate is exit 1. The objects file is written (never over an
//! existing file) before the workload files, so a failure leaves either
//! nothing changed or the objects without markers, never markers without
//! objects. `--dry-run` prints a unified diff (the objects file as a new
//! file) on stdout, ready for `git apply`, and the summary on stderr;
//! otherwise the summary goes to stdout.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::{CommandError, CommandResult};
use crate::update::annotations::migrate::{MigrateError, MigrateOptions, Migration, migrate};
use crate::update::report::{UpdateReport, slash_path, unified_diff};
use crate::update::{PolicyId, UpdateError, UpdateMode, write_report};

/// `tagpilot migrate …`.
#[derive(Debug, clap::Subcommand)]
pub enum MigrateCommand {
    /// Rewrite Flux v1 (fluxd) automation annotations into `$imagepolicy`
    /// markers and write the matching ImageRepository and ImagePolicy objects.
    #[command(name = "flux-v1")]
    FluxV1(FluxV1Args),
}

/// Arguments of `tagpilot migrate flux-v1`.
#[derive(Debug, clap::Args)]
pub struct FluxV1Args {
    /// The directory to migrate (recursively); paths print relative to it.
    dir: PathBuf,
    /// The `apiVersion` of the objects written.
    #[arg(
        long,
        default_value = "image.toolkit.fluxcd.io/v1",
        value_parser = ["image.toolkit.fluxcd.io/v1", "tagpilot.dev/v1alpha1"]
    )]
    api_version: String,
    /// The namespace of the objects, and of the policies the markers name.
    #[arg(long, default_value = "flux-system")]
    namespace: String,
    /// Where to write the objects (default: DIR/image-automation.yaml); it must not exist.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write nothing: print the diff on stdout and the summary on stderr.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `tagpilot migrate …`.
pub fn run(command: MigrateCommand) -> CommandResult {
    match command {
        MigrateCommand::FluxV1(args) => flux_v1(args),
    }
}

fn flux_v1(args: FluxV1Args) -> CommandResult {
    let invalid = |error: anyhow::Error| CommandError::InvalidInput(error);
    PolicyId::new(&args.namespace, "policy").map_err(|_| {
        invalid(anyhow!(
            "invalid --namespace {:?}: expected a Kubernetes name (lowercase letters, digits, '-')",
            args.namespace
        ))
    })?;
    if !args.dir.is_dir() {
        return Err(invalid(anyhow!(
            "{} is not a directory; give the repository directory to migrate",
            args.dir.display()
        )));
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.dir.join("image-automation.yaml"));
    if output.exists() {
        return Err(invalid(anyhow!(
            "{} already exists; pass --output with a new file",
            output.display()
        )));
    }
    let options = MigrateOptions {
        namespace: args.namespace.clone(),
        api_version: args.api_version.clone(),
    };
    let migration =
        migrate(&args.dir, &options, UpdateMode::DryRun).map_err(|error| match error {
            MigrateError::InvalidFilters(_)
            | MigrateError::Update(
                UpdateError::Root { .. }
                | UpdateError::Path { .. }
                | UpdateError::OutsideRoot { .. },
            ) => invalid(anyhow!(error)),
            MigrateError::Update(_) => CommandError::Failed(anyhow!(error)),
        })?;
    let shown = shown_path(&args.dir, &output);
    let mut summary = summary(&migration);
    if migration.counts.1 == 0 {
        eprint!("{summary}");
        return Err(CommandError::Failed(anyhow!(
            "no automated Flux v1 workload under {} could be migrated",
            args.dir.display()
        )));
    }
    summary.push_str(&format!(
        "{shown}: {} ImageRepository, {} ImagePolicy{}\n",
        migration.counts.0,
        migration.counts.1,
        if args.dry_run { " (not written)" } else { "" }
    ));
    if args.dry_run {
        let mut diff = unified_diff(&migration.files);
        diff.push_str(&new_file_diff(&shown, &migration.objects));
        eprint!("{summary}");
        return print(&diff);
    }
    write_new(&output, &migration.objects)
        .with_context(|| format!("cannot write {}", output.display()))
        .map_err(CommandError::Failed)?;
    let report = UpdateReport {
        files: migration.files,
        ..UpdateReport::default()
    };
    write_report(&args.dir, &report, UpdateMode::Write)
        .map_err(|error| CommandError::Failed(anyhow!(error)))?;
    print(&summary)
}

/// What was done and what to know, one line each.
fn summary(migration: &Migration) -> String {
    let mut out = String::new();
    for action in &migration.actions {
        out.push_str(action);
        out.push('\n');
    }
    for note in &migration.notes {
        out.push_str("note: ");
        out.push_str(note);
        out.push('\n');
    }
    out
}

/// `output` relative to `dir` when inside it (as the diff and summary name it).
fn shown_path(dir: &Path, output: &Path) -> String {
    let relative = std::fs::canonicalize(dir).ok().and_then(|dir| {
        let parent = std::fs::canonicalize(output.parent()?).ok()?;
        let inside = parent.strip_prefix(&dir).ok()?.join(output.file_name()?);
        Some(inside)
    });
    slash_path(relative.as_deref().unwrap_or(output))
}

fn new_file_diff(name: &str, content: &str) -> String {
    let diff = similar::TextDiff::from_lines("", content);
    format!(
        "diff --git a/{name} b/{name}\nnew file mode 100644\n{}",
        diff.unified_diff()
            .header("/dev/null", &format!("b/{name}"))
    )
}

fn write_new(path: &Path, content: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

fn print(text: &str) -> CommandResult {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")
        .map_err(CommandError::Failed)
}
