//! Error mapping: how database failures and undecodable rows become [`StoreError`]s.

use std::fmt;

use mfa_core::store::StoreError;

/// A row that does not decode into a record (a corrupted or foreign database).
#[derive(Debug)]
pub(crate) struct Corrupt(pub(crate) &'static str);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored value does not decode: {}", self.0)
    }
}

impl std::error::Error for Corrupt {}

/// The database's schema is newer than this library knows.
#[derive(Debug)]
pub(crate) struct SchemaTooNew {
    pub(crate) found: i64,
}

impl fmt::Display for SchemaTooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database schema version {} is newer than this mfa-store-sql supports ({})",
            self.found,
            crate::SCHEMA_VERSION
        )
    }
}

impl std::error::Error for SchemaTooNew {}

/// Maps a sqlx error: unique violations become [`StoreError::AlreadyExists`], the rest
/// [`StoreError::Backend`] with the error kept as source.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::backend(e),
    }
}

/// A [`StoreError::Backend`] for a stored value that does not decode as `what`.
pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::backend(Corrupt(what))
}
