//! Codes in the user's language, through the real senders: SMS texts at an HTTP gateway (a
//! local recording server) and email through a real SMTP server, picked by the locale of
//! the request context the host attaches with `Mfa::with_context`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::routing::post;
use mfa_core::context::RequestContext;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Proof, SystemClock,
    UserId,
};
use mfa_otp::{EmailFactor, HttpSmsSender, MessageTemplate, OobKey, SmsFactor, SmtpSender, SmtpTls};
use mfa_store_memory::MemoryStore;

/// The German SMS text.
const SMS_DE: &str = "{code} ist Ihr Bestätigungscode für {app}. Er läuft in {minutes} Minuten ab.";

// ----- a recording SMS gateway -----------------------------------------------------------

/// The texts the gateway received, by destination number, in order.
#[derive(Clone, Default)]
struct Gateway(Arc<Mutex<Vec<(String, String)>>>);

impl Gateway {
    fn last_to(&self, number: &str) -> String {
        let texts = self.0.lock().unwrap();
        texts.iter().rev().find(|(to, _)| to == number).map(|(_, body)| body.clone()).expect("a text to the number")
    }
}

async fn receive(State(gateway): State<Gateway>, Form(form): Form<HashMap<String, String>>) -> StatusCode {
    gateway.0.lock().unwrap().push((form["To"].clone(), form["Body"].clone()));
    StatusCode::CREATED
}

/// Starts a Twilio-style gateway on 127.0.0.1; returns it and its base URL.
async fn gateway() -> (Gateway, String) {
    let gateway = Gateway::default();
    let app = Router::new().route("/{*path}", post(receive)).with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (gateway, format!("http://{addr}"))
}

/// A service sending SMS codes through the gateway at `base`, in English and German, on a
/// manual clock.
fn sms_service(base: &str) -> (Mfa, ManualClock) {
    let sender = HttpSmsSender::twilio_at(base, "AC123", "s3cret".into(), "+15005550006").unwrap();
    let sms = SmsFactor::builder(sender, OobKey::new(&[3; 32]).unwrap())
        .app_name("Example")
        .template_for("de", MessageTemplate::new("", SMS_DE).unwrap())
        .build()
        .unwrap();
    let clock = ManualClock::new(SystemClock.now());
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral().unwrap())
        .clock(clock.clone())
        .factor(sms)
        .build()
        .unwrap();
    (mfa, clock)
}

/// The first run of digits in `text`.
fn code_in(text: &str) -> String {
    text.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect()
}

/// For a user whose request context has `locale`: enrols `number` and signs in with it,
/// each time with the code from the text the gateway received. Returns both texts, with the
/// code replaced by `{code}`.
async fn enrol_and_sign_in(locale: &str, number: &str) -> [String; 2] {
    let (gateway, base) = gateway().await;
    let (mfa, clock) = sms_service(&base);
    let request = mfa.with_context(RequestContext::new().locale(locale).unwrap());
    let user = UserId::new(format!("user-{locale}")).unwrap();
    let fresh = FreshAuth::primary(mfa.now());

    let start = request.start_enrolment(&user, &fresh, EnrolmentRequest::new(FactorKind::SMS).destination(number));
    let start = start.await.unwrap();
    let enrolment_text = gateway.last_to(number);
    let code = code_in(&enrolment_text);
    assert_eq!(code.len(), 6, "{enrolment_text}");
    let proof = Proof::code(&code).unwrap();
    let factor = request.finish_enrolment(&user, &fresh, &start.factor.id, &proof).await.unwrap();
    assert_eq!(factor.status, FactorStatus::Active);

    clock.advance(Duration::from_secs(31)); // past the cooldown between two sends
    let challenge = request.start_challenge(&user, None).await.unwrap();
    let sign_in_text = gateway.last_to(number);
    let code = code_in(&sign_in_text);
    request.finish_challenge(&user, &challenge.id, &Proof::code(&code).unwrap()).await.unwrap();
    [enrolment_text, sign_in_text].map(|text| text.replacen(&code_in(&text), "{code}", 1))
}

#[tokio::test]
async fn a_german_user_gets_the_enrolment_and_sign_in_codes_in_german_at_the_gateway() {
    let texts = enrol_and_sign_in("de", "+14155552671").await;
    let german = "{code} ist Ihr Bestätigungscode für Example. Er läuft in 5 Minuten ab.";
    assert_eq!(texts, [german, german]);
}

#[tokio::test]
async fn a_swiss_german_user_gets_the_german_text() {
    let texts = enrol_and_sign_in("de-CH", "+41446681800").await;
    assert!(texts.iter().all(|t| t.starts_with("{code} ist Ihr Bestätigungscode für Example.")), "{texts:?}");
}

