#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose
//! Every endpoint of the router, as a matrix: a table with one row per (method, path)
//! saying what it needs and whether it changes state, checked against the OpenAPI
//! document; then, for every row, CSRF refused (missing and wrong token) with nothing
//! changed, callers without the needed sign-in refused with the documented code, a success
//! with the documented shape, and every error code the crate documents for it produced by
//! a real request. The last test proves that every code the layer can answer
//! ([`ApiError::codes`]) is produced somewhere in this file, or is listed as unreachable
//! over HTTP with the reason.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::http::{Method, StatusCode, header};
use mfa_axum::{ApiError, MfaHttp};
use mfa_core::access::Requirement;
use mfa_core::adapter::{
    CeremonyPlan, ChallengePlan, EnrolmentPlan, FactorAdapter, FactorContext, PasswordlessContext, ProofOutcome,
    ProofStep, VerifyInput,
};
use mfa_core::settings::WindowCap;
use mfa_core::store::FactorRecord;
use mfa_core::testing::FaultyStore;
use mfa_core::throttle::ThrottleSettings;
use mfa_core::{
    AccessPolicy, AeadSealer, Assurance, Clock, DeviceId, EnrolmentRequest, Error, FactorId, FactorKind, FreshAuth,
    Mfa, Prompt, Proof, SecretBytes, Settings, UserId,
};
use mfa_store_memory::MemoryStore;
use serde_json::{Value, json};
use support::{Accounts, Answer, Browser, Setup, World};

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// What a request must bring before the endpoint does anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Nothing: anyone may call it.
    Nothing,
    /// A password sign-in (the second step may be missing).
    Password,
    /// A sign-in challenge in progress in the session.
    Challenge,
    /// A passwordless ceremony this browser started.
    Ceremony,
    /// A finished sign-in (the sign-in policy met).
    Finished,
    /// A finished sign-in and the fresh authentication the service asks for changes.
    Fresh,
    /// A sign-in that verified a second factor at AAL2 in this session, whatever the
    /// sign-in policy, of a user the host's admin check allows (the help desk).
    Administrator,
}

impl Needs {
    /// The refusal for a browser that has no sign-in at all (but a valid CSRF token).
    fn without_sign_in(self) -> Option<(StatusCode, &'static str)> {
        match self {
            Needs::Nothing => None,
            Needs::Ceremony => Some((StatusCode::CONFLICT, "no_challenge")),
            _ => Some((StatusCode::UNAUTHORIZED, "unauthenticated")),
        }
    }

    /// The refusal for a browser with only a password sign-in of a user who has a factor.
    fn with_password_only(self) -> Option<(StatusCode, &'static str)> {
        match self {
            Needs::Finished | Needs::Fresh | Needs::Administrator => {
                Some((StatusCode::UNAUTHORIZED, "verification_required"))
            }
            Needs::Challenge => Some((StatusCode::CONFLICT, "no_challenge")),
            Needs::Ceremony => Some((StatusCode::CONFLICT, "no_challenge")),
            Needs::Nothing | Needs::Password => None,
        }
    }

    /// The refusal for a browser with a password sign-in of a user who has no factor: a
    /// finished sign-in under the default (Optional) sign-in policy.
    fn without_a_factor(self) -> Option<(StatusCode, &'static str)> {
        match self {
            Needs::Administrator => Some((StatusCode::FORBIDDEN, "enrolment_required")),
            _ => None,
        }
    }
}

/// One route of the router.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    method: &'static str,
    /// Relative to the prefix; `{id}` is a factor or device id.
    path: &'static str,
    needs: Needs,
    /// Changes something: needs `x-csrf-token`.
    changes: bool,
    /// Described in the OpenAPI document (the script and the document itself are not).
    documented: bool,
    /// A well-formed body, so that a refusal is about the session, never the body.
    body: Option<&'static str>,
}

const fn row(
    method: &'static str,
    path: &'static str,
    needs: Needs,
    changes: bool,
    body: Option<&'static str>,
) -> Endpoint {
    Endpoint { method, path, needs, changes, documented: true, body }
}

