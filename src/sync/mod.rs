//! The ORD sync: keeps the records we track current from the NHS ODS ORD API.
//!
//! One run: work out `since`, ask ORD which codes changed since then, fetch the full record of
//! every listed code we track (all of them, before writing anything), then apply them in ONE
//! database transaction together with their change-log rows and the watermark row. A dry run
//! runs exactly the same apply code and rolls the transaction back, so its report is the one
//! the real run would give. Any ORD failure for a tracked code aborts before the transaction:
//! nothing is written and the watermark stays where it was. The rules are in `docs/sync.md`.
//!
//! Which file holds what:
//! - `mod.rs`: the public API (options, progress hooks, the report types and their text form),
//!   `run` and its transaction, `resolve_since`, the schedule, and `Tracked` (the codes we hold);
//! - `fetch.rs`: asking ORD for the records of the listed codes and of the trusts sites move to;
//! - `apply.rs`: the `Apply` writer: field updates, closures, memberships, successions;
//! - `reparent.rs`: moving a site to another trust or health board and following the move
//!   (country, ICB, region);
//! - `deletions.rs`: marking the sites and trusts ODS deleted (its `notifications`).
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, NotSet,
    QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::change_log::{self, Change, ChangeContext, ChangeSource};
use crate::entities::{organisation, sync_run};
use crate::errors::{AppError, AppResult};
use crate::memberships;
use crate::ord::{OrdDeletion, OrdOrganisation, SuccessionKind};
use crate::placement::{self, ParentKind};
use crate::reference_data::ReferenceData;

mod apply;
mod deletions;
mod fetch;
pub mod jobs;
mod reparent;
pub mod source;

pub use source::{SharedSource, Source, SourceDeletion, SourceRecord};

use apply::Apply;
use fetch::{fetch_all, trusts_to_look_up};

/// ORD only serves changes from the last 185 days.
pub const MAX_SINCE_DAYS: i64 = 185;
/// How far back the very first sync looks.
pub const FIRST_SYNC_DAYS: i64 = 30;
/// Most ORD requests in flight at once (the rate limiter spaces them anyway).
pub const MAX_CONCURRENCY: usize = 32;

/// Actors of syncs that no admin key started.
pub mod actor {
    /// `nhs-organisations sync`.
    pub const CLI: &str = "cli";
    /// The `SYNC_EVERY` and `SYNC_FULL_EVERY` schedules inside `serve`.
    pub const SCHEDULER: &str = "scheduler";
}

/// What to sync, and who asks.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// First `LastChangeDate` to ask ORD for; `None` = the day after the last sync.
    pub since: Option<NaiveDate>,
    /// A full reconcile: fetch every tracked code, whatever its `LastChangeDate` (no `since`).
    pub full: bool,
    /// Compute the report, change nothing.
    pub dry_run: bool,
    /// Recorded in the change log: the admin key's name, `cli` or `scheduler`.
    pub actor: String,
}

/// Hooks for showing progress (the CLI's progress bar); every method has a no-op default.
pub trait SyncProgress: Send + Sync {
    /// `n` more records will be fetched.
    fn to_fetch(&self, _n: usize) {}
    /// One record was fetched.
    fn fetched(&self) {}
    /// Fetching is over; the transaction starts.
    fn applying(&self) {}
}

/// Progress that shows nothing.
pub struct NoProgress;
impl SyncProgress for NoProgress {}

/// What a sync did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub dry_run: bool,
    /// A full reconcile (every tracked code fetched).
    pub full: bool,
    /// The first `LastChangeDate` asked for; a full reconcile's own day.
    pub since: NaiveDate,
    /// Codes ORD listed as changed; for a full reconcile, every tracked code.
    pub listed: usize,
    /// Listed codes we do not track (counted, never created).
    pub untracked: usize,
    /// Records requested from ORD, 404s included (listed tracked codes, plus new parents').
    pub fetched: usize,
    /// Listed codes of soft-deleted sites (left alone).
    pub skipped_deleted: usize,
    /// Tracked codes ORD answered 404 for (left as they are).
    pub not_found: Vec<String>,
    /// Every field and membership change, in code order.
    pub changes: Vec<SyncChange>,
    /// Sites that moved to another trust or health board.
    pub moves: Vec<SyncMove>,
    /// Records that closed (active → inactive).
    pub closures: Vec<SyncClosure>,
    /// Successions seen for the first time.
    pub successions: Vec<SyncSuccession>,
    /// Tracked records newly marked as deleted at ODS (from its `notifications`).
    pub deletions: Vec<SyncDeletion>,
    pub warnings: Vec<String>,
}

