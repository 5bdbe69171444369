//! **My Account**: a small web app with a security page and MFA sign-in, showing how a
//! host wires mfa-rs into an axum service.
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
//! - `--dev-outbox` (env `MYACCOUNT_DEV_OUTBOX=1`): serves the codes the development sender
//!   "sent" as JSON at `/dev/outbox`, for automated tests. Never in production.
//!
//! SMS and email codes are not sent anywhere: the development sender prints them in this
//! terminal. Open the printed URL (`localhost`, a secure context for WebAuthn) in a browser.

mod accounts;
mod pages;
mod second_step;
mod security;
mod session;
mod signin;
mod web;

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use mfa_core::{AeadSealer, Mfa, seal::KeyId, store::Store};
use mfa_otp::{DevConsoleSender, EmailFactor, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use mfa_store_sql::{PostgresStore, SqliteStore};
use mfa_webauthn::WebauthnFactor;

use crate::accounts::{Accounts, Database};

const APP_NAME: &str = "My Account";

struct Options {
    port: u16,
    database: String,
    seal_key: Option<String>,
    dev_outbox: bool,
}

fn options() -> Result<Options, Box<dyn StdError>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut o = Options {
        port: env("MYACCOUNT_PORT").map(|p| p.parse()).transpose()?.unwrap_or(8080),
        database: env("MYACCOUNT_DATABASE").unwrap_or_else(|| "memory".into()),
        seal_key: env("MYACCOUNT_SEAL_KEY"),
        dev_outbox: env("MYACCOUNT_DEV_OUTBOX").is_some_and(|v| v == "1"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => o.port = value()?.parse()?,
            "--database" => o.database = value()?,
            "--seal-key" => o.seal_key = Some(value()?),
            "--dev-outbox" => o.dev_outbox = true,
            "--help" | "-h" => {
                println!(
                    "usage: myaccount [--port N] [--database memory|sqlite://PATH|postgres://URL] [--seal-key HEX] [--dev-outbox]\n\n  --database  where accounts and MFA state live (memory: lost at exit)\n  --seal-key  the key sealing secrets at rest (SQLite: kept beside the database if not given)"
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
    let (store, accounts): (Arc<dyn Store>, Accounts) = if url == "memory" {
        (Arc::new(MemoryStore::new()), Accounts::Memory(Mutex::default()))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.migrate().await?;
        let accounts = Accounts::Database(Database::Sqlite(store.pool().clone()));
        (Arc::new(store), accounts)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url).await?;
        store.migrate().await?;
        let accounts = Accounts::Database(Database::Postgres(store.pool().clone()));
        (Arc::new(store), accounts)
    } else {
        return Err(format!("unsupported database {url:?}: use memory, sqlite://PATH or postgres://URL").into());
    };
    accounts.migrate().await?;
    Ok((store, accounts))
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.port)).await?;
    let port = listener.local_addr()?.port();
    let origin = format!("http://localhost:{port}");

    let outbox = DevConsoleSender::new();
    let (store, accounts) = open(&o.database).await?;
    let mfa = Mfa::builder()
        .shared_store(store)
        .sealer(sealer(o.seal_key.as_deref(), &o.database)?)
        .factor(TotpFactor::new(APP_NAME)?)
        .factor(SmsFactor::builder(outbox.clone(), OobKey::ephemeral()?).app_name(APP_NAME).build()?)
        .factor(EmailFactor::builder(outbox.clone(), OobKey::ephemeral()?).app_name(APP_NAME).build()?)
        .factor(WebauthnFactor::builder("localhost", APP_NAME, &origin).build()?)
        .build()?;
    let app = web::router(web::App::new(mfa, accounts, outbox, o.dev_outbox));

    println!("{APP_NAME} is running at {origin}/ (database: {})", o.database);
    if o.dev_outbox {
        println!("development outbox at {origin}/dev/outbox");
    }
    axum::serve(listener, app).await?;
    Ok(())
}
