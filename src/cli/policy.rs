//! `tagpilot policy eval`.

use std::path::PathBuf;

use super::{CommandError, CommandResult, OutputFormat};

/// Arguments of `tagpilot policy eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A YAML file holding one ImagePolicy.
    #[arg(long)]
    policy: PathBuf,
    /// A file with one tag per line (blank lines ignored).
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    tags: Option<PathBuf>,
    /// List the tags from this image's registry instead.
    #[arg(long)]
    image: Option<String>,
    /// An exclusion regex (repeatable); replaces the default `^.*\.sig$`.
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs `tagpilot policy eval`.
pub fn eval(args: EvalArgs) -> CommandResult {
    let _ = (
        &args.policy,
        &args.tags,
        &args.image,
        &args.exclude,
        args.output,
    );
    Err(CommandError::Failed(anyhow::anyhow!(
        "`tagpilot policy eval` is not available in this version yet"
    )))
}
