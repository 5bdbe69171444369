use mfa_core::store::FactorRecord;
use mfa_core::{Assurance, FactorId, FactorKind, FactorStatus, UserId};

/// The user the fixtures were registered for (the WebAuthn user handle derives from it).
pub const USER: &str = "alice";
/// An active passkey record (SoftPasskey, user verified).
pub const PASSKEY: &str = include_str!("fixtures/passkey.json");
/// An active security-key record (SoftToken, packed attestation).
pub const SECURITY_KEY: &str = include_str!("fixtures/security-key.json");

/// The active factor record a fixture describes, under a new id.
pub fn record(fixture: &str, id: FactorId) -> FactorRecord {
    let v: serde_json::Value = serde_json::from_str(fixture).expect("fixture JSON");
    let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("fixture field {k}")).to_owned();
    let mut r = FactorRecord::pending(
        id,
        UserId::new(USER).expect("user"),
        FactorKind::new(s("kind")).expect("kind"),
        "Key".into(),
        Assurance::parse(&s("assurance")).expect("assurance"),
        crate::T0,
        crate::T0,
    );
    r.status = FactorStatus::Active;
    r.expires_at = None;
    r.data = s("data").into_bytes();
    r.lookup_key = Some(s("lookup_key"));
    r.details = serde_json::from_value(v["details"].clone()).expect("details");
    r
}
