//! Bad input (SECURITY.md S20): oversized, empty, non-UTF-8, control characters, wrong
//! shape, wrong type, truncated — for every string or bytes input of the service. Each gets
//! a typed error, changes nothing (factors, throttle counters, recovery codes, ceremonies,
//! devices, messages sent), and the next legitimate operation works normally.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use mfa_core::{
    CeremonyId, DeviceId, EnrolmentRequest, Error, FactorId, FactorKind, Proof, SecretBytes, UserId,
    types::validate_label,
};
use support::world::{Account, World, code, full_account, get, get_json};

const MIB: usize = 1 << 20;

/// Strings no text input should take as given.
fn hostile_strings() -> Vec<(String, String)> {
    let lossy = String::from_utf8_lossy(&[0xff, 0xfe, b'1', b'2', 0xc3, b'3', 0x80, b'4', b'5', b'6']).into_owned();
    vec![
        ("1 MiB".into(), "7".repeat(MIB)),
        ("1 MiB of multibyte".into(), "€".repeat(MIB / 3)),
        ("empty".into(), String::new()),
        ("white space".into(), " \t \n ".into()),
        ("NUL".into(), "123\u{0}456".into()),
        ("escape".into(), "\u{1b}[31m123456".into()),
        ("bell".into(), "\u{7}".into()),
        ("DEL".into(), "12345\u{7f}".into()),
        ("lossy non-UTF-8".into(), lossy),
        ("full-width digits".into(), "１２３４５６".into()),
        ("letters".into(), "12a456".into()),
        ("markup".into(), "<script>alert(1)</script>".into()),
        ("JSON".into(), r#"{"code":"123456"}"#.into()),
        ("right-to-left override".into(), "\u{202e}654321".into()),
    ]
}

async fn setup() -> (World, Account) {
    let w = World::new();
    let alice = full_account(&w, "alice", 1).await;
    w.advance(60);
    (w, alice)
}

fn is_invalid(e: &Error, field: &str) -> bool {
    matches!(e, Error::InvalidInput { field: f, .. } if *f == field)
}

#[tokio::test]
async fn hostile_codes_get_a_typed_error_and_change_nothing_for_any_factor() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    for (what, input) in hostile_strings() {
        let proof = match Proof::code(&input) {
            Err(e) => {
                assert!(is_invalid(&e, "code"), "{what}: {e:?}");
                continue;
            }
            Ok(proof) => proof,
        };
        let mfa = &w.mfa;
        let results = [
            ("totp verify", mfa.verify(&a.user, &a.totp, &proof).await.map(|_| ())),
            ("sms challenge", mfa.finish_challenge(&a.user, &a.sms_challenge, &proof).await.map(|_| ())),
            ("pending totp", mfa.finish_enrolment(&a.user, &w.fresh(), &a.pending, &proof).await.map(|_| ())),
            ("security key challenge", mfa.finish_challenge(&a.user, &a.key_challenge, &proof).await.map(|_| ())),
        ];
        for (path, r) in results {
            let e = r.expect_err(&format!("{what} accepted by {path}"));
            let field = if path == "security key challenge" { "credential" } else { "code" };
            assert!(is_invalid(&e, field), "{what} at {path}: {e:?}");
        }
        assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before, "{what} changed state");
    }
    // The next legitimate operations work.
    w.mfa.verify(&a.user, &a.totp, &code(&w.totp_code(&a.totp_key))).await.unwrap();
    w.mfa.finish_challenge(&a.user, &a.sms_challenge, &code(&a.sms_code)).await.unwrap();
    w.mfa.finish_enrolment(&a.user, &w.fresh(), &a.pending, &code(&w.totp_code(&a.pending_key))).await.unwrap();
}

#[tokio::test]
async fn hostile_recovery_codes_get_a_typed_error_and_change_nothing() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let mut inputs = hostile_strings();
    inputs.push(("19 characters".into(), "AAAA-BBBB-CCCC-DDDD-EEE".into()));
    inputs.push(("21 characters".into(), "AAAA-BBBB-CCCC-DDDD-EEEEF".into()));
    inputs.push(("a real code cut short".into(), a.recovery_codes[0][..20].to_owned()));
    inputs.push(("a real code with a NUL".into(), format!("{}\u{0}", a.recovery_codes[0])));
    for (what, input) in inputs {
        let e = w.mfa.verify_recovery_code(&a.user, &input).await.expect_err(&what);
        assert!(is_invalid(&e, "recovery code"), "{what}: {e:?}");
        assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before, "{what} changed state");
    }
    w.mfa.verify_recovery_code(&a.user, &a.recovery_codes[0]).await.unwrap();
}

