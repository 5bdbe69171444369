//! Sealing reusable secrets (TOTP seeds and the like) before they reach a store.
//!
//! A [`SealedSecret`] is an AEAD ciphertext with the id of the key that sealed it. The
//! associated data binds it to one user, one factor and one purpose, so a row copied to
//! another user (or another factor) does not open. Keys rotate: a sealer holds one current
//! key that seals and any number of previous keys that still open; the service re-seals a
//! secret under the current key the next time it is used.
//!
//! # Key management
//!
//! - Generate a key with a CSPRNG (`head -c 32 /dev/urandom | base64`) and keep it outside
//!   the database: a secret manager, a KMS-unwrapped data key, or an environment variable
//!   injected at deploy time. A database dump without the key holds no usable seed.
//! - Give every key a new id. To rotate, deploy the new key as current with the old one as
//!   a previous key; secrets move to the new key as they are used. Remove an old key only
//!   once nothing sealed with it remains (stores can count rows by key id).
//! - [`AeadSealer::ephemeral`] draws a random key that dies with the process: fine for tests
//!   and demos on the in-memory store, wrong for anything durable.

use std::collections::HashMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::error::CryptoError;
use crate::secret::{SecretBytes, fill_random};
use crate::types::{FactorId, UserId};

/// Identifies a sealing key, so secrets sealed under old keys still open after rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u32);

/// A secret sealed by a [`SecretSealer`]: safe to store. `Debug` shows only the key id and
/// length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The key that sealed it.
    pub key_id: KeyId,
    /// Nonce and ciphertext with tag, in the sealer's own format.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret").field("key_id", &self.key_id).field("len", &self.ciphertext.len()).finish()
    }
}

/// What a sealed secret is bound to: its owner, its factor and its purpose. Opening in
/// any other context fails.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    /// The user who owns the secret.
    pub user: &'a UserId,
    /// The factor the secret belongs to.
    pub factor: &'a FactorId,
    /// What the secret is for (`"factor-secret"`).
    pub purpose: &'static str,
}

impl SealContext<'_> {
    /// The associated data: a version tag, the key id and length-prefixed fields.
    fn associated_data(&self, key_id: KeyId) -> Vec<u8> {
        let user = self.user.as_str().as_bytes();
        let mut ad = Vec::with_capacity(32 + user.len() + self.purpose.len());
        ad.extend_from_slice(b"mfa-rs/seal/v1\0");
        ad.extend_from_slice(&key_id.0.to_be_bytes());
        ad.extend_from_slice(&u16::try_from(user.len()).unwrap_or(u16::MAX).to_be_bytes());
        ad.extend_from_slice(user);
        ad.extend_from_slice(self.factor.as_bytes());
        ad.extend_from_slice(self.purpose.as_bytes());
        ad
    }
}

/// Seals and opens secrets with associated data. Implement it to put keys in an HSM or
/// KMS; [`AeadSealer`] is the default.
///
/// Synchronous on purpose: it sits on every verification's hot path. A KMS-backed sealer
/// unwraps its data keys at start-up and seals locally.
pub trait SecretSealer: fmt::Debug + Send + Sync + 'static {
    /// Seals `plaintext` under the current key, bound to `ctx`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Seal`] or [`CryptoError::Random`].
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<SealedSecret, CryptoError>;

    /// Opens a sealed secret bound to `ctx`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::UnknownKey`] if the key is not held; [`CryptoError::Open`] if the
    /// ciphertext was tampered with or belongs to another context.
    fn open(&self, ctx: &SealContext<'_>, sealed: &SealedSecret) -> Result<SecretBytes, CryptoError>;

    /// The key new secrets are sealed with. A secret under another key is re-sealed when
    /// next used.
    fn current_key(&self) -> KeyId;
}

/// XChaCha20-Poly1305 sealing with a key ring (one current key, any number of previous
/// ones). Nonces are 192 random bits, so random nonces never collide in practice.
///
/// ```
/// use mfa_core::{AeadSealer, FactorId, KeyId, SealContext, SecretSealer, UserId};
///
/// let sealer = AeadSealer::new(KeyId(2), [7u8; 32]).with_previous_key(KeyId(1), [9u8; 32]);
/// let (user, factor) = (UserId::new("alice")?, FactorId::random()?);
/// let ctx = SealContext { user: &user, factor: &factor, purpose: "factor-secret" };
/// let sealed = sealer.seal(&ctx, b"seed")?;
/// assert_eq!(sealed.key_id, KeyId(2));
/// assert_eq!(sealer.open(&ctx, &sealed)?.expose(), b"seed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AeadSealer {
    current: KeyId,
    keys: HashMap<KeyId, XChaCha20Poly1305>,
}

const NONCE_LEN: usize = 24;

impl AeadSealer {
    /// A sealer whose current key is `key` with id `id`.
    pub fn new(id: KeyId, key: [u8; 32]) -> Self {
        let mut key = key;
        let cipher = XChaCha20Poly1305::new(&key.into());
        zeroize::Zeroize::zeroize(&mut key);
        let mut keys = HashMap::new();
        keys.insert(id, cipher);
        Self { current: id, keys }
    }

