//! `tagpilot crds`: prints every CustomResourceDefinition as YAML on stdout
//! (`tagpilot crds | kubectl apply -f -`); `crds/` holds the same text, one file per kind.

use anyhow::anyhow;

use super::{CommandError, CommandResult};
use crate::api::crd::all_crds_yaml;

/// Arguments of `tagpilot crds` (none).
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

/// Runs `tagpilot crds`.
pub fn run(_args: CrdsArgs) -> CommandResult {
    let text = all_crds_yaml()
        .map_err(|e| CommandError::Failed(anyhow!("cannot write the CRDs as YAML: {e}")))?;
    print!("{text}");
    Ok(())
}
