//! The deployment's authenticator policy (`mfa_webauthn::AuthenticatorPolicy`) through
//! `Mfa`, with software authenticators: attestation roots, model allow and deny lists, FIDO
//! metadata, synced (backup-eligible) passkeys, the hardware-bound assurance, and several
//! origins. Recordings from real devices run through the same policy in
//! `mfa-webauthn/tests/recordings.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use crypto_glue::traits::{EncodeDer, EncodePem, LineEndingPem};
use mfa_core::access::{AccessPolicy, Evidence, Outcome, Requirement};
use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, Assurance, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FactorStatus,
    FactorSummary, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::{AuthenticatorPolicy, Metadata, WebauthnFactor, WebauthnFactorBuilder};
use sha2::{Digest, Sha256};
use support::flagged::FlaggedPasskey;
use support::u2f::U2fSoftKey;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::{AuthenticatorBackendHashedClientData, WebauthnAuthenticator};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_rs_proto::ResidentKeyRequirement;

const ORIGIN: &str = "http://localhost:8080";
/// The AAGUID webauthn-authenticator-rs's `SoftToken` reports.
const SOFT_TOKEN_AAGUID: &str = "0fb9bcbc-a0d4-4042-bbb0-559bc1631e28";
const OTHER_AAGUID: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
    events: RecordingEventSink,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            // Now: the soft authenticators' attestation certificates are made valid from now.
            clock: ManualClock::new(Timestamp::from_unix_secs(
                i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
                    .unwrap(),
            )),
            events: RecordingEventSink::new(),
        }
    }

    /// A service on the shared store whose WebAuthn factor has `policy`.
    fn mfa(&self, policy: AuthenticatorPolicy) -> Mfa {
        self.mfa_with(factor().policy(policy))
    }

    fn mfa_with(&self, factor: WebauthnFactorBuilder) -> Mfa {
        Mfa::builder()
            .shared_store(self.store.clone())
            .clock(self.clock.clone())
            .sealer(AeadSealer::new(KeyId(1), [3; 32]))
            .events(self.events.clone())
            .factor(factor.build().unwrap())
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    fn refusals(&self) -> Vec<(FactorId, &'static str)> {
        let kinds = self.events.kinds();
        kinds
            .into_iter()
            .filter_map(|k| match k {
                EventKind::AuthenticatorRefused { factor, reason } => Some((factor, reason)),
                _ => None,
            })
            .collect()
    }
}

fn factor() -> WebauthnFactorBuilder {
    WebauthnFactor::builder("localhost", "Example", ORIGIN)
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn options_json(prompt: &Prompt) -> &str {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => options_json,
        other => panic!("expected WebAuthn options, got {other:?}"),
    }
}

/// `navigator.credentials.create()` from `from`; the resident-key requirement is lifted
/// client-side for soft authenticators that cannot keep one.
fn create_from(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt, from: &str) -> Proof {
    let mut options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Discouraged);
        sel.require_resident_key = false;
    }
    let created = auth.do_registration(Url::parse(from).unwrap(), options).unwrap();
    Proof::credential(serde_json::to_string(&created).unwrap()).unwrap()
}

fn get_from(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt, from: &str) -> Proof {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    let asserted = auth.do_authentication(Url::parse(from).unwrap(), options).unwrap();
    Proof::credential(serde_json::to_string(&asserted).unwrap()).unwrap()
}

