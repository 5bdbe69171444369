//! A terminal walk-through of enrolment: add an authenticator app by scanning a QR code
//! drawn in the terminal, confirm it with a code, then get recovery codes and use one.
//!
//! ```text
//! cargo run -p mfa-examples --bin enrol          # asks you for the codes
//! cargo run -p mfa-examples --bin enrol -- --auto # plays the app itself (for CI)
//! ```
//!
//! Without a terminal on standard input it plays the user's part itself, as with `--auto`.

use std::error::Error as StdError;
use std::io::{BufRead, IsTerminal, Write};

use mfa_core::{AeadSealer, EnrolmentRequest, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;
use qrcodegen::{QrCode, QrCodeEcc};

/// Draws a QR code with half-block characters: two modules per character cell, with the
/// quiet zone the standard asks for.
fn draw(qr: &QrCode) -> String {
    let border = 4;
    let size = qr.size();
    let dark = |x: i32, y: i32| qr.get_module(x, y);
    let mut out = String::new();
    for y in (-border..size + border).step_by(2) {
        for x in -border..size + border {
            // Light on dark terminals and dark on light ones both scan: draw light modules.
            out.push(match (dark(x, y), dark(x, y + 1)) {
                (true, true) => ' ',
                (true, false) => '▄',
                (false, true) => '▀',
                (false, false) => '█',
            });
        }
        out.push('\n');
    }
    out
}

fn ask(prompt: &str) -> Result<String, Box<dyn StdError>> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let auto = std::env::args().any(|a| a == "--auto") || !std::io::stdin().is_terminal();
    let totp = TotpFactor::new("mfa-rs enrol example")?;
    let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).factor(totp.clone()).build()?;
    let user = UserId::new("you")?;
    let fresh = FreshAuth::primary(mfa.now());

    let request = EnrolmentRequest::new(FactorKind::TOTP).account_name("you@example.com");
    let start = mfa.start_enrolment(&user, &fresh, request).await?;
    let Prompt::SharedSecret(secret) = &start.prompt else { return Err("unexpected prompt".into()) };
    let qr = QrCode::encode_text(secret.uri.expose(), QrCodeEcc::Medium)?;
    println!("Scan this with your authenticator app:\n\n{}", draw(&qr));
    println!("or type the key: {}\n", secret.secret_base32.expose());

    let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    let now = u64::try_from(mfa.now().unix_secs())?;
    let factor = loop {
        let code = if auto {
            let code = totp.code_at(&key, now)?;
            println!("Code from the app: {code}");
            code
        } else {
            ask("Enter the 6-digit code your app shows: ")?
        };
        match Proof::code(&code) {
            Ok(proof) => match mfa.finish_enrolment(&user, &fresh, &start.factor.id, &proof).await {
                Ok(factor) => break factor,
                Err(e) if !auto => println!("  {e}; try again"),
                Err(e) => return Err(e.into()),
            },
            Err(e) if !auto => println!("  {e}; try again"),
            Err(e) => return Err(e.into()),
        }
    };
    println!("\n\"{}\" is set up and is your preferred second step.\n", factor.label);

    // A change after the first factor needs a recent second step: the enrolment code counts
    // as one here, as it proved the app.
    let fresh = fresh.with_mfa(mfa.now());
    let codes = mfa.generate_recovery_codes(&user, &fresh).await?;
    println!("Your recovery codes (shown once; keep them safe):");
    for code in codes.codes() {
        println!("  {}", code.expose());
    }
    let typed = if auto { codes.codes()[0].expose().to_owned() } else { ask("\nType one of them to try it: ")? };
    mfa.verify_recovery_code(&user, &typed).await?;
    println!("Accepted. {} recovery codes remain; that one is used up.", mfa.recovery_codes_remaining(&user).await?);
    Ok(())
}
