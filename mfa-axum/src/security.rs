//! The security page over JSON: factors (list, add, confirm, resend, rename, prefer,
//! remove), recovery codes, remembered devices, and re-entering the password.
//!
//! Every route needs a finished sign-in: the password, and the second step if the sign-in
//! policy asks for one (a user the policy requires to enrol may enrol). Changes also need
//! the fresh authentication the service asks for (`reauth_required`, `mfa_required`).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mfa_core::access::Outcome;
use mfa_core::signin::SignIn;
use mfa_core::{DeviceId, EnrolmentRequest, FactorId, FactorKind, SecretString, Verified};

use crate::body::JsonBody;
use crate::views::{
    AnswerBody, CodesView, DeviceView, EnrolmentView, FactorView, NewFactorBody, PasswordBody, RemainingView,
    RenameBody, RevokedView, factors,
};
use crate::{ApiError, CheckedSession, ErrorBody, MfaHttp, MfaSession};

/// The security routes, relative to the prefix the host nests them under.
pub(crate) fn routes() -> axum::Router<MfaHttp> {
    axum::Router::new()
        .route("/factors", get(list_factors).post(start_enrolment))
        .route("/factors/{id}", axum::routing::patch(rename).delete(remove))
        .route("/factors/{id}/finish", post(finish_enrolment))
        .route("/factors/{id}/resend", post(resend_enrolment))
        .route("/factors/{id}/preferred", post(set_preferred))
        .route("/recovery-codes", get(recovery_codes_remaining).post(generate_recovery_codes))
        .route("/recovery-codes/regenerate", post(regenerate_recovery_codes))
        .route("/devices", get(list_devices).delete(revoke_all_devices))
        .route("/devices/{id}", axum::routing::delete(revoke_device))
        .route("/reauth", post(reauthenticate))
}

/// The sign-in, if it is finished (or only waits for an enrolment).
pub(crate) async fn finished(session: &MfaSession) -> Result<SignIn, ApiError> {
    let sign_in = session.signed_in().await?;
    let policy = session.http().sign_in_policy_ref();
    let decision = crate::session::decide(&session.mfa(), &sign_in, policy, None).await?;
    match decision.outcome {
        Outcome::VerificationRequired => {
            Err(ApiError::VerificationRequired { step_up: false, candidates: decision.candidates })
        }
        _ => Ok(sign_in),
    }
}

fn factor_id(id: &str) -> Result<FactorId, ApiError> {
    Ok(FactorId::parse(id)?)
}

/// The user's factors, active and pending.
#[utoipa::path(get, path = "/factors", tag = "security",
    responses((status = 200, body = Vec<FactorView>),
        (status = 401, description = "`unauthenticated`, `verification_required`", body = ErrorBody)))]
pub(crate) async fn list_factors(session: MfaSession) -> Result<Json<Vec<FactorView>>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(factors(&session.mfa().list_factors(&sign_in.user).await?)))
}

/// Starts adding a factor; it stays pending until proven. An SMS factor without a number
/// takes the one in the user's profile ([`Host::profile_phone`](crate::Host::profile_phone)),
/// and once confirmed the profile is told ([`Host::phone_confirmed`](crate::Host::phone_confirmed)).
#[utoipa::path(post, path = "/factors", tag = "security", request_body = NewFactorBody,
    responses((status = 201, body = EnrolmentView),
        (status = "4XX", description = "`reauth_required`, `mfa_required`, `unsupported`, `invalid_input`, `limit_reached`, `not_found`, `rate_limited`, `delivery_capped`", body = ErrorBody)))]
