//! `tagpilot policy eval`: read an ImagePolicy and a tag list, print the
//! chosen tag on stdout and why on stderr (the candidates considered, the
//! runner-up, what was filtered out), or the choice and its explanation as
//! JSON.
//!
//! The policy file may hold other documents too (an ImageRepository beside
//! it); exactly one of them must be an ImagePolicy. Every error names the file.
//!
//! A policy with requirements on the images (`spec.verify`,
//! `spec.requiredPlatforms`, `spec.minimumAge`) needs the registry: with
//! `--image` the best candidates are checked in order, as the engine checks
//! them, and the ones skipped are listed with why; with `--tags` it is refused
//! (exit 2), since a tag list alone cannot prove a signature.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;

use super::{CommandError, CommandResult, OutputFormat};
use crate::config::image_policy::{IMAGE_POLICY_KIND, ImagePolicyObject};
use crate::config::policy_entry::PolicyEntry;
use crate::engine::eligibility::{FactCache, Inputs};
use crate::image::ImageReference;
use crate::policy::{ExclusionList, Order, Ordering, Policy, Requirements, Selection};
use crate::registry::created_store::CreatedStore;
use crate::registry::{NoSecrets, ScanOptions};

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
    /// With --image: a directory of YAML objects to take the image's ImageRepository settings and credentials from.
    #[arg(long, requires = "image")]
    config: Option<PathBuf>,
    /// With --image: talk plain HTTP to the registry.
    #[arg(long, requires = "image")]
    insecure: bool,
    #[command(flatten)]
    endpoints: super::RegistryEndpointArgs,
    /// An exclusion regex (repeatable); replaces the default `^.*\.sig$`.
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs `tagpilot policy eval`.
pub fn eval(args: EvalArgs) -> CommandResult {
    let object = read_policy(&args.policy)?;
    let exclusions = exclusions(&args.exclude)?;
    let invalid = |message: String| {
        CommandError::InvalidInput(anyhow!("{}: {message}", args.policy.display()))
    };
    let selection = match (&args.tags, &args.image) {
        (Some(tags_path), _) => {
            let fields = requirement_fields(&object);
            if !fields.is_empty() {
                return Err(invalid(format!(
                    "{} need{} the registry (a tag list cannot show signatures, platforms or ages); give --image REF instead of --tags, with --config DIR for Secrets",
                    fields.join(", "),
                    if fields.len() == 1 { "s" } else { "" }
                )));
            }
            let entry =
                PolicyEntry::from_object(&object, &NoSecrets).map_err(|e| invalid(e.message))?;
            let text = std::fs::read_to_string(tags_path)
                .with_context(|| format!("cannot read the tag list {}", tags_path.display()))
                .map_err(CommandError::InvalidInput)?;
            evaluate(&entry.policy, &text, &exclusions)?
        }
        (None, Some(image)) => {
            let image = ImageReference::parse(image)
                .context("--image")
                .map_err(CommandError::InvalidInput)?;
            let options = ScanOptions {
                endpoints: args
                    .endpoints
                    .parse()
                    .map_err(|e| CommandError::InvalidInput(e.into()))?,
                ..ScanOptions::default()
            };
            let access = super::tags::image_access(
                &image,
                args.config.as_deref(),
                args.insecure,
                None,
                options,
            )?;
            let entry = PolicyEntry::from_object(&object, &access.secrets).map_err(|e| {
                let hint = if args.config.is_none() && object.spec.verify.is_some() {
                    " (give --config DIR holding the Secret)"
                } else {
                    ""
                };
                invalid(format!("{}{hint}", e.message))
            })?;
            let runtime = super::tags::runtime()?;
            let list = access.list_tags(&runtime)?;
            if !list.complete {
                return Err(CommandError::Failed(anyhow!(
                    "the registry listed more tags than the scan cap; refusing to pick from a partial list"
                )));
            }
            if entry.requirements.is_empty() {
                entry
                    .policy
                    .select(&list.tags, &exclusions)
                    .map_err(|error| CommandError::Failed(error.into()))?
            } else {
                let facts = FactCache::new(std::sync::Arc::new(CreatedStore::in_memory()));
                let inputs = Inputs {
                    target: &access.target,
                    tags: &list.tags,
                    scanned_at: 0,
                    exclusions: &exclusions,
                    now: jiff::Timestamp::now(),
                    metrics: None,
                };
                runtime
                    .block_on(crate::engine::eligibility::select(
                        &access.client,
                        &facts,
                        &entry,
                        &inputs,
                    ))
                    .map_err(|error| CommandError::Failed(error.into()))?
            }
        }
        (None, None) => {
            return Err(CommandError::InvalidInput(anyhow!(
                "give --tags FILE or --image REF"
            )));
        }
    };
    super::output::print_text(&render(&selection, args.output)?)?;
    if args.output == OutputFormat::Text {
        eprint!("{}", why(&selection));
    }
    Ok(())
}

