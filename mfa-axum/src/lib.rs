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
//! | `POST /signin/temporary-access` | `{"code"}`: signs in with a temporary access code an administrator issued (also for a user with no factor) | a password sign-in |
//! | `POST /signin/step-up` | challenges a factor for the action a handler refused with `step_up_required` | a finished sign-in |
//! | `POST /signin/passwordless/start` | WebAuthn options for a passkey that names the account; `{"mediation": "conditional"}` for autofill | nothing |
//! | `POST /signin/passwordless/finish` | `{"credential"}`: a new sign-in for the passkey's account | a started ceremony |
//! | `GET /session` | how the sign-in started and was finished, its assurance, whether to offer a passkey | a password or passkey sign-in |
//! | `POST /session/passkey-offer/dismiss` | "Not now": the passkey offer is not made again in this session | a finished sign-in |
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
//! | `GET /admin/users?query=` | finds users ([`Host::find_users`]) and answers their MFA status | an administrator |
//! | `GET /admin/users/{user}` | a user's MFA status: factors, failures and locks, codes left | an administrator |
//! | `POST /admin/users/{user}/reset` | removes every factor, code, device and counter of the user | an administrator |
//! | `POST /admin/users/{user}/unlock` | `{"factor"}` or `{"scope"}` (all when empty): clears failure counters | an administrator |
//! | `POST /admin/users/{user}/temporary-access` | `{"lifetime_secs"?}`: a temporary access code, shown once (`no-store`) | an administrator |
//! | `DELETE /admin/users/{user}/temporary-access` | revokes an unused one | an administrator |
//! | `GET /admin/coverage?few_codes=` | users per factor kind, without a factor, with few codes left | an administrator |
//!
//! "A finished sign-in" is one that meets the sign-in policy ([`MfaHttp::sign_in_policy`]);
//! "fresh authentication" is what the service asks for changes (`reauth_required`,
//! `mfa_required`). "An administrator" is a sign-in that verified a second factor in this
//! session at AAL2 (any kind but email; a remembered device does not count), whatever the
//! sign-in policy asks of other users, and that meets the sign-in policy and
//! [`MfaHttp::admin_policy`] too (a window for that verification, say), of a user the host's
//! [`AdminCheck`](mfa_core::admin::AdminCheck) allows the operation. The sign-in is judged
//! first, the same way for everyone, before the check is asked: `verification_required`
//! (401, with `candidates`) for a user with a factor that would do but no such verification
//! in this session, `enrolment_required` (403) for a user with no factor that counts. So a
//! refusal never tells whether the caller is an administrator, and a password alone never
//! reaches the help desk. Then every help-desk call goes through
//! [`Mfa::admin`](mfa_core::Mfa::admin) for the signed-in user, and a refusal is `forbidden`
//! (403).
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
//! | 403 | `csrf_refused`, `enrolment_required`, `disabled`, `forbidden` |
//! | 404 | `not_found` |
//! | 409 | `already_exists`, `factor_required`, `no_challenge` |
//! | 410 | `expired` |
//! | 422 | `code_invalid`, `code_replayed`, `possible_clone`, `authenticator_refused` |
//! | 429 | `locked`, `rate_limited`, `delivery_capped`, `limit_reached` |
//! | 500, 502, 503 | `internal`; `delivery_failed`; `backend_unavailable`, `session_unavailable` |
//!
//! # Request context
//!
//! Every endpoint calls the service through [`MfaSession::mfa`], with the request's
//! [`RequestContext`](mfa_core::context::RequestContext): the client's address
//! ([`Host::client_ip`]: the peer when the app is served with connect info) and user agent
//! go on every event, and codes sent by SMS or email are in the user's language
//! ([`Host::locale`], else the request's `Accept-Language`). Call it the same way in the
//! host's own handlers.
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
//! # Passkey autofill
//!
//! The browser offers the user's passkeys in the user-name field's autofill; the one picked
//! names the account and signs in: a new sign-in, complete on its own (a passkey verifies
//! the user), whose `GET {prefix}/session` says `"first_step": "passkey"` and
//! `"assurance": "phishing_resistant_multi_factor"` (`hardware_bound` for a device-bound
//! passkey the authenticator policy recognises). The page marks the field and starts a
//! conditional request as it loads; the browser module does the three calls
//! (`POST {prefix}/signin/passwordless/start` with `{"mediation": "conditional"}`,
//! `navigator.credentials.get()` with the options as answered, then
//! `POST {prefix}/signin/passwordless/finish` with the credential):
//!
//! ```html
//! <meta name="csrf-token" content="…the session's token…">
//! <input id="username" name="username" autocomplete="username webauthn">
//! <input id="password" type="password" autocomplete="current-password">
//! <script type="module">
//!   import { createClient, conditionalMediationAvailable } from '/mfa/mfa.js';
//!   const mfa = createClient({ base: '/mfa' });
//!   const autofill = new AbortController();
//!   if (await conditionalMediationAvailable()) {
//!     mfa.passwordless({ conditional: true, signal: autofill.signal })
//!       .then((signedIn) => location.assign(signedIn.next))
//!       .catch((e) => { if (e.code !== 'aborted') showError(e.message); });
//!   }
//!   // Before a password sign-in or a passkey button's own request: autofill.abort().
//! </script>
//! ```
//!
//! A button ("Sign in with a passkey") calls `mfa.passwordless()` without `conditional`:
//! the start's body is empty, the options carry no `mediation`, and the browser shows its
//! dialog. A browser without autofill for passkeys gets the button only.
//!
//! # Passkey upgrade
//!
//! After a sign-in with the password and a second step other than a passkey, the answer
//! ([`SignedIn::offer_passkey`]) and `GET {prefix}/session` ([`SessionView::offer_passkey`])
//! say whether to offer "Add a passkey to sign in faster". It is offered when
//!
//! - the host has not turned it off ([`MfaHttp::offer_passkeys`]) or declined it for this
//!   user ([`Host::offer_passkey`]), and the service can add passkeys (a passkey adapter);
//! - the sign-in is finished (it meets the sign-in policy), started with the password and
//!   finished **in this session** with a second step other than a passkey: an authenticator
//!   app, a code by SMS or email, a security key or an older device, a recovery code or a
//!   temporary access code. Not a passwordless sign-in, not a remembered device alone (it
//!   proves no recent second step), not a password alone (a sign-in that waits for its
//!   second step is not finished, and a user with no factor has no second step to show);
//! - the user has no active passkey;
//! - the user has not answered "Not now" (`POST {prefix}/session/passkey-offer/dismiss`)
//!   in this session.
//!
//! The offer adds a passkey in one step through the usual endpoints: `POST {prefix}/factors`
//! with `{"kind": "passkey"}`, `navigator.credentials.create()`, `POST
//! {prefix}/factors/{id}/finish` (`mfa.addPasskey()` in the browser module). No password is
//! asked again: the sign-in that just happened is the fresh authentication adding a factor
//! needs (its password and its second step, within the service's re-authentication
//! window). Once that window has passed, the enrolment answers `reauth_required` (or
//! `mfa_required`) as any other change does.
//!
//! "Not now" lasts for the session: the next sign-in offers again. The toolkit keeps no
//! per-user preferences; a host that wants the answer kept longer records it when told
//! ([`Host::passkey_offer_dismissed`]) and answers `false` in [`Host::offer_passkey`].
//!
//! [axum]: https://docs.rs/axum
//! [tower-sessions]: https://docs.rs/tower-sessions

