//! Help-desk operations over JSON: find a user, read their MFA status, reset it, clear
//! failure counters, issue or revoke a temporary access code, and deployment-wide
//! coverage.
//!
//! Every route needs a sign-in that verified a second factor in this session at AAL2: any
//! kind but email (a recovery code or a temporary access code counts, a remembered device
//! does not), whatever the sign-in policy asks of other users: an administrator's password
//! alone, phished or guessed, never reaches the help desk. The sign-in must also meet the
//! sign-in policy and the host's [`MfaHttp::admin_policy`](crate::MfaHttp::admin_policy) (a
//! window after which the administrator verifies again, say): the three are merged with
//! [`AccessPolicy::strictest`] and evaluated as the guard evaluates a policy.
//!
//! That is judged first, and the same way for every caller, before the host's check is
//! asked: a user with a factor that would do but no such verification in this session is
//! answered `verification_required` (401, with `candidates`: challenge one of them at
//! `POST {prefix}/signin/step-up`), a user with no factor that counts `enrolment_required`
//! (403). So a refusal never tells whether the caller is an administrator, and nothing is
//! read or changed. Then every operation goes through [`Mfa::admin`](mfa_core::Mfa::admin)
//! for the signed-in user: the host's [`AdminCheck`](mfa_core::admin::AdminCheck) decides
//! (`forbidden` otherwise), and the events name the administrator. Changes need the CSRF
//! token like every other.
//!
//! # Security
//!
//! An administrator account without a factor is protected by its password alone until it
//! gets one: whoever knows the password can add the first factor, which verifies it in that
//! session as any new factor does. Give administrators their factor when their account is
//! made (or sign them in with a temporary access code to add it), and watch the
//! `FactorAdded` events of administrator accounts.

pub(crate) mod views;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mfa_core::access::{Outcome, Requirement};
use mfa_core::admin::Admin;
use mfa_core::store::ThrottleScope;
use mfa_core::{AccessPolicy, Assurance, Error, FactorId, UserId};

use self::views::{
    CoverageQuery, CoverageView, FindQuery, IssueTemporaryAccessBody, MfaStatusView, RemovedView,
    TemporaryAccessRevokedView, TemporaryAccessView, UnlockBody, UnlockedView,
};
use crate::body::JsonBody;
use crate::{ApiError, CheckedSession, ErrorBody, MfaHttp, MfaSession};

/// At most this many users are answered for one search.
pub(crate) const MAX_FOUND: usize = 20;

/// The threshold of [`coverage`] when the request names none.
const DEFAULT_FEW_CODES: usize = 3;

/// The help-desk routes, relative to the prefix the host nests them under.
pub(crate) fn routes() -> axum::Router<MfaHttp> {
    axum::Router::new()
        .route("/admin/users", get(find_users))
        .route("/admin/users/{user}", get(status))
        .route("/admin/users/{user}/reset", post(reset))
        .route("/admin/users/{user}/unlock", post(unlock))
        .route("/admin/users/{user}/temporary-access", post(issue_temporary_access).delete(revoke_temporary_access))
        .route("/admin/coverage", get(coverage))
}

/// The least an administrator's own sign-in proves, whatever the sign-in policy: a second
/// factor verified in this session at AAL2 (every kind but email counts), a remembered
/// device not counting, no grace period to enrol.
pub(crate) fn floor() -> AccessPolicy {
    AccessPolicy::new(Requirement::Required).min_assurance(Assurance::RestrictedOutOfBand).remembered_devices(false)
}

/// The administrative handle of the signed-in user, whose sign-in must meet
/// [`MfaHttp::administrator_policy`](crate::MfaHttp::administrator_policy) (`verification_required`
/// or `enrolment_required` otherwise). That is judged before the host's check is asked, and
/// the same way for every caller, so a refusal does not tell whether the caller is an
/// administrator. Whether they may do anything is the check's to say, at each operation.
async fn administrator(session: &MfaSession) -> Result<Admin, ApiError> {
    let sign_in = session.signed_in().await?;
    let mfa = session.mfa();
    let policy = session.http().administrator_policy();
    let decision = crate::session::decide(&mfa, &sign_in, &policy, None).await?;
    match decision.outcome {
        // The handle keeps the request's context (address, user agent) for the events.
        Outcome::Satisfied(_) => Ok(mfa.admin(&sign_in.user)),
        Outcome::EnrolmentRequired => Err(ApiError::EnrolmentRequired),
        _ => Err(ApiError::VerificationRequired { step_up: false, candidates: decision.candidates }),
    }
}

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::Mfa(Error::InvalidInput { field, reason })
}