#[tokio::test]
async fn hostile_labels_get_a_typed_error_and_change_nothing() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let labels: Vec<(String, String)> = hostile_strings()
        .into_iter()
        .filter(|(_, s)| validate_label(s).is_err())
        .chain([("65 characters".into(), "x".repeat(65))])
        .collect();
    assert!(labels.len() >= 8, "most hostile strings are bad labels");
    let verified = w.mfa.verify_recovery_code(&a.user, &a.recovery_codes[0]).await.unwrap();
    let before_device = w.snapshot(&a.user, &a.challenges()).await;
    assert_eq!(before_device.devices, before.devices);
    for (what, label) in &labels {
        let e = w.mfa.rename_factor(&a.user, &a.totp, label).await.unwrap_err();
        assert!(is_invalid(&e, "label"), "rename {what}: {e:?}");
        let req = EnrolmentRequest::new(FactorKind::SMS).destination("+14155550111").label(label.clone());
        let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
        assert!(is_invalid(&e, "label"), "enrol {what}: {e:?}");
        let e = w.mfa.remember_device(&verified, label).await.unwrap_err();
        assert!(is_invalid(&e, "label"), "remember {what}: {e:?}");
        assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before_device, "{what} changed state");
    }
    // Replacement characters from a lossy conversion are text like any other: accepted.
    let lossy = String::from_utf8_lossy(b"Work \xff phone").into_owned();
    assert_eq!(w.mfa.rename_factor(&a.user, &a.totp, &lossy).await.unwrap().label, lossy);
    assert_eq!(w.mfa.rename_factor(&a.user, &a.totp, "  Phone app  ").await.unwrap().label, "Phone app");
}

#[tokio::test]
async fn hostile_destinations_get_a_typed_error_send_nothing_and_store_nothing() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let mut inputs = hostile_strings();
    for (what, s) in [
        ("no country code", "4155552671"),
        ("too short", "+1 415"),
        ("not a number", "+1 four one five"),
        ("address without domain", "jane@"),
        ("address without local part", "@example.com"),
        ("two at signs", "jane@@example.com"),
        ("display name", "Jane <jane@example.com>"),
        ("domain literal", "jane@[127.0.0.1]"),
        ("address of 300 characters", &format!("{}@example.com", "j".repeat(300))),
        ("header injection", "jane@example.com\r\nBcc: all@example.com"),
    ] {
        inputs.push((what.into(), s.into()));
    }
    for (what, destination) in &inputs {
        for kind in [FactorKind::SMS, FactorKind::EMAIL] {
            let req = EnrolmentRequest::new(kind.clone()).destination(destination.clone());
            let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
            assert!(is_invalid(&e, "destination"), "{kind} {what}: {e:?}");
        }
        assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before, "{what} changed state");
    }
    // Destinations for factors that take none are refused too.
    let req = EnrolmentRequest::new(FactorKind::SECURITY_KEY).destination("+14155550111");
    assert!(matches!(w.mfa.start_enrolment(&a.user, &w.fresh(), req).await, Err(Error::InvalidInput { .. })));
    assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before);
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+1 (415) 555-0111");
    w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap();
}

#[tokio::test]
async fn hostile_imported_secrets_and_account_names_get_a_typed_error_and_change_nothing() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    for (what, bytes) in [("empty", vec![]), ("15 bytes", vec![0xff; 15]), ("1 MiB", vec![0x80; MIB])] {
        let req = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(bytes));
        let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
        assert!(is_invalid(&e, "secret"), "{what}: {e:?}");
    }
    for kind in [FactorKind::SMS, FactorKind::PASSKEY] {
        let req = EnrolmentRequest::new(kind.clone())
            .destination("a@example.com")
            .import_secret(SecretBytes::new(vec![1; 20]));
        let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{kind}: {e:?}");
    }
    let req = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice:admin");
    let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
    assert!(is_invalid(&e, "account name"), "{e:?}");
    assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before);
    // Non-UTF-8 secret bytes are just bytes: a 20-byte import of them works.
    let req = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(vec![0xff; 20]));
    w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap();
}