/// One changed field (or membership edge) of one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange {
    pub ods_code: String,
    pub entity: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub effective_on: NaiveDate,
}

/// A site that changed parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMove {
    pub ods_code: String,
    pub before: Option<String>,
    pub after: String,
    pub effective_on: NaiveDate,
}

/// A record that closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncClosure {
    pub ods_code: String,
    pub entity: String,
    pub closed_on: Option<NaiveDate>,
}

/// A tracked record ODS deleted after the newest version we hold, now marked (never removed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDeletion {
    pub ods_code: String,
    pub entity: String,
    /// The day ODS deleted it.
    pub deleted_on: NaiveDate,
    /// ODS's reason, e.g. `HUMAN ERROR`.
    pub reason: Option<String>,
}

/// A succession link newly recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSuccession {
    pub ods_code: String,
    pub entity: String,
    /// `predecessor` or `successor`.
    pub kind: SuccessionKind,
    pub target_code: String,
    pub effective_on: Option<NaiveDate>,
}

/// Runs a sync: resolve `since`, fetch the listed tracked codes, apply them and write the
/// run row in one transaction, then commit (or roll back a dry run). See `docs/sync.md`.
pub async fn run(
    db: &DatabaseConnection,
    ord: &dyn Source,
    opts: SyncOptions,
    progress: &dyn SyncProgress,
) -> AppResult<SyncReport> {
    let started_at = Utc::now();
    let today = started_at.date_naive();
    // A full reconcile needs no change list, so ORD's 185-day window does not bind it.
    let (since, listed) = if opts.full {
        if opts.since.is_some() {
            return Err(AppError::BadUserInput(
                "A full sync fetches every tracked record whatever its change date; give \
                 either `full` or `since`, not both."
                    .into(),
            ));
        }
        (today, None)
    } else {
        let since = resolve_since(db, opts.since, today).await?;
        (since, Some(ord.changed_since(since).await?))
    };
    // A second opinion on what is gone: a failed read is a warning, never a failed sync.
    let notices = ord.deletions().await.map_err(|e| e.to_string());
    // The bundled trust → ICB lookup: the last word on a moved site's ICB (`placement`).
    let icb_lookup = ReferenceData::bundled()?.icb_lookup;
    let tracked = Tracked::load(db).await?;
    let listed = listed.unwrap_or_else(|| tracked.live_codes());
    let mut report = SyncReport {
        dry_run: opts.dry_run,
        full: opts.full,
        since,
        listed: listed.len(),
        ..Default::default()
    };
    let wanted = tracked_codes(&listed, &tracked, &mut report);

    let mut records = fetch_all(ord, wanted, progress).await?;
    let parents = trusts_to_look_up(db, &tracked, &records).await?;
    let extra = fetch_all(ord, parents, progress).await?;
    report.fetched = records.len() + extra.len();
    // Extra records only inform moves; they are never applied themselves.
    let lookups: BTreeMap<String, Option<OrdOrganisation>> = extra;

    progress.applying();
    // One writer at a time (the schedule, a mutation, a merger): each apply re-reads what the
    // one before it wrote and finds nothing left to do. Fetching runs concurrently; the shared
    // ORD client keeps the request rate.
    let txn = crate::writes::begin(db).await?;
    let ctx = ChangeContext::new(opts.actor.clone(), ChangeSource::OrdSync, today);
    let apply = Apply::new(&*txn, today, icb_lookup).await?;
    let log = apply_records(
        apply,
        (std::mem::take(&mut records), &lookups),
        &notices,
        &ord.name().to_ascii_uppercase(),
        &mut report,
    )
    .await?;
    change_log::record(&*txn, &ctx, log).await?;
    insert_run(&*txn, (started_at, today), &opts.actor, &report).await?;
    if opts.dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    log_finished(&opts.actor, &report);
    Ok(report)
}

/// Logs the outcome of a finished run.
fn log_finished(actor: &str, report: &SyncReport) {
    tracing::info!(
        actor = %actor,
        dry_run = report.dry_run,
        since = %report.since,
        listed = report.listed,
        untracked = report.untracked,
        fetched = report.fetched,
        changes = report.changes.len(),
        moves = report.moves.len(),
        deletions = report.deletions.len(),
        warnings = report.warnings.len(),
        "ORD sync finished"
    );
}