const CODE: Option<&str> = Some(r#"{"code": "123456"}"#);
const EMPTY: Option<&str> = Some("{}");

/// Every route of [`MfaHttp::router`].
const ENDPOINTS: &[Endpoint] = &[
    row("GET", "/csrf", Needs::Nothing, false, None),
    row("POST", "/signin/challenge", Needs::Password, true, EMPTY),
    row("POST", "/signin/challenge/resend", Needs::Challenge, true, None),
    row("POST", "/signin/challenge/finish", Needs::Challenge, true, CODE),
    row("POST", "/signin/recovery-code", Needs::Password, true, Some(r#"{"code": "ABCD-EFGH-IJKL"}"#)),
    row("POST", "/signin/temporary-access", Needs::Password, true, Some(r#"{"code": "ABCD-EFGH-JKLM-NPQR-STUV"}"#)),
    row("POST", "/signin/step-up", Needs::Finished, true, EMPTY),
    row("POST", "/signin/passwordless/start", Needs::Nothing, true, None),
    row(
        "POST",
        "/signin/passwordless/finish",
        Needs::Ceremony,
        true,
        Some(r#"{"credential": {"id": "key-1", "sig": "ok"}}"#),
    ),
    row("GET", "/session", Needs::Password, false, None),
    row("POST", "/session/passkey-offer/dismiss", Needs::Finished, true, EMPTY),
    row("GET", "/factors", Needs::Finished, false, None),
    row("POST", "/factors", Needs::Fresh, true, Some(r#"{"kind": "totp"}"#)),
    row("POST", "/factors/{id}/finish", Needs::Fresh, true, CODE),
    row("POST", "/factors/{id}/resend", Needs::Finished, true, None),
    row("PATCH", "/factors/{id}", Needs::Finished, true, Some(r#"{"label": "Renamed"}"#)),
    row("POST", "/factors/{id}/preferred", Needs::Fresh, true, None),
    row("DELETE", "/factors/{id}", Needs::Fresh, true, None),
    row("GET", "/recovery-codes", Needs::Finished, false, None),
    row("POST", "/recovery-codes", Needs::Fresh, true, None),
    row("POST", "/recovery-codes/regenerate", Needs::Fresh, true, None),
    row("GET", "/devices", Needs::Finished, false, None),
    row("DELETE", "/devices", Needs::Finished, true, None),
    row("DELETE", "/devices/{id}", Needs::Finished, true, None),
    row("POST", "/reauth", Needs::Finished, true, Some(r#"{"password": "correct horse"}"#)),
    row("GET", "/admin/users", Needs::Administrator, false, None),
    row("GET", "/admin/users/{user}", Needs::Administrator, false, None),
    row("POST", "/admin/users/{user}/reset", Needs::Administrator, true, None),
    row("POST", "/admin/users/{user}/unlock", Needs::Administrator, true, EMPTY),
    row("POST", "/admin/users/{user}/temporary-access", Needs::Administrator, true, EMPTY),
    row("DELETE", "/admin/users/{user}/temporary-access", Needs::Administrator, true, None),
    row("GET", "/admin/coverage", Needs::Administrator, false, None),
    Endpoint { documented: false, ..row("GET", "/mfa.js", Needs::Nothing, false, None) },
    Endpoint { documented: false, ..row("GET", "/openapi.json", Needs::Nothing, false, None) },
];

/// The host's own routes in the test app, where the guard's and the step-up's codes reach
/// HTTP.
const HOST_ROUTES: &[(&str, &str)] = &[("GET", "/account"), ("POST", "/pay")];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Asserts a refusal in the layer's format: the status, the code, a message, `retry_after`
/// exactly when `Retry-After` is set, and `field` for `invalid_input`.
#[track_caller]
fn assert_refused(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{:?}", answer.body);
    assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", answer.body);
    let header = answer.headers.get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    match answer.body["retry_after"].as_u64() {
        Some(secs) => {
            assert!(secs >= 1, "{:?}", answer.body);
            assert_eq!(header, Some(secs.to_string()), "Retry-After says what the body says");
        }
        None => {
            assert!(answer.body["retry_after"].is_null(), "{:?}", answer.body);
            assert_eq!(header, None);
        }
    }
    assert_eq!(answer.body.get("field").is_some(), code == "invalid_input", "{:?}", answer.body);
}

/// Asserts a success with this status.
#[track_caller]
fn assert_ok(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.code(), "", "{:?}", answer.body);
}

/// The full path of a row, under `/mfa`, `{id}` replaced, `{user}` (of the help-desk
/// rows) Bob, and a search for him.
fn path_of(endpoint: &Endpoint, factor: &str, device: &str) -> String {
    let id = if endpoint.path.starts_with("/devices") { device } else { factor };
    let query = if endpoint.path == "/admin/users" { "?query=bob" } else { "" };
    format!("/mfa{}{query}", endpoint.path.replace("{id}", id).replace("{user}", "bob"))
}

fn method_of(endpoint: &Endpoint) -> Method {
    endpoint.method.parse().unwrap()
}

fn body_of(endpoint: &Endpoint) -> Option<Value> {
    endpoint.body.map(|b| serde_json::from_str(b).unwrap())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}

fn random_factor() -> String {
    FactorId::random().unwrap().to_string()
}

/// A browser with a password sign-in for `user`.
async fn password(w: &World, user: &str) -> Browser {
    let mut browser = w.browser();
    let answer = browser.password(user).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    browser
}

/// A browser with no sign-in, holding the session's CSRF token.
async fn anonymous(w: &World) -> Browser {
    let mut browser = w.browser();
    browser.csrf = Some(text(&browser.get("/mfa/csrf").await.body["csrf_token"]));
    browser
}

/// Alice signed in with her password and her authenticator app.
async fn signed_in(w: &World) -> Browser {
    signed_in_remembering(w, false).await
}

async fn signed_in_remembering(w: &World, remember: bool) -> Browser {
    let mut browser = password(w, "alice").await;
    let challenge = browser.post("/mfa/signin/challenge", json!({})).await;
    assert_ok(&challenge, StatusCode::OK);
    let done =
        browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code(), "remember_device": remember })).await;
    assert_ok(&done, StatusCode::OK);
    browser.csrf = Some(text(&done.body["csrf_token"]));
    browser
}

/// Alice's authenticator app.
async fn alice_totp(w: &World) -> String {
    w.mfa.list_factors(&w.alice).await.unwrap().iter().find(|f| f.kind == FactorKind::TOTP).unwrap().id.to_string()
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// Fresh authentication for changes made directly through the service.
fn fresh(w: &World) -> FreshAuth {
    FreshAuth::primary(w.clock.now()).with_mfa(w.clock.now())
}

/// Carol's profile number, where her SMS codes go.
const CAROL_PHONE: &str = "+14155552671";

/// Gives Carol an active SMS factor (her profile number), past its sending cooldown.
async fn carol_with_sms(w: &World) -> String {
    let carol = user("carol");
    let request = EnrolmentRequest::new(FactorKind::SMS).destination(CAROL_PHONE);
    let start = w.mfa.start_enrolment(&carol, &fresh(w), request).await.unwrap();
    let code = Proof::code(&w.outbox.last_code_to(CAROL_PHONE).unwrap()).unwrap();
    w.mfa.finish_enrolment(&carol, &fresh(w), &start.factor.id, &code).await.unwrap();
    w.clock.advance(Duration::from_secs(31));
    start.factor.id.to_string()
}

/// Carol signed in with her password, an SMS challenge open.
async fn carol_challenged(w: &World) -> Browser {
    carol_with_sms(w).await;
    let mut browser = password(w, "carol").await;
    let challenge = browser.post("/mfa/signin/challenge", json!({})).await;
    assert_ok(&challenge, StatusCode::OK);
    assert_eq!(challenge.body["prompt"]["type"], "code_sent");
    browser
}

/// Bob (no factor yet) signed in with his password, a TOTP enrolment pending.
async fn bob_enrolling(w: &World) -> (Browser, String, Vec<u8>) {
    let mut browser = password(w, "bob").await;
    let start = browser.post("/mfa/factors", json!({ "kind": "totp" })).await;
    assert_ok(&start, StatusCode::CREATED);
    let key = data_encoding::BASE32_NOPAD.decode(text(&start.body["prompt"]["secret_base32"]).as_bytes()).unwrap();
    (browser, text(&start.body["factor"]["id"]), key)
}

/// Alice signed in, her sensitive-change window over, her password entered again: a
/// change now needs a recent second step too.
async fn alice_reauthenticated_only(w: &World) -> Browser {
    let mut browser = signed_in(w).await;
    w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
    assert_ok(&browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await, StatusCode::NO_CONTENT);
    browser
}

/// Alice signed in, her sensitive-change window over.
async fn alice_stale(w: &World) -> Browser {
    let browser = signed_in(w).await;
    w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
    browser
}

fn with_settings(change: impl FnOnce(&mut Settings)) -> Setup {
    let mut settings = Settings::default();
    change(&mut settings);
    Setup { settings, ..Setup::default() }
}

fn with_passkeys() -> Setup {
    Setup { extend: Box::new(|builder| builder.factor(Passkeys)), ..Setup::default() }
}

/// Gives `name` an active passkey whose credential id is `id`.
async fn passkey(w: &World, name: &str, id: &str) -> String {
    let who = user(name);
    let start = w.mfa.start_enrolment(&who, &fresh(w), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let proof = Proof::credential(json!({ "id": id, "sig": "ok" }).to_string()).unwrap();
    w.mfa.finish_enrolment(&who, &fresh(w), &start.factor.id, &proof).await.unwrap();
    start.factor.id.to_string()
}

/// A passkey stand-in: a credential response is `{"id": <credential id>, "sig": "ok" |
/// "bad" | "clone"}`; "clone" is a valid signature whose counter went backwards.
#[derive(Debug, Clone)]
struct Passkeys;

impl Passkeys {
    fn read(proof: &Proof) -> mfa_core::Result<Value> {
        match proof {
            Proof::Credential(credential) => serde_json::from_str(credential.json())
                .map_err(|_| Error::InvalidInput { field: "credential", reason: "not JSON" }),
            _ => Err(Error::InvalidInput { field: "credential", reason: "expected a credential" }),
        }
    }

    fn signature(proof: &Proof) -> mfa_core::Result<ProofOutcome> {
        match Self::read(proof)?["sig"].as_str() {
            Some("ok") => Ok(ProofOutcome::default()),
            Some("clone") => Err(Error::PossibleClone),
            Some("refused") => Err(Error::AuthenticatorRefused { reason: "aaguid_not_allowed" }),
            _ => Err(Error::InvalidCode),
        }
    }

    fn request() -> ChallengePlan {
        let prompt = Prompt::PublicKeyCredential { options_json: r#"{"publicKey": {"challenge": "c"}}"#.into() };
        ChallengePlan::with_ceremony(prompt, CeremonyPlan::new(b"c".to_vec()))
    }
}

#[async_trait]
impl FactorAdapter for Passkeys {
    fn kinds(&self) -> Vec<FactorKind> {
        vec![FactorKind::PASSKEY]
    }

    fn default_label(&self, _kind: &FactorKind) -> String {
        "Passkey".into()
    }

    fn needs_challenge(&self, _kind: &FactorKind) -> bool {
        true
    }

    fn check_proof(&self, _kind: &FactorKind, _step: ProofStep, proof: &Proof) -> mfa_core::Result<()> {
        Self::read(proof).map(|_| ())
    }

    async fn start_enrolment(
        &self,
        _ctx: &FactorContext<'_>,
        _request: &EnrolmentRequest,
    ) -> mfa_core::Result<EnrolmentPlan> {
        let prompt = Prompt::PublicKeyCredential { options_json: r#"{"publicKey": {"challenge": "e"}}"#.into() };
        let mut plan = EnrolmentPlan::new(prompt, Assurance::PhishingResistantMultiFactor);
        plan.ceremony = Some(CeremonyPlan::new(b"e".to_vec()));
        Ok(plan)
    }

    async fn finish_enrolment(
        &self,
        _ctx: &FactorContext<'_>,
        input: VerifyInput<'_>,
    ) -> mfa_core::Result<ProofOutcome> {
        let mut outcome = Self::signature(input.proof)?;
        outcome.lookup_key = Self::read(input.proof)?["id"].as_str().map(str::to_owned);
        Ok(outcome)
    }

    async fn start_challenge(
        &self,
        _ctx: &FactorContext<'_>,
        _factor: &FactorRecord,
        _secret: Option<&SecretBytes>,
    ) -> mfa_core::Result<ChallengePlan> {
        Ok(Self::request())
    }

    async fn finish_challenge(
        &self,
        _ctx: &FactorContext<'_>,
        input: VerifyInput<'_>,
    ) -> mfa_core::Result<ProofOutcome> {
        Self::signature(input.proof)
    }

    fn identify(&self, _kind: &FactorKind, proof: &Proof) -> mfa_core::Result<Option<String>> {
        Ok(Self::read(proof)?["id"].as_str().map(str::to_owned))
    }

    async fn start_passwordless(&self, _ctx: &PasswordlessContext<'_>) -> mfa_core::Result<ChallengePlan> {
        Ok(Self::request())
    }
}

// ---------------------------------------------------------------------------------------
// The table is the router
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_table_has_one_row_for_every_operation_of_the_openapi_document() {
    let document = mfa_axum::openapi("");
    let mut documented = BTreeSet::new();
    for (path, item) in &document.paths.paths {
        let operations = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, present) in operations {
            if present {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let rows: BTreeSet<_> =
        ENDPOINTS.iter().filter(|e| e.documented).map(|e| (e.method.to_owned(), e.path.to_owned())).collect();
    assert_eq!(rows, documented, "a new endpoint needs a row in ENDPOINTS (and its checks)");
    assert_eq!(rows.len() + 2, ENDPOINTS.len(), "one row per route, the script and the document included");
}

#[tokio::test]
async fn every_row_is_served_and_every_other_route_is_not() {
    let w = World::new().await;
    let mut browser = anonymous(&w).await;
    for endpoint in ENDPOINTS {
        let path = path_of(endpoint, &random_factor(), &random_factor());
        let answer = browser.send(method_of(endpoint), &path, body_of(endpoint)).await;
        let unrouted = [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&answer.status)
            && answer.code().is_empty();
        assert!(!unrouted, "{} {path} is not served: {}", endpoint.method, answer.status);
    }
    // A method no row names is not routed.
    let answer = browser.send(Method::PUT, "/mfa/factors", None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ---------------------------------------------------------------------------------------
// CSRF and sign-in refusals, every row
// ---------------------------------------------------------------------------------------

/// A world whose store records every call, with a passkey stand-in; Alice signed in on a
/// remembered device, with recovery codes.
struct Matrix {
    w: World,
    store: Arc<FaultyStore<MemoryStore>>,
    browser: Browser,
    factor: String,
    device: String,
}

async fn matrix() -> Matrix {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let w = World::with(Setup { store: store.clone(), ..with_passkeys() }).await;
    w.mfa.generate_recovery_codes(&w.alice, &fresh(&w)).await.unwrap();
    let browser = signed_in_remembering(&w, true).await;
    let factor = alice_totp(&w).await;
    let device = w.mfa.list_devices(&w.alice).await.unwrap()[0].id.to_string();
    Matrix { w, store, browser, factor, device }
}

impl Matrix {
    /// What a user could see change: factors, recovery codes, remembered devices, codes
    /// sent.
    async fn state(&self) -> String {
        let mfa = &self.w.mfa;
        let mut state = String::new();
        for name in ["alice", "bob", "carol"] {
            let who = user(name);
            let factors: Vec<_> = mfa
                .list_factors(&who)
                .await
                .unwrap()
                .iter()
                .map(|f| (f.id.to_string(), f.label.clone(), f.status.as_str(), f.preferred))
                .collect();
            let codes = mfa.recovery_codes_remaining(&who).await.unwrap();
            let devices: Vec<_> = mfa.list_devices(&who).await.unwrap().iter().map(|d| d.id.to_string()).collect();
            state.push_str(&format!("{name}: {factors:?} {codes} {devices:?}\n"));
        }
        state.push_str(&format!("messages sent: {}", self.w.outbox.messages().len()));
        state
    }

    /// The store calls since the last reset that write.
    fn writes(&self) -> Vec<&'static str> {
        let reads = ["get_", "list_", "count_", "find_"];
        self.store.calls().into_iter().filter(|c| !reads.iter().any(|r| c.starts_with(r))).collect()
    }
}

#[tokio::test]
async fn every_change_refuses_a_missing_or_wrong_csrf_token_before_touching_the_store() {
    let mut m = matrix().await;
    let before = m.state().await;
    let token = m.browser.csrf.clone();
    for endpoint in ENDPOINTS.iter().filter(|e| e.changes) {
        let path = path_of(endpoint, &m.factor, &m.device);
        for given in [None, Some("0".repeat(48)), Some(String::new())] {
            m.browser.csrf = given.clone();
            m.store.reset();
            let answer = m.browser.send(method_of(endpoint), &path, body_of(endpoint)).await;
            assert_refused(&answer, StatusCode::FORBIDDEN, "csrf_refused");
            assert_eq!(m.store.calls(), Vec::<&str>::new(), "{} {path} with {given:?}", endpoint.method);
        }
    }
    m.browser.csrf = token;
    assert_eq!(m.state().await, before, "nothing changed");
    // The session is unchanged too: still signed in, no challenge opened.
    assert_ok(&m.browser.get("/mfa/factors").await, StatusCode::OK);
    let finish = m.browser.post("/mfa/signin/challenge/finish", json!({ "code": m.w.code() })).await;
    assert_refused(&finish, StatusCode::CONFLICT, "no_challenge");
}

#[tokio::test]
async fn reads_need_no_csrf_token() {
    let mut m = matrix().await;
    m.browser.csrf = None;
    for endpoint in ENDPOINTS.iter().filter(|e| !e.changes) {
        assert_eq!(endpoint.method, "GET", "only reads go without a token");
        let answer = m.browser.get(&path_of(endpoint, &m.factor, &m.device)).await;
        assert_eq!(answer.status, StatusCode::OK, "{} {:?}", endpoint.path, answer.body);
    }
}

#[tokio::test]
async fn without_a_sign_in_every_row_that_needs_one_is_refused_and_nothing_is_stored() {
    let m = matrix().await;
    let before = m.state().await;
    let mut browser = anonymous(&m.w).await;
    for endpoint in ENDPOINTS {
        let Some((status, code)) = endpoint.needs.without_sign_in() else { continue };
        let path = path_of(endpoint, &m.factor, &m.device);
        m.store.reset();
        let answer = browser.send(method_of(endpoint), &path, body_of(endpoint)).await;
        assert_refused(&answer, status, code);
        assert_eq!(m.store.calls(), Vec::<&str>::new(), "{} {path}", endpoint.method);
    }
    assert_eq!(m.state().await, before, "nothing changed");
}

#[tokio::test]
async fn with_only_a_password_every_row_that_needs_more_is_refused_and_nothing_is_written() {
    let m = matrix().await;
    let before = m.state().await;
    let mut browser = password(&m.w, "alice").await;
    for endpoint in ENDPOINTS {
        let Some((status, code)) = endpoint.needs.with_password_only() else { continue };
        let path = path_of(endpoint, &m.factor, &m.device);
        m.store.reset();
        let answer = browser.send(method_of(endpoint), &path, body_of(endpoint)).await;
        assert_refused(&answer, status, code);
        if code == "verification_required" {
            // The refusal names the factors that would do, as the guard's does.
            let kinds = answer.body["candidates"].as_array().map(|c| c.iter().map(|f| f["kind"].clone()).collect());
            assert_eq!(kinds, Some(vec![json!("totp")]), "{} {path}: {:?}", endpoint.method, answer.body);
        }
        assert_eq!(m.writes(), Vec::<&str>::new(), "{} {path}", endpoint.method);
    }
    assert_eq!(m.state().await, before, "nothing changed");
    let guarded = browser.get("/account").await;
    assert_eq!((guarded.status, guarded.code()), (StatusCode::UNAUTHORIZED, "verification_required"));
}

#[tokio::test]
async fn without_a_factor_every_help_desk_row_asks_for_one_and_nothing_is_written() {
    // Bob has no factor: under the default (Optional) sign-in policy his password finishes
    // his sign-in, which is not enough for the help desk (whether he is an administrator
    // or not: the check is not asked).
    let m = matrix().await;
    let before = m.state().await;
    let mut browser = password(&m.w, "bob").await;
    assert_ok(&browser.get("/mfa/factors").await, StatusCode::OK);
    for endpoint in ENDPOINTS {
        let Some((status, code)) = endpoint.needs.without_a_factor() else { continue };
        let path = path_of(endpoint, &m.factor, &m.device);
        m.store.reset();
        let answer = browser.send(method_of(endpoint), &path, body_of(endpoint)).await;
        assert_refused(&answer, status, code);
        assert_eq!(m.writes(), Vec::<&str>::new(), "{} {path}", endpoint.method);
    }
    assert_eq!(m.state().await, before, "nothing changed");
}

// ---------------------------------------------------------------------------------------
// Successes and refusals, as data
// ---------------------------------------------------------------------------------------

/// One request of the matrix: which endpoint, and what it answers.
#[derive(Debug)]
struct Case {
    method: &'static str,
    path: &'static str,
    status: u16,
    /// `""` for a success.
    code: &'static str,
}

/// Declares the cases: one `#[tokio::test]` each (named after its function in `case`,
/// which sets the scene and returns the answer), and the list [`CASES`] the coverage
/// tests read.
macro_rules! cases {
    ($($name:ident: $method:literal $path:literal => $status:literal $code:literal;)*) => {
        const CASES: &[Case] = &[$(Case { method: $method, path: $path, status: $status, code: $code }),*];
        $(
            #[tokio::test]
            async fn $name() {
                let answer = case::$name().await;
                let status = StatusCode::from_u16($status).unwrap();
                match $code {
                    "" => assert_ok(&answer, status),
                    code => assert_refused(&answer, status, code),
                }
            }
        )*
    };
}

cases! {
    // GET /csrf
    csrf_gives_the_sessions_token: "GET" "/csrf" => 200 "";
    csrf_with_a_failing_session_store: "GET" "/csrf" => 503 "session_unavailable";

    // POST /signin/challenge
    challenge_starts_with_the_preferred_factor: "POST" "/signin/challenge" => 200 "";
    challenge_sends_an_sms_code: "POST" "/signin/challenge" => 200 "";
    challenge_of_another_users_factor: "POST" "/signin/challenge" => 404 "not_found";
    challenge_of_a_malformed_factor_id: "POST" "/signin/challenge" => 400 "invalid_input";
    challenge_with_a_body_that_is_not_json: "POST" "/signin/challenge" => 400 "invalid_input";
    challenge_past_the_limit_of_open_challenges: "POST" "/signin/challenge" => 429 "limit_reached";
    challenge_of_a_locked_factor: "POST" "/signin/challenge" => 429 "locked";
    challenge_of_a_disabled_factor: "POST" "/signin/challenge" => 403 "disabled";
    challenge_sent_again_too_soon: "POST" "/signin/challenge" => 429 "rate_limited";
    challenge_past_the_users_sending_cap: "POST" "/signin/challenge" => 429 "delivery_capped";
    challenge_whose_code_cannot_be_sent: "POST" "/signin/challenge" => 502 "delivery_failed";
    challenge_when_the_store_fails: "POST" "/signin/challenge" => 503 "backend_unavailable";
    challenge_when_the_secret_cannot_be_opened: "POST" "/signin/challenge" => 500 "internal";

    // POST /signin/challenge/resend
    resend_sends_a_new_sms_code: "POST" "/signin/challenge/resend" => 200 "";
    resend_too_soon: "POST" "/signin/challenge/resend" => 429 "rate_limited";
    resend_of_an_app_challenge: "POST" "/signin/challenge/resend" => 400 "unsupported";
    resend_of_an_expired_challenge: "POST" "/signin/challenge/resend" => 410 "expired";
    resend_past_the_users_sending_cap: "POST" "/signin/challenge/resend" => 429 "delivery_capped";

    // POST /signin/challenge/finish
    finish_signs_in: "POST" "/signin/challenge/finish" => 200 "";
    finish_with_a_passkey_remembers_the_device: "POST" "/signin/challenge/finish" => 200 "";
    finish_with_a_wrong_code: "POST" "/signin/challenge/finish" => 422 "code_invalid";
    finish_with_a_used_code: "POST" "/signin/challenge/finish" => 422 "code_replayed";
    finish_after_too_many_wrong_codes: "POST" "/signin/challenge/finish" => 429 "locked";
    finish_of_a_disabled_factor: "POST" "/signin/challenge/finish" => 403 "disabled";
    finish_of_an_expired_challenge: "POST" "/signin/challenge/finish" => 410 "expired";
    finish_with_neither_code_nor_credential: "POST" "/signin/challenge/finish" => 400 "invalid_input";
    finish_with_a_cloned_key: "POST" "/signin/challenge/finish" => 422 "possible_clone";

    // POST /signin/recovery-code
    recovery_code_signs_in: "POST" "/signin/recovery-code" => 200 "";
    recovery_code_wrong: "POST" "/signin/recovery-code" => 422 "code_invalid";
    recovery_code_empty: "POST" "/signin/recovery-code" => 400 "invalid_input";
    recovery_code_after_too_many_wrong_ones: "POST" "/signin/recovery-code" => 429 "locked";
    recovery_code_after_the_hard_stop: "POST" "/signin/recovery-code" => 403 "disabled";

    // POST /signin/temporary-access
    temporary_access_signs_in: "POST" "/signin/temporary-access" => 200 "";
    temporary_access_wrong: "POST" "/signin/temporary-access" => 422 "code_invalid";
    temporary_access_malformed: "POST" "/signin/temporary-access" => 400 "invalid_input";
    temporary_access_after_too_many_wrong_ones: "POST" "/signin/temporary-access" => 429 "locked";
    temporary_access_after_the_hard_stop: "POST" "/signin/temporary-access" => 403 "disabled";

    // POST /signin/step-up
    step_up_challenges_for_the_refused_action: "POST" "/signin/step-up" => 200 "";
    step_up_of_another_users_factor: "POST" "/signin/step-up" => 404 "not_found";
    step_up_past_the_limit_of_open_challenges: "POST" "/signin/step-up" => 429 "limit_reached";
    step_up_sent_again_too_soon: "POST" "/signin/step-up" => 429 "rate_limited";

    // POST /signin/passwordless/start
    passwordless_start_gives_request_options: "POST" "/signin/passwordless/start" => 200 "";
    passwordless_start_without_a_passkey_adapter: "POST" "/signin/passwordless/start" => 400 "unsupported";
    passwordless_start_past_the_deployment_limit: "POST" "/signin/passwordless/start" => 429 "limit_reached";
    passwordless_start_for_autofill_says_conditional: "POST" "/signin/passwordless/start" => 200 "";
    passwordless_start_with_an_unknown_mediation: "POST" "/signin/passwordless/start" => 400 "invalid_input";

    // POST /signin/passwordless/finish
    passwordless_finish_signs_in: "POST" "/signin/passwordless/finish" => 200 "";
    passwordless_finish_with_an_unknown_key: "POST" "/signin/passwordless/finish" => 422 "code_invalid";
    passwordless_finish_naming_no_key: "POST" "/signin/passwordless/finish" => 400 "invalid_input";
    passwordless_finish_after_the_ceremony_expired: "POST" "/signin/passwordless/finish" => 410 "expired";
    passwordless_finish_for_a_disabled_account: "POST" "/signin/passwordless/finish" => 401 "unauthenticated";

    // GET /session, POST /session/passkey-offer/dismiss
    session_says_how_the_sign_in_was_made: "GET" "/session" => 200 "";
    session_waiting_for_its_second_step: "GET" "/session" => 200 "";
    session_when_the_store_fails: "GET" "/session" => 503 "backend_unavailable";
    passkey_offer_is_dismissed: "POST" "/session/passkey-offer/dismiss" => 204 "";

    // GET /factors
    factors_are_listed: "GET" "/factors" => 200 "";
    factors_when_the_store_fails: "GET" "/factors" => 503 "backend_unavailable";

    // POST /factors
    add_factor_starts_an_app: "POST" "/factors" => 201 "";
    add_factor_sends_an_sms_code: "POST" "/factors" => 201 "";
    add_factor_after_the_window: "POST" "/factors" => 401 "reauth_required";
    add_factor_with_only_the_password_again: "POST" "/factors" => 401 "mfa_required";
    add_factor_of_an_unconfigured_kind: "POST" "/factors" => 400 "unsupported";
    add_factor_with_a_bad_number: "POST" "/factors" => 400 "invalid_input";
    add_factor_with_an_unknown_field: "POST" "/factors" => 400 "invalid_input";
    add_factor_past_the_pending_limit: "POST" "/factors" => 429 "limit_reached";
    add_factor_replacing_an_unknown_one: "POST" "/factors" => 404 "not_found";
    add_factor_sending_again_too_soon: "POST" "/factors" => 429 "rate_limited";
    add_factor_past_the_users_sending_cap: "POST" "/factors" => 429 "delivery_capped";
    add_factor_whose_code_cannot_be_sent: "POST" "/factors" => 502 "delivery_failed";

    // POST /factors/{id}/finish
    finish_factor_activates_it: "POST" "/factors/{id}/finish" => 200 "";
    finish_factor_with_a_passkey: "POST" "/factors/{id}/finish" => 200 "";
    finish_factor_with_a_wrong_code: "POST" "/factors/{id}/finish" => 422 "code_invalid";
    finish_factor_after_it_expired: "POST" "/factors/{id}/finish" => 410 "expired";
    finish_factor_after_too_many_wrong_codes: "POST" "/factors/{id}/finish" => 429 "locked";
    finish_factor_after_the_window: "POST" "/factors/{id}/finish" => 401 "reauth_required";
    finish_factor_with_only_the_password_again: "POST" "/factors/{id}/finish" => 401 "mfa_required";
    finish_factor_unknown: "POST" "/factors/{id}/finish" => 404 "not_found";
    finish_factor_of_another_user: "POST" "/factors/{id}/finish" => 404 "not_found";
    finish_factor_with_another_users_key: "POST" "/factors/{id}/finish" => 409 "already_exists";
    finish_factor_with_neither_code_nor_credential: "POST" "/factors/{id}/finish" => 400 "invalid_input";
    finish_factor_refused_by_the_authenticator_policy: "POST" "/factors/{id}/finish" => 422 "authenticator_refused";

    // POST /factors/{id}/resend
    resend_factor_sends_a_new_code: "POST" "/factors/{id}/resend" => 200 "";
    resend_factor_too_soon: "POST" "/factors/{id}/resend" => 429 "rate_limited";
    resend_factor_of_an_app: "POST" "/factors/{id}/resend" => 400 "unsupported";
    resend_factor_after_it_expired: "POST" "/factors/{id}/resend" => 410 "expired";
    resend_factor_unknown: "POST" "/factors/{id}/resend" => 404 "not_found";
    resend_factor_of_another_user: "POST" "/factors/{id}/resend" => 404 "not_found";
    resend_factor_past_the_users_sending_cap: "POST" "/factors/{id}/resend" => 429 "delivery_capped";

    // PATCH /factors/{id}
    rename_factor: "PATCH" "/factors/{id}" => 200 "";
    rename_factor_unknown: "PATCH" "/factors/{id}" => 404 "not_found";
    rename_factor_to_nothing: "PATCH" "/factors/{id}" => 400 "invalid_input";

    // POST /factors/{id}/preferred
    prefer_factor: "POST" "/factors/{id}/preferred" => 204 "";
    prefer_factor_unknown: "POST" "/factors/{id}/preferred" => 404 "not_found";
    prefer_factor_after_the_window: "POST" "/factors/{id}/preferred" => 401 "reauth_required";
    prefer_factor_with_only_the_password_again: "POST" "/factors/{id}/preferred" => 401 "mfa_required";

    // DELETE /factors/{id}
    remove_factor: "DELETE" "/factors/{id}" => 204 "";
    remove_factor_unknown: "DELETE" "/factors/{id}" => 404 "not_found";
    remove_factor_with_a_malformed_id: "DELETE" "/factors/{id}" => 400 "invalid_input";
    remove_factor_after_the_window: "DELETE" "/factors/{id}" => 401 "reauth_required";
    remove_factor_with_only_the_password_again: "DELETE" "/factors/{id}" => 401 "mfa_required";

    // GET /recovery-codes
    recovery_codes_are_counted: "GET" "/recovery-codes" => 200 "";
    recovery_codes_counted_when_the_store_fails: "GET" "/recovery-codes" => 503 "backend_unavailable";

    // POST /recovery-codes
    recovery_codes_are_generated_once: "POST" "/recovery-codes" => 201 "";
    recovery_codes_generated_twice: "POST" "/recovery-codes" => 409 "already_exists";
    recovery_codes_without_a_factor: "POST" "/recovery-codes" => 409 "factor_required";
    recovery_codes_after_the_window: "POST" "/recovery-codes" => 401 "reauth_required";
    recovery_codes_with_only_the_password_again: "POST" "/recovery-codes" => 401 "mfa_required";

    // POST /recovery-codes/regenerate
    recovery_codes_are_regenerated: "POST" "/recovery-codes/regenerate" => 201 "";
    regenerate_without_a_factor: "POST" "/recovery-codes/regenerate" => 409 "factor_required";
    regenerate_after_the_window: "POST" "/recovery-codes/regenerate" => 401 "reauth_required";
    regenerate_with_only_the_password_again: "POST" "/recovery-codes/regenerate" => 401 "mfa_required";

    // GET /devices, DELETE /devices, DELETE /devices/{id}
    devices_are_listed: "GET" "/devices" => 200 "";
    devices_are_all_forgotten: "DELETE" "/devices" => 200 "";
    device_is_forgotten: "DELETE" "/devices/{id}" => 204 "";
    device_unknown: "DELETE" "/devices/{id}" => 404 "not_found";
    device_of_another_user: "DELETE" "/devices/{id}" => 404 "not_found";
    device_with_a_malformed_id: "DELETE" "/devices/{id}" => 400 "invalid_input";

    // POST /reauth
    reauth_with_the_password: "POST" "/reauth" => 204 "";
    reauth_with_a_wrong_password: "POST" "/reauth" => 401 "password_invalid";
    reauth_guessing_ends_the_session: "POST" "/reauth" => 401 "unauthenticated";
    reauth_with_a_missing_password: "POST" "/reauth" => 400 "invalid_input";

    // GET /admin/users
    admin_finds_a_user: "GET" "/admin/users" => 200 "";
    admin_find_as_a_non_administrator: "GET" "/admin/users" => 403 "forbidden";
    admin_find_with_an_empty_query: "GET" "/admin/users" => 400 "invalid_input";

    // GET /admin/users/{user}
    admin_reads_a_status: "GET" "/admin/users/{user}" => 200 "";
    admin_status_as_a_non_administrator: "GET" "/admin/users/{user}" => 403 "forbidden";
    admin_status_of_a_malformed_user: "GET" "/admin/users/{user}" => 400 "invalid_input";

    // POST /admin/users/{user}/reset
    admin_resets_a_user: "POST" "/admin/users/{user}/reset" => 200 "";
    admin_reset_as_a_non_administrator: "POST" "/admin/users/{user}/reset" => 403 "forbidden";

    // POST /admin/users/{user}/unlock
    admin_unlocks_a_factor: "POST" "/admin/users/{user}/unlock" => 200 "";
    admin_unlock_as_a_non_administrator: "POST" "/admin/users/{user}/unlock" => 403 "forbidden";
    admin_unlock_of_an_unknown_factor: "POST" "/admin/users/{user}/unlock" => 404 "not_found";
    admin_unlock_of_an_unknown_scope: "POST" "/admin/users/{user}/unlock" => 400 "invalid_input";

    // POST, DELETE /admin/users/{user}/temporary-access
    admin_issues_a_temporary_access_code: "POST" "/admin/users/{user}/temporary-access" => 201 "";
    admin_issue_as_a_non_administrator: "POST" "/admin/users/{user}/temporary-access" => 403 "forbidden";
    admin_issue_for_no_time_at_all: "POST" "/admin/users/{user}/temporary-access" => 400 "invalid_input";
    admin_revokes_a_temporary_access_code: "DELETE" "/admin/users/{user}/temporary-access" => 200 "";
    admin_revoke_as_a_non_administrator: "DELETE" "/admin/users/{user}/temporary-access" => 403 "forbidden";

    // GET /admin/coverage
    admin_reads_coverage: "GET" "/admin/coverage" => 200 "";
    admin_coverage_as_a_non_administrator: "GET" "/admin/coverage" => 403 "forbidden";
    admin_coverage_with_a_bad_threshold: "GET" "/admin/coverage" => 400 "invalid_input";

    // The script and the document
    script_is_served: "GET" "/mfa.js" => 200 "";
    document_is_served: "GET" "/openapi.json" => 200 "";

    // The host's routes: the guard and a step-up
    guard_asks_a_user_without_a_factor_to_add_one: "GET" "/account" => 403 "enrolment_required";
    guard_asks_for_the_second_step: "GET" "/account" => 401 "verification_required";
    step_up_is_asked_for_a_payment: "POST" "/pay" => 401 "step_up_required";
}

/// The scenes of [`CASES`]: each sets up a world and returns the answer under test, with
/// any further checks of its own.
mod case {
    use super::*;

    // GET /csrf

    pub(super) async fn csrf_gives_the_sessions_token() -> Answer {
        let w = World::new().await;
        let mut browser = w.browser();
        let answer = browser.get("/mfa/csrf").await;
        let token = text(&answer.body["csrf_token"]);
        assert!(token.len() >= 32, "{token}");
        assert_eq!(browser.get("/mfa/csrf").await.body["csrf_token"], token.as_str(), "one token per session");
        answer
    }

    pub(super) async fn csrf_with_a_failing_session_store() -> Answer {
        let w = World::new().await;
        let http = MfaHttp::new(w.mfa.clone(), Accounts::default());
        let app = Router::new()
            .nest("/mfa", http.router())
            .layer(tower_sessions::SessionManagerLayer::new(DownSessions).with_secure(false));
        let mut browser = Browser { app, cookies: Default::default(), csrf: None };
        browser.cookies.insert("id".into(), tower_sessions::session::Id::default().to_string());
        browser.get("/mfa/csrf").await
    }

    // POST /signin/challenge

    pub(super) async fn challenge_starts_with_the_preferred_factor() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        let answer = browser.post("/mfa/signin/challenge", json!({})).await;
        assert_eq!(answer.body["factor"]["kind"], "totp");
        assert_eq!(answer.body["factor"]["status"], "active");
        assert_eq!(answer.body["prompt"]["type"], "enter_code");
        assert!(answer.body["expires_at"].is_i64());
        assert_eq!(answer.body["alternatives"], json!([]));
        assert_eq!(answer.body["recovery_codes_remaining"], 0);
        answer
    }

    pub(super) async fn challenge_sends_an_sms_code() -> Answer {
        let w = World::new().await;
        let factor = carol_with_sms(&w).await;
        let mut browser = password(&w, "carol").await;
        let sent = w.outbox.messages().len();
        let answer = browser.post("/mfa/signin/challenge", json!({ "factor": factor })).await;
        assert_eq!(answer.body["prompt"]["type"], "code_sent");
        assert!(answer.body["prompt"]["masked_destination"].as_str().unwrap().ends_with("71"));
        assert_eq!(w.outbox.messages().len(), sent + 1);
        answer
    }

    pub(super) async fn challenge_of_another_users_factor() -> Answer {
        let w = World::new().await;
        let carols = carol_with_sms(&w).await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({ "factor": carols })).await
    }

    pub(super) async fn challenge_of_a_malformed_factor_id() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({ "factor": "not an id" })).await
    }

    pub(super) async fn challenge_with_a_body_that_is_not_json() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        let answer = browser.post("/mfa/signin/challenge", json!("factor")).await;
        assert_eq!(answer.body["field"], "body");
        answer
    }

    pub(super) async fn challenge_past_the_limit_of_open_challenges() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        for _ in 0..w.mfa.settings().limits.challenges.max {
            assert_ok(&browser.post("/mfa/signin/challenge", json!({})).await, StatusCode::OK);
        }
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    /// Five wrong codes: the factor waits before the next attempt.
    async fn five_wrong_codes(browser: &mut Browser) {
        for _ in 0..5 {
            assert_ok(&browser.post("/mfa/signin/challenge", json!({})).await, StatusCode::OK);
            let wrong = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
            assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        }
    }

    pub(super) async fn challenge_of_a_locked_factor() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        five_wrong_codes(&mut browser).await;
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    fn hard_stop() -> Setup {
        with_settings(|s| s.throttle = ThrottleSettings::default().max_failures(1))
    }

    pub(super) async fn challenge_of_a_disabled_factor() -> Answer {
        let w = World::with(hard_stop()).await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        let wrong = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
        assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    pub(super) async fn challenge_sent_again_too_soon() -> Answer {
        let w = World::new().await;
        let mut browser = carol_challenged(&w).await;
        let sent = w.outbox.messages().len();
        let answer = browser.post("/mfa/signin/challenge", json!({})).await;
        assert_eq!(w.outbox.messages().len(), sent, "nothing sent");
        answer
    }

    fn one_message_per_user() -> Setup {
        with_settings(|s| s.delivery.per_user = Some(WindowCap::new(Duration::from_secs(3600), 1)))
    }

    pub(super) async fn challenge_past_the_users_sending_cap() -> Answer {
        let w = World::with(one_message_per_user()).await;
        carol_with_sms(&w).await; // the enrolment's code used the cap
        let mut browser = password(&w, "carol").await;
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    pub(super) async fn challenge_whose_code_cannot_be_sent() -> Answer {
        let w = World::new().await;
        carol_with_sms(&w).await;
        let mut browser = password(&w, "carol").await;
        w.outbox.set_failing(true);
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    pub(super) async fn challenge_when_the_store_fails() -> Answer {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        let w = World::with(Setup { store: store.clone(), ..Setup::default() }).await;
        let mut browser = password(&w, "alice").await;
        store.fail_call(1);
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    pub(super) async fn challenge_when_the_secret_cannot_be_opened() -> Answer {
        // A second service on the same store whose sealer does not hold the key Alice's
        // secret was sealed with (a key lost in a bad deployment).
        let store = Arc::new(MemoryStore::new());
        let w = World::with(Setup { store: store.clone(), ..Setup::default() }).await;
        let other = Mfa::builder()
            .shared_store(store)
            .sealer(AeadSealer::ephemeral().unwrap())
            .clock(w.clock.clone())
            .factor(w.totp.clone())
            .build()
            .unwrap();
        let app = support::app(MfaHttp::new(other, Accounts::default()), AccessPolicy::default());
        let mut browser = Browser { app, cookies: Default::default(), csrf: None };
        browser.password("alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await
    }

    // POST /signin/challenge/resend

    pub(super) async fn resend_sends_a_new_sms_code() -> Answer {
        let w = World::new().await;
        let mut browser = carol_challenged(&w).await;
        let first = w.outbox.last_code_to(CAROL_PHONE).unwrap();
        w.clock.advance(Duration::from_secs(31));
        let answer = browser.post("/mfa/signin/challenge/resend", json!({})).await;
        assert_eq!(answer.body["prompt"]["type"], "code_sent");
        assert_eq!(answer.body["factor"]["kind"], "sms");
        let second = w.outbox.last_code_to(CAROL_PHONE).unwrap();
        assert_ne!(first, second, "a new code");
        let old = browser.post("/mfa/signin/challenge/finish", json!({ "code": first })).await;
        assert_refused(&old, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": second })).await;
        assert_ok(&done, StatusCode::OK);
        answer
    }

    pub(super) async fn resend_too_soon() -> Answer {
        let w = World::new().await;
        let mut browser = carol_challenged(&w).await;
        browser.post("/mfa/signin/challenge/resend", json!({})).await
    }

    pub(super) async fn resend_of_an_app_challenge() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        browser.post("/mfa/signin/challenge/resend", json!({})).await
    }

    pub(super) async fn resend_of_an_expired_challenge() -> Answer {
        let w = World::new().await;
        let mut browser = carol_challenged(&w).await;
        w.clock.advance(w.mfa.settings().challenge_ttl + Duration::from_secs(1));
        browser.post("/mfa/signin/challenge/resend", json!({})).await
    }

    pub(super) async fn resend_past_the_users_sending_cap() -> Answer {
        let mut setup = one_message_per_user();
        setup.settings.delivery.per_user = Some(WindowCap::new(Duration::from_secs(3600), 2));
        let w = World::with(setup).await;
        let mut browser = carol_challenged(&w).await; // the enrolment's code and the challenge's
        w.clock.advance(Duration::from_secs(31));
        browser.post("/mfa/signin/challenge/resend", json!({})).await
    }

    // POST /signin/challenge/finish

    pub(super) async fn finish_signs_in() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        let before = browser.csrf.clone();
        browser.post("/mfa/signin/challenge", json!({})).await;
        let answer = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
        assert_eq!(answer.body["complete"], true);
        assert_eq!(answer.body["next"], "/account");
        assert!(answer.body["recovery_codes_remaining"].is_null());
        assert_eq!(answer.body["csrf_token"].as_str(), before.as_deref(), "the session's token");
        assert!(answer.headers.get(header::SET_COOKIE).is_some_and(|c| !c.to_str().unwrap().contains("mfa_device")));
        answer
    }

    pub(super) async fn finish_with_a_passkey_remembers_the_device() -> Answer {
        let w = World::with(with_passkeys()).await;
        let key = passkey(&w, "alice", "key-1").await;
        let mut browser = password(&w, "alice").await;
        let challenge = browser.post("/mfa/signin/challenge", json!({ "factor": key })).await;
        assert_eq!(challenge.body["prompt"]["type"], "credential_request");
        assert_eq!(challenge.body["alternatives"][0]["kind"], "totp");
        let credential = json!({ "id": "key-1", "sig": "ok" });
        let answer = browser
            .post("/mfa/signin/challenge/finish", json!({ "credential": credential, "remember_device": true }))
            .await;
        let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("mfa_device=") && cookie.contains("HttpOnly"), "{cookie}");
        assert_eq!(w.mfa.list_devices(&w.alice).await.unwrap().len(), 1);
        answer
    }

    pub(super) async fn finish_with_a_wrong_code() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        let answer = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
        assert_eq!(browser.get("/account").await.code(), "verification_required", "still not signed in");
        answer
    }

    pub(super) async fn finish_with_a_used_code() -> Answer {
        let w = World::new().await;
        signed_in(&w).await; // used this step's code
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await
    }

    pub(super) async fn finish_after_too_many_wrong_codes() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        five_wrong_codes(&mut browser).await;
        // The last challenge is still open; even the right code now waits.
        let answer = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
        assert_eq!(browser.get("/account").await.code(), "verification_required", "still not signed in");
        answer
    }

    pub(super) async fn finish_of_a_disabled_factor() -> Answer {
        let w = World::with(hard_stop()).await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        let wrong = browser.post("/mfa/signin/challenge/finish", json!({ "code": "000000" })).await;
        assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await
    }

    pub(super) async fn finish_of_an_expired_challenge() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        w.clock.advance(w.mfa.settings().challenge_ttl + Duration::from_secs(1));
        browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await
    }

    pub(super) async fn finish_with_neither_code_nor_credential() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({})).await;
        let answer = browser.post("/mfa/signin/challenge/finish", json!({ "remember_device": true })).await;
        assert_eq!(answer.body["field"], "answer");
        answer
    }

    pub(super) async fn finish_with_a_cloned_key() -> Answer {
        let w = World::with(with_passkeys()).await;
        let key = passkey(&w, "alice", "key-1").await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/challenge", json!({ "factor": key })).await;
        let answer = browser
            .post("/mfa/signin/challenge/finish", json!({ "credential": { "id": "key-1", "sig": "clone" } }))
            .await;
        assert_eq!(browser.get("/account").await.code(), "verification_required", "not signed in");
        answer
    }

    // POST /signin/recovery-code

    /// Well-formed, but not one of Alice's.
    const WRONG_RECOVERY_CODE: &str = "AAAA-AAAA-AAAA-AAAA-AAAA";

    async fn alice_with_recovery_codes(w: &World) -> Vec<String> {
        let set = w.mfa.generate_recovery_codes(&w.alice, &fresh(w)).await.unwrap();
        set.codes().iter().map(|c| c.expose().to_owned()).collect()
    }

    pub(super) async fn recovery_code_signs_in() -> Answer {
        let w = World::new().await;
        let codes = alice_with_recovery_codes(&w).await;
        let mut browser = password(&w, "alice").await;
        let answer = browser.post("/mfa/signin/recovery-code", json!({ "code": codes[0] })).await;
        assert_eq!(answer.body["complete"], true);
        assert_eq!(answer.body["recovery_codes_remaining"], codes.len() - 1);
        assert!(answer.body["csrf_token"].is_string());
        answer
    }

    pub(super) async fn recovery_code_wrong() -> Answer {
        let w = World::new().await;
        alice_with_recovery_codes(&w).await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/recovery-code", json!({ "code": WRONG_RECOVERY_CODE })).await
    }

    pub(super) async fn recovery_code_empty() -> Answer {
        let w = World::new().await;
        alice_with_recovery_codes(&w).await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/recovery-code", json!({ "code": "" })).await
    }

    pub(super) async fn recovery_code_after_too_many_wrong_ones() -> Answer {
        let w = World::new().await;
        let codes = alice_with_recovery_codes(&w).await;
        let mut browser = password(&w, "alice").await;
        for _ in 0..5 {
            let wrong = browser.post("/mfa/signin/recovery-code", json!({ "code": WRONG_RECOVERY_CODE })).await;
            assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        }
        browser.post("/mfa/signin/recovery-code", json!({ "code": codes[0] })).await
    }

    pub(super) async fn recovery_code_after_the_hard_stop() -> Answer {
        let w = World::with(hard_stop()).await;
        let codes = alice_with_recovery_codes(&w).await;
        let mut browser = password(&w, "alice").await;
        let wrong = browser.post("/mfa/signin/recovery-code", json!({ "code": WRONG_RECOVERY_CODE })).await;
        assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        browser.post("/mfa/signin/recovery-code", json!({ "code": codes[0] })).await
    }

    // POST /signin/temporary-access

    /// Well-formed, but not the code issued.
    const WRONG_TEMPORARY_CODE: &str = "AAAA-AAAA-AAAA-AAAA-AAAA";

    /// A temporary access code the administrator (Alice) issued for `name`.
    async fn issued(w: &World, name: &str) -> String {
        let issued = w.mfa.admin(&w.alice).issue_temporary_access(&user(name), None).await.unwrap();
        issued.code.expose().to_owned()
    }

    pub(super) async fn temporary_access_signs_in() -> Answer {
        let w = World::new().await;
        let code = issued(&w, "alice").await;
        let mut browser = password(&w, "alice").await;
        let before = browser.session_id();
        let answer = browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await;
        assert_eq!(answer.body["complete"], true);
        assert_eq!(answer.body["next"], "/account");
        assert!(answer.body["recovery_codes_remaining"].is_null());
        assert!(answer.body["csrf_token"].is_string());
        assert_ne!(browser.session_id(), before, "the session id changes with the verification");
        assert_ok(&browser.get("/mfa/factors").await, StatusCode::OK);
        answer
    }

    pub(super) async fn temporary_access_wrong() -> Answer {
        let w = World::new().await;
        issued(&w, "alice").await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/temporary-access", json!({ "code": WRONG_TEMPORARY_CODE })).await
    }

    pub(super) async fn temporary_access_malformed() -> Answer {
        let w = World::new().await;
        issued(&w, "alice").await;
        let mut browser = password(&w, "alice").await;
        browser.post("/mfa/signin/temporary-access", json!({ "code": "ABCD" })).await
    }

    pub(super) async fn temporary_access_after_too_many_wrong_ones() -> Answer {
        let w = World::new().await;
        let code = issued(&w, "alice").await;
        let mut browser = password(&w, "alice").await;
        for _ in 0..5 {
            let wrong = browser.post("/mfa/signin/temporary-access", json!({ "code": WRONG_TEMPORARY_CODE })).await;
            assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        }
        browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await
    }

    pub(super) async fn temporary_access_after_the_hard_stop() -> Answer {
        let w = World::with(hard_stop()).await;
        let code = issued(&w, "alice").await;
        let mut browser = password(&w, "alice").await;
        let wrong = browser.post("/mfa/signin/temporary-access", json!({ "code": WRONG_TEMPORARY_CODE })).await;
        assert_refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
        browser.post("/mfa/signin/temporary-access", json!({ "code": code })).await
    }

    // POST /signin/step-up

    pub(super) async fn step_up_challenges_for_the_refused_action() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/pay", json!({ "amount": "10" })).await;
        w.clock.advance(Duration::from_secs(30));
        let answer = browser.post("/mfa/signin/step-up", json!({})).await;
        assert_eq!(answer.body["factor"]["kind"], "totp");
        let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": w.code() })).await;
        assert_ok(&done, StatusCode::OK);
        assert_ok(&browser.post("/pay", json!({ "amount": "10" })).await, StatusCode::OK);
        answer
    }

    pub(super) async fn step_up_of_another_users_factor() -> Answer {
        let w = World::new().await;
        let carols = carol_with_sms(&w).await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/signin/step-up", json!({ "factor": carols })).await
    }

    pub(super) async fn step_up_past_the_limit_of_open_challenges() -> Answer {
        let w = World::with(with_settings(|s| s.limits.challenges = WindowCap::new(Duration::from_secs(300), 1))).await;
        let mut browser = signed_in(&w).await; // its challenge used the limit
        browser.post("/mfa/signin/step-up", json!({})).await
    }

    pub(super) async fn step_up_sent_again_too_soon() -> Answer {
        let w = World::new().await;
        let mut browser = carol_challenged(&w).await;
        let code = w.outbox.last_code_to(CAROL_PHONE).unwrap();
        let done = browser.post("/mfa/signin/challenge/finish", json!({ "code": code })).await;
        assert_ok(&done, StatusCode::OK);
        browser.csrf = Some(text(&done.body["csrf_token"]));
        browser.post("/mfa/signin/step-up", json!({})).await
    }

    // POST /signin/passwordless/start

    pub(super) async fn passwordless_start_gives_request_options() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = anonymous(&w).await;
        let answer = browser.post("/mfa/signin/passwordless/start", json!({})).await;
        assert_eq!(answer.body["prompt"]["type"], "credential_request");
        assert!(answer.body["prompt"]["options"]["publicKey"].is_object());
        assert_eq!(answer.body["prompt"]["options"].get("mediation"), None, "for the browser's dialog");
        assert!(answer.body["expires_at"].is_i64());
        answer
    }

    pub(super) async fn passwordless_start_for_autofill_says_conditional() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = anonymous(&w).await;
        let answer = browser.post("/mfa/signin/passwordless/start", json!({ "mediation": "conditional" })).await;
        assert_eq!(answer.body["prompt"]["options"]["mediation"], "conditional");
        assert!(answer.body["prompt"]["options"]["publicKey"].is_object());
        answer
    }

    pub(super) async fn passwordless_start_with_an_unknown_mediation() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = anonymous(&w).await;
        let answer = browser.post("/mfa/signin/passwordless/start", json!({ "mediation": "silent" })).await;
        let finish = browser.post("/mfa/signin/passwordless/finish", json!({ "credential": {} })).await;
        assert_eq!(finish.code(), "no_challenge", "nothing was started");
        answer
    }

    pub(super) async fn passwordless_start_without_a_passkey_adapter() -> Answer {
        let w = World::new().await;
        let mut browser = anonymous(&w).await;
        browser.post("/mfa/signin/passwordless/start", json!({})).await
    }

    pub(super) async fn passwordless_start_past_the_deployment_limit() -> Answer {
        let mut setup = with_passkeys();
        setup.settings.limits.passwordless = WindowCap::new(Duration::from_secs(300), 1);
        let w = World::with(setup).await;
        let mut browser = anonymous(&w).await;
        assert_ok(&browser.post("/mfa/signin/passwordless/start", json!({})).await, StatusCode::OK);
        browser.post("/mfa/signin/passwordless/start", json!({})).await
    }

    // POST /signin/passwordless/finish

    async fn passwordless_started(w: &World) -> Browser {
        let mut browser = anonymous(w).await;
        assert_ok(&browser.post("/mfa/signin/passwordless/start", json!({})).await, StatusCode::OK);
        browser
    }

    pub(super) async fn passwordless_finish_signs_in() -> Answer {
        let w = World::with(with_passkeys()).await;
        passkey(&w, "alice", "key-1").await;
        let mut browser = passwordless_started(&w).await;
        let answer = browser
            .post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "key-1", "sig": "ok" } }))
            .await;
        assert_eq!(answer.body["complete"], true);
        assert_eq!(answer.body["next"], "/account");
        browser.csrf = Some(text(&answer.body["csrf_token"]));
        assert_eq!(browser.get("/account").await.status, StatusCode::OK, "signed in as Alice");
        let again = browser.post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "key-1" } })).await;
        assert_refused(&again, StatusCode::CONFLICT, "no_challenge");
        answer
    }

    pub(super) async fn passwordless_finish_with_an_unknown_key() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = passwordless_started(&w).await;
        browser.post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "nobody", "sig": "ok" } })).await
    }

    pub(super) async fn passwordless_finish_naming_no_key() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = passwordless_started(&w).await;
        let answer = browser.post("/mfa/signin/passwordless/finish", json!({ "credential": { "sig": "ok" } })).await;
        assert_eq!(answer.body["field"], "credential");
        answer
    }

    pub(super) async fn passwordless_finish_after_the_ceremony_expired() -> Answer {
        let w = World::with(with_passkeys()).await;
        passkey(&w, "alice", "key-1").await;
        let mut browser = passwordless_started(&w).await;
        w.clock.advance(w.mfa.settings().challenge_ttl + Duration::from_secs(1));
        browser.post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "key-1", "sig": "ok" } })).await
    }

    pub(super) async fn passwordless_finish_for_a_disabled_account() -> Answer {
        let w = World::with(with_passkeys()).await;
        passkey(&w, "mallory", "key-m").await;
        let mut browser = passwordless_started(&w).await;
        let answer = browser
            .post("/mfa/signin/passwordless/finish", json!({ "credential": { "id": "key-m", "sig": "ok" } }))
            .await;
        assert_eq!(browser.get("/account").await.code(), "unauthenticated", "not signed in");
        answer
    }

    // GET /factors

    pub(super) async fn factors_are_listed() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/factors").await;
        let factor = &answer.body[0];
        assert_eq!(answer.body.as_array().unwrap().len(), 1);
        assert_eq!((factor["kind"].as_str(), factor["status"].as_str()), (Some("totp"), Some("active")));
        assert_eq!(factor["assurance"], "replay_resistant_otp");
        assert!(factor["id"].is_string() && factor["label"].is_string() && factor["preferred"].is_boolean());
        assert!(factor["created_at"].is_i64() && factor["details"].is_array());
        answer
    }

    pub(super) async fn factors_when_the_store_fails() -> Answer {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        let w = World::with(Setup { store: store.clone(), ..Setup::default() }).await;
        let mut browser = signed_in(&w).await;
        store.fail_call(1);
        browser.get("/mfa/factors").await
    }

    // POST /factors

    pub(super) async fn add_factor_starts_an_app() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "Work phone" })).await;
        assert_eq!(answer.body["factor"]["status"], "pending");
        assert_eq!(answer.body["factor"]["label"], "Work phone");
        assert_eq!(answer.body["prompt"]["type"], "shared_secret");
        assert!(answer.body["prompt"]["uri"].as_str().unwrap().starts_with("otpauth://"));
        assert!(answer.body["expires_at"].is_i64());
        answer
    }

    pub(super) async fn add_factor_sends_an_sms_code() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "carol").await;
        let answer = browser.post("/mfa/factors", json!({ "kind": "sms" })).await;
        assert_eq!(answer.body["prompt"]["type"], "code_sent");
        assert!(w.outbox.last_code_to(CAROL_PHONE).is_some());
        answer
    }

    pub(super) async fn add_factor_after_the_window() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        browser.post("/mfa/factors", json!({ "kind": "totp" })).await
    }

    pub(super) async fn add_factor_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = alice_reauthenticated_only(&w).await;
        browser.post("/mfa/factors", json!({ "kind": "totp" })).await
    }

    pub(super) async fn add_factor_of_an_unconfigured_kind() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/factors", json!({ "kind": "email", "destination": "alice@example.com" })).await
    }

    pub(super) async fn add_factor_with_a_bad_number() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/factors", json!({ "kind": "sms", "destination": "call me" })).await;
        assert_eq!(answer.body["field"], "destination");
        assert!(w.outbox.messages().is_empty());
        answer
    }

    pub(super) async fn add_factor_with_an_unknown_field() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/factors", json!({ "kind": "totp", "admin": true })).await;
        assert_eq!(answer.body["field"], "body");
        answer
    }

    pub(super) async fn add_factor_past_the_pending_limit() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "bob").await;
        for _ in 0..w.mfa.settings().limits.pending_enrolments {
            assert_ok(&browser.post("/mfa/factors", json!({ "kind": "totp" })).await, StatusCode::CREATED);
        }
        browser.post("/mfa/factors", json!({ "kind": "totp" })).await
    }

    pub(super) async fn add_factor_replacing_an_unknown_one() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/factors", json!({ "kind": "totp", "replaces": random_factor() })).await
    }

    pub(super) async fn add_factor_sending_again_too_soon() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "carol").await;
        assert_ok(&browser.post("/mfa/factors", json!({ "kind": "sms" })).await, StatusCode::CREATED);
        browser.post("/mfa/factors", json!({ "kind": "sms" })).await
    }

    pub(super) async fn add_factor_past_the_users_sending_cap() -> Answer {
        let w = World::with(one_message_per_user()).await;
        let mut browser = password(&w, "carol").await;
        assert_ok(&browser.post("/mfa/factors", json!({ "kind": "sms" })).await, StatusCode::CREATED);
        browser.post("/mfa/factors", json!({ "kind": "sms", "destination": "+14155550100" })).await
    }

    pub(super) async fn add_factor_whose_code_cannot_be_sent() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "carol").await;
        w.outbox.set_failing(true);
        let answer = browser.post("/mfa/factors", json!({ "kind": "sms" })).await;
        assert!(w.mfa.list_factors(&user("carol")).await.unwrap().is_empty(), "nothing pending");
        answer
    }

    // GET /session, POST /session/passkey-offer/dismiss

    pub(super) async fn session_says_how_the_sign_in_was_made() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/session").await;
        assert_eq!(answer.body["user"], "alice");
        assert_eq!(answer.body["complete"], true);
        assert_eq!(answer.body["first_step"], "password");
        assert_eq!(answer.body["second_step"], "totp");
        assert_eq!(answer.body["assurance"], "replay_resistant_otp");
        assert_eq!(answer.body["remembered_device"], false);
        assert_eq!(answer.body["offer_passkey"], true);
        answer
    }

    pub(super) async fn session_waiting_for_its_second_step() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = password(&w, "alice").await;
        let answer = browser.get("/mfa/session").await;
        assert_eq!(answer.body["complete"], false);
        assert_eq!(answer.body["second_step"], Value::Null);
        assert_eq!(answer.body["assurance"], Value::Null);
        assert_eq!(answer.body["offer_passkey"], false);
        answer
    }

    pub(super) async fn session_when_the_store_fails() -> Answer {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        let w = World::with(Setup { store: store.clone(), ..Setup::default() }).await;
        let mut browser = signed_in(&w).await;
        store.fail_call(1);
        browser.get("/mfa/session").await
    }

    pub(super) async fn passkey_offer_is_dismissed() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/session/passkey-offer/dismiss", json!({})).await;
        assert_eq!(browser.get("/mfa/session").await.body["offer_passkey"], false);
        answer
    }

    // POST /factors/{id}/finish

    pub(super) async fn finish_factor_activates_it() -> Answer {
        let w = World::new().await;
        let (mut browser, id, key) = bob_enrolling(&w).await;
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        let answer = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await;
        assert_eq!((answer.body["id"].as_str(), answer.body["status"].as_str()), (Some(id.as_str()), Some("active")));
        assert_eq!(answer.body["kind"], "totp");
        answer
    }

    pub(super) async fn finish_factor_with_a_passkey() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = password(&w, "bob").await;
        let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
        assert_ok(&start, StatusCode::CREATED);
        assert_eq!(start.body["prompt"]["type"], "credential_creation");
        let id = text(&start.body["factor"]["id"]);
        let credential = json!({ "id": "key-b", "sig": "ok" });
        let answer = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "credential": credential })).await;
        assert_eq!((answer.body["kind"].as_str(), answer.body["status"].as_str()), (Some("passkey"), Some("active")));
        assert_eq!(answer.body["assurance"], "phishing_resistant_multi_factor");
        answer
    }

    pub(super) async fn finish_factor_refused_by_the_authenticator_policy() -> Answer {
        let w = World::with(with_passkeys()).await;
        let mut browser = password(&w, "bob").await;
        let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
        let id = text(&start.body["factor"]["id"]);
        let credential = json!({ "id": "key-b", "sig": "refused" });
        let answer = browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "credential": credential })).await;
        assert!(w.mfa.list_factors(&user("bob")).await.unwrap().iter().all(|f| f.status.as_str() != "active"));
        answer
    }

    pub(super) async fn finish_factor_with_a_wrong_code() -> Answer {
        let w = World::new().await;
        let (mut browser, id, _) = bob_enrolling(&w).await;
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": "000000" })).await
    }

    pub(super) async fn finish_factor_after_it_expired() -> Answer {
        let w = World::new().await;
        let (mut browser, id, key) = bob_enrolling(&w).await;
        w.clock.advance(w.mfa.settings().enrolment_ttl + Duration::from_secs(1));
        assert_ok(&browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await, StatusCode::NO_CONTENT);
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await
    }

    pub(super) async fn finish_factor_after_too_many_wrong_codes() -> Answer {
        let w = World::new().await;
        let (mut browser, id, key) = bob_enrolling(&w).await;
        let path = format!("/mfa/factors/{id}/finish");
        for _ in 0..5 {
            assert_refused(
                &browser.post(&path, json!({ "code": "000000" })).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "code_invalid",
            );
        }
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        browser.post(&path, json!({ "code": code })).await
    }

    pub(super) async fn finish_factor_after_the_window() -> Answer {
        let w = World::new().await;
        let (mut browser, id, key) = bob_enrolling(&w).await;
        w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await
    }

    pub(super) async fn finish_factor_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let start = browser.post("/mfa/factors", json!({ "kind": "totp" })).await;
        let id = text(&start.body["factor"]["id"]);
        w.clock.advance(w.mfa.settings().reauth_window + Duration::from_secs(1));
        assert_ok(&browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await, StatusCode::NO_CONTENT);
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": "123456" })).await
    }

    pub(super) async fn finish_factor_unknown() -> Answer {
        let w = World::new().await;
        let (mut browser, _, _) = bob_enrolling(&w).await;
        browser.post(&format!("/mfa/factors/{}/finish", random_factor()), json!({ "code": "123456" })).await
    }

    pub(super) async fn finish_factor_of_another_user() -> Answer {
        let w = World::new().await;
        let (_, bobs, key) = bob_enrolling(&w).await;
        let mut browser = signed_in(&w).await;
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        let answer = browser.post(&format!("/mfa/factors/{bobs}/finish"), json!({ "code": code })).await;
        let status = w.mfa.list_factors(&user("bob")).await.unwrap()[0].status;
        assert_eq!(status.as_str(), "pending", "Bob's factor is untouched");
        answer
    }

    pub(super) async fn finish_factor_with_another_users_key() -> Answer {
        let w = World::with(with_passkeys()).await;
        passkey(&w, "alice", "key-1").await;
        let mut browser = password(&w, "bob").await;
        let start = browser.post("/mfa/factors", json!({ "kind": "passkey" })).await;
        let id = text(&start.body["factor"]["id"]);
        let credential = json!({ "id": "key-1", "sig": "ok" });
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "credential": credential })).await
    }

    pub(super) async fn finish_factor_with_neither_code_nor_credential() -> Answer {
        let w = World::new().await;
        let (mut browser, id, _) = bob_enrolling(&w).await;
        browser.post(&format!("/mfa/factors/{id}/finish"), json!({})).await
    }

    // POST /factors/{id}/resend

    /// Carol (no factor yet) with a pending SMS factor to her profile number.
    async fn carol_enrolling_sms(w: &World) -> (Browser, String) {
        let mut browser = password(w, "carol").await;
        let start = browser.post("/mfa/factors", json!({ "kind": "sms" })).await;
        assert_ok(&start, StatusCode::CREATED);
        (browser, text(&start.body["factor"]["id"]))
    }

    pub(super) async fn resend_factor_sends_a_new_code() -> Answer {
        let w = World::new().await;
        let (mut browser, id) = carol_enrolling_sms(&w).await;
        let first = w.outbox.last_code_to(CAROL_PHONE).unwrap();
        w.clock.advance(Duration::from_secs(31));
        let answer = browser.post(&format!("/mfa/factors/{id}/resend"), json!({})).await;
        assert_eq!(answer.body["factor"]["id"], id.as_str());
        assert_eq!(answer.body["prompt"]["type"], "code_sent");
        assert_ne!(w.outbox.last_code_to(CAROL_PHONE).unwrap(), first);
        answer
    }

    pub(super) async fn resend_factor_too_soon() -> Answer {
        let w = World::new().await;
        let (mut browser, id) = carol_enrolling_sms(&w).await;
        browser.post(&format!("/mfa/factors/{id}/resend"), json!({})).await
    }

    pub(super) async fn resend_factor_of_an_app() -> Answer {
        let w = World::new().await;
        let (mut browser, id, _) = bob_enrolling(&w).await;
        browser.post(&format!("/mfa/factors/{id}/resend"), json!({})).await
    }

    pub(super) async fn resend_factor_after_it_expired() -> Answer {
        let w = World::new().await;
        let (mut browser, id) = carol_enrolling_sms(&w).await;
        w.clock.advance(w.mfa.settings().enrolment_ttl + Duration::from_secs(1));
        browser.post(&format!("/mfa/factors/{id}/resend"), json!({})).await
    }

    pub(super) async fn resend_factor_unknown() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post(&format!("/mfa/factors/{}/resend", random_factor()), json!({})).await
    }

    pub(super) async fn resend_factor_of_another_user() -> Answer {
        let w = World::new().await;
        let (_, carols) = carol_enrolling_sms(&w).await;
        w.clock.advance(Duration::from_secs(31));
        let sent = w.outbox.messages().len();
        let mut browser = signed_in(&w).await;
        let answer = browser.post(&format!("/mfa/factors/{carols}/resend"), json!({})).await;
        assert_eq!(w.outbox.messages().len(), sent, "nothing sent");
        answer
    }

    pub(super) async fn resend_factor_past_the_users_sending_cap() -> Answer {
        let w = World::with(one_message_per_user()).await;
        let (mut browser, id) = carol_enrolling_sms(&w).await;
        w.clock.advance(Duration::from_secs(31));
        browser.post(&format!("/mfa/factors/{id}/resend"), json!({})).await
    }

    // PATCH /factors/{id}

    pub(super) async fn rename_factor() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let id = alice_totp(&w).await;
        let answer = browser.send(Method::PATCH, &format!("/mfa/factors/{id}"), Some(json!({ "label": "Work" }))).await;
        assert_eq!((answer.body["id"].as_str(), answer.body["label"].as_str()), (Some(id.as_str()), Some("Work")));
        answer
    }

    pub(super) async fn rename_factor_unknown() -> Answer {
        let w = World::new().await;
        let carols = carol_with_sms(&w).await;
        let mut browser = signed_in(&w).await;
        let answer =
            browser.send(Method::PATCH, &format!("/mfa/factors/{carols}"), Some(json!({ "label": "Mine" }))).await;
        let label = &w.mfa.list_factors(&user("carol")).await.unwrap()[0].label;
        assert_ne!(label, "Mine", "Carol's factor is untouched");
        answer
    }

    pub(super) async fn rename_factor_to_nothing() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let id = alice_totp(&w).await;
        let answer = browser.send(Method::PATCH, &format!("/mfa/factors/{id}"), Some(json!({ "label": "" }))).await;
        assert_eq!(answer.body["field"], "label");
        answer
    }

    // POST /factors/{id}/preferred

    pub(super) async fn prefer_factor() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let start = browser.post("/mfa/factors", json!({ "kind": "totp", "label": "Second" })).await;
        let key = data_encoding::BASE32_NOPAD.decode(text(&start.body["prompt"]["secret_base32"]).as_bytes()).unwrap();
        let id = text(&start.body["factor"]["id"]);
        let code = w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap();
        assert_ok(&browser.post(&format!("/mfa/factors/{id}/finish"), json!({ "code": code })).await, StatusCode::OK);
        let answer = browser.post(&format!("/mfa/factors/{id}/preferred"), json!({})).await;
        let factors = browser.get("/mfa/factors").await.body;
        let preferred: Vec<_> = factors.as_array().unwrap().iter().filter(|f| f["preferred"] == true).collect();
        assert_eq!((preferred.len(), preferred[0]["id"].as_str()), (1, Some(id.as_str())));
        answer
    }

    pub(super) async fn prefer_factor_unknown() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post(&format!("/mfa/factors/{}/preferred", random_factor()), json!({})).await
    }

    pub(super) async fn prefer_factor_after_the_window() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        browser.post(&format!("/mfa/factors/{}/preferred", alice_totp(&w).await), json!({})).await
    }

    pub(super) async fn prefer_factor_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = alice_reauthenticated_only(&w).await;
        browser.post(&format!("/mfa/factors/{}/preferred", alice_totp(&w).await), json!({})).await
    }

    // DELETE /factors/{id}

    pub(super) async fn remove_factor() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.send(Method::DELETE, &format!("/mfa/factors/{}", alice_totp(&w).await), None).await;
        assert!(w.mfa.list_factors(&w.alice).await.unwrap().is_empty());
        answer
    }

    pub(super) async fn remove_factor_unknown() -> Answer {
        let w = World::new().await;
        let carols = carol_with_sms(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.send(Method::DELETE, &format!("/mfa/factors/{carols}"), None).await;
        assert_eq!(w.mfa.list_factors(&user("carol")).await.unwrap().len(), 1, "Carol's factor is untouched");
        answer
    }

    pub(super) async fn remove_factor_with_a_malformed_id() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.send(Method::DELETE, "/mfa/factors/not-an-id", None).await
    }

    pub(super) async fn remove_factor_after_the_window() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        browser.send(Method::DELETE, &format!("/mfa/factors/{}", alice_totp(&w).await), None).await
    }

    pub(super) async fn remove_factor_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = alice_reauthenticated_only(&w).await;
        let answer = browser.send(Method::DELETE, &format!("/mfa/factors/{}", alice_totp(&w).await), None).await;
        assert_eq!(w.mfa.list_factors(&w.alice).await.unwrap().len(), 1, "still there");
        answer
    }

    // GET /recovery-codes

    pub(super) async fn recovery_codes_are_counted() -> Answer {
        let w = World::new().await;
        let codes = alice_with_recovery_codes(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/recovery-codes").await;
        assert_eq!(answer.body, json!({ "remaining": codes.len() }));
        answer
    }

    pub(super) async fn recovery_codes_counted_when_the_store_fails() -> Answer {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        let w = World::with(Setup { store: store.clone(), ..Setup::default() }).await;
        let mut browser = signed_in(&w).await;
        store.fail_call(2); // past the sign-in check: the count itself
        let answer = browser.get("/mfa/recovery-codes").await;
        assert_eq!(store.calls().last(), Some(&"count_recovery_codes"));
        answer
    }

    // POST /recovery-codes

    pub(super) async fn recovery_codes_are_generated_once() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/recovery-codes", json!({})).await;
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        let codes = answer.body["codes"].as_array().unwrap();
        assert_eq!(codes.len(), w.mfa.settings().recovery_codes.count);
        assert!(codes.iter().all(Value::is_string));
        answer
    }

    pub(super) async fn recovery_codes_generated_twice() -> Answer {
        let w = World::new().await;
        alice_with_recovery_codes(&w).await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/recovery-codes", json!({})).await
    }

    pub(super) async fn recovery_codes_without_a_factor() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "bob").await;
        browser.post("/mfa/recovery-codes", json!({})).await
    }

    pub(super) async fn recovery_codes_after_the_window() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        browser.post("/mfa/recovery-codes", json!({})).await
    }

    pub(super) async fn recovery_codes_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = alice_reauthenticated_only(&w).await;
        browser.post("/mfa/recovery-codes", json!({})).await
    }

    // POST /recovery-codes/regenerate

    pub(super) async fn recovery_codes_are_regenerated() -> Answer {
        let w = World::new().await;
        let old = alice_with_recovery_codes(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/recovery-codes/regenerate", json!({})).await;
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        let new: Vec<String> = answer.body["codes"].as_array().unwrap().iter().map(text).collect();
        assert_eq!(new.len(), old.len());
        assert!(new.iter().all(|c| !old.contains(c)));
        answer
    }

    pub(super) async fn regenerate_without_a_factor() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "bob").await;
        browser.post("/mfa/recovery-codes/regenerate", json!({})).await
    }

    pub(super) async fn regenerate_after_the_window() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        browser.post("/mfa/recovery-codes/regenerate", json!({})).await
    }

    pub(super) async fn regenerate_with_only_the_password_again() -> Answer {
        let w = World::new().await;
        let mut browser = alice_reauthenticated_only(&w).await;
        browser.post("/mfa/recovery-codes/regenerate", json!({})).await
    }

    // Devices

    pub(super) async fn devices_are_listed() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in_remembering(&w, true).await;
        let answer = browser.get("/mfa/devices").await;
        let device = &answer.body[0];
        assert_eq!(answer.body.as_array().unwrap().len(), 1);
        assert_eq!(device["label"], "Chrome on Linux");
        assert!(device["id"].is_string() && device["created_at"].is_i64() && device["expires_at"].is_i64());
        answer
    }

    pub(super) async fn devices_are_all_forgotten() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in_remembering(&w, true).await;
        let answer = browser.send(Method::DELETE, "/mfa/devices", None).await;
        assert_eq!(answer.body, json!({ "revoked": 1 }));
        assert!(w.mfa.list_devices(&w.alice).await.unwrap().is_empty());
        answer
    }

    pub(super) async fn device_is_forgotten() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in_remembering(&w, true).await;
        let id = w.mfa.list_devices(&w.alice).await.unwrap()[0].id.to_string();
        let answer = browser.send(Method::DELETE, &format!("/mfa/devices/{id}"), None).await;
        assert!(w.mfa.list_devices(&w.alice).await.unwrap().is_empty());
        answer
    }

    pub(super) async fn device_unknown() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.send(Method::DELETE, &format!("/mfa/devices/{}", DeviceId::random().unwrap()), None).await
    }

    pub(super) async fn device_of_another_user() -> Answer {
        let w = World::new().await;
        carol_with_sms(&w).await;
        let mut carol = password(&w, "carol").await;
        carol.post("/mfa/signin/challenge", json!({})).await;
        let code = w.outbox.last_code_to(CAROL_PHONE).unwrap();
        let done = carol.post("/mfa/signin/challenge/finish", json!({ "code": code, "remember_device": true })).await;
        assert_ok(&done, StatusCode::OK);
        let carols = w.mfa.list_devices(&user("carol")).await.unwrap()[0].id;
        let mut browser = signed_in(&w).await;
        let answer = browser.send(Method::DELETE, &format!("/mfa/devices/{carols}"), None).await;
        assert_eq!(w.mfa.list_devices(&user("carol")).await.unwrap().len(), 1, "Carol's device is untouched");
        answer
    }

    pub(super) async fn device_with_a_malformed_id() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.send(Method::DELETE, "/mfa/devices/not-an-id", None).await
    }

    // POST /reauth

    pub(super) async fn reauth_with_the_password() -> Answer {
        let w = World::new().await;
        let mut browser = alice_stale(&w).await;
        let before = browser.session_id();
        let answer = browser.post("/mfa/reauth", json!({ "password": "correct horse" })).await;
        assert_ne!(browser.session_id(), before, "the session id changes with the assurance");
        answer
    }

    pub(super) async fn reauth_with_a_wrong_password() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/reauth", json!({ "password": "wrong" })).await
    }

    pub(super) async fn reauth_guessing_ends_the_session() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        for _ in 0..4 {
            let wrong = browser.post("/mfa/reauth", json!({ "password": "guess" })).await;
            assert_refused(&wrong, StatusCode::UNAUTHORIZED, "password_invalid");
        }
        let answer = browser.post("/mfa/reauth", json!({ "password": "guess" })).await;
        assert_eq!(browser.get("/mfa/factors").await.code(), "unauthenticated", "signed out");
        answer
    }

    pub(super) async fn reauth_with_a_missing_password() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/reauth", json!({})).await
    }

    // The help desk: Alice is the administrator; Bob, signed in with his password and an
    // authenticator app (as an administrator must be), is not.

    async fn not_an_administrator(w: &World) -> Browser {
        let key = w.enrol_app("bob").await;
        let mut browser = w.browser();
        browser.sign_in_with_code("bob", &w.code_of(&key)).await;
        browser
    }

    /// Gives Bob an authenticator app and locks it with five wrong codes.
    async fn bob_locked(w: &World) -> FactorId {
        let bob = user("bob");
        let start = w.mfa.start_enrolment(&bob, &fresh(w), EnrolmentRequest::new(FactorKind::TOTP)).await.unwrap();
        let Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        let code = Proof::code(&w.totp.code_at(&key, w.clock.now().unix_secs() as u64).unwrap()).unwrap();
        w.mfa.finish_enrolment(&bob, &fresh(w), &start.factor.id, &code).await.unwrap();
        for _ in 0..5 {
            let challenge = w.mfa.start_challenge(&bob, None).await.unwrap();
            let wrong = w.mfa.finish_challenge(&bob, &challenge.id, &Proof::code("000000").unwrap()).await;
            assert!(matches!(wrong, Err(Error::InvalidCode)), "{wrong:?}");
        }
        assert!(matches!(w.mfa.start_challenge(&bob, None).await, Err(Error::Locked { .. })));
        start.factor.id
    }

    // GET /admin/users

    pub(super) async fn admin_finds_a_user() -> Answer {
        let w = World::new().await;
        carol_with_sms(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/admin/users?query=carol").await;
        let found = answer.body.as_array().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["user"], "carol");
        assert_eq!(found[0]["has_active_factor"], true);
        assert_eq!(found[0]["factors"][0]["factor"]["kind"], "sms");
        assert_eq!(found[0]["factors"][0]["failures"], 0);
        answer
    }

    pub(super) async fn admin_find_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        browser.get("/mfa/admin/users?query=alice").await
    }

    pub(super) async fn admin_find_with_an_empty_query() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let missing = browser.get("/mfa/admin/users").await;
        assert_refused(&missing, StatusCode::BAD_REQUEST, "invalid_input");
        let answer = browser.get("/mfa/admin/users?query=%20").await;
        assert_eq!(answer.body["field"], "query");
        answer
    }

    // GET /admin/users/{user}

    pub(super) async fn admin_reads_a_status() -> Answer {
        let w = World::new().await;
        bob_locked(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/admin/users/bob").await;
        assert_eq!(answer.body["user"], "bob");
        let factor = &answer.body["factors"][0];
        assert_eq!(
            (factor["factor"]["kind"].as_str(), factor["factor"]["status"].as_str()),
            (Some("totp"), Some("active"))
        );
        assert_eq!(factor["failures"], 5);
        assert!(factor["locked_until"].as_i64().unwrap() > w.clock.now().unix_millis(), "{factor}");
        assert_eq!(factor["disabled"], false);
        assert_eq!(answer.body["recovery_codes_remaining"], 0);
        assert!(answer.body["temporary_access_expires_at"].is_null());
        answer
    }

    pub(super) async fn admin_status_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        browser.get("/mfa/admin/users/alice").await
    }

    pub(super) async fn admin_status_of_a_malformed_user() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.get("/mfa/admin/users/bo%07b").await
    }

    // POST /admin/users/{user}/reset

    pub(super) async fn admin_resets_a_user() -> Answer {
        let w = World::new().await;
        carol_with_sms(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.send(Method::POST, "/mfa/admin/users/carol/reset", None).await;
        assert_eq!(answer.body["factors"], 1);
        assert!(w.mfa.list_factors(&user("carol")).await.unwrap().is_empty(), "Carol's factor is gone");
        answer
    }

    pub(super) async fn admin_reset_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        let answer = browser.send(Method::POST, "/mfa/admin/users/alice/reset", None).await;
        assert_eq!(w.mfa.list_factors(&w.alice).await.unwrap().len(), 1, "nothing was removed");
        answer
    }

    // POST /admin/users/{user}/unlock

    pub(super) async fn admin_unlocks_a_factor() -> Answer {
        let w = World::new().await;
        let factor = bob_locked(&w).await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/admin/users/bob/unlock", json!({ "factor": factor })).await;
        assert_eq!(answer.body["cleared"], 1);
        assert!(w.mfa.start_challenge(&user("bob"), None).await.is_ok(), "the factor works again");
        let status = browser.get("/mfa/admin/users/bob").await;
        assert!(status.body["factors"][0]["locked_until"].is_null(), "{:?}", status.body);
        answer
    }

    pub(super) async fn admin_unlock_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        browser.post("/mfa/admin/users/alice/unlock", json!({})).await
    }

    pub(super) async fn admin_unlock_of_an_unknown_factor() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/admin/users/bob/unlock", json!({ "factor": random_factor() })).await
    }

    pub(super) async fn admin_unlock_of_an_unknown_scope() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/admin/users/bob/unlock", json!({ "scope": "everything" })).await;
        assert_eq!(answer.body["field"], "scope");
        answer
    }

    // POST, DELETE /admin/users/{user}/temporary-access

    pub(super) async fn admin_issues_a_temporary_access_code() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        let answer = browser.post("/mfa/admin/users/bob/temporary-access", json!({ "lifetime_secs": 600 })).await;
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        let code = text(&answer.body["temporary_access_code"]);
        assert_eq!(code.len(), 24, "{code}");
        assert_eq!(answer.body["expires_at"], w.clock.now().unix_millis() + 600_000);
        assert_eq!(answer.body["assurance"], "recovery_code");
        assert!(w.mfa.verify_temporary_access(&user("bob"), &code).await.is_ok(), "the code works");
        answer
    }

    pub(super) async fn admin_issue_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        let answer = browser.post("/mfa/admin/users/bob/temporary-access", json!({})).await;
        assert!(answer.body.get("temporary_access_code").is_none(), "{:?}", answer.body);
        answer
    }

    pub(super) async fn admin_issue_for_no_time_at_all() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/mfa/admin/users/bob/temporary-access", json!({ "lifetime_secs": 0 })).await
    }

    pub(super) async fn admin_revokes_a_temporary_access_code() -> Answer {
        let w = World::new().await;
        let code = issued(&w, "bob").await;
        let mut browser = signed_in(&w).await;
        let answer = browser.send(Method::DELETE, "/mfa/admin/users/bob/temporary-access", None).await;
        assert_eq!(answer.body["revoked"], true);
        let again = browser.send(Method::DELETE, "/mfa/admin/users/bob/temporary-access", None).await;
        assert_eq!(again.body["revoked"], false, "there is none left");
        assert!(matches!(w.mfa.verify_temporary_access(&user("bob"), &code).await, Err(Error::InvalidCode)));
        answer
    }

    pub(super) async fn admin_revoke_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let code = issued(&w, "carol").await;
        let mut browser = not_an_administrator(&w).await;
        let answer = browser.send(Method::DELETE, "/mfa/admin/users/carol/temporary-access", None).await;
        assert!(w.mfa.verify_temporary_access(&user("carol"), &code).await.is_ok(), "the code still works");
        answer
    }

    // GET /admin/coverage

    pub(super) async fn admin_reads_coverage() -> Answer {
        let w = World::new().await;
        carol_with_sms(&w).await;
        w.mfa.generate_recovery_codes(&w.alice, &fresh(&w)).await.unwrap();
        let mut browser = signed_in(&w).await;
        let answer = browser.get("/mfa/admin/coverage?few_codes=5").await;
        assert_eq!(answer.body["users_with_factor"], 2);
        assert_eq!(
            answer.body["users_by_kind"],
            json!([{ "kind": "sms", "users": 1 }, { "kind": "totp", "users": 1 }])
        );
        assert_eq!(answer.body["users_with_few_codes"], 1, "Carol has none; Alice has 10");
        assert_eq!(answer.body["few_codes"], 5);
        answer
    }

    pub(super) async fn admin_coverage_as_a_non_administrator() -> Answer {
        let w = World::new().await;
        let mut browser = not_an_administrator(&w).await;
        browser.get("/mfa/admin/coverage").await
    }

    pub(super) async fn admin_coverage_with_a_bad_threshold() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.get("/mfa/admin/coverage?few_codes=many").await
    }

    // The script and the document

    pub(super) async fn script_is_served() -> Answer {
        let w = World::new().await;
        let answer = w.browser().get("/mfa/mfa.js").await;
        assert!(answer.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
        assert!(answer.body.as_str().unwrap().contains("export function createClient"));
        answer
    }

    pub(super) async fn document_is_served() -> Answer {
        let w = World::new().await;
        let answer = w.browser().get("/mfa/openapi.json").await;
        assert_eq!(answer.body["paths"], serde_json::to_value(mfa_axum::openapi("")).unwrap()["paths"]);
        answer
    }

    // The host's routes

    pub(super) async fn guard_asks_a_user_without_a_factor_to_add_one() -> Answer {
        let w = World::with(Setup { guard: AccessPolicy::new(Requirement::Required), ..Setup::default() }).await;
        let mut browser = password(&w, "bob").await;
        let answer = browser.get("/account").await;
        assert_ok(&browser.get("/mfa/factors").await, StatusCode::OK);
        answer
    }

    pub(super) async fn guard_asks_for_the_second_step() -> Answer {
        let w = World::new().await;
        let mut browser = password(&w, "alice").await;
        let answer = browser.get("/account").await;
        assert_eq!(answer.body["candidates"][0]["kind"], "totp");
        answer
    }

    pub(super) async fn step_up_is_asked_for_a_payment() -> Answer {
        let w = World::new().await;
        let mut browser = signed_in(&w).await;
        browser.post("/pay", json!({ "amount": "10" })).await
    }
}