#[tokio::test]
async fn an_oversized_account_name_is_invalid_input() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let req = EnrolmentRequest::new(FactorKind::TOTP).account_name("a".repeat(MIB));
    let e = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap_err();
    assert!(is_invalid(&e, "account name"), "{e:?}");
    assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before);
}

#[tokio::test]
async fn hostile_webauthn_responses_get_a_typed_error_and_change_nothing() {
    let (w, mut a) = setup().await;
    let real = get_json(&mut a.security_key_auth, &a.key_prompt);
    let mut wrong_type: serde_json::Value = serde_json::from_str(&real).unwrap();
    wrong_type["response"]["signature"] = serde_json::json!(12345);
    let mut missing: serde_json::Value = serde_json::from_str(&real).unwrap();
    missing["response"].as_object_mut().unwrap().remove("authenticatorData");
    let mut bad_base64: serde_json::Value = serde_json::from_str(&real).unwrap();
    bad_base64["rawId"] = serde_json::json!("!!!not base64!!!");
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let inputs: Vec<(&str, String)> = vec![
        ("1 MiB", format!("{{\"id\":\"{}\"}}", "A".repeat(MIB))),
        ("empty", String::new()),
        ("white space", "   ".into()),
        ("not JSON", "not json".into()),
        ("an array", "[]".into()),
        ("a number", "7".into()),
        ("wrong types", r#"{"id": 7, "rawId": [], "response": "x", "type": 1}"#.into()),
        ("truncated", real[..real.len() / 2].to_owned()),
        ("signature of the wrong type", wrong_type.to_string()),
        ("authenticator data missing", missing.to_string()),
        ("raw id not base64", bad_base64.to_string()),
        ("deeply nested", nested),
        ("lossy non-UTF-8", String::from_utf8_lossy(b"{\"id\":\"\xff\xfe\"}").into_owned()),
        ("NUL inside", format!("{}\u{0}", &real[..real.len() - 1])),
    ];
    let passwordless = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    let pending =
        w.mfa.start_enrolment(&a.user, &w.fresh(), EnrolmentRequest::new(FactorKind::SECURITY_KEY)).await.unwrap();
    let mut ceremonies = a.challenges();
    ceremonies.push(passwordless.id);
    let before = w.snapshot(&a.user, &ceremonies).await;
    let usernameless_before = w.store.get_ceremony(None, &passwordless.id, w.now()).await.unwrap();
    for (what, json) in &inputs {
        let proof = match Proof::credential(json.clone()) {
            Err(e) => {
                assert!(is_invalid(&e, "credential"), "{what}: {e:?}");
                continue;
            }
            Ok(p) => p,
        };
        let mfa = &w.mfa;
        let results = [
            ("challenge", mfa.finish_challenge(&a.user, &a.key_challenge, &proof).await.map(|_| ())),
            ("enrolment", mfa.finish_enrolment(&a.user, &w.fresh(), &pending.factor.id, &proof).await.map(|_| ())),
            ("passwordless", mfa.finish_passwordless(&passwordless.id, &proof).await.map(|_| ())),
            ("totp", mfa.verify(&a.user, &a.totp, &proof).await.map(|_| ())),
        ];
        for (path, r) in results {
            let e = r.expect_err(&format!("{what} accepted at {path}"));
            assert!(matches!(e, Error::InvalidInput { .. }), "{what} at {path}: {e:?}");
        }
        assert_eq!(w.snapshot(&a.user, &ceremonies).await, before, "{what} changed state");
        assert_eq!(w.store.get_ceremony(None, &passwordless.id, w.now()).await.unwrap(), usernameless_before);
    }
    // The real response still signs in.
    w.mfa.finish_challenge(&a.user, &a.key_challenge, &Proof::credential(real).unwrap()).await.unwrap();
}

#[tokio::test]
async fn an_assertion_given_to_an_enrolment_is_invalid_input_and_changes_nothing() {
    let (w, mut a) = setup().await;
    let assertion = get(&mut a.security_key_auth, &a.key_prompt);
    let pending =
        w.mfa.start_enrolment(&a.user, &w.fresh(), EnrolmentRequest::new(FactorKind::SECURITY_KEY)).await.unwrap();
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let e = w.mfa.finish_enrolment(&a.user, &w.fresh(), &pending.factor.id, &assertion).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before);
}

