//! Recovery codes: generated, shown once, stored hashed, single use.
//!
//! # Format
//!
//! A code is 20 characters of the RFC 4648 base32 alphabet (`A–Z`, `2–7`) in five groups of
//! four: `KQ4M-7XZD-P2LA-N6WE-R3TY` — 100 random bits. The first group is a *lookup* part,
//! stored in clear and unique within the user's set; the other 16 characters (80 bits) are
//! the secret, stored only as a salted argon2id hash. Verifying an attempt finds the one
//! candidate by its lookup part and runs exactly one argon2 verification, however many
//! codes the user holds; an unknown lookup part runs one verification against a dummy hash,
//! so the cost and timing are the same.
//!
//! Input is forgiving: case, spaces and hyphens are ignored, and `0`, `1`, `8` are read as
//! `O`, `I`, `B` (characters the alphabet does not use).

use std::fmt;
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::{CryptoError, Error, Result};
use crate::secret::{SecretString, fill_random};
use crate::types::invalid;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters in a code, without separators.
pub const CODE_CHARS: usize = 20;
/// Characters of the lookup part.
pub const LOOKUP_CHARS: usize = 4;

/// argon2id cost parameters for recovery-code hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HashParams {
    /// Memory, in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl HashParams {
    /// OWASP's recommended argon2id configuration: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: HashParams = HashParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 };
    /// The cheapest configuration OWASP lists as acceptable (7 MiB, 5 iterations); its
    /// memory is the default floor below which stored hashes are refused.
    pub const OWASP_MIN_MEMORY: HashParams = HashParams { m_cost_kib: 7 * 1024, t_cost: 1, p_cost: 1 };

    /// Parameters from their parts.
    pub const fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Self {
        Self { m_cost_kib, t_cost, p_cost }
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| Error::Config("invalid argon2 parameters"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    fn at_least(&self, floor: &HashParams) -> bool {
        self.m_cost_kib >= floor.m_cost_kib && self.t_cost >= floor.t_cost && self.p_cost >= floor.p_cost
    }
}

/// How recovery codes are made and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryCodeSettings {
    /// Codes per set (default 10).
    pub count: usize,
    /// Emit `RecoveryCodesLow` when this many or fewer remain (default 3).
    pub low_watermark: usize,
    /// Cost of new hashes (default [`HashParams::OWASP`]).
    pub hash_params: HashParams,
    /// Stored hashes cheaper than this are refused as corrupt (default: 7 MiB, t=1, p=1).
    /// Argon2 reads the cost from the stored hash, so without a floor a tampered row could
    /// make verification trivially cheap.
    pub hash_floor: HashParams,
}

impl Default for RecoveryCodeSettings {
    fn default() -> Self {
        Self { count: 10, low_watermark: 3, hash_params: HashParams::OWASP, hash_floor: HashParams::OWASP_MIN_MEMORY }
    }
}

impl RecoveryCodeSettings {
    /// Cheap hashing (256 KiB, t=1) so test suites run fast. Never use it in production.
    pub fn fast_insecure_for_tests() -> Self {
        let cheap = HashParams::new(256, 1, 1);
        Self { hash_params: cheap, hash_floor: cheap, ..Self::default() }
    }
}

/// A freshly generated set of codes, to show the user once. Zeroized on drop; `Debug`
/// prints only the count.
#[derive(Clone)]
pub struct RecoveryCodeSet {
    codes: Vec<SecretString>,
}

impl RecoveryCodeSet {
    pub(crate) fn from_codes(codes: Vec<SecretString>) -> Self {
        Self { codes }
    }

