//! Routes, sessions, CSRF and the host's own accounts. Everything about factors is a call
//! into `Mfa`; this file is the wiring a host writes once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::Router;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use mfa_core::{
    EnrolmentRequest, Error, FactorId, FactorKind, FreshAuth, Mfa, Prompt, Proof, SecretString, Timestamp, UserId,
    Verified,
};
use mfa_otp::DevConsoleSender;
use serde::Deserialize;
use serde_json::json;

use crate::pages;

const SESSION_COOKIE: &str = "myaccount_session";
const DEVICE_COOKIE: &str = "myaccount_device";
/// Sessions end after this long without use.
const SESSION_IDLE: Duration = Duration::from_secs(60 * 60);

/// The app's shared state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

struct Inner {
    mfa: Mfa,
    outbox: DevConsoleSender,
    dev_outbox: bool,
    accounts: Mutex<HashMap<String, Account>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Verified against when the username is unknown, so both cases cost the same.
    dummy_hash: String,
}

/// The host's own account record: the password is its part, factors are the library's.
#[derive(Clone)]
struct Account {
    id: UserId,
    username: String,
    password_hash: String,
}

/// Where the user is in signing in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nobody.
    Anonymous,
    /// The password was right; the second step is next.
    PasswordOk,
    /// Signed in.
    SignedIn,
}

#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) csrf: String,
    stage: Stage,
    account: Option<Account>,
    primary_at: Option<Timestamp>,
    mfa_at: Option<Timestamp>,
    challenge: Option<mfa_core::ChallengeId>,
    challenge_factor: Option<FactorId>,
    passwordless: Option<mfa_core::ChallengeId>,
    next: Option<String>,
    flash: Option<pages::Flash>,
    last_seen: Timestamp,
}

impl Session {
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

    pub(crate) fn username(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.username.as_str())
    }
}

/// The session id a request carries (set by the session middleware).
#[derive(Clone)]
struct Sid(String);

fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    mfa_core::secret::fill_random(&mut bytes)?;
    Ok(data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

impl App {
    pub(crate) fn new(mfa: Mfa, outbox: DevConsoleSender, dev_outbox: bool) -> Self {
        let dummy_hash = hash_password("not anybody's password").unwrap_or_default();
        Self(Arc::new(Inner {
            mfa,
            outbox,
            dev_outbox,
            accounts: Mutex::default(),
            sessions: Mutex::default(),
            dummy_hash,
        }))
    }

    fn mfa(&self) -> &Mfa {
        &self.0.mfa
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.0.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accounts(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        self.0.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn session(&self, sid: &Sid) -> Session {
        let now = self.mfa().now();
        self.sessions().get(&sid.0).cloned().unwrap_or_else(|| Session::new(now).unwrap_or_else(|_| empty(now)))
    }

    fn update(&self, sid: &Sid, f: impl FnOnce(&mut Session)) {
        if let Some(s) = self.sessions().get_mut(&sid.0) {
            f(s);
        }
    }

    fn flash(&self, sid: &Sid, flash: pages::Flash) {
        self.update(sid, |s| s.flash = Some(flash));
    }

    fn take_flash(&self, sid: &Sid) -> Option<pages::Flash> {
        self.sessions().get_mut(&sid.0).and_then(|s| s.flash.take())
    }

    /// Replaces the session id (at every change of who is signed in) and returns the
    /// cookie that carries the new one.
    fn rotate(&self, sid: &Sid, f: impl FnOnce(&mut Session)) -> Result<HeaderValue, Error> {
        let new = random_token()?;
        let mut sessions = self.sessions();
        let mut session = sessions.remove(&sid.0).map_or_else(|| Session::new(self.mfa().now()), Ok)?;
        session.csrf = random_token()?;
        f(&mut session);
        sessions.insert(new.clone(), session);
        Ok(session_cookie(&new))
    }

    /// The checks every form post passes: the CSRF token of this session.
    fn csrf_ok(&self, sid: &Sid, token: &str) -> bool {
        let session = self.session(sid);
        mfa_core::secret::constant_time_eq(session.csrf.as_bytes(), token.as_bytes())
    }

    /// Proof of recent authentication for a sensitive change, from the session.
    fn fresh(&self, session: &Session) -> FreshAuth {
        let fresh = FreshAuth::primary(session.primary_at.unwrap_or(Timestamp::EPOCH));
        match session.mfa_at {
            Some(at) => fresh.with_mfa(at),
            None => fresh,
        }
    }
}

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

fn session_cookie(id: &str) -> HeaderValue {
    // Secure cookies work on http://localhost, which browsers treat as a secure context.
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Lax"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Gives every request a session (a new, anonymous one when it has none or it expired).
async fn sessions(State(app): State<App>, mut req: Request, next: Next) -> Response {
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

/// The router: every route, behind the session middleware.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/passkey/start", post(passkey_start))
        .route("/passkey/finish", post(passkey_finish))
        .route("/mfa", get(mfa_page).post(mfa_code))
        .route("/mfa/key", post(mfa_key))
        .route("/mfa/resend", post(mfa_resend))
        .route("/mfa/recovery", get(recovery_page).post(recovery_code))
        .route("/reauth", get(reauth_page).post(reauth))
        .route("/security", get(security))
        .route("/security/totp", post(totp_start))
        .route("/security/oob", post(oob_start))
        .route("/security/confirm", post(confirm))
        .route("/security/resend", post(resend_enrolment))
        .route("/security/keys/start", post(key_start))
        .route("/security/keys/finish", post(key_finish))
        .route("/security/rename", post(rename))
        .route("/security/preferred", post(preferred))
        .route("/security/remove", get(remove_page).post(remove))
        .route("/security/recovery", post(recovery_generate))
        .route("/security/devices/revoke", post(device_revoke))
        .route("/security/devices/revoke-all", post(devices_revoke_all))
        .route("/dev/outbox", get(dev_outbox))
        .layer(middleware::from_fn_with_state(app.clone(), sessions))
        .with_state(app)
}

// ----- helpers -----------------------------------------------------------------------------

type Page = Response;

fn see(to: &str) -> Page {
    Redirect::to(to).into_response()
}

fn bad_request() -> Page {
    (StatusCode::FORBIDDEN, "The form expired. Go back, reload the page and try again.").into_response()
}

fn hash_password(password: &str) -> Result<String, Error> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    mfa_core::secret::fill_random(&mut salt)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Crypto(mfa_core::CryptoError::Hash))
}

async fn password_matches(hash: String, password: SecretString) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|h| Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Where to send a user who needs to prove themselves again before a change.
fn needs_reauth(app: &App, sid: &Sid, e: &Error, back: &str) -> Option<Page> {
    matches!(e, Error::ReauthRequired | Error::MfaRequired).then(|| {
        app.update(sid, |s| s.next = Some(back.to_owned()));
        see("/reauth")
    })
}

/// The signed-in account, or a redirect to sign in.
fn signed_in(app: &App, sid: &Sid) -> Result<(Session, Account), Box<Page>> {
    let session = app.session(sid);
    match (&session.stage, &session.account) {
        (Stage::SignedIn, Some(account)) => {
            let account = account.clone();
            Ok((session, account))
        }
        _ => Err(Box::new(see("/signin"))),
    }
}

/// Marks the session signed in after a second step and says where to go.
fn complete_mfa(app: &App, sid: &Sid, verified: &Verified) -> Result<(HeaderValue, String), Error> {
    let session = app.session(sid);
    let next = session.next.clone().unwrap_or_else(|| "/security".into());
    let cookie = app.rotate(sid, |s| {
        s.stage = Stage::SignedIn;
        s.mfa_at = Some(verified.at);
        s.challenge = None;
        s.next = None;
    })?;
    Ok((cookie, next))
}

fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn device_cookie(token: &str, max_age: Duration) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{DEVICE_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        max_age.as_secs()
    ))
    .ok()
}

