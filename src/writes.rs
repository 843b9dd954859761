//! The one way to start a write transaction, so that writers never interleave.
//!
//! Services read what they decide on inside the transaction, so they must not run beside
//! another writer: two deletes of one site would both see it current. Writes are rare (a few a
//! month), so one writer at a time costs nothing:
//! - in this process, an async mutex held for the life of the transaction (SQLite then never
//!   answers "database is locked" between our own writers, a scheduled sync included);
//! - across replicas on PostgreSQL, a transaction-scoped advisory lock taken first;
//! - on SQLite, a write as the first statement, which takes the write lock at once like
//!   `BEGIN IMMEDIATE` (sea-orm cannot send that): a deferred transaction that reads first
//!   and then writes fails instead of waiting when another process wrote meanwhile.
use std::ops::Deref;
use std::sync::atomic::{AtomicI64, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::errors::AppResult;

/// The key of the PostgreSQL advisory lock all writers take (any constant; this spells "nhso").
pub const ADVISORY_KEY: i64 = 0x6e68_736f;

static WRITER: Mutex<()> = Mutex::const_new(());

/// Takes the SQLite write lock at once (no rows match; the lock is what matters). Every write
/// goes to the change log, so its table is always there.
const SQLITE_TAKE_WRITE_LOCK: &str = "DELETE FROM change_log WHERE 0";

/// A write transaction holding the writer lock until it commits, rolls back or is dropped.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _writer: MutexGuard<'static, ()>,
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> AppResult<()> {
        self.txn.commit().await.map_err(Into::into)
    }

    pub async fn rollback(self) -> AppResult<()> {
        self.txn.rollback().await.map_err(Into::into)
    }
}

/// Waits for the writer lock and begins a write transaction.
pub async fn begin(db: &DatabaseConnection) -> AppResult<WriteTxn> {
    let writer = WRITER.lock().await;
    match begin_locked(db).await {
        Ok(txn) => Ok(WriteTxn {
            txn,
            _writer: writer,
        }),
        // A connection opened while the file was read-only stays read-only; retire the
        // pool's connections and try once more on a fresh one.
        Err(e) if is_sqlite_read_only(db, &e) => {
            retire_connections();
            let txn = begin_locked(db).await?;
            Ok(WriteTxn {
                txn,
                _writer: writer,
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn begin_locked(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    let first = match db.get_database_backend() {
        DatabaseBackend::Postgres => format!("SELECT pg_advisory_xact_lock({ADVISORY_KEY})"),
        _ => SQLITE_TAKE_WRITE_LOCK.to_string(),
    };
    txn.execute_unprepared(&first).await?;
    Ok(txn)
}

/// Whether the database can take a write now: on SQLite a write transaction is begun and rolled
/// back; on PostgreSQL the server is asked whether it is a read-only standby or session. When
/// another write is in progress here, the answer is yes without asking.
pub async fn probe(db: &DatabaseConnection) -> AppResult<bool> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let row = db
            .query_one(sea_orm::Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT (pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on') AS ro",
            ))
            .await?;
        let read_only = match row {
            Some(r) => r.try_get::<bool>("", "ro")?,
            None => false,
        };
        return Ok(!read_only);
    }
    let Ok(writer) = WRITER.try_lock() else {
        return Ok(true);
    };
    drop(writer);
    match begin(db).await {
        Ok(txn) => {
            txn.rollback().await?;
            Ok(true)
        }
        Err(crate::errors::AppError::Database(e)) if is_sqlite_read_only(db, &e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// SQLITE_READONLY and its extended codes (8, 264, 520, 776, 1032, 1288, 1544).
fn is_sqlite_read_only(db: &DatabaseConnection, err: &DbErr) -> bool {
    db.get_database_backend() == DatabaseBackend::Sqlite
        && crate::errors::database_code(err)
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 8)
}

/// Milliseconds since the epoch before which pooled SQLite connections are closed when they
/// are next handed back (0: none).
static RETIRE_BEFORE_MS: AtomicI64 = AtomicI64::new(0);

/// Marks every SQLite connection open now for closing on its next return to the pool.
pub fn retire_connections() {
    RETIRE_BEFORE_MS.store(now_ms(), Ordering::SeqCst);
}

/// Whether a connection of this age should be closed instead of going back to the pool.
pub fn is_retired(age: std::time::Duration) -> bool {
    let opened = now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    opened <= RETIRE_BEFORE_MS.load(Ordering::SeqCst)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