/// Sorts the listed codes: the ones we track are fetched; deleted sites and untracked codes
/// are only counted in the report.
fn tracked_codes(
    listed: &[String],
    tracked: &Tracked,
    report: &mut SyncReport,
) -> BTreeSet<String> {
    let mut wanted = BTreeSet::new();
    for code in listed {
        if tracked.is_live(code) {
            wanted.insert(code.clone());
        } else if tracked.deleted_sites.contains(code) {
            report.skipped_deleted += 1;
        } else {
            report.untracked += 1;
        }
    }
    wanted
}

/// Fetched records by code; `None` for a 404.
type Records = BTreeMap<String, Option<OrdOrganisation>>;

/// Applies each fetched record in code order, then the deletion notices (a failed read of them
/// is a warning); a 404 is reported and left as it is, and warned about unless a deletion mark
/// explains it. Moves what the writer collected into the report and returns its change-log rows.
async fn apply_records<C: ConnectionTrait>(
    mut apply: Apply<'_, C>,
    (records, lookups): (Records, &Records),
    notices: &Result<Vec<OrdDeletion>, String>,
    source: &str,
    report: &mut SyncReport,
) -> Result<Vec<Change>, DbErr> {
    let mut published = HashSet::new();
    for (code, record) in records {
        match record {
            Some(rec) => {
                apply.record(&code, &rec, lookups).await?;
                published.insert(code);
            }
            None => report.not_found.push(code),
        }
    }
    match notices {
        Ok(notices) => apply.deletions(notices, &published).await?,
        Err(e) => apply.warn(format!(
            "notifications: cannot read ODS's deletion notices ({e}); deletions were not \
             checked in this run"
        )),
    }
    for code in &report.not_found {
        if !apply.marked_deleted(code).await? {
            apply.warn(format!(
                "{code}: {source} has no record for this code (HTTP 404); left as it is"
            ));
        }
    }
    let Apply {
        log,
        changes,
        moves,
        closures,
        successions,
        deletions,
        warnings,
        ..
    } = apply;
    report.changes = changes;
    report.moves = moves;
    report.closures = closures;
    report.successions = successions;
    report.deletions = deletions;
    report.warnings = warnings;
    Ok(log)
}

