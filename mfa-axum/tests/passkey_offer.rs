//! The passkey upgrade: after a sign-in with the password and a second step other than a
//! passkey, the session offers to add a passkey, which one request pair adds without the
//! password again; when it is offered and when not (a passwordless sign-in, a user who has
//! a passkey, "Not now", the host's say, a service without passkeys, a password alone, a
//! remembered device alone, a step-up for one action); and the attacks on it (a session
//! waiting for its second step, a sign-in older than the re-authentication window).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::time::Duration;

use axum::http::{StatusCode, header};
use mfa_core::FactorKind;
use mfa_webauthn::WebauthnFactor;
use serde_json::json;
use support::webauthn::{Client, Passkey, with_webauthn};
use support::{Answer, Browser, Setup, World};

const ORIGIN: &str = "http://localhost:8080";

/// A service with TOTP, SMS, passkeys and security keys; Alice has an authenticator app.
async fn world() -> World {
    World::with(passkeys()).await
}

fn passkeys() -> Setup {
    with_webauthn(WebauthnFactor::builder("localhost", "Example", ORIGIN))
}

/// Alice signed in with her password and her authenticator app.
async fn alice_with_code(w: &World) -> (Browser, Answer) {
    let mut browser = w.browser();
    let answer = browser.sign_in_with_code("alice", &w.code()).await;
    (browser, answer)
}

/// Alice's active passkeys.
async fn passkeys_of_alice(w: &World) -> usize {
    let factors = w.mfa.list_factors(&w.alice).await.unwrap();
    factors.iter().filter(|f| f.kind == FactorKind::PASSKEY && f.status.as_str() == "active").count()
}

/// Gives Alice a passkey (from a signed-in session of hers), and moves the clock on past
/// the time step of her last code.
async fn alice_adds_a_passkey(w: &World) -> Passkey {
    let (mut browser, _) = alice_with_code(w).await;
    let mut passkey = Passkey::new();
    let added = browser.add_passkey(&mut passkey, ORIGIN, Client::Browser).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    w.clock.advance(Duration::from_secs(30));
    passkey
}

/// A new session on a browser that `browser` had remembered.
fn remembered_browser(w: &World, browser: &Browser) -> Browser {
    let mut later = w.browser();
    later.cookies.insert("mfa_device".into(), browser.cookies["mfa_device"].clone());
    later
}

#[tokio::test]
async fn after_the_password_and_an_authenticator_app_a_passkey_is_offered_and_added_in_one_step() {
    let w = world().await;
    let (mut browser, signed_in) = alice_with_code(&w).await;
    assert_eq!(
        (signed_in.body["complete"].as_bool(), signed_in.body["offer_passkey"].as_bool()),
        (Some(true), Some(true))
    );
    let session = browser.get("/mfa/session").await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    assert_eq!(session.body["user"], "alice");
    assert_eq!(session.body["first_step"], "password");
    assert_eq!(session.body["second_step"], "totp");
    assert_eq!(session.body["assurance"], "replay_resistant_otp");
    assert_eq!(session.body["offer_passkey"], true);

    // One click: start, the browser creates it, finish. No password asked again: the
    // sign-in that just happened is recent enough.
    let mut passkey = Passkey::new();
    let added = browser.add_passkey(&mut passkey, ORIGIN, Client::Browser).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!((added.body["kind"].as_str(), added.body["status"].as_str()), (Some("passkey"), Some("active")));
    assert_eq!(added.body["label"], "Passkey", "the default name");
    assert_eq!(passkeys_of_alice(&w).await, 1);
    let listed = browser.get("/mfa/factors").await;
    assert!(listed.body.as_array().unwrap().iter().any(|f| f["kind"] == "passkey" && f["status"] == "active"));
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false, "the offer is gone");
}

