#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! The HTTP layer of mfa-rs for [axum]: what a service author adds to an axum app to give
//! its users a second sign-in step and a security page.
//!
//! - [`MfaSession`], an extractor: the signed-in user's [`SignIn`] state, kept in the
//!   [tower-sessions] session, with the session id cycled at every change of assurance.
//! - [`MfaHttp::require`], a guard: it evaluates an [`AccessPolicy`] and answers with the
//!   next step (verify, add a factor) as JSON, or a redirect the host chooses.
//! - [`MfaHttp::router`], JSON endpoints for every flow, to nest under a prefix.
//! - [`ApiError`]: every refusal as an HTTP status, a stable code and a message through
//!   the [`Messages`] locale hook.
//! - [`Host`]: what the library asks of the host (the password check, where to go next).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use mfa_axum::{Host, MfaHttp};
//! use mfa_core::{AccessPolicy, AeadSealer, Mfa, SecretString, UserId};
//! use mfa_store_memory::MemoryStore;
//! use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer};
//!
//! #[derive(Debug)]
//! struct MyHost;
//!
//! #[async_trait::async_trait]
//! impl Host for MyHost {
//!     async fn check_password(&self, user: &UserId, password: &SecretString) -> bool {
//!         // look the user up and verify the password hash
//!         # let _ = (user, password);
//!         false
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?)
//!     .factor(mfa_otp::TotpFactor::new("Example")?)
//!     .build()?;
//! let http = MfaHttp::new(mfa, MyHost);
//!
//! let app: Router = Router::new()
//!     .route("/account", get(|| async { "only with MFA" }))
//!     .route_layer(http.require(AccessPolicy::default()))
//!     .nest("/mfa", http.router())
//!     .layer(SessionManagerLayer::new(Sessions::default()));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! The host's own sign-in handler checks the password and then calls
//! [`MfaSession::password_verified`]; the guard and the endpoints do the rest.
//!
//! # Endpoints
//!
//! Relative to the prefix the router is nested under; the OpenAPI document
//! ([`openapi`], or `GET {prefix}/openapi.json`) describes each body and answer.
//!
//! | method and path | does | needs |
//! |---|---|---|
//! | `GET /csrf` | the session's CSRF token | nothing |
//! | `POST /signin/challenge` | challenges the preferred factor, or `{"factor": id}` | a password sign-in |
//! | `POST /signin/challenge/resend` | a new code for the challenge in progress | a challenge |
//! | `POST /signin/challenge/finish` | `{"code"}` or `{"credential"}`, optionally `"remember_device": true` | a challenge |
//! | `POST /signin/recovery-code` | signs in with a recovery code | a password sign-in |
//! | `POST /signin/step-up` | challenges a factor for the action a handler refused with `step_up_required` | a finished sign-in |
//! | `POST /signin/passwordless/start` | WebAuthn options for a passkey that names the account (also for autofill) | nothing |
//! | `POST /signin/passwordless/finish` | `{"credential"}`: a new sign-in for the passkey's account | a started ceremony |
//! | `GET /factors` | the user's factors | a finished sign-in |
//! | `POST /factors` | `{"kind", "label"?, "destination"?, "replaces"?}`: starts adding a factor | fresh authentication |
//! | `POST /factors/{id}/finish` | `{"code"}` or `{"credential"}`: proves it | fresh authentication |
//! | `POST /factors/{id}/resend` | a new code for a pending SMS or email factor | a finished sign-in |
//! | `PATCH /factors/{id}` | `{"label"}` | a finished sign-in |
//! | `POST /factors/{id}/preferred` | asked first at sign-in | fresh authentication |
//! | `DELETE /factors/{id}` | removes it | fresh authentication |
//! | `GET /recovery-codes` | how many are left | a finished sign-in |
//! | `POST /recovery-codes`, `POST /recovery-codes/regenerate` | new codes, shown once | fresh authentication |
//! | `GET /devices`, `DELETE /devices`, `DELETE /devices/{id}` | remembered devices: list, forget all, forget one | a finished sign-in |
//! | `POST /reauth` | `{"password"}`: fresh authentication; five wrong ones end the session | a finished sign-in |
//!
//! "A finished sign-in" is one that meets the sign-in policy ([`MfaHttp::sign_in_policy`]);
//! "fresh authentication" is what the service asks for changes (`reauth_required`,
//! `mfa_required`).
//!
//! # Refusals
//!
//! Every refusal is `{"code", "message", "retry_after", "field"?, "candidates"?}` with the status below
//! (`Retry-After` set when `retry_after` is):
//!
//! | status | codes |
//! |---|---|
//! | 400 | `invalid_input` (with `field`), `unsupported` |
//! | 401 | `unauthenticated`, `verification_required` and `step_up_required` (both with `candidates`, the factors that would do), `reauth_required`, `mfa_required`, `password_invalid` |
//! | 403 | `csrf_refused`, `enrolment_required`, `disabled` |
//! | 404 | `not_found` |
//! | 409 | `already_exists`, `factor_required`, `no_challenge` |
//! | 410 | `expired` |
//! | 422 | `code_invalid`, `code_replayed`, `possible_clone` |
//! | 429 | `locked`, `rate_limited`, `delivery_capped`, `limit_reached` |
//! | 500, 502, 503 | `internal`; `delivery_failed`; `backend_unavailable`, `session_unavailable` |
//!
//! # CSRF
//!
//! Every endpoint that changes something requires the header `x-csrf-token` to hold the
//! session's token ([`MfaSession::csrf_token`], or `GET {prefix}/csrf`); a page on another
//! site can send a request but cannot read the token. Reads (`GET`) need none. A password
//! or passwordless sign-in renews the token (the second step keeps it, under a new session
//! id). Extract [`CheckedSession`] in the host's own handlers for the same check.
//!
//! # Sessions
//!
//! Give the session layer an expiry and a store that deletes expired sessions:
//! `GET {prefix}/csrf` and a passwordless start give anonymous visitors a session.
//!
//! [axum]: https://docs.rs/axum
//! [tower-sessions]: https://docs.rs/tower-sessions

