//! What a session's sign-in proved, as a page shows it, and the passkey upgrade offer: after
//! a sign-in with the password and a second step other than a passkey, the user is offered
//! to add a passkey in one step.

use axum::Json;
use axum::http::StatusCode;
use axum::routing::{get, post};
use mfa_core::signin::SignIn;
use mfa_core::{FactorKind, FactorStatus, FactorSummary};

use crate::session::FirstStep;
use crate::views::SessionView;
use crate::{ApiError, CheckedSession, ErrorBody, MfaHttp, MfaSession};

/// The session routes, relative to the prefix the host nests them under.
pub(crate) fn routes() -> axum::Router<MfaHttp> {
    axum::Router::new()
        .route("/session", get(status))
        .route("/session/passkey-offer/dismiss", post(dismiss_passkey_offer))
}

/// Where a sign-in stands: whether it meets the sign-in policy, and whether to offer a
/// passkey now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Standing {
    pub(crate) complete: bool,
    pub(crate) offer_passkey: bool,
}

/// Where `sign_in` stands, from one listing of the user's factors.
pub(crate) async fn standing(session: &MfaSession, sign_in: &SignIn) -> Result<Standing, ApiError> {
    let mfa = session.mfa();
    let factors = mfa.list_factors(&sign_in.user).await?;
    let policy = session.http().sign_in_policy_ref();
    let complete = crate::session::evaluate(&mfa, sign_in, policy, None, &factors).is_satisfied();
    let offer_passkey = complete && offers_passkey(session, sign_in, &factors).await?;
    Ok(Standing { complete, offer_passkey })
}

/// The rule of the passkey offer (the crate docs' "Passkey upgrade"), for a complete
/// sign-in: the host allows it, the service can add passkeys, the sign-in started with the
/// password and was finished in this session with a second step other than a passkey, the
/// user has no active passkey, and did not answer "Not now" in this session.
async fn offers_passkey(session: &MfaSession, sign_in: &SignIn, factors: &[FactorSummary]) -> Result<bool, ApiError> {
    let http = session.http();
    if !http.offers_passkeys() || !session.mfa().supports(&FactorKind::PASSKEY) {
        return Ok(false);
    }
    if session.first_step().await? != FirstStep::Password {
        return Ok(false);
    }
    let second = session.second_step().await?;
    if second.is_none_or(|kind| kind == FactorKind::PASSKEY.as_str()) {
        return Ok(false);
    }
    let has_passkey = factors.iter().any(|f| f.kind == FactorKind::PASSKEY && f.status == FactorStatus::Active);
    if has_passkey || session.passkey_offer_dismissed().await? {
        return Ok(false);
    }
    Ok(http.host().offer_passkey(&sign_in.user).await)
}

/// This session's sign-in: how it started and was finished, the assurance it reached, and
/// whether to offer adding a passkey.
#[utoipa::path(get, path = "/session", tag = "sign-in",
    responses((status = 200, body = SessionView),
        (status = 401, description = "`unauthenticated`", body = ErrorBody)))]
pub(crate) async fn status(session: MfaSession) -> Result<Json<SessionView>, ApiError> {
    let sign_in = session.signed_in().await?;
    let standing = standing(&session, &sign_in).await?;
    Ok(Json(SessionView {
        user: sign_in.user.to_string(),
        complete: standing.complete,
        first_step: session.first_step().await?.as_str().to_owned(),
        second_step: session.second_step().await?,
        assurance: sign_in.assurance().map(|a| a.as_str().to_owned()),
        remembered_device: sign_in.device.is_some(),
        offer_passkey: standing.offer_passkey,
    }))
}

/// "Not now": the passkey offer is not made again in this session (the next sign-in makes
/// it again; the host is told, [`Host::passkey_offer_dismissed`](crate::Host::passkey_offer_dismissed),
/// to keep the answer longer if it wants).
#[utoipa::path(post, path = "/session/passkey-offer/dismiss", tag = "sign-in",
    responses((status = 204),
        (status = 401, description = "`unauthenticated`, `verification_required`", body = ErrorBody)))]
pub(crate) async fn dismiss_passkey_offer(session: CheckedSession) -> Result<StatusCode, ApiError> {
    let sign_in = crate::security::finished(&session).await?;
    session.dismiss_passkey_offer().await?;
    session.http().host().passkey_offer_dismissed(&sign_in.user).await;
    Ok(StatusCode::NO_CONTENT)
}
