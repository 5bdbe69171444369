//! **Adding MFA to an axum app** with `mfa-axum`: the app keeps its own users and password
//! sign-in; the library adds an authenticator app, passkeys (also to sign in without a
//! password), recovery codes, a second sign-in step and a guarded page.
//!
//! ```sh
//! cargo run -p mfa-examples --bin host    # then open http://localhost:8090, alice / wonderland
//! cargo run -p mfa-examples --bin host -- --port 0    # any free port
//! ```
//!
//! The page (`page.html`) talks to the JSON endpoints through the browser module
//! `/mfa/mfa.js`.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::routing::{get, post};
use axum::{Json, Router, response::Html};
use mfa_axum::{ApiError, CheckedSession, Host, MfaHttp, MfaSession};
use mfa_core::{AccessPolicy, AeadSealer, Mfa, SecretString, UserId};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer};

/// The host's own users: user name → argon2id password hash.
#[derive(Debug, Clone, Default)]
struct Users(Arc<HashMap<String, String>>);

impl Users {
    fn with(accounts: &[(&str, &str)]) -> Result<Self, mfa_core::Error> {
        let mut users = HashMap::new();
        for (user, password) in accounts {
            let mut salt = [0u8; 16];
            mfa_core::secret::fill_random(&mut salt)?;
            let hash = Argon2::default().hash_password_with_salt(password.as_bytes(), &salt);
            users.insert((*user).to_owned(), hash.map_err(|_| mfa_core::error::CryptoError::Hash)?.to_string());
        }
        Ok(Self(Arc::new(users)))
    }

    /// Whether `password` is `user`'s. (A real host also throttles this and spends the same
    /// time on unknown users.)
    async fn check(&self, user: &str, password: &str) -> bool {
        let (hash, password) = (self.0.get(user).cloned(), password.to_owned());
        let verify = move || {
            let hash = hash.as_deref().and_then(|h| PasswordHash::new(h).ok());
            hash.is_some_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        };
        tokio::task::spawn_blocking(verify).await.unwrap_or(false) // Argon2 is slow on purpose
    }
}

/// What mfa-axum asks of the host: the password check for re-authentication.
#[async_trait::async_trait]
impl Host for Users {
    async fn check_password(&self, user: &UserId, password: &SecretString) -> bool {
        self.check(user.as_str(), password.expose()).await
    }

    fn after_sign_in(&self, _user: &UserId) -> String {
        "/account".into()
    }
}

#[derive(Clone)]
struct App {
    http: MfaHttp,
    users: Users,
}

impl axum::extract::FromRef<App> for MfaHttp {
    fn from_ref(app: &App) -> Self {
        app.http.clone()
    }
}

impl axum::extract::FromRef<App> for Users {
    fn from_ref(app: &App) -> Self {
        app.users.clone()
    }
}

#[derive(Deserialize)]
struct SignIn {
    user: String,
    password: String,
}

/// The host's password sign-in; the second step (if the user has a factor) follows in the page.
async fn sign_in(
    axum::extract::State(users): axum::extract::State<Users>,
    session: CheckedSession,
    Json(form): Json<SignIn>,
) -> Result<Json<Value>, ApiError> {
    if !users.check(&form.user, &form.password).await {
        return Err(ApiError::PasswordInvalid);
    }
    session.password_verified(UserId::new(form.user)?).await?;
    let decision = session.decide(&AccessPolicy::default(), None).await?;
    Ok(Json(json!({ "complete": decision.is_satisfied(), "csrf_token": session.csrf_token().await? })))
}

/// The page, with the session's CSRF token in it.
async fn page(session: MfaSession) -> Result<Html<String>, ApiError> {
    Ok(Html(include_str!("page.html").replace("{csrf}", &session.csrf_token().await?)))
}

async fn sign_out(session: CheckedSession) -> Result<Json<Value>, ApiError> {
    session.sign_out().await?;
    Ok(Json(json!({})))
}

async fn account(session: MfaSession) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "user": session.signed_in().await?.user })))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().skip_while(|a| a != "--port").nth(1).and_then(|p| p.parse().ok()).unwrap_or(8090);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let origin = format!("http://localhost:{}", listener.local_addr()?.port());
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral()?) // load a stored key in production
        .factor(TotpFactor::new("Host example")?)
        .factor(WebauthnFactor::builder("localhost", "Host example", &origin).build()?)
        .build()?;
    let users = Users::with(&[("alice", "wonderland")])?;
    let http = MfaHttp::new(mfa, users.clone()).insecure_cookies_for_localhost(); // plain HTTP on localhost
    let app = Router::new()
        .route("/api/account", get(account))
        .route_layer(http.require(AccessPolicy::default()))
        .route("/", get(page))
        .route("/account", get(page))
        .route("/api/sign-in", post(sign_in))
        .route("/api/sign-out", post(sign_out))
        .nest("/mfa", http.router())
        .with_state(App { http, users })
        .layer(SessionManagerLayer::new(Sessions::default()).with_secure(false));
    println!("Host example on {origin}: sign in as alice / wonderland");
    axum::serve(listener, app).await?;
    Ok(())
}
