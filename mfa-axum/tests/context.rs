//! The request context every endpoint passes to the service: the client's address and user
//! agent on the events a handler records, the user's language in the codes it sends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use mfa_axum::{Host, MfaHttp};
use mfa_core::events::{Event, EventKind};
use mfa_core::testing::RecordingEventSink;
use mfa_core::{AccessPolicy, SecretString, UserId};
use mfa_otp::{EmailFactor, MemorySender, MessageTemplate, OobKey};
use serde_json::json;
use support::{Accounts, Browser, Setup, World};

/// What the test browser sends as its `User-Agent`.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0";
/// Where Alice's email codes go.
const ALICE_MAIL: &str = "alice@example.com";

/// A world whose service records its events and also sends codes by email, with a German
/// text beside the built-in English one.
async fn world() -> (World, RecordingEventSink, MemorySender) {
    let events = RecordingEventSink::new();
    let mail = MemorySender::new();
    let german = MessageTemplate::new("Ihr Bestätigungscode für {app}", "Ihr Code lautet {code}.").unwrap();
    let email = EmailFactor::builder(mail.clone(), OobKey::ephemeral().unwrap())
        .app_name("Example")
        .template_for("de", german)
        .build()
        .unwrap();
    let sink = events.clone();
    let setup = Setup { extend: Box::new(move |builder| builder.events(sink).factor(email)), ..Setup::default() };
    (World::with(setup).await, events, mail)
}

/// A browser on `app` whose every request comes from `peer` (as `axum::serve` with connect
/// info would say) and carries `accept_language`.
fn browser(app: Router, peer: Option<SocketAddr>, accept_language: Option<&'static str>) -> Browser {
    let app = app.layer(axum::middleware::map_request(move |mut request: Request| async move {
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        if let Some(languages) = accept_language {
            request.headers_mut().insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(languages));
        }
        request
    }));
    Browser { app, cookies: Default::default(), csrf: None }
}

/// Signs Alice in with her password and her authenticator app.
async fn sign_in_alice(w: &World, browser: &mut Browser) {
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
}

/// The verifications recorded after the first `skip` events.
fn verifications(events: &RecordingEventSink, skip: usize) -> Vec<Event> {
    let all = events.events().into_iter().skip(skip);
    all.filter(|e| matches!(e.kind, EventKind::VerificationSucceeded { .. })).collect()
}

#[tokio::test]
async fn an_event_recorded_by_a_handler_carries_the_requests_address_and_user_agent() {
    let (w, events, _) = world().await;
    let before = events.events();
    assert!(!before.is_empty() && before.iter().all(|e| e.ip.is_none() && e.user_agent.is_none()));

    let peer: SocketAddr = "203.0.113.9:51234".parse().unwrap();
    let mut browser = browser(w.app.clone(), Some(peer), None);
    sign_in_alice(&w, &mut browser).await;

    let signed_in = verifications(&events, before.len());
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].user.as_ref(), Some(&w.alice));
    assert_eq!(signed_in[0].ip, Some(peer.ip()));
    assert_eq!(signed_in[0].user_agent.as_deref(), Some(USER_AGENT));
}

#[tokio::test]
async fn without_connect_info_an_event_has_the_user_agent_but_no_address() {
    let (w, events, _) = world().await;
    let skip = events.events().len();
    let mut browser = browser(w.app.clone(), None, None);
    sign_in_alice(&w, &mut browser).await;

    let signed_in = verifications(&events, skip);
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].ip, None);
    assert_eq!(signed_in[0].user_agent.as_deref(), Some(USER_AGENT));
}

/// Alice adds an email factor through the router; answers the message she was sent, after
/// checking the code in it proves the factor.
async fn add_email(browser: &mut Browser, mail: &MemorySender) -> mfa_otp::Message {
    let start = browser.post("/mfa/factors", json!({ "kind": "email", "destination": ALICE_MAIL })).await;
    assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
    let sent = mail.last_to(ALICE_MAIL).expect("a code was sent");
    let code = mail.last_code_to(ALICE_MAIL).unwrap();
    assert!(sent.body.expose().contains(&code));
    let id = start.body["factor"]["id"].as_str().unwrap();
    let done = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await;
    assert_eq!(done.status, StatusCode::OK, "the code in the text is the one that works: {:?}", done.body);
    sent
}

#[tokio::test]
async fn a_code_sent_through_the_router_is_in_the_accept_languages_language() {
    let (w, _, mail) = world().await;
    let mut browser = browser(w.app.clone(), None, Some("de-CH, de;q=0.9, en;q=0.5"));
    sign_in_alice(&w, &mut browser).await;

    let sent = add_email(&mut browser, &mail).await;
    assert_eq!(sent.subject.as_deref(), Some("Ihr Bestätigungscode für Example"));
    assert!(sent.body.expose().starts_with("Ihr Code lautet "), "German for de-CH");
}

#[tokio::test]
async fn a_language_without_a_text_gets_english() {
    let (w, _, mail) = world().await;
    let mut browser = browser(w.app.clone(), None, Some("fr-FR, fr;q=0.9"));
    sign_in_alice(&w, &mut browser).await;

    let sent = add_email(&mut browser, &mail).await;
    assert_eq!(sent.subject.as_deref(), Some("Your Example verification code"));
}

/// The accounts of the support world, with each user's language in their profile: German
/// for Alice.
#[derive(Debug)]
struct WithLanguages(Accounts);

#[async_trait::async_trait]
impl Host for WithLanguages {
    async fn check_password(&self, user: &UserId, password: &SecretString) -> bool {
        self.0.check_password(user, password).await
    }

    async fn locale(&self, user: &UserId) -> Option<String> {
        (user.as_str() == "alice").then(|| "de".to_owned())
    }
}

#[tokio::test]
async fn the_hosts_locale_for_the_user_comes_before_accept_language() {
    let (w, _, mail) = world().await;
    let http = MfaHttp::new(w.mfa.clone(), WithLanguages(w.accounts.clone())).insecure_cookies_for_localhost();
    let mut browser = browser(support::app(http, AccessPolicy::default()), None, Some("fr"));
    sign_in_alice(&w, &mut browser).await;

    let sent = add_email(&mut browser, &mail).await;
    assert_eq!(sent.subject.as_deref(), Some("Ihr Bestätigungscode für Example"));
}

#[test]
fn the_default_client_address_is_the_connect_info_peer() {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    let host = WithLanguages(Accounts::default());
    assert_eq!(host.client_ip(&parts), None);
    parts.extensions.insert(ConnectInfo::<SocketAddr>("[2001:db8::7]:443".parse().unwrap()));
    assert_eq!(host.client_ip(&parts), Some("2001:db8::7".parse::<IpAddr>().unwrap()));
}
