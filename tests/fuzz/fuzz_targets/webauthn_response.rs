//! WebAuthn responses as the browser posts them (JSON), fed as the proof of every ceremony
//! of the `mfa-webauthn` factor: passkey and security-key registration
//! (`finish_enrolment`), authentication against an active passkey and an active security
//! key (`finish_challenge`), and passwordless sign-in (`finish_passwordless`); plus the
//! adapter's own `check_proof` / `identify`.
//!
//! Checks: no panic; never accepted (every ceremony has a fresh random challenge, so
//! success would be a forgery); a malformed response is `InvalidInput` and counts nothing
//! (the ceremony is still there, unchanged); a wrong one is `InvalidCode` or `Expired`;
//! the pending enrolment stays pending with no credential, and the active factors' records
//! (credential, counter, lookup key) are exactly as before.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::adapter::{FactorAdapter, ProofStep};
use mfa_core::store::FactorRecord;
use mfa_core::{
    CeremonyId, EnrolmentRequest, Error, FactorId, FactorKind, FactorStatus, FreshAuth, Mfa, Proof, UserId,
    store::Store,
};
use mfa_fuzz::{T0, block_on, expect_error, expect_invalid_input, fixtures, text};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;

const ORIGIN: &str = "http://localhost:8080";

struct World {
    factor: WebauthnFactor,
    mfa: Mfa,
    store: Arc<dyn Store>,
    user: UserId,
    passkey: FactorRecord,
    security_key: FactorRecord,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let factor = WebauthnFactor::builder("localhost", "Example", ORIGIN).build().unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mfa = mfa_fuzz::builder(store.clone()).factor(factor.clone()).build().unwrap();
        let passkey = fixtures::record(fixtures::PASSKEY, FactorId::random().unwrap());
        let security_key = fixtures::record(fixtures::SECURITY_KEY, FactorId::random().unwrap());
        block_on(async {
            store.insert_factor(&passkey).await.unwrap();
            store.insert_factor(&security_key).await.unwrap();
        });
        World { factor, mfa, store, user: passkey.user.clone(), passkey, security_key }
    })
}

/// The active records must be exactly as stored.
async fn assert_active_unchanged(w: &World) {
    for expected in [&w.passkey, &w.security_key] {
        let now = w.store.get_factor(&w.user, &expected.id).await.unwrap().expect("active factor still there");
        assert_eq!(now.status, FactorStatus::Active);
        assert_eq!(now.data, expected.data, "a refused response changed the stored credential");
        assert_eq!(now.lookup_key, expected.lookup_key);
        assert_eq!(now.details, expected.details);
        assert_eq!(now.last_used_at, expected.last_used_at);
    }
}

/// Snapshot of a ceremony: (payload, attempts).
async fn ceremony(w: &World, user: Option<&UserId>, id: &CeremonyId) -> Option<(Vec<u8>, u32)> {
    w.store.get_ceremony(user, id, T0).await.unwrap().map(|c| (c.payload, c.attempts))
}

/// A malformed proof is refused before anything is counted: the ceremony is untouched.
fn check_uncounted(what: &str, e: &Error, before: &Option<(Vec<u8>, u32)>, after: &Option<(Vec<u8>, u32)>) {
    if matches!(e, Error::InvalidInput { .. }) {
        assert_eq!(before, after, "{what}: a malformed response changed the ceremony");
    } else if let (Some((p0, _)), Some((p1, _))) = (before, after) {
        assert_eq!(p0, p1, "{what}: a refused response changed the ceremony state");
    }
}

async fn enrol(w: &World, kind: FactorKind, proof: &Proof) {
    let fresh = FreshAuth::primary(T0).with_mfa(T0);
    let start = w.mfa.start_enrolment(&w.user, &fresh, EnrolmentRequest::new(kind.clone())).await.unwrap();
    let id = start.factor.id;
    let cid = w.store.get_factor(&w.user, &id).await.unwrap().unwrap().enrolment.expect("a ceremony");
    let before = ceremony(w, Some(&w.user), &cid).await;
    match w.mfa.finish_enrolment(&w.user, &fresh, &id, proof).await {
        Ok(summary) => panic!("{kind}: a registration for a random challenge was accepted: {summary:?}"),
        Err(e) => expect_error("finish_enrolment", &e, &["InvalidInput", "InvalidCode", "Expired"]),
    }
    let pending = w.store.get_factor(&w.user, &id).await.unwrap().expect("the pending factor is kept");
    assert_eq!(pending.status, FactorStatus::Pending);
    assert_eq!(pending.lookup_key, None, "a refused registration left a credential id");
    assert!(pending.data.is_empty(), "a refused registration left credential data");
    let after = ceremony(w, Some(&w.user), &cid).await;
    if let Err(e) = w.factor.check_proof(&kind, ProofStep::Enrolment, proof) {
        check_uncounted("finish_enrolment", &e, &before, &after);
    }
    w.store.delete_factor(&w.user, &id).await.unwrap();
    w.store.take_ceremony(Some(&w.user), &cid, T0).await.unwrap();
}

async fn challenge(w: &World, factor: &FactorRecord, proof: &Proof) {
    let challenge = w.mfa.start_challenge(&w.user, Some(&factor.id)).await.unwrap();
    let before = ceremony(w, Some(&w.user), &challenge.id).await;
    match w.mfa.finish_challenge(&w.user, &challenge.id, proof).await {
        Ok(v) => panic!("{}: an assertion for a random challenge was accepted: {v:?}", factor.kind),
        Err(e) => {
            expect_error("finish_challenge", &e, &["InvalidInput", "InvalidCode", "Expired"]);
            let after = ceremony(w, Some(&w.user), &challenge.id).await;
            check_uncounted("finish_challenge", &e, &before, &after);
        }
    }
    w.store.take_ceremony(Some(&w.user), &challenge.id, T0).await.unwrap();
}

async fn passwordless(w: &World, proof: &Proof) {
    let challenge = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    let before = ceremony(w, None, &challenge.id).await;
    match w.mfa.finish_passwordless(&challenge.id, proof).await {
        Ok(v) => panic!("a passwordless assertion for a random challenge was accepted: {v:?}"),
        Err(e) => {
            expect_error("finish_passwordless", &e, &["InvalidInput", "InvalidCode", "Expired"]);
            let after = ceremony(w, None, &challenge.id).await;
            check_uncounted("finish_passwordless", &e, &before, &after);
        }
    }
    w.store.take_ceremony(None, &challenge.id, T0).await.unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    let w = world();
    let proof = match Proof::credential(json) {
        Ok(p) => p,
        Err(e) => return expect_invalid_input("Proof::credential", &e, "credential"),
    };
    for kind in [FactorKind::PASSKEY, FactorKind::SECURITY_KEY] {
        for step in [ProofStep::Enrolment, ProofStep::SignIn] {
            if let Err(e) = w.factor.check_proof(&kind, step, &proof) {
                expect_invalid_input("check_proof", &e, "credential");
            }
        }
        match w.factor.identify(&kind, &proof) {
            Ok(key) => assert!(key.is_some(), "identify accepted a response naming no credential"),
            Err(e) => expect_invalid_input("identify", &e, "credential"),
        }
    }
    block_on(async {
        enrol(w, FactorKind::PASSKEY, &proof).await;
        enrol(w, FactorKind::SECURITY_KEY, &proof).await;
        challenge(w, &w.passkey, &proof).await;
        challenge(w, &w.security_key, &proof).await;
        passwordless(w, &proof).await;
        assert_active_unchanged(w).await;
    });
});