#[tokio::test]
async fn a_registration_given_to_a_challenge_is_invalid_input_and_changes_nothing() {
    let (w, a) = setup().await;
    let start =
        w.mfa.start_enrolment(&a.user, &w.fresh(), EnrolmentRequest::new(FactorKind::SECURITY_KEY)).await.unwrap();
    let (mut other_key, _) = webauthn_authenticator_rs::softtoken::SoftToken::new(false).unwrap();
    let registration = support::world::create(&mut other_key, &start.prompt);
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let e = w.mfa.finish_challenge(&a.user, &a.key_challenge, &registration).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before);
}

#[tokio::test]
async fn hostile_device_tokens_get_a_typed_error_and_change_nothing() {
    let (w, a) = setup().await;
    let before = w.snapshot(&a.user, &a.challenges()).await;
    let (prefix, secret) = a.device_token.rsplit_once('.').unwrap();
    let mut inputs = hostile_strings();
    for (what, s) in [
        ("prefix only", "mfa-device.".to_owned()),
        ("no secret", format!("{prefix}.")),
        ("secret one short", format!("{prefix}.{}", &secret[1..])),
        ("secret one long", format!("{prefix}.{secret}A")),
        ("secret not base64url", format!("{prefix}.{}", "+".repeat(43))),
        ("id not hex", format!("mfa-device.{}.{secret}", "g".repeat(32))),
        ("id too short", format!("mfa-device.{}.{secret}", "a".repeat(31))),
        ("wrong prefix", a.device_token.replacen("mfa-device", "mfa-devices", 1)),
        ("token with a NUL", format!("{}\u{0}", a.device_token)),
    ] {
        inputs.push((what.into(), s));
    }
    for (what, token) in &inputs {
        let e = w.mfa.check_device(&a.user, token).await.unwrap_err();
        assert!(is_invalid(&e, "device token"), "{what}: {e:?}");
        assert_eq!(w.snapshot(&a.user, &a.challenges()).await, before, "{what} changed state");
    }
    w.mfa.check_device(&a.user, &a.device_token).await.unwrap();
}

#[test]
fn hostile_user_ids_and_ids_get_a_typed_error() {
    for (what, input) in hostile_strings().into_iter().chain([("257 bytes".into(), "u".repeat(257))]) {
        let bad_user = !input.is_empty() && input.len() <= 256 && !input.chars().any(char::is_control);
        match UserId::new(input.clone()) {
            Ok(_) => assert!(bad_user, "{what} accepted as a user id"),
            Err(e) => assert!(is_invalid(&e, "user id"), "{what}: {e:?}"),
        }
        let json = serde_json::to_string(&input).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).is_ok(), bad_user, "{what} through serde");
        // Every kind of id takes exactly 32 hexadecimal characters.
        let fields = [
            ("factor id", FactorId::parse(&input).err()),
            ("challenge id", CeremonyId::parse(&input).err()),
            ("device id", DeviceId::parse(&input).err()),
        ];
        for (field, e) in fields {
            let e = e.unwrap_or_else(|| panic!("{what} accepted as a {field}"));
            assert!(is_invalid(&e, field), "{what} as {field}: {e:?}");
        }
        assert!(serde_json::from_str::<FactorId>(&json).is_err());
    }
    for (what, json) in [("a number", "7"), ("an object", "{}"), ("null", "null"), ("truncated", "\"abc")] {
        assert!(serde_json::from_str::<UserId>(json).is_err(), "{what}");
        assert!(serde_json::from_str::<FactorId>(json).is_err(), "{what}");
        assert!(serde_json::from_str::<CeremonyId>(json).is_err(), "{what}");
        assert!(serde_json::from_str::<DeviceId>(json).is_err(), "{what}");
    }
    // The user id "alice" with a trailing NUL is not alice.
    assert!(UserId::new("alice\u{0}").is_err());
}
