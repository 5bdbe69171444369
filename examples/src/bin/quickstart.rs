//! A terminal walk-through of the service on the in-memory store: enrol a factor, sign in
//! with it, see replay protection and throttling work, and use a recovery code.
//!
//! Run with `cargo run -p mfa-examples`.
//!
//! The factor here is the test adapter from `mfa_core::testing` (its code is its secret),
//! because the authenticator-app and security-key adapters live in `mfa-otp` and
//! `mfa-webauthn`. Every other part — store, sealing, throttling, replay markers, recovery
//! codes, events — is the real thing.

use std::error::Error as StdError;

use mfa_core::testing::{FAKE, FakeFactor};
use mfa_core::{AeadSealer, EnrolmentRequest, Error, FreshAuth, Mfa, Policy, Prompt, Proof, UserId};
use mfa_store_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    // Audit events go to the terminal through `tracing`.
    tracing_subscriber::fmt().with_target(false).without_time().init();

    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral()?)
        .factor(FakeFactor::new())
        .policy(Policy::default())
        .build()?;

    let alice = UserId::new("alice")?;
    println!("\n1. Alice re-enters her password and adds a factor.");
    let fresh = FreshAuth::primary(mfa.now());
    let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FAKE).label("Demo factor")).await?;
    let Prompt::SharedSecret(secret) = &start.prompt else {
        return Err("unexpected prompt".into());
    };
    println!("   pending factor {} ({}), expires in 10 minutes", start.factor.id, start.factor.label);
    let code = FakeFactor::code_for(secret, Some(1));
    let factor = mfa.finish_enrolment(&alice, &start.factor.id, &Proof::code(&code)?).await?;
    println!("   confirmed: {:?}, preferred = {}", factor.status, factor.preferred);

    println!("\n2. Alice signs in: the preferred factor is challenged.");
    let challenge = mfa.start_challenge(&alice, None).await?;
    let code = FakeFactor::code_for(secret, Some(2));
    let verified = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&code)?).await?;
    println!("   verified with assurance {:?} at {:?}", verified.assurance, verified.at);

    println!("\n3. The same code again is a replay.");
    match mfa.verify(&alice, &factor.id, &Proof::code(&code)?).await {
        Err(Error::Replayed) => println!("   refused: {}", Error::Replayed),
        other => return Err(format!("expected a replay, got {other:?}").into()),
    }

    println!("\n4. Recovery codes (shown once, stored as argon2id hashes).");
    let fresh = FreshAuth::primary(mfa.now()).with_mfa(verified.at);
    let codes = mfa.generate_recovery_codes(&alice, &fresh).await?;
    for c in codes.codes().iter().take(3) {
        println!("   {}", c.expose());
    }
    println!("   ... {} in all", codes.len());
    mfa.verify_recovery_code(&alice, codes.codes()[0].expose()).await?;
    println!("   one used; {} remain", mfa.recovery_codes_remaining(&alice).await?);

    println!("\n5. Someone guesses: after 5 consecutive failures (the replay was one) the factor locks.");
    for i in 1..=6 {
        match mfa.verify(&alice, &factor.id, &Proof::code("wrong-guess")?).await {
            Err(Error::Locked { retry_after }) => {
                println!("   guess {i}: locked, retry in {} s", retry_after.as_secs());
                break;
            }
            Err(e) => println!("   guess {i}: {e}"),
            Ok(_) => return Err("a wrong guess verified".into()),
        }
    }
    println!("\nDone.");
    Ok(())
}
