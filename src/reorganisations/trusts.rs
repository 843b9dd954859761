//! Trust acquisitions and renames.
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{begin, finish, not_implemented, Author, ReorganisationReport};
use crate::errors::AppResult;

/// An `acquireTrusts` call: the acquired trusts' current sites move to the acquiring trust and
/// the acquired trusts close, from `effective_on`.
#[derive(Clone, Debug, Default)]
pub struct AcquireTrusts {
    /// ODS code of the acquiring trust (created when we do not hold it and `new_name` is given).
    pub acquiring_ods_code: String,
    pub acquired_ods_codes: Vec<String>,
    pub effective_on: NaiveDate,
    /// The acquiring trust's name from `effective_on`, when it changes.
    pub new_name: Option<String>,
}

/// A `renameTrust` call.
#[derive(Clone, Debug, Default)]
pub struct RenameTrust {
    pub ods_code: String,
    pub name: String,
    pub effective_on: NaiveDate,
}

/// Applies an acquisition in an open transaction (not committed).
pub async fn apply_acquire_trusts<C: ConnectionTrait>(
    db: &C,
    request: &AcquireTrusts,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("acquireTrusts"))
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
    let _ = (db, request, author);
    Err(not_implemented("renameTrust"))
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
