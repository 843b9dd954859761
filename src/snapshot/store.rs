//! Keeping the snapshot fresh: built at start, rebuilt after every write in this process, and
//! within a second of a write by another process (a cheap version poll, plus `LISTEN/NOTIFY` on
//! PostgreSQL). A failed rebuild keeps the last good snapshot and says so in `/health`.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use serde::Serialize;
use tokio::sync::Notify;

use super::build::{data_version, load_rows};
use super::{DataVersion, Snapshot};
use crate::errors::{AppError, AppResult};

/// The PostgreSQL channel a trigger on `change_log` notifies after every write.
pub const CHANNEL: &str = "nhs_organisations_changed";

/// How often other processes' writes are looked for by default.
pub const DEFAULT_POLL: Duration = Duration::from_millis(400);

/// The current snapshot and how to renew it.
pub struct SnapshotStore {
    db: DatabaseConnection,
    current: ArcSwapOption<Snapshot>,
    /// One rebuild at a time; a second caller waits and then finds the work done.
    rebuild: tokio::sync::Mutex<()>,
    failure: Mutex<Option<Failure>>,
    wake: Notify,
}

#[derive(Clone, Debug)]
struct Failure {
    at: DateTime<Utc>,
    error: String,
}

/// What `/health` says about the snapshot.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotHealth {
    /// The data version served (`null` before the first build).
    pub version: Option<String>,
    pub built_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    /// The last rebuild failed (the previous snapshot is still served).
    pub stale: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

impl SnapshotStore {
    /// A store over a database; nothing is read until the first request or `refresh`.
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            db,
            current: ArcSwapOption::empty(),
            rebuild: tokio::sync::Mutex::new(()),
            failure: Mutex::new(None),
            wake: Notify::new(),
        })
    }

    /// The snapshot to answer a request from (built now if there is none yet).
    pub async fn pinned(&self) -> AppResult<Arc<Snapshot>> {
        if let Some(s) = self.current.load_full() {
            return Ok(s);
        }
        self.refresh().await?;
        self.current
            .load_full()
            .ok_or_else(|| AppError::Internal("no snapshot after a rebuild".into()))
    }

    /// The snapshot now served, if any (never touches the database).
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// Rebuilds when the data version differs from the one served. Returns whether it swapped.
    pub async fn refresh(&self) -> AppResult<bool> {
        let _one = self.rebuild.lock().await;
        let result = self.refresh_locked().await;
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(_) => *failure = None,
            Err(e) => {
                tracing::warn!(error = %e, "snapshot rebuild failed; serving the last good one");
                *failure = Some(Failure {
                    at: Utc::now(),
                    error: e.to_string(),
                });
            }
        }
        result
    }

    async fn refresh_locked(&self) -> AppResult<bool> {
        let served = self.current.load_full();
        if let Some(s) = &served {
            if data_version(&self.db).await? == s.version {
                return Ok(false);
            }
        }
        let started = std::time::Instant::now();
        let rows = load_rows(&self.db).await?;
        let version = rows.version;
        if served.as_ref().is_some_and(|s| s.version == version) {
            return Ok(false);
        }
        let snapshot = Snapshot::build(rows, Utc::now());
        self.current.store(Some(Arc::new(snapshot)));
        tracing::debug!(%version, took_ms = started.elapsed().as_millis() as u64, "snapshot swapped");
        Ok(true)
    }

    /// Asks the watcher to look for new data now.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// What `/health` reports.
    pub fn health(&self) -> SnapshotHealth {
        let s = self.current.load_full();
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        SnapshotHealth {
            version: s.as_ref().map(|s| s.version.to_string()),
            built_at: s.as_ref().map(|s| s.built_at),
            age_seconds: s.as_ref().map(|s| (Utc::now() - s.built_at).num_seconds()),
            stale: failure.is_some(),
            last_error: failure.as_ref().map(|f| f.error.clone()),
            last_error_at: failure.map(|f| f.at),
        }
    }

    /// The data version served, if any.
    pub fn version(&self) -> Option<DataVersion> {
        self.current.load().as_ref().map(|s| s.version)
    }

    /// Watches for writes by other processes: polls the data version every `every` (and, on
    /// PostgreSQL, wakes at once on a notification). Failures are retried on the next tick.
    pub fn spawn_watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            let store = Arc::downgrade(self);
            let pool = self.db.get_postgres_connection_pool().clone();
            tokio::spawn(listen(store, pool));
        }
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(s) = store.upgrade() else { return };
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = s.wake.notified() => {}
                }
                let _ = s.refresh().await;
            }
        })
    }
}

/// Forwards PostgreSQL notifications to the watcher; reconnects after a failure.
async fn listen(store: std::sync::Weak<SnapshotStore>, pool: sea_orm::sqlx::PgPool) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        if store.strong_count() == 0 {
            return;
        }
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(l)
        }
        .await;
        match listener {
            Ok(mut l) => loop {
                match l.recv().await {
                    Ok(_) => match store.upgrade() {
                        Some(s) => s.nudge(),
                        None => return,
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "snapshot listener lost its connection");
                        break;
                    }
                }
            },
            Err(e) => tracing::debug!(error = %e, "snapshot listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
