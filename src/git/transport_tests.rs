//! Tests of the git transport: known_hosts, identities, CA checks, redirects and the fetch budget.

use super::certificates::verify_with_ca;
use super::errors::{go_duration, refused_redirect};
use super::*;
use std::net::IpAddr;

#[test]
fn bad_known_hosts_is_reported_with_its_line() {
    let spec = RepoSpec {
        credentials: Credentials::Ssh {
            identity: Secret::new(Vec::new()),
            password: None,
            known_hosts: "example.com ssh-ed25519\n".into(),
        },
        ..RepoSpec::anonymous("ssh://git@example.com/repo")
    };
    let error = Transport::new(&spec).err().unwrap().to_string();
    assert!(error.contains("line 1"), "{error}");
}

fn certificate(
    subject: &str,
    issuer: Option<(
        &openssl::x509::X509,
        &openssl::pkey::PKey<openssl::pkey::Private>,
    )>,
    alt_names: &[&str],
) -> (
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", subject).unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let serial = BigNum::from_u32(u32::from(subject.len() as u8))
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    builder.set_serial_number(&serial).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    match issuer {
        None => {
            builder.set_issuer_name(&name).unwrap();
            builder
                .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
        }
        Some((issuer_cert, _)) => {
            builder.set_issuer_name(issuer_cert.subject_name()).unwrap();
            let mut san = SubjectAlternativeName::new();
            for alt in alt_names {
                if alt.parse::<IpAddr>().is_ok() {
                    san.ip(alt);
                } else {
                    san.dns(alt);
                }
            }
            let san = san
                .build(&builder.x509v3_context(Some(issuer_cert), None))
                .unwrap();
            builder.append_extension(san).unwrap();
        }
    }
    let signing_key = issuer.map_or(&key, |(_, issuer_key)| issuer_key);
    builder.sign(signing_key, MessageDigest::sha256()).unwrap();
    (builder.build(), key)
}

#[test]
fn server_certificates_are_checked_against_the_configured_ca_and_host() {
    let (ca, ca_key) = certificate("tagpilot test CA", None, &[]);
    let (leaf, _) = certificate(
        "git server",
        Some((&ca, &ca_key)),
        &["127.0.0.1", "git.test"],
    );
    let der = leaf.to_der().unwrap();
    verify_with_ca(std::slice::from_ref(&ca), &der, "127.0.0.1").unwrap();
    verify_with_ca(std::slice::from_ref(&ca), &der, "git.test").unwrap();
    let wrong_host = verify_with_ca(std::slice::from_ref(&ca), &der, "other.test").unwrap_err();
    assert!(wrong_host.contains("mismatch"), "{wrong_host}");
    let (other_ca, _) = certificate("another CA", None, &[]);
    let untrusted = verify_with_ca(&[other_ca], &der, "127.0.0.1").unwrap_err();
    assert!(untrusted.contains("issuer"), "{untrusted}");
}

#[test]
fn an_identity_that_is_not_a_key_is_named_without_its_content() {
    let spec = |identity: &str| RepoSpec {
        credentials: Credentials::Ssh {
            identity: Secret::new(identity.as_bytes().to_vec()),
            password: None,
            known_hosts: String::new(),
        },
        ..RepoSpec::anonymous("ssh://git@example.com/repo")
    };
    let error = Transport::new(&spec("Garbage-S3cr3t"))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("identity is not a private key"), "{error}");
    assert!(!error.contains("Garbage-S3cr3t"), "{error}");
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    assert!(Transport::new(&spec(pem)).is_ok(), "PEM keys go to libssh2");
}

/// A server that keeps sending is stopped at the fetch budget, with a
/// clear error (here a local repository and a budget of 1 KiB).
#[test]
fn a_fetch_beyond_its_byte_budget_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let origin = git2::Repository::init_bare(dir.path().join("origin.git")).unwrap();
    let mut random = fastrand::Rng::with_seed(17);
    let content: Vec<u8> = (0..256 * 1024).map(|_| random.u8(..)).collect();
    let blob = origin.blob(&content).unwrap();
    let mut tree = origin.treebuilder(None).unwrap();
    tree.insert("big", blob, 0o100644).unwrap();
    let tree = origin.find_tree(tree.write().unwrap()).unwrap();
    let signature = git2::Signature::now("t", "t@example.com").unwrap();
    origin
        .commit(
            Some("refs/heads/main"),
            &signature,
            &signature,
            "big",
            &tree,
            &[],
        )
        .unwrap();
    let url = format!("file://{}", dir.path().join("origin.git").display());
    let transport = Transport::new(&RepoSpec::anonymous(&url))
        .unwrap()
        .with_fetch_budget(FetchBudget {
            max_bytes: 1024,
            max_time: Duration::from_secs(60),
        });
    let local = git2::Repository::init(dir.path().join("work")).unwrap();
    let mut remote = local
        .remote_anonymous(&transport.connect().unwrap())
        .unwrap();
    let error = remote
        .fetch(
            &["+refs/heads/main:refs/remotes/origin/main"],
            Some(&mut transport.fetch_options()),
            None,
        )
        .unwrap_err();
    let error = transport
        .remote_error("fetch", "branch \"main\"", error)
        .to_string();
    assert!(
        error.contains("stopped: the server sent more than 1024 bytes, beyond the fetch budget"),
        "{error}"
    );
}

#[test]
fn redirects_libgit2_refused_itself_are_recognised() {
    assert_eq!(
        refused_redirect("cannot redirect from '127.0.0.1' to 'evil.example'").as_deref(),
        Some("evil.example")
    );
    assert_eq!(refused_redirect("unexpected http status code: 404"), None);
}

#[test]
fn a_bad_ca_certificate_is_reported() {
    let mut spec = RepoSpec::anonymous("https://example.com/repo");
    spec.ca_certificate = Some(b"not pem".to_vec());
    let error = Transport::new(&spec).err().unwrap().to_string();
    assert!(error.contains("CA certificate"), "{error}");
}

#[test]
fn timeouts_are_written_as_go_writes_durations() {
    for (duration, text) in [
        (Duration::from_secs(60), "1m0s"),
        (Duration::from_secs(3), "3s"),
        (Duration::from_secs(5400), "1h30m0s"),
        (Duration::from_millis(1500), "1.5s"),
    ] {
        assert_eq!(go_duration(duration), text);
    }
}
