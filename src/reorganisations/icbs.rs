//! Integrated Care Board reorganisations.
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{begin, finish, not_implemented, Author, ReorganisationReport, SuccessionKind};
use crate::errors::AppResult;

/// A board created by a reorganisation.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBoard {
    pub ods_code: String,
    pub name: String,
    /// The NHS England region it belongs to from the date.
    pub region_code: String,
}

/// One succession between boards.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardSuccession {
    pub predecessor: String,
    pub successor: String,
    pub kind: SuccessionKind,
}

/// One site whose ICB changes.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteMove {
    pub ods_code: String,
    /// ODS code of the site's ICB from the date.
    pub to_ods_code: String,
}

/// A `reorganiseIntegratedCareBoards` call.
#[derive(Clone, Debug, Default)]
pub struct ReorganiseBoards {
    pub effective_on: NaiveDate,
    pub new_boards: Vec<NewBoard>,
    pub successions: Vec<BoardSuccession>,
    pub site_moves: Vec<SiteMove>,
}

/// Applies an ICB reorganisation in an open transaction (not committed).
pub async fn apply_reorganise_integrated_care_boards<C: ConnectionTrait>(
    db: &C,
    request: &ReorganiseBoards,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let _ = (db, request, author);
    Err(not_implemented("reorganiseIntegratedCareBoards"))
}

/// Applies an ICB reorganisation in its own transaction (rolled back for a dry run).
pub async fn reorganise_integrated_care_boards(
    db: &DatabaseConnection,
    request: &ReorganiseBoards,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_reorganise_integrated_care_boards(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}
