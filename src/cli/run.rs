//! `tagpilot run` and `tagpilot plan`: the standalone engine over a config directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use tokio::sync::mpsc;

use super::listen::{ListenArgs, spawn_server};
use super::logging::escape_controls;
use super::{CommandError, CommandResult, OutputFormat};
use crate::engine::annotations::{ContainerReport, ContainerResult};
use crate::engine::cycle::{CycleMode, CycleReport, Engine};
use crate::engine::http::Endpoints;
use crate::engine::metrics::Metrics;
use crate::engine::objects::ObjectSet;
use crate::engine::receiver::{Receiver, ReceiverTable};
use crate::engine::webhook::ObjectLabels;
use crate::registry::{RegistryClient, ScanOptions};

/// Options shared by `run` and `plan`.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// The directory of YAML objects (ImageRepository, ImagePolicy, GitRepository,
    /// ImageUpdateAutomation, Secret), with our apiVersion or Flux's.
    #[arg(long)]
    config: PathBuf,
    /// Where tag lists, git working copies and status are kept
    /// (default: `$XDG_STATE_HOME/tagpilot`, else `~/.local/state/tagpilot`).
    #[arg(long, env = "TAGPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    endpoints: super::RegistryEndpointArgs,
    /// Output format of the cycle report on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `tagpilot run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Run one full cycle (scan, evaluate, commit and push) and exit: 0 when every object succeeded.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    listen: ListenArgs,
}

impl RunArgs {
    /// Whether this is `run --once` (one cycle) rather than the daemon.
    pub fn is_once(&self) -> bool {
        self.once
    }
}

/// Arguments of `tagpilot plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    engine: EngineArgs,
}

/// The default state directory.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("tagpilot");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/tagpilot"),
        None => PathBuf::from(".tagpilot-state"),
    }
}

struct Prepared {
    engine: Engine<RegistryClient>,
    /// Syncs and their sources (applied by `apply`, beside the engine).
    syncs: super::sync::SyncObjects,
    /// The engine's metrics (the ones `/metrics` serves).
    metrics: Arc<Metrics>,
    load_errors: usize,
    runtime: tokio::runtime::Runtime,
}

fn prepare(args: &EngineArgs) -> Result<Prepared, CommandError> {
    if !args.config.is_dir() {
        return Err(CommandError::InvalidInput(anyhow!(
            "--config {} is not a directory",
            args.config.display()
        )));
    }
    let endpoints = args
        .endpoints
        .parse()
        .map_err(|e| CommandError::InvalidInput(e.into()))?;
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))
        .map_err(CommandError::Failed)?;
    let (objects, errors) = ObjectSet::load(&args.config);
    for error in &errors {
        eprintln!("error: {}", super::error_text(error));
    }
    if has_no_work(&objects) {
        let valid = if errors.is_empty() { "" } else { "valid " };
        return Err(CommandError::InvalidInput(anyhow!(
            "--config {} holds no {valid}ImageRepository, ImagePolicy, GitRepository, \
             ImageUpdateAutomation or Sync objects: nothing to run{}",
            args.config.display(),
            if errors.is_empty() {
                " (give the directory of your YAML files)"
            } else {
                " (see the errors above)"
            }
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start the async runtime: {e}")))?;
    let client = RegistryClient::builder(ScanOptions {
        endpoints,
        ..ScanOptions::default()
    })
    .secrets(Arc::new(objects.secrets.clone()))
    .build()
    .map_err(|e| CommandError::Failed(anyhow!("cannot set up the HTTP client: {e}")))?;
    let metrics = Arc::new(Metrics::new());
    let syncs = super::sync::SyncObjects::take(&objects, &state_dir);
    let engine = Engine::new(objects, client, &state_dir, metrics.clone())
        .map_err(|e| CommandError::Failed(e.into()))?;
    Ok(Prepared {
        engine,
        syncs,
        metrics,
        load_errors: errors.len(),
        runtime,
    })
}

/// Whether `objects` gives the engine nothing to do (no objects, or Secrets only).
fn has_no_work(objects: &ObjectSet) -> bool {
    objects.repositories.is_empty()
        && objects.policies.is_empty()
        && objects.sources.is_empty()
        && objects.automations.is_empty()
        && objects.syncs.is_empty()
}

/// Runs `tagpilot run`.
pub fn run(args: RunArgs) -> CommandResult {
    let listen = args.listen.resolve()?;
    let Prepared {
        mut engine,
        syncs,
        metrics,
        load_errors,
        runtime,
    } = prepare(&args.engine)?;
    let mut sync_runner = runtime.block_on(syncs.runner(metrics.clone()))?;
    if args.once {
        let report = runtime.block_on(engine.cycle(CycleMode::Commit));
        print_report(&report, args.engine.output)?;
        let syncs_ok = match sync_runner.as_mut() {
            Some(runner) => runtime.block_on(super::sync::run_once(runner)),
            None => true,
        };
        return if report.has_errors() || load_errors > 0 || !syncs_ok {
            Err(CommandError::Failed(anyhow!(
                "some objects failed (see the messages above)"
            )))
        } else {
            Ok(())
        };
    }
    let (receivers, labels) = standalone_receivers(&args.engine.config, engine.objects());
    if listen.is_none() && !receivers.is_empty() {
        tracing::warn!(
            count = receivers.len(),
            "the Receivers in --config are served only with --listen"
        );
    }
    let (pushes_tx, pushes_rx) = mpsc::channel(64);
    let shutdown = {
        let _runtime = runtime.enter();
        shutdown_signal()?
    };
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(listen) = listen {
            // The objects are loaded and the state opened: ready at once.
            let app = Endpoints::new(metrics.clone(), listen.token, pushes_tx)
                .receivers(ReceiverTable::new(receivers))
                .google_certs_url(&listen.google_certs_url)
                .router();
            spawn_server(listen.addr, app, stop_rx.clone()).await?;
        }
        // One shutdown signal for both loops.
        let (quit_tx, quit_rx) = tokio::sync::watch::channel(false);
        let waiter = async move {
            shutdown.await;
            let _ = quit_tx.send(true);
        };
        let quit = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|quit| *quit).await;
        };
        let engine_loop =
            crate::engine::daemon::run_loop(&mut engine, pushes_rx, &labels, quit(quit_rx.clone()));
        let sync_loop = async {
            if let Some(runner) = sync_runner.as_mut() {
                runner.run_loop(quit(quit_rx.clone())).await;
            }
        };
        tokio::join!(waiter, engine_loop, sync_loop);
        let _ = stop_tx.send(true);
        Ok(())
    })
}

