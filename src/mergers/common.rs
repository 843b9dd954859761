//! What the operations share: reading a site and its memberships, moving its edges, the
//! warnings about what a change leaves behind, and committing or rolling back a call.
use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::change_log::Change;
use crate::codes::OdsCode;
use crate::entities::organisation;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, Moment};
use crate::placement::{self, ParentKind, ENGLAND};
use crate::writes::WriteTxn;

use super::{MembershipChange, SiteMembership, MAX_CODES, ORGANISATION_EDGES};

/// Today (UTC): the default `effective_on`.
pub(super) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The distinct codes of a call, in order; repeated codes are handled once.
pub(super) fn distinct_codes(raw: &[OdsCode]) -> AppResult<(Vec<String>, Vec<String>)> {
    if raw.is_empty() {
        return Err(AppError::BadUserInput(
            "Give at least one ODS code in `odsCodes`.".into(),
        ));
    }
    if raw.len() > MAX_CODES {
        return Err(AppError::BadUserInput(format!(
            "At most {MAX_CODES} ODS codes per call ({} given); split the list.",
            raw.len()
        )));
    }
    let mut codes = Vec::new();
    let mut warnings = Vec::new();
    for r in raw {
        let code = r.to_string();
        if codes.contains(&code) {
            warnings.push(format!("{code} is listed more than once; handled once"));
        } else {
            codes.push(code);
        }
    }
    Ok((codes, warnings))
}

/// Commits, or rolls back for a dry run or on error.
pub(super) async fn finish<T>(txn: WriteTxn, outcome: AppResult<T>, dry_run: bool) -> AppResult<T> {
    match outcome {
        Ok(v) if dry_run => {
            txn.rollback().await?;
            Ok(v)
        }
        Ok(v) => {
            txn.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = txn.rollback().await {
                tracing::warn!(error = %rb, "rollback after a failed merger call failed");
            }
            Err(e)
        }
    }
}

/// The site row with this code, deleted or not.
pub(super) async fn find_site<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<organisation::Model>, DbErr> {
    organisation::Entity::find()
        .filter(organisation::Column::OdsCode.eq(code))
        .one(db)
        .await
}

/// The site's current memberships, in report order.
pub(super) async fn current_memberships<C: ConnectionTrait>(
    db: &C,
    site_id: i32,
) -> Result<Vec<SiteMembership>, DbErr> {
    let mut out = Vec::new();
    for edge in ORGANISATION_EDGES {
        let rows = memberships::history(db, edge, site_id).await?;
        if let Some(m) = rows.into_iter().find(|m| m.valid_to.is_none()) {
            let code = memberships::codes_of(db, edge.parent(), &[m.parent_id])
                .await?
                .remove(&m.parent_id)
                .unwrap_or_default();
            out.push(SiteMembership {
                edge,
                parent_id: m.parent_id,
                code,
                valid_from: m.valid_from,
            });
        }
    }
    Ok(out)
}

/// How many current sites a parent has on `edge`.
pub(super) async fn current_children<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    parent_id: i32,
) -> Result<usize, DbErr> {
    Ok(
        memberships::children_of(db, edge, &[parent_id], Moment::Current)
            .await?
            .remove(&parent_id)
            .map_or(0, |v| v.len()),
    )
}

/// A trust or a Local Health Board we hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Parent {
    pub(super) kind: ParentKind,
    pub(super) id: i32,
    pub(super) code: String,
}

/// The parent a code names, as `placement::parent_kind` reads what we hold.
pub(super) async fn resolve_parent<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<Parent>, DbErr> {
    let board = memberships::id_of(db, memberships::LOCAL_HEALTH_BOARDS, code).await?;
    let trust = memberships::id_of(db, memberships::TRUSTS, code).await?;
    let kind = placement::parent_kind(board.is_some(), trust.is_some());
    Ok(kind.and_then(|kind| {
        let id = match kind {
            ParentKind::Board => board,
            ParentKind::Trust => trust,
        }?;
        Some(Parent {
            kind,
            id,
            code: code.to_string(),
        })
    }))
}

