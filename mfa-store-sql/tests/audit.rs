#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SQL audit trail (`SqlAuditSink`) on SQLite and PostgreSQL: every case runs on a
//! fresh, migrated database of each backend (PostgreSQL's are ignored without a server; see
//! `postgres_conformance.rs`).
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use std::net::IpAddr;
use std::time::Duration;

use mfa_core::context::{Actor, RequestContext};
use mfa_core::store::{RecordCounts, Store};
use mfa_core::testing::RecordingEventSink;
use mfa_core::{AeadSealer, Event, EventKind, EventSink, FactorId, FailureReason, Mfa, Timestamp, UserId};
use mfa_store_sql::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT, SqlAuditSink};

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// A token that looks like a remembered device's and matches none.
fn device_guess() -> String {
    format!("mfa-device.{}.{}", "0".repeat(32), "A".repeat(43))
}

fn user(name: &str) -> UserId {
    UserId::new(format!("{name}-{}", FactorId::random().unwrap())).unwrap()
}

fn at(secs: u64) -> Timestamp {
    T0.saturating_add(Duration::from_secs(secs))
}

/// An event as the service records one (events are built only by the service): a failed
/// device check, then given the user, time, actor, address, user agent and kind asked for.
async fn event(store: &(impl Store + Clone)) -> Event {
    let recorded = RecordingEventSink::new();
    let mfa = Mfa::builder()
        .store(store.clone())
        .sealer(AeadSealer::ephemeral().unwrap())
        .events(recorded.clone())
        .build()
        .unwrap();
    assert!(mfa.check_device(&user("template"), &device_guess()).await.is_err());
    recorded.events().into_iter().next().expect("the service records a failed check")
}

/// `template` for `user` at `when` by `actor`, with no address or user agent.
fn make(template: &Event, user: Option<&UserId>, when: Timestamp, actor: Actor, kind: EventKind) -> Event {
    let mut e = template.clone();
    e.user = user.cloned();
    e.at = when;
    e.actor = actor;
    e.kind = kind;
    e.ip = None;
    e.user_agent = None;
    e
}

/// An event marked by `n` (as its remaining-codes count), to tell events apart.
fn marked(template: &Event, user: &UserId, when: Timestamp, n: usize) -> Event {
    make(template, Some(user), when, Actor::User, EventKind::RecoveryCodeUsed { remaining: n })
}

fn marks(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.body["remaining"].as_u64().unwrap()).collect()
}

async fn of(sink: &SqlAuditSink, user: &UserId) -> Vec<AuditRecord> {
    sink.query(&AuditQuery::new().user(user)).await.unwrap()
}

/// Each event is stored with its user, time, actor, address, user agent, tag and body.
async fn events_keep_their_context_and_body(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let admin = Actor::Admin(UserId::new("helpdesk-1").unwrap());
    let failed = EventKind::VerificationFailed {
        factor: Some(FactorId::random().unwrap()),
        method: "totp".into(),
        reason: FailureReason::InvalidCode,
    };
    let mut by_admin = make(&template, Some(&alice), at(1), admin, failed.clone());
    by_admin.ip = Some("203.0.113.9".parse().unwrap());
    by_admin.user_agent = Some("Mozilla/5.0 (X11)".into());
    let mut by_bob = make(&template, Some(&bob), at(2), Actor::User, EventKind::RecoveryCodesLow { remaining: 1 });
    by_bob.ip = Some("2001:db8::7".parse().unwrap());
    let erased = EventKind::UserErased { subject: "ab".repeat(32), removed: RecordCounts::new(1, 2, 0, 0, 0, 3) };
    let by_host = make(&template, None, at(3), Actor::System, erased.clone());
    for e in [&by_admin, &by_bob, &by_host] {
        sink.record(e).await;
    }

    let alices = of(&sink, &alice).await;
    assert_eq!(alices.len(), 1);
    let a = &alices[0];
    assert_eq!((a.user.as_ref(), a.at), (Some(&alice), at(1)));
    assert_eq!(a.actor, "admin:helpdesk-1");
    assert_eq!(a.ip, Some("203.0.113.9".parse::<IpAddr>().unwrap()));
    assert_eq!(a.user_agent.as_deref(), Some("Mozilla/5.0 (X11)"));
    assert_eq!(a.event, "verification_failed");
    assert_eq!(a.body, serde_json::to_value(&failed).unwrap());

    let bobs = of(&sink, &bob).await;
    assert_eq!((bobs.len(), bobs[0].actor.as_str(), bobs[0].user_agent.as_deref()), (1, "self", None));
    assert_eq!(bobs[0].ip, Some("2001:db8::7".parse::<IpAddr>().unwrap()));
    assert_eq!(bobs[0].event, "recovery_codes_low");

    let all = sink.query(&AuditQuery::new()).await.unwrap();
    assert_eq!(all.len(), 3, "a query without a user returns every user's events");
    let host = &all[0];
    assert_eq!((host.user.as_ref(), host.actor.as_str(), host.event.as_str()), (None, "system", "user_erased"));
    assert_eq!(host.body, serde_json::to_value(&erased).unwrap());
    assert_eq!(sink.dropped(), 0);
}

