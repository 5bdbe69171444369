//! Stored records read back: whatever bytes a store holds are decoded again by the
//! service and the adapters. Each input is one selector byte and the bytes of one field,
//! written through the public `Store` API into an otherwise valid record, which is then
//! read and verified through `Mfa`:
//!
//! - `0`: a TOTP factor's parameters (`data`, decoded by the TOTP adapter);
//! - `1`: a TOTP factor's secret (sealed properly, so the adapter gets these bytes);
//! - `2`: a TOTP factor's sealed secret ciphertext (`SealedSecret`, opened by the sealer);
//! - `3`: a passkey's stored credential (`data`, webauthn-rs `Passkey` JSON);
//! - `4`: a WebAuthn ceremony's state (`CeremonyRecord::payload`), answered with a real
//!   assertion and a real registration;
//! - `5`: a recovery code's stored hash (a PHC string);
//! - `6`: a remembered device's secret hash.
//!
//! Checks: no panic, a typed error, and a corrupt record is never accepted as proof.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::store::{CeremonyPurpose, CeremonyRecord, DeviceTokenRecord, FactorRecord, RecoveryCodeRecord};
use mfa_core::{
    Assurance, CeremonyId, DeviceId, FactorId, FactorKind, Mfa, Proof, UserId, seal::KeyId, seal::SealContext,
    seal::SealedSecret, seal::SecretSealer, store::Store,
};
use mfa_fuzz::{T0, block_on, clock, expect_error, fixtures, sealer, settings, totp_code};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;

/// The purpose string the service seals factor secrets under.
const FACTOR_SECRET: &str = "factor-secret";
const DEFAULT_PARAMS: [u8; 7] = [1, 1, 6, 0, 0, 0, 30];

struct World {
    mfa: Mfa,
    store: Arc<dyn Store>,
    user: UserId,
    passkey_assertion: Proof,
    passkey_registration: Proof,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut settings = settings();
        settings.secret_cache = 0;
        let mfa = Mfa::builder()
            .shared_store(store.clone())
            .clock(clock())
            .sealer(sealer())
            .settings(settings)
            .factor(TotpFactor::new("Fuzz").unwrap())
            .factor(WebauthnFactor::builder("localhost", "Example", "http://localhost:8080").build().unwrap())
            .build()
            .unwrap();
        let proof = |json: &str| Proof::credential(json).unwrap();
        World {
            mfa,
            store,
            user: UserId::new(fixtures::USER).unwrap(),
            passkey_assertion: proof(include_str!("../corpus/webauthn_response/passkey-authentication.json")),
            passkey_registration: proof(include_str!("../corpus/webauthn_response/passkey-registration.json")),
        }
    })
}

fn seal(user: &UserId, factor: &FactorId, secret: &[u8]) -> SealedSecret {
    sealer().seal(&SealContext { user, factor, purpose: FACTOR_SECRET }, secret).unwrap()
}

