//! [`MfaSession`]: the sign-in state in the session, and what changes it.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use mfa_core::access::{ActionDigest, Decision, StepUp};
use mfa_core::signin::{OpenChallenge, SignIn};
use mfa_core::{AccessPolicy, CeremonyId, FactorId, Mfa, SecretString, Verified};
use mfa_core::{UserId, secret};
use tower_sessions::Session;

use crate::{ApiError, MfaHttp};

const SIGN_IN: &str = "mfa.sign_in";
const CSRF: &str = "mfa.csrf";
const PASSWORDLESS: &str = "mfa.passwordless";
const REAUTH_FAILURES: &str = "mfa.reauth_failures";
const STEP_UP: &str = "mfa.step_up";
const PENDING_PHONE: &str = "mfa.pending_phone";

/// The request's MFA session: its [`SignIn`] state, kept in the tower-sessions session.
///
/// Extract it in any handler of an app with the session layer and [`MfaHttp`] in its state
/// (`MfaHttp: FromRef<S>`). The id of the session is cycled whenever what it proves
/// changes: a password checked, a factor verified, a sign-out.
///
/// # Examples
///
/// The host's sign-in handler, after checking the password:
///
/// ```
/// use axum::{Json, extract::State};
/// use mfa_axum::{ApiError, MfaHttp, MfaSession};
/// use mfa_core::{AccessPolicy, UserId};
///
/// async fn signed_in_with_password(session: MfaSession) -> Result<Json<bool>, ApiError> {
///     let alice = UserId::new("alice")?;
///     session.password_verified(alice).await?;
///     // Does this user need a second step? The guard would say the same.
///     let decision = session.decide(&AccessPolicy::default(), None).await?;
///     Ok(Json(decision.is_satisfied()))
/// }
/// ```
#[derive(Debug)]
pub struct MfaSession {
    session: Session,
    http: MfaHttp,
    /// The remembered-device token the browser presented (secret: redacted in `Debug`).
    device_token: Option<SecretString>,
}

impl<S> FromRequestParts<S> for MfaSession
where
    MfaHttp: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await.map_err(|(_, message)| {
            tracing::error!(message, "MfaSession needs tower-sessions' SessionManagerLayer around the routes");
            ApiError::Session
        })?;
        let http = MfaHttp::from_ref(state);
        let device_token = cookie(&parts.headers, http.inner.device_cookie.name).map(SecretString::new);
        Ok(Self { session, http, device_token })
    }
}

impl MfaSession {
    /// The sign-in state, if someone signed in with a password in this session.
    ///
    /// # Errors
    ///
    /// [`ApiError::Session`] if the session store fails.
    pub async fn sign_in(&self) -> Result<Option<SignIn>, ApiError> {
        Ok(self.session.get::<SignIn>(SIGN_IN).await?)
    }

    /// The sign-in state.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthenticated`] if nobody signed in with a password in this session.
    pub async fn signed_in(&self) -> Result<SignIn, ApiError> {
        self.sign_in().await?.ok_or(ApiError::Unauthenticated)
    }

    /// The host checked `user`'s password: a new sign-in starts under a new session id, and
    /// whatever the session held before is dropped, the CSRF token too (a token known
    /// before the sign-in must not work after it: ask [`MfaSession::csrf_token`] again). A remembered-device cookie this browser
    /// presents is checked and, if valid for this user, recorded.
    ///
    /// # Errors
    ///
    /// [`ApiError::Session`] if the session store fails.
    pub async fn password_verified(&self, user: UserId) -> Result<SignIn, ApiError> {
        let mfa = self.http.mfa();
        let mut sign_in = SignIn::new(user, mfa.now());
        if let Some(token) = &self.device_token
            && let Ok(device) = mfa.check_device(&sign_in.user, token.expose()).await
        {
            sign_in.remember(device)?;
        }
        self.session.clear().await;
        self.session.cycle_id().await?;
        self.save(&sign_in).await?;
        Ok(sign_in)
    }