/// A query selects `[since, before)`, newest first, and stops at its limit.
async fn queries_select_a_time_range_newest_first(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let (alice, bob) = (user("alice"), user("bob"));
    for n in 0..5 {
        sink.record(&marked(&template, &alice, at(n), n as usize)).await;
    }
    sink.record(&marked(&template, &bob, at(2), 100)).await;

    let range = AuditQuery::new().user(&alice).since(at(1)).before(at(4));
    assert_eq!(marks(&sink.query(&range).await.unwrap()), [3, 2, 1], "from included, to excluded");
    assert_eq!(marks(&sink.query(&range.clone().limit(2)).await.unwrap()), [3, 2], "the newest first");
    assert!(sink.query(&range.limit(0)).await.unwrap().is_empty());
    let everyone = AuditQuery::new().since(at(2)).before(at(3));
    assert_eq!(marks(&sink.query(&everyone).await.unwrap()), [100, 2], "ties: the last stored first");
    assert_eq!(marks(&of(&sink, &alice).await), [4, 3, 2, 1, 0]);
}

/// However large the limit asked for, a query returns at most [`MAX_AUDIT_LIMIT`] events.
async fn a_query_returns_at_most_the_cap(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let alice = user("alice");
    for n in 0..=MAX_AUDIT_LIMIT {
        sink.append(&marked(&template, &alice, at(n as u64), n)).await.unwrap();
    }
    let mut query = AuditQuery::new().user(&alice);
    query.limit = 5 * MAX_AUDIT_LIMIT;
    let got = sink.query(&query).await.unwrap();
    assert_eq!(got.len(), MAX_AUDIT_LIMIT);
    assert_eq!(marks(&got[..1]), [MAX_AUDIT_LIMIT as u64], "the newest are kept");
}

/// Forgetting a user deletes their events only; events naming no user stay.
async fn forgetting_a_user_deletes_only_their_events(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let (alice, bob) = (user("alice"), user("bob"));
    for n in 0..3 {
        sink.record(&marked(&template, &alice, at(n), n as usize)).await;
    }
    sink.record(&marked(&template, &bob, at(1), 100)).await;
    let erased = EventKind::UserErased { subject: "cd".repeat(32), removed: RecordCounts::default() };
    sink.record(&make(&template, None, at(4), Actor::System, erased)).await;

    assert_eq!(sink.forget(&alice).await.unwrap(), 3);
    assert!(of(&sink, &alice).await.is_empty());
    assert_eq!(marks(&of(&sink, &bob).await), [100]);
    let all = sink.query(&AuditQuery::new()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(), ["user_erased", "recovery_code_used"]);
    assert_eq!(sink.forget(&alice).await.unwrap(), 0, "forgetting twice deletes nothing more");
}

/// Retention: purging deletes the events before the time given, of every user.
async fn purging_deletes_older_events(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let (alice, bob) = (user("alice"), user("bob"));
    for n in 0..4 {
        sink.record(&marked(&template, &alice, at(n), n as usize)).await;
    }
    sink.record(&marked(&template, &bob, at(1), 100)).await;
    sink.record(&marked(&template, &bob, at(3), 101)).await;

    assert_eq!(sink.purge_before(at(2)).await.unwrap(), 3);
    assert_eq!(marks(&of(&sink, &alice).await), [3, 2]);
    assert_eq!(marks(&of(&sink, &bob).await), [101]);
    assert_eq!(sink.purge_before(at(2)).await.unwrap(), 0);
}

