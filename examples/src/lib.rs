//! Runnable examples of the mfa-rs toolkit. See `src/bin/`. What more than one example
//! needs lives here: opening the store a database URL names, and the sealing key beside it.

use std::error::Error as StdError;
use std::sync::Arc;

use mfa_core::{AeadSealer, seal::KeyId, store::Store};
use mfa_store_memory::MemoryStore;
use mfa_store_sql::{PostgresStore, SqliteStore};

/// The MFA store a URL names (`memory`, `sqlite://PATH`, `postgres://...`), migrated.
///
/// # Errors
///
/// An unsupported URL, or the database failing.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, Box<dyn StdError>> {
    Ok(if url == "memory" {
        Arc::new(MemoryStore::new())
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.migrate().await?;
        Arc::new(store)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url).await?;
        store.migrate().await?;
        Arc::new(store)
    } else {
        return Err(format!("unsupported database {url:?}: use memory, sqlite://PATH or postgres://URL").into());
    })
}

/// The sealer: from `hex` if given; else, for SQLite, the key kept in a file beside the
/// database (`PATH.seal-key`, created on first use); else a random key.
///
/// # Errors
///
/// A key that is not 32 bytes of hex, or the key file failing.
pub fn sealer(hex: Option<&str>, database: &str) -> Result<AeadSealer, Box<dyn StdError>> {
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
pub fn sqlite_path(url: &str) -> Option<&str> {
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