    /// The codes, formatted for display (`XXXX-XXXX-XXXX-XXXX-XXXX`).
    pub fn codes(&self) -> &[SecretString] {
        &self.codes
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True if the set is empty.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The codes as a plain-text document for download (one per line, with a heading).
    pub fn to_text(&self, service_name: &str) -> SecretString {
        let mut text = format!("{service_name} recovery codes\n\nEach code works once. Keep them somewhere safe.\n\n");
        for code in &self.codes {
            text.push_str(code.expose());
            text.push('\n');
        }
        SecretString::new(text)
    }
}

impl fmt::Debug for RecoveryCodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodeSet({} codes, [redacted])", self.codes.len())
    }
}

/// A code split into its lookup part and secret part.
pub(crate) struct ParsedCode {
    pub(crate) lookup: String,
    pub(crate) secret: SecretString,
}

/// Normalises user input into a code: drops white space and hyphens, upper-cases, reads
/// `0/1/8` as `O/I/B`, and requires exactly 20 base32 characters.
pub(crate) fn parse_code(input: &str) -> Result<ParsedCode> {
    if input.len() > 256 {
        return Err(invalid("recovery code", "too long"));
    }
    let mut buf = zeroize::Zeroizing::new(String::with_capacity(CODE_CHARS));
    // Pasted codes often bring a line break or spaces around them.
    for c in input.trim().chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' => continue,
            '0' => 'O',
            '1' => 'I',
            '8' => 'B',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return Err(invalid("recovery code", "unexpected character")),
        };
        buf.push(c);
    }
    if buf.len() != CODE_CHARS {
        return Err(invalid("recovery code", "must be 20 characters"));
    }
    let (lookup, secret) = buf.split_at(LOOKUP_CHARS);
    Ok(ParsedCode { lookup: lookup.to_owned(), secret: SecretString::from(secret) })
}

/// Random codes with distinct lookup parts.
pub(crate) fn generate_codes(count: usize) -> Result<Vec<(String, SecretString)>> {
    let mut out: Vec<(String, SecretString)> = Vec::with_capacity(count);
    while out.len() < count {
        let mut raw = [0u8; CODE_CHARS];
        fill_random(&mut raw)?;
        // 256 is a multiple of 32: masking keeps every character uniform.
        let chars: Vec<u8> = raw.iter().map(|b| ALPHABET[usize::from(b & 31)]).collect();
        zeroize::Zeroize::zeroize(&mut raw);
        let text = SecretString::new(String::from_utf8_lossy(&chars).into_owned());
        let lookup = text.expose()[..LOOKUP_CHARS].to_owned();
        if out.iter().any(|(l, _)| *l == lookup) {
            continue;
        }
        out.push((lookup, text));
    }
    Ok(out)
}

/// `XXXXXXXXXXXXXXXXXXXX` → `XXXX-XXXX-XXXX-XXXX-XXXX`.
pub(crate) fn format_code(code: &SecretString) -> SecretString {
    let mut s = String::with_capacity(CODE_CHARS + 4);
    for (i, c) in code.expose().chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(c);
    }
    SecretString::new(s)
}

/// Hashes a secret part with a fresh 16-byte salt; returns the PHC string.
pub(crate) fn hash_secret(params: &HashParams, secret: &SecretString) -> Result<String> {
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    let hash =
        params.argon2()?.hash_password_with_salt(secret.expose().as_bytes(), &salt).map_err(|_| CryptoError::Hash)?;
    Ok(hash.to_string())
}

/// Verifies a secret part against a PHC string, refusing hashes cheaper than `floor`.
pub(crate) fn verify_secret(floor: &HashParams, phc: &str, secret: &SecretString) -> Result<bool> {
    let hash = PasswordHash::new(phc).map_err(|_| CryptoError::Hash)?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(CryptoError::Hash.into());
    }
    let params = Params::try_from(&hash).map_err(|_| CryptoError::Hash)?;
    let stored = HashParams::new(params.m_cost(), params.t_cost(), params.p_cost());
    if !stored.at_least(floor) {
        return Err(CryptoError::Hash.into());
    }
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    Ok(argon2.verify_password(secret.expose().as_bytes(), &hash).is_ok())
}

