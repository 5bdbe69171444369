//! Secret material: zeroized on drop, redacted in `Debug`, never in `Display`.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CryptoError;

/// Secret bytes (a TOTP seed, a key). Zeroized on drop; `Debug` prints `[redacted]`;
/// `==` compares in constant time (the length is not secret).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes that are already secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// `len` bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if the operating system cannot supply randomness.
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut bytes = vec![0u8; len];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

/// A secret string (a code, a recovery code, a provisioning URI). Zeroized on drop;
/// `Debug` prints `[redacted]`; `==` compares in constant time (the length is not secret).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a string that is already secret.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The secret text. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
///
/// [`CryptoError::Random`] if the operating system cannot supply randomness.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let bytes = SecretBytes::new(b"hunter2".to_vec());
        let text = SecretString::from("hunter2");
        assert!(!format!("{bytes:?}").contains("hunter2"));
        assert!(!format!("{text:?}").contains("hunter2"));
        assert!(format!("{text:?}").contains("redacted"));
    }

    #[test]
    fn random_bytes_differ() {
        let a = SecretBytes::random(32).unwrap();
        let b = SecretBytes::random(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert_eq!(SecretBytes::new(b"seed".to_vec()), SecretBytes::new(b"seed".to_vec()));
        assert_ne!(SecretBytes::new(b"seed".to_vec()), SecretBytes::new(b"seee".to_vec()));
        assert_ne!(SecretBytes::new(b"seed".to_vec()), SecretBytes::new(b"seeds".to_vec()));
        assert_eq!(SecretString::from("123456"), SecretString::from("123456"));
        assert_ne!(SecretString::from("123456"), SecretString::from("123457"));
    }

    #[test]
    fn constant_time_eq_compares_content() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"123456", b"1234567"));
    }
}
