//! The world every HTTP test runs in: a service with TOTP on a manual clock, an app with a
//! guarded route and the host's password sign-in, a browser that keeps its cookies.

#![allow(dead_code)]

pub(crate) mod webauthn;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use mfa_axum::{ApiError, CheckedSession, Host, MfaHttp, MfaSession};
use mfa_core::access::{ActionDigest, StepUp};
use mfa_core::admin::Administrators;
use mfa_core::store::Store;
use mfa_core::{
    AccessPolicy, AeadSealer, Clock, EnrolmentRequest, FactorKind, FreshAuth, ManualClock, Mfa, MfaBuilder, Prompt,
    Proof, SecretString, Settings, Timestamp, UserId,
};
use mfa_otp::{MemorySender, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer};

/// The host's accounts: Carol has a phone number in her profile; confirmed numbers are
/// recorded; Mallory's account is disabled (she may not sign in); "Not now" to the passkey
/// offer is recorded, and the users in `declines_passkeys` are not offered one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accounts {
    pub(crate) confirmed_phones: Arc<Mutex<Vec<(String, String)>>>,
    pub(crate) passkey_offers_dismissed: Arc<Mutex<Vec<String>>>,
    pub(crate) declines_passkeys: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Host for Accounts {
    async fn profile_phone(&self, user: &UserId) -> Option<String> {
        (user.as_str() == "carol").then(|| "+1 415 555 2671".to_owned())
    }

    async fn phone_confirmed(&self, user: &UserId, number: &str) {
        self.confirmed_phones.lock().unwrap().push((user.to_string(), number.to_owned()));
    }

    async fn may_sign_in(&self, user: &UserId) -> bool {
        user.as_str() != "mallory"
    }

    async fn offer_passkey(&self, user: &UserId) -> bool {
        !self.declines_passkeys.lock().unwrap().iter().any(|u| u == user.as_str())
    }

    async fn passkey_offer_dismissed(&self, user: &UserId) {
        self.passkey_offers_dismissed.lock().unwrap().push(user.to_string());
    }

    async fn check_password(&self, _user: &UserId, password: &SecretString) -> bool {
        password.expose() == "correct horse"
    }

    fn after_sign_in(&self, _user: &UserId) -> String {
        "/account".into()
    }
}

/// A service with TOTP on a manual clock, an app with a guarded route, and Alice with an
/// authenticator app; Alice is also the one administrator.
pub(crate) struct World {
    pub(crate) app: Router,
    pub(crate) mfa: Mfa,
    pub(crate) clock: ManualClock,
    pub(crate) totp: TotpFactor,
    pub(crate) alice: UserId,
    pub(crate) key: Vec<u8>,
    pub(crate) accounts: Accounts,
    pub(crate) outbox: MemorySender,
}

/// How a world differs from the default one.
pub(crate) struct Setup {
    /// The service's store (default: a new `MemoryStore`).
    pub(crate) store: Arc<dyn Store>,
    /// The service's settings (default: `Settings::default()`).
    pub(crate) settings: Settings,
    /// Adds more to the service (another factor adapter).
    pub(crate) extend: Box<dyn FnOnce(MfaBuilder) -> MfaBuilder>,
    /// The policy of the guard on `/account`.
    pub(crate) guard: AccessPolicy,
    /// The sign-in policy of the endpoints.
    pub(crate) sign_in_policy: AccessPolicy,
    /// What the help-desk endpoints ask of an administrator's sign-in on top of the floor.
    pub(crate) admin_policy: AccessPolicy,
    /// Whether the endpoints offer a passkey after a sign-in ([`MfaHttp::offer_passkeys`]).
    pub(crate) offer_passkeys: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            settings: Settings::default(),
            extend: Box::new(|builder| builder),
            guard: AccessPolicy::default(),
            sign_in_policy: AccessPolicy::default(),
            admin_policy: AccessPolicy::default(),
            offer_passkeys: true,
        }
    }
}

/// The app every world serves: `/account` behind the guard, the host's `/login`, `/pay`
/// (a step-up bound to the amount) and the endpoints under `/mfa`.
pub(crate) fn app(http: MfaHttp, guard: AccessPolicy) -> Router {
    Router::new()
        .route("/account", get(|| async { "the account page" }))
        .route_layer(http.require(guard))
        .route("/login", post(login))
        .route("/pay", post(pay))
        .nest("/mfa", http.router())
        .with_state(http)
        .layer(SessionManagerLayer::new(Sessions::default()).with_secure(false))
}

impl World {
    pub(crate) async fn new() -> Self {
        Self::with(Setup::default()).await
    }