/// The fields of `object` whose checks need the registry.
fn requirement_fields(object: &ImagePolicyObject) -> Vec<&'static str> {
    let spec = &object.spec;
    [
        spec.verify.as_ref().map(|_| "spec.verify"),
        (!spec.required_platforms.is_empty()).then_some("spec.requiredPlatforms"),
        spec.minimum_age.map(|_| "spec.minimumAge"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn read_policy(path: &Path) -> Result<ImagePolicyObject, CommandError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))
        .map_err(CommandError::InvalidInput)?;
    parse_object(&text)
        .and_then(|object| {
            // Validated here so that an invalid policy fails before any request.
            Policy::try_from(&object)?;
            Ok(object)
        })
        .map_err(|error| CommandError::InvalidInput(anyhow!("{}: {error:#}", path.display())))
}

/// Reads and validates the one ImagePolicy in YAML text (tests).
#[cfg(test)]
fn parse_policy(text: &str) -> anyhow::Result<Policy> {
    Ok(Policy::try_from(&parse_object(text)?)?)
}

/// Reads the one ImagePolicy in YAML text. Messages do not name the file (the
/// caller does) and never quote its lines.
fn parse_object(text: &str) -> anyhow::Result<ImagePolicyObject> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|error| {
        // The parser's first line (`line 2 column 6: ...`); the excerpt it adds
        // below would be labelled `<input>` instead of the file.
        let message = error.to_string();
        let first = message.lines().next().unwrap_or_default();
        anyhow!(
            "not valid YAML: {}",
            first.strip_prefix("error: ").unwrap_or(first)
        )
    })?;
    let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
    let kind_of = |document: &Value| {
        document
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let policies: Vec<&Value> = documents
        .iter()
        .filter(|d| kind_of(d).as_deref() == Some(IMAGE_POLICY_KIND))
        .collect();
    let document = match (policies.as_slice(), documents.as_slice()) {
        ([one], _) => *one,
        ([], []) => bail!("the file is empty; give a file holding one ImagePolicy"),
        ([], [only]) => match kind_of(only) {
            Some(kind) => bail!("this is a {kind}, not an ImagePolicy"),
            None => bail!("this document has no `kind`; an ImagePolicy has `kind: ImagePolicy`"),
        },
        ([], many) => {
            let kinds: Vec<String> = many
                .iter()
                .map(|d| kind_of(d).unwrap_or_else(|| "(no kind)".into()))
                .collect();
            bail!(
                "none of its {} documents is an ImagePolicy (found {})",
                many.len(),
                kinds.join(", ")
            )
        }
        (several, _) => bail!(
            "it holds {} ImagePolicies; give a file holding one",
            several.len()
        ),
    };
    crate::api::decode(document, None).map_err(|error| anyhow!("not a valid ImagePolicy: {error}"))
}