/// Writes the run's `sync_run` row (the watermark) with its counts and JSON report.
async fn insert_run<C: ConnectionTrait>(
    db: &C,
    (started_at, today): (chrono::DateTime<Utc>, NaiveDate),
    actor: &str,
    report: &SyncReport,
) -> Result<(), DbErr> {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    sync_run::ActiveModel {
        id: NotSet,
        started_at: Set(started_at),
        finished_at: Set(Utc::now()),
        since: Set(report.since),
        synced_on: Set(today),
        actor: Set(actor.to_string()),
        listed: Set(count(report.listed)),
        untracked: Set(count(report.untracked)),
        fetched: Set(count(report.fetched)),
        changes: Set(count(report.changes.len())),
        warnings: Set(count(report.warnings.len())),
        report: Set(serde_json::to_string(report).ok()),
        full_sync: Set(report.full),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The day after the last applied sync (never later than today), else 30 days ago; checked
/// against ORD's 185-day window before any request.
pub async fn resolve_since(
    db: &DatabaseConnection,
    given: Option<NaiveDate>,
    today: NaiveDate,
) -> AppResult<NaiveDate> {
    let oldest = today - Duration::days(MAX_SINCE_DAYS);
    if let Some(since) = given {
        if since > today {
            return Err(AppError::BadUserInput(format!(
                "`since` ({since}) is in the future; give a date from {oldest} to {today}."
            )));
        }
        if since < oldest {
            return Err(AppError::BadUserInput(format!(
                "`since` ({since}) is more than {MAX_SINCE_DAYS} days ago; ORD only lists changes \
                 from {oldest} on. Give a later date."
            )));
        }
        return Ok(since);
    }
    let last = sync_run::Entity::find()
        .order_by_desc(sync_run::Column::SyncedOn)
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await?;
    let since = match &last {
        Some(run) => (run.synced_on + Duration::days(1)).min(today),
        None => today - Duration::days(FIRST_SYNC_DAYS),
    };
    if since < oldest {
        return Err(AppError::BadUserInput(format!(
            "The last sync ran on {}, more than {MAX_SINCE_DAYS} days ago, and ORD only lists \
             changes from {oldest} on. Pass `since` explicitly (changes before it will not be seen).",
            last.map(|r| r.synced_on.to_string()).unwrap_or_default()
        )));
    }
    Ok(since)
}

/// The codes we track, by entity.
struct Tracked {
    /// Live (not soft-deleted) sites.
    sites: HashMap<String, i32>,
    deleted_sites: HashSet<String>,
    trusts: HashMap<String, i32>,
    lhbs: HashMap<String, i32>,
    icbs: HashMap<String, i32>,
    regions: HashMap<String, i32>,
}

impl Tracked {
    /// Reads every tracked code and id.
    async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        let mut sites = HashMap::new();
        let mut deleted_sites = HashSet::new();
        for o in organisation::Entity::find().all(db).await? {
            if o.deleted_at.is_some() {
                deleted_sites.insert(o.ods_code);
            } else {
                sites.insert(o.ods_code, o.id);
            }
        }
        Ok(Self {
            sites,
            deleted_sites,
            trusts: memberships::ids_by_code(db, memberships::TRUSTS).await?,
            lhbs: memberships::ids_by_code(db, memberships::LOCAL_HEALTH_BOARDS).await?,
            icbs: memberships::ids_by_code(db, memberships::INTEGRATED_CARE_BOARDS).await?,
            regions: memberships::ids_by_code(db, memberships::NHS_ENGLAND_REGIONS).await?,
        })
    }

    /// What a parent code is among what we track (`placement::parent_kind`).
    fn parent_kind(&self, code: &str) -> Option<ParentKind> {
        placement::parent_kind(self.lhbs.contains_key(code), self.trusts.contains_key(code))
    }

    /// Every live site, trust, board, ICB and region code, sorted, each once (a full sync).
    fn live_codes(&self) -> Vec<String> {
        let all: BTreeSet<&String> = [
            &self.sites,
            &self.trusts,
            &self.lhbs,
            &self.icbs,
            &self.regions,
        ]
        .into_iter()
        .flat_map(HashMap::keys)
        .collect();
        all.into_iter().cloned().collect()
    }

    /// Whether the code is a live site, a trust, a board, an ICB or a region we hold.
    fn is_live(&self, code: &str) -> bool {
        self.sites.contains_key(code)
            || self.trusts.contains_key(code)
            || self.lhbs.contains_key(code)
            || self.icbs.contains_key(code)
            || self.regions.contains_key(code)
    }
}

/// After a failed scheduled sync, try again this soon (or at the normal interval if shorter).
const RETRY_FAILED_SCHEDULE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs the sync every `every` (actor `scheduler`) as a job of a service of its own; `serve`
/// uses `spawn_job_schedule` with the app's. The first run is due `every` after the last
/// applied sync (at once if there never was one), so restarts do not postpone it.
pub fn spawn_schedule(
    db: DatabaseConnection,
    source: SharedSource,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    spawn_job_schedule(jobs::SyncJobs::new(db), source, every, false)
}

/// Runs a full reconcile every `every` (`SYNC_FULL_EVERY`; actor `scheduler`), the first one
/// due `every` after the last applied full sync (at once if there never was one).
pub fn spawn_full_schedule(
    db: DatabaseConnection,
    source: SharedSource,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    spawn_job_schedule(jobs::SyncJobs::new(db), source, every, true)
}

/// Runs incremental (or, with `full`, full) syncs every `every` as jobs of `jobs`, so they
/// are listed with the others and never overlap one.
pub fn spawn_job_schedule(
    jobs: jobs::SyncJobs,
    source: SharedSource,
    every: std::time::Duration,
    full: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(schedule(jobs, source, every, full))
}

/// The loop of a schedule. A run due while another job runs waits for that job and counts it
/// as its own.
async fn schedule(
    jobs: jobs::SyncJobs,
    source: SharedSource,
    every: std::time::Duration,
    full: bool,
) {
    let kind = if full { "full" } else { "incremental" };
    let mut wait = first_wait(jobs.db(), every, full).await;
    loop {
        tracing::info!(
            in_secs = wait.as_secs(),
            kind,
            source = source.name(),
            "next scheduled sync"
        );
        tokio::time::sleep(wait).await;
        let opts = SyncOptions {
            since: None,
            full,
            dry_run: false,
            actor: actor::SCHEDULER.to_string(),
        };
        let outcome = match jobs
            .start(source.clone(), opts, jobs::Trigger::Schedule)
            .await
        {
            Ok(job) => jobs.finished(job.row.id).await,
            Err(e) => Err(e),
        };
        let report = outcome.and_then(|job| match job.report() {
            Some(report) if job.state == jobs::JobState::Succeeded => Ok(report),
            _ => Err(AppError::Internal(job.row.error.unwrap_or_default())),
        });
        wait = match report {
            Ok(report) => {
                tracing::info!(
                    kind,
                    since = %report.since,
                    listed = report.listed,
                    untracked = report.untracked,
                    changes = report.changes.len(),
                    moves = report.moves.len(),
                    closures = report.closures.len(),
                    warnings = report.warnings.len(),
                    "scheduled sync applied"
                );
                for w in &report.warnings {
                    tracing::warn!("scheduled sync: {w}");
                }
                every
            }
            Err(e) => {
                tracing::error!(error = %e, kind, "scheduled sync failed; nothing was applied");
                every.min(RETRY_FAILED_SCHEDULE)
            }
        };
    }
}

/// How long until the first scheduled run: `every` after the last run (the last full run, for
/// the full schedule) finished, at least zero.
async fn first_wait(
    db: &DatabaseConnection,
    every: std::time::Duration,
    full: bool,
) -> std::time::Duration {
    let mut query = sync_run::Entity::find().order_by_desc(sync_run::Column::FinishedAt);
    if full {
        query = query.filter(sync_run::Column::FullSync.eq(true));
    }
    let last = query.one(db).await;
    match last {
        Ok(Some(run)) => {
            let due = run.finished_at + chrono::Duration::from_std(every).unwrap_or_default();
            (due - Utc::now()).to_std().unwrap_or_default()
        }
        Ok(None) => std::time::Duration::ZERO,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last sync; syncing now");
            std::time::Duration::ZERO
        }
    }
}

