//! The help-desk endpoints over HTTP: every operation refused to a signed-in user the
//! host's check does not allow (`forbidden`, nothing changed, the refusal an audit event)
//! and to an anonymous caller (`unauthenticated`); an administrator's own sign-in must have
//! verified a second factor at AAL2 in this session whatever the sign-in policy (a password,
//! an email code or a remembered device is not enough; a window the host sets is kept), which
//! is judged before the check, the same way for everyone; the events name the administrator;
//! a search answers what the host's directory finds and the check allows. (Each operation's
//! success and error codes are in the endpoint matrix, `endpoints.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use mfa_axum::{Host, MfaHttp};
use mfa_core::access::Requirement;
use mfa_core::admin::{AdminCheck, AdminOperation, Administrators};
use mfa_core::context::Actor;
use mfa_core::testing::RecordingEventSink;
use mfa_core::{AccessPolicy, Clock, EventKind, FactorKind, FreshAuth, ManualClock, SecretString, Timestamp, UserId};
use mfa_otp::{EmailFactor, MemorySender, OobKey, TotpFactor};
use serde_json::{Value, json};
use support::{Answer, Browser, Setup, World};

/// Every help-desk operation, on Carol, with a well-formed body.
fn operations() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/mfa/admin/users?query=carol", None),
        (Method::GET, "/mfa/admin/users/carol", None),
        (Method::POST, "/mfa/admin/users/carol/reset", None),
        (Method::POST, "/mfa/admin/users/carol/unlock", Some(json!({}))),
        (Method::POST, "/mfa/admin/users/carol/temporary-access", Some(json!({}))),
        (Method::DELETE, "/mfa/admin/users/carol/temporary-access", None),
        (Method::GET, "/mfa/admin/coverage", None),
    ]
}

/// Gives Carol an authenticator app and an unused temporary access code.
async fn carol_with_state(w: &World) -> String {
    let carol = UserId::new("carol").unwrap();
    let fresh = FreshAuth::primary(w.clock.now());
    let request = mfa_core::EnrolmentRequest::new(mfa_core::FactorKind::TOTP);
    let start = w.mfa.start_enrolment(&carol, &fresh, request).await.unwrap();
    let mfa_core::Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
    let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
    let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
    let proof = mfa_core::Proof::code(&code).unwrap();
    w.mfa.finish_enrolment(&carol, &fresh, &start.factor.id, &proof).await.unwrap();
    let issued = w.mfa.admin(&w.alice).issue_temporary_access(&carol, None).await.unwrap();
    issued.code.expose().to_owned()
}

/// What an operation could change about Carol.
async fn carols_state(w: &World) -> String {
    let status = w.mfa.system().status(&UserId::new("carol").unwrap()).await.unwrap();
    format!("{status:?}")
}

async fn signed_in_admin(w: &World) -> Browser {
    let mut browser = w.browser();
    browser.password("alice").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    browser
}

fn recording() -> (Setup, RecordingEventSink) {
    let sink = RecordingEventSink::new();
    let events = sink.clone();
    (Setup { extend: Box::new(move |builder| builder.events(events)), ..Setup::default() }, sink)
}

#[tokio::test]
async fn every_operation_refuses_a_signed_in_user_who_is_not_an_administrator_and_changes_nothing() {
    let (setup, sink) = recording();
    let w = World::with(setup).await;
    let code = carol_with_state(&w).await;
    let before = carols_state(&w).await;
    let key = w.enrol_app("bob").await;
    let mut bob = w.browser();
    bob.sign_in_with_code("bob", &w.code_of(&key)).await; // as an administrator would
    sink.clear();
    for (method, path, body) in operations() {
        let answer = bob.send(method.clone(), path, body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "forbidden"), "{method} {path}");
        assert_eq!(answer.body["message"], "You are not allowed to do that.");
    }
    assert_eq!(carols_state(&w).await, before, "nothing changed");
    assert!(w.mfa.verify_temporary_access(&UserId::new("carol").unwrap(), &code).await.is_ok(), "the code is kept");
    let refused: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::AdminRefused { admin, operation, .. } => Some((admin, operation)),
            _ => None,
        })
        .collect();
    assert!(!refused.is_empty(), "the refusals are audit events");
    assert!(refused.iter().all(|(admin, _)| admin.as_str() == "bob"), "{refused:?}");
}

