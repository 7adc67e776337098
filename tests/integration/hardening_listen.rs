//! `tagpilot run --listen` under a connection flood (issue 17, finding 4):
//! the daemon runs with a realistic fd limit, hundreds of clients hold
//! half-open connections, and it still answers `/healthz` and commits a
//! pushed tag within one interval.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use crate::engine::World;
use crate::harness::images::ImagePusher;
use crate::harness::process::free_port;
use crate::harness::tagpilot::{Automation, Tagpilot, plain_source, semver_image, wait_for};

/// The ImageRepository's scan interval in this test.
const INTERVAL: Duration = Duration::from_secs(10);

/// `GET url` with a short timeout → (status, body).
fn get(client: &Client, url: &str) -> Option<(u16, String)> {
    let response = client.get(url).send().ok()?;
    Some((
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    ))
}

/// Regression (finding 4): 500 connections that send half a request line,
/// without a token, were held forever; under an fd limit of 256 the daemon
/// then failed its scans, lock and status writes (`Too many open files`),
/// `/healthz` stopped answering and new tags were not committed. The server
/// now times out headers, caps its connections below the fd limit and
/// replaces the oldest idle connection when full.
#[test]
fn a_flood_of_half_open_connections_does_not_stop_healthz_or_commits() {
    let world = World::new(&["1.0.0"]);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image(
            "api",
            &world.image_of("api"),
            ">=1.0.0 <2.0.0",
            &format!("{}s", INTERVAL.as_secs()),
        ),
    );
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let daemon = tagpilot.spawn_daemon_with_fd_limit(256, &["--listen", &listen]);
    let client = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let healthz = format!("http://{listen}/healthz");
    wait_for(
        "/healthz to answer",
        || get(&client, &healthz),
        || daemon.log_text(),
    );
    wait_for(
        "the first scan",
        || daemon.log_text().contains("scanned").then_some(()),
        || daemon.log_text(),
    );

    // 500 clients send half a request line and hold their connections.
    // (A server that stops accepting fills its backlog: the flood then stops
    // early, and the checks below fail on what a user would see.)
    let address: std::net::SocketAddr = listen.parse().unwrap();
    let mut flood = Vec::new();
    for _ in 0..500 {
        let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
            eprintln!(
                "the server stopped accepting after {} connections",
                flood.len()
            );
            break;
        };
        let _ = stream.write_all(b"GET /heal");
        flood.push(stream);
    }

    let (status, body) = wait_for(
        "/healthz to answer during the flood",
        || get(&client, &healthz),
        || daemon.log_text(),
    );
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let fds = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .map(Iterator::count)
        .unwrap_or_default();
    eprintln!("the daemon's open fds during the flood: {fds} (limit 256)");

    let initial = world.head();
    ImagePusher::new(&world.registry, "shop/api").push_all(["1.1.0"]);
    let pushed = Instant::now();
    wait_for(
        "the pushed tag's commit",
        || {
            daemon.assert_running();
            (world.head() != initial).then_some(())
        },
        || daemon.log_text(),
    );
    let latency = pushed.elapsed();
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    eprintln!("push to commit under the flood: {latency:?} (interval {INTERVAL:?})");
    assert!(
        latency <= INTERVAL + Duration::from_secs(5),
        "the commit took {latency:?}, more than one interval ({INTERVAL:?}) and the commit itself"
    );
    let (status, _) = get(&client, &healthz).expect("/healthz answers after the commit");
    assert_eq!(status, 200);

    // The flood's connections are closed by the server (replaced, or timed out), never served.
    let mut closed = 0;
    for stream in &mut flood {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(1)));
        if matches!(stream.read(&mut [0u8; 1]), Ok(0)) {
            closed += 1;
        }
    }
    eprintln!("flood connections already closed by the server: {closed} of 500");
    let log = daemon.log_text();
    assert!(
        !log.contains("Too many open files"),
        "the daemon ran out of file descriptors:\n{log}"
    );
    assert!(!log.contains("scan failed"), "{log}");
    drop(flood);
    assert_eq!(daemon.terminate(), Some(0));
}
