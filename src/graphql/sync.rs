//! The `syncFromOrd` and `startSync` mutations and the `syncJob`/`syncJobs` queries:
//! authentication and mapping only; the rules live in `crate::sync` and `crate::sync::jobs`.
use std::sync::OnceLock;

use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};
use sea_orm::DatabaseConnection;

use super::scalars::{Date, Timestamp};
use crate::auth;
use crate::config::OrdSettings;
use crate::errors::AppError;
use crate::ord::SuccessionKind as OrdSuccessionKind;
use crate::sync::jobs::{self, SyncJobs, Trigger};
use crate::sync::{self, NoProgress, SharedSource, SyncOptions};

/// Sync mutations.
#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Brings the tracked sites, trusts, health boards, ICBs and regions up to date from the
    /// NHS ODS ORD API (or its FHIR successor, with `ODS_SOURCE=fhir`): names, addresses, contacts, open/closed status and the trust or health
    /// board that runs each site. Never creates records. All or nothing: if ORD fails for any
    /// tracked code, nothing is applied (`UPSTREAM_UNAVAILABLE`). Also reads ODS's deletion
    /// notices: a tracked site or trust ODS deleted is kept and marked (`odsDeletion`); a failed
    /// read of the notices is only a warning. Needs an admin key.
    async fn sync_from_ord(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "First ORD change date to include (at most 185 days ago). Default: the day \
                    after the last sync; the first time, 30 days ago."
        )]
        since: Option<Date>,
        #[graphql(
            default = false,
            desc = "Fetch the full record of every tracked code, whatever its change date (not \
                    with `since`): how an install whose last sync is older than 185 days \
                    catches up. At 5 requests per second this takes minutes; the HTTP request \
                    timeout may cut it short (nothing is then applied), so prefer \
                    `nhs-organisations sync --full`."
        )]
        full: bool,
        #[graphql(
            default = false,
            desc = "Report what would change without changing anything."
        )]
        dry_run: bool,
    ) -> Result<SyncReport> {
        let admin = auth::require_admin(ctx).await?;
        let db = ctx
            .data::<DatabaseConnection>()
            .map_err(|e| AppError::Internal(e.message))?;
        let source = source(ctx)?;
        let report = sync::run(
            db,
            &*source,
            SyncOptions {
                since: since.map(|d| d.0),
                full,
                dry_run,
                actor: admin.name,
            },
            &NoProgress,
        )
        .await?;
        Ok(report.into())
    }

    /// Starts a sync in the background and returns its job at once (state `QUEUED`); poll
    /// `syncJob(id)` until it is `SUCCEEDED` or `FAILED`. The sync is the one `syncFromOrd`
    /// runs, with the same arguments and report, but no request timeout cuts it short. One
    /// sync job runs at a time (across replicas on PostgreSQL): while one runs, this returns
    /// that job. Bad arguments are refused (`BAD_USER_INPUT`) before any job exists. Needs an
    /// admin key.
    async fn start_sync(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "As for `syncFromOrd`.")] since: Option<Date>,
        #[graphql(default = false, desc = "As for `syncFromOrd`.")] full: bool,
        #[graphql(default = false, desc = "As for `syncFromOrd`.")] dry_run: bool,
    ) -> Result<SyncJob> {
        let admin = auth::require_admin(ctx).await?;
        let source = source(ctx)?;
        let opts = SyncOptions {
            since: since.map(|d| d.0),
            full,
            dry_run,
            actor: admin.name,
        };
        let job = sync_jobs(ctx)?.start(source, opts, Trigger::Admin).await?;
        Ok(job.into())
    }
}

/// The schema's ODS source, or for schemas built without one the process-wide source from the
/// environment (`ODS_SOURCE`): every sync of the process then shares one rate limit.
pub(super) fn source(ctx: &Context<'_>) -> Result<SharedSource, AppError> {
    if let Some(source) = ctx.data_opt::<SharedSource>() {
        return Ok(source.clone());
    }
    static SOURCE: OnceLock<Result<SharedSource, String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| OrdSettings::from_env()?.source())
        .clone()
        .map_err(|e| AppError::Internal(format!("the ODS source is not configured: {e}")))
}