#[tokio::test]
async fn every_operation_refuses_an_anonymous_caller_with_unauthenticated() {
    let w = World::new().await;
    let code = carol_with_state(&w).await;
    let before = carols_state(&w).await;
    let mut anonymous = w.browser();
    let csrf = anonymous.get("/mfa/csrf").await;
    anonymous.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
    for (method, path, body) in operations() {
        let answer = anonymous.send(method.clone(), path, body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{method} {path}");
    }
    assert_eq!(carols_state(&w).await, before, "nothing changed");
    assert!(w.mfa.verify_temporary_access(&UserId::new("carol").unwrap(), &code).await.is_ok(), "the code is kept");
}

/// The answer of every operation to `browser`, in order.
async fn answers(browser: &mut Browser) -> Vec<Answer> {
    let mut answers = Vec::new();
    for (method, path, body) in operations() {
        answers.push(browser.send(method, path, body).await);
    }
    answers
}

/// A check that lets the named users do anything, and counts how often it is asked.
#[derive(Debug, Clone)]
struct Counted {
    admins: Vec<&'static str>,
    asked: Arc<AtomicUsize>,
}

#[async_trait]
impl AdminCheck for Counted {
    async fn may(&self, admin: &UserId, _operation: AdminOperation, _subject: Option<&UserId>) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.admins.contains(&admin.as_str())
    }
}

/// A world whose administrators are `admins`, with the count of the check's answers.
fn counted(admins: Vec<&'static str>) -> (Setup, Arc<AtomicUsize>) {
    let check = Counted { admins, asked: Arc::default() };
    let asked = check.asked.clone();
    (Setup { extend: Box::new(move |builder| builder.admin_check(check)), ..Setup::default() }, asked)
}

#[tokio::test]
async fn an_administrator_with_only_a_password_is_asked_for_the_second_step_by_every_operation_and_nothing_changes() {
    let (setup, asked) = counted(vec!["alice"]);
    let w = World::with(setup).await;
    let code = carol_with_state(&w).await;
    let before = carols_state(&w).await;
    asked.store(0, Ordering::SeqCst); // issuing Carol's code asked it
    let mut alice = w.browser();
    alice.password("alice").await;
    for (answer, (method, path, _)) in answers(&mut alice).await.iter().zip(operations()) {
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNAUTHORIZED, "verification_required"),
            "{method} {path}: {:?}",
            answer.body
        );
        assert_eq!(answer.body["candidates"][0]["kind"], "totp", "{method} {path}: the factor that would do");
        assert!(answer.body.get("temporary_access_code").is_none());
    }
    assert_eq!(carols_state(&w).await, before, "nothing changed");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the host's check was not asked");
    assert!(w.mfa.verify_temporary_access(&UserId::new("carol").unwrap(), &code).await.is_ok(), "the code is kept");

    // With her app verified, she is asked no more, and the check is.
    let mut alice = signed_in_admin(&w).await;
    assert_eq!(alice.get("/mfa/admin/users/carol").await.status, StatusCode::OK);
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

/// Alice and Dave are the administrators.
fn with_dave_an_administrator(setup: Setup) -> Setup {
    let extend = setup.extend;
    let admins = Administrators::new([UserId::new("alice").unwrap(), UserId::new("dave").unwrap()]);
    Setup { extend: Box::new(move |builder| extend(builder).admin_check(admins)), ..setup }
}

#[tokio::test]
async fn an_administrator_without_a_factor_is_asked_to_add_one_by_every_operation_and_nothing_changes() {
    // Under the Optional sign-in policy Dave's password finishes his sign-in, and that is
    // all it does: the help desk needs a second factor.
    let (setup, asked) = counted(vec!["alice", "dave"]);
    let w = World::with(setup).await;
    let code = carol_with_state(&w).await;
    let before = carols_state(&w).await;
    asked.store(0, Ordering::SeqCst); // issuing Carol's code asked it
    let mut dave = w.browser();
    dave.password("dave").await;
    assert_eq!(dave.get("/account").await.status, StatusCode::OK, "his sign-in is finished");
    for (answer, (method, path, _)) in answers(&mut dave).await.iter().zip(operations()) {
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::FORBIDDEN, "enrolment_required"),
            "{method} {path}: {:?}",
            answer.body
        );
        assert!(answer.body.get("temporary_access_code").is_none());
    }
    assert_eq!(carols_state(&w).await, before, "nothing changed");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the host's check was not asked");
    assert!(w.mfa.verify_temporary_access(&UserId::new("carol").unwrap(), &code).await.is_ok(), "the code is kept");
}

