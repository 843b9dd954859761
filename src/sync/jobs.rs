//! Background sync jobs: `startSync` and the schedules run the sync as a job, a `sync_jobs`
//! row that records its state, progress and report, so a long sync outlives the request that
//! started it.
//!
//! One job runs at a time: in the process, a guard on the `SyncJobs` service (one per app);
//! across replicas on PostgreSQL, a session advisory lock held on a dedicated connection for
//! the whole run. SQLite has one server process per file, so the guard is enough there. A
//! start while a job runs returns the running job.
//!
//! A job cut off by a restart is left `queued` or `running`; whoever next holds the lock (the
//! next start, or a process starting up while no job runs) marks it `failed`. The sync applies
//! in one transaction, so such a job changed nothing.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::{self, pool::PoolConnection, Postgres};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, NotSet, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::{SharedSource, SyncOptions, SyncProgress, SyncReport};
use crate::entities::sync_job;
use crate::errors::{AppError, AppResult};
use crate::ord::SuccessionKind;
use crate::snapshot::SnapshotStore;

/// Key of the advisory lock one sync job holds across replicas (not `writes::ADVISORY_KEY`,
/// which every write takes for its transaction).
pub const JOB_LOCK_KEY: i64 = 0x6e68_736a;

/// The error of a job a restart cut off.
pub const INTERRUPTED: &str = "interrupted by a restart";

/// How often a running job's progress is written to its row (for other replicas' readers).
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Most jobs `list` returns.
pub const MAX_LIST: u64 = 100;

/// The state of a job, as stored in `sync_jobs.state`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    /// The state stored as `text`; anything unknown reads as failed.
    pub fn parse(text: &str) -> Self {
        match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            _ => JobState::Failed,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed)
    }
}

/// What started a job, as stored in `sync_jobs.triggered_by`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `startSync`, with an admin key.
    Admin,
    /// `SYNC_EVERY` or `SYNC_FULL_EVERY`.
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Admin => "admin",
            Trigger::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Self {
        if text == "schedule" {
            Trigger::Schedule
        } else {
            Trigger::Admin
        }
    }
}

/// A job as the API shows it: its row, with the live progress when it runs here.
#[derive(Clone, Debug)]
pub struct SyncJob {
    pub row: sync_job::Model,
    pub state: JobState,
    pub trigger: Trigger,
    pub done: usize,
    pub total: usize,
}

impl SyncJob {
    fn from_row(row: sync_job::Model, live: Option<&JobProgress>) -> Self {
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        let (done, total) = match live {
            Some(p) => p.counts(),
            None => (count(row.progress_done), count(row.progress_total)),
        };
        Self {
            state: JobState::parse(&row.state),
            trigger: Trigger::parse(&row.triggered_by),
            done,
            total,
            row,
        }
    }

    /// The report of a finished job (`None` while it runs, or when it failed).
    pub fn report(&self) -> Option<SyncReport> {
        let text = self.row.report.as_deref()?;
        match serde_json::from_str(text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(job = self.row.id, error = %e, "unreadable sync job report");
                None
            }
        }
    }
}

/// Counts fetched records: `done` of `total`.
#[derive(Default)]
struct JobProgress {
    done: AtomicUsize,
    total: AtomicUsize,
    /// Fetching is over; the apply transaction holds the write lock (no progress writes).
    applying: AtomicBool,
}

