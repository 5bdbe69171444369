//! The sign-in step over JSON: challenge, resend, finish (a code or a security key),
//! a recovery code, a temporary access code, passwordless sign-in with a passkey, and
//! remembering the device.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mfa_core::signin::{OpenChallenge, SignIn};
use mfa_core::{FactorId, FactorKind, Proof, Verified};

use crate::body::JsonBody;
use crate::views::{
    AnswerBody, ChallengeView, CredentialBody, CsrfView, Mediation, PasswordlessStart, PasswordlessView, PromptView,
    RecoveryCodeBody, SignedIn, StartChallenge, TemporaryAccessBody,
};
use crate::{ApiError, CheckedSession, ErrorBody, MfaHttp, MfaSession};

/// The sign-in routes, relative to the prefix the host nests them under.
pub(crate) fn routes() -> axum::Router<MfaHttp> {
    axum::Router::new()
        .route("/csrf", get(csrf))
        .route("/signin/challenge", post(start_challenge))
        .route("/signin/step-up", post(start_step_up))
        .route("/signin/challenge/resend", post(resend_challenge))
        .route("/signin/challenge/finish", post(finish_challenge))
        .route("/signin/recovery-code", post(recovery_code))
        .route("/signin/temporary-access", post(temporary_access))
        .route("/signin/passwordless/start", post(start_passwordless))
        .route("/signin/passwordless/finish", post(finish_passwordless))
}

/// The session's CSRF token (creating the session if needed).
#[utoipa::path(get, path = "/csrf", tag = "sign-in", responses((status = 200, body = CsrfView)))]
pub(crate) async fn csrf(session: MfaSession) -> Result<Json<CsrfView>, ApiError> {
    Ok(Json(CsrfView { csrf_token: session.csrf_token().await? }))
}

/// Challenges the preferred factor, or the one named.
#[utoipa::path(post, path = "/signin/challenge", tag = "sign-in", request_body = StartChallenge,
    responses((status = 200, body = ChallengeView),
        (status = "4XX", description = "`unauthenticated`, `csrf_refused`, `not_found`, `limit_reached`, `rate_limited`, `delivery_capped`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn start_challenge(
    session: CheckedSession,
    JsonBody(request): JsonBody<StartChallenge>,
) -> Result<Json<ChallengeView>, ApiError> {
    let sign_in = session.signed_in().await?;
    let factor = request.factor.as_deref().map(FactorId::parse).transpose()?;
    let mfa = session.mfa();
    let challenge = mfa.start_challenge(&sign_in.user, factor.as_ref()).await?;
    opened(&session, sign_in, &challenge, None).await
}

/// Challenges a factor for the step-up a guarded action asked for
/// ([`MfaSession::require_step_up`]): bound to that action when it named one, so the
/// verification approves that action only. Finish it with `/signin/challenge/finish`.
#[utoipa::path(post, path = "/signin/step-up", tag = "sign-in", request_body = StartChallenge,
    responses((status = 200, body = ChallengeView),
        (status = "4XX", description = "`unauthenticated`, `verification_required`, `not_found`, `limit_reached`, `rate_limited`", body = ErrorBody)))]
pub(crate) async fn start_step_up(
    session: CheckedSession,
    JsonBody(request): JsonBody<StartChallenge>,
) -> Result<Json<ChallengeView>, ApiError> {
    let sign_in = crate::security::finished(&session).await?;
    let factor = request.factor.as_deref().map(FactorId::parse).transpose()?;
    let mfa = session.mfa();
    let action = session.pending_step_up().await?;
    let challenge = match &action {
        Some(action) => mfa.start_step_up(&sign_in.user, factor.as_ref(), action).await?,
        None => mfa.start_challenge(&sign_in.user, factor.as_ref()).await?,
    };
    opened(&session, sign_in, &challenge, action).await
}

/// Keeps a started challenge in the sign-in state and answers its view.
async fn opened(
    session: &MfaSession,
    sign_in: SignIn,
    challenge: &mfa_core::Challenge,
    action: Option<mfa_core::access::ActionDigest>,
) -> Result<Json<ChallengeView>, ApiError> {
    let factor = &challenge.factor;
    let open = OpenChallenge::new(challenge.id, factor.id, factor.kind.clone(), action, challenge.expires_at);
    session.open_challenge(sign_in, open).await?;
    Ok(Json(ChallengeView::of(challenge)))
}

