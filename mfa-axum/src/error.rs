//! Errors mapped once: every refusal becomes an HTTP status, a stable machine code, a human
//! message (through [`Messages`], for other languages) and, where it applies, `retry_after`.
//!
//! The body is always `{"code": "...", "message": "...", "retry_after": <seconds or null>}`,
//! with `field` for `invalid_input` and `candidates` (the factors that would do) for
//! `verification_required` and `step_up_required`.
//! No body ever carries a code, secret or token, and a backend failure's cause goes to the
//! log, not to the client.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::views::FactorView;

/// A refusal of the HTTP layer: a service error, or one of the layer's own.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The service refused ([`mfa_core::Error::code`] names it).
    Mfa(mfa_core::Error),
    /// Nobody has signed in with a password in this session (`unauthenticated`, 401).
    Unauthenticated,
    /// The request's CSRF token is missing or wrong (`csrf_refused`, 403).
    CsrfRefused,
    /// The session has no challenge in progress to resend or finish (`no_challenge`, 409).
    NoChallenge,
    /// The route needs a verification first (`verification_required`, 401), or for one
    /// action (`step_up_required`, 401); the body names the factors that would do.
    VerificationRequired {
        /// Whether this is a step-up for one action.
        step_up: bool,
        /// The factors that would do, best first (answered as `candidates`).
        candidates: Vec<mfa_core::FactorSummary>,
    },
    /// The user must add a factor before going on (`enrolment_required`, 403).
    EnrolmentRequired,
    /// The host refused (the password was wrong: `password_invalid`, 401).
    PasswordInvalid,
    /// The session layer failed (`session_unavailable`, 503).
    Session,
}

