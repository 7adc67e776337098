//! The origin guard against local servers: what reaches the origin, what is refused.

use std::io::{BufReader, Read, Write};
use std::sync::mpsc::{Receiver, channel};

use super::forward::rewrite_response_head;
use super::tunnel::TlsRecords;
use super::*;

#[test]
fn origins_of_urls_and_connect_targets() {
    let origin = Origin::of_url("https://Git.Example:8443/org/repo.git").unwrap();
    assert_eq!(origin.to_string(), "https://git.example:8443");
    assert_eq!(origin.host_header(), "git.example:8443");
    assert_eq!(
        Origin::of_url("http://t0ken@h/r").unwrap().to_string(),
        "http://h:80"
    );
    assert_eq!(
        Origin::of_url("http://t0ken@h/r").unwrap().host_header(),
        "h"
    );
    assert_eq!(
        Origin::of_url("https://[::1]/r").unwrap().to_string(),
        "https://[::1]:443"
    );
    assert_eq!(Origin::of_connect("git.example:8443").unwrap(), origin);
    assert_eq!(
        Origin::of_url("ssh://git@h/r").unwrap().to_string(),
        "ssh://h:22"
    );
    assert_eq!(Origin::of_url("git://h/r"), None);
    assert_eq!(Origin::of_url("http://h:port/r"), None);
    assert_eq!(Origin::of_url("http:///r"), None);
}

/// An HTTP server on 127.0.0.1 that answers every request with `answer`
/// and reports each request head it received.
fn server(answer: String) -> (Origin, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let head = read_head(&mut reader).unwrap_or_default();
            let _ = sender.send(head);
            let mut stream = stream;
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    let origin = Origin {
        scheme: "http".into(),
        host: "127.0.0.1".into(),
        port,
    };
    (origin, receiver)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
}

fn ask(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

const REQUEST: &str = "GET /git/r.git/info/refs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nAuthorization: Bearer t0ken\r\n\r\n";

#[test]
fn http_requests_go_to_the_origin_with_its_host_one_per_connection() {
    let (origin, received) = server(ok("hello"));
    let guard = OriginGuard::start(origin.clone(), GuardSettings::default()).unwrap();
    assert_eq!(guard.proxy_url(), None);
    let url = guard.remote_url(&format!("http://u:p@127.0.0.1:{}/git/r.git", origin.port));
    assert_eq!(url, format!("http://u:p@{}/git/r.git", guard.address));
    assert!(guard.is_own_url(&url));
    let answer = ask(guard.address, REQUEST);
    assert!(answer.ends_with("hello"), "{answer}");
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert!(!answer.contains("keep-alive"), "{answer}");
    let head = received.recv().unwrap();
    assert!(
        head.starts_with("GET /git/r.git/info/refs HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("Authorization: Bearer t0ken\r\n"), "{head}");
    assert!(
        head.contains(&format!("Host: 127.0.0.1:{}\r\n", origin.port)),
        "{head}"
    );
    assert!(
        head.contains("Connection: close\r\n") && !head.contains("keep-alive"),
        "{head}"
    );
    assert_eq!(guard.refused(), None);
}

#[test]
fn an_http_redirect_to_another_origin_is_refused_and_never_seen_by_libgit2() {
    let (other, other_received) = server(ok("leaked"));
    let (origin, received) = server(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/git/r.git/info/refs\r\nContent-Length: 0\r\n\r\n",
        other.port
    ));
    let guard = OriginGuard::start(origin, GuardSettings::default()).unwrap();
    let answer = ask(guard.address, REQUEST);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(!answer.contains(&other.port.to_string()), "{answer}");
    received.recv().unwrap();
    assert_eq!(guard.refused(), Some(other));
    assert!(
        other_received.try_recv().is_err(),
        "the other origin was never contacted"
    );
}

#[test]
fn an_http_redirect_within_the_origin_comes_back_through_the_guard() {
    let (placeholder, _) = server(String::new());
    for (location, expected) in [
        (
            "/git/moved.git/info/refs",
            "/git/moved.git/info/refs".to_string(),
        ),
        (
            "http://127.0.0.1:PORT/git/moved.git/info/refs?service=x",
            "http://GUARD/git/moved.git/info/refs?service=x".to_string(),
        ),
    ] {
        let (origin, _received) = server(String::new());
        let location = location.replace("PORT", &origin.port.to_string());
        drop(placeholder.clone());
        let relay = test_relay(origin.clone());
        let head =
            format!("HTTP/1.1 301 Moved\r\nLocation: {location}\r\nConnection: keep-alive\r\n\r\n");
        let rewritten = rewrite_response_head(&head, &relay).unwrap();
        let expected = expected.replace("GUARD", "127.0.0.1:1");
        assert!(
            rewritten.contains(&format!("Location: {expected}\r\n")),
            "{rewritten}"
        );
        assert!(
            rewritten.ends_with("Connection: close\r\n\r\n"),
            "{rewritten}"
        );
    }
    let relay = test_relay(placeholder);
    for location in ["//evil.example/x", "https://127.0.0.1:1/x", "gopher://x"] {
        let head = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n");
        assert!(rewrite_response_head(&head, &relay).is_err(), "{location}");
    }
}

#[test]
fn plain_text_between_tls_records_is_noticed() {
    let mut records = TlsRecords::default();
    let record = [23u8, 3, 3, 0, 4, 1, 2, 3, 4];
    assert_eq!(records.feed(&record[..3]), Ok(()));
    assert_eq!(records.feed(&record[3..]), Ok(()));
    assert_eq!(records.feed(&[22, 3, 3, 0, 1, 9]), Ok(()));
    assert_eq!(records.feed(b"CONNECT other:443 HTTP/1.1\r\n"), Err(0));
    let mut records = TlsRecords::default();
    let mut mixed = record.to_vec();
    mixed.extend_from_slice(b"GET http://x/ HTTP/1.1\r\n");
    assert_eq!(records.feed(&mixed), Err(record.len()));
}

/// A server that reports the first bytes it receives and answers `through`.
fn raw_server() -> (Origin, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 64];
                let read = stream.read(&mut buffer).unwrap_or(0);
                let _ = sender.send(buffer[..read].to_vec());
                let _ = stream.write_all(b"through");
                // Kept alive, like a real server, until the peer goes.
                let _ = stream.read_to_end(&mut Vec::new());
            });
        }
    });
    let origin = Origin {
        scheme: "https".into(),
        host: "127.0.0.1".into(),
        port,
    };
    (origin, receiver)
}