#[tokio::test]
async fn a_passkey_picked_from_autofill_signs_in_fully_and_is_not_offered_another() {
    let w = world().await;
    let mut passkey = alice_adds_a_passkey(&w).await;
    let mut browser = w.browser();
    let answer = browser.passwordless(&mut passkey, ORIGIN, Client::Browser).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!((answer.body["complete"].as_bool(), answer.body["offer_passkey"].as_bool()), (Some(true), Some(false)));
    let session = browser.get("/mfa/session").await;
    assert_eq!(session.body["user"], "alice");
    assert_eq!(session.body["complete"], true);
    assert_eq!(session.body["first_step"], "passkey");
    assert_eq!(session.body["second_step"], json!(null));
    assert_eq!(session.body["assurance"], "phishing_resistant_multi_factor");
    assert_eq!(session.body["offer_passkey"], false);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK, "the guard lets the passkey in");
}

#[tokio::test]
async fn passkey_autofill_options_say_conditional_and_the_dialogs_do_not() {
    let w = world().await;
    let mut browser = w.browser();
    browser.csrf = browser.get("/mfa/csrf").await.body["csrf_token"].as_str().map(str::to_owned);
    let autofill = browser.post("/mfa/signin/passwordless/start", json!({ "mediation": "conditional" })).await;
    assert_eq!(autofill.status, StatusCode::OK, "{:?}", autofill.body);
    assert_eq!(autofill.body["prompt"]["type"], "credential_request");
    assert_eq!(autofill.body["prompt"]["options"]["mediation"], "conditional");
    assert_eq!(autofill.body["prompt"]["options"]["publicKey"]["userVerification"], "required");
    let allowed = &autofill.body["prompt"]["options"]["publicKey"]["allowCredentials"];
    assert_eq!(allowed, &json!([]), "any passkey of the site: the one picked names the account");
    for body in [json!({}), json!({ "mediation": "optional" })] {
        let dialog = browser.post("/mfa/signin/passwordless/start", body.clone()).await;
        assert_eq!(dialog.status, StatusCode::OK, "{body}: {:?}", dialog.body);
        assert_eq!(dialog.body["prompt"]["options"].get("mediation"), None, "{body}");
    }
    let unknown = browser.post("/mfa/signin/passwordless/start", json!({ "mediation": "silent" })).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
}

#[tokio::test]
async fn a_user_who_has_a_passkey_is_not_offered_one_after_a_code() {
    let w = world().await;
    alice_adds_a_passkey(&w).await;
    let (mut browser, signed_in) = alice_with_code(&w).await;
    assert_eq!(signed_in.body["offer_passkey"], false);
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false);
}

#[tokio::test]
async fn not_now_ends_the_offer_for_this_session_only_and_the_host_is_told() {
    let w = world().await;
    let (mut browser, _) = alice_with_code(&w).await;
    let dismissed = browser.post("/mfa/session/passkey-offer/dismiss", json!({})).await;
    assert_eq!(dismissed.status, StatusCode::NO_CONTENT, "{:?}", dismissed.body);
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false);
    assert_eq!(*w.accounts.passkey_offers_dismissed.lock().unwrap(), vec!["alice".to_owned()]);
    assert_eq!(passkeys_of_alice(&w).await, 0, "nothing was added");

    // The next sign-in offers it again.
    w.clock.advance(Duration::from_secs(30));
    let (mut again, signed_in) = alice_with_code(&w).await;
    assert_eq!(signed_in.body["offer_passkey"], true);
    assert_eq!(again.get("/mfa/session").await.body["offer_passkey"], true);
}

#[tokio::test]
async fn a_host_that_kept_the_answer_is_not_offered_again() {
    let w = world().await;
    w.accounts.declines_passkeys.lock().unwrap().push("alice".into());
    let (mut browser, signed_in) = alice_with_code(&w).await;
    assert_eq!(signed_in.body["offer_passkey"], false);
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false);
}

#[tokio::test]
async fn the_host_can_turn_the_offer_off() {
    let w = World::with(Setup { offer_passkeys: false, ..passkeys() }).await;
    let (mut browser, signed_in) = alice_with_code(&w).await;
    assert_eq!(signed_in.body["offer_passkey"], false);
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false);
}