/// Registers a device of `kind` from `from`: the finished summary, or the refusal.
async fn register_from(
    w: &World,
    mfa: &Mfa,
    who: &UserId,
    kind: FactorKind,
    auth: &mut impl WebauthnAuthenticator,
    from: &str,
) -> Result<FactorSummary, Error> {
    let start = mfa.start_enrolment(who, &w.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
    let proof = create_from(auth, &start.prompt, from);
    mfa.finish_enrolment(who, &w.fresh(), &start.factor.id, &proof).await
}

async fn register(
    w: &World,
    mfa: &Mfa,
    who: &UserId,
    kind: FactorKind,
    auth: &mut impl WebauthnAuthenticator,
) -> Result<FactorSummary, Error> {
    register_from(w, mfa, who, kind, auth, ORIGIN).await
}

async fn sign_in_from(
    mfa: &Mfa,
    who: &UserId,
    factor: &FactorId,
    auth: &mut impl WebauthnAuthenticator,
    from: &str,
) -> Result<mfa_core::Verified, Error> {
    let challenge = mfa.start_challenge(who, Some(factor)).await?;
    let proof = get_from(auth, &challenge.prompt, from);
    mfa.finish_challenge(who, &challenge.id, &proof).await
}

async fn sign_in(
    mfa: &Mfa,
    who: &UserId,
    factor: &FactorId,
    auth: &mut impl WebauthnAuthenticator,
) -> Result<mfa_core::Verified, Error> {
    sign_in_from(mfa, who, factor, auth, ORIGIN).await
}

fn detail(summary: &FactorSummary, key: &str) -> Option<String> {
    summary.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn refused(result: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match result {
        Err(Error::AuthenticatorRefused { reason }) => reason,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

/// The user holds no active factor (a refused registration stored nothing usable).
async fn nothing_active(w: &World, who: &UserId) {
    let factors = w.store.list_factors(who).await.unwrap();
    assert!(factors.iter().all(|f| f.status != FactorStatus::Active), "{factors:?}");
}

/// A soft security key with packed attestation from its own test CA, and that CA as PEM and DER.
fn attested_key(claims_uv: bool) -> (SoftToken, String, Vec<u8>) {
    let (token, ca) = SoftToken::new(claims_uv).unwrap();
    (token, ca.to_pem(LineEndingPem::LF).unwrap(), ca.to_der().unwrap())
}

/// An MDS3 payload naming one model with one status report, and its root when given.
fn metadata_json(aaguid: &str, description: &str, status: &str, root_der: Option<&[u8]>) -> String {
    let roots: Vec<String> = root_der.map(|der| data_encoding::BASE64.encode(der)).into_iter().collect();
    serde_json::json!({
        "legalHeader": "Test metadata, not from the FIDO Alliance.",
        "no": 7,
        "nextUpdate": "2030-01-01",
        "entries": [{
            "aaguid": aaguid,
            "metadataStatement": {
                "aaguid": aaguid,
                "description": description,
                "friendlyNames": {},
                "authenticatorVersion": 2,
                "protocolFamily": "fido2",
                "schema": 3,
                "upv": [{"major": 1, "minor": 1}],
                "attestationTypes": ["basic_full"],
                "keyProtection": ["hardware", "secure_element"],
                "matcherProtection": ["on_chip"],
                "tcDisplay": [],
                "attestationRootCertificates": roots,
            },
            "statusReports": [
                {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01", "authenticatorVersion": 2},
                {"status": status, "effectiveDate": "2025-06-01", "authenticatorVersion": 2},
            ],
            "timeOfLastStatusChange": "2025-06-01",
        }],
    })
    .to_string()
}

// ----- attestation roots -----------------------------------------------------------------

#[tokio::test]
async fn packed_attestation_from_a_listed_test_ca_is_accepted_and_from_an_unlisted_one_refused() {
    let w = World::new();
    let (mut listed, listed_pem, listed_der) = attested_key(false);
    let (mut other, _, _) = attested_key(false);
    let alice = user("alice");
    for policy in [
        AuthenticatorPolicy::any().trust_ca_pem(&listed_pem).unwrap(),
        AuthenticatorPolicy::any().trust_ca_der(&listed_der).unwrap(),
    ] {
        let mfa = w.mfa(policy);
        let added = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut listed).await.unwrap();
        assert_eq!(detail(&added, "attested").as_deref(), Some("true"));
        assert_eq!(detail(&added, "attestation_root").map(|r| r.len()), Some(64), "a SHA-256, hex");
        assert!(sign_in(&mfa, &alice, &added.id, &mut listed).await.is_ok());

        let bob = user("bob");
        w.events.clear();
        let result = register(&w, &mfa, &bob, FactorKind::SECURITY_KEY, &mut other).await;
        assert_eq!(refused(result), "attestation_untrusted");
        nothing_active(&w, &bob).await;
        let refusals = w.refusals();
        assert_eq!(refusals.len(), 1, "the refusal is an audit event");
        assert_eq!(refusals[0].1, "attestation_untrusted");
        mfa.remove_factor(&alice, &w.fresh(), &added.id).await.unwrap();
    }
}

#[tokio::test]
async fn with_roots_listed_a_registration_without_attestation_is_refused() {
    let w = World::new();
    let (_, pem, _) = attested_key(false);
    let mfa = w.mfa(AuthenticatorPolicy::any().trust_ca_pem(&pem).unwrap());
    let alice = user("alice");
    // A soft passkey answers with `none` attestation.
    let result = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut SoftPasskey::new(true)).await;
    assert_eq!(refused(result), "attestation_missing");
    // An older U2F key attests with its own certificate, not chaining to the listed root.
    let result = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut U2fSoftKey::new()).await;
    assert_eq!(refused(result), "attestation_untrusted");
    nothing_active(&w, &alice).await;
    assert!(AuthenticatorPolicy::any().trust_ca_pem("not a certificate").is_err());
    assert!(AuthenticatorPolicy::any().trust_ca_der(b"not a certificate").is_err());
}

#[tokio::test]
async fn registration_asks_for_direct_attestation_only_when_the_policy_reads_it() {
    /// The attestation the options ask for, each time for a new user.
    async fn asked(w: &World, mfa: Mfa, kind: FactorKind) -> String {
        let someone = user(&format!("user-{}", FactorId::random().unwrap()));
        let start = mfa.start_enrolment(&someone, &w.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
        let options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
        options["publicKey"]["attestation"].as_str().unwrap_or("none").to_owned()
    }
    let w = World::new();
    for kind in [FactorKind::PASSKEY, FactorKind::SECURITY_KEY] {
        assert_eq!(asked(&w, w.mfa(AuthenticatorPolicy::any()), kind.clone()).await, "none");
        let allow = AuthenticatorPolicy::any().allow_aaguid(OTHER_AAGUID).unwrap();
        assert_eq!(asked(&w, w.mfa(allow), kind.clone()).await, "direct");
        let (_, pem, _) = attested_key(false);
        let roots = AuthenticatorPolicy::any().trust_ca_pem(&pem).unwrap();
        assert_eq!(asked(&w, w.mfa(roots), kind.clone()).await, "direct");
        let deny = AuthenticatorPolicy::any().deny_aaguid(OTHER_AAGUID).unwrap();
        assert_eq!(asked(&w, w.mfa(deny), kind.clone()).await, "none", "no consent prompt for a deny list");
        let synced_only_refused = AuthenticatorPolicy::any().refuse_backup_eligible(true);
        assert_eq!(asked(&w, w.mfa(synced_only_refused), kind).await, "none", "the flags need no attestation");
    }
}

// ----- models ----------------------------------------------------------------------------

#[tokio::test]
async fn an_aaguid_allow_list_admits_listed_models_only_and_a_deny_list_refuses_its_models() {
    let w = World::new();
    let alice = user("alice");
    let allow_it = AuthenticatorPolicy::any().allow_aaguid(SOFT_TOKEN_AAGUID).unwrap();
    let added = register(&w, &w.mfa(allow_it), &alice, FactorKind::SECURITY_KEY, &mut attested_key(false).0).await;
    assert_eq!(detail(&added.unwrap(), "aaguid").as_deref(), Some(SOFT_TOKEN_AAGUID));

    let allow_other = AuthenticatorPolicy::any().allow_aaguid(OTHER_AAGUID).unwrap();
    let mfa = w.mfa(allow_other);
    let result = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut attested_key(false).0).await;
    assert_eq!(refused(result), "aaguid_not_allowed");
    // A key that hides its model (U2F: all-zero AAGUID) is not on any allow list.
    let result = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut U2fSoftKey::new()).await;
    assert_eq!(refused(result), "aaguid_not_allowed");

    let deny_it = AuthenticatorPolicy::any().deny_aaguid(SOFT_TOKEN_AAGUID).unwrap();
    let mfa = w.mfa(deny_it);
    let result = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut attested_key(false).0).await;
    assert_eq!(refused(result), "aaguid_denied");
    assert!(register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut U2fSoftKey::new()).await.is_ok());
    assert!(matches!(
        AuthenticatorPolicy::any().allow_aaguid("yubikey"),
        Err(Error::InvalidInput { field: "aaguid", .. })
    ));
    assert_eq!(w.refusals().len(), 3);
}

