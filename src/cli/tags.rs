//! `tagpilot tags IMAGE`: list an image's tags as the scanner sees them.
//!
//! Credentials: with `--config DIR`, an ImageRepository in DIR whose
//! `spec.image` is IMAGE supplies `secretRef`, `certSecretRef`, `provider`,
//! `insecure` and `timeout`, with the Secrets found in DIR; without a matching
//! ImageRepository, every `kubernetes.io/dockerconfigjson` Secret in DIR is
//! consulted by registry host. Without `--config`, Docker's own
//! `config.json` (`$DOCKER_CONFIG` or `~/.docker`) is used if present. ECR
//! hosts get a token from the AWS credential chain.
//!
//! Output: the tags sorted byte-wise, one per line (deterministic, and what
//! `sort` and policies see), or `{"image", "tags", "complete"}` with `-o json`.
//! A scan stopped by `--max-tags` prints what it has, says so on stderr, and
//! reports `"complete": false`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow};

use super::{CommandError, CommandResult, OutputFormat};
use crate::config::meta::GoDuration;
use crate::config::secrets::SecretSet;
use crate::engine::objects::ObjectSet;
use crate::image::ImageReference;
use crate::registry::{
    CredentialSource, DockerConfig, ObjectKey, RegistryClient, ScanError, ScanOptions, ScanTarget,
    TagList,
};

/// Arguments of `tagpilot tags`.
#[derive(Debug, clap::Args)]
pub struct TagsArgs {
    /// The image whose tags to list (`ghcr.io/org/app`; a tag or digest is ignored).
    image: String,
    /// A directory of YAML files with ImageRepository objects and Secrets to take credentials and settings from.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
    /// Talk plain HTTP to the registry (like `spec.insecure: true`).
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    endpoints: super::RegistryEndpointArgs,
    /// Stop after this many tags; the list is then reported incomplete.
    #[arg(long, default_value_t = 100_000)]
    max_tags: usize,
    /// Tags requested per page (registries cap it at 1000).
    #[arg(long, default_value_t = 1000, hide = true)]
    page_size: u32,
    /// Timeout of each registry request, e.g. `30s` (default: the ImageRepository's, else 60s).
    #[arg(long)]
    timeout: Option<String>,
}

/// The arguments, resolved before any I/O.
struct Settings {
    image: ImageReference,
    options: ScanOptions,
    timeout: Option<std::time::Duration>,
}

fn resolve(args: &TagsArgs) -> Result<Settings, anyhow::Error> {
    let image = ImageReference::parse(&args.image).context("IMAGE")?;
    let endpoints = args.endpoints.parse()?;
    let timeout = args
        .timeout
        .as_deref()
        .map(|t| {
            GoDuration::parse(t)
                .ok()
                .map(|d| d.0)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| anyhow!("--timeout {t:?} is not a duration like 30s or 2m"))
        })
        .transpose()?;
    if args.max_tags == 0 {
        return Err(anyhow!("--max-tags must be at least 1"));
    }
    Ok(Settings {
        image,
        options: ScanOptions {
            max_tags: args.max_tags,
            page_size: args.page_size.clamp(1, 1000),
            endpoints,
            ..ScanOptions::default()
        },
        timeout,
    })
}

/// Runs `tagpilot tags`.
pub fn run(args: TagsArgs) -> CommandResult {
    let settings = resolve(&args).map_err(CommandError::InvalidInput)?;
    let (target, list) = list_image_tags(
        &settings.image,
        args.config.as_deref(),
        args.insecure,
        settings.timeout,
        settings.options,
    )?;
    if !list.complete {
        eprintln!(
            "warning: stopped after {} tags (--max-tags); the list is incomplete",
            list.tags.len()
        );
    }
    match args.output {
        OutputFormat::Text => {
            let mut text = String::new();
            for tag in &list.tags {
                text.push_str(tag);
                text.push('\n');
            }
            super::output::print_text(&text)
        }
        OutputFormat::Json => super::output::print_json(&TagsOutput {
            image: target.image.name(),
            tags: &list.tags,
            complete: list.complete,
        }),
    }
}

/// The `-o json` document of `tagpilot tags`.
#[derive(serde::Serialize)]
struct TagsOutput<'a> {
    /// The image's name, without tag or digest.
    image: &'a str,
    /// The tags, sorted byte-wise.
    tags: &'a [String],
    /// False when the listing stopped at `--max-tags`.
    complete: bool,
}

/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, if present and readable.
fn user_docker_config() -> Option<DockerConfig> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).ok()?;
    match DockerConfig::parse(&bytes) {
        Ok(config) => Some(config),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable Docker config");
            None
        }
    }
}

