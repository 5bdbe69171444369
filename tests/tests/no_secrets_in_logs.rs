//! No secret in logs, errors or events (SECURITY.md S4, S8, CONVENTIONS.md 5–6): every
//! flow of every factor kind runs — failures, lockouts, replays, resends, recovery codes
//! used and regenerated, devices remembered and checked — with every `tracing` event
//! captured at TRACE and every span with its fields, and none of the secrets that went by
//! appears in the captured text, in any span, in any error's `Display` or `Debug`, or in
//! any recorded event.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use mfa_core::testing::RecordingEventSink;
use mfa_core::{EnrolmentRequest, Error, Event, EventSink, FactorKind, Proof, TracingEventSink};
use support::world::{self, World, code, full_account, get};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

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

/// Every span opened, as `target::name{ field=value...}`, and every value recorded on one
/// later, as `record{ field=value...}`.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

impl Spans {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Writes each field as ` name=value` (`Debug`, as a subscriber printing spans would).
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        write!(self.0, " {}={value:?}", field.name()).unwrap();
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut text = format!("{}::{}{{", attrs.metadata().target(), attrs.metadata().name());
        attrs.record(&mut Fields(&mut text));
        self.0.lock().unwrap().push(text + "}");
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut text = "record{".to_owned();
        values.record(&mut Fields(&mut text));
        self.0.lock().unwrap().push(text + "}");
    }
}

/// Events go to the default tracing sink (so they are in the logs) and to a recorder.
#[derive(Debug)]
struct Tee(RecordingEventSink);

impl EventSink for Tee {
    fn record<'a, 'b, 'c>(
        &'a self,
        event: &'b Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            TracingEventSink.record(event).await;
            self.0.record(event).await;
        })
    }
}

/// True if `needle` occurs in `haystack`; a code of digits only counts where it is not
/// part of a longer number (timestamps are full of digits).
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

