//! The sign-in step over JSON: challenge, resend, finish (a code or a security key),
//! a recovery code, passwordless sign-in with a passkey, and remembering the device.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mfa_core::signin::{OpenChallenge, SignIn};
use mfa_core::{FactorId, FactorKind, Proof, Verified};
use serde::Deserialize;

use crate::body::JsonBody;
use crate::views::{ChallengeView, CsrfView, PromptView, SignedIn};
use crate::{ApiError, CheckedSession, MfaHttp, MfaSession};

/// The sign-in routes, relative to the prefix the host nests them under.
pub(crate) fn routes() -> axum::Router<MfaHttp> {
    axum::Router::new()
        .route("/csrf", get(csrf))
        .route("/signin/challenge", post(start_challenge))
        .route("/signin/challenge/resend", post(resend_challenge))
        .route("/signin/challenge/finish", post(finish_challenge))
        .route("/signin/recovery-code", post(recovery_code))
        .route("/signin/passwordless/start", post(start_passwordless))
        .route("/signin/passwordless/finish", post(finish_passwordless))
}

/// `GET /csrf`: the session's CSRF token (creating the session if needed).
async fn csrf(session: MfaSession) -> Result<Json<CsrfView>, ApiError> {
    Ok(Json(CsrfView { csrf_token: session.csrf_token().await? }))
}

/// Which factor to challenge; the preferred one when absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartChallenge {
    factor: Option<FactorId>,
}

/// `POST /signin/challenge`: challenges the preferred factor, or the one named.
async fn start_challenge(
    session: CheckedSession,
    JsonBody(request): JsonBody<StartChallenge>,
) -> Result<Json<ChallengeView>, ApiError> {
    let sign_in = session.signed_in().await?;
    let mfa = session.http().mfa();
    let challenge = mfa.start_challenge(&sign_in.user, request.factor.as_ref()).await?;
    let open = OpenChallenge::new(
        challenge.id,
        challenge.factor.id,
        challenge.factor.kind.clone(),
        None,
        challenge.expires_at,
    );
    session.open_challenge(sign_in, open).await?;
    Ok(Json(ChallengeView::of(&challenge)))
}

/// `POST /signin/challenge/resend`: a new code for the challenge in progress.
async fn resend_challenge(session: CheckedSession) -> Result<Json<ChallengeView>, ApiError> {
    let sign_in = session.signed_in().await?;
    let open = sign_in.challenge.clone().ok_or(ApiError::NoChallenge)?;
    let challenge = session.http().mfa().resend_challenge(&sign_in.user, &open.id).await?;
    let reopened = OpenChallenge::new(challenge.id, open.factor, open.kind, open.action, challenge.expires_at);
    session.open_challenge(sign_in, reopened).await?;
    Ok(Json(ChallengeView::of(&challenge)))
}

/// The answer to a challenge: a typed code or a credential response (JSON), and whether
/// to remember this device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Answer {
    code: Option<String>,
    credential: Option<serde_json::Value>,
    #[serde(default)]
    remember_device: bool,
}

impl Answer {
    pub(crate) fn proof(&self) -> Result<Proof, ApiError> {
        let bad =
            ApiError::Mfa(mfa_core::Error::InvalidInput { field: "answer", reason: "give a code or a credential" });
        match (&self.code, &self.credential) {
            (Some(code), None) => Ok(Proof::code(code)?),
            (None, Some(credential)) => Ok(Proof::credential(credential.to_string())?),
            _ => Err(bad),
        }
    }
}

/// `POST /signin/challenge/finish`: verifies the answer to the challenge in progress.
async fn finish_challenge(
    session: CheckedSession,
    headers: HeaderMap,
    JsonBody(answer): JsonBody<Answer>,
) -> Result<Response, ApiError> {
    let sign_in = session.signed_in().await?;
    let open = sign_in.challenge.clone().ok_or(ApiError::NoChallenge)?;
    let proof = answer.proof()?;
    let verified = session.http().mfa().finish_challenge(&sign_in.user, &open.id, &proof).await?;
    complete(&session, &headers, verified, answer.remember_device, None).await
}

