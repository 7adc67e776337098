//! OpenPGP commit signatures, Flux's default `signingKey` type (`gpg`): the
//! Secret's `git.asc` holds one ASCII-armored private key (a transferable
//! secret key, as `gpg --export-secret-keys --armor` writes it), optionally
//! protected by the Secret's `passphrase`. The commit object is signed with a
//! detached binary signature, armored, which git keeps in the commit's
//! `gpgsig` header and `git verify-commit` checks with gpg.
//!
//! Which key signs: as GnuPG and Flux's OpenPGP library choose, the newest
//! subkey whose binding allows signing (not revoked, not expired), else the
//! primary key when its self-signatures allow signing (or say nothing and its
//! algorithm can sign). The passphrase decrypts that key once, when the
//! signer is made; errors never carry key material or the passphrase.

use std::io::Cursor;

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::packet::{KeyFlags, SecretKey, SecretSubkey, Signature, SignatureType};
use pgp::types::{KeyDetails, Password, SigningKey as _};

use crate::secret::Secret;

/// The key that makes the signatures, its secret material decrypted.
pub(crate) enum OpenPgpSigner {
    /// The primary key signs.
    Primary(Box<SecretKey>),
    /// A signing subkey signs.
    Subkey(Box<SecretSubkey>),
}

impl OpenPgpSigner {
    /// Reads `git.asc` and decrypts the signing key with `passphrase` when it
    /// is protected. The error says what is wrong, never with key material.
    pub fn new(
        armored: &Secret<Vec<u8>>,
        passphrase: Option<&Secret<String>>,
    ) -> Result<Self, String> {
        let key = read_single_key(armored.expose())?;
        key.verify_bindings().map_err(|_| {
            "the key's self-signatures do not verify: the key is damaged".to_string()
        })?;
        let mut signer = choose_signing_key(&key)?;
        let protected = match &signer {
            Self::Primary(key) => key.secret_params().is_encrypted(),
            Self::Subkey(key) => key.secret_params().is_encrypted(),
        };
        if protected {
            let Some(passphrase) = passphrase else {
                return Err(
                    "the key is protected by a passphrase and the Secret has no `passphrase`"
                        .to_string(),
                );
            };
            let password = Password::from(passphrase.expose().as_str());
            let unlocked = match &mut signer {
                Self::Primary(key) => key.remove_password(&password),
                Self::Subkey(key) => key.remove_password(&password),
            };
            unlocked.map_err(|_| "the passphrase does not decrypt the key".to_string())?;
        }
        Ok(signer)
    }

    /// The armored detached signature of `data` (`-----BEGIN PGP SIGNATURE-----`).
    pub fn sign(&self, data: &[u8]) -> Result<String, String> {
        let rng = ssh_key::rand_core::OsRng;
        let unlocked = Password::empty();
        let cannot =
            |error: pgp::errors::Error| format!("the OpenPGP signature cannot be made ({error})");
        // Each signature is checked with the public key before it is used: a
        // damaged secret key must not produce commits whose signatures fail.
        let signature = match self {
            Self::Primary(key) => {
                let signature = DetachedSignature::sign_binary_data(
                    rng,
                    key.as_ref(),
                    &unlocked,
                    key.hash_alg(),
                    data,
                )
                .map_err(cannot)?;
                signature.verify(key.public_key(), data).map(|()| signature)
            }
            Self::Subkey(key) => {
                let signature = DetachedSignature::sign_binary_data(
                    rng,
                    key.as_ref(),
                    &unlocked,
                    key.hash_alg(),
                    data,
                )
                .map_err(cannot)?;
                signature.verify(key.public_key(), data).map(|()| signature)
            }
        }
        .map_err(|_| {
            "the signature does not verify with the key's public part: the key is damaged"
                .to_string()
        })?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|error| format!("the OpenPGP signature cannot be armored ({error})"))
    }
}