#[tokio::test]
async fn a_refusal_for_a_missing_second_factor_does_not_tell_an_administrator_from_anyone_else() {
    let w = World::with(with_dave_an_administrator(Setup::default())).await;
    carol_with_state(&w).await;
    // Without a factor: Dave (an administrator) and Bob (not one).
    let (mut dave, mut bob) = (w.browser(), w.browser());
    dave.password("dave").await;
    bob.password("bob").await;
    let (for_dave, for_bob) = (answers(&mut dave).await, answers(&mut bob).await);
    for ((dave, bob), (method, path, _)) in for_dave.iter().zip(&for_bob).zip(operations()) {
        assert_eq!((dave.status, &dave.body), (bob.status, &bob.body), "{method} {path}");
        assert_eq!(dave.code(), "enrolment_required");
    }
    // With a factor but only the password: Alice (an administrator) and Carol (not one).
    let (mut alice, mut carol) = (w.browser(), w.browser());
    alice.password("alice").await;
    carol.password("carol").await;
    let (for_alice, for_carol) = (answers(&mut alice).await, answers(&mut carol).await);
    for ((alice, carol), (method, path, _)) in for_alice.iter().zip(&for_carol).zip(operations()) {
        let kinds =
            |a: &Answer| a.body["candidates"].as_array().unwrap().iter().map(|f| f["kind"].clone()).collect::<Vec<_>>();
        assert_eq!(
            (alice.status, alice.code(), &alice.body["message"], kinds(alice)),
            (carol.status, carol.code(), &carol.body["message"], kinds(carol)),
            "{method} {path}"
        );
        assert_eq!(alice.code(), "verification_required");
    }
}

#[tokio::test]
async fn an_administrator_who_verified_a_factor_may_use_every_operation() {
    let w = World::new().await;
    carol_with_state(&w).await;
    let mut alice = signed_in_admin(&w).await;
    for (answer, (method, path, _)) in answers(&mut alice).await.iter().zip(operations()) {
        assert!(answer.status.is_success(), "{method} {path}: {} {:?}", answer.status, answer.body);
    }
    assert_eq!(w.mfa.list_factors(&UserId::new("carol").unwrap()).await.unwrap(), [], "the reset went through");
}

#[tokio::test]
async fn an_email_code_does_not_count_for_the_help_desk() {
    let mail = MemorySender::new();
    let email = EmailFactor::builder(mail.clone(), OobKey::ephemeral().unwrap()).build().unwrap();
    let setup = Setup { extend: Box::new(move |builder| builder.factor(email)), ..Setup::default() };
    let w = World::with(with_dave_an_administrator(setup)).await;
    let dave = UserId::new("dave").unwrap();
    let fresh = FreshAuth::primary(w.clock.now());
    let request = mfa_core::EnrolmentRequest::new(FactorKind::EMAIL).destination("dave@example.com");
    let start = w.mfa.start_enrolment(&dave, &fresh, request).await.unwrap();
    let proof = mfa_core::Proof::code(&mail.last_code_to("dave@example.com").unwrap()).unwrap();
    w.mfa.finish_enrolment(&dave, &fresh, &start.factor.id, &proof).await.unwrap();
    w.clock.advance(Duration::from_secs(31));

    // Dave signs in with his password and an email code: his sign-in is finished...
    let mut browser = w.browser();
    browser.password("dave").await;
    browser.post("/mfa/signin/challenge", json!({})).await;
    let code = mail.last_code_to("dave@example.com").unwrap();
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": code })).await;
    assert_eq!(done.body["complete"], true, "{:?}", done.body);
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
    // ... but email is no second factor for the help desk: he must add one that counts.
    let answer = browser.get("/mfa/admin/coverage").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "enrolment_required"), "{:?}", answer.body);

    // With an authenticator app too, the same session is asked for the app, and only it.
    w.enrol_app("dave").await;
    let answer = browser.get("/mfa/admin/coverage").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    let kinds: Vec<&Value> = answer.body["candidates"].as_array().unwrap().iter().map(|f| &f["kind"]).collect();
    assert_eq!(kinds, [&json!("totp")]);
}