/// The user a path names.
fn subject(user: &str) -> Result<UserId, ApiError> {
    Ok(UserId::new(user)?)
}

/// Finds users through the host's directory ([`Host::find_users`](crate::Host::find_users))
/// and answers the MFA status of each (at most [`MAX_FOUND`]). Each status is read through
/// the check; a search that finds nobody is checked too (as a status read of the query),
/// so whether someone exists is never told to a caller the check refuses.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(FindQuery),
    responses((status = 200, body = Vec<MfaStatusView>),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody),
        (status = 400, description = "`invalid_input`", body = ErrorBody)))]
pub(crate) async fn find_users(session: MfaSession, uri: Uri) -> Result<Json<Vec<MfaStatusView>>, ApiError> {
    let admin = administrator(&session).await?;
    let Query(FindQuery { query }) =
        Query::try_from_uri(&uri).map_err(|_| invalid("query", "give the user to find as ?query="))?;
    let query = query.trim();
    let probe = UserId::new(query).map_err(|_| invalid("query", "1 to 256 characters, no control characters"))?;
    let mut found = session.http().host().find_users(query).await;
    found.sort();
    found.dedup();
    found.truncate(MAX_FOUND);
    if found.is_empty() {
        admin.status(&probe).await?;
        return Ok(Json(Vec::new()));
    }
    let mut statuses = Vec::with_capacity(found.len());
    for user in &found {
        match admin.status(user).await {
            Ok(status) => statuses.push(MfaStatusView::from(&status)),
            // The check may allow some users and not others: answer those it allows.
            Err(Error::Forbidden) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if statuses.is_empty() {
        return Err(Error::Forbidden.into());
    }
    Ok(Json(statuses))
}

/// A user's MFA status: factors with their failure counters and locks, recovery codes
/// left, remembered devices, an unused temporary access code.
#[utoipa::path(get, path = "/admin/users/{user}", tag = "admin",
    params(("user" = String, Path, description = "The user id")),
    responses((status = 200, body = MfaStatusView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody),
        (status = 400, description = "`invalid_input`", body = ErrorBody)))]
pub(crate) async fn status(session: MfaSession, Path(user): Path<String>) -> Result<Json<MfaStatusView>, ApiError> {
    let admin = administrator(&session).await?;
    let status = admin.status(&subject(&user)?).await?;
    Ok(Json(MfaStatusView::from(&status)))
}

/// Resets the user's MFA: every factor, recovery code, enrolment or challenge in
/// progress, temporary access code, remembered device and failure counter goes. The user
/// signs in with the password alone afterwards, or with a temporary access code where the
/// policy requires a second step.
#[utoipa::path(post, path = "/admin/users/{user}/reset", tag = "admin",
    params(("user" = String, Path, description = "The user id")),
    responses((status = 200, body = RemovedView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody)))]
pub(crate) async fn reset(session: CheckedSession, Path(user): Path<String>) -> Result<Json<RemovedView>, ApiError> {
    let admin = administrator(&session).await?;
    Ok(Json(RemovedView::from(admin.reset(&subject(&user)?).await?)))
}

impl UnlockBody {
    /// The counters to clear: `None` for all of the user's.
    fn scope(&self) -> Result<Option<ThrottleScope>, ApiError> {
        let factor = || match &self.factor {
            Some(id) => Ok(ThrottleScope::Factor(FactorId::parse(id)?)),
            None => Err(invalid("factor", "name the factor to unlock")),
        };
        let scope = match self.scope.as_deref() {
            None if self.factor.is_some() => Some(factor()?),
            Some("factor") => Some(factor()?),
            _ if self.factor.is_some() => return Err(invalid("scope", "a factor goes with the scope `factor`")),
            None | Some("all") => None,
            Some("recovery_codes") => Some(ThrottleScope::RecoveryCodes),
            Some("device_tokens") => Some(ThrottleScope::DeviceTokens),
            Some("temporary_access") => Some(ThrottleScope::TemporaryAccess),
            Some(_) => {
                return Err(invalid("scope", "one of all, factor, recovery_codes, device_tokens, temporary_access"));
            }
        };
        Ok(scope)
    }
}

