//! The security page over HTTP: every endpoint's success, its error codes, CSRF refused,
//! callers who have not finished signing in refused, another user's ids not found.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use mfa_core::{Clock, FactorId, UserId};
use serde_json::{Value, json};
use support::{Browser, World};

/// Alice signed in with her password and her authenticator app.
async fn signed_in(w: &World) -> Browser {
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    browser
}

fn totp_id(factors: &Value) -> String {
    factors.as_array().unwrap().iter().find(|f| f["kind"] == "totp").unwrap()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_security_page_needs_the_second_step_when_the_user_has_a_factor() {
    let w = World::new().await;
    let mut browser = w.browser();
    assert_eq!(browser.get("/mfa/factors").await.code(), "unauthenticated");
    browser.password("alice").await;
    let refused = browser.get("/mfa/factors").await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    for path in ["/mfa/recovery-codes", "/mfa/devices"] {
        assert_eq!(browser.get(path).await.code(), "verification_required", "{path}");
    }
    let add = browser.post("/mfa/factors", json!({ "kind": "totp" })).await;
    assert_eq!(add.code(), "verification_required", "a password alone adds nothing once MFA is on");

    let mut browser = signed_in(&w).await;
    let factors = browser.get("/mfa/factors").await;
    assert_eq!(factors.status, StatusCode::OK);
    assert_eq!(factors.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_without_a_factor_adds_the_first_one_with_the_password() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("bob").await;
    assert_eq!(browser.get("/mfa/factors").await.body, json!([]));
    let start = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "Phone" })).await;
    assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
    assert_eq!(start.body["prompt"]["type"], "shared_secret");
    let key = start.body["prompt"]["secret_base32"].as_str().unwrap();
    let key = data_encoding::BASE32_NOPAD.decode(key.as_bytes()).unwrap();
    let id = start.body["factor"]["id"].as_str().unwrap().to_owned();

    let wrong = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": "000000" })).await;
    assert_eq!(wrong.code(), "code_invalid");
    let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
    let done = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!((done.body["status"].as_str(), done.body["label"].as_str()), (Some("active"), Some("Phone")));

    // Proving the new factor counted as a verification: the session stays signed in.
    assert_eq!(browser.get("/mfa/factors").await.status, StatusCode::OK);
    // A new sign-in needs the second step from now on.
    let mut later = w.browser();
    later.password("bob").await;
    assert_eq!(later.get("/mfa/factors").await.code(), "verification_required");
}

#[tokio::test]
async fn every_change_refuses_a_missing_csrf_token() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let id = totp_id(&browser.get("/mfa/factors").await.body);
    browser.csrf = None;
    let changes = [
        (Method::POST, "/mfa/factors".to_owned()),
        (Method::POST, format!("/mfa/factors/{id}/finish")),
        (Method::POST, format!("/mfa/factors/{id}/resend")),
        (Method::PATCH, format!("/mfa/factors/{id}")),
        (Method::POST, format!("/mfa/factors/{id}/preferred")),
        (Method::DELETE, format!("/mfa/factors/{id}")),
        (Method::POST, "/mfa/recovery-codes".to_owned()),
        (Method::POST, "/mfa/recovery-codes/regenerate".to_owned()),
        (Method::DELETE, "/mfa/devices".to_owned()),
        (Method::DELETE, format!("/mfa/devices/{}", FactorId::random().unwrap())),
        (Method::POST, "/mfa/reauth".to_owned()),
    ];
    for (method, path) in changes {
        let refused = browser.send(method.clone(), &path, Some(json!({ "label": "x" }))).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "csrf_refused"), "{method} {path}");
    }
    assert_eq!(w.mfa.list_factors(&w.alice).await.unwrap().len(), 1, "nothing changed");
}

