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
//! cargo run -p mfa-examples -- --also-port 8081 --origin http://localhost:8081
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
//! - `--origin URL`, repeated (env `MYACCOUNT_ORIGINS`, separated by spaces or commas):
//!   another origin passkeys and security keys are accepted from, besides
//!   `http://localhost:PORT` (the relying party stays `localhost`): another port or
//!   subdomain that serves this app, or a mobile app's origin
//!   (`android:apk-key-hash:<base64url of the SHA-256 of its signing certificate>`). A
//!   credential made or used on an origin not listed is refused (`code_invalid`).
//! - `--also-port N`, repeated (env `MYACCOUNT_ALSO_PORTS`): the same app (same accounts,
//!   same sessions) also listens on 127.0.0.1:N. Its origin `http://localhost:N` is not
//!   accepted for passkeys unless listed with `--origin`.
//! - Which security keys and passkeys are accepted (default: any whose registration
//!   verifies); see `mfa_webauthn::AuthenticatorPolicy`:
//!   - `--attestation-root FILE`, repeated (env `MYACCOUNT_ATTESTATION_ROOTS`): a PEM root
//!     certificate; registrations must then be attested by one of the listed roots.
//!   - `--fido-metadata FILE` (env `MYACCOUNT_FIDO_METADATA`): the FIDO Metadata Service
//!     blob as downloaded from <https://mds3.fidoalliance.org/> (its signature is checked),
//!     to name models in the device list and refuse revoked or compromised ones.
//!   - `--refuse-synced-passkeys` (env `MYACCOUNT_REFUSE_SYNCED_PASSKEYS=1`): refuse
//!     backup-eligible credentials (passkeys a platform syncs to other devices).
//! - `--dev-outbox` (env `MYACCOUNT_DEV_OUTBOX=1`): serves the codes the development sender
//!   "sent" as JSON at `/dev/outbox`, for automated tests. Never in production.
//! - env `MYACCOUNT_ADMIN_PASSWORD` (an environment variable only, never on the command
//!   line): the password of the help desk's account, `admin`, who finds users, reads their
//!   MFA status, resets it, unlocks it and issues temporary access codes from the page. The
//!   account always exists (nobody can sign up as `admin`); without the variable nobody can
//!   sign in to it. The Administration section needs 2-step verification of its own: the
//!   help desk adds a method (an authenticator app, a text message or a security device;
//!   email does not count) and verifies it at sign-in, again after an hour.
//! - env `MYACCOUNT_METRICS_TOKEN` (an environment variable only, at least 16 characters):
//!   serves Prometheus metrics at `/metrics` to requests with `Authorization: Bearer
//!   <token>`; without the variable, or without the token, `/metrics` answers 404
//!   (`metrics.rs`).
//!
//! SMS and email codes are not sent anywhere: the development sender prints them (to
//! standard error, apart from the log), in German for a browser that prefers German
//! (`Accept-Language`), else in English. Open the printed URL (`localhost`, a secure context
//! for WebAuthn) in a browser.

