//! Process metrics in Prometheus' text format: counters and gauges kept in
//! atomics, labelled by a small fixed set of keys. No global state: the engine
//! owns one [`Metrics`] and hands it to the HTTP server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The metrics tagpilot exports, with their help texts and types.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "tagpilot_scans_total",
        "counter",
        "Registry scans, by result (ok, partial, failed).",
    ),
    (
        "tagpilot_tags",
        "gauge",
        "Tags in the last complete scan, by image repository.",
    ),
    (
        "tagpilot_scan_duration_seconds_sum",
        "counter",
        "Total seconds spent scanning.",
    ),
    (
        "tagpilot_policy_evaluations_total",
        "counter",
        "Policy evaluations, by result (ok, no_match, invalid).",
    ),
    (
        "tagpilot_signature_checks_total",
        "counter",
        "Cosign signature checks sent to registries (cached results not counted), by result (verified, unsigned, untrusted, error).",
    ),
    (
        "tagpilot_policy_skipped_candidates",
        "gauge",
        "Better candidates the policy's last evaluation skipped, by policy and reason (unsigned, untrustedSignature, missingPlatforms, tooYoung, noCreationTime, unreadable).",
    ),
    (
        "tagpilot_commits_total",
        "counter",
        "Commits made by automations.",
    ),
    (
        "tagpilot_pushes_total",
        "counter",
        "Pushes, by result (ok, retried, failed).",
    ),
    (
        "tagpilot_failures_total",
        "counter",
        "Failed reconciliations, by kind.",
    ),
    (
        "tagpilot_pull_requests_total",
        "counter",
        "Pull requests changed by automations, by action (opened, updated, closed, declined, merged).",
    ),
    (
        "tagpilot_webhooks_total",
        "counter",
        "Webhook requests, by result (accepted, unauthorized, invalid).",
    ),
    (
        "tagpilot_cycle_duration_seconds_sum",
        "counter",
        "Total seconds spent in automation cycles.",
    ),
    (
        "tagpilot_sync_runs_total",
        "counter",
        "Sync reconciliations, by Sync and result (ready, failed).",
    ),
    (
        "tagpilot_sync_ready",
        "gauge",
        "1 when the Sync's last reconciliation left it Ready, else 0.",
    ),
    (
        "tagpilot_sync_objects",
        "gauge",
        "Objects in the Sync's inventory.",
    ),
    (
        "tagpilot_sync_drift_corrected_total",
        "counter",
        "Objects changed by re-applying an already applied revision (manual edits reverted).",
    ),
    (
        "tagpilot_sync_duration_seconds_sum",
        "counter",
        "Total seconds spent in Sync reconciliations.",
    ),
    (
        "tagpilot_receiver_deliveries_total",
        "counter",
        "Deliveries to Flux Receiver routes (/hook/...), by receiver type and result (accepted, replayed, stale, unauthorized, event_not_allowed, invalid, not_found, suspended).",
    ),
    (
        "tagpilot_events_posted_total",
        "counter",
        "Events posted to --events-addr (Flux's notification-controller), by result (ok, duplicate, failed).",
    ),
    (
        "tagpilot_controller_leader",
        "gauge",
        "1 while this controller replica acts (holds the Lease, or runs without leader election), else 0.",
    ),
];

/// A label set: sorted `(key, value)` pairs.
type Labels = Vec<(&'static str, String)>;

/// The metric values of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Mutex<BTreeMap<(&'static str, Labels), f64>>,
}

impl Metrics {
    /// New, empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], amount: f64) {
        let key = (name, owned(labels));
        if let Ok(mut values) = self.values.lock() {
            *values.entry(key).or_insert(0.0) += amount;
        }
    }

    /// Adds one to a counter.
    pub fn increment(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        let key = (name, owned(labels));
        if let Ok(mut values) = self.values.lock() {
            values.insert(key, value);
        }
    }

    /// The current value of a metric (0 when never touched).
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> f64 {
        let key = (name, owned(labels));
        self.values
            .lock()
            .ok()
            .and_then(|values| values.get(&key).copied())
            .unwrap_or(0.0)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(values) = self.values.lock() else {
            return out;
        };
        for (family, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {family} {help}");
            let _ = writeln!(out, "# TYPE {family} {kind}");
            for ((name, labels), value) in values.iter() {
                if name != family {
                    continue;
                }
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                if rendered.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
                }
            }
        }
        out
    }
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    let mut labels: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
    labels.sort();
    labels
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::new();
        metrics.increment("tagpilot_scans_total", &[("result", "ok")]);
        metrics.increment("tagpilot_scans_total", &[("result", "ok")]);
        metrics.set("tagpilot_tags", &[("repository", "shop/\"app\"")], 12.0);
        let text = metrics.render();
        assert!(
            text.contains(
                "# TYPE tagpilot_scans_total counter\ntagpilot_scans_total{result=\"ok\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("tagpilot_tags{repository=\"shop/\\\"app\\\"\"} 12\n"),
            "{text}"
        );
        assert_eq!(
            metrics.get("tagpilot_scans_total", &[("result", "ok")]),
            2.0
        );
    }
}
