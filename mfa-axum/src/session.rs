//! [`MfaSession`]: the sign-in state in the session, and what changes it.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use mfa_core::access::{ActionDigest, Decision, StepUp};
use mfa_core::context::RequestContext;
use mfa_core::signin::{OpenChallenge, SignIn};
use mfa_core::{AccessPolicy, CeremonyId, FactorId, FactorSummary, Mfa, SecretString, Verified};
use mfa_core::{UserId, secret};
use tower_sessions::Session;

use crate::{ApiError, MfaHttp};

const SIGN_IN: &str = "mfa.sign_in";
const CSRF: &str = "mfa.csrf";
const PASSWORDLESS: &str = "mfa.passwordless";
const REAUTH_FAILURES: &str = "mfa.reauth_failures";
const STEP_UP: &str = "mfa.step_up";
const PENDING_PHONE: &str = "mfa.pending_phone";
const FIRST_STEP: &str = "mfa.first_step";
const SECOND_STEP: &str = "mfa.second_step";
const PASSKEY_OFFER_DISMISSED: &str = "mfa.passkey_offer_dismissed";

/// The request's MFA session: its [`SignIn`] state, kept in the tower-sessions session,
/// and the request's context.
///
/// Extract it in any handler of an app with the session layer and [`MfaHttp`] in its state
/// (`MfaHttp: FromRef<S>`). The id of the session is cycled whenever what it proves
/// changes: a password checked, a factor verified, a sign-out.
///
/// Call the service through [`MfaSession::mfa`]: its calls carry the request's
/// [`RequestContext`] (the client's address and user agent on every event, the user's
/// locale for the codes sent), as every endpoint of [`MfaHttp::router`] does.
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
    /// Who asks, from where, in which language.
    context: RequestContext,
}

impl<S> FromRequestParts<S> for MfaSession
where
    MfaHttp: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Self::extract(parts, &MfaHttp::from_ref(state), Locale::AskHost).await
    }
}

/// Whether extracting a session asks the host for the signed-in user's locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locale {
    /// Ask [`Host::locale`](crate::Host::locale) (the request may send a code).
    AskHost,
    /// `Accept-Language` only (the guard: it sends nothing).
    RequestOnly,
}

impl MfaSession {
    /// The session and the context of the request in `parts`.
    pub(crate) async fn extract(parts: &mut Parts, http: &MfaHttp, locale: Locale) -> Result<Self, ApiError> {
        let session = Session::from_request_parts(parts, &()).await.map_err(|(_, message)| {
            tracing::error!(message, "MfaSession needs tower-sessions' SessionManagerLayer around the routes");
            ApiError::Session
        })?;
        let device_token = cookie(&parts.headers, http.inner.device_cookie.name).map(SecretString::new);
        let mut context = request_context(http, parts);
        if locale == Locale::AskHost {
            // A failing session store is reported by the handler's own reads; here it
            // only means the host is not asked.
            if let Ok(Some(sign_in)) = session.get::<SignIn>(SIGN_IN).await
                && let Some(tag) = http.host().locale(&sign_in.user).await
            {
                match context.clone().locale(&tag) {
                    Ok(with_host_locale) => context = with_host_locale,
                    Err(_) => {
                        tracing::warn!(user = %sign_in.user, "Host::locale gave a tag that is not a language tag")
                    }
                }
            }
        }
        Ok(Self { session, http: http.clone(), device_token, context })
    }

    /// The service, with this request's context on every call: the client's address
    /// ([`Host::client_ip`](crate::Host::client_ip)) and user agent go on the events the
    /// calls record, and the codes they send are in the user's language
    /// ([`Host::locale`](crate::Host::locale), else the request's `Accept-Language`).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::Json;
    /// use mfa_axum::{ApiError, MfaSession};
    ///
    /// /// The host's own page: how many recovery codes are left.
    /// async fn codes_left(session: MfaSession) -> Result<Json<usize>, ApiError> {
    ///     let sign_in = session.signed_in().await?;
    ///     Ok(Json(session.mfa().recovery_codes_remaining(&sign_in.user).await?))
    /// }
    /// ```
    pub fn mfa(&self) -> Mfa {
        self.http.mfa().with_context(self.context.clone())
    }

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
        let mfa = self.mfa();
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
        decide(&self.mfa(), &sign_in, policy, step_up).await
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
        let decision = decide(&self.mfa(), &sign_in, policy, Some(step_up)).await?;
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
        self.session.insert(FIRST_STEP, FirstStep::Passkey).await?;
        Ok(sign_in)
    }

    /// How this session's sign-in started.
    pub(crate) async fn first_step(&self) -> Result<FirstStep, ApiError> {
        Ok(self.session.get::<FirstStep>(FIRST_STEP).await?.unwrap_or(FirstStep::Password))
    }

    /// Keeps the first second step of this sign-in (`method`: a factor kind, `recovery_code`
    /// or `temporary_access`); later ones (step-ups) do not replace it.
    pub(crate) async fn second_step_done(&self, method: &str) -> Result<(), ApiError> {
        if self.second_step().await?.is_none() {
            self.session.insert(SECOND_STEP, method).await?;
        }
        Ok(())
    }

    /// What finished this sign-in after its first step, if anything did.
    pub(crate) async fn second_step(&self) -> Result<Option<String>, ApiError> {
        Ok(self.session.get::<String>(SECOND_STEP).await?)
    }

    /// The user answered "Not now" to the passkey offer: not offered again in this session.
    pub(crate) async fn dismiss_passkey_offer(&self) -> Result<(), ApiError> {
        Ok(self.session.insert(PASSKEY_OFFER_DISMISSED, true).await?)
    }

    /// Whether the user answered "Not now" to the passkey offer in this session.
    pub(crate) async fn passkey_offer_dismissed(&self) -> Result<bool, ApiError> {
        Ok(self.session.get::<bool>(PASSKEY_OFFER_DISMISSED).await?.unwrap_or(false))
    }
}

