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
use mfa_core::access::{Outcome, RememberedDevice};
use mfa_core::signin::SignIn;
use mfa_core::{
    DeviceId, EnrolmentRequest, EnrolmentStart, FactorId, FactorKind, FactorSummary, SecretString, Verified,
};
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::signin::Answer;
use crate::views::PromptView;
use crate::{ApiError, CheckedSession, MfaHttp, MfaSession};

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
async fn finished(session: &MfaSession) -> Result<SignIn, ApiError> {
    let sign_in = session.signed_in().await?;
    let http = session.http();
    let decision = crate::session::decide(http.mfa(), &sign_in, http.sign_in_policy_ref(), None).await?;
    match decision.outcome {
        Outcome::VerificationRequired => Err(ApiError::VerificationRequired { step_up: false }),
        _ => Ok(sign_in),
    }
}

fn factor_id(id: &str) -> Result<FactorId, ApiError> {
    Ok(FactorId::parse(id)?)
}

/// `GET /factors`: the user's factors, active and pending.
async fn list_factors(session: MfaSession) -> Result<Json<Vec<FactorSummary>>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(session.http().mfa().list_factors(&sign_in.user).await?))
}

/// What to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFactor {
    kind: FactorKind,
    label: Option<String>,
    destination: Option<String>,
    replaces: Option<FactorId>,
}

/// A started enrolment: the pending factor and what to show.
#[derive(Debug, Serialize)]
struct EnrolmentView {
    factor: FactorSummary,
    prompt: PromptView,
    expires_at: mfa_core::Timestamp,
}

impl EnrolmentView {
    fn of(start: &EnrolmentStart) -> Self {
        Self { factor: start.factor.clone(), prompt: PromptView::of(&start.prompt, true), expires_at: start.expires_at }
    }
}

/// `POST /factors`: starts adding a factor.
async fn start_enrolment(
    session: CheckedSession,
    JsonBody(new): JsonBody<NewFactor>,
) -> Result<(StatusCode, Json<EnrolmentView>), ApiError> {
    let sign_in = finished(&session).await?;
    let mut request = EnrolmentRequest::new(new.kind);
    if let Some(label) = new.label {
        request = request.label(label);
    }
    if let Some(destination) = new.destination {
        request = request.destination(destination);
    }
    if let Some(old) = new.replaces {
        request = request.replaces(old);
    }
    let start = session.http().mfa().start_enrolment(&sign_in.user, &sign_in.fresh(), request).await?;
    Ok((StatusCode::CREATED, Json(EnrolmentView::of(&start))))
}

/// `POST /factors/{id}/finish`: proves a pending factor (a code, or a new credential).
///
/// The proof just verified the new factor, so the session counts it as a verification:
/// a user who adds a first factor stays signed in rather than being asked for it again.
async fn finish_enrolment(
    session: CheckedSession,
    Path(id): Path<String>,
    JsonBody(answer): JsonBody<Answer>,
) -> Result<Json<FactorSummary>, ApiError> {
    let sign_in = finished(&session).await?;
    let proof = answer.proof()?;
    let mfa = session.http().mfa();
    let factor = mfa.finish_enrolment(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?, &proof).await?;
    let at = mfa.now();
    let verified = Verified::new(sign_in.user, Some(factor.id), Some(factor.kind.clone()), factor.assurance, at);
    session.verified(verified).await?;
    Ok(Json(factor))
}

/// `POST /factors/{id}/resend`: a new code for a pending SMS or email factor.
async fn resend_enrolment(session: CheckedSession, Path(id): Path<String>) -> Result<Json<EnrolmentView>, ApiError> {
    let sign_in = finished(&session).await?;
    let start = session.http().mfa().resend_enrolment(&sign_in.user, &factor_id(&id)?).await?;
    Ok(Json(EnrolmentView::of(&start)))
}

/// A new name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    label: String,
}

/// `PATCH /factors/{id}`: renames a factor.
async fn rename(
    session: CheckedSession,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rename>,
) -> Result<Json<FactorSummary>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(session.http().mfa().rename_factor(&sign_in.user, &factor_id(&id)?, &body.label).await?))
}

/// `POST /factors/{id}/preferred`: the factor asked first at sign-in.
async fn set_preferred(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    session.http().mfa().set_preferred(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /factors/{id}`: removes a factor.
async fn remove(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    session.http().mfa().remove_factor(&sign_in.user, &sign_in.fresh(), &factor_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many recovery codes are left.
#[derive(Debug, Serialize)]
struct Remaining {
    remaining: usize,
}

/// `GET /recovery-codes`: how many unused recovery codes the user holds.
async fn recovery_codes_remaining(session: MfaSession) -> Result<Json<Remaining>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(Remaining { remaining: session.http().mfa().recovery_codes_remaining(&sign_in.user).await? }))
}

/// New recovery codes, shown once.
#[derive(Debug, Serialize)]
struct Codes {
    codes: Vec<String>,
}

/// `POST /recovery-codes`: the user's first recovery codes.
async fn generate_recovery_codes(session: CheckedSession) -> Result<Response, ApiError> {
    let sign_in = finished(&session).await?;
    let set = session.http().mfa().generate_recovery_codes(&sign_in.user, &sign_in.fresh()).await?;
    Ok(codes(set.codes()))
}

/// `POST /recovery-codes/regenerate`: a new set; the old codes stop working.
async fn regenerate_recovery_codes(session: CheckedSession) -> Result<Response, ApiError> {
    let sign_in = finished(&session).await?;
    let set = session.http().mfa().regenerate_recovery_codes(&sign_in.user, &sign_in.fresh()).await?;
    Ok(codes(set.codes()))
}

/// The codes, with `Cache-Control: no-store` so no cache keeps them.
fn codes(codes: &[SecretString]) -> Response {
    let body = Codes { codes: codes.iter().map(|c| c.expose().to_owned()).collect() };
    ([(axum::http::header::CACHE_CONTROL, "no-store")], (StatusCode::CREATED, Json(body))).into_response()
}

/// `GET /devices`: the user's remembered devices.
async fn list_devices(session: MfaSession) -> Result<Json<Vec<RememberedDevice>>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(session.http().mfa().list_devices(&sign_in.user).await?))
}

/// `DELETE /devices/{id}`: forgets one remembered device.
async fn revoke_device(session: CheckedSession, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    let id = DeviceId::parse(&id)?;
    session.http().mfa().revoke_device(&sign_in.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many devices were forgotten.
#[derive(Debug, Serialize)]
struct Revoked {
    revoked: u64,
}

/// `DELETE /devices`: forgets every remembered device.
async fn revoke_all_devices(session: CheckedSession) -> Result<Json<Revoked>, ApiError> {
    let sign_in = finished(&session).await?;
    Ok(Json(Revoked { revoked: session.http().mfa().revoke_all_devices(&sign_in.user).await? }))
}

/// Wrong passwords a session may give at `/reauth` before it is signed out.
const MAX_REAUTH_FAILURES: u32 = 5;

/// The password, again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Password {
    password: String,
}

/// `POST /reauth`: the user enters the password again before a sensitive change.
async fn reauthenticate(session: CheckedSession, JsonBody(body): JsonBody<Password>) -> Result<StatusCode, ApiError> {
    let sign_in = finished(&session).await?;
    let password = SecretString::new(body.password);
    if !session.http().host().check_password(&sign_in.user, &password).await {
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
