//! `tagpilot apply PATH`: render a directory and server-side apply it to the
//! cluster of the current kubeconfig context, once, printing one
//! `kind/name created|configured|unchanged|pruned` line per object like
//! `kubectl apply`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use super::{CommandError, CommandResult};
use crate::apply::{
    Action, Applier, ApplyError, ApplyOptions, ConflictPolicy, FIELD_MANAGER, ObjectRef,
    RenderOptions, render,
};
use crate::config::meta::GoDuration;

/// Arguments of `tagpilot apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// What to apply: a kustomization directory, a directory of YAML manifests (read recursively), or one YAML file.
    path: PathBuf,
    /// Delete the objects of the previous apply (recorded in --inventory) that PATH no longer has.
    #[arg(long, requires = "inventory")]
    prune: bool,
    /// Send everything with `dryRun=All` and print what would happen; change nothing.
    /// Objects whose CRD or Namespace the same set creates cannot be checked yet
    /// and are reported as created.
    #[arg(long)]
    dry_run: bool,
    /// The ConfigMap (`NAME` or `NAMESPACE/NAME`) that records what was applied, for --prune.
    #[arg(long, value_name = "[NAMESPACE/]NAME")]
    inventory: Option<String>,
    /// The kustomize binary; `kubectl kustomize` is used when it is not on PATH.
    #[arg(long, value_name = "BIN", default_value = "kustomize")]
    kustomize: String,
    /// The field manager of server-side apply.
    #[arg(long, default_value = FIELD_MANAGER)]
    field_manager: String,
    /// Take over fields other managers own instead of reporting the conflict.
    #[arg(long)]
    force_conflicts: bool,
    /// The namespace of namespaced objects that name none (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Wait until Deployments, StatefulSets and DaemonSets have rolled out and Jobs completed.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (a Go duration).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    GoDuration::parse(text)
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

/// Runs `tagpilot apply`.
pub fn run(args: ApplyArgs) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start the async runtime: {e}")))?;
    runtime.block_on(apply(args))
}

fn classify(error: ApplyError) -> CommandError {
    if error.is_invalid_input() {
        CommandError::InvalidInput(error.into())
    } else {
        CommandError::Failed(error.into())
    }
}

async fn apply(args: ApplyArgs) -> CommandResult {
    let render_options = RenderOptions {
        kustomize: args.kustomize.clone(),
        confine_to: None,
    };
    let path = args.path.clone();
    let manifests = tokio::task::spawn_blocking(move || render(&path, &render_options))
        .await
        .map_err(|e| CommandError::Failed(anyhow!("the render task failed: {e}")))?
        .map_err(classify)?;
    let client = super::kubeconfig::client().await?;
    let default_namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let inventory = args
        .inventory
        .as_deref()
        .map(|text| match text.split_once('/') {
            Some((namespace, name)) => (namespace.to_string(), name.to_string()),
            None => (default_namespace.clone(), text.to_string()),
        });
    let applier = Applier::new(client);
    let previous = match &inventory {
        Some((namespace, name)) => applier
            .load_inventory(namespace, name)
            .await
            .map_err(classify)?,
        None => Vec::new(),
    };
    let options = ApplyOptions {
        field_manager: args.field_manager.clone(),
        conflicts: if args.force_conflicts {
            ConflictPolicy::Force
        } else {
            ConflictPolicy::Report
        },
        dry_run: args.dry_run,
        target_namespace: None,
        default_namespace,
        ..ApplyOptions::default()
    };
    let suffix = if args.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    let report = applier
        .apply(&manifests, &options)
        .await
        .map_err(classify)?;
    for result in &report.objects {
        println!("{} {}{suffix}", result.object.kubectl_name(), result.action);
    }
    let applied: Vec<ObjectRef> = report.objects.iter().map(|o| o.object.clone()).collect();
    if !report.failures.is_empty() {
        for failure in &report.failures {
            eprintln!("error: {failure}");
        }
        if let Some((namespace, name)) = &inventory
            && !args.dry_run
        {
            let mut merged = previous.clone();
            merged.extend(applied.iter().cloned());
            dedup(&mut merged);
            applier
                .save_inventory(namespace, name, &merged, &args.field_manager)
                .await
                .map_err(classify)?;
        }
        return Err(CommandError::Failed(anyhow!(
            "{} of {} objects failed to apply",
            report.failures.len(),
            report.failures.len() + report.objects.len()
        )));
    }
    let mut prune_failed = 0;
    if args.prune {
        let pruned = applier
            .prune(&previous, &applied, &args.field_manager, args.dry_run)
            .await
            .map_err(classify)?;
        for result in &pruned.pruned {
            println!(
                "{} {}{suffix}",
                result.object.kubectl_name(),
                Action::Pruned
            );
        }
        for failure in &pruned.failures {
            eprintln!("error: prune: {failure}");
        }
        prune_failed = pruned.failures.len();
    }
    if let Some((namespace, name)) = &inventory
        && !args.dry_run
    {
        let mut recorded = applied.clone();
        if !args.prune {
            // Without --prune the old objects still exist: keep them recorded.
            recorded.extend(previous.iter().cloned());
            dedup(&mut recorded);
        }
        applier
            .save_inventory(namespace, name, &recorded, &args.field_manager)
            .await
            .map_err(classify)?;
    }
    if prune_failed > 0 {
        return Err(CommandError::Failed(anyhow!(
            "{prune_failed} objects could not be pruned"
        )));
    }
    if args.wait && !args.dry_run {
        let unhealthy = applier
            .wait_healthy(&applied, args.timeout)
            .await
            .map_err(classify)?;
        if !unhealthy.is_empty() {
            for failure in &unhealthy {
                eprintln!("error: {failure}");
            }
            return Err(CommandError::Failed(anyhow!(
                "{} objects are not healthy after {:?}",
                unhealthy.len(),
                args.timeout
            )));
        }
    }
    Ok(())
}

fn dedup(objects: &mut Vec<ObjectRef>) {
    let mut seen = std::collections::HashSet::new();
    objects.retain(|object| seen.insert(object.identity()));
}
