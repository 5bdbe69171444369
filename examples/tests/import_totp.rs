#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `import-totp` command on the sample files: the factors arrive active in the SQLite
//! database, sealed with the key beside it, verify the apps' codes at once, refuse the last
//! code the old system accepted, and a second run skips them.

use std::process::Command;

use mfa_core::{Clock, FactorKind, FactorStatus, ManualClock, Mfa, Proof, Timestamp, UserId};
use mfa_otp::{Algorithm, TotpFactor};

fn run(database: &str, file: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_import-totp"))
        .args(["--database", database, file])
        .output()
        .expect("the command runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn data(name: &str) -> String {
    format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn check(format: &str) {
    let dir = std::env::temp_dir().join(format!("mfa-import-{format}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("accounts.db");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(dir.join("accounts.db.seal-key"));
    let database = format!("sqlite://{}?mode=rwc", db.display());
    let file = data(&format!("totp-import.{format}"));

    let (ok, report) = run(&database, &file);
    assert!(ok, "{report}");
    assert!(report.contains("imported 2, skipped 0, refused 0"), "{report}");
    assert!(!report.contains("GEZDGNBV"), "the report never shows a secret");

    // The service My Account would run on the same database and key.
    let store = mfa_examples::open_store(&database).await.unwrap();
    let sealer = mfa_examples::sealer(None, &database).unwrap();
    // Bob's old system last accepted step 56 666 666: at that step his code is a replay.
    let clock = ManualClock::new(Timestamp::from_unix_secs(56_666_666 * 30 + 5));
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .sealer(sealer)
        .clock(clock.clone())
        .factor(TotpFactor::new("My Account").unwrap())
        .build()
        .unwrap();
    let now = || clock.now().unix_secs() as u64;
    for (name, secret, algorithm, digits) in [
        ("alice", b"12345678901234567890".to_vec(), Algorithm::Sha1, 6),
        ("bob", b"12345678901234567890123456789012".to_vec(), Algorithm::Sha256, 8),
    ] {
        let user = UserId::new(name).unwrap();
        let factors = store.list_factors(&user).await.unwrap();
        assert_eq!(factors.len(), 1);
        let factor = &factors[0];
        assert_eq!(
            (factor.kind.clone(), factor.status, factor.preferred),
            (FactorKind::TOTP, FactorStatus::Active, true)
        );
        let app = TotpFactor::builder("x").algorithm(algorithm).digits(digits).build().unwrap();
        let code = app.code_at(&secret, now()).unwrap();
        let result = mfa.verify(&user, &factor.id, &Proof::code(&code).unwrap()).await;
        if name == "bob" {
            assert!(matches!(result, Err(mfa_core::Error::Replayed)), "{result:?}");
            clock.advance(std::time::Duration::from_secs(30));
            let next = app.code_at(&secret, now()).unwrap();
            mfa.verify(&user, &factor.id, &Proof::code(&next).unwrap()).await.unwrap();
        } else {
            result.unwrap();
        }
    }

    let (ok, report) = run(&database, &file);
    assert!(ok, "{report}");
    assert!(report.contains("imported 0, skipped 2, refused 0"), "a second run skips: {report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_csv_sample_imports() {
    check("csv").await;
}

#[tokio::test]
async fn the_json_sample_imports() {
    check("json").await;
}

#[test]
fn bad_lines_are_reported_by_number_and_fail_the_run() {
    let dir = std::env::temp_dir().join(format!("mfa-import-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.csv");
    std::fs::write(
        &file,
        "user,secret,digits,period,algorithm,last_used_step,label\n\
         carol,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,7,,,,\n\
         dave,not-base32,,,,,\n\
         erin,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,,,,,\n",
    )
    .unwrap();
    let (ok, report) = run("memory", file.to_str().unwrap());
    assert!(!ok);
    assert!(report.contains("line 2: carol refused: invalid_input"), "{report}");
    assert!(report.contains("line 3: dave refused: secret: not base32"), "{report}");
    assert!(report.contains("imported 1, skipped 0, refused 2"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