/// The crate documents `step_up_required` as "with `candidates`" (the refusal table in
/// the crate docs) and [`ApiError::VerificationRequired`] as "the body names the factors
/// that would do"; the guard's refusal does, but the one a handler gets from
/// `MfaSession::require_step_up` is a plain error body.
#[tokio::test]
async fn a_step_up_refused_in_a_handler_names_the_factors_that_would_do() {
    let w = World::new().await;
    let mut browser = signed_in(&w).await;
    let answer = browser.post("/pay", json!({ "amount": "10" })).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(answer.body["candidates"][0]["kind"], "totp", "{:?}", answer.body);
}

/// A session store that is down.
#[derive(Debug, Clone)]
struct DownSessions;

#[async_trait]
impl tower_sessions::SessionStore for DownSessions {
    async fn save(&self, _record: &tower_sessions::session::Record) -> tower_sessions::session_store::Result<()> {
        Err(tower_sessions::session_store::Error::Backend("down".into()))
    }

    async fn load(
        &self,
        _id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        Err(tower_sessions::session_store::Error::Backend("down".into()))
    }

    async fn delete(&self, _id: &tower_sessions::session::Id) -> tower_sessions::session_store::Result<()> {
        Err(tower_sessions::session_store::Error::Backend("down".into()))
    }
}

