//! Hostile registries and token servers (issue 17): numbers no clock can hold,
//! and pagination that never ends. Each test runs the `tagpilot` binary as a
//! user does against a real registry, with a real token server or a
//! misbehaving front (the fault proxy) in between.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use tagpilot::config::secrets::SecretSet;
use tagpilot::registry::{ScanBudget, ScanError, ScanOptions};

use crate::harness::fault_proxy::{Fault, FaultProxy};
use crate::harness::images::ImagePusher;
use crate::harness::process::require_program;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::harness::tagpilot::Tagpilot;
use crate::registry::{client_with, test_options};
use crate::registry_faults;

/// A dockerconfigjson Secret for `host`, an ImageRepository of `image` using
/// it, and a semver ImagePolicy, all named `app` in namespace `shop`.
fn scanned_image_with_secret(host: &str, image: &str) -> String {
    let docker_config = serde_json::json!({"auths": {host: {"auth": STANDARD.encode(format!("{USER}:{PASSWORD}"))}}});
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{docker_config}'\n---\n{}",
        scanned_image(image, Some("pull"))
    )
}

/// An ImageRepository of `image` (optionally with a `secretRef`) and a semver
/// ImagePolicy, both named `app` in namespace `shop`.
pub fn scanned_image(image: &str, secret: Option<&str>) -> String {
    let secret_ref = secret
        .map(|name| format!("  secretRef:\n    name: {name}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n{secret_ref}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: app\n  policy:\n    semver:\n      range: '>=1.0.0'\n"
    )
}

/// Regression (finding 5): a token server answering `"expires_in":
/// 18446744073709551615` made the token cache overflow `Instant + Duration`:
/// `tags` and `run --once` panicked (exit 101) and the daemon logged a
/// panicked task every interval. The lifetime is now clamped (to an hour).
#[test]
fn a_token_server_answering_an_endless_expiry_used_to_panic() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all(["1.0.0", "1.1.0"]);
    let token_server = registry.token_server.as_ref().unwrap();
    token_server.answer_expires_in(u64::MAX);
    let image = format!("{}/team/app", registry.host);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "objects.yaml",
        &scanned_image_with_secret(&registry.host, &image),
    );

    let output = tagpilot
        .command()
        .args(["tags", "--insecure", "--config"])
        .arg(tagpilot.config_dir())
        .arg(&image)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "tags failed:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.0.0\n1.1.0\n");

    let run = tagpilot.run_once();
    assert_eq!(
        run.code,
        Some(0),
        "run --once failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let status = tagpilot.status().success();
    assert!(
        status.stdout.contains("1.1.0"),
        "the policy picked 1.1.0 through the clamped token:\n{}",
        status.stdout
    );
    assert!(
        token_server.request_count() >= 1,
        "the token server was asked"
    );
}

