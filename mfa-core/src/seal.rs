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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
///
/// # Examples
///
/// ```
/// use mfa_core::{AeadSealer, error::CryptoError, FactorId, seal::KeyId, Mfa, seal::SealContext, seal::SealedSecret, SecretBytes, seal::SecretSealer, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// /// Keys live in a KMS: the data key is unwrapped once at start-up, then secrets are
/// /// sealed locally.
/// #[derive(Debug)]
/// struct KmsSealer {
///     local: AeadSealer,
/// }
///
/// impl SecretSealer for KmsSealer {
///     fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<SealedSecret, CryptoError> {
///         self.local.seal(ctx, plaintext)
///     }
///
///     fn open(&self, ctx: &SealContext<'_>, sealed: &SealedSecret) -> Result<SecretBytes, CryptoError> {
///         self.local.open(ctx, sealed)
///     }
///
///     fn current_key(&self) -> KeyId {
///         self.local.current_key()
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let data_key_from_kms = [7u8; 32];
/// let sealer = KmsSealer { local: AeadSealer::new(KeyId(3), data_key_from_kms) };
/// let (alice, bob, factor) = (UserId::new("alice")?, UserId::new("bob")?, FactorId::random()?);
/// let ctx = SealContext { user: &alice, factor: &factor, purpose: "factor-secret" };
/// let sealed = sealer.seal(&ctx, b"seed")?;
/// assert_eq!(sealer.open(&ctx, &sealed)?.expose(), b"seed");
/// // Bound to its owner: in Bob's name it does not open.
/// let as_bob = SealContext { user: &bob, ..ctx };
/// assert!(sealer.open(&as_bob, &sealed).is_err());
///
/// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(sealer).build();
/// assert!(mfa.is_ok());
/// # Ok(())
/// # }
/// ```
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
/// use mfa_core::{AeadSealer, FactorId, seal::KeyId, seal::SealContext, seal::SecretSealer, UserId};
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

/// Shards of [`OpenedSecrets`], so concurrent verifications rarely share a lock.
const CACHE_SHARDS: usize = 16;

/// Secrets opened for verification and kept for the next one, so that verifying a factor
/// does not decrypt its sealed secret every time (an XChaCha20-Poly1305 open costs several
/// times a whole TOTP check).
///
/// An entry is used only for exactly the sealed value it was opened from: same user,
/// factor, purpose, key id and ciphertext (nonce and tag included). A secret that was
/// re-sealed or replaced in the store therefore misses and is opened afresh, and a sealed
/// value that would not open (tampered, or copied to another user) is never answered from
/// here. Bounded: when full, a "clock" sweep evicts an entry not used since the hand last
/// passed. Evicted and dropped secrets are zeroized (by [`SecretBytes`]) once no
/// verification still holds them. `Debug` shows the capacity only.
pub(crate) struct OpenedSecrets {
    shards: Box<[Mutex<CacheShard>]>,
}

struct CacheShard {
    capacity: usize,
    index: HashMap<FactorId, usize>,
    slots: Vec<CacheSlot>,
    hand: usize,
}

struct CacheSlot {
    factor: FactorId,
    user: UserId,
    purpose: &'static str,
    sealed: SealedSecret,
    secret: Arc<SecretBytes>,
    referenced: bool,
}

impl OpenedSecrets {
    /// A cache of at most `capacity` secrets; `None` for zero (no cache).
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let n = capacity.min(CACHE_SHARDS);
        let shards = (0..n)
            .map(|i| {
                Mutex::new(CacheShard {
                    capacity: capacity / n + usize::from(i < capacity % n),
                    index: HashMap::new(),
                    slots: Vec::new(),
                    hand: 0,
                })
            })
            .collect();
        Some(Self { shards })
    }

    fn shard(&self, factor: &FactorId) -> MutexGuard<'_, CacheShard> {
        // Factor ids are random: their first byte spreads them evenly.
        let i = usize::from(factor.as_bytes()[0]) % self.shards.len();
        // Every mutation below is complete before anything that could panic, so a poisoned
        // shard is still consistent.
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The secret `sealed` holds for `ctx`: from the cache if this exact sealed value was
    /// opened for the same context before, else opened by `sealer` (outside the lock) and
    /// kept.
    ///
    /// # Errors
    ///
    /// Whatever [`SecretSealer::open`] returns; nothing is cached then.
    pub(crate) fn open(
        &self,
        sealer: &dyn SecretSealer,
        ctx: &SealContext<'_>,
        sealed: &SealedSecret,
    ) -> Result<Arc<SecretBytes>, CryptoError> {
        if let Some(secret) = self.shard(ctx.factor).get(ctx, sealed) {
            return Ok(secret);
        }
        let secret = Arc::new(sealer.open(ctx, sealed)?);
        self.shard(ctx.factor).put(ctx, sealed, secret.clone());
        Ok(secret)
    }

    /// Drops the secret kept for `factor`, if any (a reset or an erasure removed it).
    pub(crate) fn evict(&self, factor: &FactorId) {
        let mut shard = self.shard(factor);
        let shard = &mut *shard;
        if let Some(i) = shard.index.remove(factor) {
            shard.slots.swap_remove(i);
            if let Some(moved) = shard.slots.get(i) {
                shard.index.insert(moved.factor, i);
            }
            if shard.hand >= shard.slots.len() {
                shard.hand = 0;
            }
        }
    }

    /// How many secrets are held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).slots.len()).sum()
    }
}

