//! `tagpilot controller`: the engine driven by custom resources. Connects with
//! the kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or the in-cluster service
//! account, serves `/healthz`, `/readyz`, `/metrics`, the registry webhook and
//! (with `--receivers`) Flux's Receivers, watches the objects, and (with
//! `--leader-elect`) runs the loop only while it holds the Lease. With
//! `--flux-compat` it first checks that Flux's image controllers are stopped
//! (`controller::takeover`).

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
use crate::controller::flux_events::FluxEventPoster;
use crate::controller::kinds::ApiFlavor;
use crate::controller::lease::LeaseLock;
use crate::controller::receivers::ReceiverWatch;
use crate::controller::takeover::check_flux_leases;
use crate::controller::watch::Watches;
use crate::engine::http::{Endpoints, Readiness};
use crate::engine::metrics::Metrics;
use crate::engine::receiver::ReceiverTable;

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
    /// With `--flux-compat`: the namespace of Flux's controllers, whose Leases say whether they still run.
    #[arg(long, default_value = "flux-system")]
    flux_namespace: String,
    /// With `--flux-compat`: start even while Flux's image-reflector or
    /// image-automation controller holds its Lease (both would then act).
    #[arg(long)]
    ignore_flux_leases: bool,
    /// Post every event to Flux's notification-controller at this URL, in Flux's
    /// event format (e.g. `http://notification-controller.flux-system.svc.cluster.local./`).
    #[arg(long, value_name = "URL")]
    events_addr: Option<String>,
    /// Serve Flux's Receiver objects (`notification.toolkit.fluxcd.io/v1`) of the
    /// cluster on `--listen` (`POST /hook/<digest>`); needs Flux's Receiver CRD.
    #[arg(long)]
    receivers: bool,
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
    if let Some(url) = &args.events_addr {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            CommandError::InvalidInput(anyhow!("--events-addr {url:?} is not a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CommandError::InvalidInput(anyhow!(
                "--events-addr {url:?} must be an http:// or https:// URL (notification-controller's event endpoint)"
            )));
        }
    }
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
        let readiness = Readiness::default();
        let receivers = ReceiverTable::default();
        if let Some(listen) = listen {
            let app = Endpoints::new(metrics.clone(), listen.token, pushes_tx)
                .readiness(readiness.clone())
                .receivers(receivers.clone())
                .google_certs_url(&listen.google_certs_url)
                .router()
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
        if args.flux_compat && !args.ignore_flux_leases {
            check_flux_leases(&client, &args.flux_namespace, k8s_openapi::jiff::Timestamp::now())
                .await
                .map_err(|e| CommandError::Failed(e.into()))?;
        }
        let receiver_watch = args.receivers.then(|| {
            ReceiverWatch::start(&client, args.namespace.as_deref(), receivers.clone())
        });
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
        // Ready once the caches have their first list and the Lease was tried
        // once: a standby is ready too (it only waits for the Lease), so a
        // rollout never waits for a replica that cannot lead yet.
        tokio::select! {
            () = watches.ready() => {}
            () = &mut shutdown => return Ok(()),
        }
        if let Some(receiver_watch) = &receiver_watch {
            tokio::select! {
                () = receiver_watch.ready() => {}
                () = &mut shutdown => return Ok(()),
            }
        }
        let held_at_once = match &lease {
            Some(lease) => lease.try_acquire_or_renew().await.unwrap_or(false),
            None => true,
        };
        readiness.set_ready();
        if let (Some(lease), false) = (&lease, held_at_once) {
            tokio::select! {
                () = lease.acquire() => {}
                () = &mut shutdown => return Ok(()),
            }
        }
        if let Some(lease) = &lease {
            tracing::info!(identity = %lease.identity(), "leading");
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
            flavor,
        };
        let mut events = EventSink::new(client.clone(), &identity);
        if let Some(url) = &args.events_addr {
            events = events.with_flux(FluxEventPoster::spawn(url, metrics.clone(), &identity));
        }
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

/// A standby answers webhooks and Receiver deliveries with 503 and `Retry-After`: a registry that
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
            let path = request.uri().path();
            if !leading
                && (path == "/webhook/registry"
                    || path.starts_with(crate::engine::receiver::HOOK_PATH))
            {
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
