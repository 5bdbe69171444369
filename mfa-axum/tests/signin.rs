//! The sign-in step over HTTP: every endpoint's success, its error codes, CSRF refused and
//! callers without a sign-in refused; the guard; session ids renewed at every change.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use mfa_axum::MfaHttp;
use mfa_core::access::Requirement;
use mfa_core::store::{CounterStore, ThrottleScope};
use mfa_core::{AccessPolicy, Clock, FactorId, FreshAuth, UserId};
use mfa_store_memory::MemoryStore;
use serde_json::json;
use support::{Accounts, Browser, Setup, World};
use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer};

#[tokio::test]
async fn a_password_alone_does_not_pass_the_guard_and_names_the_factors_that_would() {
    let w = World::new().await;
    let mut browser = w.browser();
    assert_eq!(browser.get("/account").await.code(), "unauthenticated");
    browser.password("alice").await;
    let refused = browser.get("/account").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "verification_required");
    assert_eq!(refused.body["candidates"][0]["kind"], "totp");
}

#[tokio::test]
async fn the_second_step_signs_in_and_renews_the_session() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.get("/mfa/csrf").await;
    let anonymous = browser.session_id();
    browser.password("alice").await;
    let after_password = browser.session_id();
    assert_ne!(after_password, anonymous, "the session id changes with the password");

    let challenge = browser.post("/mfa/signin/challenge", json!({})).await;
    assert_eq!(challenge.status, StatusCode::OK, "{:?}", challenge.body);
    assert_eq!(challenge.body["factor"]["kind"], "totp");
    assert_eq!(challenge.body["prompt"]["type"], "enter_code");

    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["complete"], true);
    assert_eq!(done.body["next"], "/account");
    assert_ne!(browser.session_id(), after_password, "the session id changes with the verification");

    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, "the account page");
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_its_code_and_locks_with_retry_after() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let wrong = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    assert_eq!(wrong.body["message"], "That code is not right. Check it and try again.");
    let mut last = wrong;
    for _ in 0..20 {
        browser.post("/mfa/signin/challenge", json!({})).await;
        last = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
        if last.code() == "locked" {
            break;
        }
    }
    assert_eq!((last.status, last.code()), (StatusCode::TOO_MANY_REQUESTS, "locked"));
    let secs = last.body["retry_after"].as_u64().unwrap();
    assert_eq!(last.headers[header::RETRY_AFTER], secs.to_string().as_str());
    assert_eq!(browser.get("/account").await.code(), "verification_required", "still not signed in");
}

