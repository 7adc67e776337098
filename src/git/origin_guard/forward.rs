//! The http mode of the origin guard: libgit2 is given the guard as its
//! server; each request goes to the configured origin (its `Host`, one
//! request per connection) and each answer comes back, unless it redirects to
//! another origin.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::upstream::Upstream;
use super::upstream::refusal;
use super::{
    Activity, FORBIDDEN, Origin, Refusals, Relay, idle_check, pump, read_head, record_refusal,
};

/// http: forward one request to the configured origin and its answer back,
/// unless the answer redirects to another origin.
pub(super) fn serve_forward(
    client: TcpStream,
    relay_to: &Relay,
    refused: &Refusals,
) -> io::Result<()> {
    let origin = &relay_to.origin;
    client.set_read_timeout(Some(relay_to.idle))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let mut request = String::with_capacity(head.len() + 64);
    let proxy = relay_to.http_proxy();
    for (index, line) in head.split("\r\n").enumerate() {
        let name = line.split(':').next().unwrap_or_default().trim();
        if index == 0 {
            // Through an http proxy, the request names the origin (absolute form).
            match (proxy, line.split_once(' ')) {
                (Some(_), Some((method, target))) if target.starts_with('/') => {
                    request.push_str(&format!("{method} http://{}{target}", origin.host_header()));
                }
                _ => request.push_str(line),
            }
            request.push_str("\r\n");
        } else if line.is_empty() {
            break;
        } else if ![
            "host",
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ]
        .iter()
        .any(|dropped| name.eq_ignore_ascii_case(dropped))
        {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str(&format!(
        "Host: {}\r\nConnection: close\r\n{}\r\n",
        origin.host_header(),
        proxy
            .map(|proxy| proxy.authorization_header())
            .unwrap_or_default()
    ));
    let Upstream {
        stream: upstream,
        tracked: _tracked,
        ..
    } = relay_to.connect_upstream(false)?;
    upstream.set_read_timeout(Some(relay_to.idle))?;
    let mut to_upstream = upstream.try_clone()?;
    to_upstream.write_all(request.as_bytes())?;
    to_upstream.write_all(reader.buffer())?;
    let from_client = reader.into_inner();
    from_client.set_read_timeout(Some(idle_check(relay_to.idle)))?;
    let activity = Arc::new(Activity::new(relay_to.idle));
    let upload_activity = activity.clone();
    let upload = std::thread::Builder::new()
        .name("git-origin-guard-up".into())
        .spawn(move || pump(from_client, to_upstream, &upload_activity))?;

    let mut response_reader = BufReader::new(upstream.try_clone()?);
    let mut client = client;
    let answer = match read_head(&mut response_reader) {
        Ok(head) => head,
        Err(error) => {
            activity.done.store(true, Ordering::Release);
            let _ = upload.join();
            return Err(error);
        }
    };
    if proxy.is_some() && status_of(&answer) == 407 {
        // The proxy's own refusal: libgit2 must not answer it with the origin's credentials.
        let status_line = answer.lines().next().unwrap_or_default().trim();
        relay_to
            .connections
            .proxy_failed(refusal(407, status_line, &origin.authority()));
        let _ = client.write_all(FORBIDDEN);
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        activity.done.store(true, Ordering::Release);
        let _ = upload.join();
        return Ok(());
    }
    match rewrite_response_head(&answer, relay_to) {
        Ok(head) => {
            client.write_all(head.as_bytes())?;
            client.write_all(response_reader.buffer())?;
            upstream.set_read_timeout(Some(idle_check(relay_to.idle)))?;
            pump(response_reader.into_inner(), client, &activity);
        }
        Err(other) => {
            record_refusal(origin, Some(other), refused);
            let _ = client.write_all(FORBIDDEN);
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
            activity.done.store(true, Ordering::Release);
        }
    }
    let _ = upload.join();
    Ok(())
}

/// A response head for libgit2: `Connection: close`, and a redirect's
/// `Location` pointed back at the guard when it stays on the origin. A
/// redirect to another origin is that origin, as an error.
pub(super) fn rewrite_response_head(head: &str, relay_to: &Relay) -> Result<String, Origin> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_of(head);
    let mut out = format!("{status_line}\r\n");
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("connection") {
            continue;
        }
        if (300..400).contains(&status) && name.trim().eq_ignore_ascii_case("location") {
            let location = redirect_location(value, relay_to)?;
            out.push_str(&format!("Location: {location}\r\n"));
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(out)
}

/// Where a redirect may send libgit2: a path on the origin as it is, an
/// absolute URL on the origin rewritten to the guard; anything else refused.
fn redirect_location(location: &str, relay_to: &Relay) -> Result<String, Origin> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(location.to_string());
    }
    let unknown = || Origin {
        scheme: "unknown".to_string(),
        host: crate::redact::url(location),
        port: 0,
    };
    let target = if let Some(rest) = location.strip_prefix("//") {
        Origin::of_url(&format!("{}://{rest}", relay_to.origin.scheme))
    } else {
        Origin::of_url(location)
    }
    .ok_or_else(unknown)?;
    if target != relay_to.origin {
        return Err(target);
    }
    let rest = location
        .split_once("://")
        .map_or(location, |(_, rest)| rest);
    let path = rest.find(['/', '?', '#']).map_or("/", |i| &rest[i..]);
    Ok(format!("http://{}{path}", relay_to.address))
}

/// The status code of a response head (0 when unreadable).
fn status_of(head: &str) -> u16 {
    head.split("\r\n")
        .next()
        .unwrap_or_default()
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
