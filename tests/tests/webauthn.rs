//! Security keys, passkeys and older U2F keys through `Mfa` with the memory store, driven
//! by software authenticators: each mode registers and signs in; devices are renamed,
//! listed and deleted; and every attack the issue lists fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, Assurance, CeremonyId, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FactorStatus,
    FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use support::u2f::U2fSoftKey;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_rs_proto::{AllowCredentials, ResidentKeyRequirement};

const ORIGIN: &str = "http://localhost:8080";

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
    events: RecordingEventSink,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            clock: ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)),
            events: RecordingEventSink::new(),
        }
    }

    fn mfa(&self) -> Mfa {
        let factor = WebauthnFactor::builder("localhost", "Example", ORIGIN).build().unwrap();
        Mfa::builder()
            .shared_store(self.store.clone())
            .clock(self.clock.clone())
            .sealer(AeadSealer::new(KeyId(1), [3; 32]))
            .events(self.events.clone())
            .factor(factor)
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

fn options_json(prompt: &Prompt) -> &str {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => options_json,
        other => panic!("expected WebAuthn options, got {other:?}"),
    }
}

/// Runs `navigator.credentials.create()` on a soft authenticator and returns the JSON the
/// browser would post. Soft authenticators cannot keep resident keys, so for them the
/// resident-key requirement is lifted client-side (a platform authenticator keeps it).
fn create(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
    let mut options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Discouraged);
        sel.require_resident_key = false;
    }
    let created = auth.do_registration(origin(), options).unwrap();
    Proof::credential(serde_json::to_string(&created).unwrap()).unwrap()
}

/// Runs `navigator.credentials.get()` from `origin` and returns the posted JSON.
fn get_from(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt, from: &str) -> Proof {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    let asserted = auth.do_authentication(Url::parse(from).unwrap(), options).unwrap();
    Proof::credential(serde_json::to_string(&asserted).unwrap()).unwrap()
}

fn get(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
    get_from(auth, prompt, ORIGIN)
}

/// A passwordless assertion from a resident-key authenticator: it picks `credential` and
/// returns the user handle it stored at registration (not covered by the signature, so a
/// soft authenticator can be given it).
fn get_discoverable(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt, credential: &str, handle: &[u8]) -> Proof {
    let mut options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    assert!(options.public_key.allow_credentials.is_empty(), "passwordless: no allow list");
    let id = data_encoding::BASE64URL_NOPAD.decode(credential.as_bytes()).unwrap();
    options.public_key.allow_credentials = vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
    let mut asserted = auth.do_authentication(origin(), options).unwrap();
    asserted.response.user_handle = Some(handle.to_vec());
    Proof::credential(serde_json::to_string(&asserted).unwrap()).unwrap()
}