// ---------------------------------------------------------------------------------------
// Coverage
// ---------------------------------------------------------------------------------------

/// Codes no request can produce through the router and the guard, with the reason.
const UNREACHABLE_OVER_HTTP: &[(&str, &str)] = &[];

/// Codes an endpoint's OpenAPI description names that no case here produces, with the
/// reason.
const DOCUMENTED_BUT_NOT_PRODUCED: &[(&str, &str, &str, &str)] = &[];

/// The codes the table-driven tests above produce for every row.
fn codes_of_the_row_tests() -> BTreeMap<(&'static str, &'static str), BTreeSet<&'static str>> {
    let mut codes: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
    for e in ENDPOINTS {
        let produced = codes.entry((e.method, e.path)).or_default();
        if e.changes {
            produced.insert("csrf_refused");
        }
        produced.extend(e.needs.without_sign_in().map(|(_, code)| code));
        produced.extend(e.needs.with_password_only().map(|(_, code)| code));
        produced.extend(e.needs.without_a_factor().map(|(_, code)| code));
    }
    codes
}

/// Every (endpoint, code) the file produces.
fn produced() -> BTreeMap<(&'static str, &'static str), BTreeSet<&'static str>> {
    let mut codes = codes_of_the_row_tests();
    for case in CASES.iter().filter(|c| !c.code.is_empty()) {
        codes.entry((case.method, case.path)).or_default().insert(case.code);
    }
    codes
}

