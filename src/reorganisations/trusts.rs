//! Trust acquisitions and renames. An acquisition changes the parent only: each site keeps its
//! own ICB and region (a site's ICB is the one that commissions that site).
use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set,
};
use serde_json::Value;

use super::{
    begin, check_attribute_date, checked_name, close_record, distinct_codes, finish, move_edge,
    opened, record_succession, require_exists_on, require_id, text, updated, Author,
    ReorganisationReport, SuccessionKind, Work,
};
use crate::codes::OdsCode;
use crate::entities::trust;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, Moment, TRUSTS};

/// An `acquireTrusts` call: the acquired trusts' current sites move to the acquiring trust and
/// the acquired trusts close, from `effective_on`.
#[derive(Clone, Debug)]
pub struct AcquireTrusts {
    /// ODS code of the acquiring trust (created when we do not hold it and `new_name` is given).
    pub acquiring_ods_code: OdsCode,
    pub acquired_ods_codes: Vec<OdsCode>,
    pub effective_on: NaiveDate,
    /// The acquiring trust's name from `effective_on`, when it changes.
    pub new_name: Option<String>,
}

/// A `renameTrust` call.
#[derive(Clone, Debug)]
pub struct RenameTrust {
    pub ods_code: OdsCode,
    pub name: String,
    pub effective_on: NaiveDate,
}

/// Applies an acquisition in an open transaction (not committed).
pub async fn apply_acquire_trusts<C: ConnectionTrait>(
    db: &C,
    request: &AcquireTrusts,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let acquiring = request.acquiring_ods_code.to_string();
    if request.acquired_ods_codes.is_empty() {
        // No trust to acquire: only creating a new trust (a split's successor) makes sense.
        return create_only(db, &acquiring, request.new_name.as_deref(), work).await;
    }
    let acquired = distinct_codes(
        &request.acquired_ods_codes,
        "acquired trust ODS code",
        &mut work,
    )?;
    if acquired.contains(&acquiring) {
        return Err(AppError::BadUserInput(format!(
            "{acquiring} cannot acquire itself: remove it from `acquiredOdsCodes`."
        )));
    }
    let new_name = match &request.new_name {
        Some(n) => Some(checked_name(n, "new name")?),
        None => None,
    };
    let (target, created) = acquiring_trust(db, &acquiring, new_name.as_deref(), &mut work).await?;
    for code in &acquired {
        absorb(db, code, (target, &acquiring), &mut work).await?;
    }
    if let Some(name) = new_name.filter(|_| !created) {
        rename(db, &acquiring, &name, &mut work).await?;
    }
    work.finish(db).await
}

/// Creates a new trust that acquires nothing yet (e.g. a successor of a split); refused for a
/// trust we hold or without a name.
async fn create_only<C: ConnectionTrait>(
    db: &C,
    code: &str,
    new_name: Option<&str>,
    mut work: Work,
) -> AppResult<ReorganisationReport> {
    let name = match new_name {
        Some(n) => checked_name(n, "new name")?,
        None => {
            return Err(AppError::BadUserInput(
                "Give at least one acquired trust ODS code (or a new code with `newName` to \
                 create a trust)."
                    .into(),
            ))
        }
    };
    if memberships::id_of(db, TRUSTS, code).await?.is_some() {
        return Err(AppError::BadUserInput(format!(
            "{code} is a trust we hold: give the trusts it acquires in `acquiredOdsCodes`."
        )));
    }
    acquiring_trust(db, code, Some(&name), &mut work).await?;
    work.finish(db).await
}