/// Warnings for each relationship a site lacks.
pub(super) fn missing_warnings(
    site: &organisation::Model,
    had: &[SiteMembership],
    coordinates: bool,
) -> Vec<String> {
    let has = |e: Edge| had.iter().any(|m| m.edge == e);
    let country = had
        .iter()
        .find(|m| m.edge == Edge::OrganisationCountry)
        .map(|m| m.code.as_str());
    let mut w = Vec::new();
    if !has(Edge::OrganisationTrust) && !has(Edge::OrganisationLocalHealthBoard) {
        w.push("no parent trust or Local Health Board".to_string());
    }
    if country.is_none() {
        w.push("no country".to_string());
    }
    if country == Some(ENGLAND) {
        if !has(Edge::OrganisationIntegratedCareBoard) {
            w.push("no ICB".to_string());
        }
        if !has(Edge::OrganisationNhsEnglandRegion) {
            w.push("no NHS England region".to_string());
        }
    }
    if !has(Edge::OrganisationPaediatricDiabetesUnit) {
        w.push("no PDU".to_string());
    }
    if !has(Edge::OrganisationOpenUkNetwork) {
        w.push("no OPEN UK network".to_string());
    }
    let in_london = site
        .city
        .as_deref()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("LONDON"));
    if in_london && !has(Edge::OrganisationLondonBorough) {
        w.push("no London borough although the site is in London".to_string());
    }
    if coordinates && (site.latitude.is_none() || site.longitude.is_none()) {
        w.push("no coordinates: latitude and longitude stay unknown until given".to_string());
    }
    if !site.active {
        w.push("ORD records the site as closed (active: false)".to_string());
    }
    w
}

/// How reports name a parent: `trust RX1`, `OPEN UK network N01`, a bare PDU code, ...
pub(super) fn edge_label(edge: Edge, code: &str) -> String {
    match edge {
        Edge::OrganisationPaediatricDiabetesUnit => code.to_string(),
        Edge::OrganisationOpenUkNetwork => format!("OPEN UK network {code}"),
        Edge::OrganisationTrust => format!("trust {code}"),
        Edge::OrganisationLocalHealthBoard => format!("Local Health Board {code}"),
        _ => format!("{} {code}", edge.name().replace('_', " ")),
    }
}

/// Warnings for PDUs, OPEN UK networks, trusts and boards a change left without current sites.
pub(super) async fn emptied_warnings<C: ConnectionTrait>(
    db: &C,
    left: &[SiteMembership],
) -> Result<Vec<String>, DbErr> {
    let mut w = Vec::new();
    for m in left {
        let watched = matches!(
            m.edge,
            Edge::OrganisationPaediatricDiabetesUnit
                | Edge::OrganisationOpenUkNetwork
                | Edge::OrganisationTrust
                | Edge::OrganisationLocalHealthBoard
        );
        if watched && current_children(db, m.edge, m.parent_id).await? == 0 {
            w.push(format!(
                "{} has no current sites left",
                edge_label(m.edge, &m.code)
            ));
        }
    }
    Ok(w)
}

/// Moves each edge of a site to its planned parent (none = closed).
pub(super) async fn apply_placement<C: ConnectionTrait>(
    db: &C,
    site: (i32, &str),
    planned: &HashMap<Edge, (i32, String)>,
    edges: &[Edge],
    on: NaiveDate,
    log: &mut Vec<Change>,
) -> AppResult<Vec<MembershipChange>> {
    let mut changes = Vec::new();
    for &edge in edges {
        let to = planned.get(&edge).map(|(id, c)| (*id, c.as_str()));
        // The dated rules: a change before a later recorded one on the edge is CONFLICT.
        if let Some((moved, change)) = memberships::set_parent_on(db, edge, site, to, on).await? {
            log.push(change);
            changes.push(MembershipChange {
                edge,
                before: moved.before,
                after: moved.after,
            });
        }
    }
    Ok(changes)
}

/// The site row as the change log stores it.
pub(super) fn snapshot(m: &organisation::Model) -> Option<serde_json::Value> {
    serde_json::to_value(m).ok()
}