fn render(app: &App, sid: &Sid, title: &str, body: String) -> Page {
    let session = app.session(sid);
    let flash = app.take_flash(sid);
    Html(pages::layout(title, &session, flash.as_ref(), &body)).into_response()
}

// ----- pages before sign-in ------------------------------------------------------------------

async fn home(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    match app.session(&sid).stage {
        Stage::SignedIn => see("/security"),
        Stage::PasswordOk => see("/mfa"),
        Stage::Anonymous => see("/signin"),
    }
}

async fn script() -> Page {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], pages::SCRIPT).into_response()
}

async fn style() -> Page {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::STYLE).into_response()
}

async fn signup_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Create your account", pages::signup(&csrf))
}

#[derive(Deserialize)]
struct SignupForm {
    csrf: String,
    username: String,
    password: String,
}

async fn signup(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<SignupForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let username = f.username.trim().to_lowercase();
    let problem = if username.is_empty()
        || username.len() > 64
        || !username.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        Some("Choose a username of up to 64 letters, digits and . _ - @")
    } else if f.password.chars().count() < 8 || f.password.len() > 256 {
        Some("Choose a password of at least 8 characters.")
    } else if app.accounts().contains_key(&username) {
        Some("That username is taken.")
    } else {
        None
    };
    if let Some(problem) = problem {
        app.flash(&sid, pages::Flash::error(problem));
        return see("/signup");
    }
    let password = f.password.clone();
    let Ok(Ok(hash)) = tokio::task::spawn_blocking(move || hash_password(&password)).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "could not hash the password").into_response();
    };
    let Ok(id) = random_token().and_then(|t| UserId::new(format!("u-{}", &t[..16]))) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let account = Account { id, username: username.clone(), password_hash: hash };
    {
        let mut accounts = app.accounts();
        if accounts.contains_key(&username) {
            drop(accounts);
            app.flash(&sid, pages::Flash::error("That username is taken."));
            return see("/signup");
        }
        accounts.insert(username, account.clone());
    }
    let now = app.mfa().now();
    let Ok(cookie) = app.rotate(&sid, |s| {
        s.stage = Stage::SignedIn;
        s.account = Some(account);
        s.primary_at = Some(now);
        s.mfa_at = None;
        s.flash = Some(pages::Flash::info("Welcome! Add a second step to protect your account."));
    }) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    with_cookies(see("/security"), [cookie])
}

async fn signin_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Sign in", pages::signin(&csrf))
}

#[derive(Deserialize)]
struct SigninForm {
    csrf: String,
    username: String,
    password: String,
}

async fn signin(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    Form(f): Form<SigninForm>,
) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let account = app.accounts().get(&f.username.trim().to_lowercase()).cloned();
    let hash = account.as_ref().map_or_else(|| app.0.dummy_hash.clone(), |a| a.password_hash.clone());
    let right = password_matches(hash, SecretString::from(f.password)).await;
    let Some(account) = account.filter(|_| right) else {
        app.flash(&sid, pages::Flash::error("Wrong username or password."));
        return see("/signin");
    };
    let now = app.mfa().now();
    let factors = match app.mfa().list_factors(&account.id).await {
        Ok(list) => list,
        Err(e) => return error_page(&app, &sid, &e),
    };
    let has_mfa = factors.iter().any(|f| f.status == mfa_core::FactorStatus::Active);
    // A remembered device skips the second step (not the password).
    let remembered = match (has_mfa, cookie(&headers, DEVICE_COOKIE)) {
        (true, Some(token)) => app.mfa().check_device(&account.id, &token).await.is_ok(),
        _ => false,
    };
    let stage = if has_mfa && !remembered { Stage::PasswordOk } else { Stage::SignedIn };
    let Ok(cookie) = app.rotate(&sid, |s| {
        s.stage = stage;
        s.account = Some(account);
        s.primary_at = Some(now);
        s.mfa_at = None;
        s.next = None;
    }) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    with_cookies(see(if stage == Stage::SignedIn { "/security" } else { "/mfa" }), [cookie])
}

