//! Identifiers, factor kinds, assurance levels, timestamps and labels.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::fill_random;

/// The host's identifier for a user: 1–256 bytes of UTF-8 without control characters.
///
/// The toolkit never interprets it; use whatever stable key your user table has.
///
/// ```
/// use mfa_core::UserId;
/// let user = UserId::new("user-42")?;
/// assert_eq!(user.as_str(), "user-42");
/// assert!(UserId::new("").is_err());
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Longest accepted user id, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Validates and wraps a user id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when empty, longer than [`UserId::MAX_LEN`] bytes, or
    /// containing control characters.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        if id.is_empty() {
            return Err(invalid("user id", "must not be empty"));
        }
        if id.len() > Self::MAX_LEN {
            return Err(invalid("user id", "longer than 256 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(invalid("user id", "contains control characters"));
        }
        Ok(Self(id))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(s)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

impl FromStr for UserId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            /// A new identifier: 128 bits from the operating system's CSPRNG.
            ///
            /// # Errors
            ///
            /// [`Error::Crypto`] if the operating system cannot supply randomness.
            pub fn random() -> Result<Self> {
                let mut bytes = [0u8; 16];
                fill_random(&mut bytes)?;
                Ok(Self(bytes))
            }

            /// Parses the 32-character lowercase hexadecimal form.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidInput`] for anything but 32 hexadecimal characters.
            pub fn parse(s: &str) -> Result<Self> {
                if s.len() != 32 {
                    return Err(invalid($what, "must be 32 hexadecimal characters"));
                }
                let mut bytes = [0u8; 16];
                data_encoding::HEXLOWER_PERMISSIVE
                    .decode_mut(s.as_bytes(), &mut bytes)
                    .map_err(|_| invalid($what, "must be 32 hexadecimal characters"))?;
                Ok(Self(bytes))
            }

            /// The raw 16 bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// Builds an id from raw bytes (for stores that keep them as bytes).
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

random_id!(
    /// Identifies one factor of one user: 128 random bits, unguessable, shown as 32 hex
    /// characters. Every lookup is also scoped by [`UserId`].
    FactorId,
    "factor id"
);

random_id!(
    /// Identifies one challenge or ceremony (server-side state awaiting a proof): 128 random
    /// bits, shown as 32 hex characters.
    CeremonyId,
    "challenge id"
);

random_id!(
    /// Identifies one remembered device (a "remember this device" token): 128 random bits,
    /// shown as 32 hex characters. It is not the token: the token also carries a secret.
    DeviceId,
    "device id"
);

/// A kind of factor: a short lowercase identifier such as `totp` or `passkey`.
///
/// The core knows no factor specifics; kinds only route requests to the adapter that
/// registered them. The constants name the kinds this project's adapters provide.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FactorKind(Cow<'static, str>);

impl FactorKind {
    /// An authenticator app (RFC 6238 time-based one-time passwords).
    pub const TOTP: Self = Self(Cow::Borrowed("totp"));
    /// One-time codes sent by SMS.
    pub const SMS: Self = Self(Cow::Borrowed("sms"));
    /// One-time codes sent by email.
    pub const EMAIL: Self = Self(Cow::Borrowed("email"));
    /// A WebAuthn security key used as a second factor.
    pub const SECURITY_KEY: Self = Self(Cow::Borrowed("security-key"));
    /// A WebAuthn passkey (discoverable, user-verifying): usable without a password.
    pub const PASSKEY: Self = Self(Cow::Borrowed("passkey"));
    /// An older (U2F-era) security key that cannot verify the user: second factor only.
    pub const OLDER_DEVICE: Self = Self(Cow::Borrowed("older-device"));

    /// A kind from a static name. The name must be 1–32 characters of `a-z`, `0-9` and `-`;
    /// [`FactorKind::new`] checks that at run time.
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A kind from a name of 1–32 characters of `a-z`, `0-9` and `-`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(invalid("factor kind", "must be 1-32 characters of a-z, 0-9 and -"));
        }
        Ok(Self(Cow::Owned(name)))
    }

    /// The kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FactorKind {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(s)
    }
}

impl From<FactorKind> for String {
    fn from(k: FactorKind) -> String {
        k.0.into_owned()
    }
}

impl fmt::Display for FactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FactorKind({})", self.0)
    }
}

/// Whether a factor can be used to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FactorStatus {
    /// Enrolment started but not proven: never usable to sign in, and it expires.
    Pending,
    /// Proven and usable.
    Active,
}

impl FactorStatus {
    /// The lowercase name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorStatus::Pending => "pending",
            FactorStatus::Active => "active",
        }
    }
}