/// Alice verifies her app again (a step-up) in `browser`.
async fn step_up(w: &World, browser: &mut Browser) {
    let challenge = browser.post("/mfa/signin/step-up", json!({})).await;
    assert_eq!(challenge.status, StatusCode::OK, "{:?}", challenge.body);
    let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    browser.csrf = done.body["csrf_token"].as_str().map(str::to_owned);
}

#[tokio::test]
async fn a_remembered_device_does_not_count_for_the_help_desk() {
    let w = World::new().await;
    let mut first = w.browser();
    first.password("alice").await;
    first.post("/mfa/signin/challenge", json!({})).await;
    let done = first.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": true })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);

    // On the remembered browser, her password finishes her sign-in...
    w.clock.advance(Duration::from_secs(30));
    let mut browser = Browser { app: w.app.clone(), cookies: first.cookies.clone(), csrf: None };
    browser.password("alice").await;
    assert_eq!(browser.get("/account").await.status, StatusCode::OK, "her sign-in is finished");
    // ... but the help desk wants a verification in this session.
    let answer = browser.get("/mfa/admin/coverage").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    assert_eq!(answer.body["candidates"][0]["kind"], "totp");
    step_up(&w, &mut browser).await;
    assert_eq!(browser.get("/mfa/admin/coverage").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_window_the_host_sets_asks_an_administrator_to_verify_again() {
    let window = Duration::from_secs(15 * 60);
    let setup = Setup { admin_policy: AccessPolicy::default().max_verification_age(window), ..Setup::default() };
    let w = World::with(setup).await;
    let mut alice = signed_in_admin(&w).await;
    assert_eq!(alice.get("/mfa/admin/coverage").await.status, StatusCode::OK);

    w.clock.advance(window + Duration::from_secs(1));
    assert_eq!(alice.get("/mfa/factors").await.status, StatusCode::OK, "the rest of the account is open");
    let answer = alice.send(Method::POST, "/mfa/admin/users/carol/reset", None).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    assert_eq!(answer.body["candidates"][0]["kind"], "totp");
    step_up(&w, &mut alice).await;
    let answer = alice.send(Method::POST, "/mfa/admin/users/carol/reset", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

#[tokio::test]
async fn an_administrator_must_finish_the_sign_in_first() {
    // With only the password, Alice is asked for her second step.
    let w = World::new().await;
    let mut half = w.browser();
    half.password("alice").await;
    let answer = half.get("/mfa/admin/coverage").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
    assert_eq!(answer.body["candidates"][0]["kind"], "totp");

    // Where MFA is required, an administrator without a factor must add one first.
    let dave = UserId::new("dave").unwrap();
    let required = AccessPolicy::new(Requirement::Required);
    let setup = Setup {
        extend: Box::new(move |builder| builder.admin_check(Administrators::new([dave]))),
        sign_in_policy: required,
        ..Setup::default()
    };
    let w = World::with(setup).await;
    let mut dave = w.browser();
    dave.password("dave").await;
    let answer = dave.get("/mfa/admin/coverage").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "enrolment_required"));
}

#[tokio::test]
async fn the_events_of_an_operation_name_the_administrator() {
    let (setup, sink) = recording();
    let w = World::with(setup).await;
    carol_with_state(&w).await;
    let mut admin = signed_in_admin(&w).await;
    sink.clear();
    let reset = admin.send(Method::POST, "/mfa/admin/users/carol/reset", None).await;
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    assert_eq!(reset.body["factors"], 1);
    assert_eq!(reset.body["ceremonies"], 1, "the temporary access code went too");
    let events = sink.events();
    let event = events.iter().find(|e| matches!(e.kind, EventKind::MfaReset { .. })).unwrap();
    assert_eq!(event.user.as_ref().map(UserId::as_str), Some("carol"));
    assert_eq!(event.actor, Actor::Admin(w.alice.clone()));
    assert!(event.user_agent.as_deref().is_some_and(|agent| agent.contains("Chrome")), "the request's context is kept");
    let status = admin.get("/mfa/admin/users/carol").await;
    assert_eq!(status.body["factors"], json!([]), "Carol's factor is gone");
    assert_eq!(status.body["has_active_factor"], false);
    assert!(status.body["temporary_access_expires_at"].is_null());
}

/// A directory searching by prefix, with Carol, Dave and a staff member; a check that lets
/// Alice act on anyone but staff.
#[derive(Debug)]
struct Directory;

#[async_trait]
impl Host for Directory {
    async fn check_password(&self, _user: &UserId, password: &SecretString) -> bool {
        password.expose() == "correct horse"
    }

    async fn find_users(&self, query: &str) -> Vec<UserId> {
        ["carol", "dave", "staff-carla", "carol"]
            .into_iter()
            .filter(|name| name.starts_with(query) || name.trim_start_matches("staff-").starts_with(query))
            .map(|name| UserId::new(name).unwrap())
            .collect()
    }
}

#[derive(Debug)]
struct NotOnStaff;

#[async_trait]
impl AdminCheck for NotOnStaff {
    async fn may(&self, admin: &UserId, _operation: AdminOperation, subject: Option<&UserId>) -> bool {
        admin.as_str() == "alice" && !subject.is_some_and(|s| s.as_str().starts_with("staff-"))
    }
}

#[tokio::test]
async fn a_search_answers_what_the_hosts_directory_finds_and_the_check_allows() {
    let setup = Setup { extend: Box::new(|builder| builder.admin_check(NotOnStaff)), ..Setup::default() };
    let w = World::with(setup).await;
    let http = MfaHttp::new(w.mfa.clone(), Directory).insecure_cookies_for_localhost();
    let app = support::app(http, AccessPolicy::default());
    let mut admin = Browser { app: app.clone(), cookies: Default::default(), csrf: None };
    admin.password("alice").await;
    admin.post("/mfa/signin/challenge", json!({})).await;
    let done = admin.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);

    let found = admin.get("/mfa/admin/users?query=ca").await;
    let users: Vec<&str> = found.body.as_array().unwrap().iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["carol"], "once, and not the staff member the check protects");
    let only_staff = admin.get("/mfa/admin/users?query=staff").await;
    assert_eq!(only_staff.code(), "forbidden", "everyone found is protected");
    let nobody = admin.get("/mfa/admin/users?query=zed").await;
    assert_eq!((nobody.status, nobody.body.clone()), (StatusCode::OK, json!([])));

    // Someone the check refuses learns nothing about who exists.
    let key = w.enrol_app("bob").await;
    let mut bob = Browser { app, cookies: Default::default(), csrf: None };
    bob.sign_in_with_code("bob", &w.code_of(&key)).await;
    for query in ["ca", "zed"] {
        let answer = bob.get(&format!("/mfa/admin/users?query={query}")).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "forbidden"), "{query}");
    }
}

