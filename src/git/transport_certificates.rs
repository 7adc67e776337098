//! Checking who the server is: ssh host keys against the Secret's
//! known_hosts (no trust on first use), https certificates against the
//! configured CA when there is one.

use std::net::IpAddr;

use git2::CertificateCheckStatus;
use git2::cert::Cert;

use super::Transport;
use crate::git::error::GitError;
use crate::git::known_hosts::HostKeyVerdict;
use crate::git::url::Transport as Scheme;

impl Transport {
    pub(super) fn check_certificate(
        &self,
        cert: &Cert<'_>,
        host: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        if let Some(hostkey) = cert.as_hostkey() {
            let name = self.url.known_hosts_name();
            let unknown = || GitError::HostKeyUnknown {
                host: name.clone(),
                scan: self.url.keyscan_arguments(),
                url: self.url.redacted.clone(),
            };
            let mismatch = |detail| GitError::HostKeyMismatch {
                host: name.clone(),
                url: self.url.redacted.clone(),
                detail,
            };
            let (Some(known_hosts), Some(key)) = (&self.known_hosts, hostkey.hostkey()) else {
                return Err(self.fail(unknown()));
            };
            return match known_hosts.check(&name, key) {
                HostKeyVerdict::Trusted => Ok(CertificateCheckStatus::CertificateOk),
                HostKeyVerdict::Mismatch => Err(self.fail(mismatch("different key"))),
                HostKeyVerdict::Revoked => Err(self.fail(mismatch("key revoked"))),
                HostKeyVerdict::Unknown => Err(self.fail(unknown())),
            };
        }
        if let (Some(x509), Some(ca)) = (cert.as_x509(), &self.ca) {
            return match verify_with_ca(ca, x509.data(), host) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(reason) => Err(self.fail(GitError::UntrustedCertificate {
                    url: self.url.redacted.clone(),
                    reason,
                })),
            };
        }
        if self.url.transport == Scheme::Ssh {
            return Err(self.fail(GitError::HostKeyUnknown {
                host: self.url.known_hosts_name(),
                scan: self.url.keyscan_arguments(),
                url: self.url.redacted.clone(),
            }));
        }
        Ok(CertificateCheckStatus::CertificatePassthrough)
    }
}

/// Verifies a server certificate (DER) against the configured CAs and the host name.
pub(super) fn verify_with_ca(
    ca: &[openssl::x509::X509],
    leaf_der: &[u8],
    host: &str,
) -> Result<(), String> {
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::verify::X509VerifyParam;
    use openssl::x509::{X509, X509StoreContext};
    let stack_error = |error: openssl::error::ErrorStack| error.to_string();
    let leaf = X509::from_der(leaf_der).map_err(stack_error)?;
    let mut builder = X509StoreBuilder::new().map_err(stack_error)?;
    for cert in ca {
        builder.add_cert(cert.clone()).map_err(stack_error)?;
    }
    let mut param = X509VerifyParam::new().map_err(stack_error)?;
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => param.set_ip(ip).map_err(stack_error)?,
        Err(_) => param.set_host(host).map_err(stack_error)?,
    }
    builder.set_param(&param).map_err(stack_error)?;
    let store = builder.build();
    let chain = Stack::new().map_err(stack_error)?;
    let mut context = X509StoreContext::new().map_err(stack_error)?;
    context
        .init(&store, &leaf, &chain, |context| {
            Ok(if context.verify_cert()? {
                Ok(())
            } else {
                Err(context.error().error_string().to_string())
            })
        })
        .map_err(stack_error)?
}
