//! No secret in the logs: every sign-in and security flow runs over HTTP with every
//! `tracing` event captured at TRACE (the service's events included), and none of the
//! secrets that went by (codes, recovery codes, the remembered-device token, CSRF tokens,
//! passwords, the app's key) appears in the captured text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{Method, header};
use serde_json::json;
use support::World;

/// Everything written by the subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_that_crosses_the_http_layer_reaches_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = World::new().await;
    let mut secrets: Vec<String> = vec!["correct horse".into(), "wrong horse".into()];
    let mut browser = w.browser();
    browser.password("alice").await;
    secrets.extend(browser.csrf.clone());
    browser.post("/mfa/signin/challenge", json!({})).await;
    browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
    let code = w.code();
    secrets.push(code.clone());
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": code, "remember_device": true })).await;
    let cookie = done.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    secrets.push(cookie.split(';').next().unwrap().trim_start_matches("mfa_device=").to_owned());
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    secrets.extend(browser.csrf.clone());

    let codes = browser.post("/mfa/recovery-codes", json!({})).await;
    secrets.extend(codes.body["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()));
    browser.post("/mfa/reauth", json!({ "password": "wrong horse" })).await;
    browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await;
    let app = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "Second phone" })).await;
    secrets.push(app.body["prompt"]["secret_base32"].as_str().unwrap().to_owned());
    let stale_csrf = browser.csrf.replace(String::from("forged-token"));
    browser.send(Method::DELETE, "/mfa/devices", None).await; // refused: CSRF
    browser.csrf = stale_csrf;

    let mut other = w.browser();
    other.password("alice").await;
    secrets.extend(other.csrf.clone());
    let used = codes.body["codes"][0].as_str().unwrap();
    other.post("/mfa/signin/recovery-code", json!({ "code": used })).await;
    other.post("/mfa/signin/recovery-code", json!({ "code": used })).await; // refused: used

    // The help desk issues a temporary access code for Bob, who signs in with it.
    let issued = browser.post("/mfa/admin/users/bob/temporary-access", json!({})).await;
    let temporary = issued.body["temporary_access_code"].as_str().unwrap().to_owned();
    secrets.push(temporary.clone());
    let mut bob = w.browser();
    bob.password("bob").await;
    secrets.extend(bob.csrf.clone());
    bob.post("/mfa/signin/temporary-access", json!({ "code": "AAAA-AAAA-AAAA-AAAA-AAAA" })).await; // refused
    let signed_in = bob.post("/mfa/signin/temporary-access", json!({ "code": temporary })).await;
    assert_eq!(signed_in.body["complete"], true, "{:?}", signed_in.body);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("csrf_refused"), "the refusals are logged");
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        assert!(!leaks(&logs, secret), "a secret reached the logs: {secret}");
    }
}

/// True if `needle` occurs in `haystack`; a code of digits only counts where it is not part
/// of a longer number (timestamps are full of digits).
fn leaks(haystack: &str, needle: &str) -> bool {
    if !needle.bytes().all(|b| b.is_ascii_digit()) {
        return haystack.contains(needle);
    }
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].bytes().next_back();
        let after = haystack[i + needle.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}
