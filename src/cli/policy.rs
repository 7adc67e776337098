//! `tagpilot policy eval`: read an ImagePolicy and a tag list, print the
//! chosen tag (or the choice and its explanation as JSON).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};

use super::{CommandError, CommandResult, OutputFormat};
use crate::config::image_policy::ImagePolicyObject;
use crate::image::ImageReference;
use crate::policy::{ExclusionList, Policy, Selection};
use crate::registry::ScanOptions;

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
    let policy = read_policy(&args.policy)?;
    let exclusions = exclusions(&args.exclude)?;
    let text = match (&args.tags, &args.image) {
        (Some(tags_path), _) => std::fs::read_to_string(tags_path)
            .with_context(|| format!("cannot read the tag list {}", tags_path.display()))
            .map_err(CommandError::InvalidInput)?,
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
            let (_, list) = super::tags::list_image_tags(
                &image,
                args.config.as_deref(),
                args.insecure,
                None,
                options,
            )?;
            if !list.complete {
                return Err(CommandError::Failed(anyhow!(
                    "the registry listed more tags than the scan cap; refusing to pick from a partial list"
                )));
            }
            list.tags.join("\n")
        }
        (None, None) => {
            return Err(CommandError::InvalidInput(anyhow!(
                "give --tags FILE or --image REF"
            )));
        }
    };
    let selection = evaluate(&policy, &text, &exclusions)?;
    print!("{}", render(&selection, args.output)?);
    Ok(())
}

fn read_policy(path: &Path) -> Result<Policy, CommandError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))
        .map_err(CommandError::InvalidInput)?;
    parse_policy(&text)
        .with_context(|| format!("in {}", path.display()))
        .map_err(CommandError::InvalidInput)
}

/// Reads and validates an ImagePolicy from YAML text.
fn parse_policy(text: &str) -> anyhow::Result<Policy> {
    let object = ImagePolicyObject::from_yaml(text)?;
    Ok(Policy::try_from(&object)?)
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
        OutputFormat::Json => serde_json::to_string_pretty(selection)
            .map(|json| json + "\n")
            .map_err(|e| CommandError::Failed(e.into())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const POLICY: &str = r#"
apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  filterTags:
    pattern: '^app-(?P<version>.*)$'
    extract: '$version'
  policy:
    semver: {range: '>=1.0.0 <3'}
"#;

    const TAGS: &str = "app-1.0.0\n\napp-2.1.0\r\napp-2.0.0\napp-v2.1.0\napp-3.0.0\n\
                        app-2.2.0.sig\napp-latest\nother-2.9.9\napp-0.9.0\n";

    fn run(format: OutputFormat) -> String {
        let policy = parse_policy(POLICY).unwrap();
        let selection = evaluate(&policy, TAGS, &ExclusionList::default()).unwrap();
        render(&selection, format).unwrap()
    }

    #[test]
    fn text_output_is_the_tag_and_a_newline() {
        assert_eq!(run(OutputFormat::Text), "app-v2.1.0\n");
    }

    #[test]
    fn json_output_explains_the_choice() {
        insta::assert_snapshot!(run(OutputFormat::Json));
    }

    #[test]
    fn no_match_fails_with_exit_one() {
        let policy = parse_policy(&POLICY.replace("<3", "<0.1")).unwrap();
        let error = evaluate(&policy, TAGS, &ExclusionList::default()).unwrap_err();
        assert_eq!(error.exit_code(), 1);
        let text = error.error().to_string();
        assert!(text.starts_with("no tag matches policy apps/app"), "{text}");
    }

    #[test]
    fn invalid_policy_and_exclusions_exit_two() {
        let error =
            parse_policy(&POLICY.replace("(?P<version>", "(?<=a)(?P<version>")).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("spec.filterTags.pattern"), "{text}");
        let error = parse_policy("kind: ImagePolicy").unwrap_err();
        assert!(format!("{error:#}").contains("not a valid ImagePolicy"));
        let error = exclusions(&["(?!x)".to_string()]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(exclusions(&[]).is_ok());
    }

    #[test]
    fn unreadable_files_exit_two() {
        let args = EvalArgs {
            policy: PathBuf::from("/nonexistent/policy.yaml"),
            tags: Some(PathBuf::from("/nonexistent/tags")),
            image: None,
            config: None,
            insecure: false,
            endpoints: Default::default(),
            exclude: vec![],
            output: OutputFormat::Text,
        };
        assert_eq!(eval(args).unwrap_err().exit_code(), 2);
    }
}