    /// The host checked the signed-in user's password again.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthenticated`] without a sign-in; [`ApiError::Session`] if the
    /// session store fails.
    pub async fn reauthenticated(&self) -> Result<SignIn, ApiError> {
        let mut sign_in = self.signed_in().await?;
        sign_in.reauthenticated(self.http.mfa().now());
        self.session.remove::<u32>(REAUTH_FAILURES).await?;
        self.session.cycle_id().await?;
        self.save(&sign_in).await?;
        Ok(sign_in)
    }

    /// Records a verification the service returned, under a new session id.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthenticated`] without a sign-in; [`ApiError::Mfa`] if the
    /// verification is another user's.
    pub async fn verified(&self, verified: Verified) -> Result<SignIn, ApiError> {
        let mut sign_in = self.signed_in().await?;
        sign_in.record(verified)?;
        self.session.cycle_id().await?;
        self.save(&sign_in).await?;
        Ok(sign_in)
    }

    /// Ends the sign-in: the session is emptied and deleted, its cookie expired.
    ///
    /// # Errors
    ///
    /// [`ApiError::Session`] if the session store fails.
    pub async fn sign_out(&self) -> Result<(), ApiError> {
        Ok(self.session.flush().await?)
    }

    /// Evaluates `policy` (and a `step_up`, for one action) against what this session
    /// proved.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthenticated`] without a sign-in; [`ApiError::Mfa`] if the store
    /// fails.
    pub async fn decide(&self, policy: &AccessPolicy, step_up: Option<&StepUp>) -> Result<Decision, ApiError> {
        let sign_in = self.signed_in().await?;
        decide(self.http.mfa(), &sign_in, policy, step_up).await
    }

    /// Requires a step-up for one action (call it in the action's handler): `Ok` if this
    /// session verified recently and strongly enough, and for this very action when the
    /// step-up names one. Otherwise the action is kept for `POST {prefix}/signin/step-up`
    /// (which challenges a factor bound to it) and the answer is `step_up_required`; once
    /// the challenge is finished, the same request succeeds.
    ///
    /// # Errors
    ///
    /// [`ApiError::VerificationRequired`] (`step_up_required`) as above;
    /// [`ApiError::Unauthenticated`] without a sign-in.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::Json;
    /// use mfa_axum::{ApiError, CheckedSession};
    /// use mfa_core::access::{ActionDigest, StepUp};
    ///
    /// async fn pay(session: CheckedSession, Json(amount): Json<String>) -> Result<&'static str, ApiError> {
    ///     let action = ActionDigest::new("payment", &[("amount", &amount)]);
    ///     session.require_step_up(&StepUp::within(Duration::from_secs(300)).for_action(action)).await?;
    ///     Ok("paid")
    /// }
    /// ```
    pub async fn require_step_up(&self, step_up: &StepUp) -> Result<(), ApiError> {
        let sign_in = self.signed_in().await?;
        let policy = self.http.sign_in_policy_ref();
        let decision = decide(self.http.mfa(), &sign_in, policy, Some(step_up)).await?;
        if decision.is_satisfied() {
            return Ok(());
        }
        match &step_up.action {
            Some(action) => self.session.insert(STEP_UP, action).await?,
            None => drop(self.session.remove::<ActionDigest>(STEP_UP).await?),
        }
        Err(ApiError::VerificationRequired { step_up: true, candidates: decision.candidates })
    }

    /// Keeps the number of a pending SMS factor until it is confirmed.
    pub(crate) async fn keep_pending_phone(&self, factor: FactorId, number: &str) -> Result<(), ApiError> {
        Ok(self.session.insert(PENDING_PHONE, (factor, number)).await?)
    }

    /// The number of this pending SMS factor, taken.
    pub(crate) async fn take_pending_phone(&self, factor: &FactorId) -> Result<Option<String>, ApiError> {
        match self.session.get::<(FactorId, String)>(PENDING_PHONE).await? {
            Some((id, number)) if id == *factor => {
                self.session.remove::<(FactorId, String)>(PENDING_PHONE).await?;
                Ok(Some(number))
            }
            _ => Ok(None),
        }
    }

    /// The action a refused step-up asked to be approved, if any.
    pub(crate) async fn pending_step_up(&self) -> Result<Option<ActionDigest>, ApiError> {
        Ok(self.session.get::<ActionDigest>(STEP_UP).await?)
    }