#[tokio::test]
async fn another_users_factor_is_not_found_and_a_malformed_id_is_invalid() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let other = FactorId::random().unwrap();
    let renamed = browser.send(Method::PATCH, &format!("/mfa/factors/{other}"), Some(json!({ "label": "x" }))).await;
    assert_eq!((renamed.status, renamed.code()), (StatusCode::NOT_FOUND, "not_found"));
    let removed = browser.send(Method::DELETE, &format!("/mfa/factors/{other}"), None).await;
    assert_eq!(removed.code(), "not_found");
    let malformed = browser.send(Method::DELETE, "/mfa/factors/not-an-id", None).await;
    assert_eq!((malformed.status, malformed.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
}

#[tokio::test]
async fn rename_prefer_and_remove_a_factor() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let id = totp_id(&browser.get("/mfa/factors").await.body);
    let path = format!("/mfa/factors/{id}");
    let renamed = browser.send(Method::PATCH, &path, Some(json!({ "label": "Work phone" }))).await;
    assert_eq!(renamed.body["label"], "Work phone");
    let bad = browser.send(Method::PATCH, &format!("/mfa/factors/{id}"), Some(json!({ "label": "" }))).await;
    assert_eq!((bad.code(), bad.body["field"].as_str()), ("invalid_input", Some("label")));
    let preferred = browser.post(&format!("/mfa/factors/{id}/preferred"), json!({})).await;
    assert_eq!(preferred.status, StatusCode::NO_CONTENT);
    let removed = browser.send(Method::DELETE, &format!("/mfa/factors/{id}"), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{:?}", removed.body);
    assert!(w.mfa.list_factors(&w.alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_sensitive_change_after_the_window_asks_for_the_password_and_bounds_guessing() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let id = totp_id(&browser.get("/mfa/factors").await.body);
    w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
    let stale = browser.send(Method::DELETE, &format!("/mfa/factors/{id}"), None).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::UNAUTHORIZED, "reauth_required"));

    let wrong = browser.post("/mfa/reauth", json!({ "password": "wrong" })).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "password_invalid"));
    let right = browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await;
    assert_eq!(right.status, StatusCode::NO_CONTENT);
    let still = browser.send(Method::DELETE, &format!("/mfa/factors/{id}"), None).await;
    assert_eq!(still.code(), "mfa_required", "the second step is old too");

    for _ in 0..4 {
        assert_eq!(browser.post("/mfa/reauth", json!({ "password": "guess" })).await.code(), "password_invalid");
    }
    let ended = browser.post("/mfa/reauth", json!({ "password": "guess" })).await;
    assert_eq!(ended.code(), "unauthenticated", "guessing the password from a session ends it");
    assert_eq!(browser.get("/mfa/factors").await.code(), "unauthenticated");
}

#[tokio::test]
async fn recovery_codes_are_shown_once_and_not_cached() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let codes = browser.post("/mfa/recovery-codes", json!({})).await;
    assert_eq!(codes.status, StatusCode::CREATED, "{:?}", codes.body);
    assert_eq!(codes.headers[header::CACHE_CONTROL], "no-store");
    let count = codes.body["codes"].as_array().unwrap().len();
    assert!(count >= 8);
    assert_eq!(browser.get("/mfa/recovery-codes").await.body["remaining"], count);
    let again = browser.post("/mfa/recovery-codes", json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "already_exists"));
    let fresh = browser.post("/mfa/recovery-codes/regenerate", json!({})).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    assert_ne!(fresh.body["codes"], codes.body["codes"]);
}

#[tokio::test]
async fn remembered_devices_are_listed_and_revoked() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": true })).await;
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    let devices = browser.get("/mfa/devices").await;
    assert_eq!(devices.body.as_array().unwrap().len(), 1);
    let id = devices.body[0]["id"].as_str().unwrap().to_owned();
    let bob = UserId::new("bob").unwrap();
    assert!(w.mfa.list_devices(&bob).await.unwrap().is_empty());
    let revoked = browser.send(Method::DELETE, &format!("/mfa/devices/{id}"), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let again = browser.send(Method::DELETE, &format!("/mfa/devices/{id}"), None).await;
    assert_eq!(again.code(), "not_found");
    let all = browser.send(Method::DELETE, "/mfa/devices", None).await;
    assert_eq!(all.body["revoked"], 0);
}

#[tokio::test]
async fn a_step_up_approves_the_one_action_it_was_bound_to() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let refused = browser.post("/pay", json!({ "amount": "10" })).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "step_up_required"));

    w.clock.advance(Duration::from_secs(30)); // the next code: the sign-in's was used
    let challenge = browser.post("/mfa/signin/step-up", json!({})).await;
    assert_eq!(challenge.status, StatusCode::OK, "{:?}", challenge.body);
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);

    let paid = browser.post("/pay", json!({ "amount": "10" })).await;
    assert_eq!((paid.status, &paid.body), (StatusCode::OK, &json!({ "paid": "10" })));
    let other = browser.post("/pay", json!({ "amount": "9999" })).await;
    assert_eq!(other.code(), "step_up_required", "the verification approved 10, not 9999");
}

