//! A fault-injecting HTTP proxy for registry tests: it forwards each request to
//! a real registry (one request per connection, `Connection: close`) and lets
//! the test decide, per request, to pass it through, answer in its place, cut
//! the body short, replace the body, or set a header on the real response.
//! It records every request line so tests can assert on counts and order
//! instead of timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What to do with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward and return the registry's answer.
    Pass,
    /// Answer with this status, headers and body instead of forwarding.
    Respond {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
    },
    /// Forward, then send the head and half the body and close the connection.
    CutBody,
    /// Forward, then replace the body.
    ReplaceBody(String),
    /// Forward, then set a header (replacing one of the same name).
    SetHeader(String, String),
}

type Rule = Box<dyn FnMut(&str, usize) -> Fault + Send>;

/// A running proxy (threads of the test process).
pub struct FaultProxy {
    /// `127.0.0.1:PORT` of the proxy.
    pub host: String,
    requests: Arc<Mutex<Vec<String>>>,
    rule: Arc<Mutex<Rule>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`127.0.0.1:PORT`), passing everything.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let host = listener.local_addr().expect("addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_, _| Fault::Pass)));
        let (log, rules, upstream) = (requests.clone(), rule.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, rules, upstream) = (log.clone(), rules.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &upstream, &log, &rules);
                });
            }
        });
        Self {
            host,
            requests,
            rule,
        }
    }

    /// Sets the rule: called with the request line (`GET /v2/… HTTP/1.1`) and
    /// the number of requests seen before this one.
    pub fn set_rule(&self, rule: impl FnMut(&str, usize) -> Fault + Send + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    /// Passes everything again and forgets the recorded requests.
    pub fn reset(&self) {
        self.set_rule(|_, _| Fault::Pass);
        self.requests.lock().unwrap().clear();
    }

    /// The request lines seen, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    log: &Mutex<Vec<String>>,
    rule: &Mutex<Rule>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let request_line = request_line.trim_end().to_string();
    let mut head = format!("{request_line}\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let fault = {
        let mut log = log.lock().unwrap();
        let seen = log.len();
        log.push(request_line.clone());
        (rule.lock().unwrap())(&request_line, seen)
    };
    if let Fault::Respond {
        status,
        headers,
        body,
    } = &fault
    {
        let headers: Vec<(String, String)> = headers.clone();
        return write_response(&mut client, *status, &headers, body.as_bytes(), false);
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    server.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head_text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let lower = name.to_ascii_lowercase();
            if lower == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
            if !matches!(
                lower.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                headers.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    let mut cut = false;
    match fault {
        Fault::CutBody => cut = true,
        Fault::ReplaceBody(replacement) => body = replacement.into_bytes(),
        Fault::SetHeader(name, value) => {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            headers.push((name, value));
        }
        Fault::Pass | Fault::Respond { .. } => {}
    }
    write_response(&mut client, status, &headers, &body, cut)
}

fn write_response(
    client: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    cut: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} Status\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    client.write_all(head.as_bytes())?;
    if cut {
        client.write_all(&body[..body.len() / 2])?;
        client.flush()?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    client.write_all(body)?;
    client.flush()
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}