/// Flux's Receivers in the `--config` directory (with the Secrets `objects`
/// holds), and the labels of the objects they may select. A Receiver that
/// cannot be served is reported on stderr and left out.
fn standalone_receivers(
    config: &std::path::Path,
    objects: &crate::engine::objects::ObjectSet,
) -> (Vec<Receiver>, ObjectLabels) {
    let (raw, _) = crate::config::load::read_dir_objects(config);
    let (receivers, errors) = crate::engine::receiver::from_raw(&raw, &objects.secrets);
    for error in errors {
        eprintln!("error: {}", escape_controls(&error));
    }
    if !receivers.is_empty() {
        let names: Vec<String> = receivers.iter().map(|r| r.key.to_string()).collect();
        tracing::info!(receivers = ?names, "serving Flux Receivers on /hook/<digest>");
    }
    (receivers, crate::engine::receiver::labels_of(&raw))
}

/// Runs `tagpilot plan`.
pub fn plan(args: PlanArgs) -> CommandResult {
    let Prepared {
        mut engine,
        load_errors,
        runtime,
        ..
    } = prepare(&args.engine)?;
    // `plan` commits nothing and applies nothing: Syncs are not run.
    let report = runtime.block_on(engine.cycle(CycleMode::Plan));
    match args.engine.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => print!("{}", render_plan(&report)),
    }
    if report.has_errors() || load_errors > 0 {
        Err(CommandError::Failed(anyhow!(
            "some objects failed (see the messages above)"
        )))
    } else {
        Ok(())
    }
}

/// The text `tagpilot plan` prints: per automation, the commit message and the diff.
pub fn render_plan(report: &CycleReport) -> String {
    let mut out = String::new();
    for automation in &report.automations {
        out.push_str(&format!(
            "=== ImageUpdateAutomation {}\n",
            automation.automation
        ));
        if let Some(error) = &automation.error {
            out.push_str(&format!("error: {}\n\n", escape_controls(error)));
            continue;
        }
        for image in &automation.images {
            if let Some(error) = &image.error {
                out.push_str(&format!(
                    "error: scan of {}: {}\n",
                    image.image,
                    escape_controls(error)
                ));
            }
        }
        for container in &automation.containers {
            out.push_str(&escape_controls(&container_line(container)));
            out.push('\n');
        }
        // Strategy Annotations lists its held downgrades with the containers.
        let held = automation
            .held_downgrades
            .iter()
            .filter(|_| automation.containers.is_empty());
        for held in held {
            out.push_str(&escape_controls(&format!(
                "held back (downgrade): {} {} holds {}, the policy says {}",
                held.location, held.setter, held.current, held.result
            )));
            out.push('\n');
        }
        match (&automation.message, &automation.diff) {
            (Some(message), Some(diff)) => {
                out.push_str("--- commit message ---\n");
                out.push_str(message);
                out.push_str("--- diff ---\n");
                out.push_str(diff);
            }
            _ => out.push_str("no changes\n"),
        }
        out.push('\n');
    }
    out
}

