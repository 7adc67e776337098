//! Key parsing and signature checks, against a signature made by the real cosign.

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};

use super::*;
use crate::secret::Secret;

const DIGEST: &str = "sha256:b88277e7c14d951695aa6b96124c81e8d1dc7e11aab930945bb42a00ffb9ecbd";
const PUBLIC_KEY: &str = include_str!("../../testdata/cosign/cosign.pub");
const PAYLOAD: &[u8] = include_bytes!("../../testdata/cosign/payload.json");
const MANIFEST: &[u8] = include_bytes!("../../testdata/cosign/signature-manifest.json");

fn secret(entries: &[(&str, &str)]) -> SecretData {
    SecretData {
        secret_type: "Opaque".into(),
        data: entries
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(v.as_bytes().to_vec())))
            .collect(),
    }
}

fn keys(entries: &[(&str, &str)]) -> CosignKeys {
    CosignKeys::from_secret(&ObjectKey::new("shop", "keys"), &secret(entries)).unwrap()
}

fn other_key() -> (SigningKey, String) {
    let signing = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (signing, pem)
}

#[test]
fn a_real_cosign_signature_verifies_with_its_key() {
    let layers = signature_layers(MANIFEST).unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].size, PAYLOAD.len() as u64);
    let trusted = keys(&[("cosign.pub", PUBLIC_KEY)]);
    assert_eq!(
        check_layer(&trusted, DIGEST, &layers[0], PAYLOAD),
        LayerVerdict::Verified("cosign.pub".into())
    );
    // One of several keys is enough; the others are tried too.
    let (_, other) = other_key();
    let both = keys(&[("a-other.pub", &other), ("cosign.pub", PUBLIC_KEY)]);
    assert_eq!(
        check_layer(&both, DIGEST, &layers[0], PAYLOAD),
        LayerVerdict::Verified("cosign.pub".into())
    );
    assert_ne!(both.fingerprint(), trusted.fingerprint());
}

#[test]
fn another_key_another_image_or_a_changed_payload_is_not_trusted() {
    let layers = signature_layers(MANIFEST).unwrap();
    let (_, other) = other_key();
    let untrusted = keys(&[("other.pub", &other)]);
    assert_eq!(
        check_layer(&untrusted, DIGEST, &layers[0], PAYLOAD),
        LayerVerdict::NotByTrustedKey
    );
    let trusted = keys(&[("cosign.pub", PUBLIC_KEY)]);
    let elsewhere = format!("sha256:{}", "1".repeat(64));
    assert_eq!(
        check_layer(&trusted, &elsewhere, &layers[0], PAYLOAD),
        LayerVerdict::OtherImage(DIGEST.into())
    );
    let tampered = String::from_utf8(PAYLOAD.to_vec())
        .unwrap()
        .replace("\"optional\":null", "\"optional\":{\"x\":\"y\"}");
    assert_eq!(
        check_layer(&trusted, DIGEST, &layers[0], tampered.as_bytes()),
        LayerVerdict::NotByTrustedKey
    );
    assert_eq!(
        check_layer(&trusted, DIGEST, &layers[0], b"<html>"),
        LayerVerdict::Unreadable
    );
    let mut unsigned = layers[0].clone();
    unsigned.signature = None;
    assert_eq!(
        check_layer(&trusted, DIGEST, &unsigned, PAYLOAD),
        LayerVerdict::NotByTrustedKey
    );
}

#[test]
fn a_payload_of_another_type_is_not_an_image_signature() {
    let (signing, pem) = other_key();
    let trusted = keys(&[("k.pub", &pem)]);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}},"optional":null}}"#
    );
    let signature: Signature = signing.sign(payload.as_bytes());
    let layer = SignatureLayer {
        payload_digest: String::new(),
        size: payload.len() as u64,
        signature: Some(base64::engine::general_purpose::STANDARD.encode(signature.to_der())),
    };
    assert_eq!(
        check_layer(&trusted, DIGEST, &layer, payload.as_bytes()),
        LayerVerdict::OtherImage("a payload of type \"atomic container signature\"".into())
    );
    let cosign_payload = payload.replace("atomic container signature", COSIGN_PAYLOAD_TYPE);
    let signature: Signature = signing.sign(cosign_payload.as_bytes());
    let layer = SignatureLayer {
        signature: Some(base64::engine::general_purpose::STANDARD.encode(signature.to_der())),
        ..layer
    };
    assert_eq!(
        check_layer(&trusted, DIGEST, &layer, cosign_payload.as_bytes()),
        LayerVerdict::Verified("k.pub".into())
    );
}

#[test]
fn secrets_without_usable_keys_say_which_entry_is_wrong() {
    let key = ObjectKey::new("shop", "keys");
    let error = CosignKeys::from_secret(&key, &secret(&[("README", "x")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secret shop/keys has no *.pub entry; put the public key (cosign.pub) under a key ending in .pub"
    );
    let error = CosignKeys::from_secret(
        &key,
        &secret(&[(
            "cosign.pub",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )]),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Secret shop/keys, entry cosign.pub: not an ECDSA P-256 public key in PEM (what `cosign generate-key-pair` writes); other key types are not supported yet"
    );
    let listed = keys(&[("cosign.pub", PUBLIC_KEY), ("notes.txt", "hello")]);
    assert_eq!(listed.names(), ["cosign.pub"]);
    assert_eq!(
        listed.describe(),
        "cosign keys in Secret shop/keys (cosign.pub)"
    );
    assert!(!format!("{listed:?}").contains("BEGIN"), "{listed:?}");
}

#[test]
fn untrusted_details_count_what_was_found() {
    let trusted = keys(&[("cosign.pub", PUBLIC_KEY)]);
    assert_eq!(
        untrusted_detail(&trusted, &[LayerVerdict::NotByTrustedKey]),
        "1 signature, none by cosign keys in Secret shop/keys (cosign.pub)"
    );
    assert_eq!(
        untrusted_detail(
            &trusted,
            &[
                LayerVerdict::OtherImage("sha256:aa".into()),
                LayerVerdict::Unreadable
            ]
        ),
        "2 signatures, none by cosign keys in Secret shop/keys (cosign.pub); one signed another image (sha256:aa); 1 with an unreadable payload"
    );
}

#[test]
fn garbage_manifests_are_errors_and_other_layers_are_ignored() {
    assert!(
        signature_layers(b"<html>")
            .unwrap_err()
            .starts_with("the signature manifest is not an OCI manifest")
    );
    let manifest = br#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"sha256:00","size":3}]}"#;
    assert!(signature_layers(manifest).unwrap().is_empty());
}

/// Go's `ecdsa.VerifyASN1` (cosign) accepts both `s` and `n - s`; so must we,
/// or about half of all real signatures would be refused.
#[test]
fn high_and_low_s_signatures_both_verify() {
    let layers = signature_layers(MANIFEST).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(layers[0].signature.as_deref().unwrap())
        .unwrap();
    let signature = Signature::from_der(&der).unwrap();
    let (r, s) = signature.split_scalars();
    let flipped = Signature::from_scalars(r, -*s).unwrap();
    let trusted = keys(&[("cosign.pub", PUBLIC_KEY)]);
    for form in [signature, flipped] {
        let layer = SignatureLayer {
            signature: Some(base64::engine::general_purpose::STANDARD.encode(form.to_der())),
            ..layers[0].clone()
        };
        assert_eq!(
            check_layer(&trusted, DIGEST, &layer, PAYLOAD),
            LayerVerdict::Verified("cosign.pub".into())
        );
    }
}