async fn signout(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CsrfOnly>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    app.sessions().remove(&sid.0);
    let cookie = HeaderValue::from_static("myaccount_session=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0");
    with_cookies(see("/signin"), [cookie])
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

fn csrf_header_ok(app: &App, sid: &Sid, headers: &HeaderMap) -> bool {
    headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).is_some_and(|t| app.csrf_ok(sid, t))
}

fn json_error(e: &Error) -> Page {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": pages::describe(e) }))).into_response()
}

fn options_value(prompt: &Prompt) -> Option<serde_json::Value> {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => serde_json::from_str(options_json).ok(),
        _ => None,
    }
}

/// "Sign in with a passkey": no username; the passkey names the account.
async fn passkey_start(State(app): State<App>, Extension(sid): Extension<Sid>, headers: HeaderMap) -> Page {
    if !csrf_header_ok(&app, &sid, &headers) {
        return bad_request();
    }
    match app.mfa().start_passwordless(&FactorKind::PASSKEY).await {
        Ok(challenge) => {
            app.update(&sid, |s| s.passwordless = Some(challenge.id));
            Json(json!({ "options": options_value(&challenge.prompt) })).into_response()
        }
        Err(e) => json_error(&e),
    }
}

async fn passkey_finish(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    body: String,
) -> Page {
    if !csrf_header_ok(&app, &sid, &headers) {
        return bad_request();
    }
    let Some(challenge) = app.session(&sid).passwordless else {
        return json_error(&Error::Expired);
    };
    let result = match Proof::credential(body) {
        Ok(proof) => app.mfa().finish_passwordless(&challenge, &proof).await,
        Err(e) => Err(e),
    };
    let verified = match result {
        Ok(v) => v,
        Err(Error::InvalidCode) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "That passkey isn't registered to any account." })),
            )
                .into_response();
        }
        Err(e) => return json_error(&e),
    };
    let account = app.accounts().values().find(|a| a.id == verified.user).cloned();
    let Some(account) = account else { return json_error(&Error::NotFound) };
    let Ok(cookie) = app.rotate(&sid, |s| {
        s.stage = Stage::SignedIn;
        s.account = Some(account);
        // No password was typed: changes will ask for it.
        s.primary_at = None;
        s.mfa_at = Some(verified.at);
        s.passwordless = None;
    }) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    with_cookies(Json(json!({ "redirect": "/security" })).into_response(), [cookie])
}

// ----- the second step ---------------------------------------------------------------------

/// Whose second step this is: after the password at sign-in, or a re-check before a change.
fn mfa_account(app: &App, sid: &Sid) -> Option<Account> {
    let s = app.session(sid);
    match s.stage {
        Stage::PasswordOk | Stage::SignedIn => s.account,
        Stage::Anonymous => None,
    }
}

#[derive(Deserialize)]
struct FactorQuery {
    factor: Option<String>,
}