/// Runs blocking work (argon2) off the async executor when a Tokio runtime is present.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => {
            handle.spawn_blocking(f).await.map_err(|e| Error::Backend(Box::new(e)))
        }
        _ => Ok(f()),
    }
}

/// A lazily made hash of a random secret, verified against when the lookup part is unknown
/// so that a miss costs the same as a hit.
#[derive(Debug, Default)]
pub(crate) struct DummyHash(std::sync::OnceLock<Arc<String>>);

impl DummyHash {
    pub(crate) fn get(&self, params: &HashParams) -> Result<Arc<String>> {
        if let Some(h) = self.0.get() {
            return Ok(h.clone());
        }
        let mut raw = [0u8; 16];
        fill_random(&mut raw)?;
        let secret = SecretString::new(data_encoding::BASE32_NOPAD.encode(&raw));
        let hash = Arc::new(hash_secret(params, &secret)?);
        Ok(self.0.get_or_init(|| hash).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_100_bits_in_five_groups() {
        let codes = generate_codes(10).unwrap();
        assert_eq!(codes.len(), 10);
        for (lookup, code) in &codes {
            let shown = format_code(code);
            assert_eq!(shown.expose().len(), 24);
            assert_eq!(shown.expose().matches('-').count(), 4);
            let parsed = parse_code(shown.expose()).unwrap();
            assert_eq!(&parsed.lookup, lookup);
            assert_eq!(parsed.secret.expose().len(), 16);
        }
        let lookups: std::collections::HashSet<_> = codes.iter().map(|(l, _)| l.clone()).collect();
        assert_eq!(lookups.len(), 10, "every lookup part is distinct");
    }

    #[test]
    fn input_is_normalised() {
        let a = parse_code("abcd efgh-ijkl mnop qrst").unwrap();
        assert_eq!(a.lookup, "ABCD");
        assert_eq!(a.secret.expose(), "EFGHIJKLMNOPQRST");
        let b = parse_code("0018-AAAA-AAAA-AAAA-AAAA").unwrap();
        assert_eq!(b.lookup, "OOIB");
        assert!(parse_code("ABCD").is_err());
        assert!(parse_code("ABCD-EFGH-IJKL-MNOP-QRS9").is_err());
        assert!(parse_code("ÄBCD-EFGH-IJKL-MNOP-QRST").is_err());
        assert!(parse_code(&"A".repeat(10_000)).is_err());
        let pasted = parse_code("\n  ABCD-EFGH-IJKL-MNOP-QRST\r\n").unwrap();
        assert_eq!(
            (pasted.lookup.as_str(), pasted.secret.expose()),
            ("ABCD", "EFGHIJKLMNOPQRST"),
            "line breaks around"
        );
        assert!(parse_code("ABCD-EFGH\nIJKL-MNOP-QRST").is_err(), "a line break inside is not a separator");
    }

    #[test]
    fn hashes_are_salted_and_verify() {
        let p = HashParams::new(256, 1, 1);
        let secret = SecretString::from("EFGHIJKLMNOPQRST");
        let h1 = hash_secret(&p, &secret).unwrap();
        let h2 = hash_secret(&p, &secret).unwrap();
        assert_ne!(h1, h2, "the same code hashes differently each time");
        assert!(verify_secret(&p, &h1, &secret).unwrap());
        assert!(!verify_secret(&p, &h1, &SecretString::from("EFGHIJKLMNOPQRSA")).unwrap());
    }

    #[test]
    fn hashes_cheaper_than_the_floor_are_refused() {
        let cheap = HashParams::new(64, 1, 1);
        let secret = SecretString::from("EFGHIJKLMNOPQRST");
        let h = hash_secret(&cheap, &secret).unwrap();
        assert!(verify_secret(&HashParams::new(256, 1, 1), &h, &secret).is_err());
        assert!(verify_secret(&cheap, "not a hash", &secret).is_err());
    }
}