#[test]
fn every_row_has_a_success_case_and_every_case_names_a_row() {
    for endpoint in ENDPOINTS {
        let success = CASES.iter().any(|c| (c.method, c.path) == (endpoint.method, endpoint.path) && c.code.is_empty());
        assert!(success, "no success case for {} {}", endpoint.method, endpoint.path);
    }
    for case in CASES {
        let success = (200..300).contains(&case.status);
        assert_eq!(success, case.code.is_empty(), "{case:?}: successes are 2xx, refusals have a code");
        let known = ENDPOINTS.iter().any(|e| (e.method, e.path) == (case.method, case.path))
            || HOST_ROUTES.contains(&(case.method, case.path));
        assert!(known, "{case:?} names no row");
    }
}

#[test]
fn every_code_the_layer_can_answer_is_produced_by_a_request_in_this_file() {
    let produced: BTreeSet<&str> = produced().into_values().flatten().collect();
    let unreachable: BTreeSet<&str> = UNREACHABLE_OVER_HTTP.iter().map(|(code, _)| *code).collect();
    for code in ApiError::codes() {
        assert!(
            produced.contains(code) ^ unreachable.contains(code),
            "{code}: produce it with a case, or list it (only) in UNREACHABLE_OVER_HTTP with the reason"
        );
    }
    let known: BTreeSet<&str> = ApiError::codes().collect();
    assert!(produced.is_subset(&known), "{:?}", produced.difference(&known));
}

#[test]
fn every_code_an_endpoints_description_names_is_produced_at_that_endpoint() {
    let document = serde_json::to_value(mfa_axum::openapi("")).unwrap();
    let produced = produced();
    let mut missing = Vec::new();
    for endpoint in ENDPOINTS.iter().filter(|e| e.documented) {
        let operation = &document["paths"][endpoint.path][endpoint.method.to_lowercase()];
        for response in operation["responses"].as_object().unwrap().values() {
            let description = response["description"].as_str().unwrap_or_default();
            for code in description.split('`').skip(1).step_by(2) {
                let done = produced.get(&(endpoint.method, endpoint.path)).is_some_and(|c| c.contains(code));
                let excused = DOCUMENTED_BUT_NOT_PRODUCED
                    .iter()
                    .any(|(m, p, c, _)| (*m, *p, *c) == (endpoint.method, endpoint.path, code));
                if !done && !excused {
                    missing.push(format!("{} {} `{code}`", endpoint.method, endpoint.path));
                }
            }
        }
    }
    assert!(missing.is_empty(), "documented but never produced: {missing:#?}");
}