/// Registers a device of `kind`; returns the factor id, its credential id and the WebAuthn
/// user handle from the options.
async fn register(
    w: &World,
    mfa: &Mfa,
    who: &UserId,
    kind: FactorKind,
    auth: &mut impl WebauthnAuthenticator,
) -> (FactorId, String, Vec<u8>) {
    let start = mfa.start_enrolment(who, &w.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
    let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
    let handle =
        data_encoding::BASE64URL_NOPAD.decode(options["publicKey"]["user"]["id"].as_str().unwrap().as_bytes()).unwrap();
    let proof = create(auth, &start.prompt);
    let active = mfa.finish_enrolment(who, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
    let key = w.store.get_factor(who, &active.id).await.unwrap().unwrap().lookup_key.unwrap();
    (active.id, key, handle)
}

async fn sign_in(
    mfa: &Mfa,
    who: &UserId,
    factor: &FactorId,
    auth: &mut impl WebauthnAuthenticator,
) -> Result<mfa_core::Verified, Error> {
    let challenge = mfa.start_challenge(who, Some(factor)).await?;
    let proof = get(auth, &challenge.prompt);
    mfa.finish_challenge(who, &challenge.id, &proof).await
}

fn detail(summary: &mfa_core::FactorSummary, key: &str) -> Option<String> {
    summary.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

// ----- each mode round trip --------------------------------------------------------------

#[tokio::test]
async fn a_passkey_registers_verifies_the_user_and_signs_in() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let start = mfa
        .start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY).label("Laptop"))
        .await
        .unwrap();
    let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "a passkey is discoverable");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(start.factor.status, FactorStatus::Pending);
    let proof = create(&mut key, &start.prompt);
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert_eq!(active.label, "Laptop");
    assert_eq!(active.assurance, Assurance::PhishingResistantMultiFactor);
    assert_eq!(detail(&active, "user_verified").as_deref(), Some("true"));
    assert!(detail(&active, "backup_eligible").is_some() && detail(&active, "backup_state").is_some());

    w.clock.advance(Duration::from_secs(5));
    let verified = sign_in(&mfa, &alice, &active.id, &mut key).await.unwrap();
    assert_eq!(verified.assurance, Assurance::PhishingResistantMultiFactor);
    let listed = mfa.get_factor(&alice, &active.id).await.unwrap();
    assert_eq!(listed.last_used_at, Some(w.clock.now()));
    let stored: serde_json::Value =
        serde_json::from_slice(&w.store.get_factor(&alice, &active.id).await.unwrap().unwrap().data).unwrap();
    assert!(stored["cred"]["counter"].as_u64().unwrap() > 0, "the counter was stored");
}

#[tokio::test]
async fn a_security_key_registers_with_its_aaguid_and_signs_in_as_a_second_factor() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (mut key, _ca) = SoftToken::new(false).unwrap();
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::SECURITY_KEY)).await.unwrap();
    let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "preferred");
    let proof = create(&mut key, &start.prompt);
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert_eq!(active.label, "Security key");
    assert_eq!(active.assurance, Assurance::PhishingResistant);
    assert_eq!(detail(&active, "aaguid").as_deref(), Some("0fb9bcbc-a0d4-4042-bbb0-559bc1631e28"));
    assert_eq!(detail(&active, "attestation_format").as_deref(), Some("packed"));
    let verified = sign_in(&mfa, &alice, &active.id, &mut key).await.unwrap();
    assert_eq!(verified.assurance, Assurance::PhishingResistant);
}

#[tokio::test]
async fn an_older_u2f_key_is_accepted_as_a_second_factor_only() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = U2fSoftKey::new();
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::OLDER_DEVICE)).await.unwrap();
    let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "discouraged");
    let proof = create(&mut key, &start.prompt);
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert_eq!(active.label, "Older security key");
    assert_eq!(detail(&active, "attestation_format").as_deref(), Some("fido-u2f"));
    assert_eq!(detail(&active, "user_verified").as_deref(), Some("false"));
    assert_eq!(detail(&active, "aaguid"), None, "U2F keys have no AAGUID");
    let verified = sign_in(&mfa, &alice, &active.id, &mut key).await.unwrap();
    assert_eq!(verified.assurance, Assurance::PhishingResistant);
}

/// Finding 10: Chromium refuses a registration asking credProtect
/// `userVerificationRequired` unless user verification is required too ("Requested
/// protection settings is inconsistent or incongruent…"), for CTAP2 and U2F keys alike, so
/// "Add a USB security key" never reached a key. Security keys and older devices are second
/// factors: they ask for no credential protection and never require user verification.
#[tokio::test]
async fn security_key_registration_options_are_consistent_for_chromium() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    for (kind, uv) in [
        (FactorKind::SECURITY_KEY, "preferred"),
        (FactorKind::OLDER_DEVICE, "discouraged"),
        (FactorKind::PASSKEY, "required"),
    ] {
        let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(kind.clone())).await.unwrap();
        let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
        let public_key = &options["publicKey"];
        let asked_uv = public_key["authenticatorSelection"]["userVerification"].as_str().unwrap();
        assert_eq!(asked_uv, uv, "{kind:?}");
        // The rule Chromium enforces, for every kind.
        let protection = public_key["extensions"]["credentialProtectionPolicy"].as_str();
        assert!(
            protection != Some("userVerificationRequired") || asked_uv == "required",
            "{kind:?}: credProtect {protection:?} with userVerification {asked_uv}"
        );
        if kind != FactorKind::PASSKEY {
            assert_eq!(protection, None, "{kind:?}: no credential protection for a second factor");
            assert!(public_key["extensions"].get("enforceCredentialProtectionPolicy").is_none(), "{kind:?}");
            assert_eq!(public_key["authenticatorSelection"]["residentKey"], "discouraged", "{kind:?}");
            // "none": the browser may strip the statement; any format a key sends is verified.
            assert_eq!(public_key["attestation"], "none", "{kind:?}");
        }
    }
}

