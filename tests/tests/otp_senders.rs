//! The real senders: the HTTP SMS gateway against a local recording server, SMTP against a
//! real SMTP server, and the development sender.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use mfa_core::{AeadSealer, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, Mfa, Proof, UserId};
use mfa_otp::{
    DeliveryChannel, DevConsoleSender, EmailFactor, HttpSmsSender, Message, OobKey, Sender, SmsBody, SmsFactor,
    SmtpSender, SmtpTls,
};
use mfa_store_memory::MemoryStore;

// ----- a recording HTTP server -----------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    form: HashMap<String, String>,
    json: Option<serde_json::Value>,
}

#[derive(Clone, Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
}

impl Recorder {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::CREATED)
    }

    fn last(&self) -> Recorded {
        self.requests.lock().unwrap().last().cloned().expect("a request was recorded")
    }
}

async fn record_form(
    State(r): State<Recorder>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    r.requests.lock().unwrap().push(Recorded { path: uri.path().to_owned(), headers, form, json: None });
    r.status()
}

async fn record_json(State(r): State<Recorder>, uri: Uri, headers: HeaderMap, body: String) -> StatusCode {
    let json = serde_json::from_str(&body).ok();
    r.requests.lock().unwrap().push(Recorded { path: uri.path().to_owned(), headers, form: HashMap::new(), json });
    r.status()
}

/// Starts the recorder on 127.0.0.1; returns its base URL.
async fn recorder() -> (Recorder, String) {
    let r = Recorder::default();
    r.status.store(201, Ordering::SeqCst);
    let app =
        Router::new().route("/json", post(record_json)).route("/{*path}", post(record_form)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, format!("http://{addr}"))
}

fn sms_mfa(sender: HttpSmsSender) -> Mfa {
    let sms = SmsFactor::builder(sender, OobKey::new(&[1; 32]).unwrap()).app_name("Example").build().unwrap();
    Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral().unwrap()).factor(sms).build().unwrap()
}

fn digits_after(text: &str, marker: &str) -> String {
    let rest = &text[text.find(marker).expect("marker in message") + marker.len()..];
    rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect()
}

// ----- HTTP SMS gateway ------------------------------------------------------------------

#[tokio::test]
async fn the_twilio_style_preset_posts_a_form_with_basic_auth_and_enrolment_completes() {
    let (rec, base) = recorder().await;
    let sender = HttpSmsSender::twilio_at(&base, "AC123", "s3cret".into(), "+15005550006").unwrap();
    let mfa = sms_mfa(sender);
    let alice = UserId::new("alice").unwrap();
    let fresh = FreshAuth::primary(mfa.now());
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+1 415 555 2671");
    let start = mfa.start_enrolment(&alice, &fresh, req).await.unwrap();

    let got = rec.last();
    assert_eq!(got.path, "/2010-04-01/Accounts/AC123/Messages.json");
    let auth = got.headers.get("authorization").unwrap().to_str().unwrap();
    assert_eq!(auth, format!("Basic {}", data_encoding::BASE64.encode(b"AC123:s3cret")));
    assert_eq!(got.form["To"], "+14155552671");
    assert_eq!(got.form["From"], "+15005550006");
    let code = digits_after(&got.form["Body"], "");
    assert_eq!(code.len(), 6);
    let active = mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code).unwrap()).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
}