#[tokio::test]
async fn every_sign_in_endpoint_refuses_a_missing_or_wrong_csrf_token() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    let token = browser.csrf.clone();
    for path in [
        "/mfa/signin/challenge",
        "/mfa/signin/challenge/resend",
        "/mfa/signin/challenge/finish",
        "/mfa/signin/recovery-code",
        "/mfa/signin/temporary-access",
        "/mfa/signin/passwordless/start",
        "/mfa/signin/passwordless/finish",
    ] {
        browser.csrf = None;
        let missing = browser.post(path, json!({ "code": "123456", "credential": {} })).await;
        assert_eq!((missing.status, missing.code()), (StatusCode::FORBIDDEN, "csrf_refused"), "{path}");
        browser.csrf = Some("0".repeat(48));
        let wrong = browser.post(path, json!({ "code": "123456", "credential": {} })).await;
        assert_eq!(wrong.code(), "csrf_refused", "{path}");
    }
    browser.csrf = token;
    assert_eq!(browser.post("/mfa/signin/challenge", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_password_sign_in_the_second_step_is_refused() {
    let w = World::new().await;
    let mut browser = w.browser();
    let csrf = browser.get("/mfa/csrf").await;
    browser.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
    let requests = [
        ("/mfa/signin/challenge", json!({})),
        ("/mfa/signin/challenge/resend", json!({})),
        ("/mfa/signin/recovery-code", json!({ "code": "abcd-efgh" })),
    ];
    for (path, body) in requests {
        let refused = browser.post(path, body).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{path}");
    }
    let finish = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(finish.code(), "unauthenticated");
}

#[tokio::test]
async fn finishing_without_a_challenge_and_a_token_from_before_the_sign_in_are_refused() {
    let w = World::new().await;
    let mut browser = w.browser();
    let before = browser.get("/mfa/csrf").await.body["csrf_token"].as_str().map(str::to_owned);
    browser.password("alice").await;
    let fresh = browser.csrf.clone();
    assert_ne!(before, fresh, "signing in renews the CSRF token");
    browser.csrf = before;
    assert_eq!(browser.post("/mfa/signin/challenge", json!({})).await.code(), "csrf_refused");
    browser.csrf = fresh;
    let finish = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!((finish.status, finish.code()), (StatusCode::CONFLICT, "no_challenge"));
    let resend = browser.post("/mfa/signin/challenge/resend", json!({})).await;
    assert_eq!(resend.code(), "no_challenge");
}

#[tokio::test]
async fn bad_answers_are_typed_errors() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let both = browser.post("/mfa/signin/challenge/finish", json!({ "code": "1", "credential": {} })).await;
    assert_eq!((both.status, both.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
    let neither = browser.post("/mfa/signin/challenge/finish", json!({})).await;
    assert_eq!(neither.code(), "invalid_input");
    let other = json!({ "factor": FactorId::random().unwrap() });
    let unknown = browser.post("/mfa/signin/challenge", other).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_says_how_many_are_left() {
    let w = World::new().await;
    let fresh = FreshAuth::primary(w.clock.now()).with_mfa(w.clock.now());
    let codes = w.mfa.generate_recovery_codes(&w.alice, &fresh).await.unwrap();
    let code = codes.codes()[0].expose().to_owned();
    let mut browser = w.browser();
    browser.password("alice").await;
    let done = browser.post("/mfa/signin/recovery-code", json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["recovery_codes_remaining"], codes.codes().len() - 1);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);

    let mut again = w.browser();
    again.password("alice").await;
    let reused = again.post("/mfa/signin/recovery-code", json!({ "code": code })).await;
    assert_eq!(reused.code(), "code_invalid");
}

#[tokio::test]
async fn a_remembered_device_skips_the_second_step_next_time() {
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": true })).await;
    assert_eq!(done.status, StatusCode::OK);
    let cookie = done.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mfa_device=") && cookie.contains("HttpOnly"), "{cookie}");
    assert!(w.mfa.list_devices(&w.alice).await.unwrap()[0].label.contains("Chrome on Linux"));

    // A new sign-in on the same browser: the password suffices.
    browser.cookies.remove("id");
    browser.password("alice").await;
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);

    // Another browser still needs the second step.
    let mut other = w.browser();
    other.password("alice").await;
    assert_eq!(other.get("/account").await.code(), "verification_required");
}

#[tokio::test]
async fn passwordless_needs_a_ceremony_this_browser_started() {
    let w = World::new().await;
    let mut browser = w.browser();
    let csrf = browser.get("/mfa/csrf").await;
    browser.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
    let finish = browser.post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "x" } })).await;
    assert_eq!(finish.code(), "no_challenge");
    // No passkey adapter here: the start is refused with its code, and nothing is kept.
    let start = browser.post("/mfa/signin/passwordless/start", json!({})).await;
    assert_eq!((start.status, start.code()), (StatusCode::BAD_REQUEST, "unsupported"));
}