/// What Chromium posts when attestation "none" was asked: the statement removed
/// (`fmt: "none"`), the authenticator data as the key made it.
fn create_without_attestation(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
    let options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    let mut created = auth.do_registration(origin(), options).unwrap();
    let mut object: BTreeMap<String, serde_cbor_2::Value> =
        serde_cbor_2::from_slice(&created.response.attestation_object).unwrap();
    object.insert("fmt".into(), serde_cbor_2::Value::Text("none".into()));
    object.insert("attStmt".into(), serde_cbor_2::Value::Map(BTreeMap::new()));
    created.response.attestation_object = serde_cbor_2::to_vec(&object).unwrap();
    Proof::credential(serde_json::to_string(&created).unwrap()).unwrap()
}

#[tokio::test]
async fn ctap2_and_u2f_keys_register_and_sign_in_through_the_security_key_kind() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (mut ctap2, _) = SoftToken::new(false).unwrap();
    let mut u2f = U2fSoftKey::new();
    let (mut stripped, _) = SoftToken::new(false).unwrap();

    let mut added = Vec::new();
    for format in ["packed", "fido-u2f", "none"] {
        let start =
            mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::SECURITY_KEY)).await.unwrap();
        let proof = match format {
            "packed" => create(&mut ctap2, &start.prompt),
            "fido-u2f" => create(&mut u2f, &start.prompt),
            _ => create_without_attestation(&mut stripped, &start.prompt),
        };
        let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
        assert_eq!(active.kind, FactorKind::SECURITY_KEY, "{format}");
        assert!(active.label.starts_with("Security key"), "{format}: listed as {:?}", active.label);
        assert_eq!(active.assurance, Assurance::PhishingResistant, "{format}");
        assert_eq!(detail(&active, "attestation_format").as_deref(), Some(format));
        assert_eq!(detail(&active, "user_verified").as_deref(), Some("false"), "{format}: no PIN asked");
        added.push(active.id);
    }

    // Each key answers the second step for itself.
    let [packed, fido_u2f, none] = [&added[0], &added[1], &added[2]];
    for (factor, verified) in [
        (packed, sign_in(&mfa, &alice, packed, &mut ctap2).await.unwrap()),
        (fido_u2f, sign_in(&mfa, &alice, fido_u2f, &mut u2f).await.unwrap()),
        (none, sign_in(&mfa, &alice, none, &mut stripped).await.unwrap()),
    ] {
        assert_eq!(verified.factor.as_ref(), Some(factor));
        assert_eq!(verified.assurance, Assurance::PhishingResistant);
        assert!(mfa.get_factor(&alice, factor).await.unwrap().last_used_at.is_some());
    }
}