async fn mfa_page(State(app): State<App>, Extension(sid): Extension<Sid>, Query(q): Query<FactorQuery>) -> Page {
    let Some(account) = mfa_account(&app, &sid) else { return see("/signin") };
    let factor = match q.factor.as_deref().map(str::parse::<FactorId>).transpose() {
        Ok(f) => f,
        Err(_) => return see("/mfa"),
    };
    match app.mfa().start_challenge(&account.id, factor.as_ref()).await {
        Ok(challenge) => {
            app.update(&sid, |s| {
                s.challenge = Some(challenge.id);
                s.challenge_factor = Some(challenge.factor.id);
            });
            let csrf = app.session(&sid).csrf;
            let options = options_value(&challenge.prompt);
            render(&app, &sid, "2-Step Verification", pages::mfa(&csrf, &challenge, options.as_ref()))
        }
        Err(e) => {
            let csrf = app.session(&sid).csrf;
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            let others = app.mfa().list_factors(&account.id).await.unwrap_or_default();
            let remaining = app.mfa().recovery_codes_remaining(&account.id).await.unwrap_or(0);
            render(&app, &sid, "2-Step Verification", pages::mfa_unavailable(&csrf, &others, remaining))
        }
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
    #[serde(default)]
    remember: Option<String>,
}

async fn mfa_code(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CodeForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (Some(account), Some(challenge)) = (mfa_account(&app, &sid), app.session(&sid).challenge) else {
        return see("/signin");
    };
    let result = match Proof::code(&f.code) {
        Ok(proof) => app.mfa().finish_challenge(&account.id, &challenge, &proof).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(verified) => finish_second_step(&app, &sid, &verified, f.remember.is_some()).await,
        Err(Error::Expired) => {
            // The challenge used up its attempts (or timed out): start a new one for the same
            // factor, which tells a locked-out user how long to wait.
            let factor = app.session(&sid).challenge_factor;
            match app.mfa().start_challenge(&account.id, factor.as_ref()).await {
                Ok(c) => {
                    app.update(&sid, |s| s.challenge = Some(c.id));
                    app.flash(&sid, pages::Flash::error("That code has expired. Try again with a new one."));
                }
                Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
            }
            let csrf = app.session(&sid).csrf;
            render(&app, &sid, "2-Step Verification", pages::mfa_retry(&csrf))
        }
        Err(e) => {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            // The same challenge stays open for another try (it counts attempts itself).
            let csrf = app.session(&sid).csrf;
            render(&app, &sid, "2-Step Verification", pages::mfa_retry(&csrf))
        }
    }
}

async fn finish_second_step(app: &App, sid: &Sid, verified: &Verified, remember: bool) -> Page {
    let mut cookies = Vec::new();
    if remember {
        match app.mfa().remember_device(verified, "This browser").await {
            Ok(device) => {
                let ttl = Duration::from_millis(
                    (device.device.expires_at.unix_millis() - app.mfa().now().unix_millis()).max(0) as u64,
                );
                cookies.extend(device_cookie(device.token.expose(), ttl));
            }
            Err(e) => app.flash(sid, pages::Flash::error(pages::describe(&e))),
        }
    }
    match complete_mfa(app, sid, verified) {
        Ok((cookie, next)) => {
            cookies.push(cookie);
            with_cookies(see(&next), cookies)
        }
        Err(e) => error_page(app, sid, &e),
    }
}

#[derive(Deserialize)]
struct KeyAnswer {
    credential: serde_json::Value,
    #[serde(default)]
    remember: bool,
}

async fn mfa_key(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    Json(answer): Json<KeyAnswer>,
) -> Page {
    if !csrf_header_ok(&app, &sid, &headers) {
        return bad_request();
    }
    let (Some(account), Some(challenge)) = (mfa_account(&app, &sid), app.session(&sid).challenge) else {
        return json_error(&Error::Expired);
    };
    let result = match Proof::credential(answer.credential.to_string()) {
        Ok(proof) => app.mfa().finish_challenge(&account.id, &challenge, &proof).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(verified) => {
            let response = finish_second_step(&app, &sid, &verified, answer.remember).await;
            let next = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("/security");
            let mut json = Json(json!({ "redirect": next })).into_response();
            for c in response.headers().get_all(header::SET_COOKIE) {
                json.headers_mut().append(header::SET_COOKIE, c.clone());
            }
            json
        }
        Err(e) => json_error(&e),
    }
}

async fn mfa_resend(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CsrfOnly>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (Some(account), Some(challenge)) = (mfa_account(&app, &sid), app.session(&sid).challenge) else {
        return see("/signin");
    };
    match app.mfa().resend_challenge(&account.id, &challenge).await {
        Ok(c) => {
            app.update(&sid, |s| s.challenge = Some(c.id));
            app.flash(&sid, pages::Flash::info("A new code is on its way."));
        }
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "2-Step Verification", pages::mfa_retry(&csrf))
}

async fn recovery_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let Some(account) = mfa_account(&app, &sid) else { return see("/signin") };
    let remaining = app.mfa().recovery_codes_remaining(&account.id).await.unwrap_or(0);
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Use a recovery code", pages::recovery_entry(&csrf, remaining))
}