mod body;
mod error;
mod guard;
mod openapi;
mod security;
mod session;
mod signin;
mod views;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::http::HeaderValue;
use mfa_core::{AccessPolicy, Mfa, SecretString, Timestamp, UserId};

pub use error::{ApiError, English, ErrorBody, Messages};
pub use guard::{NextStep, RequireMfa};
pub use mfa_core::signin::SignIn;
pub use openapi::openapi;
pub use session::{CheckedSession, MfaSession};
pub use views::{
    AnswerBody, ChallengeView, CodesView, CredentialBody, CsrfView, Detail, DeviceView, EnrolmentView, FactorView,
    NewFactorBody, PasswordBody, PasswordlessView, PromptView, RecoveryCodeBody, RemainingView, RenameBody,
    RevokedView, SignedIn, StartChallenge,
};

/// What the library asks of the host.
///
/// # Examples
///
/// ```
/// use mfa_axum::Host;
/// use mfa_core::{SecretString, UserId};
///
/// #[derive(Debug)]
/// struct Accounts;
///
/// #[async_trait::async_trait]
/// impl Host for Accounts {
///     async fn check_password(&self, user: &UserId, password: &SecretString) -> bool {
///         user.as_str() == "alice" && password.expose() == "correct horse"
///     }
///
///     fn after_sign_in(&self, _user: &UserId) -> String {
///         "/dashboard".into()
///     }
/// }
/// ```
#[async_trait]
pub trait Host: fmt::Debug + Send + Sync + 'static {
    /// Whether `password` is the user's password now (re-authentication before a sensitive
    /// change). Compare in constant time, as for sign-in.
    async fn check_password(&self, user: &UserId, password: &SecretString) -> bool;

    /// Whether this user may sign in now. Asked after a passwordless sign-in, where the
    /// passkey names the account: answer `false` for an account the host disabled.
    async fn may_sign_in(&self, user: &UserId) -> bool {
        let _ = user;
        true
    }

    /// Where the browser goes once the sign-in is complete.
    fn after_sign_in(&self, user: &UserId) -> String {
        let _ = user;
        "/".into()
    }

    /// The phone number in the user's profile, if any: used for a new SMS factor when the
    /// request names no number.
    async fn profile_phone(&self, user: &UserId) -> Option<String> {
        let _ = user;
        None
    }

    /// The user confirmed `number` (E.164) with a code (a new or replaced SMS factor is
    /// active): keep the profile's phone number in step.
    async fn phone_confirmed(&self, user: &UserId, number: &str) {
        let _ = (user, number);
    }
}

/// The HTTP layer: the service, the host's hooks and how to answer. Cheap to clone.
#[derive(Clone)]
pub struct MfaHttp {
    inner: Arc<Inner>,
}

