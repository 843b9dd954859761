//! Paediatric Diabetes Unit mergers, splits, creations and updates.
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{begin, finish, not_implemented, Author, ReorganisationReport};
use crate::errors::AppResult;
use crate::mergers::Setting;

/// A `mergePaediatricDiabetesUnits` call: the predecessors' current sites move to the
/// successor (new, or one of the predecessors) and the other predecessors close.
#[derive(Clone, Debug, Default)]
pub struct MergeUnits {
    pub predecessor_pz_codes: Vec<String>,
    pub successor_pz_code: String,
    pub effective_on: NaiveDate,
    /// The successor's name (for a new unit; for an existing one, its name from the date).
    pub name: Option<String>,
    pub lead_ods_code: Option<String>,
    /// The successor's diabetes network (required for a new unit).
    pub network_pn_code: Option<String>,
}

/// One successor of a split.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitSuccessor {
    pub pz_code: String,
    /// The predecessor's sites this successor takes.
    pub ods_codes: Vec<String>,
    pub name: Option<String>,
    pub lead_ods_code: Option<String>,
    pub network_pn_code: Option<String>,
}

/// A `splitPaediatricDiabetesUnit` call.
#[derive(Clone, Debug, Default)]
pub struct SplitUnit {
    pub pz_code: String,
    pub successors: Vec<UnitSuccessor>,
    pub effective_on: NaiveDate,
    /// PZ code of one of the successors that takes every site of the predecessor not listed;
    /// without it, a split that leaves a site unlisted is refused (no site is orphaned).
    pub unlisted_sites_to: Option<String>,
}

/// An `updatePaediatricDiabetesUnit` call: each setting is dated `effective_on`.
#[derive(Clone, Debug, Default)]
pub struct UpdateUnit {
    pub pz_code: String,
    pub name: Setting,
    pub lead_ods_code: Setting,
    pub network_pn_code: Setting,
    pub active: Option<bool>,
    pub effective_on: NaiveDate,
}

/// A `createPaediatricDiabetesUnit` call.
#[derive(Clone, Debug, Default)]
pub struct CreateUnit {
    pub pz_code: String,
    pub name: Option<String>,
    pub lead_ods_code: Option<String>,
    pub network_pn_code: Option<String>,
    /// Sites that join the unit from `effective_on` (leaving their current unit).
    pub ods_codes: Vec<String>,
    pub effective_on: NaiveDate,
}

/// Applies a PDU merger in an open transaction (not committed).
pub async fn apply_merge_paediatric_diabetes_units<C: ConnectionTrait>(
    db: &C,
    request: &MergeUnits,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("mergePaediatricDiabetesUnits"))
}

/// Applies a PDU merger in its own transaction (rolled back for a dry run).
pub async fn merge_paediatric_diabetes_units(
    db: &DatabaseConnection,
    request: &MergeUnits,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_merge_paediatric_diabetes_units(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Applies a PDU split in an open transaction (not committed).
pub async fn apply_split_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &SplitUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("splitPaediatricDiabetesUnit"))
}

/// Applies a PDU split in its own transaction (rolled back for a dry run).
pub async fn split_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &SplitUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_split_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Applies a dated PDU update in an open transaction (not committed).
pub async fn apply_update_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &UpdateUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("updatePaediatricDiabetesUnit"))
}

/// Applies a dated PDU update in its own transaction (rolled back for a dry run).
pub async fn update_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &UpdateUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_update_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Creates a PDU in an open transaction (not committed).
pub async fn apply_create_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &CreateUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("createPaediatricDiabetesUnit"))
}

/// Creates a PDU in its own transaction (rolled back for a dry run).
pub async fn create_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &CreateUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_create_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}