    /// A sealer from a current key given as bytes (for keys read from configuration).
    ///
    /// # Errors
    ///
    /// [`CryptoError::Seal`] unless `key` is exactly 32 bytes.
    pub fn from_slice(id: KeyId, key: &[u8]) -> Result<Self, CryptoError> {
        let key: [u8; 32] = key.try_into().map_err(|_| CryptoError::Seal)?;
        Ok(Self::new(id, key))
    }

    /// Adds a previous key that still opens secrets but seals nothing new.
    pub fn with_previous_key(mut self, id: KeyId, key: [u8; 32]) -> Self {
        let mut key = key;
        if id != self.current {
            self.keys.insert(id, XChaCha20Poly1305::new(&key.into()));
        }
        zeroize::Zeroize::zeroize(&mut key);
        self
    }

    /// A sealer with a random key (id 0) that lives only as long as the process: for tests
    /// and in-memory demos only.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if the operating system cannot supply randomness.
    pub fn ephemeral() -> Result<Self, CryptoError> {
        let mut key = [0u8; 32];
        fill_random(&mut key)?;
        Ok(Self::new(KeyId(0), key))
    }
}

impl fmt::Debug for AeadSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().map(|k| k.0).collect();
        ids.sort_unstable();
        f.debug_struct("AeadSealer").field("current", &self.current.0).field("key_ids", &ids).finish_non_exhaustive()
    }
}

impl SecretSealer for AeadSealer {
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<SealedSecret, CryptoError> {
        let cipher = self.keys.get(&self.current).ok_or(CryptoError::UnknownKey(self.current.0))?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let ad = ctx.associated_data(self.current);
        let ct = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &ad })
            .map_err(|_| CryptoError::Seal)?;
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + ct.len());
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&ct);
        Ok(SealedSecret { key_id: self.current, ciphertext })
    }

    fn open(&self, ctx: &SealContext<'_>, sealed: &SealedSecret) -> Result<SecretBytes, CryptoError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or(CryptoError::UnknownKey(sealed.key_id.0))?;
        let (nonce, ct) = sealed.ciphertext.split_at_checked(NONCE_LEN).ok_or(CryptoError::Open)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Open)?;
        let ad = ctx.associated_data(sealed.key_id);
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &ad })
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::Open)
    }

    fn current_key(&self) -> KeyId {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(user: &'a UserId, factor: &'a FactorId) -> SealContext<'a> {
        SealContext { user, factor, purpose: "factor-secret" }
    }

    #[test]
    fn a_secret_sealed_for_one_user_does_not_open_as_another() {
        let sealer = AeadSealer::ephemeral().unwrap();
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let factor = FactorId::random().unwrap();
        let sealed = sealer.seal(&ctx(&alice, &factor), b"seed").unwrap();
        assert_eq!(sealer.open(&ctx(&alice, &factor), &sealed).unwrap().expose(), b"seed");
        assert_eq!(sealer.open(&ctx(&bob, &factor), &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn a_secret_sealed_for_one_factor_does_not_open_for_another() {
        let sealer = AeadSealer::ephemeral().unwrap();
        let alice = UserId::new("alice").unwrap();
        let (f1, f2) = (FactorId::random().unwrap(), FactorId::random().unwrap());
        let sealed = sealer.seal(&ctx(&alice, &f1), b"seed").unwrap();
        assert_eq!(sealer.open(&ctx(&alice, &f2), &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn tampering_is_detected() {
        let sealer = AeadSealer::ephemeral().unwrap();
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let mut sealed = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert_eq!(sealer.open(&ctx(&alice, &f), &sealed), Err(CryptoError::Open));
        sealed.ciphertext.truncate(3);
        assert_eq!(sealer.open(&ctx(&alice, &f), &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn rotation_opens_old_secrets_and_seals_with_the_new_key() {
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let old = AeadSealer::new(KeyId(1), [1; 32]);
        let sealed_old = old.seal(&ctx(&alice, &f), b"seed").unwrap();
        let rotated = AeadSealer::new(KeyId(2), [2; 32]).with_previous_key(KeyId(1), [1; 32]);
        assert_eq!(rotated.open(&ctx(&alice, &f), &sealed_old).unwrap().expose(), b"seed");
        assert_eq!(rotated.seal(&ctx(&alice, &f), b"x").unwrap().key_id, KeyId(2));
        let without_old = AeadSealer::new(KeyId(2), [2; 32]);
        assert_eq!(without_old.open(&ctx(&alice, &f), &sealed_old), Err(CryptoError::UnknownKey(1)));
    }

    #[test]
    fn a_key_id_cannot_be_swapped_onto_another_keys_ciphertext() {
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let sealer = AeadSealer::new(KeyId(2), [1; 32]).with_previous_key(KeyId(1), [1; 32]);
        let mut sealed = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        sealed.key_id = KeyId(1);
        assert_eq!(sealer.open(&ctx(&alice, &f), &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let sealer = AeadSealer::new(KeyId(5), [42; 32]);
        let text = format!("{sealer:?}");
        assert!(text.contains('5') && !text.contains("42"));
    }
}
