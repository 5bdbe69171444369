//! Isolation between users (SECURITY.md S19): for every `Mfa` operation that takes a
//! factor, challenge, enrolment or device id (or a token or recovery code), another
//! user's id behaves exactly like one that does not exist, and changes nothing of theirs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use mfa_core::access::ActionDigest;
use mfa_core::{
    CeremonyId, DeviceId, EnrolmentRequest, FactorId, FactorKind, Proof, UserId, throttle::ThrottleSettings,
};
use support::world::{self, Account, Discoverable, World, code, full_account, get_json};

/// What one call is given in place of the victim's identifiers.
#[derive(Clone)]
struct Target {
    factor: FactorId,
    kind: FactorKind,
    challenge: CeremonyId,
    device: DeviceId,
    token: String,
    recovery_code: String,
    /// The victim's temporary access code.
    temporary_code: String,
    /// A proof that is valid for the victim's factor or challenge, where one exists.
    proof: Proof,
}

/// Every public operation of `Mfa`, by name, with how this test treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Takes an id, code or token: called with the victim's and with a missing one.
    Matrix,
    /// Takes nothing that names another user's data; the reason is in the table.
    NoForeignId(&'static str),
}

const OPERATIONS: &[(&str, Coverage)] = &[
    ("builder", Coverage::NoForeignId("builds a service")),
    ("now", Coverage::NoForeignId("reads the clock")),
    ("supports", Coverage::NoForeignId("reads the configuration")),
    ("settings", Coverage::NoForeignId("reads the configuration")),
    ("store", Coverage::NoForeignId("hands the host its own store")),
    ("start_enrolment", Coverage::Matrix), // `replaces` names a factor
    ("finish_enrolment", Coverage::Matrix),
    ("resend_enrolment", Coverage::Matrix),
    ("normalise_destination", Coverage::NoForeignId("takes a kind and a text; reads no state")),
    ("list_factors", Coverage::NoForeignId("takes only the acting user")),
    ("get_factor", Coverage::Matrix),
    ("rename_factor", Coverage::Matrix),
    ("set_preferred", Coverage::Matrix),
    ("remove_factor", Coverage::Matrix),
    ("start_challenge", Coverage::Matrix),
    ("start_step_up", Coverage::Matrix),
    ("resend_challenge", Coverage::Matrix),
    ("finish_challenge", Coverage::Matrix),
    ("start_passwordless", Coverage::NoForeignId("takes only a factor kind")),
    ("finish_passwordless", Coverage::Matrix),
    ("verify", Coverage::Matrix),
    ("generate_recovery_codes", Coverage::NoForeignId("takes only the acting user")),
    ("regenerate_recovery_codes", Coverage::NoForeignId("takes only the acting user")),
    ("verify_recovery_code", Coverage::Matrix),
    ("recovery_codes_remaining", Coverage::NoForeignId("takes only the acting user")),
    ("remember_device", Coverage::NoForeignId("takes the Verified the service returned, which names its user")),
    ("check_device", Coverage::Matrix),
    ("list_devices", Coverage::NoForeignId("takes only the acting user")),
    ("revoke_device", Coverage::Matrix),
    ("revoke_all_devices", Coverage::NoForeignId("takes only the acting user")),
    ("flush_audit", Coverage::NoForeignId("reports refusals already counted; takes nothing")),
    ("with_context", Coverage::NoForeignId("returns a handle carrying the request's context")),
    ("context", Coverage::NoForeignId("reads the handle's own context")),
    ("admin", Coverage::NoForeignId("returns a handle; its operations ask the admin check (tests/admin.rs)")),
    ("system", Coverage::NoForeignId("returns the host's own handle; never wired to a request")),
    ("verify_temporary_access", Coverage::Matrix),
];