/// One container of an `Annotations` automation: where, which, its filter,
/// and what happened to it.
fn container_line(container: &ContainerReport) -> String {
    // An invalid filter's message names the annotation already.
    let filter = if container.result == ContainerResult::InvalidFilter {
        String::new()
    } else {
        format!(" ({})", container.filter)
    };
    let mut line = format!(
        "{}:{} {}{filter}: {}",
        container.file,
        container.line,
        container.container,
        container.result.text()
    );
    if let Some(latest) = &container.latest {
        line.push_str(&format!(" → {latest}"));
    }
    if let Some(message) = &container.message {
        line.push_str(&format!(" ({message})"));
    }
    line
}

fn print_report(report: &CycleReport, output: OutputFormat) -> CommandResult {
    if output == OutputFormat::Json {
        return print_json(report);
    }
    for scan in &report.scans {
        match &scan.error {
            None => println!("scanned {}: {} tags", scan.repository, scan.tags),
            Some(error) => eprintln!(
                "error: scan of {} failed: {}",
                scan.repository,
                escape_controls(error)
            ),
        }
    }
    for policy in &report.policies {
        match (&policy.latest, &policy.error) {
            (_, Some(error)) => eprintln!(
                "error: policy {}: {}",
                policy.policy,
                escape_controls(error)
            ),
            (Some(latest), None) => println!("policy {}: {latest}", policy.policy),
            (None, None) => {}
        }
    }
    for automation in &report.automations {
        for image in &automation.images {
            match &image.error {
                None => println!(
                    "scanned {}: {}: {} tags",
                    automation.automation, image.image, image.tags
                ),
                Some(error) => eprintln!(
                    "error: automation {}: scan of {} failed: {}",
                    automation.automation,
                    image.image,
                    escape_controls(error)
                ),
            }
        }
        match (&automation.commit, &automation.error) {
            (_, Some(error)) => eprintln!(
                "error: automation {}: {}",
                automation.automation,
                escape_controls(error)
            ),
            (Some(commit), None) => println!(
                "automation {}: pushed {} ({} change{})",
                automation.automation,
                commit,
                automation.changes.len(),
                if automation.changes.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            (None, None) => println!("automation {}: no change", automation.automation),
        }
        if let Some(pull_request) = &automation.pull_request {
            println!(
                "automation {}: {}",
                automation.automation,
                escape_controls(&pull_request.note())
            );
        }
        for container in automation
            .containers
            .iter()
            .filter(|c| c.result.is_problem())
        {
            eprintln!(
                "error: automation {}: {}",
                automation.automation,
                escape_controls(&container_line(container))
            );
        }
        for held in &automation.held_downgrades {
            let text = format!(
                "automation {}: held back a downgrade at {} ({} holds {}, the policy says {})",
                automation.automation, held.location, held.setter, held.current, held.result
            );
            eprintln!("warning: {}", escape_controls(&text));
        }
    }
    Ok(())
}

fn print_json(report: &CycleReport) -> CommandResult {
    // Scan times (strategy Annotations) are kept in seconds; JSON shows RFC 3339.
    let mut value = serde_json::to_value(report)
        .map_err(|e| CommandError::Failed(anyhow!("cannot encode the output as JSON: {e}")))?;
    super::output::epoch_times_to_rfc3339(&mut value);
    super::output::print_json(&value)
}

/// Registers SIGINT and SIGTERM handlers now (the caller must be inside the
/// runtime) and returns a future that resolves on the first of them. Registering
/// before the first cycle matters: a signal that arrives while the first cycle
/// runs would otherwise kill the process with the default action instead of
/// letting it finish its git operation and exit 0.
pub(super) fn shutdown_signal()
-> Result<impl std::future::Future<Output = ()> + use<>, CommandError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let register = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| CommandError::Failed(anyhow!("cannot handle {name}: {e}")))
        };
        let mut interrupt = register(SignalKind::interrupt(), "SIGINT")?;
        let mut terminate = register(SignalKind::terminate(), "SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