#[tokio::test]
async fn a_model_denied_after_registration_no_longer_signs_in() {
    let w = World::new();
    let alice = user("alice");
    let (mut key, _, _) = attested_key(false);
    let added = register(&w, &w.mfa(AuthenticatorPolicy::any()), &alice, FactorKind::SECURITY_KEY, &mut key).await;
    let added = added.unwrap();
    let tightened = w.mfa(AuthenticatorPolicy::any().deny_aaguid(SOFT_TOKEN_AAGUID).unwrap());
    w.events.clear();
    assert_eq!(refused(sign_in(&tightened, &alice, &added.id, &mut key).await), "aaguid_denied");
    assert_eq!(w.refusals(), vec![(added.id, "aaguid_denied")]);
    // The refusal counts nothing against the user: the old policy still signs in.
    assert!(sign_in(&w.mfa(AuthenticatorPolicy::any()), &alice, &added.id, &mut key).await.is_ok());
}

// ----- FIDO metadata ---------------------------------------------------------------------

#[tokio::test]
async fn metadata_names_the_model_and_refuses_a_revoked_one() {
    let w = World::new();
    let alice = user("alice");
    let certified =
        Metadata::from_trusted_json(&metadata_json(SOFT_TOKEN_AAGUID, "Soft Token 5", "FIDO_CERTIFIED_L2", None))
            .unwrap();
    assert_eq!(certified.len(), 1);
    assert_eq!(certified.serial(), 7);
    let entry = certified.entry(&SOFT_TOKEN_AAGUID.to_uppercase()).unwrap();
    assert_eq!((entry.description(), entry.status(), entry.is_refused()), ("Soft Token 5", "FIDO_CERTIFIED_L2", false));
    let mfa = w.mfa(AuthenticatorPolicy::any().metadata(certified));
    let (mut key, _, _) = attested_key(false);
    let added = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut key).await.unwrap();
    assert_eq!(detail(&added, "authenticator").as_deref(), Some("Soft Token 5"), "named in the device list");
    assert!(sign_in(&mfa, &alice, &added.id, &mut key).await.is_ok());

    for status in ["REVOKED", "USER_KEY_PHYSICAL_COMPROMISE", "ATTESTATION_KEY_COMPROMISE", "USER_VERIFICATION_BYPASS"]
    {
        let metadata = Metadata::from_trusted_json(&metadata_json(SOFT_TOKEN_AAGUID, "Soft Token 5", status, None));
        let metadata = metadata.unwrap();
        assert!(metadata.entry(SOFT_TOKEN_AAGUID).unwrap().is_refused(), "{status}");
        let revoked = w.mfa(AuthenticatorPolicy::any().metadata(metadata));
        let bob = user("bob");
        let result = register(&w, &revoked, &bob, FactorKind::SECURITY_KEY, &mut attested_key(false).0).await;
        assert_eq!(refused(result), "authenticator_revoked", "{status}");
        nothing_active(&w, &bob).await;
        // Revoked since registration: the next sign-in is refused too.
        assert_eq!(refused(sign_in(&revoked, &alice, &added.id, &mut key).await), "authenticator_revoked");
    }
    // An update after a revocation does not bring the model back.
    let mut later: serde_json::Value =
        serde_json::from_str(&metadata_json(SOFT_TOKEN_AAGUID, "Soft Token 5", "REVOKED", None)).unwrap();
    later["entries"][0]["statusReports"].as_array_mut().unwrap().push(
        serde_json::json!({"status": "UPDATE_AVAILABLE", "effectiveDate": "2026-01-01", "authenticatorVersion": 3}),
    );
    assert!(Metadata::from_trusted_json(&later.to_string()).unwrap().entry(SOFT_TOKEN_AAGUID).unwrap().is_refused());
    // A report the `fido-mds` crate finds malformed (no `authenticatorVersion`) still counts.
    let mut bare: serde_json::Value =
        serde_json::from_str(&metadata_json(SOFT_TOKEN_AAGUID, "Soft Token 5", "FIDO_CERTIFIED_L1", None)).unwrap();
    bare["entries"][0]["statusReports"].as_array_mut().unwrap().push(serde_json::json!({"status": "REVOKED"}));
    assert!(Metadata::from_trusted_json(&bare.to_string()).unwrap().entry(SOFT_TOKEN_AAGUID).unwrap().is_refused());
    assert!(Metadata::from_trusted_json("{}").is_err());
    assert!(Metadata::from_blob(&metadata_json(SOFT_TOKEN_AAGUID, "x", "REVOKED", None)).is_err(), "unsigned");
}