async fn recovery_code(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CodeForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Some(account) = mfa_account(&app, &sid) else { return see("/signin") };
    match app.mfa().verify_recovery_code(&account.id, &f.code).await {
        Ok(verified) => {
            let remaining = app.mfa().recovery_codes_remaining(&account.id).await.unwrap_or(0);
            app.flash(
                &sid,
                pages::Flash::info(format!(
                    "Signed in with a recovery code. You have {remaining} recovery code{} left.",
                    if remaining == 1 { "" } else { "s" }
                )),
            );
            finish_second_step(&app, &sid, &verified, false).await
        }
        Err(e) => {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/mfa/recovery")
        }
    }
}

async fn reauth_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    if signed_in(&app, &sid).is_err() {
        return see("/signin");
    }
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Confirm it's you", pages::reauth(&csrf, app.session(&sid).username().unwrap_or("")))
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    password: String,
}

async fn reauth(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<PasswordForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    if !password_matches(account.password_hash.clone(), SecretString::from(f.password)).await {
        app.flash(&sid, pages::Flash::error("Wrong password."));
        return see("/reauth");
    }
    let now = app.mfa().now();
    app.update(&sid, |s| s.primary_at = Some(now));
    // With a second step set up, a change also needs it recently.
    let has_mfa = app
        .mfa()
        .list_factors(&account.id)
        .await
        .is_ok_and(|l| l.iter().any(|f| f.status == mfa_core::FactorStatus::Active));
    let window = app.mfa().policy().reauth_window.as_millis() as i64;
    let mfa_fresh = session.mfa_at.is_some_and(|at| now.unix_millis() - at.unix_millis() < window);
    if has_mfa && !mfa_fresh {
        return see("/mfa");
    }
    let next = session.next.unwrap_or_else(|| "/security".into());
    app.update(&sid, |s| s.next = None);
    see(&next)
}

// ----- the security page -------------------------------------------------------------------

