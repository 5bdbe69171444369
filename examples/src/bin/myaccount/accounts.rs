//! The host's user accounts (user name, password hash, profile phone number): in memory
//! with the in-memory store, otherwise in a table of the example's own in the same database
//! as the MFA state, so that with `--database sqlite://…` users sign in again after a
//! restart. They are also what mfa-axum asks of the host ([`Host`]), the help desk's
//! search included. One account is the help desk's, [`ADMIN`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use mfa_axum::Host;
use mfa_core::{Error, SecretString, UserId};
use sqlx::{PgPool, SqlitePool};

/// The help desk's user name: the one administrator of the example. Its account is made at
/// start-up ([`Accounts::ensure_admin`]), so nobody can sign up under the name, with a
/// password only: the help desk's endpoints answer it once it has added a second factor (not
/// email) and verified it in the session, which mfa-axum asks of every administrator.
pub(crate) const ADMIN: &str = "admin";

/// The most user names one search answers.
const FOUND: usize = 20;

/// One account; the user name is also the user's id in the MFA service.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) password_hash: String,
    pub(crate) phone: Option<String>,
}

/// Where accounts live. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Accounts {
    database: Arc<Database>,
    /// Verified against when the user name is unknown, so both cases cost the same.
    dummy_hash: Arc<str>,
}

#[derive(Debug)]
pub(crate) enum Database {
    Memory(Mutex<HashMap<String, Account>>),
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS myaccount_accounts \
    (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, phone TEXT)";
const GET: &str = "SELECT password_hash, phone FROM myaccount_accounts WHERE username = $1";
const INSERT: &str = "INSERT INTO myaccount_accounts (username, password_hash) VALUES ($1, $2) \
    ON CONFLICT (username) DO NOTHING";
const SET_PASSWORD: &str = "UPDATE myaccount_accounts SET password_hash = $2 WHERE username = $1";
const SET_PHONE: &str = "UPDATE myaccount_accounts SET phone = $2 WHERE username = $1";
const FIND: &str = "SELECT username FROM myaccount_accounts WHERE username LIKE $1 ESCAPE '\\' \
    ORDER BY username LIMIT 20";

/// Runs the same statement on whichever database holds the accounts.
macro_rules! on_database {
    ($database:expr, |$pool:ident| $body:expr, $memory:expr) => {
        match $database {
            Database::Sqlite($pool) => $body.map_err(|e| Error::Backend(Box::new(e))),
            Database::Postgres($pool) => $body.map_err(|e| Error::Backend(Box::new(e))),
            Database::Memory(accounts) => Ok($memory(&mut *accounts.lock().unwrap_or_else(|e| e.into_inner()))),
        }
    };
}

type Memory = HashMap<String, Account>;

impl Accounts {
    /// Accounts in `database`, its table created if missing.
    pub(crate) async fn open(database: Database) -> Result<Self, Error> {
        on_database!(&database, |pool| sqlx::query(CREATE).execute(pool).await.map(drop), |_: &mut Memory| ())?;
        Ok(Self { database: Arc::new(database), dummy_hash: hash("not anybody's password")?.into() })
    }

    /// The account named `username`.
    pub(crate) async fn get(&self, username: &str) -> Result<Option<Account>, Error> {
        let row: Option<(String, Option<String>)> = on_database!(
            &*self.database,
            |pool| sqlx::query_as(GET).bind(username).fetch_optional(pool).await,
            |m: &mut Memory| m.get(username).map(|a| (a.password_hash.clone(), a.phone.clone()))
        )?;
        Ok(row.map(|(password_hash, phone)| Account { password_hash, phone }))
    }

    /// Adds an account; `false` if the name is taken.
    pub(crate) async fn create(&self, username: &str, password: &str) -> Result<bool, Error> {
        let password_hash = hash(password)?;
        let added = on_database!(
            &*self.database,
            |pool| sqlx::query(INSERT)
                .bind(username)
                .bind(&password_hash)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1),
            |m: &mut Memory| {
                let added = !m.contains_key(username);
                m.entry(username.to_owned()).or_insert(Account { password_hash, phone: None });
                added
            }
        )?;
        Ok(added)
    }

