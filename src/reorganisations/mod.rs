//! Dated reorganisations at every level of the hierarchy: trust acquisitions and renames, PDU
//! mergers, splits, creations and updates, ICB reorganisations. The rules are explained in
//! `docs/reorganisations.md`.
//!
//! Each operation is an `apply_*` function that works on a connection or an open transaction
//! and never commits, so that a caller can apply several in one transaction (each sees what the
//! earlier ones wrote), plus a wrapper that opens the write transaction (`crate::writes`),
//! commits it (or rolls it back for a dry run) and returns the report.
pub mod icbs;
pub mod pdus;
pub mod report;
pub mod trusts;

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::{json, Value};

use crate::change_log::{self, Change, ChangeAction, ChangeContext, ChangeSource};
use crate::entities::{change_log as log_entry, ord_succession, organisation};
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, EntityTable};
use crate::ord::SuccessionKind as OrdSuccessionKind;
use crate::writes::{self, WriteTxn};

pub use icbs::{
    apply_reorganise_integrated_care_boards, reorganise_integrated_care_boards, BoardSuccession,
    NewBoard, ReorganiseBoards, SiteMove,
};
pub use pdus::{
    apply_create_paediatric_diabetes_unit, apply_merge_paediatric_diabetes_units,
    apply_split_paediatric_diabetes_unit, apply_update_paediatric_diabetes_unit,
    create_paediatric_diabetes_unit, merge_paediatric_diabetes_units,
    split_paediatric_diabetes_unit, update_paediatric_diabetes_unit, CreateUnit, MergeUnits,
    SplitUnit, UnitSuccessor, UpdateUnit,
};
pub use report::{
    MembershipMove, RecordAction, RecordChange, ReorganisationReport, SuccessionKind,
    SuccessionRecord,
};
pub use trusts::{acquire_trusts, apply_acquire_trusts, apply_rename_trust, rename_trust};
pub use trusts::{AcquireTrusts, RenameTrust};

/// Who makes a reorganisation, and the change-log source it is recorded under (the GraphQL and
/// CLI paths pass `ChangeSource::Reorganisation`; the bundled-history importer its own).
#[derive(Clone, Debug)]
pub struct Author {
    pub actor: String,
    pub source: ChangeSource,
}

impl Author {
    pub fn new(actor: impl Into<String>, source: ChangeSource) -> Self {
        Self {
            actor: actor.into(),
            source,
        }
    }

    /// The change-log context of an operation dated `on`.
    fn context(&self, on: NaiveDate) -> ChangeContext {
        ChangeContext::new(self.actor.clone(), self.source, on)
    }
}

/// What an operation has done so far: the report, and the change-log entries not yet written
/// (written in the same transaction, before anything reads the log and at the end).
pub(crate) struct Work {
    pub on: NaiveDate,
    pub report: ReorganisationReport,
    context: ChangeContext,
    log: Vec<Change>,
}

impl Work {
    pub fn new(author: &Author, on: NaiveDate) -> Self {
        Self {
            on,
            report: ReorganisationReport::default(),
            context: author.context(on),
            log: Vec::new(),
        }
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.report.warnings.push(warning.into());
    }

    /// Writes the pending change-log entries.
    pub async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> AppResult<()> {
        let entries = std::mem::take(&mut self.log);
        change_log::record(db, &self.context, entries).await?;
        Ok(())
    }

    /// Writes the change log and hands back the report.
    pub async fn finish<C: ConnectionTrait>(mut self, db: &C) -> AppResult<ReorganisationReport> {
        self.flush(db).await?;
        Ok(self.report)
    }
}

/// Upper-cases a list of codes with `check`, refusing an empty list; repeats are handled once
/// with a warning.
pub(crate) fn distinct_codes<T: AsRef<str>>(
    raw: &[T],
    what: &str,
    work: &mut Work,
) -> AppResult<Vec<String>> {
    if raw.is_empty() {
        return Err(AppError::BadUserInput(format!("Give at least one {what}.")));
    }
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        let code = r.as_ref().to_owned();
        if out.contains(&code) {
            work.warn(format!("{code} is listed more than once; handled once"));
        } else {
            out.push(code);
        }
    }
    Ok(out)
}