#[tokio::test]
async fn no_secret_appears_in_logs_errors_or_events() {
    let capture = Capture::default();
    let writer = capture.clone();
    let spans = Spans::default();
    // No filter: every event and span, down to TRACE.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(move || writer.clone()))
        .with(spans.clone())
        .try_init()
        .unwrap();

    let recorder = RecordingEventSink::new();
    let w = World::with(
        Arc::new(mfa_store_memory::MemoryStore::new()),
        world::settings(),
        Some(Arc::new(Tee(recorder.clone()))),
    );
    let mut secrets: Vec<String> = Vec::new();
    let mut errors: Vec<Error> = Vec::new();

    // Every kind of factor, recovery codes, a remembered device, a pending enrolment.
    let mut a = full_account(&w, "alice", 1).await;
    let seed = &a.totp_prompt;
    secrets.push(seed.secret_base32.expose().to_owned());
    secrets.push(seed.uri.expose().to_owned());
    secrets.push(data_encoding::HEXLOWER.encode(&a.totp_key));
    secrets.push(data_encoding::HEXUPPER.encode(&a.totp_key));
    secrets.push(format!("{:?}", a.totp_key));
    secrets.push(data_encoding::HEXLOWER.encode(&a.pending_key));
    secrets.extend(a.recovery_codes.iter().cloned());
    secrets.extend(a.recovery_codes.iter().map(|c| c.replace('-', "")));
    secrets.push(a.device_token.clone());
    secrets.push(a.device_token.rsplit_once('.').unwrap().1.to_owned());
    for key in [world::SEAL_KEY, world::OOB_KEY] {
        secrets.push(String::from_utf8(key.to_vec()).unwrap());
        secrets.push(data_encoding::HEXLOWER.encode(&key));
        secrets.push(data_encoding::BASE64.encode(&key));
        secrets.push(format!("{key:?}"));
    }
    w.advance(60);

    // TOTP: a success, a replay, failures up to the lockout, the right code while locked.
    let right = w.totp_code(&a.totp_key);
    secrets.push(right.clone());
    w.mfa.verify(&a.user, &a.totp, &code(&right)).await.unwrap();
    errors.push(w.mfa.verify(&a.user, &a.totp, &code(&right)).await.unwrap_err());
    for _ in 0..6 {
        let wrong = w.wrong_totp_code(&a.totp_key);
        secrets.push(wrong.clone());
        errors.push(w.mfa.verify(&a.user, &a.totp, &code(&wrong)).await.unwrap_err());
    }
    w.advance(30);
    let right = w.totp_code(&a.totp_key);
    secrets.push(right.clone());
    errors.push(w.mfa.verify(&a.user, &a.totp, &code(&right)).await.unwrap_err());
    assert!(
        errors.iter().any(|e| matches!(e, Error::Locked { .. })) && errors.iter().any(|e| matches!(e, Error::Replayed))
    );

    // SMS and email: a wrong code, a resend, the old code after the resend, the new one.
    for (factor, to) in [(a.sms, a.phone.clone()), (a.email_factor, a.email.clone())] {
        let c = w.mfa.start_challenge(&a.user, Some(&factor)).await.unwrap();
        let old = w.sent_code(&to);
        let wrong = if old == "000000" { "111111" } else { "000000" };
        errors.push(w.mfa.finish_challenge(&a.user, &c.id, &code(wrong)).await.unwrap_err());
        let again = w.mfa.resend_challenge(&a.user, &c.id).await.unwrap();
        let new = w.sent_code(&to);
        errors.push(w.mfa.finish_challenge(&a.user, &c.id, &code(&old)).await.unwrap_err());
        w.mfa.finish_challenge(&a.user, &again.id, &code(&new)).await.unwrap();
        errors.push(w.mfa.finish_challenge(&a.user, &again.id, &code(&new)).await.unwrap_err());
    }
    // The open SMS challenge from the set-up, and an enrolment code resent.
    w.mfa.finish_challenge(&a.user, &a.sms_challenge, &code(&a.sms_code)).await.unwrap();
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+14155550123");
    let pending = w.mfa.start_enrolment(&a.user, &w.fresh(), req).await.unwrap();
    w.mfa.resend_enrolment(&a.user, &pending.factor.id).await.unwrap();
    w.mfa.finish_enrolment(&a.user, &w.fresh(), &pending.factor.id, &code(&w.sent_code("+14155550123"))).await.unwrap();
    for message in w.outbox.messages() {
        secrets.push(message.body.expose().to_owned());
        let digits: String = message.body.expose().chars().filter(char::is_ascii_digit).collect();
        secrets.push(digits.chars().take(6).collect());
    }

    // WebAuthn: a sign-in, a replayed assertion, a passkey sign-in.
    let proof = get(&mut a.security_key_auth, &a.key_prompt);
    w.mfa.finish_challenge(&a.user, &a.key_challenge, &proof).await.unwrap();
    errors.push(w.mfa.finish_challenge(&a.user, &a.key_challenge, &proof).await.unwrap_err());
    let c = w.mfa.start_challenge(&a.user, Some(&a.passkey)).await.unwrap();
    let passkey_proof = get(&mut a.passkey_auth, &c.prompt);
    let verified = w.mfa.finish_challenge(&a.user, &c.id, &passkey_proof).await.unwrap();
    errors.push(w.mfa.finish_challenge(&a.user, &c.id, &Proof::credential("{\"id\":7}").unwrap()).await.unwrap_err());

    // Recovery codes: used, reused, wrong until locked, regenerated.
    w.mfa.verify_recovery_code(&a.user, &a.recovery_codes[0]).await.unwrap();
    errors.push(w.mfa.verify_recovery_code(&a.user, &a.recovery_codes[0]).await.unwrap_err());
    for _ in 0..6 {
        errors.push(w.mfa.verify_recovery_code(&a.user, "AAAA-BBBB-CCCC-DDDD-EEEE").await.unwrap_err());
    }
    let fresh = w.fresh().with_mfa(verified.at);
    let set = w.mfa.regenerate_recovery_codes(&a.user, &fresh).await.unwrap();
    secrets.extend(set.codes().iter().map(|c| c.expose().to_owned()));
    secrets.push(set.to_text("Example").expose().to_owned());

    // Devices: remembered, checked, a wrong token, revoked.
    let device = w.mfa.remember_device(&verified, "Phone").await.unwrap();
    secrets.push(device.token.expose().to_owned());
    w.mfa.check_device(&a.user, device.token.expose()).await.unwrap();
    let (prefix, _) = device.token.expose().rsplit_once('.').unwrap();
    errors.push(w.mfa.check_device(&a.user, &format!("{prefix}.{}", "A".repeat(43))).await.unwrap_err());
    w.mfa.revoke_device(&a.user, &device.device.id).await.unwrap();
    errors.push(w.mfa.check_device(&a.user, device.token.expose()).await.unwrap_err());

    // Debug output of the secret-bearing values themselves.
    let shown = format!("{:?} {:?} {:?} {:?} {:?}", a.totp_prompt, set, device, w.outbox.messages(), proof);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 30, "the logs were captured:\n{logs}");
    assert!(logs.contains("mfa::audit") && logs.contains("LockedOut"), "audit events are in the logs");
    assert!(logs.contains(&a.totp.to_string()) && logs.contains("alice"), "with their ids");
    assert!(leaks(&format!("at {right}."), &right) && !leaks(&format!("t=9{right}"), &right), "the matcher works");
    assert!(errors.len() >= 20, "{} errors", errors.len());
    let spans = spans.all();
    let spans_text = spans.join("\n");
    for call in [
        "verify",
        "start_challenge",
        "resend_challenge",
        "finish_challenge",
        "start_enrolment",
        "resend_enrolment",
        "finish_enrolment",
        "verify_recovery_code",
        "regenerate_recovery_codes",
        "remember_device",
        "check_device",
        "revoke_device",
    ] {
        let name = format!("::{call}{{");
        assert!(spans.iter().any(|s| s.starts_with("mfa_core::service::") && s.contains(&name)), "a span for {call}");
    }
    let verify = format!("mfa_core::service::challenge::verify{{ user=alice factor={}}}", a.totp);
    assert!(spans.contains(&verify), "with the user and factor:\n{spans_text}");
    let errors_text: String = errors.iter().map(|e| format!("{e} {e:?}\n")).collect();
    let events_text = format!("{:?}", recorder.events());
    assert!(recorder.kinds().len() >= 30);
    secrets.retain(|s| s.len() >= 6);
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() >= 40, "{} secrets collected", secrets.len());
    for secret in &secrets {
        let places = [("logs", &logs), ("spans", &spans_text), ("errors", &errors_text), ("events", &events_text)];
        for (place, text) in places.into_iter().chain([("Debug", &shown)]) {
            assert!(!leaks(text, secret), "a secret ({} chars) appears in the {place}", secret.len());
        }
    }
}