#[tokio::test]
async fn devices_are_named_listed_renamed_and_deleted() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (mut token, _) = SoftToken::new(false).unwrap();
    let mut passkey = SoftPasskey::new(true);
    let (first, ..) = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut token).await;
    w.clock.advance(Duration::from_secs(1)); // the list is oldest first
    let (second, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut passkey).await;
    let listed = mfa.list_factors(&alice).await.unwrap();
    assert_eq!(listed.iter().map(|f| f.label.as_str()).collect::<Vec<_>>(), vec!["Security key", "Passkey"]);
    assert!(listed[0].preferred);
    mfa.rename_factor(&alice, &second, "Phone").await.unwrap();
    assert_eq!(mfa.get_factor(&alice, &second).await.unwrap().label, "Phone");

    let stale = mfa.start_challenge(&alice, Some(&first)).await.unwrap();
    mfa.remove_factor(&alice, &w.fresh(), &first).await.unwrap();
    assert!(mfa.get_factor(&alice, &second).await.unwrap().preferred, "the remaining device is promoted");
    let proof = get(&mut token, &stale.prompt);
    assert!(mfa.finish_challenge(&alice, &stale.id, &proof).await.is_err(), "a deleted key no longer signs in");
    assert!(matches!(mfa.start_challenge(&alice, Some(&first)).await, Err(Error::NotFound)));
}

#[tokio::test]
async fn any_of_the_users_keys_answers_a_second_factor_challenge() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (mut a, _) = SoftToken::new(false).unwrap();
    let mut b = U2fSoftKey::new();
    let (first, ..) = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut a).await;
    let (second, ..) = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut b).await;
    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(challenge.factor.id, first, "the preferred key is challenged");
    let options: serde_json::Value = serde_json::from_str(options_json(&challenge.prompt)).unwrap();
    assert_eq!(options["publicKey"]["allowCredentials"].as_array().unwrap().len(), 2);
    let proof = get(&mut b, &challenge.prompt);
    let verified = mfa.finish_challenge(&alice, &challenge.id, &proof).await.unwrap();
    assert_eq!(verified.factor, Some(second), "verified against the key that answered");
}

#[tokio::test]
async fn registration_excludes_the_users_existing_credentials() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (mut a, _) = SoftToken::new(false).unwrap();
    let (_, first_key, _) = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut a).await;
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
    let excluded: Vec<&str> = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, vec![first_key.as_str()]);
}

#[tokio::test]
async fn a_ceremony_started_on_one_instance_finishes_on_another() {
    let w = World::new();
    let (one, two) = (w.mfa(), w.mfa());
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let start = one.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let proof = create(&mut key, &start.prompt);
    let active = two.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    let challenge = two.start_challenge(&alice, None).await.unwrap();
    let proof = get(&mut key, &challenge.prompt);
    one.finish_challenge(&alice, &challenge.id, &proof).await.unwrap();
    assert_eq!(active.kind, FactorKind::PASSKEY);
}

// ----- passwordless ----------------------------------------------------------------------

#[tokio::test]
async fn a_passkey_signs_in_without_a_username_and_the_result_names_the_user() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, bob) = (user("alice"), user("bob"));
    let mut alices = SoftPasskey::new(true);
    let mut bobs = SoftPasskey::new(true);
    let (factor, cred, handle) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut alices).await;
    register(&w, &mfa, &bob, FactorKind::PASSKEY, &mut bobs).await;
    let start = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    let proof = get_discoverable(&mut alices, &start.prompt, &cred, &handle);
    let verified = mfa.finish_passwordless(&start.id, &proof).await.unwrap();
    assert_eq!(verified.user, alice);
    assert_eq!(verified.factor, Some(factor));
    assert_eq!(verified.assurance, Assurance::PhishingResistantMultiFactor);
    // Single use.
    assert!(matches!(mfa.finish_passwordless(&start.id, &proof).await, Err(Error::Expired)));
}

#[tokio::test]
async fn a_user_handle_of_another_account_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, bob) = (user("alice"), user("bob"));
    let mut alices = SoftPasskey::new(true);
    let (_, cred, _) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut alices).await;
    let (_, _, bob_handle) = register(&w, &mfa, &bob, FactorKind::PASSKEY, &mut SoftPasskey::new(true)).await;
    let start = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    let proof = get_discoverable(&mut alices, &start.prompt, &cred, &bob_handle);
    assert!(matches!(mfa.finish_passwordless(&start.id, &proof).await, Err(Error::InvalidCode)));
}

