//! A terminal walk-through of the service on the in-memory store: add an authenticator
//! app and a phone number, sign in with each, and see replay protection, recovery codes
//! and throttling work.
//!
//! Run with `cargo run -p mfa-examples`.
//!
//! The example plays the user's part too: it computes the authenticator app's codes from
//! the key it was shown, and reads SMS codes back from the development sender (which
//! prints them instead of sending them).

use std::error::Error as StdError;

use mfa_core::{AeadSealer, EnrolmentRequest, Error, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId};
use mfa_otp::{DevConsoleSender, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    // Audit events go to the terminal through `tracing`.
    tracing_subscriber::fmt().with_target(false).without_time().init();

    let totp = TotpFactor::new("Example")?;
    let phone = DevConsoleSender::new();
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral()?) // a key from your secret manager in production
        .factor(totp.clone())
        .factor(SmsFactor::builder(phone.clone(), OobKey::ephemeral()?).app_name("Example").build()?)
        .build()?;
    let alice = UserId::new("alice")?;

    println!("\n1. Alice re-enters her password and adds an authenticator app.");
    let fresh = FreshAuth::primary(mfa.now());
    let request = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice@example.com");
    let start = mfa.start_enrolment(&alice, &fresh, request).await?;
    let Prompt::SharedSecret(secret) = &start.prompt else {
        return Err("unexpected prompt".into());
    };
    println!(
        "   scan the QR code ({} bytes of PNG, or SVG) or type the key {}",
        png_len(secret),
        secret.secret_base32.expose()
    );
    let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    let now = u64::try_from(mfa.now().unix_secs())?;
    let code = totp.code_at(&key, now)?;
    println!("   her app shows {code}; she types it");
    let app = mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code)?).await?;
    println!("   \"{}\" is {:?}, preferred = {}", app.label, app.status, app.preferred);

    println!("\n2. Adding another factor now needs a recent MFA verification too.");
    match mfa
        .start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::SMS).destination("+1 415 555 2671"))
        .await
    {
        Err(Error::MfaRequired) => println!("   refused without MFA: {}", Error::MfaRequired),
        other => return Err(format!("expected MfaRequired, got {other:?}").into()),
    }
    let next = totp.code_at(&key, now + 30)?;
    let verified = mfa.verify(&alice, &app.id, &Proof::code(&next)?).await?;
    let fresh = fresh.with_mfa(verified.at);
    let request = EnrolmentRequest::new(FactorKind::SMS).destination("+1 415 555 2671").label("Work phone");
    let sms = mfa.start_enrolment(&alice, &fresh, request).await?;
    let sent = phone.last_code_to("+14155552671").ok_or("no code was sent")?;
    mfa.finish_enrolment(&alice, &fresh, &sms.factor.id, &Proof::code(&sent)?).await?;
    println!("   phone {} confirmed", sms.factor.masked_destination.unwrap_or_default());

    println!("\n3. Signing in: the preferred factor is challenged, the others are alternatives.");
    let challenge = mfa.start_challenge(&alice, None).await?;
    let others: Vec<_> = challenge.alternatives.iter().map(|f| f.label.as_str()).collect();
    println!("   challenge for \"{}\"; try another way: {others:?}", challenge.factor.label);

    println!("\n4. A code that was already used is a replay.");
    match mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&next)?).await {
        Err(Error::Replayed) => println!("   refused: {}", Error::Replayed),
        other => return Err(format!("expected a replay, got {other:?}").into()),
    }

    println!("\n5. Recovery codes: shown once, stored as argon2id hashes.");
    let codes = mfa.generate_recovery_codes(&alice, &fresh).await?;
    for c in codes.codes().iter().take(3) {
        println!("   {}", c.expose());
    }
    println!("   ... {} in all", codes.len());
    mfa.verify_recovery_code(&alice, codes.codes()[0].expose()).await?;
    println!("   one used; {} remain", mfa.recovery_codes_remaining(&alice).await?);

    println!("\n6. Someone guesses codes: the factor locks after 5 consecutive failures (the replay was one).");
    for i in 1..=6 {
        match mfa.verify(&alice, &app.id, &Proof::code("000000")?).await {
            Err(Error::Locked { retry_after }) => {
                println!("   guess {i}: locked, retry in {} s", retry_after.as_secs());
                break;
            }
            Err(e) => println!("   guess {i}: {e}"),
            Ok(_) => println!("   guess {i}: a lucky guess (1 in a million)"),
        }
    }
    println!("\nDone.");
    Ok(())
}

fn png_len(secret: &mfa_core::SharedSecretPrompt) -> usize {
    secret.qr_png.as_ref().map_or(0, |png| png.len())
}
