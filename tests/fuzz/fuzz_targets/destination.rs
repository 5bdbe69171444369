//! Destinations typed at enrolment: SMS phone numbers (with and without a default region)
//! and email addresses, through `OobFactor::normalise` and through `Mfa::start_enrolment`.
//!
//! Checks: no panic; a refused destination is `InvalidInput { field: "destination" }` and
//! leaves no factor behind; an accepted one is normalised idempotently
//! (`normalise(normalise(x)) == normalise(x)`), phone numbers come out as E.164, and the
//! enrolled factor shows a masked destination.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::{EnrolmentRequest, FactorKind, FreshAuth, Mfa, UserId, store::Store};
use mfa_fuzz::{NullSender, T0, block_on, expect_error, expect_invalid_input, text};
use mfa_otp::{EmailFactor, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;

struct World {
    sms: SmsFactor,
    sms_us: SmsFactor,
    email: EmailFactor,
    mfa: Mfa,
    store: Arc<dyn Store>,
    user: UserId,
}

fn key() -> OobKey {
    OobKey::new(&[9; 32]).unwrap()
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let sms = SmsFactor::builder(NullSender, key()).build().unwrap();
        let sms_us = SmsFactor::builder(NullSender, key()).default_region("US").unwrap().build().unwrap();
        let email = EmailFactor::builder(NullSender, key()).build().unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mfa = mfa_fuzz::builder(store.clone()).factor(sms_us.clone()).factor(email.clone()).build().unwrap();
        World { sms, sms_us, email, mfa, store, user: UserId::new("alice").unwrap() }
    })
}

/// Normalises, and checks idempotence and the error type.
fn check(what: &str, normalise: impl Fn(&str) -> mfa_core::Result<String>, input: &str) -> Option<String> {
    match normalise(input) {
        Ok(n) => {
            match normalise(&n) {
                Ok(again) => assert_eq!(again, n, "{what}: normalise is not idempotent for {input:?}"),
                Err(e) => panic!("{what}: the normalised form {n:?} of {input:?} is refused: {e:?}"),
            }
            Some(n)
        }
        Err(e) => {
            expect_invalid_input(what, &e, "destination");
            None
        }
    }
}

/// `+` and digits. Not the 15-digit limit of E.164 itself: the phone-number metadata
/// accepts some longer national numbers (a German `+49` number of 14 national digits).
fn is_e164(n: &str) -> bool {
    n.len() > 1 && n.len() <= 20 && n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let w = world();
    let phone = check("sms", |s| w.sms.normalise(s), input);
    let phone_us = check("sms(US)", |s| w.sms_us.normalise(s), input);
    let email = check("email", |s| w.email.normalise(s), input);
    for n in [&phone, &phone_us].into_iter().flatten() {
        assert!(is_e164(n), "not E.164: {n:?} from {input:?}");
    }
    if let Some(e) = &email {
        assert!(e.len() <= 254 && e.contains('@'), "odd address {e:?} from {input:?}");
    }

    // Through the service: the same rules at enrolment, nothing stored when refused.
    block_on(async {
        let fresh = FreshAuth::primary(T0);
        for (kind, accepted) in [(FactorKind::SMS, &phone_us), (FactorKind::EMAIL, &email)] {
            let request = EnrolmentRequest::new(kind.clone()).destination(input);
            match w.mfa.start_enrolment(&w.user, &fresh, request).await {
                Ok(start) => {
                    assert!(accepted.is_some(), "{kind}: enrolment accepted {input:?}, normalise refused it");
                    let masked = start.factor.masked_destination.clone().expect("a masked destination");
                    assert!(!masked.is_empty());
                    let record = w.store.delete_factor(&w.user, &start.factor.id).await.unwrap();
                    if let Some(cid) = record.enrolment {
                        w.store.take_ceremony(Some(&w.user), &cid, T0).await.unwrap();
                    }
                }
                Err(e) => {
                    expect_error("start_enrolment", &e, &["InvalidInput"]);
                    assert!(accepted.is_none(), "{kind}: normalise accepted {input:?}, enrolment refused it: {e:?}");
                }
            }
        }
        assert!(w.store.list_factors(&w.user).await.unwrap().is_empty(), "a factor was left behind");
    });
});