    /// Replaces `username`'s password.
    pub(crate) async fn set_password(&self, username: &str, password: &str) -> Result<(), Error> {
        let password_hash = hash(password)?;
        on_database!(
            &*self.database,
            |pool| sqlx::query(SET_PASSWORD).bind(username).bind(&password_hash).execute(pool).await.map(drop),
            |m: &mut Memory| if let Some(a) = m.get_mut(username) {
                a.password_hash = password_hash.clone()
            }
        )
    }

    /// The help desk's account: made if missing, with `password` if given (which an existing
    /// account takes too), else with a random one nobody knows (the name is taken all the
    /// same; set a password to sign in as the help desk).
    pub(crate) async fn ensure_admin(&self, password: Option<&SecretString>) -> Result<(), Error> {
        match password {
            Some(password) => {
                if !self.create(ADMIN, password.expose()).await? {
                    self.set_password(ADMIN, password.expose()).await?;
                }
            }
            None => {
                let mut random = [0u8; 32];
                mfa_core::secret::fill_random(&mut random)?;
                let unknown = SecretString::new(data_encoding::BASE64URL_NOPAD.encode(&random));
                self.create(ADMIN, unknown.expose()).await?;
            }
        }
        Ok(())
    }

    /// The user names containing `query` (case aside), in order, at most [`FOUND`].
    pub(crate) async fn search(&self, query: &str) -> Result<Vec<String>, Error> {
        let query = query.trim().to_lowercase();
        let pattern = format!("%{}%", query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        on_database!(
            &*self.database,
            |pool| sqlx::query_scalar::<_, String>(FIND).bind(&pattern).fetch_all(pool).await,
            |m: &mut Memory| {
                let mut names: Vec<String> = m.keys().filter(|name| name.contains(&query)).cloned().collect();
                names.sort();
                names.truncate(FOUND);
                names
            }
        )
    }

    /// Whether `password` is `username`'s (as slow for unknown names as for known ones).
    pub(crate) async fn check(&self, username: &str, password: &SecretString) -> Result<bool, Error> {
        let account = self.get(username).await?;
        let hash = account.as_ref().map_or_else(|| self.dummy_hash.to_string(), |a| a.password_hash.clone());
        let password = password.clone();
        let verify = move || {
            PasswordHash::new(&hash)
                .is_ok_and(|h| Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
        };
        // Argon2 is slow on purpose: off the async runtime.
        Ok(account.is_some() && tokio::task::spawn_blocking(verify).await.unwrap_or(false))
    }
}

fn hash(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    mfa_core::secret::fill_random(&mut salt)?;
    let hash = Argon2::default().hash_password_with_salt(password.as_bytes(), &salt);
    Ok(hash.map_err(|_| Error::Crypto(mfa_core::error::CryptoError::Hash))?.to_string())
}

/// What mfa-axum asks of the host: the password again, and the profile's phone number
/// (WSO2's "SMS number": a new SMS factor takes it, and a confirmed one updates it).
#[async_trait::async_trait]
impl Host for Accounts {
    async fn check_password(&self, user: &UserId, password: &SecretString) -> bool {
        self.check(user.as_str(), password).await.unwrap_or(false)
    }

    /// The help desk's search: the accounts whose user name contains the query.
    async fn find_users(&self, query: &str) -> Vec<UserId> {
        match self.search(query).await {
            Ok(names) => names.into_iter().filter_map(|name| UserId::new(name).ok()).collect(),
            Err(e) => {
                tracing::warn!("the account search failed: {e}");
                Vec::new()
            }
        }
    }

    async fn profile_phone(&self, user: &UserId) -> Option<String> {
        self.get(user.as_str()).await.ok().flatten().and_then(|a| a.phone)
    }

    async fn phone_confirmed(&self, user: &UserId, number: &str) {
        let (username, phone) = (user.as_str(), Some(number.to_owned()));
        let updated: Result<(), Error> = on_database!(
            &*self.database,
            |pool| sqlx::query(SET_PHONE).bind(username).bind(&phone).execute(pool).await.map(drop),
            |m: &mut Memory| if let Some(a) = m.get_mut(username) {
                a.phone = phone.clone()
            }
        );
        if let Err(e) = updated {
            tracing::warn!("the profile phone of {username} was not updated: {e}");
        }
    }
}