/// What a sync did, or for a dry run would do: the same report either way.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncReport {
    /// True when nothing was changed (a dry run).
    pub dry_run: bool,
    /// True for a full sync (every tracked record fetched).
    pub full: bool,
    /// The first ORD change date asked for; for a full sync, the day it ran.
    pub since: Date,
    /// Codes ORD listed as changed since then; for a full sync, every tracked code.
    pub listed: i32,
    /// Listed codes this service does not track (never created).
    pub untracked: i32,
    /// Records requested from ORD (404s included): the listed codes we track, plus the
    /// records of trusts that sites moved to (to find their ICB).
    pub fetched: i32,
    /// Listed codes of deleted sites, left alone.
    pub skipped_deleted: i32,
    /// Tracked codes ORD no longer knows (HTTP 404); they are left as they are.
    pub not_found: Vec<String>,
    /// Every field and membership change, by code.
    pub changes: Vec<SyncChange>,
    /// Sites now run by another trust or health board.
    pub moves: Vec<SyncMove>,
    /// Records that closed in this sync.
    pub closures: Vec<SyncClosure>,
    /// Successions (mergers, re-codings) recorded for the first time.
    pub successions: Vec<SyncSuccession>,
    /// Tracked sites and trusts newly marked as deleted at ODS (its deletion notices). They are
    /// kept, with `odsDeletion` set.
    pub deletions: Vec<SyncDeletion>,
    /// Things that need a look: unknown new parents, codes gone from ORD, ...
    pub warnings: Vec<String>,
}

/// One changed field, or one changed membership, of one record.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncChange {
    /// Code of the changed record.
    pub ods_code: String,
    /// Kind of record: `organisation`, `trust`, `local_health_board`,
    /// `integrated_care_board` or `nhs_england_region`.
    pub entity: String,
    /// The field (e.g. `name`, `postcode`, `active`) or membership (`trust`,
    /// `integrated_care_board`, ...) that changed.
    pub field: String,
    /// The value before (a code for memberships); null when there was none.
    pub before: Option<String>,
    /// The value after; null when there is none.
    pub after: Option<String>,
    /// The day the change takes effect (ORD's change date).
    pub effective_on: Date,
}

/// A site now run by another trust or health board.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncMove {
    /// ODS code of the site.
    pub ods_code: String,
    /// The trust or health board that ran it before.
    pub before: Option<String>,
    /// The trust or health board that runs it now.
    pub after: String,
    /// The day the move takes effect.
    pub effective_on: Date,
}

/// A record that closed.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncClosure {
    /// Code of the closed record.
    pub ods_code: String,
    /// Kind of record (`organisation` or `trust`).
    pub entity: String,
    /// The day ORD says it closed, when it says.
    pub closed_on: Option<Date>,
}

/// A succession link ORD lists on a tracked record.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncSuccession {
    /// Code of the tracked record.
    pub ods_code: String,
    /// Kind of record.
    pub entity: String,
    /// `predecessor` (the target was replaced by this record) or `successor` (the target
    /// replaced it).
    pub kind: String,
    /// `kind` as an enum: which side of the succession the target is.
    pub target_is: OrdSuccessionKind,
    /// Code of the other organisation.
    pub target_code: String,
    /// The day the succession took effect, when ORD says.
    pub effective_on: Option<Date>,
}

/// A tracked record ODS deleted after the newest version we hold.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncDeletion {
    /// Code of the deleted record.
    pub ods_code: String,
    /// Kind of record (`organisation` or `trust`).
    pub entity: String,
    /// The day ODS deleted it.
    pub deleted_on: Date,
    /// ODS's reason (e.g. `HUMAN ERROR`), when it gives one.
    pub reason: Option<String>,
}

/// The app's sync job service.
fn sync_jobs<'a>(ctx: &Context<'a>) -> Result<&'a SyncJobs, AppError> {
    ctx.data::<SyncJobs>()
        .map_err(|e| AppError::Internal(e.message))
}

/// Sync job queries (admin reads).
#[derive(Default)]
pub struct SyncJobQuery;

#[Object]
impl SyncJobQuery {
    /// One sync job, by id (`NOT_FOUND` for an unknown one). Needs an admin key.
    async fn sync_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: ID,
    ) -> Result<SyncJob> {
        auth::require_admin(ctx).await?;
        let id: i32 = id
            .parse()
            .map_err(|_| AppError::BadUserInput(format!("`{}` is not a sync job id.", id.0)))?;
        Ok(sync_jobs(ctx)?.get(id).await?.into())
    }

    /// The newest sync jobs, newest first: those `startSync` started and the scheduled ones.
    /// Needs an admin key.
    async fn sync_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many jobs, from 1 to 100.")] limit: i32,
    ) -> Result<Vec<SyncJob>> {
        auth::require_admin(ctx).await?;
        let limit = u64::try_from(limit).unwrap_or(0);
        let jobs = sync_jobs(ctx)?.list(limit).await?;
        Ok(jobs.into_iter().map(SyncJob::from).collect())
    }
}