/// What a successful verification proves, weakest first (the order is meaningful:
/// `a > b` means `a` is the stronger assurance).
///
/// Names follow NIST SP 800-63B: email is not an acceptable out-of-band channel for AAL2,
/// SMS/PSTN is "restricted", TOTP is a replay-resistant OTP, WebAuthn is phishing-resistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Assurance {
    /// A code sent by email. Never counts as an AAL2 second factor.
    EmailOutOfBand,
    /// A code sent by SMS or voice: a restricted authenticator.
    RestrictedOutOfBand,
    /// A single-use recovery code (a look-up secret).
    RecoveryCode,
    /// A time-based one-time password from an authenticator app, replay-protected.
    ReplayResistantOtp,
    /// A WebAuthn credential used as a second factor (no user verification).
    PhishingResistant,
    /// A WebAuthn credential with user verification: phishing-resistant and multi-factor
    /// on its own (a passkey).
    PhishingResistantMultiFactor,
    /// A WebAuthn credential with user verification whose key is bound to one device: its
    /// attestation chains to a CA the deployment trusts and it is not backup-eligible (not
    /// a synced passkey). The strongest level; access policies can require it (NIST
    /// SP 800-63B's hardware-bound, non-exportable key).
    HardwareBound,
}

impl Assurance {
    /// True if this counts as the second factor of an AAL2 authentication (everything but
    /// email).
    pub fn is_aal2_second_factor(self) -> bool {
        self != Assurance::EmailOutOfBand
    }

    /// True for WebAuthn-based assurance.
    pub fn is_phishing_resistant(self) -> bool {
        matches!(
            self,
            Assurance::PhishingResistant | Assurance::PhishingResistantMultiFactor | Assurance::HardwareBound
        )
    }

    /// The snake_case name used in storage and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::EmailOutOfBand => "email_out_of_band",
            Assurance::RestrictedOutOfBand => "restricted_out_of_band",
            Assurance::RecoveryCode => "recovery_code",
            Assurance::ReplayResistantOtp => "replay_resistant_otp",
            Assurance::PhishingResistant => "phishing_resistant",
            Assurance::PhishingResistantMultiFactor => "phishing_resistant_multi_factor",
            Assurance::HardwareBound => "hardware_bound",
        }
    }

    /// Parses [`Assurance::as_str`]'s output.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unknown name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "email_out_of_band" => Assurance::EmailOutOfBand,
            "restricted_out_of_band" => Assurance::RestrictedOutOfBand,
            "recovery_code" => Assurance::RecoveryCode,
            "replay_resistant_otp" => Assurance::ReplayResistantOtp,
            "phishing_resistant" => Assurance::PhishingResistant,
            "phishing_resistant_multi_factor" => Assurance::PhishingResistantMultiFactor,
            "hardware_bound" => Assurance::HardwareBound,
            _ => return Err(invalid("assurance", "unknown name")),
        })
    }
}

