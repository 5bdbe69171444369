//! **My Account**: a small web app with a security page and MFA sign-in, built on
//! mfa-axum: the host keeps its accounts and password sign-in (`accounts.rs`, `app.rs`);
//! the second step, the security page's JSON endpoints, the route guard and the browser's
//! WebAuthn calls are the library's. The page is `page.html` and `app.js`.
//!
//! ```text
//! cargo run -p mfa-examples                      # in-memory store, http://localhost:8080
//! cargo run -p mfa-examples -- --port 3000
//! cargo run -p mfa-examples -- --database sqlite://myaccount.db
//! cargo run -p mfa-examples -- --database postgres://user@127.0.0.1/db
//! ```
//!
//! Options (each also read from the environment variable named after it):
//! - `--port N` (env `MYACCOUNT_PORT`): the port on 127.0.0.1 (default 8080; 0 picks a free one).
//! - `--database URL` (env `MYACCOUNT_DATABASE`): `memory` (default), `sqlite://PATH` or
//!   `postgres://...`. The accounts (the host's part, a table of the example's own) and the
//!   MFA state both go there, so with a database users sign in again after a restart.
//! - `--seal-key HEX` (env `MYACCOUNT_SEAL_KEY`): the 32-byte key sealing secrets at rest.
//!   Without it: with SQLite, a key kept in a file beside the database (`PATH.seal-key`,
//!   readable by its owner only: fine for development; keep production keys in a secret
//!   manager); otherwise a random key, so sealed secrets do not survive a restart.
//! - `--reauth-window SECS` (env `MYACCOUNT_REAUTH_WINDOW`): how long a password stays
//!   fresh for changes to sign-in settings (default 300); after it, the page asks again.
//! - `--dev-outbox` (env `MYACCOUNT_DEV_OUTBOX=1`): serves the codes the development sender
//!   "sent" as JSON at `/dev/outbox`, for automated tests. Never in production.
//!
//! SMS and email codes are not sent anywhere: the development sender prints them (to
//! standard error, apart from the log). Open the printed URL (`localhost`, a secure context
//! for WebAuthn) in a browser.

mod accounts;
mod app;

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use mfa_axum::MfaHttp;
use mfa_core::{AeadSealer, Mfa, Settings, seal::KeyId, store::Store};
use mfa_otp::{DevConsoleSender, EmailFactor, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use mfa_store_sql::{PostgresStore, SqliteStore};
use mfa_webauthn::WebauthnFactor;

use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer, cookie::time::Duration as CookieAge};

use crate::accounts::{Accounts, Database};

const APP_NAME: &str = "My Account";

struct Options {
    port: u16,
    database: String,
    seal_key: Option<String>,
    dev_outbox: bool,
    reauth_window: Option<u64>,
}

fn options() -> Result<Options, Box<dyn StdError>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut o = Options {
        port: env("MYACCOUNT_PORT").map(|p| p.parse()).transpose()?.unwrap_or(8080),
        database: env("MYACCOUNT_DATABASE").unwrap_or_else(|| "memory".into()),
        seal_key: env("MYACCOUNT_SEAL_KEY"),
        dev_outbox: env("MYACCOUNT_DEV_OUTBOX").is_some_and(|v| v == "1"),
        reauth_window: env("MYACCOUNT_REAUTH_WINDOW").map(|s| s.parse()).transpose()?,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => o.port = value()?.parse()?,
            "--database" => o.database = value()?,
            "--seal-key" => o.seal_key = Some(value()?),
            "--dev-outbox" => o.dev_outbox = true,
            "--reauth-window" => o.reauth_window = Some(value()?.parse()?),
            "--help" | "-h" => {
                println!(
                    "usage: myaccount [--port N] [--database memory|sqlite://PATH|postgres://URL] [--seal-key HEX] [--reauth-window SECS] [--dev-outbox]\n\n  --database  where accounts and MFA state live (memory: lost at exit)\n  --seal-key  the key sealing secrets at rest (SQLite: kept beside the database if not given)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other} (try --help)").into()),
        }
    }
    Ok(o)
}

