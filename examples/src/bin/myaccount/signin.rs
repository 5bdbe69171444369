//! Signing up, in and out: the host's passwords, and the passkey sign-in that needs no
//! username. The second step after a password is in `second_step`.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use mfa_core::{Error, FactorKind, Proof, SecretString, UserId};
use serde::Deserialize;
use serde_json::json;

use crate::pages;
use crate::second_step::DEVICE_COOKIE;
use crate::session::{CsrfForm, CsrfHeader, CsrfOnly, Sid, Stage, cookie, csrf_field, random_token, with_cookies};
use crate::web::{Account, App, Page, error_page, json_error, options_value, render, see};

/// An Argon2 hash of `password`, with a random salt.
pub(crate) fn hash_password(password: &str) -> Result<String, Error> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    mfa_core::secret::fill_random(&mut salt)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Crypto(mfa_core::error::CryptoError::Hash))
}

/// Whether `password` matches `hash` (verified off the async runtime: Argon2 is slow on purpose).
pub(crate) async fn password_matches(hash: String, password: SecretString) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|h| Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

#[derive(Deserialize)]
pub(crate) struct SignupForm {
    csrf: String,
    username: String,
    password: String,
}

csrf_field!(SignupForm);

pub(crate) async fn signup_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Create your account", pages::signup(&csrf))
}

pub(crate) async fn signup(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfForm(f): CsrfForm<SignupForm>,
) -> Page {
    let username = f.username.trim().to_lowercase();
    let problem = if username.is_empty()
        || username.len() > 64
        || !username.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        Some("Choose a username of up to 64 letters, digits and . _ - @")
    } else if f.password.chars().count() < 8 || f.password.len() > 256 {
        Some("Choose a password of at least 8 characters.")
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
    let account = Account { id, username, password_hash: hash };
    match app.accounts().create(&account).await {
        Ok(true) => {}
        Ok(false) => {
            app.flash(&sid, pages::Flash::error("That username is taken."));
            return see("/signup");
        }
        Err(e) => return error_page(&app, &sid, &e),
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

pub(crate) async fn signin_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Sign in", pages::signin(&csrf))
}

#[derive(Deserialize)]
pub(crate) struct SigninForm {
    csrf: String,
    username: String,
    password: String,
}

csrf_field!(SigninForm);

pub(crate) async fn signin(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<SigninForm>,
) -> Page {
    let account = match app.accounts().by_username(&f.username.trim().to_lowercase()).await {
        Ok(account) => account,
        Err(e) => return error_page(&app, &sid, &e),
    };
    let hash = account.as_ref().map_or_else(|| app.dummy_hash().to_owned(), |a| a.password_hash.clone());
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

pub(crate) async fn signout(State(app): State<App>, Extension(sid): Extension<Sid>, _: CsrfForm<CsrfOnly>) -> Page {
    let cookie = app.end_session(&sid);
    with_cookies(see("/signin"), [cookie])
}

/// "Sign in with a passkey": no username; the passkey names the account.
pub(crate) async fn passkey_start(State(app): State<App>, Extension(sid): Extension<Sid>, _: CsrfHeader) -> Page {
    match app.mfa().start_passwordless(&FactorKind::PASSKEY).await {
        Ok(challenge) => {
            app.update(&sid, |s| s.passwordless = Some(challenge.id));
            Json(json!({ "options": options_value(&challenge.prompt) })).into_response()
        }
        Err(e) => json_error(&e),
    }
}

pub(crate) async fn passkey_finish(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfHeader(body): CsrfHeader<String>,
) -> Page {
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
    let account = match app.accounts().by_id(&verified.user).await {
        Ok(Some(account)) => account,
        Ok(None) => return json_error(&Error::NotFound),
        Err(e) => return json_error(&e),
    };
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
