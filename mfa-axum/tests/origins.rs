//! One relying party served from several origins: a passkey registers and signs in from
//! every origin the service lists, and from no other: another port, the other scheme, a
//! subdomain not listed. A mobile app's origin (`android:apk-key-hash:...`) counts when
//! listed, like any other. A refusal is `code_invalid` (422), and changes nothing: no
//! passkey is added, nobody is signed in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use axum::http::StatusCode;
use mfa_core::FactorKind;
use mfa_webauthn::{WebauthnFactor, WebauthnFactorBuilder};
use support::webauthn::{Client, Passkey, with_webauthn};
use support::{Browser, World};

const MAIN: &str = "http://localhost:8080";
const SECOND: &str = "http://localhost:9090";

/// An Android app's origin: the base64url SHA-256 of its signing certificate.
const ANDROID_APP: &str = "android:apk-key-hash:w0S-sG0g6UuS0ZNoq3uK9pzBJyC1nxSJ8ZGYxG1HEJU";

/// The relying party `localhost` served on its main port and a second one.
fn localhost() -> WebauthnFactorBuilder {
    WebauthnFactor::builder("localhost", "Example", MAIN).allow_origin(SECOND)
}

/// The relying party `example.com`, served there and on its login subdomain.
fn example_com() -> WebauthnFactorBuilder {
    WebauthnFactor::builder("example.com", "Example", "https://example.com").allow_origin("https://login.example.com")
}

/// Alice, signed in with her password and her authenticator app.
async fn alice(w: &World) -> Browser {
    let mut browser = w.browser();
    browser.sign_in_with_code("alice", &w.code()).await;
    browser
}

async fn active_passkeys(w: &World) -> usize {
    let factors = w.mfa.list_factors(&w.alice).await.unwrap();
    factors.iter().filter(|f| f.kind == FactorKind::PASSKEY && f.status.as_str() == "active").count()
}

/// Alice registers a passkey from `from`; then, in a new browser, signs in with it from
/// `from`. Answers both.
async fn register_then_sign_in(w: &World, from: &str, client: Client) -> (StatusCode, StatusCode) {
    let mut passkey = Passkey::new();
    let added = alice(w).await.add_passkey(&mut passkey, from, client).await;
    if added.status != StatusCode::OK {
        return (added.status, added.status);
    }
    let signed_in = w.browser().passwordless(&mut passkey, from, client).await;
    (added.status, signed_in.status)
}

#[tokio::test]
async fn a_passkey_registers_and_signs_in_from_the_main_and_a_listed_second_origin() {
    for from in [MAIN, SECOND] {
        let w = World::with(with_webauthn(localhost())).await;
        assert_eq!(register_then_sign_in(&w, from, Client::Browser).await, (StatusCode::OK, StatusCode::OK), "{from}");
        assert_eq!(active_passkeys(&w).await, 1, "{from}");
    }
}

#[tokio::test]
async fn a_passkey_registered_on_one_listed_origin_signs_in_on_another() {
    let w = World::with(with_webauthn(localhost())).await;
    let mut passkey = Passkey::new();
    let added = alice(&w).await.add_passkey(&mut passkey, MAIN, Client::Browser).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    let mut browser = w.browser();
    let signed_in = browser.passwordless(&mut passkey, SECOND, Client::Browser).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    assert_eq!(browser.get("/mfa/session").await.body["user"], "alice");
}

#[tokio::test]
async fn a_registration_from_an_origin_not_listed_is_refused_and_adds_nothing() {
    let unlisted = [
        (localhost(), "http://localhost:9999", "another port"),
        (localhost(), "https://localhost:8080", "the other scheme"),
        (example_com(), "https://admin.example.com", "a subdomain not listed"),
        (example_com(), "https://id.login.example.com", "a subdomain of a listed subdomain"),
    ];
    for (factor, from, what) in unlisted {
        let w = World::with(with_webauthn(factor)).await;
        let mut browser = alice(&w).await;
        let refused = browser.add_passkey(&mut Passkey::new(), from, Client::Browser).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"), "{what}");
        assert_eq!(active_passkeys(&w).await, 0, "{what}");
    }
}

#[tokio::test]
async fn a_subdomain_listed_is_accepted() {
    let w = World::with(with_webauthn(example_com())).await;
    let accepted = register_then_sign_in(&w, "https://login.example.com", Client::Browser).await;
    assert_eq!(accepted, (StatusCode::OK, StatusCode::OK));
}