/// The MFA store and the host's accounts, in the same database.
async fn open(url: &str) -> Result<(Arc<dyn Store>, Accounts), Box<dyn StdError>> {
    let (store, database): (Arc<dyn Store>, Database) = if url == "memory" {
        (Arc::new(MemoryStore::new()), Database::Memory(Mutex::default()))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.migrate().await?;
        let pool = store.pool().clone();
        (Arc::new(store), Database::Sqlite(pool))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url).await?;
        store.migrate().await?;
        let pool = store.pool().clone();
        (Arc::new(store), Database::Postgres(pool))
    } else {
        return Err(format!("unsupported database {url:?}: use memory, sqlite://PATH or postgres://URL").into());
    };
    Ok((store, Accounts::open(database).await?))
}

fn sealer(hex: Option<&str>, database: &str) -> Result<AeadSealer, Box<dyn StdError>> {
    let hex = match (hex, sqlite_path(database)) {
        (Some(hex), _) => hex.to_owned(),
        (None, Some(path)) => key_file(&format!("{path}.seal-key"))?,
        (None, None) => return Ok(AeadSealer::ephemeral()?),
    };
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(hex.trim().as_bytes())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| "the seal key must be 32 bytes (64 hex digits)")?;
    Ok(AeadSealer::new(KeyId(1), key))
}

/// The file of a `sqlite:` URL, if it names one.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The sealing key kept in `file` (hex), created on first use, readable by its owner only.
fn key_file(file: &str) -> Result<String, Box<dyn StdError>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(file) {
        Ok(hex) => return Ok(hex),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        Err(_) => {}
    }
    let mut key = [0u8; 32];
    mfa_core::secret::fill_random(&mut key)?;
    let hex = data_encoding::HEXLOWER.encode(&key);
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?.write_all(hex.as_bytes())?;
    println!("a new sealing key is kept in {file} (development only: keep production keys in a secret manager)");
    Ok(hex)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    tracing_subscriber::fmt().with_target(false).init();
    let o = options()?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", o.port)).await {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!("port {} is in use (another My Account?): pick another with --port N", o.port).into());
        }
        bound => bound?,
    };
    let origin = format!("http://localhost:{}", listener.local_addr()?.port());

    let outbox = DevConsoleSender::new();
    let (store, accounts) = open(&o.database).await?;
    let mut settings = Settings::default();
    if let Some(secs) = o.reauth_window {
        settings.reauth_window = std::time::Duration::from_secs(secs);
    }
    let mfa = Mfa::builder()
        .settings(settings)
        .shared_store(store)
        .sealer(sealer(o.seal_key.as_deref(), &o.database)?)
        .factor(TotpFactor::new(APP_NAME)?)
        .factor(SmsFactor::builder(outbox.clone(), OobKey::ephemeral()?).app_name(APP_NAME).build()?)
        .factor(EmailFactor::builder(outbox.clone(), OobKey::ephemeral()?).app_name(APP_NAME).build()?)
        .factor(WebauthnFactor::builder("localhost", APP_NAME, &origin).build()?)
        .build()?;
    // Plain HTTP on localhost: cookies without `Secure` (never in production).
    let http = MfaHttp::new(mfa, accounts.clone()).insecure_cookies_for_localhost();
    let sessions = SessionManagerLayer::new(Sessions::default())
        .with_secure(false)
        .with_expiry(tower_sessions::Expiry::OnInactivity(CookieAge::hours(8)));
    let outbox = o.dev_outbox.then_some(outbox);
    let app = app::router(app::App { http, accounts, outbox }).layer(sessions);

    println!("{APP_NAME} is running at {origin}/ (database: {})", o.database);
    if o.dev_outbox {
        println!("development outbox at {origin}/dev/outbox?to=...");
    }
    axum::serve(listener, app).await?;
    Ok(())
}