#[tokio::test]
async fn the_browser_module_is_served() {
    let w = World::new().await;
    let mut browser = w.browser();
    let script = browser.get("/mfa/mfa.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.body.as_str().unwrap().contains("export function createClient"));
}

#[tokio::test]
async fn messages_follow_the_configured_language() {
    #[derive(Debug)]
    struct Terse;
    impl mfa_axum::Messages for Terse {
        fn message(&self, code: &str, _retry_after: Option<u64>) -> std::borrow::Cow<'static, str> {
            format!("[{code}]").into()
        }
    }
    let w = World::new().await;
    let http = MfaHttp::new(w.mfa.clone(), Accounts::default()).messages(Terse);
    let app = Router::new()
        .nest("/mfa", http.router())
        .layer(SessionManagerLayer::new(Sessions::default()).with_secure(false));
    let mut browser = Browser { app, cookies: HashMap::new(), csrf: None };
    let refused = browser.post("/mfa/signin/challenge", json!({})).await;
    assert_eq!(refused.body["message"], "[csrf_refused]");
}

#[tokio::test]
async fn the_guard_can_redirect_to_the_hosts_pages_instead() {
    use axum::routing::get;
    let w = World::new().await;
    let next = mfa_axum::NextStep::Redirect {
        sign_in: "/signin".into(),
        verify: "/signin/second-step".into(),
        enrol: "/security/add".into(),
    };
    let http = MfaHttp::new(w.mfa.clone(), Accounts::default()).next_step(next);
    let app = Router::new()
        .route("/account", get(|| async { "the account page" }))
        .route_layer(http.require(mfa_core::AccessPolicy::default()))
        .route("/login", axum::routing::post(support::login))
        .with_state(http)
        .layer(SessionManagerLayer::new(Sessions::default()).with_secure(false));
    let mut browser = Browser { app, cookies: HashMap::new(), csrf: None };
    let anonymous = browser.get("/account").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers[header::LOCATION], "/signin");
    browser.password("alice").await;
    let half = browser.get("/account").await;
    assert_eq!(half.status, StatusCode::SEE_OTHER);
    assert_eq!(half.headers[header::LOCATION], "/signin/second-step");
}

#[tokio::test]
async fn malformed_bodies_are_refused_in_the_layers_format_and_change_nothing() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let w = World::new().await;
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let send = |content_type: &'static str, body: Vec<u8>| {
        let mut request = Request::post("/mfa/signin/challenge/finish").header("content-type", content_type);
        let cookies: Vec<String> = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        request = request.header("cookie", cookies.join("; "));
        request = request.header("x-csrf-token", browser.csrf.clone().unwrap());
        let request = request.body(Body::from(body)).unwrap();
        let app = browser.app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        }
    };
    let cases = [
        ("text/plain", b"{\"code\": \"123456\"}".to_vec()),
        ("application/json", b"{\"code\": ".to_vec()),
        ("application/json", b"{\"code\": \"1\", \"admin\": true}".to_vec()),
        ("application/json", vec![b' '; 200 * 1024]),
    ];
    for (content_type, body) in cases {
        let (status, answer) = send(content_type, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!((answer["code"].as_str(), answer["field"].as_str()), (Some("invalid_input"), Some("body")));
    }
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "the challenge is still there: {:?}", done.body);
}

// ---------------------------------------------------------------------------------------
// Temporary access codes
// ---------------------------------------------------------------------------------------

/// A temporary access code Alice (the administrator) issued for `name`.
async fn temporary_access_code(w: &World, name: &str) -> String {
    let issued = w.mfa.admin(&w.alice).issue_temporary_access(&UserId::new(name).unwrap(), None).await.unwrap();
    issued.code.expose().to_owned()
}

/// MFA required for everyone, at sign-in and on `/account`; a store the test can read.
fn mfa_required(store: Arc<MemoryStore>) -> Setup {
    let required = AccessPolicy::new(Requirement::Required);
    Setup { store, guard: required.clone(), sign_in_policy: required, ..Setup::default() }
}