#[tokio::test]
async fn an_older_device_credential_never_signs_in_without_a_password() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = U2fSoftKey::new();
    let (factor, cred, handle) = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut key).await;
    let start = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    let proof = get_discoverable(&mut key, &start.prompt, &cred, &handle);
    assert!(matches!(mfa.finish_passwordless(&start.id, &proof).await, Err(Error::InvalidCode)));
    assert!(matches!(mfa.start_passwordless(&FactorKind::OLDER_DEVICE).await, Err(Error::Unsupported)));
    assert!(matches!(mfa.start_passwordless(&FactorKind::SECURITY_KEY).await, Err(Error::Unsupported)));
    assert!(
        w.events.kinds().iter().any(|k| matches!(k, EventKind::PasswordlessFailed { factor: f, .. } if *f == factor))
    );
}

// ----- attacks ---------------------------------------------------------------------------

#[tokio::test]
async fn an_assertion_from_another_origin_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let (factor, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await;
    let challenge = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let proof = get_from(&mut key, &challenge.prompt, "http://localhost:9999");
    assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, &proof).await, Err(Error::InvalidCode)));
}

#[tokio::test]
async fn an_assertion_for_another_rp_id_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let (factor, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await;
    let challenge = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let mut options: RequestChallengeResponse = serde_json::from_str(options_json(&challenge.prompt)).unwrap();
    options.public_key.rp_id = "example.com".into();
    // Past the browser's own checks, straight to the authenticator.
    let asserted = AuthenticatorBackend::perform_auth(&mut key, origin(), options.public_key, 60_000).unwrap();
    let proof = Proof::credential(serde_json::to_string(&asserted).unwrap()).unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, &proof).await, Err(Error::InvalidCode)));
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let (factor, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await;
    let challenge = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let proof = get(&mut key, &challenge.prompt);
    mfa.finish_challenge(&alice, &challenge.id, &proof).await.unwrap();
    // The same state again: it was taken at first use.
    assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, &proof).await, Err(Error::Expired)));
    // Against a fresh challenge: its challenge bytes differ.
    let next = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &next.id, &proof).await, Err(Error::InvalidCode)));
}

#[tokio::test]
async fn state_of_another_user_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, bob) = (user("alice"), user("bob"));
    let mut alices = SoftPasskey::new(true);
    let mut bobs = SoftPasskey::new(true);
    register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut alices).await;
    register(&w, &mfa, &bob, FactorKind::PASSKEY, &mut bobs).await;
    let alice_challenge = mfa.start_challenge(&alice, None).await.unwrap();
    let bob_challenge = mfa.start_challenge(&bob, None).await.unwrap();
    // Alice answers Bob's challenge (as Bob, and as herself).
    let proof = get(&mut alices, &alice_challenge.prompt);
    let mut bob_options: RequestChallengeResponse = serde_json::from_str(options_json(&bob_challenge.prompt)).unwrap();
    bob_options.public_key.allow_credentials =
        serde_json::from_str::<RequestChallengeResponse>(options_json(&alice_challenge.prompt))
            .unwrap()
            .public_key
            .allow_credentials;
    let against_bobs =
        Proof::credential(serde_json::to_string(&alices.do_authentication(origin(), bob_options).unwrap()).unwrap())
            .unwrap();
    assert!(matches!(mfa.finish_challenge(&bob, &bob_challenge.id, &against_bobs).await, Err(Error::InvalidCode)));
    assert!(matches!(mfa.finish_challenge(&alice, &bob_challenge.id, &proof).await, Err(Error::Expired)));
    // Alice's own state still works for her.
    mfa.finish_challenge(&alice, &alice_challenge.id, &proof).await.unwrap();
}

#[tokio::test]
async fn expired_state_is_refused() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let proof = create(&mut key, &start.prompt);
    w.clock.advance(Duration::from_secs(300));
    assert!(matches!(mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await, Err(Error::Expired)));

    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let active =
        mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &create(&mut key, &start.prompt)).await.unwrap();
    let challenge = mfa.start_challenge(&alice, Some(&active.id)).await.unwrap();
    let proof = get(&mut key, &challenge.prompt);
    w.clock.advance(Duration::from_secs(300));
    assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, &proof).await, Err(Error::Expired)));
    let passwordless = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    assert_eq!(passwordless.expires_at, w.clock.now().saturating_add(Duration::from_secs(300)));
}