#[tokio::test]
async fn a_step_up_needs_a_finished_sign_in() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    let refused = browser.post("/mfa/signin/step-up", json!({})).await;
    assert_eq!(refused.code(), "verification_required");
}

#[tokio::test]
async fn an_sms_factor_takes_the_profile_number_and_confirms_it_to_the_host() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("carol").await;
    let start = browser.post("/mfa/factors", json!({ "kind": "sms" })).await;
    assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
    assert_eq!(start.body["prompt"]["type"], "code_sent");
    assert!(w.accounts.confirmed_phones.lock().unwrap().is_empty(), "not before the code");
    let id = start.body["factor"]["id"].as_str().unwrap().to_owned();
    let code = w.outbox.last_code_to("+14155552671").expect("a code to the profile's number");
    let done = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let confirmed = w.accounts.confirmed_phones.lock().unwrap().clone();
    assert_eq!(confirmed, vec![("carol".to_owned(), "+14155552671".to_owned())]);
}

#[tokio::test]
async fn without_a_session_every_security_endpoint_is_refused_and_nothing_grows() {
    let w = World::new().await;
    let mut browser = w.browser();
    let token = browser.get("/mfa/csrf").await.body["csrf_token"].as_str().map(str::to_owned);
    browser.csrf = token;
    let id = FactorId::random().unwrap();
    let calls = [
        (Method::GET, "/mfa/factors".to_owned()),
        (Method::POST, "/mfa/factors".to_owned()),
        (Method::POST, format!("/mfa/factors/{id}/finish")),
        (Method::POST, format!("/mfa/factors/{id}/resend")),
        (Method::PATCH, format!("/mfa/factors/{id}")),
        (Method::POST, format!("/mfa/factors/{id}/preferred")),
        (Method::DELETE, format!("/mfa/factors/{id}")),
        (Method::GET, "/mfa/recovery-codes".to_owned()),
        (Method::POST, "/mfa/recovery-codes".to_owned()),
        (Method::POST, "/mfa/recovery-codes/regenerate".to_owned()),
        (Method::GET, "/mfa/devices".to_owned()),
        (Method::DELETE, "/mfa/devices".to_owned()),
        (Method::DELETE, format!("/mfa/devices/{id}")),
        (Method::POST, "/mfa/reauth".to_owned()),
        (Method::POST, "/mfa/signin/step-up".to_owned()),
    ];
    let bodies = [
        json!({}),
        json!({ "kind": "totp" }),
        json!({ "code": "123456" }),
        json!({ "label": "x" }),
        json!({ "password": "correct horse" }),
    ];
    for (method, path) in calls {
        let body = bodies.iter().find(|b| expects(&path, b));
        let refused = browser.send(method.clone(), &path, body.cloned()).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{method} {path}");
    }
    let alice = w.mfa.list_factors(&w.alice).await.unwrap();
    assert_eq!(alice.len(), 1, "nothing changed for anyone");
}

/// The body each endpoint expects, so that the refusal is about the session, not the body.
fn expects(path: &str, body: &Value) -> bool {
    let wants = if path.ends_with("/finish") {
        "code"
    } else if path == "/mfa/factors" {
        "kind"
    } else if path == "/mfa/reauth" {
        "password"
    } else if path.starts_with("/mfa/factors/") && !path.ends_with("/resend") && !path.ends_with("/preferred") {
        "label"
    } else {
        return body.as_object().is_some_and(|o| o.is_empty());
    };
    body.get(wants).is_some()
}

#[tokio::test]
async fn sixty_four_racers_finishing_one_challenge_with_one_code_sign_in_once() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let code = w.code();
    let mut racers = Vec::new();
    for _ in 0..64 {
        let mut racer =
            Browser { app: browser.app.clone(), cookies: browser.cookies.clone(), csrf: browser.csrf.clone() };
        let code = code.clone();
        racers.push(tokio::spawn(async move {
            racer.post("/mfa/signin/challenge/finish", json!({ "code": code })).await.status
        }));
    }
    let mut signed_in = 0;
    for racer in racers {
        if racer.await.unwrap() == StatusCode::OK {
            signed_in += 1;
        }
    }
    assert_eq!(signed_in, 1, "one code, one sign-in");
}