#[test]
fn https_tunnels_only_to_the_origin() {
    let (origin, received) = raw_server();
    let (other, other_received) = raw_server();
    let guard = OriginGuard::start(origin.clone(), GuardSettings::default()).unwrap();
    let proxy = guard.proxy_url().unwrap();
    assert_eq!(proxy, format!("http://{}", guard.address));
    let url = format!("https://127.0.0.1:{}/r.git", origin.port);
    assert_eq!(guard.remote_url(&url), url);

    let hello = [22u8, 3, 1, 0, 3, 1, 2, 3];
    let mut request = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", origin.port).into_bytes();
    request.extend_from_slice(&hello);
    let mut stream = TcpStream::connect(guard.address).unwrap();
    stream.write_all(&request).unwrap();
    assert_eq!(
        received.recv().unwrap(),
        hello,
        "the TLS bytes reached the origin"
    );
    let mut answer = Vec::new();
    while !answer.ends_with(b"through") {
        let mut chunk = [0u8; 256];
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "{}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&chunk[..read]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("through"), "{answer}");
    drop(stream);

    for request in [
        format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", other.port),
        format!("GET http://127.0.0.1:{}/x HTTP/1.1\r\n\r\n", origin.port),
    ] {
        let answer = ask(guard.address, &request);
        assert!(answer.starts_with("HTTP/1.1 403"), "{request}: {answer}");
    }
    assert_eq!(
        guard.refused().unwrap().to_string(),
        format!("https://127.0.0.1:{}", other.port),
        "the first refused origin is kept for the error"
    );
    assert!(other_received.try_recv().is_err());
}

/// libgit2 reuses a kept-alive proxy connection: after a redirect, its
/// CONNECT to the other origin arrives inside the established tunnel.
#[test]
fn a_connect_inside_a_tunnel_is_refused_too() {
    let (origin, received) = raw_server();
    let (other, other_received) = raw_server();
    let guard = OriginGuard::start(origin.clone(), GuardSettings::default()).unwrap();
    let mut stream = TcpStream::connect(guard.address).unwrap();
    let mut request = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", origin.port).into_bytes();
    request.extend_from_slice(&[23u8, 3, 3, 0, 2, 7, 7]);
    stream.write_all(&request).unwrap();
    received.recv().unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"through") {
        let mut chunk = [0u8; 256];
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0);
        seen.extend_from_slice(&chunk[..read]);
    }
    stream
        .write_all(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", other.port).as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(answer, String::from_utf8_lossy(FORBIDDEN));
    assert_eq!(guard.refused(), Some(other));
    assert!(other_received.try_recv().is_err());
}