/// How a sign-in started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FirstStep {
    /// The host checked the password ([`MfaSession::password_verified`]).
    Password,
    /// A passkey named the account (passwordless sign-in, from autofill or a button).
    Passkey,
}

impl FirstStep {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FirstStep::Password => "password",
            FirstStep::Passkey => "passkey",
        }
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
    Ok(evaluate(mfa, sign_in, policy, step_up, &factors))
}

/// Evaluates `policy` for a sign-in whose user has `factors`.
pub(crate) fn evaluate(
    mfa: &Mfa,
    sign_in: &SignIn,
    policy: &AccessPolicy,
    step_up: Option<&StepUp>,
    factors: &[FactorSummary],
) -> Decision {
    policy.evaluate(&sign_in.user, factors, &sign_in.evidence(), step_up, mfa.now())
}

/// The context of a request: its user agent, the client's address as the host determines
/// it, and the language `Accept-Language` prefers.
fn request_context(http: &MfaHttp, parts: &Parts) -> RequestContext {
    let mut context = RequestContext::new();
    if let Some(agent) = parts.headers.get(header::USER_AGENT) {
        context = context.user_agent(&String::from_utf8_lossy(agent.as_bytes()));
    }
    if let Some(ip) = http.host().client_ip(parts) {
        context = context.ip(ip);
    }
    match accept_language(&parts.headers).and_then(|tag| context.clone().locale(tag).ok()) {
        Some(with_locale) => with_locale,
        None => context,
    }
}

/// The most preferred language tag of `Accept-Language` that is a valid tag: the highest
/// `q`, the first of equals; `*` and `q=0` are skipped. Reads at most 32 entries.
fn accept_language(headers: &HeaderMap) -> Option<&str> {
    let mut best: Option<(&str, u16)> = None;
    let entries = headers.get_all(header::ACCEPT_LANGUAGE).iter().filter_map(|v| v.to_str().ok());
    for entry in entries.flat_map(|v| v.split(',')).take(32) {
        let mut fields = entry.split(';');
        let tag = fields.next().unwrap_or_default().trim();
        let weight = fields.find_map(|f| f.trim().strip_prefix("q=")).map_or(Some(1000), quality);
        let Some(weight) = weight.filter(|w| *w > 0) else { continue };
        if tag == "*" || RequestContext::new().locale(tag).is_err() {
            continue;
        }
        if best.is_none_or(|(_, w)| weight > w) {
            best = Some((tag, weight));
        }
    }
    best.map(|(tag, _)| tag)
}

/// A `q` value (`0` to `1`, at most three decimals) in thousandths.
fn quality(q: &str) -> Option<u16> {
    let (whole, fraction) = q.trim().split_once('.').unwrap_or((q.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn preferred(values: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        }
        accept_language(&headers).map(str::to_owned)
    }

    #[test]
    fn accept_language_gives_the_most_preferred_valid_tag() {
        assert_eq!(preferred(&["de-CH, de;q=0.9, en;q=0.8"]).as_deref(), Some("de-CH"));
        assert_eq!(preferred(&["en;q=0.5, fr;q=0.8, de;q=0.8"]).as_deref(), Some("fr"), "highest q, first of equals");
        assert_eq!(preferred(&["*, de_CH, fr"]).as_deref(), Some("fr"), "`*` and malformed tags are skipped");
        assert_eq!(preferred(&["de;q=0, en;q=0.1"]).as_deref(), Some("en"), "q=0 means not acceptable");
        assert_eq!(preferred(&["de;q=2, it;q=0.1234, en;q=0.1"]).as_deref(), Some("en"), "bad q values are skipped");
        assert_eq!(preferred(&["pt-BR;q=1.0"]).as_deref(), Some("pt-BR"));
        assert_eq!(preferred(&["", "nl"]).as_deref(), Some("nl"), "every header line counts");
        assert_eq!(preferred(&[]), None);
        assert_eq!(preferred(&["*"]), None);
    }

    #[test]
    fn quality_values_are_read_in_thousandths() {
        assert_eq!(quality("1"), Some(1000));
        assert_eq!(quality("1.000"), Some(1000));
        assert_eq!(quality("0.8"), Some(800));
        assert_eq!(quality("0.05"), Some(50));
        assert_eq!(quality("0"), Some(0));
        for bad in ["1.5", "2", "-0.5", "0.1234", "0.x", "", "."] {
            assert_eq!(quality(bad), None, "{bad:?}");
        }
    }
}
