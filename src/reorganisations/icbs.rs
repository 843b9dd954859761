//! Integrated Care Board reorganisations: new boards open in their region, successions are
//! recorded, listed sites change board, and boards left without sites close, all on one date.
use std::collections::BTreeSet;

use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};

use super::{
    begin, checked_name, close_record, current_site, finish, move_edge, opened, record_succession,
    require_exists_on, require_id, Author, ReorganisationReport, SuccessionKind, Work,
};
use crate::codes::{OdsCode, RegionCode};
use crate::entities::integrated_care_board as board;
use crate::errors::{AppError, AppResult};
use crate::memberships::NHS_ENGLAND_REGIONS as REGIONS;
use crate::memberships::{self, Edge, Moment, INTEGRATED_CARE_BOARDS as BOARDS};

const SITE_BOARD: Edge = Edge::OrganisationIntegratedCareBoard;
const SITE_REGION: Edge = Edge::OrganisationNhsEnglandRegion;
const BOARD_REGION: Edge = Edge::IntegratedCareBoardRegion;

/// A board created by a reorganisation.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBoard {
    pub ods_code: OdsCode,
    pub name: String,
    /// The NHS England region it belongs to from the date.
    pub region_code: RegionCode,
}

/// One succession between boards.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardSuccession {
    pub predecessor: OdsCode,
    pub successor: OdsCode,
    pub kind: SuccessionKind,
}

/// One site whose ICB changes.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteMove {
    pub ods_code: OdsCode,
    /// ODS code of the site's ICB from the date.
    pub to_ods_code: OdsCode,
}

/// A `reorganiseIntegratedCareBoards` call.
#[derive(Clone, Debug, Default)]
pub struct ReorganiseBoards {
    pub effective_on: NaiveDate,
    pub new_boards: Vec<NewBoard>,
    pub successions: Vec<BoardSuccession>,
    pub site_moves: Vec<SiteMove>,
}

/// Opens a new board on the work's date, in its region.
async fn open_board<C: ConnectionTrait>(
    db: &C,
    new: &NewBoard,
    work: &mut Work,
) -> AppResult<String> {
    let code = new.ods_code.to_string();
    let name = checked_name(&new.name, "board name")?;
    let region_code = new.region_code.to_string();
    let region = require_id(db, REGIONS, &region_code, "NHS England region").await?;
    if memberships::id_of(db, BOARDS, &code).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "The Integrated Care Board {code} already exists; nothing was changed."
        )));
    }
    let row = board::ActiveModel {
        ods_code: Set(code.clone()),
        name: Set(name),
        boundary_identifier: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    opened(db, BOARDS, &code, serde_json::to_value(&row).ok(), work).await?;
    move_edge(
        db,
        BOARD_REGION,
        (row.id, &code),
        Some((region, &region_code)),
        work,
    )
    .await?;
    Ok(code)
}

/// A board's id when it exists on the date.
async fn existing_board<C: ConnectionTrait>(
    db: &C,
    code: &OdsCode,
    on: NaiveDate,
) -> AppResult<(i32, String)> {
    let code = code.to_string();
    let id = require_id(db, BOARDS, &code, "Integrated Care Board").await?;
    require_exists_on(db, BOARDS, &code, "Integrated Care Board", on).await?;
    Ok((id, code))
}

/// The parent of one child on an edge on a day, with its code.
async fn parent_on<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child: i32,
    on: NaiveDate,
) -> AppResult<Option<(i32, String)>> {
    let Some(parent) = memberships::parents_of(db, edge, &[child], Moment::On(on))
        .await?
        .remove(&child)
    else {
        return Ok(None);
    };
    let code = memberships::codes_of(db, edge.parent(), &[parent])
        .await?
        .remove(&parent)
        .unwrap_or_default();
    Ok(Some((parent, code)))
}

/// Moves one site to its new board, and to the board's region when that differs from the
/// site's. Returns the board the site left, if any. A site we do not hold is skipped.
async fn move_site<C: ConnectionTrait>(
    db: &C,
    mv: &SiteMove,
    work: &mut Work,
) -> AppResult<Option<i32>> {
    let code = mv.ods_code.to_string();
    let (to, to_code) = existing_board(db, &mv.to_ods_code, work.on).await?;
    let Some(site) = current_site(db, &code).await? else {
        work.warn(format!("{code} is not a site we hold; skipped"));
        return Ok(None);
    };
    let left = parent_on(db, SITE_BOARD, site.id, work.on).await?;
    move_edge(db, SITE_BOARD, (site.id, &code), Some((to, &to_code)), work).await?;
    let board_region = parent_on(db, BOARD_REGION, to, work.on).await?;
    let site_region = parent_on(db, SITE_REGION, site.id, work.on).await?;
    if let Some((region, region_code)) = board_region {
        if site_region.as_ref().map(|r| r.0) != Some(region) {
            move_edge(
                db,
                SITE_REGION,
                (site.id, &code),
                Some((region, &region_code)),
                work,
            )
            .await?;
        }
    }
    Ok(left.map(|l| l.0).filter(|l| *l != to))
}

/// Closes each candidate board left without sites on the date (and its region membership);
/// warns about a predecessor that keeps sites.
async fn close_emptied<C: ConnectionTrait>(
    db: &C,
    candidates: &BTreeSet<i32>,
    predecessors: &BTreeSet<i32>,
    work: &mut Work,
) -> AppResult<()> {
    let ids: Vec<i32> = candidates.iter().copied().collect();
    let codes = memberships::codes_of(db, BOARDS, &ids).await?;
    for id in ids {
        let code = codes.get(&id).cloned().unwrap_or_default();
        if !memberships::children_from(db, SITE_BOARD, id, work.on)
            .await?
            .is_empty()
        {
            if predecessors.contains(&id) {
                work.warn(format!(
                    "{code} is a predecessor but keeps sites; it stays open"
                ));
            }
            continue;
        }
        move_edge(db, BOARD_REGION, (id, &code), None, work).await?;
        close_record(db, BOARDS, (id, &code), &[SITE_BOARD], work).await?;
    }
    Ok(())
}

/// Applies an ICB reorganisation in an open transaction (not committed).
pub async fn apply_reorganise_integrated_care_boards<C: ConnectionTrait>(
    db: &C,
    request: &ReorganiseBoards,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let on = work.on;
    let mut created = BTreeSet::new();
    for new in &request.new_boards {
        created.insert(open_board(db, new, &mut work).await?);
    }
    let mut predecessors = BTreeSet::new();
    for s in &request.successions {
        let (pred, pred_code) = existing_board(db, &s.predecessor, on).await?;
        let (_, succ_code) = existing_board(db, &s.successor, on).await?;
        record_succession(db, BOARDS, (&pred_code, &succ_code), s.kind, &mut work).await?;
        predecessors.insert(pred);
    }
    let mut seen = BTreeSet::new();
    let mut candidates = predecessors.clone();
    for mv in &request.site_moves {
        let code = mv.ods_code.as_str();
        if !seen.insert(code) {
            return Err(AppError::BadUserInput(format!(
                "{code} is listed in `siteMoves` twice."
            )));
        }
        if let Some(left) = move_site(db, mv, &mut work).await? {
            candidates.insert(left);
        }
    }
    let new_ids = memberships::ids_by_code(db, BOARDS).await?;
    candidates.retain(|id| !created.iter().any(|c| new_ids.get(c) == Some(id)));
    close_emptied(db, &candidates, &predecessors, &mut work).await?;
    work.finish(db).await
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