    pub(crate) async fn with(setup: Setup) -> Self {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let totp = TotpFactor::new("Example").unwrap();
        let outbox = MemorySender::new();
        let sms = SmsFactor::builder(outbox.clone(), OobKey::ephemeral().unwrap()).build().unwrap();
        let builder = Mfa::builder()
            .shared_store(setup.store)
            .sealer(AeadSealer::ephemeral().unwrap())
            .clock(clock.clone())
            .settings(setup.settings)
            .factor(totp.clone())
            .factor(sms)
            .admin_check(Administrators::new([UserId::new("alice").unwrap()]));
        let mfa = (setup.extend)(builder).build().unwrap();
        let accounts = Accounts::default();
        let http = MfaHttp::new(mfa.clone(), accounts.clone())
            .insecure_cookies_for_localhost()
            .sign_in_policy(setup.sign_in_policy)
            .admin_policy(setup.admin_policy)
            .offer_passkeys(setup.offer_passkeys);
        let app = app(http, setup.guard);
        let alice = UserId::new("alice").unwrap();
        let fresh = FreshAuth::primary(clock.now());
        let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await.unwrap();
        let Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        let world = Self { app, mfa, clock, totp, alice, key, accounts, outbox };
        let code = Proof::code(&world.code()).unwrap();
        world.mfa.finish_enrolment(&world.alice, &fresh, &start.factor.id, &code).await.unwrap();
        world.clock.advance(Duration::from_secs(60));
        world
    }

    pub(crate) fn code(&self) -> String {
        self.code_of(&self.key)
    }

    /// The code an authenticator app with `key` shows now.
    pub(crate) fn code_of(&self, key: &[u8]) -> String {
        self.totp.code_at(key, self.clock.now().unix_secs() as u64).unwrap()
    }

    /// Gives `name` an active authenticator app and returns its key; the clock moves on past
    /// the time step of the code that proved it.
    pub(crate) async fn enrol_app(&self, name: &str) -> Vec<u8> {
        let user = UserId::new(name).unwrap();
        let fresh = FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now());
        let start = self.mfa.start_enrolment(&user, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await.unwrap();
        let Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        let code = Proof::code(&self.code_of(&key)).unwrap();
        self.mfa.finish_enrolment(&user, &fresh, &start.factor.id, &code).await.unwrap();
        self.clock.advance(Duration::from_secs(30));
        key
    }

    pub(crate) fn browser(&self) -> Browser {
        Browser { app: self.app.clone(), cookies: HashMap::new(), csrf: None }
    }
}

/// The host's password sign-in: `{"user": "..."}` (the password check is the host's own).
pub(crate) async fn login(session: MfaSession, Json(body): Json<Value>) -> Result<Json<Value>, ApiError> {
    let user = UserId::new(body["user"].as_str().unwrap_or_default())?;
    session.password_verified(user).await?;
    Ok(Json(json!({ "csrf_token": session.csrf_token().await? })))
}

/// A payment that needs a step-up bound to its amount: `{"amount": "..."}`.
async fn pay(session: CheckedSession, Json(body): Json<Value>) -> Result<Json<Value>, ApiError> {
    let amount = body["amount"].as_str().unwrap_or_default().to_owned();
    let action = ActionDigest::new("payment", &[("amount", &amount)]);
    session.require_step_up(&StepUp::within(Duration::from_secs(300)).for_action(action)).await?;
    Ok(Json(json!({ "paid": amount })))
}

/// A browser: keeps cookies, sends the CSRF token it was given.
pub(crate) struct Browser {
    pub(crate) app: Router,
    pub(crate) cookies: HashMap<String, String>,
    pub(crate) csrf: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

impl Browser {
    pub(crate) async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        let cookies: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        if let Some(token) = &self.csrf {
            request = request.header("x-csrf-token", token);
        }
        request = request.header(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0");
        let request = match body {
            Some(body) => {
                request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
            }
            None => request.body(Body::empty()).unwrap(),
        };
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        for cookie in headers.get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Answer { status, headers, body }
    }

    pub(crate) async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// Signs in with a password and keeps the new CSRF token.
    pub(crate) async fn password(&mut self, user: &str) -> Answer {
        let answer = self.post("/login", json!({ "user": user })).await;
        self.csrf = answer.body["csrf_token"].as_str().map(str::to_owned);
        answer
    }

    /// Signs in as `user` with a password, then the authenticator app's `code`; keeps the new
    /// CSRF token.
    pub(crate) async fn sign_in_with_code(&mut self, user: &str, code: &str) -> Answer {
        self.password(user).await;
        let challenge = self.post("/mfa/signin/challenge", json!({})).await;
        assert_eq!(challenge.status, StatusCode::OK, "{:?}", challenge.body);
        let done = self.post("/mfa/signin/challenge/finish", json!({ "code": code })).await;
        assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
        self.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
        done
    }

    pub(crate) fn session_id(&self) -> Option<String> {
        self.cookies.get("id").cloned()
    }
}