/// Sends a new code for the challenge in progress.
#[utoipa::path(post, path = "/signin/challenge/resend", tag = "sign-in",
    responses((status = 200, body = ChallengeView),
        (status = "4XX", description = "`no_challenge`, `rate_limited`, `delivery_capped`, `expired`, `unsupported`", body = ErrorBody)))]
pub(crate) async fn resend_challenge(session: CheckedSession) -> Result<Json<ChallengeView>, ApiError> {
    let sign_in = session.signed_in().await?;
    let open = sign_in.challenge.clone().ok_or(ApiError::NoChallenge)?;
    let challenge = session.mfa().resend_challenge(&sign_in.user, &open.id).await?;
    let reopened = OpenChallenge::new(challenge.id, open.factor, open.kind, open.action, challenge.expires_at);
    session.open_challenge(sign_in, reopened).await?;
    Ok(Json(ChallengeView::of(&challenge)))
}

impl AnswerBody {
    /// The proof: a code or a credential, exactly one.
    pub(crate) fn proof(&self) -> Result<Proof, ApiError> {
        match (&self.code, &self.credential) {
            (Some(code), None) => Ok(Proof::code(code)?),
            (None, Some(credential)) => Ok(Proof::credential(credential.to_string())?),
            _ => Err(ApiError::Mfa(mfa_core::Error::InvalidInput {
                field: "answer",
                reason: "give a code or a credential",
            })),
        }
    }
}

/// Verifies the answer to the challenge in progress; on success the sign-in step is done
/// (and, if asked, this device is remembered: an `HttpOnly` cookie).
#[utoipa::path(post, path = "/signin/challenge/finish", tag = "sign-in", request_body = AnswerBody,
    responses((status = 200, body = SignedIn),
        (status = "4XX", description = "`code_invalid`, `code_replayed`, `locked`, `disabled`, `expired`, `no_challenge`, `possible_clone`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn finish_challenge(
    session: CheckedSession,
    headers: HeaderMap,
    JsonBody(answer): JsonBody<AnswerBody>,
) -> Result<Response, ApiError> {
    let sign_in = session.signed_in().await?;
    let open = sign_in.challenge.clone().ok_or(ApiError::NoChallenge)?;
    let proof = answer.proof()?;
    let verified = session.mfa().finish_challenge(&sign_in.user, &open.id, &proof).await?;
    complete(&session, &headers, verified, open.kind.as_str(), answer.remember_device, None).await
}

/// Signs in with a recovery code instead of a factor.
#[utoipa::path(post, path = "/signin/recovery-code", tag = "sign-in", request_body = RecoveryCodeBody,
    responses((status = 200, body = SignedIn),
        (status = "4XX", description = "`code_invalid`, `locked`, `disabled`, `unauthenticated`", body = ErrorBody)))]
pub(crate) async fn recovery_code(
    session: CheckedSession,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RecoveryCodeBody>,
) -> Result<Response, ApiError> {
    let sign_in = session.signed_in().await?;
    let mfa = session.mfa();
    let verified = mfa.verify_recovery_code(&sign_in.user, &body.code).await?;
    let remaining = mfa.recovery_codes_remaining(&sign_in.user).await?;
    complete(&session, &headers, verified, "recovery_code", false, Some(remaining)).await
}

/// Signs in with a temporary access code an administrator issued, instead of a factor:
/// for a user who lost every factor (after a reset they may have none at all, where the
/// policy requires a second step). It works once, and counts as this session's second
/// step, so the user can add a new factor right after.
#[utoipa::path(post, path = "/signin/temporary-access", tag = "sign-in", request_body = TemporaryAccessBody,
    responses((status = 200, body = SignedIn),
        (status = "4XX", description = "`code_invalid`, `locked`, `disabled`, `invalid_input`, `unauthenticated`", body = ErrorBody)))]
