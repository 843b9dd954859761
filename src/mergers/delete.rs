//! `deleteOrganisations`: soft-deleting sites (every current membership closed, `deleted_at`
//! set).
use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, IntoActiveModel, Set};

use crate::change_log::{self, Change, ChangeContext};
// Short aliases keep each change-log call below on one line.
use crate::change_log::{ChangeAction as Action, ChangeSource as Source};
use crate::codes::OdsCode;
use crate::entities::organisation;
use crate::errors::AppResult;
use crate::memberships;
use crate::writes;

use super::common::{
    apply_placement, current_memberships, distinct_codes, emptied_warnings, find_site, finish,
    snapshot, today,
};
use super::{MergerReport, MergerResult, MergerStatus, ORGANISATION_EDGES};

/// Deletes sites (soft) today: see `delete_organisations_on`.
pub async fn delete_organisations(
    db: &DatabaseConnection,
    ods_codes: &[OdsCode],
    dry_run: bool,
    actor: &str,
) -> AppResult<MergerReport> {
    delete_organisations_on(db, ods_codes, dry_run, actor, None).await
}

/// Deletes sites (soft): closes every current membership on `effective_on` (default today)
/// and sets `deleted_at`; the site exists until that day.
pub async fn delete_organisations_on(
    db: &DatabaseConnection,
    ods_codes: &[OdsCode],
    dry_run: bool,
    actor: &str,
    effective_on: Option<NaiveDate>,
) -> AppResult<MergerReport> {
    let (codes, warnings) = distinct_codes(ods_codes)?;
    let ctx = ChangeContext::new(actor, Source::Merger, effective_on.unwrap_or_else(today));
    let txn = writes::begin(db).await?;
    let outcome = apply_delete(&*txn, &codes, &ctx).await;
    let results = finish(txn, outcome, dry_run).await?;
    Ok(MergerReport {
        dry_run,
        results,
        warnings,
    })
}

/// Deletes each code in turn: close its memberships, set `deleted_at`, log and report it.
async fn apply_delete<C: ConnectionTrait>(
    db: &C,
    codes: &[String],
    ctx: &ChangeContext,
) -> AppResult<Vec<MergerResult>> {
    let on = ctx.effective_on;
    let mut log = Vec::new();
    let mut results = Vec::new();
    for code in codes {
        let site = match deletable(db, code).await? {
            Ok(s) => s,
            Err(r) => {
                results.push(r);
                continue;
            }
        };
        let had = current_memberships(db, site.id).await?;
        let changes = apply_placement(
            db,
            (site.id, code),
            &HashMap::new(),
            &ORGANISATION_EDGES,
            on,
            &mut log,
        )
        .await?;
        let mut row = site.clone().into_active_model();
        row.deleted_at = Set(Some(ctx.recorded_at));
        let deleted = row.update(db).await?;
        log.push(
            Change::new(memberships::ORGANISATIONS.entity, code, Action::Delete)
                .before(snapshot(&site))
                .after(snapshot(&deleted)),
        );
        let warnings = emptied_warnings(db, &had).await?;
        results.push(MergerResult {
            ods_code: code.clone(),
            status: MergerStatus::Deleted,
            message: Some(format!(
                "deleted; its {} membership(s) end on {on}",
                had.len()
            )),
            organisation: Some(deleted),
            memberships: had,
            changes,
            warnings,
        });
    }
    change_log::record(db, ctx, log).await?;
    Ok(results)
}

/// The current site `code` names, or the NOT_FOUND result when there is none or it is deleted.
async fn deletable<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Result<organisation::Model, MergerResult>, DbErr> {
    Ok(match find_site(db, code).await? {
        None => Err(MergerResult::new(
            code,
            MergerStatus::NotFound,
            format!("we hold no site {code}"),
        )),
        Some(s) if s.deleted_at.is_some() => Err(MergerResult::new(
            code,
            MergerStatus::NotFound,
            format!("{code} is already deleted"),
        )),
        Some(s) => Ok(s),
    })
}