/// The service's events reach the table with the request context of the call.
async fn the_service_records_its_request_context(store: impl Store + Clone, sink: SqlAuditSink) {
    let mfa =
        Mfa::builder().store(store).sealer(AeadSealer::ephemeral().unwrap()).events(sink.clone()).build().unwrap();
    let alice = user("alice");
    let context = RequestContext::new()
        .actor(Actor::Admin(UserId::new("helpdesk-2").unwrap()))
        .ip("198.51.100.4".parse().unwrap())
        .user_agent("admin-console/1.0");
    assert!(mfa.with_context(context).check_device(&alice, &device_guess()).await.is_err());

    let got = of(&sink, &alice).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].event.as_str(), got[0].actor.as_str()), ("verification_failed", "admin:helpdesk-2"));
    assert_eq!(got[0].ip, Some("198.51.100.4".parse::<IpAddr>().unwrap()));
    assert_eq!(got[0].user_agent.as_deref(), Some("admin-console/1.0"));
}

/// An event the database refuses (here: `sink`'s has no audit table) does not fail the
/// caller; it is counted in `dropped`, shared by clones of the sink.
async fn a_refused_event_is_counted_not_raised(store: impl Store + Clone, sink: SqlAuditSink) {
    let template = event(&store).await;
    let alice = user("alice");
    let clone = sink.clone();
    sink.record(&marked(&template, &alice, at(0), 0)).await;
    clone.record(&marked(&template, &alice, at(1), 1)).await;
    assert_eq!((sink.dropped(), clone.dropped()), (2, 2));
    assert!(sink.append(&marked(&template, &alice, at(2), 2)).await.is_err(), "append reports the failure");
    assert_eq!(sink.dropped(), 2, "append does not count");
    assert!(format!("{sink:?}").contains("dropped: 2"));
}

/// One test per case on a fresh store: `$fresh` makes a migrated store, `$unmigrated` one
/// without tables.
macro_rules! audit_tests {
    ($(#[$attr:meta])* $module:ident, $fresh:expr, $unmigrated:expr) => {
        mod $module {
            use super::*;

            audit_tests!(@cases [$(#[$attr])*] $fresh;
                events_keep_their_context_and_body,
                queries_select_a_time_range_newest_first,
                a_query_returns_at_most_the_cap,
                forgetting_a_user_deletes_only_their_events,
                purging_deletes_older_events,
                the_service_records_its_request_context,
            );

            #[tokio::test]
            $(#[$attr])*
            async fn a_refused_event_is_counted_not_raised() {
                let unmigrated = $unmigrated.await;
                super::a_refused_event_is_counted_not_raised($fresh.await, unmigrated.audit_sink()).await;
            }
        }
    };
    (@cases $attrs:tt $fresh:expr; $($case:ident,)*) => {
        $(audit_tests!(@case $attrs $fresh, $case);)*
    };
    (@case [$(#[$attr:meta])*] $fresh:expr, $case:ident) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $case() {
            let store = $fresh.await;
            super::$case(store.clone(), store.audit_sink()).await;
        }
    };
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use mfa_store_sql::SqliteStore;

    pub(crate) async fn fresh() -> SqliteStore {
        let store = unmigrated().await;
        store.migrate().await.unwrap();
        store
    }

    pub(crate) async fn unmigrated() -> SqliteStore {
        SqliteStore::in_memory().await.unwrap()
    }
}

#[cfg(feature = "sqlite")]
audit_tests!(on_sqlite, sqlite::fresh(), sqlite::unmigrated());

#[cfg(feature = "postgres")]
mod postgres {
    use std::str::FromStr;

    use mfa_core::FactorId;
    use mfa_store_sql::PostgresStore;
    use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
    use mfa_store_sql::sqlx::{Connection, Executor};

    /// A migrated store in a new schema of its own.
    pub(crate) async fn fresh() -> PostgresStore {
        let store = unmigrated().await;
        store.migrate().await.unwrap();
        store
    }

    /// A store in a new, empty schema.
    pub(crate) async fn unmigrated() -> PostgresStore {
        let url = match std::env::var("MFA_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "MFA_TEST_POSTGRES_URL is not set: these tests need PostgreSQL. Run `bash tests/run-all.sh`, \
                 or `bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- \
                 --include-ignored`, or set MFA_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DB and pass \
                 --include-ignored"
            ),
        };
        let schema = format!("mfa_test_{}", FactorId::random().unwrap());
        let mut admin = PgConnection::connect(&url).await.unwrap();
        admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
        admin.close().await.unwrap();
        let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
        PostgresStore::connect_with(options).await.unwrap()
    }
}

#[cfg(feature = "postgres")]
audit_tests!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    on_postgres,
    postgres::fresh(),
    postgres::unmigrated()
);