fn totp_record(user: &UserId, data: Vec<u8>, secret: SealedSecret, id: FactorId) -> FactorRecord {
    let mut r = mfa_fuzz::active_totp(id, user, "App");
    r.data = data;
    r.secret = Some(secret);
    r
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let w = world();
    let user = &w.user;
    block_on(async {
        match selector % 7 {
            0 | 1 | 2 => {
                let id = FactorId::random().unwrap();
                let default_secret = b"12345678901234567890".to_vec();
                let (params, secret, sealed) = match selector % 7 {
                    0 => (bytes.to_vec(), default_secret.clone(), seal(user, &id, &default_secret)),
                    1 => (DEFAULT_PARAMS.to_vec(), bytes.to_vec(), seal(user, &id, bytes)),
                    _ => (
                        DEFAULT_PARAMS.to_vec(),
                        default_secret,
                        SealedSecret { key_id: KeyId(1), ciphertext: bytes.to_vec() },
                    ),
                };
                w.store.insert_factor(&totp_record(user, params.clone(), sealed, id)).await.unwrap();
                let listed = w.mfa.get_factor(user, &id).await.unwrap();
                assert_eq!(listed.id, id);
                for code in [totp_code(&secret, T0, 6), "12345678".into()] {
                    match w.mfa.verify(user, &id, &Proof::code(&code).unwrap()).await {
                        Ok(_) => {
                            assert!(selector % 7 != 2, "a forged sealed secret was accepted");
                        }
                        Err(e) => {
                            expect_error("verify(totp record)", &e, &["InvalidCode", "Replayed", "Config", "Crypto"])
                        }
                    }
                }
                w.store.delete_factor(user, &id).await.unwrap();
            }
            3 => {
                let mut record = fixtures::record(fixtures::PASSKEY, FactorId::random().unwrap());
                record.data = bytes.to_vec();
                w.store.insert_factor(&record).await.unwrap();
                w.mfa.list_factors(user).await.unwrap();
                match w.mfa.start_challenge(user, Some(&record.id)).await {
                    Ok(challenge) => {
                        match w.mfa.finish_challenge(user, &challenge.id, &w.passkey_assertion).await {
                            Ok(v) => panic!("an assertion for a random challenge was accepted: {v:?}"),
                            Err(e) => expect_error("finish_challenge", &e, &["InvalidCode", "Expired", "Backend"]),
                        }
                        w.store.take_ceremony(Some(user), &challenge.id, T0).await.unwrap();
                    }
                    Err(e) => expect_error("start_challenge", &e, &["Config", "Backend"]),
                }
                w.store.delete_factor(user, &record.id).await.unwrap();
            }
            4 => {
                // A passkey under challenge, and a pending one under enrolment, both with this state.
                let active = fixtures::record(fixtures::PASSKEY, FactorId::random().unwrap());
                w.store.insert_factor(&active).await.unwrap();
                let cid = CeremonyId::random().unwrap();
                let ceremony = |cid, factor, purpose| {
                    let expires = T0.saturating_add(std::time::Duration::from_secs(300));
                    CeremonyRecord::new(
                        cid,
                        Some(user.clone()),
                        Some(factor),
                        FactorKind::PASSKEY,
                        purpose,
                        bytes.to_vec(),
                        1,
                        T0,
                        expires,
                    )
                };
                w.store.put_ceremony(&ceremony(cid, active.id, CeremonyPurpose::Challenge)).await.unwrap();
                match w.mfa.finish_challenge(user, &cid, &w.passkey_assertion).await {
                    Ok(v) => panic!("a stored ceremony state made a replayed assertion pass: {v:?}"),
                    Err(e) => {
                        // The captured state with its own assertion verifies the signature;
                        // the stored counter then flags the replay as a possible clone.
                        expect_error(
                            "finish_challenge(state)",
                            &e,
                            &["InvalidCode", "Expired", "Backend", "PossibleClone"],
                        )
                    }
                }
                w.store.delete_factor(user, &active.id).await.unwrap();
                w.store.take_ceremony(Some(user), &cid, T0).await.unwrap();

                let pid = FactorId::random().unwrap();
                let ecid = CeremonyId::random().unwrap();
                let mut pending = FactorRecord::pending(
                    pid,
                    user.clone(),
                    FactorKind::PASSKEY,
                    "Key".into(),
                    Assurance::PhishingResistantMultiFactor,
                    T0,
                    T0.saturating_add(std::time::Duration::from_secs(600)),
                );
                pending.enrolment = Some(ecid);
                w.store.put_ceremony(&ceremony(ecid, pid, CeremonyPurpose::Enrolment)).await.unwrap();
                w.store.insert_factor(&pending).await.unwrap();
                match w
                    .mfa
                    .finish_enrolment(
                        user,
                        &mfa_core::FreshAuth::primary(T0).with_mfa(T0),
                        &pid,
                        &w.passkey_registration,
                    )
                    .await
                {
                    Ok(s) => panic!("a stored ceremony state made a replayed registration pass: {s:?}"),
                    Err(e) => expect_error("finish_enrolment(state)", &e, &["InvalidCode", "Expired", "Backend"]),
                }
                w.store.delete_factor(user, &pid).await.unwrap();
                w.store.take_ceremony(Some(user), &ecid, T0).await.unwrap();
            }
            5 => {
                let Ok(hash) = std::str::from_utf8(bytes) else { return };
                if mfa_fuzz::too_costly(hash) {
                    return;
                }
                let record = RecoveryCodeRecord::new("AAAA".into(), hash.to_owned(), T0);
                w.store.replace_recovery_codes(user, &[record]).await.unwrap();
                match w.mfa.verify_recovery_code(user, "AAAA-BBBB-CCCC-DDDD-EEEE").await {
                    Ok(_) => {} // the row may hold a real hash of that code
                    Err(e) => expect_error("verify_recovery_code(row)", &e, &["InvalidCode", "Crypto"]),
                }
                w.store.replace_recovery_codes(user, &[]).await.unwrap();
            }
            _ => {
                let id = DeviceId::random().unwrap();
                let expires = T0.saturating_add(std::time::Duration::from_secs(3600));
                let record = DeviceTokenRecord::new(id, user.clone(), "Laptop".into(), bytes.to_vec(), T0, expires);
                w.store.insert_device_token(&record).await.unwrap();
                let token = format!("mfa-device.{id}.{}", "A".repeat(43));
                match w.mfa.check_device(user, &token).await {
                    Ok(_) => {}
                    Err(e) => expect_error("check_device(row)", &e, &["InvalidCode", "InvalidInput"]),
                }
                w.mfa.list_devices(user).await.unwrap();
                w.store.revoke_device_token(user, &id).await.unwrap();
            }
        }
    });
});