/// A trimmed, non-empty name.
pub(crate) fn checked_name(raw: &str, what: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::BadUserInput(format!(
            "The {what} must be 1 to 200 characters."
        )));
    }
    Ok(name.to_string())
}

/// The id of the record with this code, or `NOT_FOUND` naming it.
pub(crate) async fn require_id<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
    what: &str,
) -> AppResult<i32> {
    memberships::id_of(db, table, code)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("We hold no {what} {code}.")))
}

/// Refuses a record that does not exist on the day (not yet opened, or closed by then).
pub(crate) async fn require_exists_on<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
    what: &str,
    on: NaiveDate,
) -> AppResult<()> {
    if memberships::exists_on(db, table, code, on).await? {
        return Ok(());
    }
    Err(AppError::BadUserInput(format!(
        "The {what} {code} does not exist on {on} (not yet opened, or closed by then); \
         nothing was changed."
    )))
}

/// A current (not deleted) site by ODS code; `None` when we hold none.
pub(crate) async fn current_site<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> AppResult<Option<organisation::Model>> {
    Ok(organisation::Entity::find()
        .filter(organisation::Column::OdsCode.eq(code))
        .filter(organisation::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Moves a child's membership on `edge` from the work's date (the dated rules of
/// `memberships::set_parent_on`), reporting and logging the move.
pub(crate) async fn move_edge<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child: (i32, &str),
    parent: Option<(i32, &str)>,
    work: &mut Work,
) -> AppResult<()> {
    let Some((moved, entry)) = memberships::set_parent_on(db, edge, child, parent, work.on).await?
    else {
        return Ok(());
    };
    work.log.push(entry);
    work.report.moves.push(MembershipMove {
        entity: edge.child().entity,
        code: child.1.to_string(),
        edge,
        from: moved.before,
        to: moved.after,
        effective_on: work.on,
    });
    Ok(())
}

/// Records that a new record opens on the work's date (its `create` entry holds `after`; it is
/// written at once, so that the record exists for what follows).
pub(crate) async fn opened<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
    after: Option<Value>,
    work: &mut Work,
) -> AppResult<()> {
    let name = after
        .as_ref()
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .map(String::from);
    work.log.push(
        Change::new(table.entity, code, ChangeAction::Create)
            .after(after)
            .effective_on(work.on),
    );
    work.report.records.push(RecordChange {
        entity: table.entity,
        code: code.to_string(),
        action: RecordAction::Opened,
        field: None,
        before: None,
        after: name,
        effective_on: work.on,
    });
    work.flush(db).await
}

/// Closes a record on the work's date: its existence ends (history kept). Refused when it does
/// not exist that day, when a change of it is recorded after that day, or when a child still
/// belongs to it on `child_edges` from that day (move them first).
pub(crate) async fn close_record<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    (id, code): (i32, &str),
    child_edges: &[Edge],
    work: &mut Work,
) -> AppResult<()> {
    let on = work.on;
    work.flush(db).await?;
    require_exists_on(db, table, code, table.entity.as_str(), on).await?;
    if let Some(last) = memberships::last_change_on(db, table, code).await? {
        if last > on {
            return Err(AppError::Conflict(format!(
                "{code} has a change recorded on {last}, after {on}: it cannot close on {on}; \
                 nothing was changed."
            )));
        }
    }
    for &edge in child_edges {
        let left = memberships::children_from(db, edge, id, on).await?;
        if let Some(m) = left.first() {
            let child = memberships::codes_of(db, edge.child(), &[m.child_id]).await?;
            return Err(AppError::Conflict(format!(
                "{} still belongs to {code} on or after {on} (from {}): {code} cannot close on \
                 {on}; nothing was changed.",
                child.get(&m.child_id).cloned().unwrap_or_default(),
                m.valid_from.max(on)
            )));
        }
    }
    work.log
        .push(Change::new(table.entity, code, ChangeAction::Delete).effective_on(on));
    work.report.records.push(RecordChange {
        entity: table.entity,
        code: code.to_string(),
        action: RecordAction::Closed,
        field: None,
        before: None,
        after: None,
        effective_on: on,
    });
    Ok(())
}

/// Refuses a dated attribute change when the same attribute already changes after that day
/// (the snapshot rebuilds versions from the current row backwards, so order matters).
pub(crate) async fn check_attribute_date<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
    field: &str,
    on: NaiveDate,
) -> AppResult<()> {
    let later = log_entry::Entity::find()
        .filter(log_entry::Column::Entity.eq(table.entity.as_str()))
        .filter(log_entry::Column::Code.eq(code))
        .filter(log_entry::Column::Action.eq(ChangeAction::Update.as_str()))
        .filter(log_entry::Column::Field.eq(field))
        .filter(log_entry::Column::EffectiveOn.gt(on))
        .one(db)
        .await?;
    match later {
        None => Ok(()),
        Some(e) => Err(AppError::Conflict(format!(
            "The {field} of {code} already changes on {} (to {}): a change dated {on} would \
             contradict it; nothing was changed.",
            e.effective_on,
            e.after.as_deref().unwrap_or("null")
        ))),
    }
}

