//! Benchmark: one full scan cycle over many repositories of one local registry
//! (`bench/registry-scan.sh` starts the registry, fills it and runs this).
//!
//! Environment: `TAGPILOT_BENCH_REGISTRY=127.0.0.1:PORT` (required; without it
//! the binary only says so, which is what `cargo test --all-targets` sees),
//! `TAGPILOT_BENCH_REPOSITORIES` (default 500), `TAGPILOT_BENCH_CONCURRENCY`
//! (requests in flight per host, default 8). Prints wall time, requests, tags
//! and the process's peak RSS.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tagpilot::image::ImageReference;
use tagpilot::registry::{
    ObjectKey, RegistryClient, ScanOptions, ScanTarget, TagLister as _, TagStore,
};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let Ok(registry) = std::env::var("TAGPILOT_BENCH_REGISTRY") else {
        println!(
            "registry_scan: skipped (set TAGPILOT_BENCH_REGISTRY=127.0.0.1:PORT; bench/registry-scan.sh does)"
        );
        return Ok(());
    };
    if !registry.starts_with("127.0.0.1:") {
        return Err("the benchmark only scans a registry on 127.0.0.1".into());
    }
    let repositories = env_number("TAGPILOT_BENCH_REPOSITORIES", 500);
    let concurrency = env_number("TAGPILOT_BENCH_CONCURRENCY", 8);
    let state = tempfile::tempdir()?;
    let store = Arc::new(TagStore::open(state.path())?);
    let client = RegistryClient::builder(ScanOptions {
        per_host_concurrency: concurrency,
        ..ScanOptions::default()
    })
    .build()?;
    let targets: Vec<ScanTarget> = (0..repositories)
        .map(|i| {
            let mut target = ScanTarget::new(
                ObjectKey::new("bench", format!("app-{i:04}")),
                ImageReference::parse(&format!("{registry}/bench/app-{i:04}"))?,
            );
            target.insecure = true;
            Ok(target)
        })
        .collect::<Result<_, tagpilot::image::ImageReferenceError>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (tags, failures) = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for target in targets {
            let (client, store) = (client.clone(), store.clone());
            tasks.spawn(async move {
                let list = client.list_tags(&target).await?;
                let count = list.tags.len();
                let store_target = target.clone();
                tokio::task::spawn_blocking(move || {
                    store.record(
                        &store_target.id,
                        store_target.image.name(),
                        &list,
                        SystemTime::now(),
                    )
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map_err(|e| tagpilot::registry::ScanError::InvalidTarget {
                    image: target.image.name().into(),
                    reason: e,
                })?;
                Ok::<usize, tagpilot::registry::ScanError>(count)
            });
        }
        let (mut tags, mut failures) = (0usize, 0usize);
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(count)) => tags += count,
                Ok(Err(error)) => {
                    failures += 1;
                    eprintln!("scan failed: {error}");
                }
                Err(error) => {
                    failures += 1;
                    eprintln!("task failed: {error}");
                }
            }
        }
        (tags, failures)
    });
    let elapsed = started.elapsed();
    println!("repositories:   {repositories} ({failures} failed)");
    println!("tags:           {tags}");
    println!("requests:       {}", client.request_count());
    println!("wall time:      {:.3} s", elapsed.as_secs_f64());
    println!(
        "per repository: {:.2} ms",
        elapsed.as_secs_f64() * 1000.0 / repositories.max(1) as f64
    );
    println!(
        "peak RSS:       {} KiB (VmHWM)",
        peak_rss_kib().unwrap_or(0)
    );
    println!("stored lists:   {}", store.keys().len());
    if failures > 0 {
        return Err(format!("{failures} scans failed").into());
    }
    Ok(())
}
