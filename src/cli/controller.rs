//! `tagpilot controller`: the engine driven by custom resources. Connects with
//! the kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or the in-cluster service
//! account, serves `/healthz`, `/metrics` and the registry webhook, watches the
//! objects, and (with `--leader-elect`) runs the loop only while it holds the Lease.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::{mpsc, watch};

use super::listen::{ListenArgs, spawn_server};
use super::run::{default_state_dir, shutdown_signal};
use super::{CommandError, CommandResult};
use crate::config::meta::GoDuration;
use crate::controller::driver::{Driver, DriverSettings};
use crate::controller::events::EventSink;
use crate::controller::kinds::ApiFlavor;
use crate::controller::lease::LeaseLock;
use crate::controller::watch::Watches;
use crate::engine::http::router;
use crate::engine::metrics::Metrics;

/// Arguments of `tagpilot controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Act only while holding the Lease (run several replicas, one acts).
    #[arg(long)]
    leader_elect: bool,
    /// The Lease's name.
    #[arg(long, default_value = "tagpilot-controller")]
    lease_name: String,
    /// The Lease's namespace (default: the namespace of the kubeconfig context or the pod).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// How long a Lease holds without renewal; a standby takes over after it expires.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// This replica's identity in the Lease (default: `$POD_NAME`, else host name and PID).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Watch only objects with these labels (e.g. `shard=a`), to split work across deployments.
    #[arg(long)]
    watch_label_selector: Option<String>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// Watch Flux's `image.toolkit.fluxcd.io/v1` and `source.toolkit.fluxcd.io/v1` kinds instead of ours.
    #[arg(long)]
    flux_compat: bool,
    /// Where tag lists, git working copies and status are kept.
    #[arg(long, env = "TAGPILOT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    listen: ListenArgs,
    /// The kustomize binary Syncs render with; `kubectl kustomize` is used when it is not on PATH.
    #[arg(long, value_name = "BIN", default_value = "kustomize")]
    kustomize: String,
    /// Re-read every object (and the Secrets and ServiceAccounts they name) at least this often.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    resync: Duration,
    #[command(flatten)]
    endpoints: super::RegistryEndpointArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    GoDuration::parse(text)
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

/// Runs `tagpilot controller`.
pub fn run(args: ControllerArgs) -> CommandResult {
    let listen = args.listen.resolve()?;
    let endpoints = args
        .endpoints
        .parse()
        .map_err(|e| CommandError::InvalidInput(e.into()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start the async runtime: {e}")))?;
    let shutdown = {
        let _runtime = runtime.enter();
        shutdown_signal()?
    };
    let result = runtime.block_on(async move {
        let client = super::kubeconfig::client().await?;
        let metrics = Arc::new(Metrics::new());
        // Without leader election this replica always acts.
        let leading = Arc::new(AtomicBool::new(!args.leader_elect));
        metrics.set("tagpilot_controller_leader", &[], 0.0);
        let (pushes_tx, pushes_rx) = mpsc::channel(64);
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(listen) = listen {
            let app = router(metrics.clone(), listen.token, pushes_tx)
                .layer(axum::middleware::from_fn(standby_refuses_webhooks(leading.clone())));
            spawn_server(listen.addr, app, stop_rx.clone()).await?;
        }
        let identity = args.identity.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tagpilot".into());
            format!("{host}-{}", std::process::id())
        });
        let flavor = if args.flux_compat {
            ApiFlavor::Flux
        } else {
            ApiFlavor::Tagpilot
        };
        let watches = Watches::start(
            &client,
            flavor,
            args.namespace.as_deref(),
            args.watch_label_selector.as_deref(),
        );
        tokio::pin!(shutdown);
        let lease = args.leader_elect.then(|| {
            let namespace = args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string());
            LeaseLock::new(
                client.clone(),
                &namespace,
                &args.lease_name,
                &identity,
                args.lease_duration,
            )
        });
        if let Some(lease) = &lease {
            tokio::select! {
                () = lease.acquire() => {
                    leading.store(true, Ordering::SeqCst);
                    tracing::info!(identity = %lease.identity(), "leading");
                }
                () = &mut shutdown => return Ok(()),
            }
        }
        tokio::select! {
            () = watches.ready() => {}
            () = &mut shutdown => return Ok(()),
        }
        leading.store(true, Ordering::SeqCst);
        metrics.set("tagpilot_controller_leader", &[], 1.0);
        let settings = DriverSettings {
            state_dir: args.state_dir.clone().unwrap_or_else(default_state_dir),
            endpoints,
            resync: args.resync,
            render: crate::apply::RenderOptions {
                kustomize: args.kustomize.clone(),
                ..crate::apply::RenderOptions::default()
            },
        };
        let events = EventSink::new(client.clone(), &identity);
        let mut driver = Driver::new(client.clone(), settings, metrics, events)
            .map_err(|e| CommandError::Failed(e.into()))?;
        let held = async {
            match &lease {
                Some(lease) => lease.hold().await,
                None => std::future::pending().await,
            }
        };
        let driving = driver.run(&watches, pushes_rx, stop_rx);
        tokio::pin!(driving);
        tokio::select! {
            () = held => {
                // Stop at once, even mid-step: a standby may act once the Lease expires.
                let _ = stop_tx.send(true);
                return Err(CommandError::Failed(anyhow!(
                    "lost the leader lease; exiting so that a fresh start stands by"
                )));
            }
            () = &mut shutdown => {
                tracing::info!("shutting down after the current step");
                let _ = stop_tx.send(true);
                driving.await;
            }
            () = &mut driving => {}
        }
        // The loop stopped between steps: hand the Lease over at once.
        if let Some(lease) = &lease
            && let Err(error) = lease.release().await
        {
            tracing::warn!(%error, "cannot release the lease; a standby takes over when it expires");
        }
        Ok(())
    });
    // Do not wait for a git operation a lost lease interrupted: the process exits now.
    runtime.shutdown_background();
    result
}

/// A standby answers webhooks with 503 and `Retry-After`: a registry that
/// retries (CNCF distribution does) reaches the leader behind the same Service.
fn standby_refuses_webhooks(
    leading: Arc<AtomicBool>,
) -> impl Fn(
    axum::extract::Request,
    axum::middleware::Next,
) -> std::pin::Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
+ Clone
+ Send
+ 'static {
    move |request, next| {
        let leading = leading.load(Ordering::SeqCst);
        Box::pin(async move {
            use axum::response::IntoResponse as _;
            if !leading && request.uri().path() == "/webhook/registry" {
                return (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    "standing by: another replica holds the lease; retry\n",
                )
                    .into_response();
            }
            next.run(request).await
        })
    }
}