impl CacheShard {
    fn get(&mut self, ctx: &SealContext<'_>, sealed: &SealedSecret) -> Option<Arc<SecretBytes>> {
        let slot = self.slots.get_mut(*self.index.get(ctx.factor)?)?;
        // Nothing compared here is secret: ids and the sealed bytes the store holds.
        if slot.user == *ctx.user && slot.purpose == ctx.purpose && slot.sealed == *sealed {
            slot.referenced = true;
            Some(slot.secret.clone())
        } else {
            None
        }
    }

    fn put(&mut self, ctx: &SealContext<'_>, sealed: &SealedSecret, secret: Arc<SecretBytes>) {
        let slot = CacheSlot {
            factor: *ctx.factor,
            user: ctx.user.clone(),
            purpose: ctx.purpose,
            sealed: sealed.clone(),
            secret,
            referenced: false,
        };
        // One entry per factor: a newer sealed value replaces the old one.
        if let Some(old) = self.index.get(ctx.factor).and_then(|&i| self.slots.get_mut(i)) {
            *old = slot;
            return;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(*ctx.factor, self.slots.len());
            self.slots.push(slot);
            return;
        }
        // Full: the clock hand clears "referenced" bits until it finds an entry not used
        // since its last pass, and evicts that one. Two turns always find one.
        let n = self.slots.len();
        for _ in 0..2 * n {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            let Some(victim) = self.slots.get_mut(i) else { return };
            if std::mem::take(&mut victim.referenced) {
                continue;
            }
            self.index.remove(&victim.factor);
            self.index.insert(*ctx.factor, i);
            *victim = slot;
            return;
        }
    }
}

