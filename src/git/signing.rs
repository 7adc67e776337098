//! Commit signing, both kinds git verifies: git's SSH signature format (an
//! armored `SSHSIG` over the commit object, namespace `git`, SHA-512, checked
//! by `git verify-commit` with `gpg.format=ssh` and an allowed-signers file)
//! and OpenPGP (a detached signature, checked with gpg; see [`super::openpgp`]).
//! Either lands in the commit's `gpgsig` header.

use ssh_key::{HashAlg, LineEnding, PrivateKey};

use super::error::GitError;
use super::openpgp::OpenPgpSigner;
use super::spec::SigningKey;
use crate::secret::Secret;

/// git's namespace for commit and tag signatures.
const GIT_NAMESPACE: &str = "git";

/// Reads an OpenSSH private key, decrypting it with `password` when it is encrypted.
/// The error text never contains key material.
pub(crate) fn read_private_key(
    key: &Secret<Vec<u8>>,
    password: Option<&Secret<String>>,
) -> Result<PrivateKey, String> {
    let parsed = PrivateKey::from_openssh(key.expose())
        .map_err(|error| format!("not an OpenSSH private key ({error})"))?;
    if !parsed.is_encrypted() {
        return Ok(parsed);
    }
    let Some(password) = password else {
        return Err("the key is encrypted and the Secret has no password".to_string());
    };
    parsed
        .decrypt(password.expose().as_bytes())
        .map_err(|_| "the password does not decrypt the key".to_string())
}

/// A ready-to-use signer (the key parsed and decrypted once).
pub(crate) enum CommitSigner {
    /// An OpenSSH key.
    Ssh(Box<PrivateKey>),
    /// An OpenPGP key.
    OpenPgp(OpenPgpSigner),
}

/// Why `key` cannot sign, if it cannot: the key is read and decrypted as a
/// commit would need it. The text names the Secret's key, never its value.
pub fn check_signing_key(key: &SigningKey) -> Result<(), String> {
    prepare(key).map(|_| ())
}

fn prepare(signing_key: &SigningKey) -> Result<CommitSigner, String> {
    match signing_key {
        SigningKey::OpenPgp {
            armored_key,
            passphrase,
        } => OpenPgpSigner::new(armored_key, passphrase.as_ref())
            .map(CommitSigner::OpenPgp)
            .map_err(|reason| format!("`git.asc`: {reason}")),
        SigningKey::Ssh {
            private_key,
            password,
        } => read_private_key(private_key, password.as_ref())
            .map(|key| CommitSigner::Ssh(Box::new(key)))
            .map_err(|reason| format!("`identity`: {reason}")),
    }
}

impl CommitSigner {
    /// Prepares `signing_key` for signing commits of the repository `url`.
    pub fn new(signing_key: &SigningKey, url: &str) -> Result<Self, GitError> {
        prepare(signing_key).map_err(|reason| GitError::InvalidKey {
            what: "signing key",
            url: url.to_string(),
            reason,
        })
    }

    /// The armored signature of `commit` (the commit object's bytes), as the
    /// `gpgsig` header holds it.
    pub fn sign(&self, commit: &[u8], url: &str) -> Result<String, GitError> {
        let failed = |reason: String| GitError::Signing {
            url: url.to_string(),
            reason,
        };
        match self {
            Self::Ssh(key) => key
                .sign(GIT_NAMESPACE, HashAlg::Sha512, commit)
                .and_then(|signature| signature.to_pem(LineEnding::LF))
                .map_err(|error| failed(error.to_string())),
            Self::OpenPgp(signer) => signer.sign(commit).map_err(failed),
        }
    }

    /// The public key in OpenSSH format (for allowed-signers files).
    #[cfg(test)]
    pub fn public_key(&self) -> String {
        match self {
            Self::Ssh(key) => key.public_key().to_openssh().unwrap_or_default(),
            Self::OpenPgp(_) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::{Algorithm, SshSig};

    fn generated_key() -> Vec<u8> {
        let mut rng = ssh_key::rand_core::OsRng;
        let key = PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap();
        key.to_openssh(LineEnding::LF).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn signatures_verify_with_the_public_key_in_the_git_namespace() {
        let signer = CommitSigner::new(
            &SigningKey::Ssh {
                private_key: Secret::new(generated_key()),
                password: None,
            },
            "file:///repo",
        )
        .unwrap();
        let armored = signer
            .sign(b"tree 123\n\nmessage\n", "file:///repo")
            .unwrap();
        assert!(armored.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
        let signature = SshSig::from_pem(&armored).unwrap();
        assert_eq!(signature.namespace(), "git");
        assert_eq!(signature.hash_alg(), HashAlg::Sha512);
        let public = ssh_key::PublicKey::from_openssh(&signer.public_key()).unwrap();
        public
            .verify("git", b"tree 123\n\nmessage\n", &signature)
            .unwrap();
        assert!(public.verify("git", b"tampered", &signature).is_err());
    }

    #[test]
    fn a_gpg_key_that_is_not_one_is_named_with_its_secret_key() {
        let key = SigningKey::OpenPgp {
            armored_key: crate::secret::Secret::new(
                b"-----BEGIN PGP PRIVATE KEY BLOCK-----".to_vec(),
            ),
            passphrase: None,
        };
        let error = CommitSigner::new(&key, "file:///repo").err().unwrap();
        let text = error.to_string();
        assert!(text.contains("`git.asc`: not an ASCII-armored"), "{text}");
        assert!(check_signing_key(&key).is_err());
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        let mut rng = ssh_key::rand_core::OsRng;
        let key = PrivateKey::random(&mut rng, Algorithm::Ed25519)
            .unwrap()
            .encrypt(&mut rng, "right")
            .unwrap();
        let bytes = Secret::new(key.to_openssh(LineEnding::LF).unwrap().as_bytes().to_vec());
        assert!(read_private_key(&bytes, Some(&Secret::new("right".into()))).is_ok());
        let wrong = read_private_key(&bytes, Some(&Secret::new("wrong".into()))).unwrap_err();
        assert!(wrong.contains("does not decrypt"), "{wrong}");
        let missing = read_private_key(&bytes, None).unwrap_err();
        assert!(missing.contains("no password"), "{missing}");
    }
}