#[tokio::test]
async fn a_json_gateway_gets_json_strings_and_custom_headers() {
    let (rec, base) = recorder().await;
    let body = SmsBody::Json(r#"{"recipient": {to}, "message": {body}, "sender": "Example"}"#.into());
    let sender =
        HttpSmsSender::new(&format!("{base}/json"), body).unwrap().header("x-api-key", "k-123".into()).unwrap();
    let message = Message::new(DeliveryChannel::Sms, "+14155552671".into(), None, "Say \"hi\"\n123456".into());
    sender.send(&message).await.unwrap();
    let got = rec.last();
    assert_eq!(got.headers.get("x-api-key").unwrap(), "k-123");
    let json = got.json.expect("valid JSON");
    assert_eq!(json["recipient"], "+14155552671");
    assert_eq!(json["message"], "Say \"hi\"\n123456");
    assert_eq!(json["sender"], "Example");
}

#[tokio::test]
async fn a_gateway_error_is_a_delivery_error_and_nothing_becomes_usable() {
    let (rec, base) = recorder().await;
    rec.status.store(500, Ordering::SeqCst);
    let sender = HttpSmsSender::twilio_at(&base, "AC123", "s3cret".into(), "+15005550006").unwrap();
    let mfa = sms_mfa(sender);
    let alice = UserId::new("alice").unwrap();
    let fresh = FreshAuth::primary(mfa.now());
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+14155552671");
    let err = mfa.start_enrolment(&alice, &fresh, req).await.unwrap_err();
    let Error::Delivery(source) = &err else { panic!("{err:?}") };
    let text = format!("{err} {source} {source:?}");
    assert!(text.contains("500"), "{text}");
    let code = digits_after(&rec.last().form["Body"], "");
    assert!(!text.contains(&code), "the error never carries the code");
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_delivery_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sender = HttpSmsSender::twilio_at(&format!("http://127.0.0.1:{port}"), "AC1", "t".into(), "+1").unwrap();
    let message = Message::new(DeliveryChannel::Sms, "+14155552671".into(), None, "123456".into());
    assert!(sender.send(&message).await.is_err());
}

#[test]
fn gateway_urls_must_be_https_except_on_loopback() {
    let body = || SmsBody::Form(vec![("to".into(), "{to}".into())]);
    assert!(HttpSmsSender::new("http://sms.example.com/send", body()).is_err());
    assert!(HttpSmsSender::new("https://sms.example.com/send", body()).is_ok());
    assert!(HttpSmsSender::new("http://127.0.0.1:8080/send", body()).is_ok());
    assert!(HttpSmsSender::new("not a url", body()).is_err());
    assert!(HttpSmsSender::twilio("AC/../x", "t".into(), "+1").is_err());
}

// ----- development sender ----------------------------------------------------------------

#[tokio::test]
async fn the_development_sender_prints_and_keeps_the_last_codes() {
    let dev = DevConsoleSender::new();
    let message =
        Message::new(DeliveryChannel::Email, "jane@example.com".into(), Some("s".into()), "Code 123456.".into());
    dev.clone().send(&message).await.unwrap();
    assert_eq!(dev.last_code_to("jane@example.com").as_deref(), Some("123456"), "clones share the outbox");
    for i in 0..150 {
        let m = Message::new(DeliveryChannel::Sms, format!("+1415555{i:04}"), None, "654321".into());
        dev.send(&m).await.unwrap();
    }
    assert_eq!(dev.last_to("jane@example.com").map(|m| m.to), None, "only the last 100 are kept");
}

// ----- SMTP ------------------------------------------------------------------------------

const SMTP_HOW: &str = "needs an SMTP server: run `bash tests/run-all.sh`, or set MFA_TEST_SMTP=host:port and \
                        MFA_TEST_MAILDIR=<its Maildir> and pass --include-ignored";

/// Waits for a message to `to` in the test server's Maildir and returns it.
async fn delivered_to(maildir: &str, to: &str) -> String {
    for _ in 0..100 {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(format!("{maildir}/{sub}")) {
                for entry in entries.flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    if text.lines().any(|l| l.eq_ignore_ascii_case(&format!("To: {to}"))) {
                        return text;
                    }
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no message to {to} arrived in {maildir}");
}

#[tokio::test]
#[ignore = "needs an SMTP server: run `bash tests/run-all.sh`, or set MFA_TEST_SMTP and MFA_TEST_MAILDIR and pass --include-ignored"]
async fn smtp_delivers_the_enrolment_code_and_it_completes_enrolment() {
    let (Ok(addr), Ok(maildir)) = (std::env::var("MFA_TEST_SMTP"), std::env::var("MFA_TEST_MAILDIR")) else {
        panic!("{SMTP_HOW}");
    };
    let (host, port) = addr.rsplit_once(':').expect("MFA_TEST_SMTP is host:port");
    let sender = SmtpSender::builder(host, "Example <no-reply@example.com>")
        .port(port.parse().unwrap())
        .tls(SmtpTls::None)
        .build()
        .unwrap();
    let email = EmailFactor::builder(sender, OobKey::new(&[2; 32]).unwrap()).app_name("Example").build().unwrap();
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral().unwrap())
        .factor(email)
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let to = format!("alice-{}@example.com", mfa_core::FactorId::random().unwrap());
    let fresh = FreshAuth::primary(mfa.now());
    let start =
        mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::EMAIL).destination(&to)).await.unwrap();

    let delivered = delivered_to(&maildir, &to).await;
    assert!(delivered.contains("Subject: Your Example verification code"), "{delivered}");
    assert!(delivered.contains("From: Example <no-reply@example.com>"));
    let code = digits_after(&delivered, "verification code is");
    assert_eq!(code.len(), 6, "{delivered}");
    let active = mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code).unwrap()).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
}

#[tokio::test]
async fn smtp_failure_to_connect_is_a_delivery_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sender =
        SmtpSender::builder("127.0.0.1", "no-reply@example.com").port(port).tls(SmtpTls::None).build().unwrap();
    let message = Message::new(DeliveryChannel::Email, "jane@example.com".into(), Some("s".into()), "123456".into());
    let err = sender.send(&message).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("123456"));
}
