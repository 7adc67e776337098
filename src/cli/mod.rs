//! The command line: clap commands (doc comments are the `--help` text), log
//! setup, and the mapping of outcomes to exit codes.
//!
//! Exit codes are a contract (docs/design.md): 0 ok, 1 nothing matched or the
//! operation failed, 2 invalid input. stdout carries data only; logs and error
//! messages go to stderr.

mod apply;
mod controller;
mod crds;
mod kubeconfig;
mod listen;
pub mod logging;
mod migrate;
mod output;
mod policy;
mod run;
mod status;
mod sync;
mod tags;
mod update;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use logging::{ColorChoice, LogFormat};

/// Keeps the image tags in a GitOps config repository current.
#[derive(Debug, Parser)]
#[command(name = "tagpilot", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TAGPILOT_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter (a tracing `EnvFilter`, e.g. `info`, `tagpilot=debug`) [default: `info` for
    /// `run` without `--once` and `controller`, else `warn`].
    #[arg(long, global = true, env = "TAGPILOT_LOG")]
    log_level: Option<String>,
    /// Colour log lines: `auto` when stderr is a terminal and `NO_COLOR` is unset.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "TAGPILOT_COLOR"
    )]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
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
    let daemon = match &cli.command {
        Command::Run(args) => !args.is_once(),
        Command::Controller(_) => true,
        _ => false,
    };
    let default_level = if daemon {
        logging::DAEMON_LEVEL
    } else {
        logging::COMMAND_LEVEL
    };
    let level = cli.log_level.as_deref().unwrap_or(default_level);
    if let Err(message) = logging::init(cli.log_format, level, cli.color) {
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
            eprintln!("error: {}", error_text(error.error().as_ref()));
            ExitCode::from(error.exit_code())
        }
    }
}

/// An error and its causes on one line, each cause once: a cause whose text the
/// message already holds is left out (error types here put their source's text
/// in their own message, so printing the chain as well would say it twice:
/// `error sending request: error sending request`), and control characters
/// from outside are escaped.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let message = crate::redact::with_causes(error);
    logging::escape_controls(&message).into_owned()
}
