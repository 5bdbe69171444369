//! The host's own routes: the page, sign-up, password sign-in and sign-out, the account
//! (behind the guard), a password change that needs a step-up, and the development outbox.
//! Everything about MFA is mfa-axum's, nested under `/mfa`.

use std::time::Duration;

use axum::extract::{FromRef, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mfa_axum::{ApiError, CheckedSession, MfaHttp, MfaSession};
use mfa_core::access::{ActionDigest, StepUp};
use mfa_core::{AccessPolicy, Error, SecretString, UserId};
use mfa_otp::DevConsoleSender;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::{self, Accounts};

/// The app's state.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) http: MfaHttp,
    pub(crate) accounts: Accounts,
    /// The development sender, served at `/dev/outbox` when set.
    pub(crate) outbox: Option<DevConsoleSender>,
}

impl FromRef<App> for MfaHttp {
    fn from_ref(app: &App) -> Self {
        app.http.clone()
    }
}

pub(crate) fn router(app: App) -> Router {
    let http = app.http.clone();
    Router::new()
        .route("/api/account", get(account))
        .route("/api/password", post(change_password))
        .route_layer(http.require(AccessPolicy::default()))
        .route("/", get(page))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], include_str!("app.js")) }))
        .route("/api/sign-up", post(sign_up))
        .route("/api/sign-in", post(sign_in))
        .route("/api/sign-out", post(sign_out))
        .route("/dev/outbox", get(dev_outbox))
        .nest("/mfa", http.router())
        .with_state(app)
}

/// The page, with the session's CSRF token in it.
async fn page(session: MfaSession) -> Result<Html<String>, ApiError> {
    Ok(Html(include_str!("page.html").replace("{csrf}", &session.csrf_token().await?)))
}

/// A password moves into a [`SecretString`] (zeroized when dropped) as it is read.
#[derive(Deserialize)]
struct Credentials {
    user: String,
    #[serde(deserialize_with = "secret")]
    password: SecretString,
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

/// A user name: 3-32 lower-case letters, digits, `.`, `-` or `_`.
fn user_name(name: &str) -> Result<UserId, ApiError> {
    let name = name.trim().to_lowercase();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
    if !(3..=32).contains(&name.len()) || !name.chars().all(allowed) {
        let reason = "3 to 32 letters, digits, dots, dashes or underscores";
        return Err(Error::InvalidInput { field: "user", reason }.into());
    }
    Ok(UserId::new(name)?)
}

/// The answer to a password sign-in: whether a second step is needed.
async fn signed_in(session: &CheckedSession, user: UserId) -> Result<Json<Value>, ApiError> {
    session.password_verified(user).await?;
    let decision = session.decide(&AccessPolicy::default(), None).await?;
    Ok(Json(json!({ "complete": decision.is_satisfied(), "csrf_token": session.csrf_token().await? })))
}

async fn sign_up(
    State(app): State<App>,
    session: CheckedSession,
    Json(form): Json<Credentials>,
) -> Result<Json<Value>, ApiError> {
    let user = user_name(&form.user)?;
    if form.password.expose().chars().count() < 8 {
        return Err(Error::InvalidInput { field: "password", reason: "at least 8 characters" }.into());
    }
    if !app.accounts.create(user.as_str(), form.password.expose()).await? {
        return Err(Error::AlreadyExists.into());
    }
    tracing::info!("{user} created an account");
    signed_in(&session, user).await
}

/// The host's password sign-in. (A service on the internet also throttles it per account
/// and per address.)
async fn sign_in(
    State(app): State<App>,
    session: CheckedSession,
    Json(form): Json<Credentials>,
) -> Result<Json<Value>, ApiError> {
    let user = user_name(&form.user).map_err(|_| ApiError::PasswordInvalid)?;
    if !app.accounts.check(user.as_str(), &form.password).await? {
        tracing::info!("a wrong password for {user}");
        return Err(ApiError::PasswordInvalid);
    }
    signed_in(&session, user).await
}

async fn sign_out(session: CheckedSession) -> Result<Json<Value>, ApiError> {
    session.sign_out().await?;
    Ok(Json(json!({})))
}

/// The signed-in account (behind the guard), and whether it is the help desk's (the page
/// then shows the administration; the endpoints ask the service's admin check anyway).
async fn account(State(app): State<App>, session: MfaSession) -> Result<Json<Value>, ApiError> {
    let user = session.signed_in().await?.user;
    let phone = app.accounts.get(user.as_str()).await?.and_then(|a| a.phone);
    Ok(Json(json!({ "user": user, "phone": phone, "admin": user.as_str() == accounts::ADMIN })))
}

#[derive(Deserialize)]
struct NewPassword {
    #[serde(deserialize_with = "secret")]
    password: SecretString,
}

/// A sensitive action: a verification within five minutes, for this very action.
async fn change_password(
    State(app): State<App>,
    session: CheckedSession,
    Json(form): Json<NewPassword>,
) -> Result<Json<Value>, ApiError> {
    if form.password.expose().chars().count() < 8 {
        return Err(Error::InvalidInput { field: "password", reason: "at least 8 characters" }.into());
    }
    let user = session.signed_in().await?.user;
    let action = ActionDigest::new("change-password", &[("user", user.as_str())]);
    session.require_step_up(&StepUp::within(Duration::from_secs(300)).for_action(action)).await?;
    app.accounts.set_password(user.as_str(), form.password.expose()).await?;
    tracing::info!("{user} changed their password");
    Ok(Json(json!({ "changed": true })))
}

#[derive(Deserialize)]
struct OutboxQuery {
    to: String,
}

/// Development only (`--dev-outbox`): the last code "sent" to a phone number or address.
async fn dev_outbox(State(app): State<App>, Query(q): Query<OutboxQuery>) -> Response {
    match app.outbox {
        Some(outbox) => Json(json!({ "to": q.to, "code": outbox.last_code_to(&q.to) })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
