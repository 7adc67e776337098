//! The ssh mode of the origin guard: a plain TCP relay to the origin's host
//! and port (through the proxy when there is one), so that the operation's
//! timeout and idle limit bound an ssh server too. The ssh session itself is
//! libgit2's, end to end; the relay sees only encrypted bytes.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;

use super::upstream::Upstream;
use super::{Activity, Relay, idle_check, pump};

/// ssh: relay the connection to the origin both ways until either side ends,
/// the connection is idle too long, or the guard's deadline closes it.
pub(super) fn serve_relay(client: TcpStream, relay: &Relay) -> io::Result<()> {
    let Upstream {
        stream: upstream,
        early,
        tracked: _tracked,
    } = relay.connect_upstream(true)?;
    let mut to_client = client.try_clone()?;
    // An ssh server speaks first: its banner may have come with the proxy's answer.
    to_client.write_all(&early)?;
    client.set_read_timeout(Some(idle_check(relay.idle)))?;
    upstream.set_read_timeout(Some(idle_check(relay.idle)))?;
    let activity = Arc::new(Activity::new(relay.idle));
    let download_activity = activity.clone();
    let (download_from, download_to) = (upstream.try_clone()?, to_client);
    let download = std::thread::Builder::new()
        .name("git-origin-guard-down".into())
        .spawn(move || pump(download_from, download_to, &download_activity))?;
    pump(client, upstream, &activity);
    let _ = download.join();
    Ok(())
}