impl ApiError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Mfa(e) => e.code(),
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::CsrfRefused => "csrf_refused",
            ApiError::NoChallenge => "no_challenge",
            ApiError::VerificationRequired { step_up: false, .. } => "verification_required",
            ApiError::VerificationRequired { step_up: true, .. } => "step_up_required",
            ApiError::EnrolmentRequired => "enrolment_required",
            ApiError::PasswordInvalid => "password_invalid",
            ApiError::Session => "session_unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Mfa(e) => status_of(e),
            ApiError::Unauthenticated | ApiError::VerificationRequired { .. } | ApiError::PasswordInvalid => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::CsrfRefused | ApiError::EnrolmentRequired => StatusCode::FORBIDDEN,
            ApiError::NoChallenge => StatusCode::CONFLICT,
            ApiError::Session => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How long until trying again can succeed.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Mfa(e) => e.retry_after(),
            _ => None,
        }
    }

    /// The body this error answers with, its message in English.
    pub fn body(&self) -> ErrorBody {
        self.body_with(&English)
    }

    /// The body this error answers with, its message from `messages`.
    pub fn body_with(&self, messages: &dyn Messages) -> ErrorBody {
        let retry_after = self.retry_after().map(|d| d.as_secs().max(1));
        let message = messages.message(self.code(), retry_after).into_owned();
        let candidates = match self {
            ApiError::VerificationRequired { candidates, .. } => crate::views::factors(candidates),
            _ => Vec::new(),
        };
        ErrorBody { code: self.code(), message, retry_after, field: self.field(), candidates }
    }

    /// Which input was refused, for `invalid_input` (`"code"`, `"label"`, `"destination"`,
    /// ...), so a page can put the message beside the field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::Mfa(mfa_core::Error::InvalidInput { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// Every code this layer can answer: the service's, then its own.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        mfa_core::Error::CODES.iter().copied().chain([
            "unauthenticated",
            "csrf_refused",
            "no_challenge",
            "verification_required",
            "step_up_required",
            "enrolment_required",
            "password_invalid",
            "session_unavailable",
        ])
    }

    pub(crate) fn respond(&self, messages: &dyn Messages) -> Response {
        if let ApiError::Mfa(
            e @ (mfa_core::Error::Backend(_) | mfa_core::Error::Crypto(_) | mfa_core::Error::Config(_)),
        ) = self
        {
            tracing::error!(error = %e, source = ?std::error::Error::source(e), "MFA request failed");
        }
        // The service reports its own refusals as events; these are the layer's.
        match self {
            ApiError::CsrfRefused => tracing::warn!(code = self.code(), "request refused: CSRF token missing or wrong"),
            ApiError::Mfa(_) => {}
            _ => tracing::info!(code = self.code(), "request refused"),
        }
        let body = self.body_with(messages);
        let mut response = (self.status(), Json(&body)).into_response();
        if let Some(secs) = body.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<mfa_core::Error> for ApiError {
    fn from(e: mfa_core::Error) -> Self {
        ApiError::Mfa(e)
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(e: tower_sessions::session::Error) -> Self {
        tracing::error!(error = %e, "session store failed");
        ApiError::Session
    }
}

impl IntoResponse for ApiError {
    /// The refusal in English, marked so that [`MfaHttp::router`](crate::MfaHttp::router)
    /// says it again through the configured [`Messages`].
    fn into_response(self) -> Response {
        let mut response = self.respond(&English);
        let body = self.body();
        let refused =
            Refused { code: body.code, retry_after: body.retry_after, field: body.field, candidates: body.candidates };
        response.extensions_mut().insert(refused);
        response
    }
}

/// Marks a response as a refusal, for localisation.
#[derive(Debug, Clone)]
struct Refused {
    code: &'static str,
    retry_after: Option<u64>,
    field: Option<&'static str>,
    candidates: Vec<FactorView>,
}

/// Says a refusal again in `messages` (a router layer: errors are mapped once, in the
/// language the host configured).
pub(crate) fn localise(messages: &dyn Messages, mut response: Response) -> Response {
    let Some(refused) = response.extensions_mut().remove::<Refused>() else {
        return response;
    };
    let body = ErrorBody {
        code: refused.code,
        message: messages.message(refused.code, refused.retry_after).into_owned(),
        retry_after: refused.retry_after,
        field: refused.field,
        candidates: refused.candidates,
    };
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for ApiError {}

/// The JSON body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The stable machine code.
    pub code: &'static str,
    /// A message for the user.
    pub message: String,
    /// Seconds until trying again can succeed.
    pub retry_after: Option<u64>,
    /// For `invalid_input`: which input (`"code"`, `"label"`, `"destination"`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// For `verification_required` and `step_up_required`: the factors that would do, best
    /// first, to offer as the next step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<FactorView>,
}

/// The service error's HTTP status.
fn status_of(e: &mfa_core::Error) -> StatusCode {
    use mfa_core::Error as E;
    match e {
        E::NotFound => StatusCode::NOT_FOUND,
        E::AlreadyExists | E::FactorRequired => StatusCode::CONFLICT,
        E::InvalidCode | E::Replayed | E::PossibleClone | E::AuthenticatorRefused { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        E::Expired => StatusCode::GONE,
        E::Locked { .. } | E::RateLimited { .. } | E::DeliveryCapped { .. } | E::LimitReached { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        E::Disabled | E::Forbidden => StatusCode::FORBIDDEN,
        E::ReauthRequired | E::MfaRequired => StatusCode::UNAUTHORIZED,
        E::InvalidInput { .. } | E::Unsupported => StatusCode::BAD_REQUEST,
        E::Delivery(_) => StatusCode::BAD_GATEWAY,
        E::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Messages for the user, by error code: the locale hook. Implement it to translate; the
/// codes are listed by [`ApiError::codes`].
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use mfa_axum::{English, Messages};
///
/// #[derive(Debug)]
/// struct German;
///
/// impl Messages for German {
///     fn message(&self, code: &str, retry_after: Option<u64>) -> Cow<'static, str> {
///         match code {
///             "code_invalid" => "Der Code stimmt nicht.".into(),
///             _ => English.message(code, retry_after),
///         }
///     }
/// }
///
/// assert_eq!(German.message("code_invalid", None), "Der Code stimmt nicht.");
/// ```
pub trait Messages: std::fmt::Debug + Send + Sync + 'static {
    /// The message for `code`; `retry_after` (seconds) is given for the codes that carry it.
    fn message(&self, code: &str, retry_after: Option<u64>) -> Cow<'static, str>;
}

/// The built-in English messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct English;

impl Messages for English {
    fn message(&self, code: &str, retry_after: Option<u64>) -> Cow<'static, str> {
        let wait = |what: &str| match retry_after {
            Some(secs) => Cow::Owned(format!("{what} Try again in {}.", duration_words(secs))),
            None => Cow::Owned(what.to_owned()),
        };
        match code {
            "not_found" => "That sign-in method or step no longer exists.".into(),
            "already_exists" => "That is already set up.".into(),
            "code_invalid" => "That code is not right. Check it and try again.".into(),
            "code_replayed" => "That code was already used. Wait for a new one.".into(),
            "expired" => "That step has expired. Start again.".into(),
            "locked" => wait("Too many wrong attempts."),
            "disabled" => "Too many wrong attempts: this method is turned off. Use another way to sign in.".into(),
            "rate_limited" => wait("A code was sent a moment ago."),
            "delivery_capped" => wait("No more codes can be sent right now."),
            "limit_reached" => wait("Too many attempts are in progress."),
            "possible_clone" => "This security key may have been copied. Use another way to sign in.".into(),
            "authenticator_refused" => "This security key or passkey is not accepted here. Try another one.".into(),
            "factor_required" => "Add a sign-in method first.".into(),
            "reauth_required" => "Enter your password again to continue.".into(),
            "mfa_required" => "Confirm it is you with a second step to continue.".into(),
            "invalid_input" => "Check what you entered.".into(),
            "unsupported" => "That method is not available here.".into(),
            "forbidden" => "You are not allowed to do that.".into(),
            "delivery_failed" => "The code could not be sent. Try again or use another way.".into(),
            "unauthenticated" => "Sign in first.".into(),
            "csrf_refused" => "This page is out of date. Reload it and try again.".into(),
            "no_challenge" => "There is no sign-in step in progress. Start again.".into(),
            "verification_required" => "Confirm it is you to continue.".into(),
            "step_up_required" => "Confirm it is you to do this.".into(),
            "enrolment_required" => "Add a second sign-in method to continue.".into(),
            "password_invalid" => "That password is not right.".into(),
            "session_unavailable" | "backend_unavailable" | "internal" => {
                "Something went wrong on our side. Try again.".into()
            }
            _ => "Something went wrong. Try again.".into(),
        }
    }
}

fn duration_words(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} second{}", if secs == 1 { "" } else { "s" }),
        60..=3599 => {
            let m = secs.div_ceil(60);
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        }
        _ => {
            let h = secs.div_ceil(3600);
            format!("{h} hour{}", if h == 1 { "" } else { "s" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_english_message() {
        let fallback = English.message("no such code", None);
        for code in ApiError::codes() {
            assert_ne!(English.message(code, None), fallback, "{code}");
        }
    }

    #[test]
    fn statuses_are_those_the_crate_documents() {
        use mfa_core::Error as E;
        let second = Duration::from_secs(1);
        let table: &[(ApiError, u16)] = &[
            (E::InvalidInput { field: "code", reason: "empty" }.into(), 400),
            (E::Unsupported.into(), 400),
            (E::Forbidden.into(), 403),
            (ApiError::Unauthenticated, 401),
            (ApiError::VerificationRequired { step_up: true, candidates: Vec::new() }, 401),
            (E::ReauthRequired.into(), 401),
            (E::MfaRequired.into(), 401),
            (ApiError::PasswordInvalid, 401),
            (ApiError::CsrfRefused, 403),
            (ApiError::EnrolmentRequired, 403),
            (E::Disabled.into(), 403),
            (E::NotFound.into(), 404),
            (E::AlreadyExists.into(), 409),
            (E::FactorRequired.into(), 409),
            (ApiError::NoChallenge, 409),
            (E::Expired.into(), 410),
            (E::InvalidCode.into(), 422),
            (E::Replayed.into(), 422),
            (E::PossibleClone.into(), 422),
            (E::Locked { retry_after: second }.into(), 429),
            (E::RateLimited { retry_after: second }.into(), 429),
            (E::Config("x").into(), 500),
            (E::Delivery(Box::new(std::io::Error::other("down"))).into(), 502),
            (E::Backend(Box::new(std::io::Error::other("down"))).into(), 503),
            (ApiError::Session, 503),
        ];
        for (error, status) in table {
            assert_eq!(error.status().as_u16(), *status, "{}", error.code());
        }
    }

    #[test]
    fn waiting_is_said_in_words() {
        assert_eq!(English.message("locked", Some(1)), "Too many wrong attempts. Try again in 1 second.");
        assert_eq!(English.message("locked", Some(61)), "Too many wrong attempts. Try again in 2 minutes.");
    }
}
