//! `tagpilot update`.

use std::path::PathBuf;

use super::{CommandError, CommandResult, OutputFormat};

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
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs `tagpilot update`.
pub fn run(args: UpdateArgs) -> CommandResult {
    let _ = (&args.dir, &args.set, args.dry_run, args.output);
    Err(CommandError::Failed(anyhow::anyhow!(
        "`tagpilot update` is not available in this version yet"
    )))
}