impl JobProgress {
    fn counts(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

impl SyncProgress for JobProgress {
    fn to_fetch(&self, n: usize) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }
    fn fetched(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    fn applying(&self) {
        self.applying.store(true, Ordering::Relaxed);
    }
}

/// The job running in this process.
struct Active {
    id: i32,
    progress: Arc<JobProgress>,
}

/// The sync job service: starts jobs, one at a time, and reads them.
#[derive(Clone)]
pub struct SyncJobs {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    /// The read model to rebuild when a job has applied something, so the next request after
    /// a job succeeded sees its changes (other processes see them through the watermark).
    store: Option<Arc<SnapshotStore>>,
    /// Serialises starts, so two cannot both see no job and both begin one.
    starting: tokio::sync::Mutex<()>,
    active: Mutex<Option<Active>>,
}

impl SyncJobs {
    pub fn new(db: DatabaseConnection) -> Self {
        Self::build(db, None)
    }

    /// Jobs whose applied syncs rebuild `store` before they are marked succeeded.
    pub fn with_store(db: DatabaseConnection, store: Arc<SnapshotStore>) -> Self {
        Self::build(db, Some(store))
    }

    fn build(db: DatabaseConnection, store: Option<Arc<SnapshotStore>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                store,
                starting: tokio::sync::Mutex::new(()),
                active: Mutex::new(None),
            }),
        }
    }

    /// The database the jobs are recorded in.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    fn active(&self) -> Option<(i32, Arc<JobProgress>)> {
        let active = self.inner.active.lock().ok()?;
        active.as_ref().map(|a| (a.id, a.progress.clone()))
    }

    /// At start-up: marks the jobs a dead process left `queued` or `running` as failed, unless
    /// another replica holds the job lock (its job is alive; a later start cleans up). A
    /// failure is only logged: a read-only database must still serve reads.
    pub async fn recover(&self) {
        let _starting = self.inner.starting.lock().await;
        let result = match JobLock::try_acquire(&self.inner.db).await {
            Ok(Some(lock)) => {
                let result = self.fail_interrupted().await;
                lock.release().await;
                result
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot check for sync jobs cut off by a restart");
        }
    }

    /// Starts a sync job and returns it at once, queued; or, when a job runs already (here or
    /// on another replica), returns that one. Bad options are refused before any job exists.
    pub async fn start(
        &self,
        source: SharedSource,
        opts: SyncOptions,
        trigger: Trigger,
    ) -> AppResult<SyncJob> {
        check_options(&self.inner.db, &opts).await?;
        let _starting = self.inner.starting.lock().await;
        if let Some((id, _)) = self.active() {
            return self.get(id).await;
        }
        let Some(lock) = JobLock::try_acquire(&self.inner.db).await? else {
            return self.running_elsewhere().await;
        };
        // With the lock held, no job can be running: any row that says so is a dead one's.
        if let Err(e) = self.fail_interrupted().await {
            lock.release().await;
            return Err(e);
        }
        let row = match insert_queued(&self.inner.db, &opts, trigger).await {
            Ok(row) => row,
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        };
        let progress = Arc::new(JobProgress::default());
        if let Ok(mut active) = self.inner.active.lock() {
            *active = Some(Active {
                id: row.id,
                progress: progress.clone(),
            });
        }
        let job = SyncJob::from_row(row.clone(), None);
        let this = self.clone();
        tokio::spawn(async move {
            // Clears the guard even if the run panics.
            let _clear = ClearActive(this.clone(), row.id);
            this.run_job(row.id, source, opts, progress).await;
            lock.release().await;
        });
        Ok(job)
    }

    /// The job a start found running on another replica. It may hold the lock a moment
    /// before its row exists, so look for a little while.
    async fn running_elsewhere(&self) -> AppResult<SyncJob> {
        for _ in 0..40 {
            let row = sync_job::Entity::find()
                .filter(
                    sync_job::Column::State
                        .is_in([JobState::Queued.as_str(), JobState::Running.as_str()]),
                )
                .order_by_desc(sync_job::Column::Id)
                .one(&self.inner.db)
                .await?;
            if let Some(row) = row {
                return Ok(SyncJob::from_row(row, None));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(AppError::Conflict(
            "Another instance is running a sync; try again in a moment.".into(),
        ))
    }

    /// Marks every `queued` or `running` job failed (the caller holds the job lock).
    async fn fail_interrupted(&self) -> AppResult<()> {
        let unfinished =
            sync_job::Column::State.is_in([JobState::Queued.as_str(), JobState::Running.as_str()]);
        // Read first: most starts find nothing, and then write nothing.
        let any = sync_job::Entity::find()
            .filter(unfinished.clone())
            .one(&self.inner.db)
            .await?;
        if any.is_none() {
            return Ok(());
        }
        let res = sync_job::Entity::update_many()
            .col_expr(
                sync_job::Column::State,
                Expr::value(JobState::Failed.as_str()),
            )
            .col_expr(sync_job::Column::Error, Expr::value(INTERRUPTED))
            .col_expr(sync_job::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(unfinished)
            .exec(&self.inner.db)
            .await?;
        if res.rows_affected > 0 {
            tracing::warn!(
                jobs = res.rows_affected,
                "sync jobs cut off by a restart marked failed; nothing of them was applied"
            );
        }
        Ok(())
    }

    /// Runs one job to its end and records the outcome.
    async fn run_job(
        &self,
        id: i32,
        source: SharedSource,
        opts: SyncOptions,
        progress: Arc<JobProgress>,
    ) {
        let db = &self.inner.db;
        if let Err(e) = set_running(db, id).await {
            tracing::error!(job = id, error = %e, "cannot mark the sync job running");
        }
        let flusher = tokio::spawn(flush_progress(db.clone(), id, progress.clone()));
        let dry_run = opts.dry_run;
        let outcome = super::run(db, &*source, opts, &*progress).await;
        flusher.abort();
        if let (Ok(_), false, Some(store)) = (&outcome, dry_run, &self.inner.store) {
            // Before the job reads as succeeded. A failed rebuild is retried by the watcher.
            let _ = store.refresh().await;
        }
        let (done, total) = progress.counts();
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let mut row = sync_job::ActiveModel {
            id: Set(id),
            finished_at: Set(Some(Utc::now())),
            progress_done: Set(count(done)),
            progress_total: Set(count(total)),
            ..Default::default()
        };
        match &outcome {
            Ok(report) => {
                row.state = Set(JobState::Succeeded.as_str().into());
                row.report = Set(serde_json::to_string(report).ok());
            }
            Err(e) => {
                tracing::warn!(job = id, error = %e, "sync job failed; nothing was applied");
                row.state = Set(JobState::Failed.as_str().into());
                row.error = Set(Some(e.to_string()));
            }
        }
        if let Err(e) = row.update(db).await {
            tracing::error!(job = id, error = %e, "cannot record the end of the sync job");
        }
    }

    /// One job; `NOT_FOUND` for an unknown id.
    pub async fn get(&self, id: i32) -> AppResult<SyncJob> {
        let row = sync_job::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("No sync job has id {id}.")))?;
        Ok(self.with_live(row))
    }

    /// The newest `limit` jobs (1 to 100), newest first.
    pub async fn list(&self, limit: u64) -> AppResult<Vec<SyncJob>> {
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(AppError::BadUserInput(format!(
                "`limit` must be from 1 to {MAX_LIST}."
            )));
        }
        let rows = sync_job::Entity::find()
            .order_by_desc(sync_job::Column::Id)
            .limit(limit)
            .all(&self.inner.db)
            .await?;
        Ok(rows.into_iter().map(|r| self.with_live(r)).collect())
    }

    fn with_live(&self, row: sync_job::Model) -> SyncJob {
        match self.active() {
            Some((id, progress)) if id == row.id && !JobState::parse(&row.state).is_finished() => {
                SyncJob::from_row(row, Some(&progress))
            }
            _ => SyncJob::from_row(row, None),
        }
    }

    /// Waits until the job has finished, and returns it.
    pub async fn finished(&self, id: i32) -> AppResult<SyncJob> {
        loop {
            let job = self.get(id).await?;
            if job.state.is_finished() {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Clears the service's running job when the job's task ends, however it ends.
struct ClearActive(SyncJobs, i32);

impl Drop for ClearActive {
    fn drop(&mut self) {
        if let Ok(mut active) = self.0.inner.active.lock() {
            if active.as_ref().is_some_and(|a| a.id == self.1) {
                *active = None;
            }
        }
    }
}

/// The checks `run` would refuse a job for, made before the job exists: the caller gets
/// `BAD_USER_INPUT` rather than a failed job.
async fn check_options(db: &DatabaseConnection, opts: &SyncOptions) -> AppResult<()> {
    if opts.full {
        if opts.since.is_some() {
            return Err(AppError::BadUserInput(
                "A full sync fetches every tracked record whatever its change date; give \
                 either `full` or `since`, not both."
                    .into(),
            ));
        }
        return Ok(());
    }
    super::resolve_since(db, opts.since, Utc::now().date_naive()).await?;
    Ok(())
}

async fn insert_queued(
    db: &DatabaseConnection,
    opts: &SyncOptions,
    trigger: Trigger,
) -> AppResult<sync_job::Model> {
    let row = sync_job::ActiveModel {
        id: NotSet,
        state: Set(JobState::Queued.as_str().into()),
        since: Set(opts.since),
        full_sync: Set(opts.full),
        dry_run: Set(opts.dry_run),
        actor: Set(opts.actor.clone()),
        triggered_by: Set(trigger.as_str().into()),
        requested_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        progress_done: Set(0),
        progress_total: Set(0),
        error: Set(None),
        report: Set(None),
    }
    .insert(db)
    .await?;
    Ok(row)
}

async fn set_running(db: &DatabaseConnection, id: i32) -> AppResult<()> {
    sync_job::ActiveModel {
        id: Set(id),
        state: Set(JobState::Running.as_str().into()),
        started_at: Set(Some(Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Writes the progress to the row now and then while records are fetched; stops once the
/// apply holds the write lock (a SQLite write would wait for it).
async fn flush_progress(db: DatabaseConnection, id: i32, progress: Arc<JobProgress>) {
    let mut last = (0, 0);
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        if progress.applying.load(Ordering::Relaxed) {
            return;
        }
        let now = progress.counts();
        if now == last {
            continue;
        }
        last = now;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let write = sync_job::Entity::update_many()
            .col_expr(sync_job::Column::ProgressDone, Expr::value(count(now.0)))
            .col_expr(sync_job::Column::ProgressTotal, Expr::value(count(now.1)))
            .filter(sync_job::Column::Id.eq(id))
            .exec(&db)
            .await;
        if let Err(e) = write {
            tracing::debug!(job = id, error = %e, "cannot write sync job progress");
        }
    }
}

/// The right to run a job: on PostgreSQL a session advisory lock on a connection of its own
/// (`Some`), held until released; on SQLite nothing beyond the in-process guard (`None`).
struct JobLock(Option<PoolConnection<Postgres>>);

impl JobLock {
    /// The lock, or `None` when another session holds it.
    async fn try_acquire(db: &DatabaseConnection) -> AppResult<Option<JobLock>> {
        if !matches!(db, DatabaseConnection::SqlxPostgresPoolConnection(_)) {
            return Ok(Some(JobLock(None)));
        }
        let pool = db.get_postgres_connection_pool();
        let mut conn = pool.acquire().await.map_err(sqlx_error)?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(JOB_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(sqlx_error)?;
        Ok(got.then_some(JobLock(Some(conn))))
    }

    /// Gives the lock up; if the unlock fails, the connection is closed (on drop), which ends
    /// the session and so the lock.
    async fn release(mut self) {
        if let Some(mut conn) = self.0.take() {
            let unlocked: Result<bool, _> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(JOB_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await;
            if matches!(unlocked, Ok(true)) {
                return;
            }
            tracing::warn!("cannot release the sync job lock; closing its connection");
            self.0 = Some(conn);
        }
    }
}

impl Drop for JobLock {
    /// A lock not released (a failed unlock, a panic) must not go back to the pool still held.
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

fn sqlx_error(e: sqlx::Error) -> AppError {
    AppError::Internal(format!("sync job lock: {e}"))
}

/// Reads a stored report's succession kind (stored as its text, as it serialises).
impl<'de> serde::Deserialize<'de> for SuccessionKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SuccessionKind::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown succession kind {text}")))
    }
}