/// Calls operation `name` as `actor` on `target`; `Ok` outcomes are reported as such (and
/// fail the test: none may succeed on another user's id).
async fn call(w: &World, actor: &UserId, name: &str, t: &Target) -> Result<String, String> {
    let mfa = &w.mfa;
    let fresh = w.fresh();
    let ok = |what: &str| Ok::<String, String>(what.to_owned());
    let err = |e: mfa_core::Error| Err::<String, String>(format!("{e:?}"));
    match name {
        "start_enrolment" => {
            let mut req = EnrolmentRequest::new(t.kind.clone()).replaces(t.factor);
            if t.kind == FactorKind::SMS {
                req = req.destination("+14155550199");
            } else if t.kind == FactorKind::EMAIL {
                req = req.destination("someone@example.net");
            }
            mfa.start_enrolment(actor, &fresh, req).await.map_or_else(err, |_| ok("started"))
        }
        "finish_enrolment" => {
            mfa.finish_enrolment(actor, &fresh, &t.factor, &t.proof).await.map_or_else(err, |_| ok("done"))
        }
        "resend_enrolment" => mfa.resend_enrolment(actor, &t.factor).await.map_or_else(err, |_| ok("resent")),
        "get_factor" => mfa.get_factor(actor, &t.factor).await.map_or_else(err, |_| ok("found")),
        "rename_factor" => mfa.rename_factor(actor, &t.factor, "Mine now").await.map_or_else(err, |_| ok("renamed")),
        "set_preferred" => mfa.set_preferred(actor, &fresh, &t.factor).await.map_or_else(err, |()| ok("preferred")),
        "remove_factor" => mfa.remove_factor(actor, &fresh, &t.factor).await.map_or_else(err, |()| ok("removed")),
        "start_challenge" => mfa.start_challenge(actor, Some(&t.factor)).await.map_or_else(err, |_| ok("challenged")),
        "start_step_up" => {
            let action = ActionDigest::new("payment", &[("amount", "100.00 EUR")]);
            mfa.start_step_up(actor, Some(&t.factor), &action).await.map_or_else(err, |_| ok("challenged"))
        }
        "resend_challenge" => mfa.resend_challenge(actor, &t.challenge).await.map_or_else(err, |_| ok("resent")),
        "finish_challenge" => {
            mfa.finish_challenge(actor, &t.challenge, &t.proof).await.map_or_else(err, |_| ok("verified"))
        }
        // Passwordless: the acting user is not an argument, and a user's challenge is not
        // a passwordless one.
        "finish_passwordless" => {
            mfa.finish_passwordless(&t.challenge, &t.proof).await.map_or_else(err, |_| ok("verified"))
        }
        "verify" => mfa.verify(actor, &t.factor, &t.proof).await.map_or_else(err, |_| ok("verified")),
        "verify_recovery_code" => {
            mfa.verify_recovery_code(actor, &t.recovery_code).await.map_or_else(err, |_| ok("verified"))
        }
        "check_device" => mfa.check_device(actor, &t.token).await.map_or_else(err, |_| ok("remembered")),
        "verify_temporary_access" => {
            mfa.verify_temporary_access(actor, &t.temporary_code).await.map_or_else(err, |_| ok("verified"))
        }
        "revoke_device" => mfa.revoke_device(actor, &t.device).await.map_or_else(err, |()| ok("revoked")),
        other => panic!("no call for {other}"),
    }
}

/// The public operations declared in every `impl Mfa` block of the service's source files
/// (all of `mfa-core/src/service/`, so a new file is read too).
fn declared_operations() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mfa-core/src/service");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("the service's source folder") {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for block in source.split("\nimpl Mfa {").skip(1) {
            let body = &block[..block.find("\n}\n").expect("end of impl Mfa")];
            declared.extend(body.lines().filter_map(|l| {
                let l = l.trim_start();
                let rest = l.strip_prefix("pub async fn ").or_else(|| l.strip_prefix("pub fn "))?;
                Some(rest.split(['(', '<']).next().unwrap().to_owned())
            }));
        }
    }
    declared
}

#[test]
fn the_matrix_lists_every_public_operation() {
    let listed: BTreeSet<String> = OPERATIONS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(listed.len(), OPERATIONS.len(), "no operation is listed twice");
    let declared = declared_operations();
    assert!(declared.len() >= 25, "the parser found the operations: {declared:?}");
    let missing: Vec<_> = declared.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&declared).collect();
    assert!(missing.is_empty(), "operations missing from the isolation matrix: {missing:?}");
    assert!(stale.is_empty(), "operations listed but no longer declared: {stale:?}");
}

/// A well-formed recovery code nobody holds.
fn random_code() -> String {
    let mut bytes = FactorId::random().unwrap().as_bytes().to_vec();
    bytes.extend(FactorId::random().unwrap().as_bytes());
    bytes.iter().take(20).map(|b| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[usize::from(b & 31)])).collect()
}