#[tokio::test]
async fn metadata_roots_can_be_required_for_the_model() {
    let w = World::new();
    let alice = user("alice");
    let (mut key, _, der) = attested_key(false);
    let json = metadata_json(SOFT_TOKEN_AAGUID, "Soft Token 5", "FIDO_CERTIFIED_L1", Some(&der));
    let policy = AuthenticatorPolicy::any().metadata(Metadata::from_trusted_json(&json).unwrap());
    let mfa = w.mfa(policy.require_metadata_attestation(true));
    let added = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut key).await.unwrap();
    assert_eq!(detail(&added, "attested").as_deref(), Some("true"));
    assert!(sign_in(&mfa, &alice, &added.id, &mut key).await.is_ok());
    // The same model from a factory whose root the metadata does not list.
    let result = register(&w, &mfa, &alice, FactorKind::SECURITY_KEY, &mut attested_key(false).0).await;
    assert_eq!(refused(result), "attestation_untrusted");
    // A model the metadata does not know.
    let result = register(&w, &mfa, &alice, FactorKind::OLDER_DEVICE, &mut U2fSoftKey::new()).await;
    assert_eq!(refused(result), "attestation_untrusted");
}

// ----- synced and device-bound -----------------------------------------------------------

#[tokio::test]
async fn backup_eligible_passkeys_are_refused_when_configured() {
    let w = World::new();
    let alice = user("alice");
    let mut synced = FlaggedPasskey::new([7; 16], true, true);
    let mfa = w.mfa(AuthenticatorPolicy::any().refuse_backup_eligible(true));
    let result = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut synced).await;
    assert_eq!(refused(result), "backup_eligible");
    nothing_active(&w, &alice).await;
    let mut bound = FlaggedPasskey::new([7; 16], false, false);
    let added = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut bound).await.unwrap();
    assert_eq!(detail(&added, "backup_eligible").as_deref(), Some("false"));
    assert!(sign_in(&mfa, &alice, &added.id, &mut bound).await.is_ok());
    // An authenticator that starts reporting backup eligibility is refused from then on.
    bound.backup_eligible = true;
    assert_eq!(refused(sign_in(&mfa, &alice, &added.id, &mut bound).await), "backup_eligible");
    // The default accepts synced passkeys.
    let added = register(&w, &w.mfa(AuthenticatorPolicy::any()), &alice, FactorKind::PASSKEY, &mut synced).await;
    assert_eq!(detail(&added.unwrap(), "backup_eligible").as_deref(), Some("true"));
}

