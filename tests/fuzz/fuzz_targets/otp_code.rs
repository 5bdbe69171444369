//! Typed codes: `Proof::code` (the code normaliser), then `Mfa::verify` on an active TOTP
//! factor; and the same text as a recovery code (`Mfa::verify_recovery_code`, whose parser
//! folds case, separators and look-alike digits).
//!
//! Checks: no panic; a malformed code is `InvalidInput` for its field and changes nothing;
//! a wrong code is `InvalidCode` (or `Replayed`) and leaves the factor record as it was;
//! a recovery code is accepted only if it is the stored one, and only once.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::store::RecoveryCodeRecord;
use mfa_core::{EnrolmentRequest, FactorId, FactorKind, FreshAuth, Mfa, Proof, UserId, store::Store};
use mfa_fuzz::{T0, block_on, clock, expect_error, expect_invalid_input, sealer, settings, text, totp_code};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

/// The one recovery code the user holds (seeded in the corpus in several spellings).
const RECOVERY_CODE: &str = "KQ4M7XZDP2LAN6WER3TY";
/// A 20-byte TOTP secret imported at enrolment.
const SECRET: &[u8; 20] = b"12345678901234567890";

struct World {
    mfa: Mfa,
    store: Arc<dyn Store>,
    user: UserId,
    totp: FactorId,
    recovery: RecoveryCodeRecord,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let clock = clock();
            let mut settings = settings();
            settings.secret_cache = 0; // open the sealed secret at every verification
            let mfa = Mfa::builder()
                .shared_store(store.clone())
                .clock(clock)
                .sealer(sealer())
                .settings(settings)
                .factor(TotpFactor::new("Fuzz").unwrap())
                .build()
                .unwrap();
            let user = UserId::new("alice").unwrap();
            let fresh = FreshAuth::primary(T0).with_mfa(T0);
            let request =
                EnrolmentRequest::new(FactorKind::TOTP).import_secret(mfa_core::SecretBytes::new(SECRET.to_vec()));
            let start = mfa.start_enrolment(&user, &fresh, request).await.unwrap();
            let code = totp_code(SECRET, T0, 6);
            let active =
                mfa.finish_enrolment(&user, &fresh, &start.factor.id, &Proof::code(&code).unwrap()).await.unwrap();
            // A known recovery code: hashed as the service hashes, stored through the Store API.
            let hash = hash_recovery_secret(&RECOVERY_CODE[4..]);
            let recovery = RecoveryCodeRecord::new(RECOVERY_CODE[..4].to_owned(), hash, T0);
            store.replace_recovery_codes(&user, std::slice::from_ref(&recovery)).await.unwrap();
            World { mfa, store, user, totp: active.id, recovery }
        })
    })
}

/// argon2id with the test settings' cost (256 KiB, t=1, p=1), as a PHC string.
fn hash_recovery_secret(secret: &str) -> String {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    let params = Params::new(256, 1, 1, Some(32)).unwrap();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    argon2.hash_password_with_salt(secret.as_bytes(), b"fuzz-salt-16byte").unwrap().to_string()
}

/// The recovery-code normalisation the documentation promises, to compare with.
fn normalised_recovery(input: &str) -> Option<String> {
    if input.len() > 256 {
        return None;
    }
    let mut out = String::new();
    // White space around the code (a pasted line break) is dropped first.
    for c in input.trim().chars() {
        match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' => {}
            '0' => out.push('O'),
            '1' => out.push('I'),
            '8' => out.push('B'),
            c @ ('A'..='Z' | '2'..='7') => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let w = world();
    block_on(async {
        // ----- TOTP -----
        let before = w.store.get_factor(&w.user, &w.totp).await.unwrap().unwrap();
        let mut totp_accepted = false;
        match Proof::code(input) {
            Err(e) => expect_invalid_input("Proof::code", &e, "code"),
            Ok(proof) => {
                let code = proof.as_code().unwrap().expose().to_owned();
                assert!(!code.is_empty() && code.len() <= mfa_core::adapter::MAX_CODE_LEN);
                assert!(!code.chars().any(|c| c.is_ascii_whitespace() || c.is_control()));
                match w.mfa.verify(&w.user, &w.totp, &proof).await {
                    Ok(_) => {
                        // The enrolment used T0's step; within the window only the next
                        // step's code is left, and only once.
                        let next = totp_code(SECRET, T0.saturating_add(std::time::Duration::from_secs(30)), 6);
                        assert_eq!(code, next, "accepted a code that is not the next step's");
                        assert!(
                            before.replay_marker
                                < w.store.get_factor(&w.user, &w.totp).await.unwrap().unwrap().replay_marker
                        );
                        totp_accepted = true;
                    }
                    Err(e) => expect_error("Mfa::verify(totp)", &e, &["InvalidInput", "InvalidCode", "Replayed"]),
                }
                let after = w.store.get_factor(&w.user, &w.totp).await.unwrap().unwrap();
                assert_eq!(before.status, after.status);
                if totp_accepted {
                    assert_eq!(before.data, after.data);
                } else {
                    assert_eq!(before.status, after.status);
                    assert_eq!(before.data, after.data, "a failed verification changed the factor's parameters");
                    assert_eq!(before.secret, after.secret, "a failed verification changed the sealed secret");
                    assert_eq!(
                        before.replay_marker, after.replay_marker,
                        "a failed verification moved the replay marker"
                    );
                }
            }
        }

        // ----- recovery code -----
        let expected = normalised_recovery(input);
        match w.mfa.verify_recovery_code(&w.user, input).await {
            Ok(_) => {
                assert_eq!(
                    expected.as_deref(),
                    Some(RECOVERY_CODE),
                    "accepted a recovery code that is not the stored one"
                );
                assert_eq!(
                    w.mfa.recovery_codes_remaining(&w.user).await.unwrap(),
                    0,
                    "a recovery code was not used up"
                );
                let again = w.mfa.verify_recovery_code(&w.user, input).await;
                assert!(matches!(again, Err(mfa_core::Error::InvalidCode)), "a recovery code worked twice: {again:?}");
                // Put it back for the next input.
                w.store.replace_recovery_codes(&w.user, std::slice::from_ref(&w.recovery)).await.unwrap();
            }
            Err(e) => {
                match expected.as_deref() {
                    Some(code) if code.len() == 20 => {
                        expect_error("verify_recovery_code", &e, &["InvalidCode"]);
                        assert_ne!(code, RECOVERY_CODE, "the stored recovery code was refused");
                    }
                    _ => expect_invalid_input("verify_recovery_code", &e, "recovery code"),
                }
                assert_eq!(w.mfa.recovery_codes_remaining(&w.user).await.unwrap(), 1, "a refused code used one up");
            }
        }
    });
});