mod admin;
mod body;
mod error;
mod guard;
mod openapi;
mod security;
mod session;
mod signin;
mod status;
mod views;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use mfa_core::{AccessPolicy, Mfa, SecretString, Timestamp, UserId};

pub use admin::views::{
    CoverageView, FactorStateView, IssueTemporaryAccessBody, KindCountView, MfaStatusView, RemovedView,
    TemporaryAccessRevokedView, TemporaryAccessView, UnlockBody, UnlockedView,
};
pub use error::{ApiError, English, ErrorBody, Messages};
pub use guard::{NextStep, RequireMfa};
pub use mfa_core::signin::SignIn;
pub use openapi::openapi;
pub use session::{CheckedSession, MfaSession};
pub use views::{
    AnswerBody, ChallengeView, CodesView, CredentialBody, CsrfView, Detail, DeviceView, EnrolmentView, FactorView,
    Mediation, NewFactorBody, PasswordBody, PasswordlessStart, PasswordlessView, PromptView, RecoveryCodeBody,
    RemainingView, RenameBody, RevokedView, SessionView, SignedIn, StartChallenge, TemporaryAccessBody,
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

    /// Whether to offer this user to add a passkey after a sign-in that qualifies (the crate
    /// docs' "Passkey upgrade"). The default offers it; answer `false` for a user who asked
    /// not to be asked again ([`Host::passkey_offer_dismissed`] kept it), or whom the host
    /// does not want to ask. Asked only when everything else allows the offer.
    async fn offer_passkey(&self, user: &UserId) -> bool {
        let _ = user;
        true
    }

    /// The user answered "Not now" to the passkey offer. The HTTP layer does not offer it
    /// again in this session; keep the answer (in the user's profile) to not offer it at
    /// later sign-ins either, through [`Host::offer_passkey`].
    async fn passkey_offer_dismissed(&self, user: &UserId) {
        let _ = user;
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

    /// The language of the texts sent to `user` (codes by SMS or email): a language tag
    /// such as `de` or `pt-BR`, e.g. from the user's profile. The default, `None`, takes
    /// the most preferred language of the request's `Accept-Language`; so does a tag that
    /// is not a language tag. Asked whenever a signed-in request extracts an
    /// [`MfaSession`] (the guard does not ask): keep it cheap.
    async fn locale(&self, user: &UserId) -> Option<String> {
        let _ = user;
        None
    }

    /// The client's address, recorded on the events of the request's calls. The default
    /// is the peer address axum gives an app served with connect info
    /// (`into_make_service_with_connect_info::<SocketAddr>()`), else none.
    ///
    /// # Security
    ///
    /// Behind a reverse proxy the peer is the proxy. Override this to take the client's
    /// address from the header your proxy sets, and only for requests from that proxy:
    /// anyone else can send the header too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    /// use axum::extract::ConnectInfo;
    /// use axum::http::request::Parts;
    /// use mfa_axum::Host;
    /// use mfa_core::{SecretString, UserId};
    ///
    /// /// Served behind a reverse proxy on this machine, which appends the client's
    /// /// address to `X-Forwarded-For`.
    /// #[derive(Debug)]
    /// struct BehindProxy;
    ///
    /// #[async_trait::async_trait]
    /// impl Host for BehindProxy {
    ///     async fn check_password(&self, _user: &UserId, _password: &SecretString) -> bool {
    ///         false
    ///     }
    ///
    ///     fn client_ip(&self, request: &Parts) -> Option<IpAddr> {
    ///         let peer = request.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    ///         if !peer.is_loopback() {
    ///             return Some(peer); // not through the proxy
    ///         }
    ///         let forwarded = request.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    ///         let client = forwarded.and_then(|f| f.rsplit(',').next()?.trim().parse().ok());
    ///         Some(client.unwrap_or(peer))
    ///     }
    /// }
    /// ```
    fn client_ip(&self, request: &Parts) -> Option<IpAddr> {
        request.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
    }

    /// The users an administrator's search names (`GET {prefix}/admin/users?query=`): by
    /// id, name or address, as the host's directory searches; the first 20 are answered,
    /// each with its MFA status. The default takes the query as an exact user id.
    async fn find_users(&self, query: &str) -> Vec<UserId> {
        UserId::new(query).into_iter().collect()
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
    admin_policy: AccessPolicy,
    offer_passkeys: bool,
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
                admin_policy: AccessPolicy::default(),
                offer_passkeys: true,
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

    /// More that an administrator's own sign-in must prove at the help-desk endpoints
    /// (`{prefix}/admin/...`), on top of what they always ask: the sign-in policy, and a
    /// second factor verified in this session at AAL2 (any kind but email; a remembered
    /// device does not count), whatever the sign-in policy says. The policies are merged
    /// with [`AccessPolicy::strictest`], so this one can only add to them: a window
    /// ([`AccessPolicy::max_verification_age`]) after which the administrator verifies
    /// again, a stronger minimum assurance, kinds that do not count. Default: nothing more.
    ///
    /// # Examples
    ///
    /// The help desk asks for a verification at most 15 minutes old; an older one is
    /// refused with `verification_required`, and a step-up (`POST {prefix}/signin/step-up`)
    /// renews it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mfa_axum::MfaHttp;
    /// use mfa_core::AccessPolicy;
    ///
    /// fn help_desk_within_15_minutes(http: MfaHttp) -> MfaHttp {
    ///     http.admin_policy(AccessPolicy::default().max_verification_age(Duration::from_secs(15 * 60)))
    /// }
    /// ```
    #[must_use]
    pub fn admin_policy(self, policy: AccessPolicy) -> Self {
        self.with(|inner| inner.admin_policy = policy)
    }

    /// Whether to offer users to add a passkey after a sign-in with the password and another
    /// second step (default: `true`, where the service can add passkeys). `false` never
    /// offers it: [`SignedIn::offer_passkey`] and [`SessionView::offer_passkey`] stay
    /// `false`. The crate docs' "Passkey upgrade" says when it is offered.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_axum::MfaHttp;
    ///
    /// fn without_the_passkey_offer(http: MfaHttp) -> MfaHttp {
    ///     http.offer_passkeys(false)
    /// }
    /// ```
    #[must_use]
    pub fn offer_passkeys(self, offer: bool) -> Self {
        self.with(|inner| inner.offer_passkeys = offer)
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
            .merge(status::routes())
            .merge(security::routes())
            .merge(admin::routes())
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
                admin_policy: shared.admin_policy.clone(),
                offer_passkeys: shared.offer_passkeys,
            },
        };
        change(&mut inner);
        Self { inner: Arc::new(inner) }
    }

    pub(crate) fn offers_passkeys(&self) -> bool {
        self.inner.offer_passkeys
    }

    pub(crate) fn sign_in_policy_ref(&self) -> &AccessPolicy {
        &self.inner.sign_in_policy
    }

    /// What an administrator's own sign-in must meet: the sign-in policy, the help desk's
    /// floor and the host's [`MfaHttp::admin_policy`], the strictest of each rule.
    pub(crate) fn administrator_policy(&self) -> AccessPolicy {
        let floor = admin::floor();
        AccessPolicy::strictest([&self.inner.sign_in_policy, &floor, &self.inner.admin_policy])
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