struct Inner {
    mfa: Mfa,
    host: Arc<dyn Host>,
    messages: Arc<dyn Messages>,
    next_step: NextStep,
    device_cookie: DeviceCookie,
    sign_in_policy: AccessPolicy,
}

/// How the remembered-device cookie is set.
#[derive(Debug, Clone)]
struct DeviceCookie {
    name: &'static str,
    secure: bool,
}

impl fmt::Debug for MfaHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaHttp")
            .field("host", &self.inner.host)
            .field("messages", &self.inner.messages)
            .field("next_step", &self.inner.next_step)
            .finish_non_exhaustive()
    }
}

impl MfaHttp {
    /// The layer for `mfa` and the host's hooks: English messages, JSON next steps, a
    /// `Secure` remembered-device cookie.
    pub fn new(mfa: Mfa, host: impl Host) -> Self {
        Self {
            inner: Arc::new(Inner {
                mfa,
                host: Arc::new(host),
                messages: Arc::new(English),
                next_step: NextStep::Json,
                device_cookie: DeviceCookie { name: "mfa_device", secure: true },
                sign_in_policy: AccessPolicy::default(),
            }),
        }
    }

    /// Messages from `messages` instead of English.
    #[must_use]
    pub fn messages(self, messages: impl Messages) -> Self {
        self.with(|inner| inner.messages = Arc::new(messages))
    }

    /// How the guard answers a request that needs a next step.
    #[must_use]
    pub fn next_step(self, next_step: NextStep) -> Self {
        self.with(|inner| inner.next_step = next_step)
    }

    /// Sets the remembered-device cookie without `Secure`, for development over plain
    /// HTTP on localhost only.
    #[must_use]
    pub fn insecure_cookies_for_localhost(self) -> Self {
        self.with(|inner| inner.device_cookie.secure = false)
    }

    /// The policy a sign-in must meet to be finished (default: [`AccessPolicy::default`],
    /// MFA for users who have a factor): what the sign-in endpoints answer as `complete`,
    /// and what the security endpoints require.
    #[must_use]
    pub fn sign_in_policy(self, policy: AccessPolicy) -> Self {
        self.with(|inner| inner.sign_in_policy = policy)
    }

    /// The service.
    pub fn mfa(&self) -> &Mfa {
        &self.inner.mfa
    }

    /// The host's hooks.
    pub fn host(&self) -> &dyn Host {
        &*self.inner.host
    }

    /// A guard for routes that need `policy` met: see [`RequireMfa`].
    pub fn require(&self, policy: AccessPolicy) -> RequireMfa {
        RequireMfa::new(self.clone(), policy)
    }

    /// The JSON endpoints, to nest under a prefix (`.nest("/mfa", http.router())`), in a
    /// router of any state. The session layer must wrap them.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let http = self.clone();
        signin::routes()
            .merge(security::routes())
            .route("/mfa.js", axum::routing::get(script))
            .route("/openapi.json", axum::routing::get(openapi::serve))
            .layer(axum::middleware::map_response(move |response| {
                let http = http.clone();
                async move { error::localise(&*http.inner.messages, response) }
            }))
            .with_state(self.clone())
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                mfa: shared.mfa.clone(),
                host: shared.host.clone(),
                messages: shared.messages.clone(),
                next_step: shared.next_step.clone(),
                device_cookie: shared.device_cookie.clone(),
                sign_in_policy: shared.sign_in_policy.clone(),
            },
        };
        change(&mut inner);
        Self { inner: Arc::new(inner) }
    }

    pub(crate) fn sign_in_policy_ref(&self) -> &AccessPolicy {
        &self.inner.sign_in_policy
    }

    pub(crate) fn respond(&self, error: &ApiError) -> axum::response::Response {
        error.respond(&*self.inner.messages)
    }

    /// The `Set-Cookie` value remembering this device until `expires_at`.
    pub(crate) fn device_cookie(&self, token: &str, expires_at: Timestamp, now: Timestamp) -> HeaderValue {
        let cookie = &self.inner.device_cookie;
        let max_age = expires_at.duration_since(now).as_secs();
        let secure = if cookie.secure { "; Secure" } else { "" };
        let value = format!("{}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}", cookie.name);
        // The token is URL-safe base64 and the rest is ours: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The browser module: WebAuthn calls with JSON encoding, passkey autofill, every endpoint,
/// errors with their codes. Served at `{prefix}/mfa.js`.
pub const SCRIPT: &str = include_str!("../assets/mfa.js");

/// `GET /mfa.js`.
async fn script() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}