/// Parses exactly one transferable secret key.
fn read_single_key(armored: &[u8]) -> Result<SignedSecretKey, String> {
    let not_a_key = || {
        "not an ASCII-armored OpenPGP private key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`, as `gpg --export-secret-keys --armor` writes it)"
            .to_string()
    };
    let (keys, _headers) =
        SignedSecretKey::from_armor_many(Cursor::new(armored)).map_err(|_| not_a_key())?;
    let mut parsed = Vec::new();
    for key in keys {
        parsed.push(key.map_err(|error| format!("{} ({error})", not_a_key()))?);
    }
    match parsed.len() {
        0 => Err(not_a_key()),
        1 => Ok(parsed.remove(0)),
        many => Err(format!(
            "it holds {many} keys; put exactly one in `git.asc` (tagpilot cannot tell which should sign)"
        )),
    }
}

/// The newest usable signing subkey, else the primary key if it may sign.
fn choose_signing_key(key: &SignedSecretKey) -> Result<OpenPgpSigner, String> {
    if !key.details.revocation_signatures.is_empty() {
        return Err("the key is revoked".to_string());
    }
    let now = std::time::SystemTime::now();
    let subkey = key
        .secret_subkeys
        .iter()
        .filter(|subkey| {
            let created: std::time::SystemTime = subkey.key.created_at().into();
            let revoked = subkey
                .signatures
                .iter()
                .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
            let binding = newest(
                subkey
                    .signatures
                    .iter()
                    .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding)),
            );
            !revoked
                && binding.is_some_and(|binding| {
                    binding.key_flags().sign() && !expired(binding, created, now)
                })
                && subkey.key.algorithm().can_sign()
        })
        .max_by_key(|subkey| subkey.key.created_at());
    if let Some(subkey) = subkey {
        return Ok(OpenPgpSigner::Subkey(Box::new(subkey.key.clone())));
    }
    let self_signature = newest(
        key.details
            .users
            .iter()
            .flat_map(|user| user.signatures.iter())
            .chain(key.details.direct_signatures.iter()),
    );
    let flags = self_signature.map(Signature::key_flags).unwrap_or_default();
    let primary_may_sign = if flags == KeyFlags::default() {
        key.primary_key.algorithm().can_sign()
    } else {
        flags.sign()
    };
    if let Some(signature) = self_signature {
        let created: std::time::SystemTime = key.primary_key.created_at().into();
        if expired(signature, created, now) {
            return Err("the key has expired".to_string());
        }
    }
    if primary_may_sign {
        return Ok(OpenPgpSigner::Primary(Box::new(key.primary_key.clone())));
    }
    Err("the key has no subkey or primary key that may sign (key usage `sign`)".to_string())
}

/// The signature created last.
fn newest<'a>(signatures: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    signatures.max_by_key(|signature| signature.created().map(|t| t.as_secs()))
}

/// Whether the key a `binding` signature speaks for has expired by `now`.
fn expired(
    binding: &Signature,
    key_created: std::time::SystemTime,
    now: std::time::SystemTime,
) -> bool {
    binding
        .key_expiration_time()
        .map(|lifetime| std::time::Duration::from_secs(u64::from(lifetime.as_secs())))
        .filter(|lifetime| !lifetime.is_zero())
        .and_then(|lifetime| key_created.checked_add(lifetime))
        .is_some_and(|expiry| expiry <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_a_private_key_is_named_as_such() {
        for garbage in [
            b"not a key at all".to_vec(),
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
                .to_vec(),
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nbm90IGEga2V5\n=AAAA\n-----END PGP PRIVATE KEY BLOCK-----\n"
                .to_vec(),
        ] {
            let error = OpenPgpSigner::new(&Secret::new(garbage), None)
                .err()
                .unwrap_or_default();
            assert!(error.contains("not an ASCII-armored OpenPGP private key"), "{error}");
        }
    }
}