/// A few lines on why the tag was chosen (printed on stderr with `-o text`).
fn why(selection: &Selection) -> String {
    let explanation = &selection.explanation;
    let counts = &explanation.counts;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let rule = match &explanation.ordering {
        Ordering::Semver(range) => format!("the highest version in {:?}", range.as_str()),
        Ordering::Numerical(Order::Asc) => "the largest number".to_string(),
        Ordering::Numerical(Order::Desc) => "the smallest number".to_string(),
        Ordering::Alphabetical(Order::Asc) => "the last in alphabetical order".to_string(),
        Ordering::Alphabetical(Order::Desc) => "the first in alphabetical order".to_string(),
    };
    let mut out = format!(
        "why: {rule} among {} (of {})\n",
        plural(counts.candidates, "candidate", "candidates"),
        plural(counts.tags, "tag", "tags"),
    );
    let shown = |candidate: &crate::policy::Candidate| {
        if candidate.value == candidate.tag {
            candidate.tag.clone()
        } else {
            format!("{} (value {})", candidate.tag, candidate.value)
        }
    };
    if let Some(requires) = requirements_text(&explanation.requirements) {
        let _ = writeln!(out, "  requires: {requires}");
    }
    let digest = explanation
        .chosen
        .digest
        .as_ref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  chosen: {}{digest}",
        super::logging::escape_controls(&shown(&explanation.chosen))
    );
    for skipped in &explanation.skipped {
        let _ = writeln!(
            out,
            "  skipped: {}",
            super::logging::escape_controls(&skipped.to_string())
        );
    }
    if let Some(at) = explanation.recheck_at {
        let _ = writeln!(
            out,
            "  eligible later: a better tag becomes old enough at {at}"
        );
    }
    match explanation.runners_up.first() {
        Some(runner_up) => {
            let _ = writeln!(
                out,
                "  runner-up: {}",
                super::logging::escape_controls(&shown(runner_up))
            );
        }
        None if counts.candidates <= 1 => out.push_str("  runner-up: none (the only candidate)\n"),
        None => out.push_str("  runner-up: none (no older candidate)\n"),
    }
    let not_a_value = match explanation.ordering {
        Ordering::Semver(_) => "not a version",
        _ => "not a number",
    };
    let dropped: Vec<String> = [
        (counts.excluded, "excluded by the exclusion list"),
        (counts.pattern_mismatch, "not matching filterTags.pattern"),
        (counts.not_a_value, not_a_value),
        (counts.out_of_range, "outside the range"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let dropped = if dropped.is_empty() {
        "nothing".to_string()
    } else {
        dropped.join(", ")
    };
    let _ = writeln!(out, "  filtered out: {dropped}");
    out
}

/// What a policy requires of images, in words; `None` when nothing.
fn requirements_text(requirements: &Requirements) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(keys) = &requirements.signature {
        parts.push(format!("a signature by {keys}"));
    }
    if !requirements.platforms.is_empty() {
        let platforms: Vec<String> = requirements
            .platforms
            .iter()
            .map(ToString::to_string)
            .collect();
        parts.push(format!("platforms {}", platforms.join(", ")));
    }
    if let Some(age) = requirements.minimum_age {
        parts.push(format!("at least {} since created", duration_text(age)));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `72h`, `90m`, `45s`: the largest unit that divides the duration.
fn duration_text(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    if seconds > 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds > 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// `--exclude` patterns replace the default list.
fn exclusions(patterns: &[String]) -> Result<ExclusionList, CommandError> {
    if patterns.is_empty() {
        return Ok(ExclusionList::default());
    }
    ExclusionList::new(patterns)
        .context("invalid --exclude")
        .map_err(CommandError::InvalidInput)
}

/// Applies a policy to a tag list (one tag per line, blank lines ignored).
fn evaluate(
    policy: &Policy,
    tags_text: &str,
    exclusions: &ExclusionList,
) -> Result<Selection, CommandError> {
    let tags: Vec<&str> = tags_text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    policy
        .select(&tags, exclusions)
        .map_err(|error| CommandError::Failed(error.into()))
}

/// The text printed on stdout: the tag and a newline, or pretty JSON.
fn render(selection: &Selection, format: OutputFormat) -> Result<String, CommandError> {
    match format {
        OutputFormat::Text => Ok(format!("{}\n", selection.tag)),
        OutputFormat::Json => super::output::json_text(selection),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