/// A recovery code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryCode {
    code: String,
}

/// `POST /signin/recovery-code`: signs in with a recovery code instead of a factor.
async fn recovery_code(
    session: CheckedSession,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RecoveryCode>,
) -> Result<Response, ApiError> {
    let sign_in = session.signed_in().await?;
    let mfa = session.http().mfa();
    let verified = mfa.verify_recovery_code(&sign_in.user, &body.code).await?;
    let remaining = mfa.recovery_codes_remaining(&sign_in.user).await?;
    complete(&session, &headers, verified, false, Some(remaining)).await
}

/// `POST /signin/passwordless/start`: WebAuthn request options for a passkey that names
/// the account (also for conditional mediation: the browser's passkey autofill).
async fn start_passwordless(session: CheckedSession) -> Result<Json<PromptAnswer>, ApiError> {
    let challenge = session.http().mfa().start_passwordless(&FactorKind::PASSKEY).await?;
    session.keep_passwordless(challenge.id).await?;
    Ok(Json(PromptAnswer { prompt: PromptView::of(&challenge.prompt, false), expires_at: challenge.expires_at }))
}

/// The answer of a start: what to show, until when.
#[derive(Debug, serde::Serialize)]
struct PromptAnswer {
    prompt: PromptView,
    expires_at: mfa_core::Timestamp,
}

/// A credential response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credential {
    credential: serde_json::Value,
}

/// `POST /signin/passwordless/finish`: the passkey's answer; on success, a new sign-in for
/// the account it names.
async fn finish_passwordless(
    session: CheckedSession,
    JsonBody(body): JsonBody<Credential>,
) -> Result<Response, ApiError> {
    let id = session.take_passwordless().await?.ok_or(ApiError::NoChallenge)?;
    let proof = Proof::credential(body.credential.to_string())?;
    let verified = session.http().mfa().finish_passwordless(&id, &proof).await?;
    if !session.http().host().may_sign_in(&verified.user).await {
        return Err(ApiError::Unauthenticated);
    }
    let sign_in = session.passwordless_verified(verified).await?;
    answer_signed_in(&session, &sign_in, None, None).await
}

/// Records a verification, remembers the device if asked, and answers where to go.
async fn complete(
    session: &MfaSession,
    headers: &HeaderMap,
    verified: Verified,
    remember: bool,
    recovery_codes_remaining: Option<usize>,
) -> Result<Response, ApiError> {
    let mfa = session.http().mfa();
    let cookie = match remember {
        true => {
            let label = device_label(headers);
            let token = mfa.remember_device(&verified, &label).await?;
            Some(session.http().device_cookie(token.token.expose(), token.device.expires_at, mfa.now()))
        }
        false => None,
    };
    let sign_in = session.verified(verified).await?;
    answer_signed_in(session, &sign_in, recovery_codes_remaining, cookie).await
}

async fn answer_signed_in(
    session: &MfaSession,
    sign_in: &SignIn,
    recovery_codes_remaining: Option<usize>,
    cookie: Option<HeaderValue>,
) -> Result<Response, ApiError> {
    let http = session.http();
    let decision = crate::session::decide(http.mfa(), sign_in, http.sign_in_policy_ref(), None).await?;
    let answer = SignedIn {
        complete: decision.is_satisfied(),
        next: http.host().after_sign_in(&sign_in.user),
        recovery_codes_remaining,
        csrf_token: session.csrf_token().await?,
    };
    let mut response = Json(answer).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A name for a remembered device, from the browser's `User-Agent`.
fn device_label(headers: &HeaderMap) -> String {
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .iter()
        .find(|b| agent.contains(**b))
        .map(|b| match *b {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            _ => "Safari",
        })
        .unwrap_or("Browser");
    let system = ["Windows", "Android", "iPhone", "iPad", "Mac OS X", "Linux"]
        .iter()
        .find(|s| agent.contains(**s))
        .map(|s| if *s == "Mac OS X" { "macOS" } else { s })
        .unwrap_or("this device");
    format!("{browser} on {system}")
}
