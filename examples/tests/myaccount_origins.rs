//! My Account on several origins: `--also-port` serves the same app (same accounts, same
//! sessions) on more ports, `--origin` and `MYACCOUNT_ORIGINS` list the origins passkeys
//! are accepted from; an origin that is not one stops the start with the reason. The built
//! example runs as a process, as the browser journeys run it (they drive the passkeys on
//! each origin).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

/// My Account started with `args` (and `env`), its first lines read up to the one naming
/// the origins passkeys are accepted from; stopped when dropped.
struct MyAccount {
    child: Child,
    lines: Vec<String>,
}

impl MyAccount {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_myaccount"));
        command.args(["--port", "0"]).args(args).env_remove("MYACCOUNT_ORIGINS").env_remove("MYACCOUNT_ALSO_PORTS");
        command.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut lines = Vec::new();
        for line in output.by_ref() {
            let line = line.unwrap();
            let last = line.starts_with("passkeys and security keys accepted from:");
            lines.push(line);
            if last {
                break;
            }
        }
        // The rest of its output (the log) is read and dropped, so that it never blocks.
        std::thread::spawn(move || output.for_each(drop));
        Self { child, lines }
    }

    /// The origins it says passkeys are accepted from.
    fn accepted(&self) -> Vec<String> {
        let line = self.lines.last().unwrap();
        let (_, list) = line.split_once(": ").unwrap();
        list.split(", ").map(str::to_owned).collect()
    }

    /// The address of its main port.
    fn url(&self) -> String {
        let line = &self.lines[0];
        let at = line.find("http://localhost:").unwrap();
        line[at..].chars().take_while(|c| !c.is_whitespace()).collect::<String>().trim_end_matches('/').to_owned()
    }
}

impl Drop for MyAccount {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `base`'s page with `cookie` (if any): the session cookie and the page's CSRF token.
async fn page(http: &reqwest::Client, base: &str, cookie: Option<&str>) -> (String, String) {
    let mut request = http.get(format!("{base}/"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{base}");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|set| set.to_str().unwrap().split(';').next().unwrap().to_owned())
        .or(cookie.map(str::to_owned))
        .unwrap();
    let text = response.text().await.unwrap();
    let at = text.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    (cookie, text[at..].chars().take_while(char::is_ascii_alphanumeric).collect())
}

async fn post(
    http: &reqwest::Client,
    url: String,
    cookie: &str,
    csrf: &str,
    body: Value,
) -> (StatusCode, Value, String) {
    let response = http
        .post(url)
        .header(COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map_or(cookie.to_owned(), |set| set.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null), cookie)
}

#[tokio::test]
async fn every_port_serves_the_same_app_and_only_listed_origins_take_passkeys() {
    let (second, third) = (free_port(), free_port());
    let second_origin = format!("http://localhost:{second}");
    let (second, third) = (second.to_string(), third.to_string());
    let app = MyAccount::start(&["--also-port", &second, "--also-port", &third, "--origin", &second_origin], &[]);
    let main = app.url();
    assert_eq!(app.accepted(), vec![main.clone(), second_origin.clone()], "{:?}", app.lines);
    let third_origin = format!("http://localhost:{third}");
    assert!(app.lines.iter().any(|l| l.contains(&third_origin)), "the third port is served: {:?}", app.lines);

    // Signed up on the second port; the same session is signed in on the third.
    let http = reqwest::Client::new();
    let (cookie, csrf) = page(&http, &second_origin, None).await;
    let user = format!("olga{}", free_port());
    let body = json!({ "user": user, "password": "correct horse battery" });
    let (status, answer, cookie) = post(&http, format!("{second_origin}/api/sign-up"), &cookie, &csrf, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let account = http.get(format!("{third_origin}/api/account")).header(COOKIE, &cookie).send().await.unwrap();
    let account: Value = serde_json::from_str(&account.text().await.unwrap()).unwrap();
    assert_eq!(account["user"], user.as_str());

    // Every port offers passkeys of the one relying party, localhost.
    let (cookie, csrf) = page(&http, &third_origin, Some(&cookie)).await;
    let url = format!("{third_origin}/mfa/signin/passwordless/start");
    let (status, start, _) = post(&http, url, &cookie, &csrf, json!({ "mediation": "conditional" })).await;
    assert_eq!(status, StatusCode::OK, "{start}");
    assert_eq!(start["prompt"]["options"]["publicKey"]["rpId"], "localhost");
}

#[tokio::test]
async fn origins_come_from_the_environment_too() {
    let android = "android:apk-key-hash:w0S-sG0g6UuS0ZNoq3uK9pzBJyC1nxSJ8ZGYxG1HEJU";
    let listed = format!("http://localhost:{}, {android}", free_port());
    let app = MyAccount::start(&[], &[("MYACCOUNT_ORIGINS", &listed)]);
    let accepted = app.accepted();
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    assert_eq!(accepted[2], android);
}

#[test]
fn an_origin_that_is_not_one_stops_the_start_with_the_reason() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_myaccount"))
        .args(["--port", "0", "--origin", "not an origin"])
        .env_remove("MYACCOUNT_ORIGINS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    child.stderr.take().unwrap().read_to_string(&mut said).unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(said.contains("invalid WebAuthn origin URL") && said.contains("--origin"), "{said}");
}
