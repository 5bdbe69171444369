//! My Account's `/metrics`: the built example runs as a process (as the CI step and the
//! browser journeys run it) on a free port; a user signs up, enrols an authenticator app
//! with a wrong code first, and signs in again with a recovery code, all through the HTTP
//! API; the scrapes before and after show the counters moving. Without the operator's
//! token, and in an instance started without one, `/metrics` is a 404.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

const TOKEN: &str = "scrape-token-for-the-metrics-test";

/// The example, started with `token` (if any) as `MYACCOUNT_METRICS_TOKEN`; stopped when
/// dropped.
struct MyAccount {
    child: Child,
    url: String,
}

impl MyAccount {
    fn start(token: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_myaccount"));
        command
            .args(["--port", "0"])
            .env_remove("MYACCOUNT_METRICS_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(token) = token {
            command.env("MYACCOUNT_METRICS_TOKEN", token);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The first line naming the address says it listens.
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(at) = line.find("http://localhost:") {
                let port: String = line[at + 17..].chars().take_while(char::is_ascii_digit).collect();
                url = Some(format!("http://localhost:{port}"));
                break;
            }
        }
        // The rest of its output (the log) is read and dropped, so that it never blocks.
        std::thread::spawn(move || lines.for_each(drop));
        Self { url: url.expect("My Account printed its address"), child }
    }
}

impl Drop for MyAccount {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: keeps the session cookie and sends the CSRF token of the page.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    csrf: String,
}

impl Browser {
    /// Opens the page: a session, and its CSRF token.
    async fn open(base: &str) -> Self {
        let mut browser =
            Self { http: reqwest::Client::new(), base: base.to_owned(), cookies: HashMap::new(), csrf: String::new() };
        browser.reload().await;
        browser
    }

    async fn reload(&mut self) {
        let response = self.http.get(format!("{}/", self.base)).header(COOKIE, self.cookie()).send().await.unwrap();
        self.keep_cookies(&response);
        let page = response.text().await.unwrap();
        let at = page.find("name=\"csrf-token\" content=\"").expect("the page has a CSRF token") + 27;
        self.csrf = page[at..].chars().take_while(char::is_ascii_alphanumeric).collect();
    }

    fn cookie(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    /// POSTs JSON; returns the status and the JSON answer, and takes a new CSRF token if
    /// the answer carries one (the session id changes when assurance does).
    async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie())
            .header("x-csrf-token", &self.csrf)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let status = response.status();
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
        if let Some(token) = answer["csrf_token"].as_str() {
            token.clone_into(&mut self.csrf);
        }
        (status, answer)
    }
}

/// `GET /metrics` with `token` as the bearer token (or none): the status and the text.
async fn scrape(base: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The value of the sample `name` with exactly `labels` in Prometheus text, 0 if absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeSet<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}').split(',').map(str::to_owned).collect()),
            None => (series, BTreeSet::new()),
        };
        if series_name == name && series_labels == wanted {
            return value.parse().unwrap();
        }
    }
    0.0
}

/// The code of the authenticator app with this base32 key, now.
fn app_code(key_base32: &str, offset_secs: i64) -> String {
    let key = data_encoding::BASE32_NOPAD.decode(key_base32.as_bytes()).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    mfa_otp::TotpFactor::new("My Account").unwrap().code_at(&key, (now + offset_secs) as u64).unwrap()
}

#[tokio::test]
async fn metrics_count_verifications_for_the_operators_token_only() {
    let app = MyAccount::start(Some(TOKEN));
    let (status, before) = scrape(&app.url, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);

    let mut browser = Browser::open(&app.url).await;
    let (status, _) = browser.post("/api/sign-up", json!({"user": "prom.user", "password": "correct horse"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, start) = browser.post("/mfa/factors", json!({"kind": "totp"})).await;
    assert_eq!(status, StatusCode::CREATED, "{start}");
    let factor = start["factor"]["id"].as_str().unwrap().to_owned();
    let key = start["prompt"]["secret_base32"].as_str().unwrap().to_owned();
    // A code no step of the window accepts.
    let window: Vec<String> = [-30, 0, 30].iter().map(|&d| app_code(&key, d)).collect();
    let wrong = (0..10).map(|d| format!("{d}{d}{d}{d}{d}{d}")).find(|c| !window.contains(c)).unwrap();
    let (status, refused) = browser.post(&format!("/mfa/factors/{factor}/finish"), json!({"code": wrong})).await;
    assert_eq!((status, &refused["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("code_invalid")));
    let (status, added) =
        browser.post(&format!("/mfa/factors/{factor}/finish"), json!({"code": app_code(&key, 0)})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let (status, codes) = browser.post("/mfa/recovery-codes", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{codes}");
    let recovery = codes["codes"][0].as_str().unwrap().to_owned();

    // Signed out and in again: the second step with a recovery code.
    browser.post("/api/sign-out", json!({})).await;
    browser.reload().await;
    let (status, signed_in) =
        browser.post("/api/sign-in", json!({"user": "prom.user", "password": "correct horse"})).await;
    assert_eq!((status, &signed_in["complete"]), (StatusCode::OK, &json!(false)), "{signed_in}");
    let (status, done) = browser.post("/mfa/signin/recovery-code", json!({"code": recovery})).await;
    assert_eq!(status, StatusCode::OK, "{done}");

    let (status, after) = scrape(&app.url, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let moved = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) - sample(&before, name, labels);
    let verifications = "mfa_verifications_total";
    assert_eq!(moved(verifications, &[("method", "totp"), ("outcome", "invalid_code")]), 1.0, "{after}");
    assert_eq!(moved(verifications, &[("method", "recovery_code"), ("outcome", "success")]), 1.0, "{after}");
    assert_eq!(moved("mfa_events_total", &[("event", "factor_added")]), 1.0);
    assert!(moved("mfa_store_operations_total", &[("op", "list_factors"), ("outcome", "ok")]) >= 1.0);
    assert!(moved("mfa_store_operation_duration_seconds_count", &[("op", "list_factors")]) >= 1.0, "{after}");
    assert!(after.contains("# TYPE mfa_store_operation_duration_seconds histogram"), "latencies in buckets");
    assert!(!after.contains("prom.user") && !after.contains(&factor), "no user or factor in a label");

    // Anyone else gets a 404, as if there were no such page.
    assert_eq!(scrape(&app.url, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(scrape(&app.url, Some("scrape-token-for-the-metrics-tesT")).await.0, StatusCode::NOT_FOUND);
    let basic = reqwest::Client::new().get(format!("{}/metrics", app.url)).header(AUTHORIZATION, TOKEN);
    assert_eq!(basic.send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_token_configured_metrics_is_not_found() {
    let app = MyAccount::start(None);
    assert_eq!(scrape(&app.url, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(scrape(&app.url, None).await.0, StatusCode::NOT_FOUND);
    // The app itself serves as usual.
    let page = reqwest::get(format!("{}/", app.url)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}
