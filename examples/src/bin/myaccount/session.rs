//! Sessions: the hand-rolled session store, its cookie and middleware, CSRF tokens, and the
//! extractors that check a request's token (and who is signed in) before a handler runs.

use std::time::Duration;

use axum::RequestExt;
use axum::extract::{Extension, Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mfa_core::{Error, FactorId, FreshAuth, Timestamp};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::pages;
use crate::web::{Account, App, bad_request, see};

/// The cookie that carries the session id.
const SESSION_COOKIE: &str = "myaccount_session";
/// The header script requests carry the CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions end after this long without use.
const SESSION_IDLE: Duration = Duration::from_secs(60 * 60);

/// Where the user is in signing in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Nobody.
    Anonymous,
    /// The password was right; the second step is next.
    PasswordOk,
    /// Signed in.
    SignedIn,
}

/// What the app remembers about one browser between requests.
#[derive(Clone)]
pub(crate) struct Session {
    /// The token every form and script request of this session carries.
    pub(crate) csrf: String,
    pub(crate) stage: Stage,
    /// Whose password was right.
    pub(crate) account: Option<Account>,
    /// When the password was last typed.
    pub(crate) primary_at: Option<Timestamp>,
    /// When a second step was last passed.
    pub(crate) mfa_at: Option<Timestamp>,
    /// The open second-step challenge.
    pub(crate) challenge: Option<mfa_core::CeremonyId>,
    /// The factor that challenge is for.
    pub(crate) challenge_factor: Option<FactorId>,
    /// The open "sign in with a passkey" challenge.
    pub(crate) passwordless: Option<mfa_core::CeremonyId>,
    /// Where to go after the second step or re-authentication.
    pub(crate) next: Option<String>,
    /// The message the next page shows.
    pub(crate) flash: Option<pages::Flash>,
    /// When the session was last used.
    last_seen: Timestamp,
}

impl Session {
    /// A new anonymous session with a fresh CSRF token.
    fn new(now: Timestamp) -> Result<Self, Error> {
        Ok(Self {
            csrf: random_token()?,
            stage: Stage::Anonymous,
            account: None,
            primary_at: None,
            mfa_at: None,
            challenge: None,
            challenge_factor: None,
            passwordless: None,
            next: None,
            flash: None,
            last_seen: now,
        })
    }

    /// Who the session belongs to, once the password was right.
    pub(crate) fn username(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.username.as_str())
    }
}

/// The session id a request carries (set by the session middleware).
#[derive(Clone)]
pub(crate) struct Sid(String);