pub(crate) async fn start_enrolment(
    session: CheckedSession,
    JsonBody(new): JsonBody<NewFactorBody>,
) -> Result<(StatusCode, Json<EnrolmentView>), ApiError> {
    let sign_in = finished(&session).await?;
    let kind = FactorKind::new(&new.kind)?;
    let mut destination = new.destination;
    if kind == FactorKind::SMS && destination.is_none() {
        destination = session.http().host().profile_phone(&sign_in.user).await;
    }
    let mut request = EnrolmentRequest::new(kind.clone());
    if let Some(label) = new.label {
        request = request.label(label);
    }
    if let Some(destination) = &destination {
        request = request.destination(destination.clone());
    }
    if let Some(old) = new.replaces {
        request = request.replaces(factor_id(&old)?);
    }
    let start = session.mfa().start_enrolment(&sign_in.user, &sign_in.fresh(), request).await?;
    if let Some(number) = destination.filter(|_| kind == FactorKind::SMS) {
        let normalised = session.mfa().normalise_destination(&kind, &number)?.unwrap_or(number);
        session.keep_pending_phone(start.factor.id, &normalised).await?;
    }
    Ok((StatusCode::CREATED, Json(EnrolmentView::of(&start))))
}

/// Proves a pending factor (a code, or a new credential). The proof just verified the new
/// factor, so the session counts it as a verification: a user who adds a first factor
/// stays signed in rather than being asked for it again.
#[utoipa::path(post, path = "/factors/{id}/finish", tag = "security", request_body = AnswerBody,
    params(("id" = String, Path, description = "The pending factor")),
    responses((status = 200, body = FactorView),
        (status = "4XX", description = "`code_invalid`, `expired`, `locked`, `reauth_required`, `mfa_required`, `not_found`, `already_exists`", body = ErrorBody)))]
pub(crate) async fn finish_enrolment(
    session: CheckedSession,
    Path(id): Path<String>,
    JsonBody(answer): JsonBody<AnswerBody>,
) -> Result<Json<FactorView>, ApiError> {
    let sign_in = finished(&session).await?;
    let proof = answer.proof()?;
    let mfa = session.mfa();
    let factor = mfa.finish_enrolment(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?, &proof).await?;
    if let Some(number) = session.take_pending_phone(&factor.id).await? {
        session.http().host().phone_confirmed(&sign_in.user, &number).await;
    }
    let at = mfa.now();
    let verified = Verified::new(sign_in.user, Some(factor.id), Some(factor.kind.clone()), factor.assurance, at);
    session.verified(verified).await?;
    Ok(Json(FactorView::from(&factor)))
}

/// Sends a new code for a pending SMS or email factor.
#[utoipa::path(post, path = "/factors/{id}/resend", tag = "security",
    params(("id" = String, Path, description = "The pending factor")),
    responses((status = 200, body = EnrolmentView),
        (status = "4XX", description = "`rate_limited`, `delivery_capped`, `expired`, `not_found`, `unsupported`", body = ErrorBody)))]
pub(crate) async fn resend_enrolment(
    session: CheckedSession,
    Path(id): Path<String>,
) -> Result<Json<EnrolmentView>, ApiError> {
    let sign_in = finished(&session).await?;
    let start = session.mfa().resend_enrolment(&sign_in.user, &factor_id(&id)?).await?;
    Ok(Json(EnrolmentView::of(&start)))
}

/// Renames a factor.
#[utoipa::path(patch, path = "/factors/{id}", tag = "security", request_body = RenameBody,
    params(("id" = String, Path, description = "The factor")),
    responses((status = 200, body = FactorView),
        (status = "4XX", description = "`not_found`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn rename(
    session: CheckedSession,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenameBody>,
) -> Result<Json<FactorView>, ApiError> {
    let sign_in = finished(&session).await?;
    let factor = session.mfa().rename_factor(&sign_in.user, &factor_id(&id)?, &body.label).await?;
    Ok(Json(FactorView::from(&factor)))
}

/// Makes a factor the one asked first at sign-in.
#[utoipa::path(post, path = "/factors/{id}/preferred", tag = "security",
    params(("id" = String, Path, description = "The factor")),
    responses((status = 204), (status = "4XX", description = "`not_found`, `reauth_required`, `mfa_required`", body = ErrorBody)))]
pub(crate) async fn set_preferred(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    session.mfa().set_preferred(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a factor (the last one turns MFA off and discards the recovery codes).
#[utoipa::path(delete, path = "/factors/{id}", tag = "security",
    params(("id" = String, Path, description = "The factor")),
    responses((status = 204), (status = "4XX", description = "`not_found`, `reauth_required`, `mfa_required`", body = ErrorBody)))]
