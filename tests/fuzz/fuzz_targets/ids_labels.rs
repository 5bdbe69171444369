//! Identifiers and labels from requests: `UserId::new`, `FactorId` / `CeremonyId` /
//! `DeviceId::parse`, `FactorKind::new`, `Assurance::parse`, `validate_label`, their serde
//! forms, and through the service `Mfa::rename_factor` (a label), `Mfa::check_device` (a
//! remembered-device token) and `Mfa::list_factors` (a user id).
//!
//! Checks: no panic; refusals are `InvalidInput`; what is accepted round-trips
//! (`parse(to_string(x)) == x`), labels are trimmed, bounded and idempotent; a refused
//! rename keeps the old label; a wrong device token is `InvalidCode` and changes nothing.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::{
    Assurance, CeremonyId, DeviceId, FactorId, FactorKind, Mfa, UserId, Verified, store::Store, types::validate_label,
};
use mfa_fuzz::{T0, block_on, expect_error, expect_invalid_input, text};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

struct World {
    mfa: Mfa,
    store: Arc<dyn Store>,
    user: UserId,
    factor: FactorId,
    token: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mfa = mfa_fuzz::builder(store.clone()).factor(TotpFactor::new("Fuzz").unwrap()).build().unwrap();
        let user = UserId::new("alice").unwrap();
        let factor = FactorId::random().unwrap();
        let record = mfa_fuzz::active_totp(factor, &user, "Phone");
        let token = block_on(async {
            store.insert_factor(&record).await.unwrap();
            let verified =
                Verified::new(user.clone(), Some(factor), Some(FactorKind::TOTP), Assurance::ReplayResistantOtp, T0);
            mfa.remember_device(&verified, "Laptop").await.unwrap().token.expose().to_owned()
        });
        World { mfa, store, user, factor, token }
    })
}

macro_rules! check_random_id {
    ($ty:ty, $input:expr, $field:literal) => {{
        let input: &str = $input;
        match <$ty>::parse(input) {
            Ok(id) => {
                let shown = id.to_string();
                assert!(shown.eq_ignore_ascii_case(input), "{} {input:?} shows as {shown:?}", $field);
                assert_eq!(<$ty>::parse(&shown).unwrap(), id);
                assert_eq!(<$ty>::from_bytes(*id.as_bytes()), id);
                assert_eq!(serde_json::from_str::<$ty>(&serde_json::to_string(&id).unwrap()).unwrap(), id);
            }
            Err(e) => expect_invalid_input("parse", &e, $field),
        }
        // The serde form goes through the same validation.
        if let Ok(id) = serde_json::from_str::<$ty>(input) {
            assert_eq!(<$ty>::parse(&serde_json::from_str::<String>(input).unwrap()).unwrap(), id);
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let w = world();

    // ----- ids -----
    let user = match UserId::new(input) {
        Ok(u) => {
            assert_eq!(u.as_str(), input);
            assert!(!input.is_empty() && input.len() <= UserId::MAX_LEN && !input.chars().any(char::is_control));
            Some(u)
        }
        Err(e) => {
            expect_invalid_input("UserId::new", &e, "user id");
            None
        }
    };
    if let Ok(u) = serde_json::from_str::<UserId>(input) {
        assert_eq!(UserId::new(u.as_str()).unwrap(), u);
    }
    check_random_id!(FactorId, input, "factor id");
    check_random_id!(CeremonyId, input, "challenge id");
    check_random_id!(DeviceId, input, "device id");
    match FactorKind::new(input) {
        Ok(k) => {
            assert_eq!(k.as_str(), input);
            assert_eq!(serde_json::from_str::<FactorKind>(&serde_json::to_string(&k).unwrap()).unwrap(), k);
        }
        Err(e) => expect_invalid_input("FactorKind::new", &e, "factor kind"),
    }
    if let Ok(a) = Assurance::parse(input) {
        assert_eq!(a.as_str(), input);
    }

    // ----- labels -----
    let label = match validate_label(input) {
        Ok(l) => {
            assert_eq!(l, input.trim());
            assert!(!l.is_empty() && l.chars().count() <= mfa_core::types::MAX_LABEL_CHARS);
            assert!(!l.chars().any(char::is_control));
            assert_eq!(validate_label(&l).unwrap(), l, "validate_label is not idempotent");
            Some(l)
        }
        Err(e) => {
            expect_invalid_input("validate_label", &e, "label");
            None
        }
    };

    block_on(async {
        // Rename: the stored label becomes the validated one, or stays.
        let before = w.store.get_factor(&w.user, &w.factor).await.unwrap().unwrap().label;
        match w.mfa.rename_factor(&w.user, &w.factor, input).await {
            Ok(summary) => {
                assert_eq!(Some(&summary.label), label.as_ref());
                let stored = w.store.get_factor(&w.user, &w.factor).await.unwrap().unwrap().label;
                assert_eq!(stored, summary.label);
            }
            Err(e) => {
                expect_invalid_input("rename_factor", &e, "label");
                assert!(label.is_none());
                assert_eq!(w.store.get_factor(&w.user, &w.factor).await.unwrap().unwrap().label, before);
            }
        }

        // A remembered-device token from a cookie.
        match w.mfa.check_device(&w.user, input).await {
            Ok(device) => {
                assert_eq!(input.trim(), w.token, "accepted a device token that is not the one issued: {device:?}")
            }
            Err(e) => expect_error("check_device", &e, &["InvalidInput", "InvalidCode"]),
        }
        assert_eq!(w.mfa.list_devices(&w.user).await.unwrap().len(), 1, "a token check changed the devices");

        // A user id from a session: only alice has anything.
        if let Some(u) = &user {
            let factors = w.mfa.list_factors(u).await.unwrap();
            assert_eq!(factors.is_empty(), *u != w.user);
            let e = w.mfa.get_factor(u, &w.factor).await;
            if *u != w.user {
                assert!(matches!(e, Err(mfa_core::Error::NotFound)), "another user's factor is visible: {e:?}");
            }
        }
    });
});
