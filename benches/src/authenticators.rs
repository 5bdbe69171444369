//! WebAuthn wiring shared by the WebAuthn benches: the relying party they all use, software
//! authenticators registering through the service, their assertions, and the ceremony
//! state the service stored (what the raw webauthn-rs side is given).

use mfa_core::{
    CeremonyId, EnrolmentRequest, FactorId, FactorKind, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId,
    store::Store,
};
use serde::de::DeserializeOwned;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url};

use crate::setup::{BenchResult, fresh};

/// The relying party id every WebAuthn bench uses.
pub const RP_ID: &str = "localhost";
/// The origin every WebAuthn bench's authenticators answer from.
pub const ORIGIN: &str = "http://localhost:8080";

/// [`ORIGIN`] as a URL.
///
/// # Errors
///
/// Never in practice (the constant parses).
pub fn origin() -> BenchResult<Url> {
    Ok(Url::parse(ORIGIN)?)
}

/// The options JSON of a WebAuthn prompt.
///
/// # Errors
///
/// If the prompt is not a WebAuthn one.
pub fn options_json(prompt: &Prompt) -> BenchResult<&str> {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => Ok(options_json),
        _ => Err("expected a WebAuthn prompt".into()),
    }
}

/// A credential registered through the service.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The factor.
    pub factor: FactorId,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The WebAuthn user handle the service gave the user (what a discoverable credential
    /// returns at sign-in).
    pub user_handle: Vec<u8>,
}

/// Registers `authenticator` for `user` as a factor of `kind` through the service, as
/// `navigator.credentials.create()` would. Software authenticators keep no resident keys,
/// so the resident-key requirement of a passkey registration is lifted client-side (a
/// platform authenticator keeps it); nothing else is changed.
///
/// # Errors
///
/// If enrolment fails.
pub async fn register(
    mfa: &Mfa,
    clock: &ManualClock,
    user: &UserId,
    kind: FactorKind,
    authenticator: &mut (impl WebauthnAuthenticator + ?Sized),
) -> BenchResult<Registered> {
    let start = mfa.start_enrolment(user, &fresh(clock), EnrolmentRequest::new(kind)).await?;
    let mut options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)?)?;
    let handle = options["publicKey"]["user"]["id"].as_str().ok_or("the options name no user handle")?;
    let user_handle = data_encoding::BASE64URL_NOPAD.decode(handle.as_bytes())?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "discouraged".into();
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
    let options: CreationChallengeResponse = serde_json::from_value(options)?;
    let created = authenticator.do_registration(origin()?, options)?;
    let credential_id = created.raw_id.to_vec();
    let proof = Proof::credential(serde_json::to_string(&created)?)?;
    let factor = mfa.finish_enrolment(user, &fresh(clock), &start.factor.id, &proof).await?.id;
    Ok(Registered { factor, credential_id, user_handle })
}

/// An authenticator's answer to a WebAuthn prompt (`navigator.credentials.get()` from
/// [`ORIGIN`]), parsed and as the JSON the browser posts.
///
/// # Errors
///
/// If the prompt is not a WebAuthn one or the authenticator refuses.
pub fn assert_with(
    authenticator: &mut (impl WebauthnAuthenticator + ?Sized),
    prompt: &Prompt,
) -> BenchResult<(PublicKeyCredential, String)> {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)?)?;
    let credential = authenticator.do_authentication(origin()?, options)?;
    let json = serde_json::to_string(&credential)?;
    Ok((credential, json))
}

/// The webauthn-rs state the service stored for ceremony `id` (of `user`, or of nobody for
/// passwordless sign-in), for the raw side to finish the same assertion with.
///
/// # Errors
///
/// If the ceremony is missing or holds another kind of state.
pub async fn ceremony_state<S: DeserializeOwned>(
    store: &dyn Store,
    user: Option<&UserId>,
    id: &CeremonyId,
    now: Timestamp,
) -> BenchResult<S> {
    let stored = store.get_ceremony(user, id, now).await?.ok_or("the ceremony is missing")?;
    let payload: serde_json::Value = serde_json::from_slice(&stored.payload)?;
    Ok(serde_json::from_value(payload["data"].clone())?)
}