#[tokio::test]
async fn backup_state_is_kept_and_updated_at_every_sign_in() {
    let w = World::new();
    let alice = user("alice");
    let mfa = w.mfa(AuthenticatorPolicy::any());
    let mut key = FlaggedPasskey::new([9; 16], true, false);
    let added = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await.unwrap();
    assert_eq!(detail(&added, "backup_eligible").as_deref(), Some("true"));
    assert_eq!(detail(&added, "backup_state").as_deref(), Some("false"));
    for backed_up in [true, false, true] {
        w.clock.advance(Duration::from_secs(1));
        key.backup_state = backed_up;
        sign_in(&mfa, &alice, &added.id, &mut key).await.unwrap();
        let listed = mfa.get_factor(&alice, &added.id).await.unwrap();
        assert_eq!(detail(&listed, "backup_state"), Some(backed_up.to_string()), "visible in the device list");
        assert_eq!(detail(&listed, "backup_eligible").as_deref(), Some("true"));
    }
}

#[tokio::test]
async fn an_attested_device_bound_passkey_proves_hardware_bound_assurance() {
    let w = World::new();
    let alice = user("alice");
    let (mut key, pem, _) = attested_key(true);
    let mfa = w.mfa(AuthenticatorPolicy::any().trust_ca_pem(&pem).unwrap());
    let added = register(&w, &mfa, &alice, FactorKind::PASSKEY, &mut key).await.unwrap();
    assert_eq!(added.assurance, Assurance::HardwareBound);
    let verified = sign_in(&mfa, &alice, &added.id, &mut key).await.unwrap();
    assert_eq!(verified.assurance, Assurance::HardwareBound);
    assert!(verified.assurance > Assurance::PhishingResistantMultiFactor);
    // An access policy can require it: met by this sign-in, not by an ordinary passkey's.
    let policy = AccessPolicy::new(Requirement::Required).min_assurance(Assurance::HardwareBound);
    let factors = mfa.list_factors(&alice).await.unwrap();
    let now = w.clock.now();
    let met = policy.evaluate(&alice, &factors, &Evidence::verified([verified.clone()]), None, now);
    assert!(matches!(met.outcome, Outcome::Satisfied(_)), "{}", met.explain());
    let mut weaker = verified;
    weaker.assurance = Assurance::PhishingResistantMultiFactor;
    let unmet = policy.evaluate(&alice, &factors, &Evidence::verified([weaker]), None, now);
    assert_eq!(unmet.outcome, Outcome::VerificationRequired, "{}", unmet.explain());

    // Without a trusted root, the same key is an ordinary passkey.
    let bob = user("bob");
    let (mut key, _, _) = attested_key(true);
    let open = w.mfa(AuthenticatorPolicy::any());
    let added = register(&w, &open, &bob, FactorKind::PASSKEY, &mut key).await.unwrap();
    assert_eq!(added.assurance, Assurance::PhishingResistantMultiFactor);
    assert_eq!(
        sign_in(&open, &bob, &added.id, &mut key).await.unwrap().assurance,
        Assurance::PhishingResistantMultiFactor
    );
    // A policy that now requires attestation refuses the unattested credential at sign-in.
    let (_, pem, _) = attested_key(true);
    let strict = w.mfa(AuthenticatorPolicy::any().trust_ca_pem(&pem).unwrap());
    assert_eq!(refused(sign_in(&strict, &bob, &added.id, &mut key).await), "attestation_untrusted");
    // A security key (no user verification asked) stays phishing-resistant only.
    let (mut key, pem, _) = attested_key(false);
    let keys = w.mfa(AuthenticatorPolicy::any().trust_ca_pem(&pem).unwrap());
    let added = register(&w, &keys, &bob, FactorKind::SECURITY_KEY, &mut key).await.unwrap();
    assert_eq!(added.assurance, Assurance::PhishingResistant);
}

