//! The command line: clap commands (doc comments are the `--help` text), log
//! setup, and the mapping of outcomes to exit codes.
//!
//! Exit codes are a contract (docs/design.md): 0 ok, 1 nothing matched or the
//! operation failed, 2 invalid input. stdout carries data only; logs and error
//! messages go to stderr.

mod apply;
mod controller;
mod crds;
mod listen;
mod migrate;
mod policy;
mod run;
mod status;
mod sync;
mod tags;
mod update;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Keeps the image tags in a GitOps config repository current.
#[derive(Debug, Parser)]
#[command(name = "tagpilot", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TAGPILOT_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter (a tracing `EnvFilter`, e.g. `info`, `tagpilot=debug`).
    #[arg(long, global = true, default_value = "warn", env = "TAGPILOT_LOG")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Plain text.
    #[default]
    Text,
    /// JSON on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the automation loop from YAML files (standalone mode).
    Run(run::RunArgs),
    /// Do one cycle and print the diff it would commit, pushing nothing.
    Plan(run::PlanArgs),
    /// Show the tag store and last results.
    Status(status::StatusArgs),
    /// Run as a Kubernetes controller.
    Controller(controller::ControllerArgs),
    /// Work with ImagePolicy objects.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List the tags of an image with the configured credentials.
    Tags(tags::TagsArgs),
    /// Apply policy results to every `$imagepolicy` marker under a directory.
    Update(update::UpdateArgs),
    /// Apply a path of manifests to the current cluster.
    Apply(apply::ApplyArgs),
    /// Print the CustomResourceDefinitions.
    Crds(crds::CrdsArgs),
    /// Move automation written for another tool to markers and policies.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Pick the latest tag from a list of tags (or a registry) by an ImagePolicy.
    Eval(policy::EvalArgs),
}

/// `--registry-endpoint HOST=URL`, shared by the commands that talk to registries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryEndpointArgs {
    /// Reach a registry host at another URL, `HOST=URL` (repeatable; the variable takes a comma-separated list).
    #[arg(
        long = "registry-endpoint",
        value_name = "HOST=URL",
        env = "TAGPILOT_REGISTRY_ENDPOINTS",
        value_delimiter = ','
    )]
    pub registry_endpoints: Vec<String>,
}

impl RegistryEndpointArgs {
    /// The parsed overrides.
    pub fn parse(
        &self,
    ) -> Result<crate::registry::RegistryEndpoints, crate::registry::endpoints::EndpointError> {
        crate::registry::RegistryEndpoints::parse(
            self.registry_endpoints.iter().map(String::as_str),
        )
    }
}

/// How a command failed; decides the exit code.
#[derive(Debug)]
pub enum CommandError {
    /// The operation ran and failed, or nothing matched (exit 1).
    Failed(anyhow::Error),
    /// The input (files, flags, objects) is invalid (exit 2).
    InvalidInput(anyhow::Error),
}

impl CommandError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::InvalidInput(_) => 2,
        }
    }
    fn error(&self) -> &anyhow::Error {
        match self {
            Self::Failed(e) | Self::InvalidInput(e) => e,
        }
    }
}

/// The result of one command.
pub type CommandResult = Result<(), CommandError>;

/// Parses the command line, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // clap uses 0 for --help/--version and 2 for usage errors: both match our contract.
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    if let Err(message) = init_logging(cli.log_format, &cli.log_level) {
        eprintln!("error: invalid --log-level: {message}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Policy(PolicyCommand::Eval(args)) => policy::eval(args),
        Command::Update(args) => update::run(args),
        Command::Run(args) => run::run(args),
        Command::Plan(args) => run::plan(args),
        Command::Status(args) => status::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Tags(args) => tags::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Crds(args) => crds::run(args),
        Command::Migrate(command) => migrate::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {:#}", error.error());
            ExitCode::from(error.exit_code())
        }
    }
}

fn init_logging(format: LogFormat, filter: &str) -> Result<(), String> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    // Invariant 7: the AWS SDK's trace events print whole HTTP responses, including
    // ECR authorization tokens; they are dropped whatever the filter asks for.
    let no_sdk_bodies = tracing_subscriber::filter::filter_fn(|metadata| {
        !(*metadata.level() == tracing::Level::TRACE && metadata.target().starts_with("aws_smithy"))
    });
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Text => layer.with_filter(no_sdk_bodies).boxed(),
        LogFormat::Json => layer.json().with_filter(no_sdk_bodies).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    Ok(())
}
