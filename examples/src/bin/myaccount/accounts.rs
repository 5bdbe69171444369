//! The host's user accounts: in memory with the in-memory store, otherwise in a table of
//! the example's own in the same database as the MFA state, so that with
//! `--database sqlite://…` users sign in again after a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use mfa_core::{Error, UserId};
use sqlx::{PgPool, SqlitePool};

/// The host's own account record: the password is its part, factors are the library's.
#[derive(Clone)]
pub(crate) struct Account {
    pub(crate) id: UserId,
    pub(crate) username: String,
    pub(crate) password_hash: String,
}

/// Where accounts live.
pub(crate) enum Accounts {
    Memory(Mutex<HashMap<String, Account>>),
    Database(Database),
}

/// A database holding accounts.
pub(crate) enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS myaccount_users \
    (username TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL)";
const BY_USERNAME: &str = "SELECT username, id, password_hash FROM myaccount_users WHERE username = $1";
const BY_ID: &str = "SELECT username, id, password_hash FROM myaccount_users WHERE id = $1";
const INSERT: &str = "INSERT INTO myaccount_users (username, id, password_hash) VALUES ($1, $2, $3) \
    ON CONFLICT (username) DO NOTHING";

/// Runs the same statement on whichever database holds the accounts.
macro_rules! on_database {
    ($database:expr, |$pool:ident| $body:expr) => {
        match $database {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

type Row = (String, String, String);

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(Box::new(e))
}

fn account((username, id, password_hash): Row) -> Result<Account, Error> {
    Ok(Account { id: UserId::new(id)?, username, password_hash })
}

impl Accounts {
    /// Creates the table if the database has none.
    pub(crate) async fn migrate(&self) -> Result<(), Error> {
        if let Accounts::Database(database) = self {
            on_database!(database, |pool| sqlx::query(CREATE).execute(pool).await.map(drop).map_err(backend))?;
        }
        Ok(())
    }

    /// The account with this (lower-case) username.
    pub(crate) async fn by_username(&self, username: &str) -> Result<Option<Account>, Error> {
        let database = match self {
            Accounts::Memory(accounts) => return Ok(memory(accounts).get(username).cloned()),
            Accounts::Database(database) => database,
        };
        let row: Option<Row> = on_database!(database, |pool| sqlx::query_as(BY_USERNAME)
            .bind(username)
            .fetch_optional(pool)
            .await
            .map_err(backend))?;
        row.map(account).transpose()
    }

    /// The account of this user.
    pub(crate) async fn by_id(&self, id: &UserId) -> Result<Option<Account>, Error> {
        let database = match self {
            Accounts::Memory(accounts) => return Ok(memory(accounts).values().find(|a| a.id == *id).cloned()),
            Accounts::Database(database) => database,
        };
        let row: Option<Row> = on_database!(database, |pool| sqlx::query_as(BY_ID)
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .map_err(backend))?;
        row.map(account).transpose()
    }

    /// Adds an account; `false` if the username is taken.
    pub(crate) async fn create(&self, new: &Account) -> Result<bool, Error> {
        let database = match self {
            Accounts::Memory(accounts) => {
                let mut accounts = memory(accounts);
                if accounts.contains_key(&new.username) {
                    return Ok(false);
                }
                accounts.insert(new.username.clone(), new.clone());
                return Ok(true);
            }
            Accounts::Database(database) => database,
        };
        let inserted = on_database!(database, |pool| sqlx::query(INSERT)
            .bind(&new.username)
            .bind(new.id.as_str())
            .bind(&new.password_hash)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(backend))?;
        Ok(inserted == 1)
    }
}

fn memory(accounts: &Mutex<HashMap<String, Account>>) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
    accounts.lock().unwrap_or_else(|e| e.into_inner())
}