/// Clears failure counters, so a locked or hard-stopped factor (or recovery codes, ...)
/// works again at once: one factor's, one family's, or all of the user's.
#[utoipa::path(post, path = "/admin/users/{user}/unlock", tag = "admin", request_body = UnlockBody,
    params(("user" = String, Path, description = "The user id")),
    responses((status = 200, body = UnlockedView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody),
        (status = "4XX", description = "`not_found`, `invalid_input`", body = ErrorBody)))]
pub(crate) async fn unlock(
    session: CheckedSession,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<UnlockBody>,
) -> Result<Json<UnlockedView>, ApiError> {
    let admin = administrator(&session).await?;
    let (user, scope) = (subject(&user)?, body.scope()?);
    Ok(Json(UnlockedView { cleared: admin.unlock(&user, scope).await? }))
}

/// Issues a temporary access code for the user (replacing an unused one), shown once in
/// this answer, which no cache may keep (`Cache-Control: no-store`). The user signs in with
/// it at `POST /signin/temporary-access`, once, before it expires.
#[utoipa::path(post, path = "/admin/users/{user}/temporary-access", tag = "admin",
    request_body = IssueTemporaryAccessBody,
    params(("user" = String, Path, description = "The user id")),
    responses((status = 201, body = TemporaryAccessView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody),
        (status = 400, description = "`invalid_input`", body = ErrorBody)))]
pub(crate) async fn issue_temporary_access(
    session: CheckedSession,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<IssueTemporaryAccessBody>,
) -> Result<Response, ApiError> {
    let admin = administrator(&session).await?;
    let lifetime = body.lifetime_secs.map(std::time::Duration::from_secs);
    let issued = admin.issue_temporary_access(&subject(&user)?, lifetime).await?;
    let view = TemporaryAccessView::from(&issued);
    Ok(([(header::CACHE_CONTROL, "no-store")], (StatusCode::CREATED, Json(view))).into_response())
}

/// Revokes the user's unused temporary access code.
#[utoipa::path(delete, path = "/admin/users/{user}/temporary-access", tag = "admin",
    params(("user" = String, Path, description = "The user id")),
    responses((status = 200, body = TemporaryAccessRevokedView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody)))]
pub(crate) async fn revoke_temporary_access(
    session: CheckedSession,
    Path(user): Path<String>,
) -> Result<Json<TemporaryAccessRevokedView>, ApiError> {
    let admin = administrator(&session).await?;
    Ok(Json(TemporaryAccessRevokedView { revoked: admin.revoke_temporary_access(&subject(&user)?).await? }))
}

/// Deployment-wide coverage: users per factor kind, users without an active factor, users
/// running out of recovery codes.
#[utoipa::path(get, path = "/admin/coverage", tag = "admin", params(CoverageQuery),
    responses((status = 200, body = CoverageView),
        (status = 401, description = "`unauthenticated`, `verification_required`: no second-factor verification at AAL2 in this session", body = ErrorBody),
        (status = 403, description = "`enrolment_required`: no factor that counts for the help desk; `forbidden`: the host's check refused", body = ErrorBody),
        (status = 400, description = "`invalid_input`", body = ErrorBody)))]
pub(crate) async fn coverage(session: MfaSession, uri: Uri) -> Result<Json<CoverageView>, ApiError> {
    let admin = administrator(&session).await?;
    let Query(CoverageQuery { few_codes }) =
        Query::try_from_uri(&uri).map_err(|_| invalid("few_codes", "a whole number"))?;
    let few_codes = few_codes.unwrap_or(DEFAULT_FEW_CODES);
    Ok(Json(CoverageView::of(&admin.coverage(few_codes).await?, few_codes)))
}