impl fmt::Debug for OpenedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let capacity: usize =
            self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).capacity).sum();
        f.debug_struct("OpenedSecrets").field("capacity", &capacity).finish_non_exhaustive()
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

    /// A sealer that counts how often it really opens something.
    #[derive(Debug)]
    struct Counting(AeadSealer, std::sync::atomic::AtomicUsize);

    impl Counting {
        fn new() -> Self {
            Self(AeadSealer::new(KeyId(1), [1; 32]), std::sync::atomic::AtomicUsize::new(0))
        }

        fn opens(&self) -> usize {
            self.1.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl SecretSealer for Counting {
        fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<SealedSecret, CryptoError> {
            self.0.seal(ctx, plaintext)
        }

        fn open(&self, ctx: &SealContext<'_>, sealed: &SealedSecret) -> Result<SecretBytes, CryptoError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.open(ctx, sealed)
        }

        fn current_key(&self) -> KeyId {
            self.0.current_key()
        }
    }

    #[test]
    fn an_opened_secret_is_reused_while_its_sealed_value_is_unchanged() {
        let sealer = Counting::new();
        let cache = OpenedSecrets::new(8).unwrap();
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let sealed = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        for _ in 0..3 {
            assert_eq!(cache.open(&sealer, &ctx(&alice, &f), &sealed).unwrap().expose(), b"seed");
        }
        assert_eq!(sealer.opens(), 1);
    }

    #[test]
    fn a_resealed_or_replaced_secret_is_opened_afresh() {
        let sealer = Counting::new();
        let cache = OpenedSecrets::new(8).unwrap();
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let first = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        cache.open(&sealer, &ctx(&alice, &f), &first).unwrap();
        let resealed = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        assert_eq!(cache.open(&sealer, &ctx(&alice, &f), &resealed).unwrap().expose(), b"seed");
        let replaced = sealer.seal(&ctx(&alice, &f), b"new seed").unwrap();
        assert_eq!(cache.open(&sealer, &ctx(&alice, &f), &replaced).unwrap().expose(), b"new seed");
        assert_eq!(sealer.opens(), 3);
        assert_eq!(cache.len(), 1, "one entry per factor");
    }

    #[test]
    fn the_cache_never_opens_what_the_sealer_would_refuse() {
        let sealer = Counting::new();
        let cache = OpenedSecrets::new(8).unwrap();
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let f = FactorId::random().unwrap();
        let sealed = sealer.seal(&ctx(&alice, &f), b"seed").unwrap();
        cache.open(&sealer, &ctx(&alice, &f), &sealed).unwrap();
        // Alice's sealed value copied to Bob, or tampered with, does not open from the cache.
        assert_eq!(cache.open(&sealer, &ctx(&bob, &f), &sealed).unwrap_err(), CryptoError::Open);
        let mut tampered = sealed.clone();
        let last = tampered.ciphertext.len() - 1;
        tampered.ciphertext[last] ^= 1;
        assert_eq!(cache.open(&sealer, &ctx(&alice, &f), &tampered).unwrap_err(), CryptoError::Open);
        let mut swapped = sealed;
        swapped.key_id = KeyId(7);
        assert_eq!(cache.open(&sealer, &ctx(&alice, &f), &swapped).unwrap_err(), CryptoError::UnknownKey(7));
    }

    #[test]
    fn the_cache_is_bounded_and_lets_go_of_evicted_secrets() {
        let sealer = Counting::new();
        let cache = OpenedSecrets::new(20).unwrap();
        let alice = UserId::new("alice").unwrap();
        let first = FactorId::random().unwrap();
        let sealed = sealer.seal(&ctx(&alice, &first), b"first").unwrap();
        let held = cache.open(&sealer, &ctx(&alice, &first), &sealed).unwrap();
        assert_eq!(Arc::strong_count(&held), 2, "the cache holds it");
        for _ in 0..500 {
            let f = FactorId::random().unwrap();
            let s = sealer.seal(&ctx(&alice, &f), b"other").unwrap();
            cache.open(&sealer, &ctx(&alice, &f), &s).unwrap();
        }
        assert_eq!(cache.len(), 20);
        assert_eq!(Arc::strong_count(&held), 1, "evicted: zeroized as soon as the last holder drops it");
        assert!(OpenedSecrets::new(0).is_none());
        assert_eq!(OpenedSecrets::new(3).unwrap().shards.len(), 3);
    }

    #[test]
    fn a_full_cache_evicts_a_secret_not_used_since_the_last_sweep_first() {
        let sealer = Counting::new();
        // 16 shards of 2: take three factors that fall in the same shard.
        let cache = OpenedSecrets::new(32).unwrap();
        let alice = UserId::new("alice").unwrap();
        let mut same_shard = Vec::new();
        while same_shard.len() < 3 {
            let f = FactorId::random().unwrap();
            if f.as_bytes()[0].is_multiple_of(16) {
                same_shard.push(f);
            }
        }
        let sealed: Vec<_> = same_shard.iter().map(|f| sealer.seal(&ctx(&alice, f), b"seed").unwrap()).collect();
        let open = |i: usize| cache.open(&sealer, &ctx(&alice, &same_shard[i]), &sealed[i]).unwrap();
        open(0);
        open(1);
        open(0); // used again: survives the next sweep
        open(2); // evicts 1, not 0
        assert_eq!(sealer.opens(), 3);
        open(0);
        assert_eq!(sealer.opens(), 3, "still cached");
        open(1);
        assert_eq!(sealer.opens(), 4, "evicted, opened again");
    }

    #[test]
    fn the_cache_debug_output_shows_no_secret() {
        let sealer = Counting::new();
        let cache = OpenedSecrets::new(4).unwrap();
        let alice = UserId::new("alice").unwrap();
        let f = FactorId::random().unwrap();
        let sealed = sealer.seal(&ctx(&alice, &f), b"hunter2-seed").unwrap();
        cache.open(&sealer, &ctx(&alice, &f), &sealed).unwrap();
        let text = format!("{cache:?}");
        assert_eq!(text, "OpenedSecrets { capacity: 4, .. }");
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let sealer = AeadSealer::new(KeyId(5), [42; 32]);
        let text = format!("{sealer:?}");
        assert!(text.contains('5') && !text.contains("42"));
    }
}