#[tokio::test]
async fn a_temporary_access_code_signs_in_a_user_without_a_factor_where_mfa_is_required_and_lets_them_enrol() {
    let w = World::with(mfa_required(Arc::new(MemoryStore::new()))).await;
    let code = temporary_access_code(&w, "bob").await;
    let mut browser = w.browser();
    browser.password("bob").await;
    assert_eq!(browser.get("/account").await.code(), "enrolment_required", "Bob has no factor");
    let after_password = browser.session_id();

    let done = browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["complete"], true);
    assert_eq!(done.body["next"], "/account");
    assert_ne!(browser.session_id(), after_password, "the session id changes with the verification");
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);

    // Right after, Bob adds an authenticator app; then a second factor, which needs a
    // recent second step now that he has one.
    let start = browser.post("/mfa/factors", json!({ "kind": "totp" })).await;
    assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
    let key = data_encoding::BASE32_NOPAD.decode(start.body["prompt"]["secret_base32"].as_str().unwrap().as_bytes());
    let code = w.totp.code_at(&key.unwrap(), w.clock.now().unix_secs() as u64).unwrap();
    let path = format!("/mfa/factors/{}/finish", start.body["factor"]["id"].as_str().unwrap());
    let finished = browser.post(&path, json!({ "code": code })).await;
    assert_eq!(finished.status, StatusCode::OK, "{:?}", finished.body);
    assert_eq!(finished.body["status"], "active");
    let another = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "Backup phone" })).await;
    assert_eq!(another.status, StatusCode::CREATED, "{:?}", another.body);
}

#[tokio::test]
async fn a_temporary_access_code_counts_as_the_recent_second_step_a_user_with_factors_needs_to_add_one() {
    let w = World::new().await;
    let code = temporary_access_code(&w, "alice").await;
    let mut browser = w.browser();
    browser.password("alice").await;
    let before = browser.post("/mfa/factors", json!({ "kind": "totp" })).await;
    assert_eq!(before.code(), "verification_required", "Alice has a factor: the password is not enough");

    let done = browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!(done.body["complete"], true, "{:?}", done.body);
    let start = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "New phone" })).await;
    assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
}

#[tokio::test]
async fn a_temporary_access_code_works_once() {
    let w = World::new().await;
    let code = temporary_access_code(&w, "alice").await;
    let mut first = w.browser();
    first.password("alice").await;
    let done = first.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);

    let mut second = w.browser();
    second.password("alice").await;
    let again = second.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    assert_eq!(second.get("/account").await.code(), "verification_required", "still not signed in");
}

#[tokio::test]
async fn a_wrong_temporary_access_code_is_refused_and_counted() {
    let store = Arc::new(MemoryStore::new());
    let w = World::with(mfa_required(store.clone())).await;
    let code = temporary_access_code(&w, "bob").await;
    let bob = UserId::new("bob").unwrap();
    let mut browser = w.browser();
    browser.password("bob").await;

    let wrong = browser.post("/mfa/signin/temporary-access", json!({ "code": "AAAA-AAAA-AAAA-AAAA-AAAA" })).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    let counted = store.get_throttle(&bob, &ThrottleScope::TemporaryAccess).await.unwrap();
    assert_eq!(counted.failures, 1, "the wrong code counts against Bob's temporary access");
    assert_eq!(browser.get("/account").await.code(), "enrolment_required", "still not signed in");

    // The right one still works, and clears the count.
    let done = browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(store.get_throttle(&bob, &ThrottleScope::TemporaryAccess).await.unwrap().failures, 0);
}

#[tokio::test]
async fn without_a_password_sign_in_a_temporary_access_code_is_refused_and_kept() {
    let w = World::new().await;
    let code = temporary_access_code(&w, "alice").await;
    let mut browser = w.browser();
    let csrf = browser.get("/mfa/csrf").await;
    browser.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
    let refused = browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    assert_eq!(browser.get("/account").await.code(), "unauthenticated");
    assert!(w.mfa.verify_temporary_access(&w.alice, &code).await.is_ok(), "the code was not spent");
}