#[tokio::test]
async fn a_registration_finishes_once() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let proof = create(&mut key, &start.prompt);
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert!(matches!(mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await, Err(Error::Expired)));
}

#[tokio::test]
async fn a_counter_that_goes_backwards_is_refused_as_a_possible_clone() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let (factor, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await;
    let first = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let second = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let older = get(&mut key, &first.prompt); // counter n
    let newer = get(&mut key, &second.prompt); // counter n + 1
    mfa.finish_challenge(&alice, &second.id, &newer).await.unwrap();
    let err = mfa.finish_challenge(&alice, &first.id, &older).await.unwrap_err();
    assert!(matches!(err, Error::PossibleClone), "{err:?}");
    assert!(w.events.kinds().contains(&EventKind::CloneWarning { factor }));
}

#[tokio::test]
async fn a_credential_id_is_never_bound_twice() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, mallory) = (user("alice"), user("mallory"));
    let mut key = U2fSoftKey::new();
    let (_, cred, _) = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut key).await;
    key.repeat_first_credential = true;
    // Another account: the store refuses a credential id bound to anyone.
    let start =
        mfa.start_enrolment(&mallory, &w.fresh(), EnrolmentRequest::new(FactorKind::OLDER_DEVICE)).await.unwrap();
    let proof = create(&mut key, &start.prompt);
    let err = mfa.finish_enrolment(&mallory, &w.fresh(), &start.factor.id, &proof).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err:?}");
    assert_eq!(mfa.get_factor(&mallory, &start.factor.id).await.unwrap().status, FactorStatus::Pending);
    // The same account: its exclude list already refuses the credential.
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::OLDER_DEVICE)).await.unwrap();
    let proof = create(&mut key, &start.prompt);
    let err = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCode), "{err:?}");
    assert_eq!(mfa.get_factor(&alice, &start.factor.id).await.unwrap().status, FactorStatus::Pending);
    assert_eq!(w.store.find_factor_by_lookup_key(&cred).await.unwrap().unwrap().user, alice);
}

#[tokio::test]
async fn malformed_responses_are_refused_without_counting() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let mut key = SoftPasskey::new(true);
    let (factor, ..) = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await;
    let challenge = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    let bad = [
        Proof::credential("not json").unwrap(),
        Proof::credential("[]").unwrap(),
        Proof::credential(r#"{"id": 7}"#).unwrap(),
        Proof::code("123456").unwrap(),
    ];
    for proof in &bad {
        assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, proof).await, Err(Error::InvalidInput { .. })));
        assert!(matches!(mfa.finish_passwordless(&CeremonyId::random().unwrap(), proof).await, Err(Error::Expired)));
    }
    // Nothing was used up: the real answer still works.
    let proof = get(&mut key, &challenge.prompt);
    mfa.finish_challenge(&alice, &challenge.id, &proof).await.unwrap();
    let passwordless = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    for proof in &bad {
        assert!(matches!(mfa.finish_passwordless(&passwordless.id, proof).await, Err(Error::InvalidInput { .. })));
    }
}

/// A passkey's enrolment runs in the browser: there is nothing to send again, and a resend
/// leaves it as it was (it used to replace the registration ceremony with a sign-in one).
#[tokio::test]
async fn a_passkey_enrolment_is_not_resent_and_still_finishes() {
    let w = support::world::World::new();
    let alice = mfa_core::UserId::new("alice").unwrap();
    let start = w.mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let resent = w.mfa.resend_enrolment(&alice, &start.factor.id).await;
    assert!(matches!(resent, Err(Error::Unsupported)), "{resent:?}");
    let mut passkey = SoftPasskey::new(true);
    let proof = support::world::create(&mut passkey, &start.prompt);
    let active = w.mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
}