pub(crate) async fn temporary_access(
    session: CheckedSession,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TemporaryAccessBody>,
) -> Result<Response, ApiError> {
    let sign_in = session.signed_in().await?;
    let verified = session.mfa().verify_temporary_access(&sign_in.user, &body.code).await?;
    complete(&session, &headers, verified, "temporary_access", false, None).await
}

/// WebAuthn request options for a passkey that names the account. With
/// `{"mediation": "conditional"}` they are for passkey autofill (the options say so, for
/// `navigator.credentials.get()`); an empty body is for the browser's dialog. Needs no
/// sign-in.
#[utoipa::path(post, path = "/signin/passwordless/start", tag = "sign-in", request_body = PasswordlessStart,
    responses((status = 200, body = PasswordlessView),
        (status = "4XX", description = "`limit_reached`, `unsupported`, `csrf_refused`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn start_passwordless(
    session: CheckedSession,
    JsonBody(request): JsonBody<PasswordlessStart>,
) -> Result<Json<PasswordlessView>, ApiError> {
    let challenge = session.mfa().start_passwordless(&FactorKind::PASSKEY).await?;
    session.keep_passwordless(challenge.id).await?;
    let mut prompt = PromptView::of(&challenge.prompt, false);
    if let PromptView::CredentialRequest { options: serde_json::Value::Object(options) } = &mut prompt {
        match request.mediation {
            Mediation::Conditional => {
                options.insert("mediation".into(), "conditional".into());
            }
            Mediation::Optional => {
                options.remove("mediation");
            }
        }
    }
    Ok(Json(PasswordlessView { prompt, expires_at: challenge.expires_at.unix_millis() }))
}

/// The passkey's answer; on success, a new sign-in for the account it names.
#[utoipa::path(post, path = "/signin/passwordless/finish", tag = "sign-in", request_body = CredentialBody,
    responses((status = 200, body = SignedIn),
        (status = "4XX", description = "`code_invalid`, `no_challenge`, `expired`, `unauthenticated`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn finish_passwordless(
    session: CheckedSession,
    JsonBody(body): JsonBody<CredentialBody>,
) -> Result<Response, ApiError> {
    let id = session.take_passwordless().await?.ok_or(ApiError::NoChallenge)?;
    let proof = Proof::credential(body.credential.to_string())?;
    let verified = session.mfa().finish_passwordless(&id, &proof).await?;
    if !session.http().host().may_sign_in(&verified.user).await {
        return Err(ApiError::Unauthenticated);
    }
    let sign_in = session.passwordless_verified(verified).await?;
    answer_signed_in(&session, &sign_in, None, None).await
}

/// Records a verification (made with `method`: a factor kind, `recovery_code` or
/// `temporary_access`), remembers the device if asked, and answers where to go.
async fn complete(
    session: &MfaSession,
    headers: &HeaderMap,
    verified: Verified,
    method: &str,
    remember: bool,
    recovery_codes_remaining: Option<usize>,
) -> Result<Response, ApiError> {
    let mfa = session.mfa();
    let cookie = match remember {
        true => {
            let label = device_label(headers);
            let token = mfa.remember_device(&verified, &label).await?;
            Some(session.http().device_cookie(token.token.expose(), token.device.expires_at, mfa.now()))
        }
        false => None,
    };
    // A step-up bound to one action proves that action only: it finishes no sign-in.
    let general = verified.action.is_none();
    let sign_in = session.verified(verified).await?;
    if general {
        session.second_step_done(method).await?;
    }
    answer_signed_in(session, &sign_in, recovery_codes_remaining, cookie).await
}

async fn answer_signed_in(
    session: &MfaSession,
    sign_in: &SignIn,
    recovery_codes_remaining: Option<usize>,
    cookie: Option<HeaderValue>,
) -> Result<Response, ApiError> {
    let standing = crate::status::standing(session, sign_in).await?;
    let answer = SignedIn {
        complete: standing.complete,
        next: session.http().host().after_sign_in(&sign_in.user),
        recovery_codes_remaining,
        csrf_token: session.csrf_token().await?,
        offer_passkey: standing.offer_passkey,
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