#[tokio::test]
async fn a_service_without_passkeys_offers_none() {
    let w = World::new().await;
    let (mut browser, signed_in) = alice_with_code(&w).await;
    assert_eq!(signed_in.body["offer_passkey"], false);
    let session = browser.get("/mfa/session").await;
    assert_eq!(
        (session.body["second_step"].as_str(), session.body["offer_passkey"].as_bool()),
        (Some("totp"), Some(false))
    );
}

#[tokio::test]
async fn a_session_waiting_for_its_second_step_is_not_offered_a_passkey_and_cannot_add_one() {
    let w = world().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    let session = browser.get("/mfa/session").await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    assert_eq!(
        (session.body["complete"].as_bool(), session.body["offer_passkey"].as_bool()),
        (Some(false), Some(false))
    );
    let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
    assert_eq!((start.status, start.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    let dismiss = browser.post("/mfa/session/passkey-offer/dismiss", json!({})).await;
    assert_eq!((dismiss.status, dismiss.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    assert!(w.mfa.list_factors(&w.alice).await.unwrap().iter().all(|f| f.kind == FactorKind::TOTP), "nothing added");
}

#[tokio::test]
async fn a_user_without_a_factor_is_not_offered_a_passkey() {
    let w = world().await;
    let mut browser = w.browser();
    browser.password("bob").await;
    let session = browser.get("/mfa/session").await;
    assert_eq!(
        (session.body["complete"].as_bool(), session.body["offer_passkey"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(session.body["second_step"], json!(null));
}

#[tokio::test]
async fn a_remembered_device_alone_is_not_offered_a_passkey() {
    let w = world().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let remembered =
        browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": true })).await;
    assert_eq!(remembered.status, StatusCode::OK, "{:?}", remembered.body);
    assert!(remembered.headers.contains_key(header::SET_COOKIE));
    // The next sign-in on this browser: the password, and the device for the second step.
    let mut later = remembered_browser(&w, &browser);
    later.password("alice").await;
    let session = later.get("/mfa/session").await;
    assert_eq!(session.body["remembered_device"], true);
    assert_eq!(
        (session.body["complete"].as_bool(), session.body["offer_passkey"].as_bool()),
        (Some(true), Some(false))
    );
}

#[tokio::test]
async fn a_step_up_for_one_action_does_not_make_a_sign_in_offer_a_passkey() {
    let w = world().await;
    // Alice's browser is remembered: her password alone finishes her sign-in.
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": true })).await;
    w.clock.advance(Duration::from_secs(30));
    let mut later = remembered_browser(&w, &browser);
    later.password("alice").await;
    // A payment asks for a step-up bound to it, which she gives.
    assert_eq!(later.post("/pay", json!({ "amount": "10" })).await.code(), "step_up_required");
    let challenge = later.post("/mfa/signin/step-up", json!({})).await;
    assert_eq!(challenge.status, StatusCode::OK, "{:?}", challenge.body);
    let done = later.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["offer_passkey"], false);
    assert_eq!(later.get("/mfa/session").await.body["second_step"], json!(null));
}

#[tokio::test]
async fn past_the_re_authentication_window_adding_the_offered_passkey_asks_for_the_password_again() {
    let w = world().await;
    let (mut browser, _) = alice_with_code(&w).await;
    w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
    assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], true, "still offered");
    let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
    assert_eq!((start.status, start.code()), (StatusCode::UNAUTHORIZED, "reauth_required"));
    assert_eq!(passkeys_of_alice(&w).await, 0);
    assert!(w.mfa.list_factors(&w.alice).await.unwrap().iter().all(|f| f.kind == FactorKind::TOTP), "nothing pending");

    // The password again, and a second step again: then it is added.
    let reauth = browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await;
    assert_eq!(reauth.status, StatusCode::NO_CONTENT);
    let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
    assert_eq!((start.status, start.code()), (StatusCode::UNAUTHORIZED, "mfa_required"));
    browser.post("/mfa/signin/step-up", json!({})).await;
    let stepped = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(stepped.status, StatusCode::OK, "{:?}", stepped.body);
    let added = browser.add_passkey(&mut Passkey::new(), ORIGIN, Client::Browser).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!(passkeys_of_alice(&w).await, 1);
}