async fn security(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let mfa = app.mfa();
    let (factors, remaining, devices) = match (
        mfa.list_factors(&account.id).await,
        mfa.recovery_codes_remaining(&account.id).await,
        mfa.list_devices(&account.id).await,
    ) {
        (Ok(f), Ok(r), Ok(d)) => (f, r, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(&app, &sid, &e),
    };
    let body = pages::security(&session.csrf, &account.username, &factors, remaining, &devices, mfa.now());
    render(&app, &sid, "Security", body)
}

fn error_page(app: &App, sid: &Sid, e: &Error) -> Page {
    tracing::warn!(error = %e, "request failed");
    app.flash(sid, pages::Flash::error(pages::describe(e)));
    let session = app.session(sid);
    let flash = app.take_flash(sid);
    (StatusCode::INTERNAL_SERVER_ERROR, Html(pages::layout("Error", &session, flash.as_ref(), ""))).into_response()
}

async fn totp_start(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CsrfOnly>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let request = EnrolmentRequest::new(FactorKind::TOTP).account_name(account.username.clone());
    match app.mfa().start_enrolment(&account.id, &app.fresh(&session), request).await {
        Ok(start) => render(&app, &sid, "Set up your authenticator app", pages::enrol_confirm(&session.csrf, &start)),
        Err(e) => needs_reauth(&app, &sid, &e, "/security").unwrap_or_else(|| {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/security")
        }),
    }
}

#[derive(Deserialize)]
struct OobForm {
    csrf: String,
    kind: String,
    destination: String,
    #[serde(default)]
    replaces: Option<String>,
}

async fn oob_start(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<OobForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let kind = match f.kind.as_str() {
        "sms" => FactorKind::SMS,
        "email" => FactorKind::EMAIL,
        _ => return bad_request(),
    };
    let mut request = EnrolmentRequest::new(kind).destination(f.destination.trim());
    if let Some(old) = f.replaces.as_deref().filter(|s| !s.is_empty()) {
        match old.parse() {
            Ok(old) => request = request.replaces(old),
            Err(_) => return bad_request(),
        }
    }
    match app.mfa().start_enrolment(&account.id, &app.fresh(&session), request).await {
        Ok(start) => render(&app, &sid, "Confirm it's yours", pages::enrol_confirm(&session.csrf, &start)),
        Err(e) => needs_reauth(&app, &sid, &e, "/security").unwrap_or_else(|| {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/security")
        }),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: String,
    factor: String,
    code: String,
}

async fn confirm(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<ConfirmForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    let result = match Proof::code(&f.code) {
        Ok(proof) => app.mfa().finish_enrolment(&account.id, &app.fresh(&session), &factor, &proof).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) => {
            // Confirming the factor proved possession of it: the session counts as verified.
            let now = app.mfa().now();
            app.update(&sid, |s| s.mfa_at = Some(now));
            app.flash(&sid, pages::Flash::info(format!("{} was added.", summary.label)));
            see("/security")
        }
        Err(e) => {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            let pending = app.mfa().get_factor(&account.id, &factor).await.ok();
            render(&app, &sid, "Confirm it's yours", pages::enrol_retry(&session.csrf, &factor, pending.as_ref()))
        }
    }
}

#[derive(Deserialize)]
struct FactorForm {
    csrf: String,
    factor: String,
}

async fn resend_enrolment(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<FactorForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    match app.mfa().resend_enrolment(&account.id, &factor).await {
        Ok(_) => app.flash(&sid, pages::Flash::info("A new code is on its way.")),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    let pending = app.mfa().get_factor(&account.id, &factor).await.ok();
    render(&app, &sid, "Confirm it's yours", pages::enrol_retry(&session.csrf, &factor, pending.as_ref()))
}

#[derive(Deserialize)]
struct KeyStart {
    kind: String,
    #[serde(default)]
    label: String,
}

async fn key_start(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    Json(req): Json<KeyStart>,
) -> Page {
    if !csrf_header_ok(&app, &sid, &headers) {
        return bad_request();
    }
    let (session, account) = match signed_in(&app, &sid) {
        Ok(x) => x,
        Err(_) => return json_error(&Error::ReauthRequired),
    };
    let kind = match req.kind.as_str() {
        "passkey" => FactorKind::PASSKEY,
        "security-key" => FactorKind::SECURITY_KEY,
        "older-device" => FactorKind::OLDER_DEVICE,
        _ => return json_error(&Error::Unsupported),
    };
    let mut request = EnrolmentRequest::new(kind).account_name(account.username.clone());
    if !req.label.trim().is_empty() {
        request = request.label(req.label.trim());
    }
    match app.mfa().start_enrolment(&account.id, &app.fresh(&session), request).await {
        Ok(start) => Json(json!({ "factor": start.factor.id.to_string(), "options": options_value(&start.prompt) }))
            .into_response(),
        Err(e @ (Error::ReauthRequired | Error::MfaRequired)) => {
            app.update(&sid, |s| s.next = Some("/security".into()));
            (StatusCode::UNAUTHORIZED, Json(json!({ "error": pages::describe(&e), "redirect": "/reauth" })))
                .into_response()
        }
        Err(e) => json_error(&e),
    }
}

#[derive(Deserialize)]
struct KeyFinish {
    factor: String,
    credential: serde_json::Value,
}

async fn key_finish(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    Json(req): Json<KeyFinish>,
) -> Page {
    if !csrf_header_ok(&app, &sid, &headers) {
        return bad_request();
    }
    let Ok((session, account)) = signed_in(&app, &sid) else { return json_error(&Error::ReauthRequired) };
    let Ok(factor) = req.factor.parse::<FactorId>() else { return json_error(&Error::NotFound) };
    let result = match Proof::credential(req.credential.to_string()) {
        Ok(proof) => app.mfa().finish_enrolment(&account.id, &app.fresh(&session), &factor, &proof).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) => {
            let now = app.mfa().now();
            app.update(&sid, |s| s.mfa_at = Some(now));
            app.flash(&sid, pages::Flash::info(format!("{} was added.", summary.label)));
            Json(json!({ "redirect": "/security" })).into_response()
        }
        Err(e) => json_error(&e),
    }
}

#[derive(Deserialize)]
struct RenameForm {
    csrf: String,
    factor: String,
    label: String,
}

async fn rename(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<RenameForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((_, account)) = signed_in(&app, &sid) else { return see("/signin") };
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    match app.mfa().rename_factor(&account.id, &factor, &f.label).await {
        Ok(s) => app.flash(&sid, pages::Flash::info(format!("Renamed to {}.", s.label))),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}

async fn preferred(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<FactorForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((session, account)) = signed_in(&app, &sid) else { return see("/signin") };
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    match app.mfa().set_preferred(&account.id, &app.fresh(&session), &factor).await {
        Ok(()) => app.flash(&sid, pages::Flash::info("Your preferred second step was changed.")),
        Err(e) => {
            if let Some(page) = needs_reauth(&app, &sid, &e, "/security") {
                return page;
            }
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
        }
    }
    see("/security")
}

async fn remove_page(State(app): State<App>, Extension(sid): Extension<Sid>, Query(q): Query<FactorQuery>) -> Page {
    let Ok((session, account)) = signed_in(&app, &sid) else { return see("/signin") };
    let Some(Ok(factor)) = q.factor.as_deref().map(str::parse::<FactorId>) else { return see("/security") };
    match app.mfa().get_factor(&account.id, &factor).await {
        Ok(summary) => render(&app, &sid, "Remove", pages::remove_confirm(&session.csrf, &summary)),
        Err(e) => {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/security")
        }
    }
}

async fn remove(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<FactorForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((session, account)) = signed_in(&app, &sid) else { return see("/signin") };
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    let label = app.mfa().get_factor(&account.id, &factor).await.map(|s| s.label).unwrap_or_default();
    match app.mfa().remove_factor(&account.id, &app.fresh(&session), &factor).await {
        Ok(()) => app.flash(&sid, pages::Flash::info(format!("{label} was removed."))),
        Err(e) => {
            if let Some(page) = needs_reauth(&app, &sid, &e, "/security") {
                return page;
            }
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
        }
    }
    see("/security")
}

async fn recovery_generate(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CsrfOnly>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((session, account)) = signed_in(&app, &sid) else { return see("/signin") };
    match app.mfa().regenerate_recovery_codes(&account.id, &app.fresh(&session)).await {
        Ok(set) => render(&app, &sid, "Your recovery codes", pages::recovery_codes(&set, &account.username)),
        Err(e) => needs_reauth(&app, &sid, &e, "/security").unwrap_or_else(|| {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/security")
        }),
    }
}

#[derive(Deserialize)]
struct DeviceForm {
    csrf: String,
    device: String,
}

async fn device_revoke(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<DeviceForm>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((_, account)) = signed_in(&app, &sid) else { return see("/signin") };
    let Ok(device) = f.device.parse() else { return bad_request() };
    match app.mfa().revoke_device(&account.id, &device).await {
        Ok(()) => app.flash(&sid, pages::Flash::info("That device will be asked for a second step again.")),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}

async fn devices_revoke_all(State(app): State<App>, Extension(sid): Extension<Sid>, Form(f): Form<CsrfOnly>) -> Page {
    if !app.csrf_ok(&sid, &f.csrf) {
        return bad_request();
    }
    let Ok((_, account)) = signed_in(&app, &sid) else { return see("/signin") };
    match app.mfa().revoke_all_devices(&account.id).await {
        Ok(n) => app.flash(&sid, pages::Flash::info(format!("Signed out of 2-step on {n} device(s)."))),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}

#[derive(Deserialize)]
struct OutboxQuery {
    to: String,
}

/// Development only (`--dev-outbox`): the last code "sent" to a destination.
async fn dev_outbox(State(app): State<App>, Query(q): Query<OutboxQuery>) -> Page {
    if !app.0.dev_outbox {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({ "to": q.to, "code": app.0.outbox.last_code_to(&q.to) })).into_response()
}