// ----- several origins -------------------------------------------------------------------

/// What a browser (or a mobile app's platform API) on `origin` would post: the client data
/// is written here, so any origin can be claimed, as an attacker's page would.
fn create_on(auth: &mut FlaggedPasskey, prompt: &Prompt, origin: &str) -> Proof {
    let options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    let client_data = client_data("webauthn.create", b64(&options.public_key.challenge), origin);
    let mut created = auth.perform_register(Sha256::digest(&client_data).to_vec(), options.public_key, 60_000).unwrap();
    created.response.client_data_json = client_data;
    Proof::credential(serde_json::to_string(&created).unwrap()).unwrap()
}

fn get_on(auth: &mut FlaggedPasskey, prompt: &Prompt, origin: &str) -> Proof {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    let client_data = client_data("webauthn.get", b64(&options.public_key.challenge), origin);
    let mut asserted = auth.perform_auth(Sha256::digest(&client_data).to_vec(), options.public_key, 60_000).unwrap();
    asserted.response.client_data_json = client_data;
    Proof::credential(serde_json::to_string(&asserted).unwrap()).unwrap()
}

async fn sign_in_on(
    mfa: &Mfa,
    who: &UserId,
    factor: &FactorId,
    key: &mut FlaggedPasskey,
    origin: &str,
) -> Result<mfa_core::Verified, Error> {
    let challenge = mfa.start_challenge(who, Some(factor)).await?;
    let proof = get_on(key, &challenge.prompt, origin);
    mfa.finish_challenge(who, &challenge.id, &proof).await
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

fn client_data(kind: &str, challenge: String, origin: &str) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false}),
    )
    .unwrap()
}

