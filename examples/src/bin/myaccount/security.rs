//! The security page and every change made from it: adding, renaming, preferring and
//! removing factors, recovery codes, remembered devices, and the re-authentication a
//! sensitive change asks for.

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use mfa_core::{EnrolmentRequest, Error, FactorId, FactorKind, Proof, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::pages;
use crate::session::{CsrfHeader, CsrfOnly, Sid, SignedIn, SignedInForm, csrf_field};
use crate::signin::password_matches;
use crate::web::{App, FactorQuery, Page, bad_request, error_page, json_error, options_value, render, see};

/// A refused change: re-authentication if that is what it needs, else back to the
/// security page with the reason.
fn refused(app: &App, sid: &Sid, e: &Error) -> Page {
    needs_reauth(app, sid, e, "/security").unwrap_or_else(|| {
        app.flash(sid, pages::Flash::error(pages::describe(e)));
        see("/security")
    })
}

/// Where to send a user who needs to prove themselves again before a change.
fn needs_reauth(app: &App, sid: &Sid, e: &Error, back: &str) -> Option<Page> {
    matches!(e, Error::ReauthRequired | Error::MfaRequired).then(|| {
        app.update(sid, |s| s.next = Some(back.to_owned()));
        see("/reauth")
    })
}

pub(crate) async fn security(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedIn { session, account }: SignedIn,
) -> Page {
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

// ----- re-authentication -------------------------------------------------------------------

pub(crate) async fn reauth_page(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedIn { session, .. }: SignedIn,
) -> Page {
    render(&app, &sid, "Confirm it's you", pages::reauth(&session.csrf, session.username().unwrap_or("")))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    password: String,
}

csrf_field!(PasswordForm);

pub(crate) async fn reauth(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<PasswordForm>,
) -> Page {
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
    let window = app.mfa().settings().reauth_window.as_millis() as i64;
    let mfa_fresh = session.mfa_at.is_some_and(|at| now.unix_millis() - at.unix_millis() < window);
    if has_mfa && !mfa_fresh {
        return see("/mfa");
    }
    let next = session.next.unwrap_or_else(|| "/security".into());
    app.update(&sid, |s| s.next = None);
    see(&next)
}

// ----- adding a factor ---------------------------------------------------------------------

pub(crate) async fn totp_start(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, .. }: SignedInForm<CsrfOnly>,
) -> Page {
    let request = EnrolmentRequest::new(FactorKind::TOTP).account_name(account.username.clone());
    match app.mfa().start_enrolment(&account.id, &app.fresh(&session), request).await {
        Ok(start) => render(&app, &sid, "Set up your authenticator app", pages::enrol_confirm(&session.csrf, &start)),
        Err(e) => refused(&app, &sid, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct OobForm {
    csrf: String,
    kind: String,
    destination: String,
    #[serde(default)]
    replaces: Option<String>,
}

csrf_field!(OobForm);

pub(crate) async fn oob_start(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<OobForm>,
) -> Page {
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
        Err(e) => refused(&app, &sid, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    csrf: String,
    factor: String,
    code: String,
}

csrf_field!(ConfirmForm);

pub(crate) async fn confirm(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<ConfirmForm>,
) -> Page {
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
pub(crate) struct FactorForm {
    csrf: String,
    factor: String,
}

csrf_field!(FactorForm);

pub(crate) async fn resend_enrolment(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<FactorForm>,
) -> Page {
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    match app.mfa().resend_enrolment(&account.id, &factor).await {
        Ok(_) => app.flash(&sid, pages::Flash::info("A new code is on its way.")),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    let pending = app.mfa().get_factor(&account.id, &factor).await.ok();
    render(&app, &sid, "Confirm it's yours", pages::enrol_retry(&session.csrf, &factor, pending.as_ref()))
}

#[derive(Deserialize)]
pub(crate) struct KeyStart {
    kind: String,
    #[serde(default)]
    label: String,
}

pub(crate) async fn key_start(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfHeader(Json(req)): CsrfHeader<Json<KeyStart>>,
) -> Page {
    let Some(SignedIn { session, account }) = SignedIn::of(&app, &sid) else {
        return json_error(&Error::ReauthRequired);
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
pub(crate) struct KeyFinish {
    factor: String,
    credential: serde_json::Value,
}

pub(crate) async fn key_finish(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    CsrfHeader(Json(req)): CsrfHeader<Json<KeyFinish>>,
) -> Page {
    let Some(SignedIn { session, account }) = SignedIn::of(&app, &sid) else {
        return json_error(&Error::ReauthRequired);
    };
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

// ----- managing factors --------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct RenameForm {
    csrf: String,
    factor: String,
    label: String,
}

csrf_field!(RenameForm);

pub(crate) async fn rename(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { account, form: f, .. }: SignedInForm<RenameForm>,
) -> Page {
    let Ok(factor) = f.factor.parse::<FactorId>() else { return bad_request() };
    match app.mfa().rename_factor(&account.id, &factor, &f.label).await {
        Ok(s) => app.flash(&sid, pages::Flash::info(format!("Renamed to {}.", s.label))),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}

pub(crate) async fn preferred(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<FactorForm>,
) -> Page {
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

pub(crate) async fn remove_page(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    Query(q): Query<FactorQuery>,
    SignedIn { session, account }: SignedIn,
) -> Page {
    let Some(Ok(factor)) = q.factor.as_deref().map(str::parse::<FactorId>) else { return see("/security") };
    match app.mfa().get_factor(&account.id, &factor).await {
        Ok(summary) => render(&app, &sid, "Remove", pages::remove_confirm(&session.csrf, &summary)),
        Err(e) => {
            app.flash(&sid, pages::Flash::error(pages::describe(&e)));
            see("/security")
        }
    }
}

pub(crate) async fn remove(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, form: f }: SignedInForm<FactorForm>,
) -> Page {
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

// ----- recovery codes and remembered devices -----------------------------------------------

pub(crate) async fn recovery_generate(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { session, account, .. }: SignedInForm<CsrfOnly>,
) -> Page {
    match app.mfa().regenerate_recovery_codes(&account.id, &app.fresh(&session)).await {
        Ok(set) => render(&app, &sid, "Your recovery codes", pages::recovery_codes(&set, &account.username)),
        Err(e) => refused(&app, &sid, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct DeviceForm {
    csrf: String,
    device: String,
}

csrf_field!(DeviceForm);

pub(crate) async fn device_revoke(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { account, form: f, .. }: SignedInForm<DeviceForm>,
) -> Page {
    let Ok(device) = f.device.parse() else { return bad_request() };
    match app.mfa().revoke_device(&account.id, &device).await {
        Ok(()) => app.flash(&sid, pages::Flash::info("That device will be asked for a second step again.")),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}

pub(crate) async fn devices_revoke_all(
    State(app): State<App>,
    Extension(sid): Extension<Sid>,
    SignedInForm { account, .. }: SignedInForm<CsrfOnly>,
) -> Page {
    match app.mfa().revoke_all_devices(&account.id).await {
        Ok(n) => app.flash(&sid, pages::Flash::info(format!("Signed out of 2-step on {n} device(s)."))),
        Err(e) => app.flash(&sid, pages::Flash::error(pages::describe(&e))),
    }
    see("/security")
}