/// 32 random bytes, base64url: session ids and CSRF tokens.
pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    mfa_core::secret::fill_random(&mut bytes)?;
    Ok(data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

impl App {
    /// A copy of the session (a new anonymous one if it is gone).
    pub(crate) fn session(&self, sid: &Sid) -> Session {
        let now = self.mfa().now();
        self.sessions().get(&sid.0).cloned().unwrap_or_else(|| Session::new(now).unwrap_or_else(|_| empty(now)))
    }

    /// Changes the session, if it still exists.
    pub(crate) fn update(&self, sid: &Sid, f: impl FnOnce(&mut Session)) {
        if let Some(s) = self.sessions().get_mut(&sid.0) {
            f(s);
        }
    }

    /// Sets the message the next page shows.
    pub(crate) fn flash(&self, sid: &Sid, flash: pages::Flash) {
        self.update(sid, |s| s.flash = Some(flash));
    }

    /// The message for this page, which no later page shows again.
    pub(crate) fn take_flash(&self, sid: &Sid) -> Option<pages::Flash> {
        self.sessions().get_mut(&sid.0).and_then(|s| s.flash.take())
    }

    /// Replaces the session id (at every change of who is signed in) and returns the
    /// cookie that carries the new one.
    pub(crate) fn rotate(&self, sid: &Sid, f: impl FnOnce(&mut Session)) -> Result<HeaderValue, Error> {
        let new = random_token()?;
        let mut sessions = self.sessions();
        let mut session = sessions.remove(&sid.0).map_or_else(|| Session::new(self.mfa().now()), Ok)?;
        session.csrf = random_token()?;
        f(&mut session);
        sessions.insert(new.clone(), session);
        Ok(session_cookie(&new))
    }

    /// Forgets the session (at sign-out) and returns the cookie that clears it.
    pub(crate) fn end_session(&self, sid: &Sid) -> HeaderValue {
        self.sessions().remove(&sid.0);
        HeaderValue::from_static("myaccount_session=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
    }

    /// The checks every form post passes: the CSRF token of this session.
    fn csrf_ok(&self, sid: &Sid, token: &str) -> bool {
        let session = self.session(sid);
        mfa_core::secret::constant_time_eq(session.csrf.as_bytes(), token.as_bytes())
    }

    /// Proof of recent authentication for a sensitive change, from the session.
    pub(crate) fn fresh(&self, session: &Session) -> FreshAuth {
        let fresh = FreshAuth::primary(session.primary_at.unwrap_or(Timestamp::EPOCH));
        match session.mfa_at {
            Some(at) => fresh.with_mfa(at),
            None => fresh,
        }
    }
}

/// A session without a CSRF token, for when no random one could be made.
fn empty(now: Timestamp) -> Session {
    Session {
        csrf: String::new(),
        stage: Stage::Anonymous,
        account: None,
        primary_at: None,
        mfa_at: None,
        challenge: None,
        challenge_factor: None,
        passwordless: None,
        next: None,
        flash: None,
        last_seen: now,
    }
}

/// The cookie that carries session id `id`.
fn session_cookie(id: &str) -> HeaderValue {
    // Secure cookies work on http://localhost, which browsers treat as a secure context.
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Lax"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of the request's cookie `name`.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `response` with `cookies` set.
pub(crate) fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Gives every request a session (a new, anonymous one when it has none or it expired).
pub(crate) async fn middleware(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let now = app.mfa().now();
    let existing = cookie(req.headers(), SESSION_COOKIE).filter(|id| {
        let mut sessions = app.sessions();
        match sessions.get_mut(id) {
            Some(s) if now.unix_millis() - s.last_seen.unix_millis() < SESSION_IDLE.as_millis() as i64 => {
                s.last_seen = now;
                true
            }
            Some(_) => {
                sessions.remove(id);
                false
            }
            None => false,
        }
    });
    let (sid, set_cookie) = match existing {
        Some(id) => (id, None),
        None => {
            let (Ok(id), Ok(session)) = (random_token(), Session::new(now)) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            app.sessions().insert(id.clone(), session);
            let cookie = session_cookie(&id);
            (id, Some(cookie))
        }
    };
    req.extensions_mut().insert(Sid(sid));
    let mut response = next.run(req).await;
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert("x-frame-options", HeaderValue::from_static("DENY"));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    response
}

// ----- extractors: what a handler can count on before it runs ------------------------------

/// The session id of a request whose body is still to be read.
async fn sid(req: &mut Request) -> Result<Sid, Response> {
    let Extension(sid) = req.extract_parts::<Extension<Sid>>().await.map_err(IntoResponse::into_response)?;
    Ok(sid)
}

/// A form that carries the page's CSRF token in a `csrf` field.
pub(crate) trait CsrfField {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfField`] for forms with a `csrf: String` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {$(
        impl $crate::session::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )+};
}
pub(crate) use csrf_field;

/// A form with nothing but the CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

csrf_field!(CsrfOnly);

/// A form post whose `csrf` field is this session's token. The form is read first (and
/// refused as [`Form`] refuses it); a wrong token is then refused (403) before the handler
/// runs, so nothing changes.
pub(crate) struct CsrfForm<T>(pub(crate) T);

impl<T: DeserializeOwned + CsrfField> FromRequest<App> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(mut req: Request, app: &App) -> Result<Self, Response> {
        let sid = sid(&mut req).await?;
        let Form(form) = Form::<T>::from_request(req, app).await.map_err(IntoResponse::into_response)?;
        if !app.csrf_ok(&sid, form.csrf()) {
            return Err(bad_request());
        }
        Ok(Self(form))
    }
}

/// A script request carrying this session's token in the `x-csrf-token` header, with its
/// body `B` (`Json<T>`, `String`; none by default). The body is read first (and refused as
/// `B` refuses it); a missing or wrong token is then refused (403) before the handler runs.
pub(crate) struct CsrfHeader<B = ()>(pub(crate) B);

/// Whether `token` (from the `x-csrf-token` header) is this session's.
fn header_token_ok(app: &App, sid: &Sid, token: Option<&HeaderValue>) -> bool {
    token.and_then(|v| v.to_str().ok()).is_some_and(|t| app.csrf_ok(sid, t))
}

impl FromRequestParts<App> for CsrfHeader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Extension(sid) =
            Extension::<Sid>::from_request_parts(parts, app).await.map_err(IntoResponse::into_response)?;
        if !header_token_ok(app, &sid, parts.headers.get(CSRF_HEADER)) {
            return Err(bad_request());
        }
        Ok(Self(()))
    }
}

impl<B: FromRequest<App>> FromRequest<App> for CsrfHeader<B> {
    type Rejection = Response;

    async fn from_request(mut req: Request, app: &App) -> Result<Self, Response> {
        let sid = sid(&mut req).await?;
        let token = req.headers().get(CSRF_HEADER).cloned();
        let body = B::from_request(req, app).await.map_err(IntoResponse::into_response)?;
        if !header_token_ok(app, &sid, token.as_ref()) {
            return Err(bad_request());
        }
        Ok(Self(body))
    }
}

/// The signed-in user: the session and the account. A request from anybody else is sent
/// to sign in.
pub(crate) struct SignedIn {
    /// The session, as the request found it.
    pub(crate) session: Session,
    /// Who is signed in.
    pub(crate) account: Account,
}

impl SignedIn {
    /// The signed-in user of the session, if it has one.
    pub(crate) fn of(app: &App, sid: &Sid) -> Option<Self> {
        let session = app.session(sid);
        match (&session.stage, &session.account) {
            (Stage::SignedIn, Some(account)) => {
                let account = account.clone();
                Some(Self { session, account })
            }
            _ => None,
        }
    }
}

impl FromRequestParts<App> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Extension(sid) =
            Extension::<Sid>::from_request_parts(parts, app).await.map_err(IntoResponse::into_response)?;
        Self::of(app, &sid).ok_or_else(|| see("/signin"))
    }
}

/// A signed-in user's form post: [`CsrfForm`]'s checks first, then [`SignedIn`]'s.
pub(crate) struct SignedInForm<T> {
    /// The session, as the request found it.
    pub(crate) session: Session,
    /// Who is signed in.
    pub(crate) account: Account,
    /// The form, its token checked.
    pub(crate) form: T,
}

impl<T: DeserializeOwned + CsrfField> FromRequest<App> for SignedInForm<T> {
    type Rejection = Response;

    async fn from_request(mut req: Request, app: &App) -> Result<Self, Response> {
        let sid = sid(&mut req).await?;
        let CsrfForm(form) = CsrfForm::<T>::from_request(req, app).await?;
        let SignedIn { session, account } = SignedIn::of(app, &sid).ok_or_else(|| see("/signin"))?;
        Ok(Self { session, account, form })
    }
}