fn random_token() -> String {
    format!("mfa-device.{}.{}", DeviceId::random().unwrap(), data_encoding::BASE64URL_NOPAD.encode(&[9u8; 32]))
}

/// The victim's targets: one per factor (with the proof that would verify it), and one
/// per open challenge (with its proof).
fn victim_targets(w: &World, bob: &mut Account, temporary_code: &str) -> Vec<(String, Target)> {
    let base = Target {
        factor: bob.totp,
        kind: FactorKind::TOTP,
        challenge: bob.sms_challenge,
        device: bob.device,
        token: bob.device_token.clone(),
        recovery_code: bob.recovery_codes[0].clone(),
        temporary_code: temporary_code.to_owned(),
        proof: code(&w.totp_code(&bob.totp_key)),
    };
    let key_proof = Proof::credential(get_json(&mut bob.security_key_auth, &bob.key_prompt)).unwrap();
    let mut targets = vec![
        ("totp".to_owned(), base.clone()),
        (
            "pending totp".into(),
            Target { factor: bob.pending, proof: code(&w.totp_code(&bob.pending_key)), ..base.clone() },
        ),
        ("sms".into(), Target { factor: bob.sms, kind: FactorKind::SMS, proof: code(&bob.sms_code), ..base.clone() }),
        (
            "email".into(),
            Target { factor: bob.email_factor, kind: FactorKind::EMAIL, proof: code("123456"), ..base.clone() },
        ),
        ("passkey".into(), Target { factor: bob.passkey, kind: FactorKind::PASSKEY, ..base.clone() }),
        (
            "security key".into(),
            Target {
                factor: bob.security_key,
                kind: FactorKind::SECURITY_KEY,
                challenge: bob.key_challenge,
                proof: key_proof,
                ..base.clone()
            },
        ),
    ];
    // The SMS challenge with its code, the other recovery codes.
    targets.push(("sms challenge".into(), Target { proof: code(&bob.sms_code), ..base.clone() }));
    for (i, c) in bob.recovery_codes.iter().enumerate().skip(1).take(2) {
        targets.push((format!("recovery code {i}"), Target { recovery_code: c.clone(), ..base.clone() }));
    }
    targets
}

#[tokio::test]
async fn another_users_ids_behave_exactly_like_missing_ones_and_change_nothing() {
    // Generous throttling, so the many calls never lock the actor out mid-matrix.
    let mut settings = world::settings();
    settings.throttle = ThrottleSettings::new(10_000, Duration::from_secs(60), Duration::from_secs(3600));
    let w = World::with(std::sync::Arc::new(mfa_store_memory::MemoryStore::new()), settings, None);
    let alice = full_account(&w, "alice", 1).await;
    let mut bob = full_account(&w, "bob", 2).await;
    w.advance(60); // later TOTP steps are free for both
    let helpdesk = UserId::new(world::ADMIN).unwrap();
    let issued = w.mfa.admin(&helpdesk).issue_temporary_access(&bob.user, None).await.unwrap();
    let targets = victim_targets(&w, &mut bob, issued.code.expose());
    let before = w.snapshot(&bob.user, &bob.challenges()).await;

    let mut calls = 0;
    for (name, coverage) in OPERATIONS {
        if *coverage != Coverage::Matrix {
            continue;
        }
        for (what, target) in &targets {
            let missing = Target {
                factor: FactorId::random().unwrap(),
                challenge: CeremonyId::random().unwrap(),
                device: DeviceId::random().unwrap(),
                token: random_token(),
                recovery_code: random_code(),
                temporary_code: random_code(),
                ..target.clone()
            };
            let with_victims = call(&w, &alice.user, name, target).await;
            let with_missing = call(&w, &alice.user, name, &missing).await;
            assert!(with_victims.is_err(), "{name} on bob's {what} succeeded: {with_victims:?}");
            assert_eq!(with_victims, with_missing, "{name} on bob's {what} differs from a missing id");
            let expected = ["NotFound", "Expired", "InvalidCode"];
            let e = with_victims.unwrap_err();
            assert!(expected.contains(&e.as_str()), "{name} on bob's {what}: {e}");
            calls += 2;
        }
        assert_eq!(w.snapshot(&bob.user, &bob.challenges()).await, before, "{name} changed bob's state");
    }
    assert!(calls >= 2 * 15 * 9, "{calls} calls");

    // Bob's factors, challenges, codes and device all still work (so nothing was used up).
    let mfa = &w.mfa;
    mfa.finish_challenge(&bob.user, &bob.sms_challenge, &code(&bob.sms_code)).await.unwrap();
    mfa.verify(&bob.user, &bob.totp, &code(&w.totp_code(&bob.totp_key))).await.unwrap();
    mfa.finish_challenge(&bob.user, &bob.key_challenge, &targets[5].1.proof).await.unwrap();
    for c in &bob.recovery_codes[..3] {
        mfa.verify_recovery_code(&bob.user, c).await.unwrap();
    }
    mfa.check_device(&bob.user, &bob.device_token).await.unwrap();
    mfa.verify_temporary_access(&bob.user, issued.code.expose()).await.unwrap();
    mfa.finish_enrolment(&bob.user, &w.fresh(), &bob.pending, &code(&w.totp_code(&bob.pending_key))).await.unwrap();
    assert_eq!(mfa.get_factor(&bob.user, &bob.totp).await.unwrap().label, "Authenticator app");
    assert!(mfa.get_factor(&bob.user, &bob.totp).await.unwrap().preferred);
    // And Alice's own state is hers: she still has all of hers.
    assert_eq!(mfa.list_factors(&alice.user).await.unwrap().len(), 6);
}

