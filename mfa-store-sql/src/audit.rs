//! [`SqlAuditSink`]: an [`EventSink`] that appends every event to the `mfa_audit_events`
//! table of the store's own database, and reads, forgets and purges it.
//!
//! The sink holds a store (a clone sharing its pool) of either backend; the statements run
//! by each backend are in `store/audit.rs`, compiled once per backend like the rest of the
//! store. This module turns events into rows and back.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use mfa_core::store::{StoreError, StoreResult};
use mfa_core::{Event, EventSink, Timestamp, UserId};

#[cfg(feature = "postgres")]
use crate::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::SqliteStore;

/// The most rows one [`SqlAuditSink::query`] returns, whatever limit it asks for.
pub const MAX_AUDIT_LIMIT: usize = 1000;

/// The limit of a new [`AuditQuery`].
const DEFAULT_AUDIT_LIMIT: usize = 100;

/// Which audit events to read: optionally one user's, in the time range `[since, before)`,
/// newest first, at most `limit` (capped at [`MAX_AUDIT_LIMIT`]).
///
/// # Examples
///
/// ```
/// use mfa_core::{Timestamp, UserId};
/// use mfa_store_sql::{AuditQuery, MAX_AUDIT_LIMIT};
///
/// let alice = UserId::new("alice")?;
/// let query = AuditQuery::new()
///     .user(&alice)
///     .since(Timestamp::from_unix_secs(1_700_000_000))
///     .before(Timestamp::from_unix_secs(1_700_086_400))
///     .limit(5_000);
/// assert_eq!(query.limit, MAX_AUDIT_LIMIT);
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only this user's events; `None`: every event, including those that name no user.
    pub user: Option<UserId>,
    /// The earliest time included.
    pub since: Timestamp,
    /// The first time excluded.
    pub before: Timestamp,
    /// How many events at most (newest first); more than [`MAX_AUDIT_LIMIT`] reads as
    /// [`MAX_AUDIT_LIMIT`].
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            user: None,
            since: Timestamp::from_unix_millis(i64::MIN),
            before: Timestamp::from_unix_millis(i64::MAX),
            limit: DEFAULT_AUDIT_LIMIT,
        }
    }
}

impl AuditQuery {
    /// Every event, at any time, the newest 100.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only `user`'s events.
    pub fn user(mut self, user: &UserId) -> Self {
        self.user = Some(user.clone());
        self
    }

    /// Only events at `at` or later.
    pub fn since(mut self, at: Timestamp) -> Self {
        self.since = at;
        self
    }

    /// Only events before `at`.
    pub fn before(mut self, at: Timestamp) -> Self {
        self.before = at;
        self
    }

    /// At most `limit` events, capped at [`MAX_AUDIT_LIMIT`].
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.min(MAX_AUDIT_LIMIT);
        self
    }

    /// The limit the query runs with, as the database takes it.
    pub(crate) fn db_limit(&self) -> i64 {
        i64::try_from(self.limit.min(MAX_AUDIT_LIMIT)).unwrap_or(0)
    }
}

/// One stored audit event: a row of `mfa_audit_events`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The row's id, increasing in the order events were stored.
    pub id: i64,
    /// When it happened.
    pub at: Timestamp,
    /// To whom (`None` for an event that names no user, such as an erasure).
    pub user: Option<UserId>,
    /// Who did it: `self`, `admin:<id>` or `system` (the event's
    /// [`Actor`](mfa_core::context::Actor), displayed).
    pub actor: String,
    /// The client's address, if the event carried one.
    pub ip: Option<IpAddr>,
    /// The client's user agent, if the event carried one.
    pub user_agent: Option<String>,
    /// What happened: the event's tag, e.g. `verification_failed`.
    pub event: String,
    /// The whole [`EventKind`](mfa_core::EventKind) as JSON (an object whose `event` field is the tag).
    pub body: serde_json::Value,
}

/// An event as the columns of `mfa_audit_events` (but `id`), ready to bind.
#[derive(Debug)]
pub(crate) struct AuditRow<'a> {
    pub(crate) at: i64,
    pub(crate) user: Option<&'a str>,
    pub(crate) actor: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) event: String,
    pub(crate) body: String,
}

impl<'a> AuditRow<'a> {
    /// The row for `event`.
    fn new(event: &'a Event) -> StoreResult<Self> {
        let body = serde_json::to_value(&event.kind).map_err(StoreError::backend)?;
        let tag = tag_of(&body).ok_or_else(|| StoreError::backend(Untagged))?.to_owned();
        Ok(Self {
            at: event.at.unix_millis(),
            user: event.user.as_ref().map(UserId::as_str),
            actor: event.actor.to_string(),
            ip: event.ip.map(|ip| ip.to_string()),
            user_agent: event.user_agent.as_deref(),
            event: tag,
            body: body.to_string(),
        })
    }
}

/// The tag of a serialized [`EventKind`](mfa_core::EventKind).
fn tag_of(body: &serde_json::Value) -> Option<&str> {
    body.get("event").and_then(serde_json::Value::as_str)
}

/// An [`EventKind`](mfa_core::EventKind) that serialized without its tag.
#[derive(Debug)]
struct Untagged;