mod accounts;
mod app;
mod metrics;

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use mfa_axum::MfaHttp;
use mfa_core::admin::Administrators;
use mfa_core::{AccessPolicy, Mfa, SecretString, Settings, UserId, store::Store};
use mfa_otp::{DevConsoleSender, EmailFactor, MessageTemplate, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use mfa_store_sql::{PostgresStore, SqliteStore};
use mfa_webauthn::{AuthenticatorPolicy, Metadata, WebauthnFactor};

use tower_sessions::{MemoryStore as Sessions, SessionManagerLayer, cookie::time::Duration as CookieAge};

use crate::accounts::{Accounts, Database};

const APP_NAME: &str = "My Account";

// Codes go out in the user's language: German for a browser that prefers it (`de`, `de-CH`,
// ...), English, built in, for everyone else.
const SMS_DE: &str = "{code} ist Ihr Bestätigungscode für {app}. Er läuft in {minutes} Minuten ab.";
const EMAIL_SUBJECT_DE: &str = "Ihr Bestätigungscode für {app}";
const EMAIL_DE: &str = "Ihr Bestätigungscode für {app} lautet {code}.\n\nEr läuft in {minutes} Minuten ab. Wenn \
                        Sie ihn nicht angefordert haben, kennt vielleicht jemand Ihr Passwort: Ändern Sie es.";

struct Options {
    port: u16,
    database: String,
    seal_key: Option<String>,
    dev_outbox: bool,
    reauth_window: Option<u64>,
    origins: Vec<String>,
    also_ports: Vec<u16>,
    attestation_roots: Vec<String>,
    fido_metadata: Option<String>,
    refuse_synced_passkeys: bool,
}

/// The items of a list in an environment variable, separated by spaces or commas.
fn list(value: Option<String>) -> Vec<String> {
    let value = value.unwrap_or_default();
    value.split([' ', ',']).filter(|item| !item.is_empty()).map(str::to_owned).collect()
}

fn options() -> Result<Options, Box<dyn StdError>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut o = Options {
        port: env("MYACCOUNT_PORT").map(|p| p.parse()).transpose()?.unwrap_or(8080),
        database: env("MYACCOUNT_DATABASE").unwrap_or_else(|| "memory".into()),
        seal_key: env("MYACCOUNT_SEAL_KEY"),
        dev_outbox: env("MYACCOUNT_DEV_OUTBOX").is_some_and(|v| v == "1"),
        reauth_window: env("MYACCOUNT_REAUTH_WINDOW").map(|s| s.parse()).transpose()?,
        origins: list(env("MYACCOUNT_ORIGINS")),
        also_ports: list(env("MYACCOUNT_ALSO_PORTS")).iter().map(|p| p.parse()).collect::<Result<_, _>>()?,
        attestation_roots: list(env("MYACCOUNT_ATTESTATION_ROOTS")),
        fido_metadata: env("MYACCOUNT_FIDO_METADATA"),
        refuse_synced_passkeys: env("MYACCOUNT_REFUSE_SYNCED_PASSKEYS").is_some_and(|v| v == "1"),
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
            "--origin" => o.origins.push(value()?),
            "--also-port" => o.also_ports.push(value()?.parse()?),
            "--attestation-root" => o.attestation_roots.push(value()?),
            "--fido-metadata" => o.fido_metadata = Some(value()?),
            "--refuse-synced-passkeys" => o.refuse_synced_passkeys = true,
            "--help" | "-h" => {
                println!(
                    "usage: myaccount [--port N] [--database memory|sqlite://PATH|postgres://URL] [--seal-key HEX] [--reauth-window SECS] [--origin URL]... [--also-port N]... [--attestation-root PEM]... [--fido-metadata FILE] [--refuse-synced-passkeys] [--dev-outbox]\n\n  --database   where accounts and MFA state live (memory: lost at exit)\n  --seal-key   the key sealing secrets at rest (SQLite: kept beside the database if not given)\n  --origin     another origin passkeys are accepted from (repeat it; the relying party stays localhost)\n  --also-port  the same app also listens on this port (repeat it); its origin needs --origin too\n  --attestation-root  accept only security keys and passkeys attested by this root (PEM file; repeat it)\n  --fido-metadata     the FIDO Metadata Service blob: names models, refuses revoked ones\n  --refuse-synced-passkeys  accept only device-bound credentials"
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    tracing_subscriber::fmt().with_target(false).init();
    let o = options()?;
    let listener = listen(o.port).await?;
    let origin = format!("http://localhost:{}", listener.local_addr()?.port());
    let mut also = Vec::new();
    for port in &o.also_ports {
        also.push(listen(*port).await?);
    }

    let metrics = metrics::Metrics::from_env()?;
    let outbox = DevConsoleSender::new();
    let (store, accounts) = open(&o.database).await?;
    let admin_password = std::env::var("MYACCOUNT_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    accounts.ensure_admin(admin_password.map(SecretString::from).as_ref()).await?;
    let mut settings = Settings::default();
    if let Some(secs) = o.reauth_window {
        settings.reauth_window = std::time::Duration::from_secs(secs);
    }
    let (passkeys, accepted) = passkeys(&origin, &o)?;
    let mfa = Mfa::builder()
        .settings(settings)
        .store(metrics::MeteredStore::new(store))
        .events(metrics::MetricsSink::new(mfa_core::TracingEventSink))
        .sealer(mfa_examples::sealer(o.seal_key.as_deref(), &o.database)?)
        .factor(TotpFactor::new(APP_NAME)?)
        .factor(
            SmsFactor::builder(metrics::MeteredSender::new(outbox.clone()), OobKey::ephemeral()?)
                .app_name(APP_NAME)
                .template_for("de", MessageTemplate::new("", SMS_DE)?)
                .build()?,
        )
        .factor(
            EmailFactor::builder(metrics::MeteredSender::new(outbox.clone()), OobKey::ephemeral()?)
                .app_name(APP_NAME)
                .template_for("de", MessageTemplate::new(EMAIL_SUBJECT_DE, EMAIL_DE)?)
                .build()?,
        )
        .factor(passkeys)
        .admin_check(Administrators::new([UserId::new(accounts::ADMIN)?]))
        .build()?;
    // Plain HTTP on localhost: cookies without `Secure` (never in production). The help desk
    // needs a second factor verified in the session (mfa-axum asks that of every
    // administrator), here within the hour.
    let help_desk = AccessPolicy::default().max_verification_age(std::time::Duration::from_secs(60 * 60));
    let http = MfaHttp::new(mfa, accounts.clone()).insecure_cookies_for_localhost().admin_policy(help_desk);
    let sessions = SessionManagerLayer::new(Sessions::default())
        .with_secure(false)
        .with_expiry(tower_sessions::Expiry::OnInactivity(CookieAge::hours(8)));
    let outbox = o.dev_outbox.then_some(outbox);
    let app = app::router(app::App { http, accounts, outbox }).layer(sessions).merge(metrics.router());

    println!("{APP_NAME} is running at {origin}/ (database: {})", o.database);
    for extra in &also {
        println!("also at http://localhost:{}/", extra.local_addr()?.port());
    }
    println!(
        "passkeys and security keys accepted from: {}",
        [origin.as_str()].into_iter().chain(o.origins.iter().map(String::as_str)).collect::<Vec<_>>().join(", ")
    );
    println!("security keys and passkeys accepted: {accepted}");
    if o.dev_outbox {
        println!("development outbox at {origin}/dev/outbox?to=...");
    }
    if metrics.enabled() {
        println!("Prometheus metrics at {origin}/metrics, for the bearer token in MYACCOUNT_METRICS_TOKEN");
    }
    // With connect info, the events of each request carry the client's address. Every
    // listener serves the same app; the first to fail stops the program.
    let mut servers = tokio::task::JoinSet::new();
    for listener in std::iter::once(listener).chain(also) {
        let app = app.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
        servers.spawn(async move { axum::serve(listener, app).await });
    }
    while let Some(served) = servers.join_next().await {
        served??;
    }
    Ok(())
}

/// Listens on 127.0.0.1:`port`.
async fn listen(port: u16) -> Result<tokio::net::TcpListener, Box<dyn StdError>> {
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(format!("port {port} is in use (another My Account?): pick another with --port N").into())
        }
        bound => Ok(bound?),
    }
}

/// Passkeys and security keys for the relying party `localhost`, used from `origin` and
/// the listed origins, under the configured authenticator policy; and that policy in words.
fn passkeys(origin: &str, o: &Options) -> Result<(WebauthnFactor, String), Box<dyn StdError>> {
    let mut policy = AuthenticatorPolicy::any().refuse_backup_eligible(o.refuse_synced_passkeys);
    let mut said = vec![match o.attestation_roots.len() {
        0 => "any model".to_owned(),
        n => format!("attested by one of {n} listed roots"),
    }];
    for file in &o.attestation_roots {
        let pem = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        policy = policy.trust_ca_pem(&pem).map_err(|e| format!("{file}: {e}"))?;
    }
    if let Some(file) = &o.fido_metadata {
        let blob = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let metadata = Metadata::from_blob(&blob).map_err(|e| format!("{file}: {e}"))?;
        said.push(format!(
            "not revoked in FIDO metadata no. {} ({} models, next update {})",
            metadata.serial(),
            metadata.len(),
            metadata.next_update()
        ));
        policy = policy.metadata(metadata);
    }
    said.push(if o.refuse_synced_passkeys { "device-bound only" } else { "synced passkeys too" }.to_owned());
    let mut builder = WebauthnFactor::builder("localhost", APP_NAME, origin).policy(policy);
    for other in &o.origins {
        builder = builder.allow_origin(other);
    }
    let factor = builder.build().map_err(|e| format!("{e} (check --origin)"))?;
    Ok((factor, said.join(", ")))
}
