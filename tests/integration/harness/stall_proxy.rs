//! A TCP relay in front of a real server (sshd, lighttpd) that can stall:
//! from a chosen connection on, it still takes the client's bytes to the
//! server but holds everything the server answers, keeping both connections
//! open, as a hung server or a black-holed network would. Tests use it to
//! show that an operation gives up at its timeout.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running relay (threads of the test process).
pub struct StallingProxy {
    /// The port clients connect to.
    pub port: u16,
    stall_from: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl StallingProxy {
    /// Relays `127.0.0.1:PORT` to `upstream_port` on 127.0.0.1, passing everything.
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let stall_from = Arc::new(AtomicUsize::new(usize::MAX));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stall, count) = (stall_from.clone(), accepted.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let index = count.fetch_add(1, Ordering::SeqCst);
                let held = index >= stall.load(Ordering::SeqCst);
                std::thread::spawn(move || relay(client, upstream_port, held));
            }
        });
        Self {
            port,
            stall_from,
            accepted,
        }
    }

    /// Holds the server's answers on connection `index` (0-based) and every later one.
    pub fn stall_from(&self, index: usize) {
        self.stall_from.store(index, Ordering::SeqCst);
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn relay(client: TcpStream, upstream_port: u16, held: bool) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upload = std::thread::spawn(move || copy(client_reader, server_writer));
    if held {
        // Read and drop what the server says, so it is not blocked, and
        // never pass it on; the client waits until it gives up.
        let mut server = server;
        let mut sink = [0u8; 4096];
        while matches!(server.read(&mut sink), Ok(n) if n > 0) {}
    } else {
        copy(server, client);
    }
    let _ = upload.join();
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