/// The human-readable report of the `sync` command.
impl std::fmt::Display for SyncReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let outcome = if r.dry_run {
            "DRY RUN, nothing was changed"
        } else {
            "applied"
        };
        if r.full {
            writeln!(
                out,
                "Full ORD sync of every tracked record on {}: {outcome}.",
                r.since
            )?;
        } else {
            writeln!(out, "ORD sync of changes since {}: {outcome}.", r.since)?;
        }
        writeln!(
            out,
            "listed {}, untracked {}, fetched {}, deleted sites skipped {}, not found {}",
            r.listed,
            r.untracked,
            r.fetched,
            r.skipped_deleted,
            r.not_found.len()
        )?;
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        writeln!(out, "{}:", plural(r.changes.len(), "change", "changes"))?;
        for c in &r.changes {
            writeln!(
                out,
                "  {:<8} {}.{}: {} -> {} (from {})",
                c.ods_code,
                c.entity,
                c.field,
                show(&c.before),
                show(&c.after),
                c.effective_on
            )?;
        }
        if !r.moves.is_empty() {
            writeln!(out, "{}:", plural(r.moves.len(), "move", "moves"))?;
            for m in &r.moves {
                writeln!(
                    out,
                    "  {:<8} {} -> {} (from {})",
                    m.ods_code,
                    show(&m.before),
                    m.after,
                    m.effective_on
                )?;
            }
        }
        if !r.closures.is_empty() {
            writeln!(out, "{}:", plural(r.closures.len(), "closure", "closures"))?;
            for c in &r.closures {
                let on = c.closed_on.map(|d| format!(" on {d}")).unwrap_or_default();
                writeln!(out, "  {:<8} {} closed{on}", c.ods_code, c.entity)?;
            }
        }
        if !r.successions.is_empty() {
            writeln!(
                out,
                "{}:",
                plural(r.successions.len(), "new succession", "new successions")
            )?;
            for s in &r.successions {
                let on = s
                    .effective_on
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                writeln!(out, "  {:<8} {} {}{on}", s.ods_code, s.kind, s.target_code)?;
            }
        }
        if !r.deletions.is_empty() {
            writeln!(
                out,
                "{}:",
                plural(r.deletions.len(), "deletion at ODS", "deletions at ODS")
            )?;
            for d in &r.deletions {
                let why = d.reason.as_deref().unwrap_or("no reason given");
                writeln!(
                    out,
                    "  {:<8} {} deleted on {} ({why}); kept, marked",
                    d.ods_code, d.entity, d.deleted_on
                )?;
            }
        }
        if !r.warnings.is_empty() {
            writeln!(out, "{}:", plural(r.warnings.len(), "warning", "warnings"))?;
            for w in &r.warnings {
                writeln!(out, "  - {w}")?;
            }
        }
        Ok(())
    }
}