    /// The session's CSRF token, created on first use. Put it in the page (a `<meta>` tag)
    /// for the browser module to send as `x-csrf-token`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Session`] if the session store fails; [`ApiError::Mfa`] if the system's
    /// random number generator fails.
    pub async fn csrf_token(&self) -> Result<String, ApiError> {
        if let Some(token) = self.session.get::<String>(CSRF).await? {
            return Ok(token);
        }
        let mut bytes = [0u8; 24];
        secret::fill_random(&mut bytes).map_err(mfa_core::Error::from)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.session.insert(CSRF, &token).await?;
        Ok(token)
    }

    /// Checks the request's `x-csrf-token` header against the session's token, in constant
    /// time.
    ///
    /// # Errors
    ///
    /// [`ApiError::CsrfRefused`] if it is missing or wrong (or the session has none).
    pub async fn check_csrf(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let expected = self.session.get::<String>(CSRF).await?.ok_or(ApiError::CsrfRefused)?;
        let given = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).ok_or(ApiError::CsrfRefused)?;
        match secret::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            true => Ok(()),
            false => Err(ApiError::CsrfRefused),
        }
    }

    /// Counts a wrong password at re-authentication; returns how many this session gave.
    pub(crate) async fn reauth_failed(&self) -> Result<u32, ApiError> {
        let failures = self.session.get::<u32>(REAUTH_FAILURES).await?.unwrap_or(0).saturating_add(1);
        self.session.insert(REAUTH_FAILURES, failures).await?;
        Ok(failures)
    }

    pub(crate) fn http(&self) -> &MfaHttp {
        &self.http
    }

    pub(crate) async fn save(&self, sign_in: &SignIn) -> Result<(), ApiError> {
        Ok(self.session.insert(SIGN_IN, sign_in).await?)
    }

    /// Opens a challenge in the sign-in state.
    pub(crate) async fn open_challenge(&self, mut sign_in: SignIn, challenge: OpenChallenge) -> Result<(), ApiError> {
        sign_in.challenge = Some(challenge);
        self.save(&sign_in).await
    }

    /// Keeps a passwordless ceremony for this browser (replacing an older one).
    pub(crate) async fn keep_passwordless(&self, id: CeremonyId) -> Result<(), ApiError> {
        Ok(self.session.insert(PASSWORDLESS, id).await?)
    }

    /// Takes the passwordless ceremony this browser started.
    pub(crate) async fn take_passwordless(&self) -> Result<Option<CeremonyId>, ApiError> {
        Ok(self.session.remove::<CeremonyId>(PASSWORDLESS).await?)
    }

    /// A passwordless sign-in succeeded: a new sign-in for its user, the passkey standing
    /// for the password, under a new session id.
    pub(crate) async fn passwordless_verified(&self, verified: Verified) -> Result<SignIn, ApiError> {
        let mut sign_in = SignIn::new(verified.user.clone(), verified.at);
        sign_in.record(verified)?;
        self.session.clear().await;
        self.session.cycle_id().await?;
        self.save(&sign_in).await?;
        Ok(sign_in)
    }
}

/// Evaluates `policy` for a sign-in.
pub(crate) async fn decide(
    mfa: &Mfa,
    sign_in: &SignIn,
    policy: &AccessPolicy,
    step_up: Option<&StepUp>,
) -> Result<Decision, ApiError> {
    let factors = mfa.list_factors(&sign_in.user).await?;
    Ok(policy.evaluate(&sign_in.user, &factors, &sign_in.evidence(), step_up, mfa.now()))
}

/// The value of cookie `name` in the request, if any.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// An [`MfaSession`] whose request carried the session's CSRF token in `x-csrf-token`:
/// extract it (instead of [`MfaSession`]) in every handler that changes something. The
/// check runs before the body is read, so a forged request is refused as `csrf_refused`
/// whatever it carries.
#[derive(Debug)]
pub struct CheckedSession(pub MfaSession);

impl<S> FromRequestParts<S> for CheckedSession
where
    MfaHttp: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = MfaSession::from_request_parts(parts, state).await?;
        session.check_csrf(&parts.headers).await?;
        Ok(Self(session))
    }
}

impl std::ops::Deref for CheckedSession {
    type Target = MfaSession;

    fn deref(&self) -> &MfaSession {
        &self.0
    }
}
