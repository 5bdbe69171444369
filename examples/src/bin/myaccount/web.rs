//! The app's state, its routes and the small helpers the handlers share. Sessions and CSRF
//! are in `session`, signing in in `signin`, the second step in `second_step`, the security
//! page in `security`. Everything about factors is a call into `Mfa`; this is the wiring a
//! host writes once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mfa_core::{Error, Mfa, Prompt};
use mfa_otp::DevConsoleSender;
use serde::Deserialize;
use serde_json::json;

pub(crate) use crate::accounts::Account;
use crate::accounts::Accounts;
use crate::session::{Session, Sid, Stage};
use crate::{pages, second_step, security, session, signin};

/// The app's shared state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

/// What [`App`] shares.
struct Inner {
    mfa: Mfa,
    outbox: DevConsoleSender,
    dev_outbox: bool,
    accounts: Accounts,
    sessions: Mutex<HashMap<String, Session>>,
    /// Verified against when the username is unknown, so both cases cost the same.
    dummy_hash: String,
}

impl App {
    /// The state around `mfa`; `dev_outbox` serves `outbox`'s codes at `/dev/outbox`.
    pub(crate) fn new(mfa: Mfa, accounts: Accounts, outbox: DevConsoleSender, dev_outbox: bool) -> Self {
        let dummy_hash = signin::hash_password("not anybody's password").unwrap_or_default();
        Self(Arc::new(Inner { mfa, outbox, dev_outbox, accounts, sessions: Mutex::default(), dummy_hash }))
    }

    /// The MFA service.
    pub(crate) fn mfa(&self) -> &Mfa {
        &self.0.mfa
    }

    /// The session store: session id → session.
    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.0.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host's user accounts.
    pub(crate) fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// A password hash that matches no password.
    pub(crate) fn dummy_hash(&self) -> &str {
        &self.0.dummy_hash
    }
}

/// The router: every route, behind the session middleware.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/signup", get(signin::signup_page).post(signin::signup))
        .route("/signin", get(signin::signin_page).post(signin::signin))
        .route("/signout", post(signin::signout))
        .route("/passkey/start", post(signin::passkey_start))
        .route("/passkey/finish", post(signin::passkey_finish))
        .route("/mfa", get(second_step::mfa_page).post(second_step::mfa_code))
        .route("/mfa/key", post(second_step::mfa_key))
        .route("/mfa/resend", post(second_step::mfa_resend))
        .route("/mfa/recovery", get(second_step::recovery_page).post(second_step::recovery_code))
        .route("/reauth", get(security::reauth_page).post(security::reauth))
        .route("/security", get(security::security))
        .route("/security/totp", post(security::totp_start))
        .route("/security/oob", post(security::oob_start))
        .route("/security/confirm", post(security::confirm))
        .route("/security/resend", post(security::resend_enrolment))
        .route("/security/keys/start", post(security::key_start))
        .route("/security/keys/finish", post(security::key_finish))
        .route("/security/rename", post(security::rename))
        .route("/security/preferred", post(security::preferred))
        .route("/security/remove", get(security::remove_page).post(security::remove))
        .route("/security/recovery", post(security::recovery_generate))
        .route("/security/devices/revoke", post(security::device_revoke))
        .route("/security/devices/revoke-all", post(security::devices_revoke_all))
        .route("/dev/outbox", get(dev_outbox))
        .layer(middleware::from_fn_with_state(app.clone(), session::middleware))
        .with_state(app)
}

// ----- helpers -----------------------------------------------------------------------------

/// What every handler answers.
pub(crate) type Page = Response;

/// A redirect to `to`.
pub(crate) fn see(to: &str) -> Page {
    Redirect::to(to).into_response()
}

/// The refusal of a form or script request without this session's CSRF token.
pub(crate) fn bad_request() -> Page {
    (StatusCode::FORBIDDEN, "The form expired. Go back, reload the page and try again.").into_response()
}

/// A page: `body` in the layout, with the session's flash message.
pub(crate) fn render(app: &App, sid: &Sid, title: &str, body: String) -> Page {
    let session = app.session(sid);
    let flash = app.take_flash(sid);
    Html(pages::layout(title, &session, flash.as_ref(), &body)).into_response()
}

/// The page for an unexpected failure (500).
pub(crate) fn error_page(app: &App, sid: &Sid, e: &Error) -> Page {
    tracing::warn!(error = %e, "request failed");
    app.flash(sid, pages::Flash::error(pages::describe(e)));
    let session = app.session(sid);
    let flash = app.take_flash(sid);
    (StatusCode::INTERNAL_SERVER_ERROR, Html(pages::layout("Error", &session, flash.as_ref(), ""))).into_response()
}

/// A script request's failure (400), as JSON.
pub(crate) fn json_error(e: &Error) -> Page {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": pages::describe(e) }))).into_response()
}

/// The WebAuthn options of a prompt, for the browser's script.
pub(crate) fn options_value(prompt: &Prompt) -> Option<serde_json::Value> {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => serde_json::from_str(options_json).ok(),
        _ => None,
    }
}

/// `?factor=ID`: the factor a page is about.
#[derive(Deserialize)]
pub(crate) struct FactorQuery {
    pub(crate) factor: Option<String>,
}

// ----- pages for everyone ------------------------------------------------------------------

/// `/`: wherever the session is in signing in.
async fn home(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    match app.session(&sid).stage {
        Stage::SignedIn => see("/security"),
        Stage::PasswordOk => see("/mfa"),
        Stage::Anonymous => see("/signin"),
    }
}

/// The pages' script.
async fn script() -> Page {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], pages::SCRIPT).into_response()
}

/// The pages' style sheet.
async fn style() -> Page {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::STYLE).into_response()
}

/// `?to=DESTINATION`.
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