/// The acquiring trust's id and whether it is new: an existing trust that exists on the date,
/// or a new one when a name is given for a code we do not hold (trusts merging into a new one).
async fn acquiring_trust<C: ConnectionTrait>(
    db: &C,
    code: &str,
    new_name: Option<&str>,
    work: &mut Work,
) -> AppResult<(i32, bool)> {
    if let Some(id) = memberships::id_of(db, TRUSTS, code).await? {
        require_exists_on(db, TRUSTS, code, "trust", work.on).await?;
        return Ok((id, false));
    }
    let Some(name) = new_name else {
        return Err(AppError::NotFound(format!(
            "We hold no trust {code}; give `newName` to create it as the acquiring trust."
        )));
    };
    let row = trust::ActiveModel {
        ods_code: Set(code.to_string()),
        name: Set(name.to_string()),
        active: Set(true),
        ..Default::default()
    }
    .insert(db)
    .await?;
    opened(db, TRUSTS, code, serde_json::to_value(&row).ok(), work).await?;
    Ok((row.id, true))
}

/// Moves every site of one acquired trust that is current on the date to the acquiring trust,
/// closes the acquired trust and records the succession.
async fn absorb<C: ConnectionTrait>(
    db: &C,
    code: &str,
    acquiring: (i32, &str),
    work: &mut Work,
) -> AppResult<()> {
    let id = require_id(db, TRUSTS, code, "trust").await?;
    require_exists_on(db, TRUSTS, code, "trust", work.on).await?;
    let edge = Edge::OrganisationTrust;
    let mut sites = memberships::children_of(db, edge, &[id], Moment::On(work.on))
        .await?
        .remove(&id)
        .unwrap_or_default();
    sites.sort_unstable();
    let site_codes = memberships::codes_of(db, memberships::ORGANISATIONS, &sites).await?;
    let mut ordered: Vec<(i32, String)> = site_codes.into_iter().collect();
    ordered.sort_by(|a, b| a.1.cmp(&b.1));
    for (site, site_code) in &ordered {
        move_edge(db, edge, (*site, site_code), Some(acquiring), work).await?;
    }
    if ordered.is_empty() {
        work.warn(format!("{code} has no sites on {}", work.on));
    }
    close_record(db, TRUSTS, (id, code), &[edge], work).await?;
    record_succession(
        db,
        TRUSTS,
        (code, acquiring.1),
        SuccessionKind::Acquisition,
        work,
    )
    .await
}

/// Renames a trust from the work's date (a dated attribute change; the row holds the latest
/// name and the snapshot rebuilds earlier ones from the change log).
async fn rename<C: ConnectionTrait>(
    db: &C,
    code: &str,
    name: &str,
    work: &mut Work,
) -> AppResult<()> {
    let id = require_id(db, TRUSTS, code, "trust").await?;
    require_exists_on(db, TRUSTS, code, "trust", work.on).await?;
    let Some(row) = trust::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::NotFound(format!("We hold no trust {code}.")));
    };
    if row.name == name {
        work.warn(format!("{code} is already named {name}"));
        return Ok(());
    }
    check_attribute_date(db, TRUSTS, code, "name", work.on).await?;
    let before = Value::String(row.name.clone());
    let mut active = row.into_active_model();
    active.name = Set(name.to_string());
    active.update(db).await?;
    let after = Value::String(name.into());
    let shown = (text(&before), text(&after));
    updated((TRUSTS, code, "name"), (before, after), shown, work);
    Ok(())
}

/// Applies an acquisition in its own transaction (rolled back for a dry run).
pub async fn acquire_trusts(
    db: &DatabaseConnection,
    request: &AcquireTrusts,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_acquire_trusts(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Applies a dated rename in an open transaction (not committed).
pub async fn apply_rename_trust<C: ConnectionTrait>(
    db: &C,
    request: &RenameTrust,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let code = request.ods_code.to_string();
    let name = checked_name(&request.name, "name")?;
    rename(db, &code, &name, &mut work).await?;
    work.finish(db).await
}

/// Applies a dated rename in its own transaction (rolled back for a dry run).
pub async fn rename_trust(
    db: &DatabaseConnection,
    request: &RenameTrust,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_rename_trust(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}
