//! The second step (`/mfa`): after the password at sign-in, or as a re-check before a change.
//! A code, a security key or passkey, a recovery code, or another factor; and "remember this
//! device".

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use mfa_core::{Error, FactorId, Proof, Verified};
use serde::Deserialize;
use serde_json::json;

use crate::pages;
use crate::session::{CsrfForm, CsrfHeader, CsrfOnly, Sid, Stage, csrf_field, with_cookies};
use crate::web::{Account, App, FactorQuery, Page, error_page, json_error, options_value, render, see};

/// The cookie of a remembered device.
pub(crate) const DEVICE_COOKIE: &str = "myaccount_device";

/// Whose second step this is: after the password at sign-in, or a re-check before a change.
fn mfa_account(app: &App, sid: &Sid) -> Option<Account> {
    let s = app.session(sid);
    match s.stage {
        Stage::PasswordOk | Stage::SignedIn => s.account,
        Stage::Anonymous => None,
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

/// The cookie that remembers this device for `max_age`.
fn device_cookie(token: &str, max_age: Duration) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{DEVICE_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        max_age.as_secs()
    ))
    .ok()
}

pub(crate) async fn mfa_page(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    Query(q): Query<FactorQuery>,
) -> Page {
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
pub(crate) struct CodeForm {
    csrf: String,
    code: String,
    #[serde(default)]
    remember: Option<String>,
}

csrf_field!(CodeForm);

pub(crate) async fn mfa_code(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfForm(f): CsrfForm<CodeForm>,
) -> Page {
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

/// After a second step: remembers the device if asked, marks the session signed in and
/// redirects to where the user was going.
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
pub(crate) struct KeyAnswer {
    credential: serde_json::Value,
    #[serde(default)]
    remember: bool,
}

pub(crate) async fn mfa_key(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfHeader(Json(answer)): CsrfHeader<Json<KeyAnswer>>,
) -> Page {
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

pub(crate) async fn mfa_resend(State(app): State<App>, Extension(sid): Extension<Sid>, _: CsrfForm<CsrfOnly>) -> Page {
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

pub(crate) async fn recovery_page(State(app): State<App>, Extension(sid): Extension<Sid>) -> Page {
    let Some(account) = mfa_account(&app, &sid) else { return see("/signin") };
    let remaining = app.mfa().recovery_codes_remaining(&account.id).await.unwrap_or(0);
    let csrf = app.session(&sid).csrf;
    render(&app, &sid, "Use a recovery code", pages::recovery_entry(&csrf, remaining))
}

pub(crate) async fn recovery_code(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfForm(f): CsrfForm<CodeForm>,
) -> Page {
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