impl fmt::Display for Untagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("event kind serialized without an `event` tag")
    }
}

impl std::error::Error for Untagged {}

/// The store whose database holds the audit table.
#[derive(Clone)]
enum AuditDb {
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Runs `$e` with `$s` bound to the sink's store, whichever backend it is.
macro_rules! on_store {
    ($sink:expr, $s:ident => $e:expr) => {
        match &$sink.db {
            #[cfg(feature = "sqlite")]
            AuditDb::Sqlite($s) => $e,
            #[cfg(feature = "postgres")]
            AuditDb::Postgres($s) => $e,
        }
    };
}

/// An [`EventSink`] that appends every event to the `mfa_audit_events` table (created by
/// `migrate`, see the crate docs) of a store's database, with its actor, address and user
/// agent; and the reading, erasure and retention of that trail.
///
/// Get one from the store it shares its pool with: [`SqliteStore::audit_sink`],
/// [`PostgresStore::audit_sink`], or `SqlAuditSink::from(store)`. Cheap to clone: clones
/// share the pool and the [`dropped`](Self::dropped) count.
///
/// [`record`](EventSink::record) cannot fail: an event the database refuses is logged (a
/// `tracing` warning naming only the event's tag) and counted in
/// [`dropped`](Self::dropped), and the operation that emitted it goes on.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mfa_core::context::{Actor, RequestContext};
/// use mfa_core::{AeadSealer, Error, Mfa, UserId};
/// use mfa_store_sql::{AuditQuery, SqliteStore};
///
/// let store = SqliteStore::in_memory().await?;
/// store.migrate().await?;
/// let audit = store.audit_sink();
/// let mfa = Mfa::builder().store(store).sealer(AeadSealer::ephemeral()?).events(audit.clone()).build()?;
///
/// // A request from the help desk: its actor, address and user agent go on every event.
/// let alice = UserId::new("alice")?;
/// let context = RequestContext::new().actor(Actor::Admin(UserId::new("helpdesk-1")?)).ip("203.0.113.9".parse()?);
/// let guess = format!("mfa-device.{}.{}", "0".repeat(32), "A".repeat(43));
/// assert!(mfa.with_context(context).check_device(&alice, &guess).await.is_err());
///
/// let trail = audit.query(&AuditQuery::new().user(&alice)).await?;
/// assert_eq!(trail[0].event, "verification_failed");
/// assert_eq!(trail[0].actor, "admin:helpdesk-1");
/// assert_eq!(audit.dropped(), 0);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct SqlAuditSink {
    db: AuditDb,
    dropped: Arc<AtomicU64>,
}

impl SqlAuditSink {
    /// A sink on `db`.
    fn on(db: AuditDb) -> Self {
        Self { db, dropped: Arc::default() }
    }

    /// Stores one event, reporting a failure (which [`record`](EventSink::record) logs and
    /// counts instead).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the database fails.
    pub async fn append(&self, event: &Event) -> StoreResult<()> {
        let row = AuditRow::new(event)?;
        on_store!(self, s => s.append_audit(&row).await)
    }

    /// The events `query` selects, newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the database fails or a stored row does not decode.
    pub async fn query(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        on_store!(self, s => s.query_audit(query).await)
    }

    /// Deletes every event before `at` (retention); returns how many went. Run it
    /// periodically, next to [`Store::purge_expired`](mfa_core::store::Store::purge_expired).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the database fails.
    pub async fn purge_before(&self, at: Timestamp) -> StoreResult<u64> {
        on_store!(self, s => s.purge_audit_before(at).await)
    }

    /// How many events [`record`](EventSink::record) could not store since this sink (or
    /// the one it was cloned from) was made.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The backend's name, for `Debug`.
    fn backend(&self) -> &'static str {
        match &self.db {
            #[cfg(feature = "sqlite")]
            AuditDb::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            AuditDb::Postgres(_) => "postgres",
        }
    }
}

#[async_trait]
impl EventSink for SqlAuditSink {
    /// Appends the event; a failure is logged and counted in [`SqlAuditSink::dropped`].
    async fn record(&self, event: &Event) {
        if let Err(error) = self.append(event).await {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let tag = serde_json::to_value(&event.kind).ok();
            let tag = tag.as_ref().and_then(tag_of).unwrap_or("unknown");
            tracing::warn!(target: "mfa::audit", event = tag, %error, "audit event not stored");
        }
    }

    /// Deletes every stored event of `user`; returns how many went. Events that name no
    /// user (an erasure's own record among them) stay.
    async fn forget(&self, user: &UserId) -> Result<u64, StoreError> {
        on_store!(self, s => s.forget_audit(user).await)
    }
}

impl fmt::Debug for SqlAuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlAuditSink")
            .field("backend", &self.backend())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteStore> for SqlAuditSink {
    fn from(store: SqliteStore) -> Self {
        Self::on(AuditDb::Sqlite(store))
    }
}

#[cfg(feature = "postgres")]
impl From<PostgresStore> for SqlAuditSink {
    fn from(store: PostgresStore) -> Self {
        Self::on(AuditDb::Postgres(store))
    }
}
