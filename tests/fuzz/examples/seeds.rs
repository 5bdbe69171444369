//! Captures real WebAuthn material from software authenticators, for the fuzz corpus and
//! the `webauthn_response` / `store_records` fixtures:
//!
//! ```text
//! cargo run --example seeds -- <tests/fuzz dir>
//! ```
//!
//! Writes `corpus/webauthn_response/*.json` (registration and authentication responses as
//! a browser posts them) and `src/fixtures/*.json` (the active factor records they produce).
//! Re-running replaces the files with fresh captures; nothing else depends on their bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfa_core::{Clock, EnrolmentRequest, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId, store::Store};
use mfa_fuzz::{block_on, clock, sealer, settings};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_rs_proto::ResidentKeyRequirement;

const ORIGIN: &str = "http://localhost:8080";

// Built with the fuzz targets' coverage flags (sharing their compiled dependencies), this
// program must link libFuzzer's coverage callbacks, which need a fuzz entry point. It is
// never called: `main` below runs instead of libFuzzer's.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});

fn options_json(prompt: &Prompt) -> &str {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => options_json,
        other => panic!("expected WebAuthn options, got {other:?}"),
    }
}

fn create(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> String {
    let mut options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Discouraged);
        sel.require_resident_key = false;
    }
    serde_json::to_string(&auth.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap()).unwrap()
}

fn get(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> String {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    serde_json::to_string(&auth.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap()).unwrap()
}

fn write(path: PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    println!("wrote {} ({} bytes)", path.display(), text.len());
}

fn write_bytes(path: PathBuf, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
}

/// Registers a device of `kind`, signs in once, and writes the responses and the record.
async fn capture(dir: &Path, name: &str, kind: FactorKind, auth: &mut impl WebauthnAuthenticator) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = clock();
    let factor = WebauthnFactor::builder("localhost", "Example", ORIGIN).build().unwrap();
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .sealer(sealer())
        .settings(settings())
        .factor(factor)
        .build()
        .unwrap();
    let alice = UserId::new(mfa_fuzz::fixtures::USER).unwrap();
    let fresh = FreshAuth::primary(clock.now()).with_mfa(clock.now());
    let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(kind)).await.unwrap();
    let registration = create(auth, &start.prompt);
    let active = mfa
        .finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::credential(registration.clone()).unwrap())
        .await
        .unwrap();
    write(dir.join(format!("corpus/webauthn_response/{name}-registration.json")), &registration);

    let challenge = mfa.start_challenge(&alice, Some(&active.id)).await.unwrap();
    let state = store.get_ceremony(Some(&alice), &challenge.id, clock.now()).await.unwrap().unwrap().payload;
    write_bytes(dir.join(format!("corpus/store_records/{name}-ceremony-state")), &[&[4], &state[..]].concat());
    let assertion = get(auth, &challenge.prompt);
    mfa.finish_challenge(&alice, &challenge.id, &Proof::credential(assertion.clone()).unwrap()).await.unwrap();
    write(dir.join(format!("corpus/webauthn_response/{name}-authentication.json")), &assertion);

    let record = store.get_factor(&alice, &active.id).await.unwrap().unwrap();
    write_bytes(dir.join(format!("corpus/store_records/{name}-credential")), &[&[3], &record.data[..]].concat());
    let fixture = serde_json::json!({
        "kind": record.kind.as_str(),
        "assurance": record.assurance.as_str(),
        "lookup_key": record.lookup_key,
        "details": record.details,
        "data": String::from_utf8(record.data.clone()).unwrap(),
    });
    write(dir.join(format!("src/fixtures/{name}.json")), &serde_json::to_string_pretty(&fixture).unwrap());
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    block_on(async {
        capture(&dir, "passkey", FactorKind::PASSKEY, &mut SoftPasskey::new(true)).await;
        let (mut token, _ca) = SoftToken::new(false).unwrap();
        capture(&dir, "security-key", FactorKind::SECURITY_KEY, &mut token).await;
    });
}