/// A `Link` to a fresh `?last=` page: the misbehaving front's answer to every
/// tag-list request, whatever the registry behind it said.
fn endless_link(seen: usize) -> Fault {
    Fault::SetHeader(
        "Link".into(),
        format!(r#"</v2/team/app/tags/list?n=1000&last=zz-{seen}>; rel="next""#),
    )
}

/// Regression (finding 3): a registry answering empty pages, each linking to
/// a fresh `?last=…`, kept a scan going for thousands of requests. Here the
/// real registry (distribution v3) answers the first page with its three tags
/// and each `last=zz-N` with an empty page: the scan stops after 10 empty
/// pages in a row, as a partial scan that keeps the stored list.
#[test]
fn endless_empty_pages_stop_at_the_budget_and_keep_the_stored_list() {
    let setup = registry_faults::setup(Distribution::V3);
    setup.proxy.set_rule(|line, seen| {
        if registry_faults::is_tags_request(line, "team/app") {
            endless_link(seen)
        } else {
            Fault::Pass
        }
    });
    let client = client_with(test_options(), SecretSet::default());
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(
        matches!(
            &error,
            ScanError::Budget {
                pages: 11,
                tags: 3,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("10 pages in a row held no tag")
            && message.contains("previous tag list is kept"),
        "{message}"
    );
    assert!(!error.is_transient());
    assert_eq!(setup.proxy.requests().len(), 11);
    setup.assert_store_kept();
}

/// The same front before distribution 2.8, which ignores `last` and sends
/// its whole list on every page: pages are never empty, and the page budget
/// ends the scan.
#[test]
fn a_registry_repeating_its_tags_on_endless_pages_stops_at_the_page_budget() {
    let setup = registry_faults::setup(Distribution::V2);
    setup.proxy.set_rule(|line, seen| {
        if registry_faults::is_tags_request(line, "team/app") {
            endless_link(seen)
        } else {
            Fault::Pass
        }
    });
    let options = ScanOptions {
        budget: ScanBudget {
            max_pages: 40,
            ..ScanBudget::default()
        },
        ..test_options()
    };
    let client = client_with(options, SecretSet::default());
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(
        matches!(
            &error,
            ScanError::Budget {
                pages: 40,
                tags: 120,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("more than 40 pages"), "{error}");
    assert_eq!(setup.proxy.requests().len(), 40);
    setup.assert_store_kept();
}

/// Links that go round in a circle (page 1 → page 2 → page 1) are caught by
/// the bounded set of recent pages.
#[test]
fn links_in_a_circle_are_caught_by_the_recent_pages() {
    let setup = registry_faults::setup(Distribution::V3);
    setup.proxy.set_rule(|line, _| {
        let next = if line.contains("last=page-b") {
            "page-a"
        } else {
            "page-b"
        };
        Fault::SetHeader(
            "Link".into(),
            format!(r#"</v2/team/app/tags/list?n=1000&last={next}>; rel="next""#),
        )
    });
    let client = client_with(test_options(), SecretSet::default());
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(
        matches!(&error, ScanError::PaginationLoop { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("last=page-b"), "{error}");
    assert_eq!(
        setup.proxy.requests().len(),
        3,
        "the first page, b, a; then b again is refused"
    );
    setup.assert_store_kept();
}

/// What a measured run printed, and its peak resident memory.
pub struct Measured {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The peak resident set size (`ru_maxrss`, as `/usr/bin/time -f %M` reports it), in KiB.
    pub max_rss_kib: u64,
    /// How long it ran (reported, never asserted).
    pub elapsed: Duration,
}

/// Runs `command` under `/usr/bin/time` for its peak memory, failing the test
/// if it has not ended after `limit` (it is then killed).
pub fn run_measured(command: &Command, limit: Duration) -> Measured {
    let time = require_program("/usr/bin/time", "apt-get install time");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("rusage");
    let mut measured = Command::new(time);
    measured
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        )
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
    let mut child = measured.spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{:?} did not end within {limit:?}; its log:\n{}",
                command.get_args().collect::<Vec<_>>(),
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let rusage = std::fs::read_to_string(&report).unwrap();
    Measured {
        elapsed,
        code: status.code(),
        stdout: std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
        stderr: std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
        max_rss_kib: rusage
            .lines()
            .last()
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak memory in {rusage:?}")),
    }
}

/// The acceptance check of finding 3 through the binary: `run --once` against
/// a real registry (distribution 2.8, which sends its whole list on every
/// page) behind a front that links every page to a fresh `?last=`. It ends
/// at the documented page budget (1,000 pages) with a partial-scan error,
/// the policy result and stored list stay as they were, and the peak memory
/// is that of a normal run.
#[test]
fn run_once_against_an_endless_paginator_ends_within_its_budget_with_flat_memory() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&registry, "team/app").push_all(["1.0.0", "1.1.0", "0.9.0"]);
    let front = FaultProxy::start(&registry.host);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "objects.yaml",
        &scanned_image(&format!("{}/team/app", front.host), None),
    );
    let limit = Duration::from_secs(120);

    let normal = run_measured(&tagpilot.run_once_command(), limit);
    assert_eq!(normal.code, Some(0), "{}", normal.stderr);
    assert_eq!(front.requests().len(), 1);

    front.set_rule(|line, seen| {
        if registry_faults::is_tags_request(line, "team/app") {
            endless_link(seen)
        } else {
            Fault::Pass
        }
    });
    let endless = run_measured(&tagpilot.run_once_command(), limit);
    assert_eq!(
        endless.code,
        Some(1),
        "{}\n{}",
        endless.stdout,
        endless.stderr
    );
    assert_eq!(
        front.requests().len(),
        1 + ScanBudget::default().max_pages as usize,
        "one normal page, then exactly the page budget"
    );
    let expected =
        "stopped after 1000 pages and 3000 tags: the registry has more than 1000 pages of tags";
    assert!(endless.stderr.contains(expected), "{}", endless.stderr);
    let status = tagpilot.status().success();
    assert!(status.stdout.contains(expected), "{}", status.stdout);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("shop/app") && l.contains("1.1.0")),
        "the policy result is unchanged (invariant 4):\n{}",
        status.stdout
    );
    eprintln!(
        "normal run: {:?}, peak RSS {} KiB; endless paginator (1000 pages): {:?}, peak RSS {} KiB",
        normal.elapsed, normal.max_rss_kib, endless.elapsed, endless.max_rss_kib
    );
    assert!(
        endless.max_rss_kib <= normal.max_rss_kib + 16 * 1024,
        "memory grew with the pages: {} KiB against {} KiB for a normal run",
        endless.max_rss_kib,
        normal.max_rss_kib
    );
}