/// An attribute value as reports show it.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

/// Logs and reports a dated attribute change (the caller writes the row). The log holds the
/// stored values (`logged`); the report shows `shown` (e.g. a lead site's code, not its id).
pub(crate) fn updated(
    (table, code, field): (EntityTable, &str, &str),
    logged: (Value, Value),
    shown: (Option<String>, Option<String>),
    work: &mut Work,
) {
    work.report.records.push(RecordChange {
        entity: table.entity,
        code: code.to_string(),
        action: RecordAction::Updated,
        // The report names the lead site as clients know it (by ODS code), as attributeHistory does.
        field: Some(match field {
            "lead_organisation_id" => "lead_ods_code".to_string(),
            other => other.to_string(),
        }),
        before: shown.0,
        after: shown.1,
        effective_on: work.on,
    });
    work.log.push(
        Change::new(table.entity, code, ChangeAction::Update)
            .field(field)
            .before(Some(logged.0))
            .after(Some(logged.1))
            .effective_on(work.on),
    );
}

/// Records that `successor` succeeds `predecessor` from the work's date (`ord_successions`,
/// which the reads' `predecessors`/`successors` show, and the change log).
pub(crate) async fn record_succession<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    (predecessor, successor): (&str, &str),
    kind: SuccessionKind,
    work: &mut Work,
) -> AppResult<()> {
    let known = ord_succession::Entity::find()
        .filter(ord_succession::Column::OdsCode.eq(successor))
        .filter(ord_succession::Column::Kind.eq(OrdSuccessionKind::Predecessor.as_str()))
        .filter(ord_succession::Column::TargetCode.eq(predecessor))
        .one(db)
        .await?;
    if known.is_none() {
        ord_succession::ActiveModel {
            ods_code: Set(successor.to_string()),
            entity: Set(table.entity.as_str().to_string()),
            kind: Set(OrdSuccessionKind::Predecessor.as_str().to_string()),
            target_code: Set(predecessor.to_string()),
            target_primary_role: Set(None),
            effective_on: Set(Some(work.on)),
            recorded_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    work.log.push(
        Change::new(table.entity, successor, ChangeAction::Succession)
            .field("predecessor")
            .after(Some(json!({"code": predecessor, "kind": kind.as_str()})))
            .effective_on(work.on),
    );
    work.report.successions.push(SuccessionRecord {
        entity: table.entity,
        predecessor: predecessor.to_string(),
        successor: successor.to_string(),
        kind,
        effective_on: work.on,
    });
    Ok(())
}

/// Commits the operation's transaction, or rolls it back for a dry run or on error, and marks
/// the report as a dry run.
pub(crate) async fn finish(
    txn: WriteTxn,
    outcome: AppResult<ReorganisationReport>,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    match outcome {
        Ok(mut report) => {
            if dry_run {
                txn.rollback().await?;
            } else {
                txn.commit().await?;
            }
            report.dry_run = dry_run;
            Ok(report)
        }
        Err(e) => {
            if let Err(rb) = txn.rollback().await {
                tracing::warn!(error = %rb, "rollback after a failed reorganisation failed");
            }
            Err(e)
        }
    }
}

/// Opens the write transaction of one operation.
pub(crate) async fn begin(db: &DatabaseConnection) -> AppResult<WriteTxn> {
    writes::begin(db).await
}