/// A point in time: milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the Unix epoch.
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// From whole seconds since the Unix epoch (saturating).
    pub const fn from_unix_secs(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// `self - d`, saturating at the beginning of time.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

/// A factor as a user sees it in a list: no secret, no adapter data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FactorSummary {
    /// The factor's id.
    pub id: FactorId,
    /// What kind of factor it is.
    pub kind: FactorKind,
    /// The user-given name ("Work phone", "Security key 2").
    pub label: String,
    /// Pending (not yet proven) or active.
    pub status: FactorStatus,
    /// What a verification with it proves.
    pub assurance: Assurance,
    /// When enrolment started.
    pub created_at: Timestamp,
    /// When it was last used successfully, if ever.
    pub last_used_at: Option<Timestamp>,
    /// When a pending enrolment expires.
    pub expires_at: Option<Timestamp>,
    /// Whether this is the user's preferred factor (exactly one active factor is).
    pub preferred: bool,
    /// Where codes go, masked (`+1 ••• ••• 1234`, `j•••@example.com`), for SMS and email.
    pub masked_destination: Option<String>,
    /// Non-secret details the adapter shows (AAGUID, transports, backup state, ...).
    pub details: Vec<(String, String)>,
}

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Checks a user-given label: trimmed, 1–64 characters, no control characters.
/// Returns the trimmed label.
///
/// ```
/// assert_eq!(mfa_core::types::validate_label("  Work phone ").unwrap(), "Work phone");
/// assert!(mfa_core::types::validate_label("   ").is_err());
/// assert!(mfa_core::types::validate_label("bell\u{7}").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] with field `"label"` otherwise.
pub fn validate_label(label: &str) -> Result<String> {
    let trimmed = label.trim();
    if trimmed.is_empty() {
        return Err(invalid("label", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_LABEL_CHARS {
        return Err(invalid("label", "longer than 64 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("label", "contains control characters"));
    }
    if trimmed.chars().any(is_disguising) || misplaced_joiner(trimmed) {
        return Err(invalid("label", "contains invisible or direction-changing characters"));
    }
    Ok(trimmed.to_owned())
}

/// True for a character no label may hold because it can make one label look like another
/// ([`validate_label`] refuses it): bidirectional marks, embeddings, overrides and isolates
/// (a device named to read backwards), the zero-width space, the word joiner and invisible
/// operators, the byte-order mark, the soft hyphen, invisible fillers and separators,
/// interlinear annotation marks and tag characters.
///
/// The zero-width joiner and non-joiner are not among them: emoji sequences and some
/// scripts (Persian, Indic) need them. [`validate_label`] allows them only between two
/// characters outside ASCII.
///
/// ```
/// use mfa_core::types::is_disguising;
/// assert!(is_disguising('\u{202E}')); // right-to-left override
/// assert!(is_disguising('\u{200B}')); // zero-width space
/// assert!(!is_disguising('é'));
/// ```
pub fn is_disguising(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}')
}

/// A zero-width joiner or non-joiner at either end or next to an ASCII character, where no
/// script or emoji sequence needs one (`Yubi\u{200D}Key`).
fn misplaced_joiner(label: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    chars.iter().enumerate().any(|(i, c)| {
        matches!(c, '\u{200C}' | '\u{200D}') && {
            let before = i.checked_sub(1).and_then(|j| chars.get(j));
            let after = chars.get(i + 1);
            !matches!((before, after), (Some(b), Some(a)) if !b.is_ascii() && !a.is_ascii())
        }
    })
}

pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Error {
    Error::InvalidInput { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_refuse_characters_that_disguise_them() {
        for label in [
            "Phone\u{202E}yek",
            "\u{200B}YubiKey",
            "Yubi\u{200D}Key",
            "Key\u{2066}x\u{2069}",
            "\u{FEFF}Phone",
            "Phone\u{00AD}",
            "Key\u{E0041}",
        ] {
            assert!(
                matches!(validate_label(label), Err(Error::InvalidInput { field: "label", .. })),
                "{label:?} refused"
            );
        }
        for label in [
            "Téléphone",
            "手机",
            "Ключ",
            "Phone 👍",
            "Work phone (old)",
            "عمل",
            "❤\u{FE0F} key",
            "👨\u{200D}👩\u{200D}👧 tablet",
            "می\u{200C}خواهم",
        ] {
            assert_eq!(validate_label(label).unwrap(), label, "{label:?} kept");
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = FactorId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(FactorId::parse(&text).unwrap(), id);
        assert!(FactorId::parse("zz").is_err());
        assert!(FactorId::parse(&"g".repeat(32)).is_err());
    }

    #[test]
    fn assurance_orders_weakest_first() {
        assert!(Assurance::EmailOutOfBand < Assurance::RestrictedOutOfBand);
        assert!(Assurance::ReplayResistantOtp < Assurance::PhishingResistant);
        assert!(!Assurance::EmailOutOfBand.is_aal2_second_factor());
        assert!(Assurance::RestrictedOutOfBand.is_aal2_second_factor());
        for a in [
            Assurance::EmailOutOfBand,
            Assurance::RestrictedOutOfBand,
            Assurance::RecoveryCode,
            Assurance::ReplayResistantOtp,
            Assurance::PhishingResistant,
            Assurance::PhishingResistantMultiFactor,
        ] {
            assert_eq!(Assurance::parse(a.as_str()).unwrap(), a);
        }
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(validate_label(" Key ").unwrap(), "Key");
        assert!(validate_label(&"x".repeat(64)).is_ok());
        assert!(validate_label(&"x".repeat(65)).is_err());
        assert!(validate_label(&"é".repeat(64)).is_ok());
        assert!(validate_label("a\nb").is_err());
        assert!(validate_label("").is_err());
    }

    #[test]
    fn factor_kinds_are_validated() {
        assert!(FactorKind::new("totp").is_ok());
        assert!(FactorKind::new("Totp").is_err());
        assert!(FactorKind::new("").is_err());
        assert_eq!(FactorKind::new("passkey").unwrap(), FactorKind::PASSKEY);
    }

    #[test]
    fn user_ids_are_validated() {
        assert!(UserId::new("a").is_ok());
        assert!(UserId::new("x".repeat(257)).is_err());
        assert!(UserId::new("a\0b").is_err());
    }

    #[test]
    fn timestamps_do_saturating_arithmetic() {
        let t = Timestamp::from_unix_secs(10);
        assert_eq!(t.saturating_add(Duration::from_secs(5)).unix_secs(), 15);
        assert_eq!(t.duration_since(Timestamp::from_unix_secs(4)), Duration::from_secs(6));
        assert_eq!(Timestamp::from_unix_secs(4).duration_since(t), Duration::ZERO);
    }
}
