//! My Account's authenticator policy flags: what it says it accepts at start, from the
//! command line and from the environment, and the files it refuses to start with (the
//! reason names the file). The policy itself is tested in `tests/tests/passkey_policy.rs`
//! and against real-device recordings in `mfa-webauthn/tests/recordings.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ROOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mfa-webauthn/tests/data/roots");

/// My Account with `args` and `env`, its environment otherwise free of its policy variables.
fn myaccount(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_myaccount"));
    command.args(["--port", "0"]).args(args);
    for name in ["MYACCOUNT_ATTESTATION_ROOTS", "MYACCOUNT_FIDO_METADATA", "MYACCOUNT_REFUSE_SYNCED_PASSKEYS"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// What it says it accepts once it is listening; then it is stopped.
fn accepted(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = myaccount(args, env).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let said = lines
        .map(Result::unwrap)
        .find_map(|line| line.strip_prefix("security keys and passkeys accepted: ").map(str::to_owned));
    let _ = child.kill();
    let _ = child.wait();
    said.expect("it says which security keys and passkeys it accepts")
}

/// Why it would not start.
fn refused(args: &[&str]) -> String {
    let output = myaccount(args, &[]).stdin(Stdio::null()).output().unwrap();
    assert!(!output.status.success(), "it started with {args:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn by_default_any_model_and_synced_passkeys_are_accepted() {
    assert_eq!(accepted(&[], &[]), "any model, synced passkeys too");
}

#[test]
fn listed_roots_and_device_bound_only_from_flags_or_environment() {
    let apple = format!("{ROOTS}/apple-webauthn-root-ca.pem");
    let yubico = format!("{ROOTS}/yubico-u2f-root-ca-serial-457200631.pem");
    let both = [("--attestation-root", &apple), ("--attestation-root", &yubico)];
    let args: Vec<&str> = both.iter().flat_map(|(flag, file)| [*flag, file.as_str()]).collect();
    let flags = accepted(&[args.as_slice(), &["--refuse-synced-passkeys"]].concat(), &[]);
    assert_eq!(flags, "attested by one of 2 listed roots, device-bound only");

    let list = format!("{apple} {yubico}");
    let env = [("MYACCOUNT_ATTESTATION_ROOTS", list.as_str()), ("MYACCOUNT_REFUSE_SYNCED_PASSKEYS", "1")];
    assert_eq!(accepted(&[], &env), flags, "the environment says the same");
    let not_one = [("MYACCOUNT_REFUSE_SYNCED_PASSKEYS", "yes")];
    assert_eq!(accepted(&[], &not_one), "any model, synced passkeys too", "only 1 turns it on");
}

#[test]
fn a_root_that_is_not_a_certificate_stops_the_start() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let why = refused(&["--attestation-root", manifest]);
    assert!(why.contains(manifest), "names the file: {why}");
    let missing = format!("{ROOTS}/missing.pem");
    let why = refused(&["--attestation-root", &missing]);
    assert!(why.contains(&missing), "names the file: {why}");
}

#[test]
fn fido_metadata_that_is_not_a_signed_blob_stops_the_start() {
    // The fixture is the metadata's JSON without the signature the service puts around it.
    let unsigned = concat!(env!("CARGO_MANIFEST_DIR"), "/../mfa-webauthn/tests/data/mds/yubikey-5ci-revoked.json");
    let why = refused(&["--fido-metadata", unsigned]);
    assert!(why.contains(unsigned), "names the file: {why}");
}
