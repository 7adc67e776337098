//! The https mode of the origin guard: `CONNECT` tunnels to the configured
//! origin only, and a `CONNECT` that libgit2 sends inside a reused tunnel
//! (after a redirect) refused like a new one.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::upstream::Upstream;
use super::{
    Activity, FORBIDDEN, MAX_HEAD_BYTES, Origin, Refusals, Relay, idle_check, pump_muted,
    read_head, record_refusal,
};

/// https: answer libgit2's `CONNECT` with a tunnel to the configured origin,
/// refuse any other.
pub(super) fn serve_tunnel(client: TcpStream, relay: &Relay, refused: &Refusals) -> io::Result<()> {
    let origin = &relay.origin;
    client.set_read_timeout(Some(relay.idle))?;
    // Nothing of the head stays in memory beyond it; the relay below reads in chunks.
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_ascii_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let wanted = if method.eq_ignore_ascii_case("CONNECT") {
        Origin::of_connect(target)
    } else {
        Origin::of_url(target)
    };
    let mut client = client;
    if wanted.as_ref() != Some(origin) {
        record_refusal(origin, wanted, refused);
        client.write_all(FORBIDDEN)?;
        return client.shutdown(Shutdown::Both);
    }
    let Upstream {
        stream: upstream,
        early: early_answer,
        tracked: _tracked,
    } = relay.connect_upstream(true)?;
    let mut to_upstream = upstream.try_clone()?;
    // libgit2 reads this answer with its general response parser, which needs
    // the (empty) length to know that the tunnel's bytes are not its body.
    client.write_all(b"HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n")?;
    client.write_all(&early_answer)?;
    let mut records = TlsRecords::default();
    // Bytes libgit2 sent after the head (its TLS hello).
    let early = reader.buffer().to_vec();
    let from_client = reader.into_inner();
    from_client.set_read_timeout(Some(idle_check(relay.idle)))?;
    upstream.set_read_timeout(Some(idle_check(relay.idle)))?;
    let activity = Arc::new(Activity::new(relay.idle));
    let download_activity = activity.clone();
    let (download_from, download_to) = (upstream.try_clone()?, client.try_clone()?);
    let mute = Arc::new(AtomicBool::new(false));
    let download_mute = mute.clone();
    let download = std::thread::Builder::new()
        .name("git-origin-guard-down".into())
        .spawn(move || {
            pump_muted(
                download_from,
                download_to,
                &download_activity,
                &download_mute,
            )
        })?;
    let leftover = match records.feed(&early) {
        Ok(()) => {
            to_upstream.write_all(&early)?;
            tunnel_upload(
                from_client,
                &mut to_upstream,
                &mut records,
                &activity,
                &mute,
            )
        }
        Err(offset) => {
            to_upstream.write_all(&early[..offset])?;
            Some(early[offset..].to_vec())
        }
    };
    if let Some(plain) = leftover {
        // libgit2 reuses a kept-alive proxy connection for its next CONNECT:
        // after a redirect, that is a CONNECT to another origin, sent inside
        // the tunnel. Refuse it like a new connection's.
        let line = String::from_utf8_lossy(&plain);
        let target = line.split_ascii_whitespace().nth(1).unwrap_or_default();
        let wanted = Origin::of_connect(target).or_else(|| Origin::of_url(target));
        record_refusal(origin, wanted, refused);
        // The origin is silent here (libgit2 waits for the CONNECT answer).
        let _ = client.write_all(FORBIDDEN);
        activity.done.store(true, Ordering::Release);
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = download.join();
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let _ = download.join();
    Ok(())
}

/// Copies libgit2's TLS records into the tunnel until EOF, an error, the other
/// direction ending or idleness; returns the start of a plain-text request
/// (up to its first line) if libgit2 sends one between records.
fn tunnel_upload(
    mut from_client: TcpStream,
    to_upstream: &mut TcpStream,
    records: &mut TlsRecords,
    activity: &Activity,
    mute: &AtomicBool,
) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut plain: Option<Vec<u8>> = None;
    loop {
        match from_client.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                let chunk = &buffer[..read];
                if let Some(plain) = plain.as_mut() {
                    plain.extend_from_slice(chunk);
                } else {
                    let fed = records.feed(chunk);
                    if records.alerted {
                        // libgit2 is closing its TLS session: the origin's own
                        // close_notify must not reach it, or it would read that
                        // instead of the answer to its next CONNECT.
                        mute.store(true, Ordering::Release);
                    }
                    match fed {
                        Ok(()) => {
                            if to_upstream.write_all(chunk).is_err() {
                                break;
                            }
                            activity.touch();
                            continue;
                        }
                        Err(offset) => {
                            if to_upstream.write_all(&chunk[..offset]).is_err() {
                                break;
                            }
                            plain = Some(chunk[offset..].to_vec());
                        }
                    }
                }
                if plain
                    .as_ref()
                    .is_some_and(|p| p.contains(&b'\n') || p.len() > MAX_HEAD_BYTES)
                {
                    return plain;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if activity.done.load(Ordering::Acquire) || activity.idle_too_long() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    activity.done.store(true, Ordering::Release);
    let _ = to_upstream.shutdown(Shutdown::Write);
    plain
}

/// Follows the TLS record framing of a byte stream (5-byte headers: content
/// type 20..=23, version, length), to notice plain text between records.
#[derive(Debug, Default)]
pub(super) struct TlsRecords {
    header: [u8; 5],
    header_len: usize,
    remaining: usize,
    /// An alert record (libgit2 closing its TLS session) has started.
    pub(super) alerted: bool,
}

impl TlsRecords {
    /// Consumes `data`; `Err(offset)` where a record should start but the
    /// bytes are not a TLS record header.
    pub(super) fn feed(&mut self, data: &[u8]) -> Result<(), usize> {
        let mut index = 0;
        while index < data.len() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len() - index);
                self.remaining -= take;
                index += take;
                continue;
            }
            if self.header_len == 0 && !(20..=23).contains(&data[index]) {
                return Err(index);
            }
            self.header[self.header_len] = data[index];
            self.header_len += 1;
            index += 1;
            if self.header_len == 5 {
                self.remaining = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.header_len = 0;
                self.alerted |= self.header[0] == 21;
            }
        }
        Ok(())
    }
}