#[tokio::test]
async fn a_french_user_gets_english_when_there_is_no_french_text() {
    let texts = enrol_and_sign_in("fr", "+33142685300").await;
    let english = "{code} is your Example verification code. It expires in 5 minutes.";
    assert_eq!(texts, [english, english]);
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message to {to} arrived in {maildir}");
}

/// The value of header `name` in a raw message, unfolded, with RFC 2047 encoded words
/// decoded.
fn header(raw: &str, name: &str) -> String {
    let (head, _) = raw.split_once("\n\n").or_else(|| raw.split_once("\r\n\r\n")).expect("headers and a body");
    let mut value = None::<String>;
    for line in head.lines() {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
            Some(_) => break,
            None => {
                if let Some((_, v)) = line.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    value = Some(v.trim().to_owned());
                }
            }
        }
    }
    let value = value.unwrap_or_else(|| panic!("no {name} header in {raw}"));
    // Encoded words (`=?charset?b|q?text?=`); the space between two of them is not text.
    let mut decoded = Vec::new();
    let mut after_encoded_word = false;
    for (i, word) in value.split_whitespace().enumerate() {
        let text = match word.split('?').collect::<Vec<_>>().as_slice() {
            ["=", _charset, encoding, text, "="] if encoding.eq_ignore_ascii_case("b") => {
                Some(data_encoding::BASE64.decode(text.as_bytes()).unwrap())
            }
            ["=", _charset, encoding, text, "="] if encoding.eq_ignore_ascii_case("q") => {
                Some(quoted_printable(&text.replace('_', " ")))
            }
            _ => None,
        };
        if i > 0 && !(after_encoded_word && text.is_some()) {
            decoded.push(b' ');
        }
        after_encoded_word = text.is_some();
        decoded.extend(text.unwrap_or_else(|| word.as_bytes().to_vec()));
    }
    String::from_utf8(decoded).unwrap()
}

/// Decodes quoted-printable text (soft line breaks and `=XX` escapes).
fn quoted_printable(text: &str) -> Vec<u8> {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The text of a raw single-part message, decoded from its transfer encoding.
fn body(raw: &str) -> String {
    let (_, text) = raw.split_once("\r\n\r\n").or_else(|| raw.split_once("\n\n")).expect("headers and a body");
    let encoding = header(raw, "Content-Transfer-Encoding").to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => quoted_printable(text),
        "base64" => data_encoding::BASE64.decode(text.split_whitespace().collect::<String>().as_bytes()).unwrap(),
        _ => text.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

#[tokio::test]
#[ignore = "needs an SMTP server: run `bash tests/run-all.sh`, or set MFA_TEST_SMTP and MFA_TEST_MAILDIR and pass --include-ignored"]
async fn a_german_user_gets_the_email_code_in_german_through_smtp() {
    let (Ok(addr), Ok(maildir)) = (std::env::var("MFA_TEST_SMTP"), std::env::var("MFA_TEST_MAILDIR")) else {
        panic!("{SMTP_HOW}");
    };
    let (host, port) = addr.rsplit_once(':').expect("MFA_TEST_SMTP is host:port");
    let sender = SmtpSender::builder(host, "Example <no-reply@example.com>")
        .port(port.parse().unwrap())
        .tls(SmtpTls::None)
        .build()
        .unwrap();
    let german = MessageTemplate::new(
        "Ihr Bestätigungscode für {app}",
        "Ihr Bestätigungscode für {app} lautet {code}.\n\nEr läuft in {minutes} Minuten ab.",
    )
    .unwrap();
    let email = EmailFactor::builder(sender, OobKey::new(&[4; 32]).unwrap())
        .app_name("Example")
        .template_for("de", german)
        .build()
        .unwrap();
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral().unwrap())
        .factor(email)
        .build()
        .unwrap();
    let request = mfa.with_context(RequestContext::new().locale("de").unwrap());
    let alice = UserId::new("alice").unwrap();
    let to = format!("alice-{}@example.com", mfa_core::FactorId::random().unwrap());
    let fresh = FreshAuth::primary(mfa.now());
    let start = request
        .start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::EMAIL).destination(&to))
        .await
        .unwrap();

    let delivered = delivered_to(&maildir, &to).await;
    assert_eq!(header(&delivered, "Subject"), "Ihr Bestätigungscode für Example", "{delivered}");
    let text = body(&delivered);
    let code = code_in(&text);
    assert_eq!(code.len(), 6, "{text}");
    assert_eq!(
        text.trim_end(),
        format!("Ihr Bestätigungscode für Example lautet {code}.\n\nEr läuft in 5 Minuten ab.")
    );
    let active = request.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code).unwrap()).await;
    assert_eq!(active.unwrap().status, FactorStatus::Active);
}