/// Where a sync job is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncJobState {
    /// Recorded, not started yet.
    Queued,
    /// Fetching from ORD or applying.
    Running,
    /// Finished; `report` says what it did (or, for a dry run, would do).
    Succeeded,
    /// Finished without applying anything; `error` says why (`interrupted by a restart` for a
    /// job a restart cut off).
    Failed,
}

/// What started a sync job.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncJobTrigger {
    /// `startSync`, with an admin key.
    Admin,
    /// The `SYNC_EVERY` or `SYNC_FULL_EVERY` schedule.
    Schedule,
}

/// How far a sync job is: ORD records fetched of those it will fetch.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncJobProgress {
    /// Records fetched so far.
    pub done: i32,
    /// Records to fetch, as far as known (it grows when moved sites' new trusts are looked up).
    pub total: i32,
}

/// A sync run in the background (`startSync` or the schedule).
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncJob {
    /// The job's id, for `syncJob(id)`.
    pub id: ID,
    /// Queued, running, succeeded or failed.
    pub state: SyncJobState,
    /// What started it.
    pub trigger: SyncJobTrigger,
    /// The admin key's name, or `scheduler`.
    pub actor: String,
    /// The `since` asked for; null for the default (or a full sync).
    pub since: Option<Date>,
    /// A full sync.
    pub full: bool,
    /// A dry run: reports, changes nothing.
    pub dry_run: bool,
    /// When it was asked for.
    pub requested_at: Timestamp,
    /// When it started running.
    pub started_at: Option<Timestamp>,
    /// When it finished (either way).
    pub finished_at: Option<Timestamp>,
    /// Records fetched of those to fetch.
    pub progress: SyncJobProgress,
    /// Why it failed; null unless `FAILED`.
    pub error: Option<String>,
    /// What it did, as `syncFromOrd` reports it; null until it has succeeded.
    pub report: Option<SyncReport>,
}

impl From<jobs::SyncJob> for SyncJob {
    fn from(job: jobs::SyncJob) -> Self {
        let report = job.report().map(SyncReport::from);
        let row = job.row;
        Self {
            id: ID(row.id.to_string()),
            state: match job.state {
                jobs::JobState::Queued => SyncJobState::Queued,
                jobs::JobState::Running => SyncJobState::Running,
                jobs::JobState::Succeeded => SyncJobState::Succeeded,
                jobs::JobState::Failed => SyncJobState::Failed,
            },
            trigger: match job.trigger {
                Trigger::Admin => SyncJobTrigger::Admin,
                Trigger::Schedule => SyncJobTrigger::Schedule,
            },
            actor: row.actor,
            since: row.since.map(Date),
            full: row.full_sync,
            dry_run: row.dry_run,
            requested_at: Timestamp(row.requested_at),
            started_at: row.started_at.map(Timestamp),
            finished_at: row.finished_at.map(Timestamp),
            progress: SyncJobProgress {
                done: count(job.done),
                total: count(job.total),
            },
            error: row.error,
            report,
        }
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<sync::SyncReport> for SyncReport {
    fn from(r: sync::SyncReport) -> Self {
        Self {
            dry_run: r.dry_run,
            full: r.full,
            since: Date(r.since),
            listed: count(r.listed),
            untracked: count(r.untracked),
            fetched: count(r.fetched),
            skipped_deleted: count(r.skipped_deleted),
            not_found: r.not_found,
            changes: r
                .changes
                .into_iter()
                .map(|c| SyncChange {
                    ods_code: c.ods_code,
                    entity: c.entity,
                    field: c.field,
                    before: c.before,
                    after: c.after,
                    effective_on: Date(c.effective_on),
                })
                .collect(),
            moves: r
                .moves
                .into_iter()
                .map(|m| SyncMove {
                    ods_code: m.ods_code,
                    before: m.before,
                    after: m.after,
                    effective_on: Date(m.effective_on),
                })
                .collect(),
            closures: r
                .closures
                .into_iter()
                .map(|c| SyncClosure {
                    ods_code: c.ods_code,
                    entity: c.entity,
                    closed_on: c.closed_on.map(Date),
                })
                .collect(),
            successions: r
                .successions
                .into_iter()
                .map(|s| SyncSuccession {
                    ods_code: s.ods_code,
                    entity: s.entity,
                    target_is: s.kind,
                    kind: s.kind.as_str().to_string(),
                    target_code: s.target_code,
                    effective_on: s.effective_on.map(Date),
                })
                .collect(),
            deletions: r
                .deletions
                .into_iter()
                .map(|d| SyncDeletion {
                    ods_code: d.ods_code,
                    entity: d.entity,
                    deleted_on: Date(d.deleted_on),
                    reason: d.reason,
                })
                .collect(),
            warnings: r.warnings,
        }
    }
}