/// The unauthenticated entry points (SECURITY.md S23): a caller with no session starts
/// passwordless sign-ins and answers them naming Bob's credentials (which are not secret)
/// with forged signatures, with a genuine answer replayed from another ceremony, and with
/// his security key (second factor only). Each answer is refused exactly like one naming a
/// credential that does not exist, and nothing of Bob's changes: not even under a hard stop
/// of 3 failures, his passkey still signs him in.
#[tokio::test]
async fn unauthenticated_callers_naming_a_users_credentials_change_nothing() {
    let mut settings = world::settings();
    settings.throttle = ThrottleSettings::default().max_failures(3);
    let w = World::with(std::sync::Arc::new(mfa_store_memory::MemoryStore::new()), settings, None);
    let mut bob = full_account(&w, "bob", 2).await;
    let before = w.snapshot(&bob.user, &bob.challenges()).await;
    let passkey = bob.passkey_discoverable.clone();
    let credential = w.store.get_factor(&bob.user, &bob.security_key).await.unwrap().unwrap().lookup_key.unwrap();
    let key = Discoverable { credential, ..passkey.clone() };
    let mfa = &w.mfa;
    let kind = FactorKind::PASSKEY;
    for round in 0..5 {
        let missing = {
            let c = mfa.start_passwordless(&kind).await.unwrap();
            let proof = passkey.unknown(&mut bob.passkey_auth, &c.prompt);
            format!("{:?}", mfa.finish_passwordless(&c.id, &proof).await.unwrap_err())
        };
        let forged = {
            let c = mfa.start_passwordless(&kind).await.unwrap();
            let proof = passkey.forged(&mut bob.passkey_auth, &c.prompt);
            format!("{:?}", mfa.finish_passwordless(&c.id, &proof).await.unwrap_err())
        };
        let replayed = {
            let (a, b) = (mfa.start_passwordless(&kind).await.unwrap(), mfa.start_passwordless(&kind).await.unwrap());
            let proof = passkey.get(&mut bob.passkey_auth, &a.prompt);
            format!("{:?}", mfa.finish_passwordless(&b.id, &proof).await.unwrap_err())
        };
        let second_factor_only = {
            let c = mfa.start_passwordless(&kind).await.unwrap();
            let proof = key.get(&mut bob.security_key_auth, &c.prompt);
            format!("{:?}", mfa.finish_passwordless(&c.id, &proof).await.unwrap_err())
        };
        assert_eq!(missing, "InvalidCode", "round {round}");
        for (what, result) in [("forged", &forged), ("replayed", &replayed), ("security key", &second_factor_only)] {
            assert_eq!(result, &missing, "round {round}: {what} differs from a missing credential");
        }
        assert_eq!(w.snapshot(&bob.user, &bob.challenges()).await, before, "round {round} changed bob's state");
    }
    let c = mfa.start_passwordless(&kind).await.unwrap();
    let verified = mfa.finish_passwordless(&c.id, &passkey.get(&mut bob.passkey_auth, &c.prompt)).await.unwrap();
    assert_eq!(verified.user, bob.user);
}
