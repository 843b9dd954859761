//! Dated changes since the reference data, as a file of events (`events`), applied in file
//! order through the same operations as the admin mutations (`crate::reorganisations`), all or
//! nothing, once per event key (`applied_history_events`). `seed` applies the bundled file;
//! `history apply FILE` applies a curated one. The format is in `docs/history.md`.
pub mod events;
mod steps;

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set};

use crate::entities::applied_history_event;
use crate::errors::{AppError, AppResult};
use crate::reorganisations::ReorganisationReport;
pub use events::{Event, FormatError, BUNDLED};

/// The change log's source for what a history file changes.
pub const SOURCE: crate::change_log::ChangeSource = crate::change_log::ChangeSource::History;

/// What applying a file did (or, for a dry run, would do), event by event.
#[derive(Clone, Debug, Default)]
pub struct HistoryReport {
    pub dry_run: bool,
    pub events: Vec<EventOutcome>,
}

/// One event of the file.
#[derive(Clone, Debug)]
pub struct EventOutcome {
    /// `date kind code`.
    pub key: String,
    /// False when the event had been applied before (then `report` is empty).
    pub applied: bool,
    pub report: ReorganisationReport,
}

impl HistoryReport {
    /// Keys of the events this run applied.
    pub fn applied_keys(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.applied)
            .map(|e| e.key.clone())
            .collect()
    }

    /// How many events had been applied before.
    pub fn already_applied(&self) -> usize {
        self.events.iter().filter(|e| !e.applied).count()
    }

    /// Every warning, prefixed with its event's key.
    pub fn warnings(&self) -> Vec<String> {
        self.events
            .iter()
            .flat_map(|e| e.report.warnings.iter().map(|w| format!("{}: {w}", e.key)))
            .collect()
    }
}

/// The `history apply` report: each event's own report under its key.
impl std::fmt::Display for HistoryReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            writeln!(out, "dry run: nothing was changed; applying would give:")?;
        }
        for e in &self.events {
            if e.applied {
                writeln!(out, "{}: applied", e.key)?;
                for line in e.report.to_string().lines() {
                    writeln!(out, "  {line}")?;
                }
            } else {
                writeln!(out, "{}: already applied, skipped", e.key)?;
            }
        }
        writeln!(
            out,
            "{} events: {} applied, {} already applied",
            self.events.len(),
            self.events.len() - self.already_applied(),
            self.already_applied()
        )
    }
}

/// Applies the bundled history inside the caller's transaction (used by `seed`).
pub async fn apply_bundled<C: ConnectionTrait>(db: &C, actor: &str) -> AppResult<HistoryReport> {
    let events = events::parse(BUNDLED)
        .map_err(|e| AppError::Internal(format!("the bundled history: {e}")))?;
    apply_in(db, &events, actor).await
}

/// Applies a history file's text in one transaction; a dry run rolls it back and reports the
/// same.
pub async fn apply_file(
    db: &DatabaseConnection,
    text: &str,
    dry_run: bool,
    actor: &str,
) -> AppResult<HistoryReport> {
    let events = events::parse(text).map_err(|e| AppError::BadUserInput(e.to_string()))?;
    let txn = crate::writes::begin(db).await?;
    let mut report = apply_in(&*txn, &events, actor).await?;
    report.dry_run = dry_run;
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(report)
}

/// Applies each event not applied before, in order, and records its key; the caller owns the
/// transaction.
pub async fn apply_in<C: ConnectionTrait>(
    db: &C,
    events: &[Event],
    actor: &str,
) -> AppResult<HistoryReport> {
    let done: HashSet<String> = applied_history_event::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|e| e.key)
        .collect();
    let mut report = HistoryReport::default();
    for (i, event) in events.iter().enumerate() {
        let key = event.key();
        if done.contains(&key) {
            report.events.push(EventOutcome {
                key,
                applied: false,
                report: ReorganisationReport::default(),
            });
            continue;
        }
        let mut outcome = steps::apply(db, event, actor)
            .await
            .map_err(|e| in_event(e, i + 1, &key))?;
        warn_missing(db, event, &mut outcome).await?;
        record(db, event, actor).await?;
        report.events.push(EventOutcome {
            key,
            applied: true,
            report: outcome,
        });
    }
    Ok(report)
}

/// A site the event declares missing (`codes_not_in_seed`) that is still missing, and that the
/// operation did not already warn about, is a warning too.
async fn warn_missing<C: ConnectionTrait>(
    db: &C,
    event: &Event,
    report: &mut ReorganisationReport,
) -> AppResult<()> {
    for code in &event.codes_not_in_seed {
        let said = report.warnings.iter().any(|w| w.contains(code.as_str()));
        if !said
            && crate::reorganisations::current_site(db, code)
                .await?
                .is_none()
        {
            report.warnings.push(format!(
                "{code} is named by the event but is not a site we hold; applied without it"
            ));
        }
    }
    Ok(())
}

/// Names the event in a refusal, keeping its code.
fn in_event(e: AppError, number: usize, key: &str) -> AppError {
    let say = |m: String| format!("event {number} ({key}): {m}; nothing was applied");
    match e {
        AppError::BadUserInput(m) => AppError::BadUserInput(say(m)),
        AppError::NotFound(m) => AppError::NotFound(say(m)),
        AppError::Conflict(m) => AppError::Conflict(say(m)),
        other => other,
    }
}

async fn record<C: ConnectionTrait>(db: &C, event: &Event, actor: &str) -> AppResult<()> {
    applied_history_event::ActiveModel {
        key: Set(event.key()),
        effective_on: Set(event.date),
        kind: Set(event.kind().to_string()),
        actor: Set(actor.to_string()),
        applied_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
