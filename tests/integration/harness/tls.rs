//! A throwaway certificate authority and a server certificate for
//! `127.0.0.1`/`localhost`, made with openssl, with the extensions rustls
//! insists on (CA:TRUE on the CA; SAN and serverAuth on the server).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::{require_program, run, write};

/// PEM files of a test CA and a server certificate it signed.
pub struct TestCertificates {
    /// The CA certificate (what a client must trust).
    pub ca_cert: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
}

impl TestCertificates {
    /// Generates everything in `dir`.
    pub fn generate(dir: &Path) -> Self {
        let openssl = require_program("openssl", "apt-get install openssl");
        let path = |name: &str| dir.join(name);
        run(Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=tagpilot test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(path("ca.key"))
            .arg("-out")
            .arg(path("ca.crt")));
        run(Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(path("server.key"))
            .arg("-out")
            .arg(path("server.csr")));
        write(
            &path("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        );
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(path("server.csr"))
            .arg("-CA")
            .arg(path("ca.crt"))
            .arg("-CAkey")
            .arg(path("ca.key"))
            .arg("-extfile")
            .arg(path("server.ext"))
            .arg("-out")
            .arg(path("server.crt")));
        Self {
            ca_cert: path("ca.crt"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
        }
    }
}
