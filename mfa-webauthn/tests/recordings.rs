#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Registrations and sign-ins recorded from real authenticators.
//!
//! Soft authenticators only exercise the formats they implement. The recordings under
//! `tests/data/recordings/` come from real devices (YubiKeys, Touch ID, Windows Hello, Android
//! phones, iCloud Keychain), as kept by webauthn-rs in its own tests. Each one is first
//! verified by webauthn-rs-core exactly as a relying party would verify it (the recorded
//! challenge, origin and user-verification policy), which yields the stored credential (the
//! JSON of webauthn-rs's `Passkey`). That credential then goes through [`AuthenticatorPolicy`]
//! configured in each way a deployment can: any authenticator, trusted roots from
//! `tests/data/roots/`, AAGUID allow and deny lists, FIDO metadata from `tests/data/mds/`
//! (hand-written MDS3 payloads), and the refusal of synced passkeys. Two recordings (Windows
//! Hello TPM signed with SHA-1, Android SafetyNet) are refused by webauthn-rs itself and never
//! reach the policy.
//!
//! A recording's attestation certificates may have expired since it was made. Those
//! recordings carry a `verified_at` (unix seconds) inside the certificates' validity, and the
//! reason in their `notes`; the others are checked at the current time.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mfa_webauthn::{Admission, AuthenticatorPolicy, Metadata};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{Passkey, Url};
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::attestation::verify_attestation_ca_chain;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationConveyancePreference, AttestationFormat, AuthenticationState, COSEAlgorithm,
    Credential, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// One recorded ceremony, as stored in `tests/data/recordings/<name>.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recording {
    /// What made the recording.
    device: String,
    /// Where the recording was taken from.
    source: String,
    rp_id: String,
    origin: String,
    /// The registration challenge the relying party issued (base64url).
    challenge: String,
    user_verification: UserVerificationPolicy,
    algorithms: Vec<COSEAlgorithm>,
    format: AttestationFormat,
    /// The AAGUID in the authenticator data; `None` when it is all zeroes.
    aaguid: Option<String>,
    /// File name under `tests/data/roots/` of the root the attestation chains to.
    root_ca: Option<String>,
    /// Unix seconds inside the attestation certificates' validity, for expired certificates.
    verified_at: Option<u64>,
    /// The webauthn-rs error this registration is refused with, if it is refused.
    expected_error: Option<String>,
    notes: String,
    /// The registration response as the browser sent it (JSON, as `toJSON()` makes it).
    registration: serde_json::Value,
    /// A sign-in recorded with the registered credential.
    authentication: Option<RecordedSignIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedSignIn {
    challenge: String,
    response: PublicKeyCredential,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn recording(name: &str) -> Recording {
    let path = data_dir().join("recordings").join(format!("{name}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every recording, by file stem.
fn all_recordings() -> BTreeMap<String, Recording> {
    let mut all = BTreeMap::new();
    for entry in fs::read_dir(data_dir().join("recordings")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            all.insert(name.clone(), recording(&name));
        }
    }
    all
}

fn root_pem(file: &str) -> String {
    let path = data_dir().join("roots").join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ca_list(file: &str) -> AttestationCaList {
    AttestationCaList::try_from(root_pem(file).as_bytes()).unwrap()
}

impl Recording {
    /// The time at which the attestation certificates are checked.
    fn verified_at(&self) -> SystemTime {
        match self.verified_at {
            Some(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            None => SystemTime::now(),
        }
    }

    /// A relying party configured as the one the recording was made against.
    fn relying_party(&self) -> WebauthnCore {
        WebauthnCore::new_unsafe_experts_only(
            &self.rp_id,
            &self.rp_id,
            vec![Url::parse(&self.origin).unwrap()],
            Duration::from_secs(60),
            None,
            None,
        )
    }

    /// The recorded registration response.
    fn registration(&self) -> RegisterPublicKeyCredential {
        serde_json::from_value(self.registration.clone()).unwrap()
    }

    /// The registration state the relying party held: a freshly generated one whose
    /// challenge is replaced by the recorded one.
    fn registration_state(&self, rp: &WebauthnCore) -> RegistrationState {
        let builder = rp
            .new_challenge_register_builder(b"recorded-user", "recorded", "Recorded user")
            .unwrap()
            .attestation(AttestationConveyancePreference::Direct)
            .user_verification_policy(self.user_verification)
            .credential_algorithms(self.algorithms.clone())
            .reject_synchronised_authenticators(false);
        let (_, state) = rp.generate_challenge_register(builder).unwrap();
        let mut state = serde_json::to_value(state).unwrap();
        state["challenge"] = self.challenge.clone().into();
        serde_json::from_value(state).unwrap()
    }

    /// Verifies the recorded registration with webauthn-rs-core.
    fn register(&self) -> Result<Credential, WebauthnError> {
        let rp = self.relying_party();
        let state = self.registration_state(&rp);
        rp.register_credential(&self.registration(), &state, None)
    }

    /// The credential of a registration webauthn-rs accepts.
    fn credential(&self) -> Credential {
        self.register().unwrap_or_else(|e| panic!("{}: registration refused: {e:?}", self.device))
    }

    /// The stored form of the credential, as the policy reads it: the JSON of webauthn-rs's
    /// `Passkey` / `SecurityKey`.
    fn credential_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "cred": self.credential() })).unwrap()
    }

    /// The attestation object's `fmt` and its authenticator data.
    fn attestation_object(&self) -> (String, Vec<u8>) {
        let registration = self.registration();
        let bytes = registration.response.attestation_object.as_slice();
        let object: BTreeMap<String, serde_cbor_2::Value> = serde_cbor_2::from_slice(bytes).unwrap();
        let Some(serde_cbor_2::Value::Text(fmt)) = object.get("fmt") else { panic!("{}: no fmt", self.device) };
        let Some(serde_cbor_2::Value::Bytes(auth_data)) = object.get("authData") else {
            panic!("{}: no authData", self.device)
        };
        (fmt.clone(), auth_data.clone())
    }

    /// The AAGUID in the authenticator data.
    fn aaguid(&self) -> [u8; 16] {
        // rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) | idLength (2) | id | key
        self.attestation_object().1[37..53].try_into().unwrap()
    }

    /// The credential id in the authenticator data: the one a relying party stores.
    fn credential_id(&self) -> Vec<u8> {
        let auth_data = self.attestation_object().1;
        let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        auth_data[55..55 + len].to_vec()
    }

    fn client_data(&self) -> serde_json::Value {
        serde_json::from_slice(self.registration().response.client_data_json.as_slice()).unwrap()
    }
}

fn uuid_text(bytes: [u8; 16]) -> Option<String> {
    if bytes == [0; 16] {
        return None;
    }
    let hex = data_encoding::HEXLOWER.encode(&bytes);
    Some(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

/// Recordings webauthn-rs accepts, i.e. those that yield a credential.
fn accepted_recordings() -> BTreeMap<String, Recording> {
    let mut all = all_recordings();
    all.retain(|_, rec| rec.expected_error.is_none());
    all
}

// ---------------------------------------------------------------------------------------------
// The fixtures say what they hold
// ---------------------------------------------------------------------------------------------

#[test]
fn recordings_cover_every_attestation_family_the_issue_names() {
    let all = all_recordings();
    let formats: Vec<AttestationFormat> = all.values().map(|rec| rec.format.clone()).collect();
    for family in [
        AttestationFormat::Packed,
        AttestationFormat::FIDOU2F,
        AttestationFormat::AppleAnonymous,
        AttestationFormat::Tpm,
        AttestationFormat::AndroidKey,
        AttestationFormat::None,
    ] {
        assert!(formats.contains(&family), "no recording in {family:?}");
    }
    assert!(all.values().any(|rec| rec.authentication.is_some()), "no recorded sign-in");
    for (name, rec) in &all {
        assert!(!rec.device.is_empty() && !rec.notes.is_empty(), "{name}");
        assert!(rec.source.starts_with("webauthn-rs-core 0.6.2 "), "{name}");
    }
}

#[test]
fn recorded_format_and_aaguid_match_the_attestation_object() {
    for (name, rec) in all_recordings() {
        let (fmt, _) = rec.attestation_object();
        assert_eq!(AttestationFormat::try_from(fmt.as_str()).unwrap(), rec.format, "{name}");
        assert_eq!(uuid_text(rec.aaguid()), rec.aaguid, "{name}");
    }
}

#[test]
fn recorded_challenge_and_origin_match_the_client_data() {
    for (name, rec) in all_recordings() {
        let client_data = rec.client_data();
        assert_eq!(client_data["type"], "webauthn.create", "{name}");
        assert_eq!(client_data["challenge"], rec.challenge.as_str(), "{name}");
        assert_eq!(client_data["origin"], rec.origin.as_str(), "{name}");
    }
}

#[test]
fn every_named_root_is_one_certificate_on_disk() {
    for (name, rec) in all_recordings() {
        if let Some(root) = &rec.root_ca {
            let list = ca_list(root);
            assert_eq!(list.len(), 1, "{name}: {root}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// webauthn-rs verifies the recordings
// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_registrations_verify_with_webauthn_rs_in_their_recorded_format() {
    let accepted = accepted_recordings();
    assert!(accepted.len() >= 5);
    for (name, rec) in accepted {
        let cred = rec.credential();
        assert_eq!(cred.attestation_format, rec.format, "{name}");
        assert_eq!(cred.cred_id.as_slice(), rec.credential_id(), "{name}");
    }
}

#[test]
fn windows_hello_tpm_attestation_signed_with_sha1_is_refused_by_webauthn_rs() {
    let rec = recording("windows-hello-tpm");
    assert_eq!(rec.register().unwrap_err(), WebauthnError::CredentialInsecureCryptography);
}

#[test]
fn android_safetynet_attestation_is_refused_by_webauthn_rs() {
    let rec = recording("android-safetynet");
    assert_eq!(rec.register().unwrap_err(), WebauthnError::AttestationNotSupported);
}

#[test]
fn refused_recordings_name_the_refusal_webauthn_rs_gives() {
    for (name, rec) in all_recordings() {
        if let Some(expected) = &rec.expected_error {
            let err = rec.register().unwrap_err();
            assert_eq!(&format!("{err:?}"), expected, "{name}");
        }
    }
}

#[test]
fn recorded_registration_is_refused_under_another_challenge() {
    let rec = recording("yubikey-5ci-packed");
    let rp = rec.relying_party();
    let state =
        Recording { challenge: data_encoding::BASE64URL_NOPAD.encode(&[7; 32]), ..recording("yubikey-5ci-packed") }
            .registration_state(&rp);
    assert_eq!(
        rp.register_credential(&rec.registration(), &state, None).unwrap_err(),
        WebauthnError::MismatchedChallenge
    );
}

#[test]
fn stored_credential_reads_back_as_a_webauthn_rs_passkey() {
    for (name, rec) in accepted_recordings() {
        let passkey: Passkey = serde_json::from_slice(&rec.credential_json()).unwrap();
        assert_eq!(passkey.cred_id().as_slice(), rec.credential_id(), "{name}");
    }
}

#[test]
fn attestation_chains_to_the_recorded_root_at_verified_at() {
    for (name, rec) in accepted_recordings() {
        let Some(root) = &rec.root_ca else { continue };
        let cred = rec.credential();
        let list = ca_list(root);
        let found = verify_attestation_ca_chain(&cred.attestation.data, &list, rec.verified_at())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(found.is_some(), "{name}: chained to no listed root");
    }
}

#[test]
fn attestation_does_not_chain_to_another_devices_root() {
    let roots: Vec<String> = all_recordings().into_values().filter_map(|rec| rec.root_ca).collect();
    for (name, rec) in accepted_recordings() {
        let Some(own) = &rec.root_ca else { continue };
        let cred = rec.credential();
        for other in roots.iter().filter(|root| *root != own) {
            let err =
                verify_attestation_ca_chain(&cred.attestation.data, &ca_list(other), rec.verified_at()).unwrap_err();
            assert!(matches!(err, WebauthnError::AttestationChainNotTrusted(_)), "{name} against {other}: {err:?}");
        }
    }
}

#[test]
fn recordings_with_a_verified_at_no_longer_chain_today() {
    let dated: Vec<(String, Recording)> =
        accepted_recordings().into_iter().filter(|(_, rec)| rec.verified_at.is_some()).collect();
    assert!(dated.len() >= 2);
    for (name, rec) in dated {
        let cred = rec.credential();
        let list = ca_list(rec.root_ca.as_deref().unwrap());
        let err = verify_attestation_ca_chain(&cred.attestation.data, &list, SystemTime::now()).unwrap_err();
        assert!(matches!(err, WebauthnError::AttestationChainNotTrusted(_)), "{name}: {err:?}");
    }
}

/// The authentication state the relying party held for the recorded sign-in.
fn authentication_state(rp: &WebauthnCore, cred: Credential, challenge: &str) -> AuthenticationState {
    let builder = rp.new_challenge_authenticate_builder(vec![cred], None).unwrap();
    let (_, state) = rp.generate_challenge_authenticate(builder).unwrap();
    let mut state = serde_json::to_value(state).unwrap();
    state["challenge"] = challenge.into();
    serde_json::from_value(state).unwrap()
}

#[test]
fn recorded_windows_hello_sign_in_verifies_against_its_recorded_registration() {
    let rec = recording("windows-hello-none");
    let sign_in = rec.authentication.as_ref().unwrap();
    let rp = rec.relying_party();
    let cred = rec.credential();
    let state = authentication_state(&rp, cred.clone(), &sign_in.challenge);
    let result = rp.authenticate_credential(&sign_in.response, &state).unwrap();
    assert_eq!(result.cred_id().as_slice(), cred.cred_id.as_slice());
    assert!(result.user_verified());
    assert_eq!(result.counter(), 1);
}

#[test]
fn recorded_sign_in_is_refused_under_another_challenge() {
    let rec = recording("windows-hello-none");
    let sign_in = rec.authentication.as_ref().unwrap();
    let rp = rec.relying_party();
    let other = data_encoding::BASE64URL_NOPAD.encode(&[7; 32]);
    let state = authentication_state(&rp, rec.credential(), &other);
    assert_eq!(rp.authenticate_credential(&sign_in.response, &state).unwrap_err(), WebauthnError::MismatchedChallenge);
}

// ---------------------------------------------------------------------------------------------
// The authenticator policy on the recordings
// ---------------------------------------------------------------------------------------------

/// Runs the policy on a recording's verified registration, at the recording's `verified_at`.
fn check(rec: &Recording, policy: &AuthenticatorPolicy) -> Result<Admission, mfa_core::Error> {
    check_at(rec, policy, rec.verified_at())
}

fn check_at(rec: &Recording, policy: &AuthenticatorPolicy, now: SystemTime) -> Result<Admission, mfa_core::Error> {
    policy.check_registration(&rec.registration.to_string(), &rec.credential_json(), now)
}

/// The reason of a refusal; anything else fails the test.
fn refusal(result: Result<Admission, mfa_core::Error>) -> &'static str {
    match result {
        Err(mfa_core::Error::AuthenticatorRefused { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A policy trusting the given roots (file names under `tests/data/roots/`).
fn trusting<'a>(roots: impl IntoIterator<Item = &'a str>) -> AuthenticatorPolicy {
    roots.into_iter().fold(AuthenticatorPolicy::any(), |policy, root| policy.trust_ca_pem(&root_pem(root)).unwrap())
}

/// Every root file on disk.
fn all_roots() -> Vec<String> {
    let mut roots: Vec<String> = fs::read_dir(data_dir().join("roots"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pem"))
        .collect();
    roots.sort();
    roots
}

/// The SHA-256 of a root certificate's DER, hex: how an admission names the root.
fn root_digest(file: &str) -> String {
    let pem = root_pem(file);
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    let der = data_encoding::BASE64.decode(body.as_bytes()).unwrap();
    data_encoding::HEXLOWER.encode(&Sha256::digest(&der))
}

fn mds_fixture(name: &str) -> Metadata {
    let path = data_dir().join("mds").join(format!("{name}.json"));
    Metadata::from_trusted_json(&fs::read_to_string(&path).unwrap()).unwrap()
}

/// An AAGUID no recording has.
const OTHER_MODEL: &str = "ee882879-721c-4913-9775-3dfcce97072a";

/// Registrations whose attestation chains to a root (`root_ca`).
macro_rules! attested_device_tests {
    () => {
        #[test]
        fn is_accepted_unattested_when_any_authenticator_is() {
            let admission = check(&recording(REC), &AuthenticatorPolicy::any()).unwrap();
            assert!(!admission.attested);
            assert_eq!(admission.root, None);
            assert_eq!(admission.aaguid, recording(REC).aaguid);
        }

        #[test]
        fn is_accepted_and_attested_when_its_root_is_trusted() {
            let rec = recording(REC);
            let root = rec.root_ca.clone().unwrap();
            let admission = check(&rec, &trusting([root.as_str()])).unwrap();
            assert!(admission.attested);
            assert_eq!(admission.root, Some(root_digest(&root)));
        }

        #[test]
        fn is_accepted_when_its_root_is_one_of_several_trusted() {
            let rec = recording(REC);
            let roots = all_roots();
            let admission = check(&rec, &trusting(roots.iter().map(String::as_str))).unwrap();
            assert_eq!(admission.root, Some(root_digest(rec.root_ca.as_deref().unwrap())));
        }

        #[test]
        fn is_refused_as_untrusted_when_only_other_devices_roots_are_trusted() {
            let rec = recording(REC);
            let own = rec.root_ca.clone().unwrap();
            let others: Vec<String> = all_roots().into_iter().filter(|root| *root != own).collect();
            assert!(!others.is_empty());
            assert_eq!(refusal(check(&rec, &trusting(others.iter().map(String::as_str)))), "attestation_untrusted");
        }
    };
}

/// Registrations without an attestation statement.
macro_rules! unattested_device_tests {
    () => {
        #[test]
        fn is_accepted_unattested_when_any_authenticator_is() {
            let admission = check(&recording(REC), &AuthenticatorPolicy::any()).unwrap();
            assert!(!admission.attested);
            assert!(!admission.device_bound());
            assert_eq!(admission.aaguid, recording(REC).aaguid);
        }

        #[test]
        fn is_refused_for_missing_attestation_when_any_root_is_trusted() {
            let roots = all_roots();
            for root in &roots {
                assert_eq!(
                    refusal(check(&recording(REC), &trusting([root.as_str()]))),
                    "attestation_missing",
                    "{root}"
                );
            }
        }
    };
}

/// Registrations that name their model (a non-zero AAGUID).
macro_rules! model_naming_device_tests {
    () => {
        #[test]
        fn is_accepted_when_its_model_is_allowed() {
            let aaguid = recording(REC).aaguid.unwrap();
            let policy = AuthenticatorPolicy::any().allow_aaguid(OTHER_MODEL).unwrap().allow_aaguid(&aaguid).unwrap();
            assert_eq!(check(&recording(REC), &policy).unwrap().aaguid, Some(aaguid));
        }

        #[test]
        fn is_refused_when_only_other_models_are_allowed() {
            let policy = AuthenticatorPolicy::any().allow_aaguid(OTHER_MODEL).unwrap();
            assert_eq!(refusal(check(&recording(REC), &policy)), "aaguid_not_allowed");
        }

        #[test]
        fn is_refused_when_its_model_is_denied() {
            let aaguid = recording(REC).aaguid.unwrap();
            let policy = AuthenticatorPolicy::any().deny_aaguid(&aaguid).unwrap();
            assert_eq!(refusal(check(&recording(REC), &policy)), "aaguid_denied");
        }

        #[test]
        fn is_accepted_when_other_models_are_denied() {
            let policy = AuthenticatorPolicy::any().deny_aaguid(OTHER_MODEL).unwrap();
            assert!(check(&recording(REC), &policy).is_ok());
        }
    };
}

/// Registrations that hide their model (an all-zero AAGUID).
macro_rules! model_hiding_device_tests {
    () => {
        #[test]
        fn is_refused_by_an_allow_list_as_it_names_no_model() {
            let policy = AuthenticatorPolicy::any().allow_aaguid(OTHER_MODEL).unwrap();
            assert_eq!(refusal(check(&recording(REC), &policy)), "aaguid_not_allowed");
        }

        #[test]
        fn is_accepted_whatever_models_are_denied() {
            let policy = AuthenticatorPolicy::any().deny_aaguid(OTHER_MODEL).unwrap();
            assert_eq!(check(&recording(REC), &policy).unwrap().aaguid, None);
        }
    };
}

/// Registrations of keys that cannot leave the authenticator (not backup-eligible).
macro_rules! device_bound_tests {
    () => {
        #[test]
        fn is_accepted_when_synced_passkeys_are_refused() {
            let admission = check(&recording(REC), &AuthenticatorPolicy::any().refuse_backup_eligible(true)).unwrap();
            assert!(!admission.backup_eligible);
        }
    };
}

mod yubikey_5ci_packed {
    use super::*;
    const REC: &str = "yubikey-5ci-packed";
    attested_device_tests!();
    model_naming_device_tests!();
    device_bound_tests!();

    #[test]
    fn is_device_bound_when_its_root_is_trusted() {
        let policy = trusting(["yubico-u2f-root-ca-serial-457200631.pem"]).refuse_backup_eligible(true);
        assert!(check(&recording(REC), &policy).unwrap().device_bound());
    }

    #[test]
    fn is_named_by_the_metadata_that_lists_it_as_certified() {
        let metadata = mds_fixture("yubikey-5ci-certified");
        assert_eq!(metadata.entry("c5ef55ff-ad9a-4b9f-b580-adebafe026d0").unwrap().status(), "FIDO_CERTIFIED_L1");
        let admission = check(&recording(REC), &AuthenticatorPolicy::any().metadata(metadata)).unwrap();
        assert_eq!(admission.name.as_deref(), Some("YubiKey 5Ci"));
    }

    #[test]
    fn is_refused_when_the_metadata_reports_it_revoked() {
        let metadata = mds_fixture("yubikey-5ci-revoked");
        assert_eq!(metadata.entry("c5ef55ff-ad9a-4b9f-b580-adebafe026d0").unwrap().status(), "REVOKED");
        let policy = AuthenticatorPolicy::any().metadata(metadata);
        assert_eq!(refusal(check(&recording(REC), &policy)), "authenticator_revoked");
    }

    #[test]
    fn is_attested_by_the_root_its_metadata_lists() {
        let policy = AuthenticatorPolicy::any()
            .metadata(mds_fixture("yubikey-5ci-certified"))
            .require_metadata_attestation(true);
        let admission = check(&recording(REC), &policy).unwrap();
        assert!(admission.attested);
        assert_eq!(admission.root, Some(root_digest("yubico-u2f-root-ca-serial-457200631.pem")));
    }
}

mod yubikey_5_fido_u2f {
    use super::*;
    const REC: &str = "yubikey-5-fido-u2f";
    attested_device_tests!();
    model_hiding_device_tests!();
    device_bound_tests!();

    #[test]
    fn is_refused_when_attestation_must_chain_to_a_root_the_metadata_lists_for_its_model() {
        // U2F attestation names no model, so no metadata entry can vouch for it.
        let policy = AuthenticatorPolicy::any()
            .metadata(mds_fixture("yubikey-5ci-certified"))
            .require_metadata_attestation(true);
        assert_eq!(refusal(check(&recording(REC), &policy)), "attestation_untrusted");
    }
}

mod apple_touchid_anonymous {
    use super::*;
    const REC: &str = "apple-touchid-anonymous";
    attested_device_tests!();
    model_hiding_device_tests!();
    device_bound_tests!();

    #[test]
    fn is_refused_as_untrusted_once_its_short_lived_certificate_expired() {
        let rec = recording(REC);
        let policy = trusting(["apple-webauthn-root-ca.pem"]);
        let after_expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(rec.verified_at.unwrap() + 7 * 24 * 3600);
        assert_eq!(refusal(check_at(&rec, &policy, after_expiry)), "attestation_untrusted");
    }
}

mod android_key {
    use super::*;
    const REC: &str = "android-key";
    attested_device_tests!();
    model_naming_device_tests!();
    device_bound_tests!();

    #[test]
    fn is_refused_as_untrusted_after_its_intermediate_expired() {
        let policy = trusting(["android-keystore-software-attestation-root.pem"]);
        // 2026-02-01, after the intermediate's end of validity (2026-01-08).
        let after_expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(1_769_904_000);
        assert_eq!(refusal(check_at(&recording(REC), &policy, after_expiry)), "attestation_untrusted");
    }

    #[test]
    fn is_accepted_unnamed_by_metadata_about_another_model() {
        let policy = AuthenticatorPolicy::any().metadata(mds_fixture("yubikey-5ci-revoked"));
        assert_eq!(check(&recording(REC), &policy).unwrap().name, None);
    }
}

mod windows_hello_none {
    use super::*;
    const REC: &str = "windows-hello-none";
    unattested_device_tests!();
    model_hiding_device_tests!();
    device_bound_tests!();
}

mod icloud_keychain_passkey {
    use super::*;
    const REC: &str = "icloud-keychain-passkey";
    unattested_device_tests!();
    model_naming_device_tests!();

    #[test]
    fn is_reported_as_synced_when_any_authenticator_is() {
        let admission = check(&recording(REC), &AuthenticatorPolicy::any()).unwrap();
        assert!(admission.backup_eligible);
    }

    #[test]
    fn is_refused_when_synced_passkeys_are() {
        let policy = AuthenticatorPolicy::any().refuse_backup_eligible(true);
        assert_eq!(refusal(check(&recording(REC), &policy)), "backup_eligible");
    }
}