/// Lists the tags of `image` as the scanner sees them: settings and credentials
/// from a matching ImageRepository in `config` (or its dockerconfigjson
/// Secrets), else Docker's own `config.json`. Shared by `tags` and `policy eval --image`.
pub(super) fn list_image_tags(
    image: &ImageReference,
    config: Option<&Path>,
    insecure: bool,
    timeout: Option<std::time::Duration>,
    options: ScanOptions,
) -> Result<(ScanTarget, TagList), CommandError> {
    let access = image_access(image, config, insecure, timeout, options)?;
    let runtime = runtime()?;
    let list = access.list_tags(&runtime)?;
    Ok((access.target, list))
}

/// How the command line reaches one image: its scan target, a client with its
/// credentials, and the Secrets of `--config` (for other lookups, e.g. keys).
pub(super) struct ImageAccess {
    /// The scan target (from a matching ImageRepository, or built here).
    pub target: ScanTarget,
    /// A client with the Secrets of `--config`.
    pub client: RegistryClient,
    /// The Secrets of `--config` (none without it).
    pub secrets: SecretSet,
    from_object: bool,
}

/// The settings and credentials `list_image_tags` uses, before any request.
pub(super) fn image_access(
    image: &ImageReference,
    config: Option<&Path>,
    insecure: bool,
    timeout: Option<std::time::Duration>,
    options: ScanOptions,
) -> Result<ImageAccess, CommandError> {
    let (secrets, repositories) = match config {
        Some(dir) => {
            let objects = load_config_dir(dir).map_err(CommandError::InvalidInput)?;
            (objects.secrets, objects.repositories)
        }
        None => (SecretSet::default(), Default::default()),
    };
    let matching = repositories.values().find(|entry| {
        let candidate = &entry.target.image;
        candidate.api_host() == image.api_host() && candidate.repository() == image.repository()
    });
    let mut target = match matching {
        Some(entry) => {
            tracing::debug!(object = %entry.target.id, "using the ImageRepository's settings");
            entry.target.clone()
        }
        None => {
            let mut target = ScanTarget::new(ObjectKey::new("cli", "tags"), image.clone());
            let docker_config = match config {
                Some(_) => Some(secrets.merged_docker_config()),
                None => user_docker_config(),
            };
            if let Some(config) = docker_config.filter(|c| !c.is_empty()) {
                target.credentials = CredentialSource::DockerConfig(Arc::new(config));
            }
            target
        }
    };
    target.insecure |= insecure;
    if let Some(timeout) = timeout {
        target.timeout = timeout;
    }
    let client = RegistryClient::builder(options)
        .secrets(Arc::new(secrets.clone()))
        .build()
        .map_err(|e| CommandError::Failed(anyhow!("cannot set up the HTTP client: {e}")))?;
    Ok(ImageAccess {
        target,
        client,
        secrets,
        from_object: matching.is_some(),
    })
}

/// A single-threaded async runtime for one command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start the async runtime: {e}")))
}

impl ImageAccess {
    /// Lists the tags, with a progress counter on a terminal.
    pub(super) fn list_tags(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<TagList, CommandError> {
        let show_progress = std::io::stderr().is_terminal();
        let progress = move |count: usize| {
            if show_progress {
                eprint!("\r\x1b[Klisting tags: {count}");
            }
        };
        let result = runtime.block_on(self.client.list_tags_with_progress(&self.target, &progress));
        if show_progress {
            eprint!("\r\x1b[K");
        }
        result.map_err(|error| {
            CommandError::Failed(command_line_error(error, &self.target, self.from_object))
        })
    }
}

/// A scan error as the command line says it: without an ImageRepository
/// there is no `spec.image` or `spec.secretRef` to point at, so the hints name
/// what the user of `tags` and `policy eval --image` can change.
fn command_line_error(error: ScanError, target: &ScanTarget, from_object: bool) -> anyhow::Error {
    if from_object {
        return error.into();
    }
    match error {
        ScanError::NotFound {
            image,
            host,
            detail,
        } => anyhow!(
            "scanning {image}: repository not found at {host} ({detail}); check the image name"
        ),
        ScanError::Unauthorized {
            image,
            host,
            status,
            ..
        } if matches!(target.credentials, CredentialSource::Anonymous) => anyhow!(
            "scanning {image}: {host} answered {status}: not authorized; the repository may be \
             private: log in with `docker login {host}`, or give --config DIR with a Secret \
             holding credentials for {host}"
        ),
        other => other.into(),
    }
}

/// Loads the config directory with the shared loader. Objects that do not
/// validate are reported on stderr and left out; the listing goes on.
fn load_config_dir(dir: &Path) -> Result<ObjectSet, anyhow::Error> {
    if !dir.is_dir() {
        return Err(anyhow!("--config {} is not a directory", dir.display()));
    }
    let (objects, errors) = ObjectSet::load(dir);
    for error in errors {
        eprintln!("warning: {error}");
    }
    Ok(objects)
}