pub(crate) async fn remove(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    session.mfa().remove_factor(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many unused recovery codes the user holds.
#[utoipa::path(get, path = "/recovery-codes", tag = "security",
    responses((status = 200, body = RemainingView), (status = 401, body = ErrorBody)))]
pub(crate) async fn recovery_codes_remaining(session: MfaSession) -> Result<Json<RemainingView>, ApiError> {
    let sign_in = finished(&session).await?;
    let remaining = session.mfa().recovery_codes_remaining(&sign_in.user).await?;
    Ok(Json(RemainingView { remaining }))
}

/// The user's first recovery codes, shown once.
#[utoipa::path(post, path = "/recovery-codes", tag = "security",
    responses((status = 201, body = CodesView),
        (status = "4XX", description = "`already_exists`, `factor_required`, `reauth_required`, `mfa_required`", body = ErrorBody)))]
pub(crate) async fn generate_recovery_codes(session: CheckedSession) -> Result<Response, ApiError> {
    let sign_in = finished(&session).await?;
    let set = session.mfa().generate_recovery_codes(&sign_in.user, &sign_in.fresh()).await?;
    Ok(codes(set.codes()))
}

/// A new set of recovery codes, shown once; the old codes stop working.
#[utoipa::path(post, path = "/recovery-codes/regenerate", tag = "security",
    responses((status = 201, body = CodesView),
        (status = "4XX", description = "`factor_required`, `reauth_required`, `mfa_required`", body = ErrorBody)))]
pub(crate) async fn regenerate_recovery_codes(session: CheckedSession) -> Result<Response, ApiError> {
    let sign_in = finished(&session).await?;
    let set = session.mfa().regenerate_recovery_codes(&sign_in.user, &sign_in.fresh()).await?;
    Ok(codes(set.codes()))
}

/// The codes, with `Cache-Control: no-store` so no cache keeps them.
fn codes(codes: &[SecretString]) -> Response {
    let body = CodesView { codes: codes.iter().map(|c| c.expose().to_owned()).collect() };
    ([(axum::http::header::CACHE_CONTROL, "no-store")], (StatusCode::CREATED, Json(body))).into_response()
}

/// The user's remembered devices.
#[utoipa::path(get, path = "/devices", tag = "security",
    responses((status = 200, body = Vec<DeviceView>), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_devices(session: MfaSession) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let sign_in = finished(&session).await?;
    let devices = session.mfa().list_devices(&sign_in.user).await?;
    Ok(Json(devices.iter().map(DeviceView::from).collect()))
}

/// Forgets one remembered device.
#[utoipa::path(delete, path = "/devices/{id}", tag = "security",
    params(("id" = String, Path, description = "The device")),
    responses((status = 204), (status = "4XX", description = "`not_found`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn revoke_device(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    let id = DeviceId::parse(&id)?;
    session.mfa().revoke_device(&sign_in.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forgets every remembered device.
#[utoipa::path(delete, path = "/devices", tag = "security",
    responses((status = 200, body = RevokedView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn revoke_all_devices(session: CheckedSession) -> Result<Json<RevokedView>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(RevokedView { revoked: session.mfa().revoke_all_devices(&sign_in.user).await? }))
}

/// Wrong passwords a session may give at `/reauth` before it is signed out.
const MAX_REAUTH_FAILURES: u32 = 5;

/// The user enters the password again before a sensitive change. Five wrong ones end the
/// session.
#[utoipa::path(post, path = "/reauth", tag = "security", request_body = PasswordBody,
    responses((status = 204), (status = 401, description = "`password_invalid`, `unauthenticated`", body = ErrorBody)))]
pub(crate) async fn reauthenticate(
    session: CheckedSession,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    let password = SecretString::new(body.password);
    if !session.http().host().check_password(&sign_in.user, &password).await {
        tracing::warn!(user = %sign_in.user, "a wrong password at re-authentication");
        // Guessing the password from a signed-in session (a stolen one) ends it.
        if session.reauth_failed().await? >= MAX_REAUTH_FAILURES {
            session.sign_out().await?;
            return Err(ApiError::Unauthenticated);
        }
        return Err(ApiError::PasswordInvalid);
    }
    session.reauthenticated().await?;
    Ok(StatusCode::NO_CONTENT)
}