#[tokio::test]
async fn one_relying_party_on_several_listed_origins_and_no_other() {
    let w = World::new();
    let alice = user("alice");
    let (site, login) = ("https://example.com", "https://login.example.com");
    let app = "android:apk-key-hash:lWvbDmEh9bF6H5hH3s6Jm6yq7BnMoE1H4kN3rY0hZ8w";
    let on = |builder: WebauthnFactorBuilder| w.mfa_with(builder);
    let mfa = on(WebauthnFactor::builder("example.com", "Example", site).allow_origin(login).allow_origin(app));
    let mut key = FlaggedPasskey::new([5; 16], false, false);
    // Registered on the login subdomain, used on the site and in the app too.
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let proof = create_on(&mut key, &start.prompt, login);
    let added = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    for origin in [site, login, app] {
        assert!(sign_in_on(&mfa, &alice, &added.id, &mut key, origin).await.is_ok(), "{origin}");
    }
    // Unlisted: another subdomain, another port, another scheme, another app, another site.
    let unlisted = [
        "https://evil.example.com",
        "https://example.com:8443",
        "http://example.com",
        "android:apk-key-hash:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "https://example.org",
    ];
    for origin in unlisted {
        assert!(
            matches!(sign_in_on(&mfa, &alice, &added.id, &mut key, origin).await, Err(Error::InvalidCode)),
            "{origin}"
        );
        let bob = user("bob");
        let start = mfa.start_enrolment(&bob, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
        let proof = create_on(&mut FlaggedPasskey::new([5; 16], false, false), &start.prompt, origin);
        let result = mfa.finish_enrolment(&bob, &w.fresh(), &start.factor.id, &proof).await;
        assert!(matches!(result, Err(Error::InvalidCode)), "{origin}: {result:?}");
        nothing_active(&w, &bob).await;
    }
    // Each refused sign-in counted as a failure.
    assert!(matches!(sign_in_on(&mfa, &alice, &added.id, &mut key, site).await, Err(Error::Locked { .. })));
    // Subdomains, when allowed, are every subdomain of a listed host (same scheme and port).
    let subdomains = on(WebauthnFactor::builder("example.com", "Example", site).allow_subdomains(true));
    let carol = user("carol");
    let mut key = FlaggedPasskey::new([5; 16], false, false);
    let start = subdomains.start_enrolment(&carol, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await;
    let start = start.unwrap();
    let proof = create_on(&mut key, &start.prompt, "https://tenant-a.example.com");
    let added = subdomains.finish_enrolment(&carol, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    for origin in ["https://tenant-b.example.com", "https://a.b.example.com", site] {
        assert!(sign_in_on(&subdomains, &carol, &added.id, &mut key, origin).await.is_ok(), "{origin}");
    }
    for origin in ["https://example.org", "https://example.com.evil.org", "http://tenant-b.example.com", app] {
        assert!(sign_in_on(&subdomains, &carol, &added.id, &mut key, origin).await.is_err(), "{origin}");
    }
    assert!(WebauthnFactor::builder("example.com", "Example", site).allow_origin("not an origin").build().is_err());
}