#[tokio::test]
async fn a_sign_in_from_an_origin_not_listed_is_refused_and_signs_nobody_in() {
    let cases = [
        (localhost(), MAIN, "http://localhost:9999", "another port"),
        (localhost(), MAIN, "https://localhost:8080", "the other scheme"),
        (example_com(), "https://login.example.com", "https://admin.example.com", "a subdomain not listed"),
    ];
    for (factor, registered_on, from, what) in cases {
        let w = World::with(with_webauthn(factor)).await;
        let mut passkey = Passkey::new();
        let added = alice(&w).await.add_passkey(&mut passkey, registered_on, Client::Browser).await;
        assert_eq!(added.status, StatusCode::OK, "{what}: {:?}", added.body);
        let mut browser = w.browser();
        let refused = browser.passwordless(&mut passkey, from, Client::Browser).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"), "{what}");
        assert_eq!(browser.get("/mfa/session").await.code(), "unauthenticated", "{what}");
        // The same passkey from a listed origin still works: the refusal cost it nothing.
        let signed_in = browser.passwordless(&mut passkey, registered_on, Client::Browser).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{what}: {:?}", signed_in.body);
    }
}

#[tokio::test]
async fn an_android_apps_origin_is_accepted_when_listed() {
    let w = World::with(with_webauthn(example_com().allow_origin(ANDROID_APP))).await;
    assert_eq!(register_then_sign_in(&w, ANDROID_APP, Client::App).await, (StatusCode::OK, StatusCode::OK));
    assert_eq!(active_passkeys(&w).await, 1);
}

#[tokio::test]
async fn an_android_apps_origin_is_refused_when_not_listed() {
    let w = World::with(with_webauthn(example_com())).await;
    let mut passkey = Passkey::new();
    let mut signed_in = alice(&w).await;
    let refused = signed_in.add_passkey(&mut passkey, ANDROID_APP, Client::App).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    assert_eq!(active_passkeys(&w).await, 0);

    // A passkey registered on the site, used from the app: refused too.
    let added = signed_in.add_passkey(&mut passkey, "https://example.com", Client::Browser).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    let mut browser = w.browser();
    let refused = browser.passwordless(&mut passkey, ANDROID_APP, Client::App).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    assert_eq!(browser.get("/mfa/session").await.code(), "unauthenticated");
}

#[tokio::test]
async fn another_apps_origin_is_refused() {
    let w = World::with(with_webauthn(example_com().allow_origin(ANDROID_APP))).await;
    let other_app = "android:apk-key-hash:AAAAsG0g6UuS0ZNoq3uK9pzBJyC1nxSJ8ZGYxG1HEJU";
    let refused = alice(&w).await.add_passkey(&mut Passkey::new(), other_app, Client::App).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
}

#[tokio::test]
async fn with_subdomains_allowed_every_subdomain_of_a_listed_origin_is_accepted() {
    for from in ["https://admin.example.com", "https://id.login.example.com"] {
        let w = World::with(with_webauthn(example_com().allow_subdomains(true))).await;
        assert_eq!(register_then_sign_in(&w, from, Client::Browser).await, (StatusCode::OK, StatusCode::OK), "{from}");
    }
}

#[tokio::test]
async fn with_subdomains_allowed_another_scheme_port_or_domain_is_still_refused() {
    // Made as an app would, so that the client does not refuse them first; a subdomain
    // made so is accepted.
    let w = World::with(with_webauthn(example_com().allow_subdomains(true))).await;
    let accepted = alice(&w).await.add_passkey(&mut Passkey::new(), "https://admin.example.com", Client::App).await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    let refused = [
        ("http://admin.example.com", "the other scheme"),
        ("https://admin.example.com:8443", "another port"),
        ("https://badexample.com", "a name that ends the same but is no subdomain"),
        ("https://example.com.attacker.test", "a lookalike"),
    ];
    for (from, what) in refused {
        let w = World::with(with_webauthn(example_com().allow_subdomains(true))).await;
        let answer = alice(&w).await.add_passkey(&mut Passkey::new(), from, Client::App).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"), "{what}");
        assert_eq!(active_passkeys(&w).await, 0, "{what}");
    }
}
