//! The OpenAPI document of the JSON endpoints, generated from their types.

use utoipa::OpenApi;

use crate::admin::views::{
    CoverageView, FactorStateView, IssueTemporaryAccessBody, KindCountView, MfaStatusView, RemovedView,
    TemporaryAccessRevokedView, TemporaryAccessView, UnlockBody, UnlockedView,
};
use crate::views::{
    AnswerBody, ChallengeView, CodesView, CredentialBody, CsrfView, Detail, DeviceView, EnrolmentView, FactorView,
    Mediation, NewFactorBody, PasswordBody, PasswordlessStart, PasswordlessView, PromptView, RecoveryCodeBody,
    RemainingView, RenameBody, RevokedView, SessionView, SignedIn, StartChallenge, TemporaryAccessBody,
};
use crate::{ErrorBody, admin, security, signin, status};

/// The document, paths relative to the prefix the router is nested under.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mfa-rs",
        description = "Multi-factor authentication: the sign-in step, the security page and help-desk operations. \
                       Every change needs \
                       the session's CSRF token in `x-csrf-token`; every refusal is `{code, message, retry_after}` \
                       with a stable `code` (plus `field` for `invalid_input`, `candidates` for \
                       `verification_required` and `step_up_required`). Besides the codes each endpoint lists, \
                       every change may answer `csrf_refused` (403); every endpoint that needs a sign-in \
                       `unauthenticated` (401), and `verification_required` (401) until the second step is done; \
                       any endpoint `session_unavailable` or `backend_unavailable` (503) and `internal` (500)."
    ),
    paths(
        signin::csrf,
        signin::start_challenge,
        signin::start_step_up,
        signin::resend_challenge,
        signin::finish_challenge,
        signin::recovery_code,
        signin::temporary_access,
        signin::start_passwordless,
        signin::finish_passwordless,
        status::status,
        status::dismiss_passkey_offer,
        security::list_factors,
        security::start_enrolment,
        security::finish_enrolment,
        security::resend_enrolment,
        security::rename,
        security::set_preferred,
        security::remove,
        security::recovery_codes_remaining,
        security::generate_recovery_codes,
        security::regenerate_recovery_codes,
        security::list_devices,
        security::revoke_device,
        security::revoke_all_devices,
        security::reauthenticate,
        admin::find_users,
        admin::status,
        admin::reset,
        admin::unlock,
        admin::issue_temporary_access,
        admin::revoke_temporary_access,
        admin::coverage,
    ),
    components(schemas(
        AnswerBody, ChallengeView, CodesView, CredentialBody, CsrfView, DeviceView, Detail, EnrolmentView, ErrorBody,
        FactorView, Mediation, NewFactorBody, PasswordBody, PasswordlessStart, PasswordlessView, PromptView,
        RecoveryCodeBody, RemainingView, RenameBody, RevokedView, SessionView, SignedIn, StartChallenge,
        TemporaryAccessBody,
        CoverageView, FactorStateView, IssueTemporaryAccessBody, KindCountView, MfaStatusView, RemovedView,
        TemporaryAccessRevokedView, TemporaryAccessView, UnlockBody, UnlockedView,
    )),
    tags(
        (name = "sign-in", description = "The second step of a sign-in, passwordless sign-in, and the session's \
                                          sign-in with the passkey offer"),
        (name = "security", description = "The security page: factors, recovery codes, remembered devices"),
        (name = "admin", description = "Help-desk operations on other users' MFA, for a sign-in that verified a second \
                                        factor at AAL2 (any kind but email) whatever the sign-in policy, each allowed or \
                                        refused (`forbidden`) by the host's administrator check"),
    )
)]
struct Document;

/// The OpenAPI document of [`MfaHttp::router`](crate::MfaHttp::router) nested under
/// `prefix` (`"/mfa"`), for the host to serve or to generate clients from. The router also
/// serves it, at `{prefix}/openapi.json`.
///
/// # Examples
///
/// ```
/// let document = mfa_axum::openapi("/mfa");
/// assert!(document.paths.paths.contains_key("/mfa/signin/challenge"));
/// ```
pub fn openapi(prefix: &str) -> utoipa::openapi::OpenApi {
    let document = Document::openapi();
    match prefix.trim_end_matches('/') {
        "" => document,
        prefix => {
            utoipa::openapi::OpenApi::new(document.info.clone(), utoipa::openapi::Paths::new()).nest(prefix, document)
        }
    }
}

/// `GET /openapi.json`: the document with paths relative to the prefix.
pub(crate) async fn serve() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(Document::openapi())
}