#[tokio::test]
async fn an_administrator_without_a_check_configured_is_refused() {
    // A service built without an admin check refuses every operation, even to a sign-in
    // with a second factor.
    let store: Arc<dyn mfa_core::store::Store> = Arc::new(mfa_store_memory::MemoryStore::new());
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let totp = TotpFactor::new("Example").unwrap();
    let mfa = mfa_core::Mfa::builder()
        .shared_store(store)
        .sealer(mfa_core::AeadSealer::ephemeral().unwrap())
        .clock(clock.clone())
        .factor(totp.clone())
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let fresh = FreshAuth::primary(clock.now());
    let start = mfa.start_enrolment(&alice, &fresh, mfa_core::EnrolmentRequest::new(FactorKind::TOTP)).await.unwrap();
    let mfa_core::Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
    let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
    let code = |clock: &ManualClock| totp.code_at(&key, clock.now().unix_secs() as u64).unwrap();
    let proof = mfa_core::Proof::code(&code(&clock)).unwrap();
    mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &proof).await.unwrap();
    clock.advance(Duration::from_secs(30));

    let app = support::app(MfaHttp::new(mfa, support::Accounts::default()), AccessPolicy::default());
    let mut browser = Browser { app, cookies: Default::default(), csrf: None };
    browser.sign_in_with_code("alice", &code(&clock)).await;
    let answer = browser.get("/mfa/admin/users/alice").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "forbidden"));
}