/// A server that accepts and then says nothing no longer holds an operation
/// forever: the guard closes a connection silent both ways for its idle limit.
#[test]
fn a_silent_server_is_cut_off_after_the_idle_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().flatten().collect();
        drop(held);
    });
    let origin = Origin {
        scheme: "http".into(),
        host: "127.0.0.1".into(),
        port,
    };
    let guard = OriginGuard::start_with_idle(origin, Duration::from_millis(200)).unwrap();
    let mut stream = TcpStream::connect(guard.address).unwrap();
    stream.write_all(REQUEST.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(read.is_ok(), "the guard closed the connection: {read:?}");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

/// A relay for the head-rewriting tests (the guard's address is never dialled).
fn test_relay(origin: Origin) -> Relay {
    Relay {
        origin,
        address: "127.0.0.1:1".parse().unwrap(),
        idle: IDLE_TIMEOUT,
        deadline: None,
        proxy: None,
        connections: Default::default(),
    }
}

/// A SOCKS5 server for one connection (RFC 1928/1929): offers username and
/// password, accepts `user`/`pass` only, then connects and echoes.
fn socks5_server(accept: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut greeting = [0u8; 4];
        stream.read_exact(&mut greeting).unwrap();
        assert_eq!(
            greeting,
            [5, 2, 0, 2],
            "no auth and username/password offered"
        );
        stream.write_all(&[5, 2]).unwrap();
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).unwrap();
        let mut user = vec![0u8; usize::from(header[1])];
        stream.read_exact(&mut user).unwrap();
        let mut len = [0u8; 1];
        stream.read_exact(&mut len).unwrap();
        let mut password = vec![0u8; usize::from(len[0])];
        stream.read_exact(&mut password).unwrap();
        let ok = accept && user == b"user" && password == b"pass";
        stream.write_all(&[1, if ok { 0 } else { 1 }]).unwrap();
        if !ok {
            return;
        }
        let mut request = [0u8; 5];
        stream.read_exact(&mut request).unwrap();
        assert_eq!(&request[..4], &[5, 1, 0, 3], "CONNECT by name");
        let mut name = vec![0u8; usize::from(request[4]) + 2];
        stream.read_exact(&mut name).unwrap();
        assert_eq!(&name[..name.len() - 2], b"git.example");
        assert_eq!(&name[name.len() - 2..], &22u16.to_be_bytes());
        stream.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        stream.write_all(&byte).unwrap();
    });
    port
}

#[test]
fn socks5_proxies_get_the_secrets_username_and_password() {
    let origin = Origin::of_url("ssh://git@git.example/repo.git").unwrap();
    let proxy = |port: u16, password: &str| UpstreamProxy {
        protocol: ProxyProtocol::Socks5,
        host: "127.0.0.1".into(),
        port,
        credentials: Some(("user".into(), crate::secret::Secret::new(password.into()))),
        display: format!("socks5://127.0.0.1:{port}"),
    };
    let connections = std::sync::Arc::new(upstream::Connections::default());
    let upstream = through_proxy(
        &proxy(socks5_server(true), "pass"),
        &origin,
        true,
        None,
        &connections,
    )
    .unwrap();
    let mut stream = upstream.stream;
    stream.write_all(b"x").unwrap();
    let mut echoed = [0u8; 1];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"x");

    let connections = std::sync::Arc::new(upstream::Connections::default());
    let refused = through_proxy(
        &proxy(socks5_server(false), "nope"),
        &origin,
        true,
        None,
        &connections,
    );
    assert!(refused.is_err());
    let reason = connections.proxy_failure().unwrap();
    assert!(
        reason.contains("refused the username and password"),
        "{reason}"
    );
    assert!(!reason.contains("nope"), "{reason}");
}
