//! `updateOrganisationMemberships`: setting or clearing a site's memberships by hand, and
//! moving it to another trust or Local Health Board (`placement::edit`).
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::change_log::{self, ChangeContext};
// Short aliases keep each change-log call below on one line.
use crate::change_log::ChangeSource as Source;
use crate::entities::organisation;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge};
use crate::placement::{self, Edit, IcbRegions, Move, ParentKind, SiteFacts};
use crate::placement_facts;
use crate::reference_data::ReferenceData;
use crate::writes;

use super::common::{
    apply_placement, current_memberships, emptied_warnings, find_site, finish, missing_warnings,
    resolve_parent, today, Parent,
};
use super::{
    MembershipUpdate, MergerReport, MergerResult, MergerStatus, Setting, SiteMembership,
    ORGANISATION_EDGES,
};

/// Refuses an update call that changes nothing, before anything is read.
fn check_update(u: &MembershipUpdate) -> AppResult<()> {
    let all_kept =
        plain_settings(u).iter().all(|(_, s)| *s == Setting::Keep) && u.parent == Setting::Keep;
    if all_kept {
        return Err(AppError::BadUserInput(
            "Nothing to change: give at least one membership to set or clear.".into(),
        ));
    }
    Ok(())
}

/// Sets or clears a site's memberships by hand.
pub async fn update_memberships(
    db: &DatabaseConnection,
    update: &MembershipUpdate,
    actor: &str,
) -> AppResult<MergerReport> {
    check_update(update)?;
    let reference = ReferenceData::bundled()?;
    let on = update.effective_on.unwrap_or_else(today);
    let ctx = ChangeContext::new(actor, Source::Merger, on);
    let txn = writes::begin(db).await?;
    let outcome = apply_update(&*txn, update, &reference, &ctx).await;
    let result = finish(txn, outcome, update.dry_run).await?;
    Ok(MergerReport {
        dry_run: update.dry_run,
        results: vec![result],
        warnings: Vec::new(),
    })
}

/// Updates one site: refuse unknown targets, work out a move to a new parent, let
/// `placement::edit` plan the edges, then apply and report the plan (`finish_update`).
async fn apply_update<C: ConnectionTrait>(
    db: &C,
    u: &MembershipUpdate,
    reference: &ReferenceData,
    ctx: &ChangeContext,
) -> AppResult<MergerResult> {
    let code = u.ods_code.as_str();
    let site = match find_site(db, code).await? {
        Some(s) if s.deleted_at.is_none() => s,
        _ => {
            return Ok(MergerResult::new(
                code,
                MergerStatus::NotFound,
                format!("we hold no current site {code}"),
            ))
        }
    };
    let before = current_memberships(db, site.id).await?;
    let settings = plain_settings(u);
    let mut unknown = unknown_targets(db, &settings).await?;
    let new_parent = match &u.parent {
        Setting::Set(c) => {
            let p = resolve_parent(db, c.as_str()).await?;
            if p.is_none() {
                unknown.push(format!("{c} is not a trust or Local Health Board we hold"));
            }
            p
        }
        _ => None,
    };
    if !unknown.is_empty() {
        let mut r = MergerResult::new(
            code,
            MergerStatus::Refused,
            format!("{}; nothing was changed", unknown.join("; ")),
        );
        r.organisation = Some(site);
        r.memberships = before;
        return Ok(r);
    }
    let icbs = placement_facts::icb_regions(db).await?;
    let is_parent = |m: &&SiteMembership| {
        matches!(
            m.edge,
            Edge::OrganisationTrust | Edge::OrganisationLocalHealthBoard
        )
    };
    let old_parent = before.iter().find(is_parent).map(|m| m.code.as_str());
    let moved = match new_parent.filter(|p| old_parent != Some(p.code.as_str())) {
        Some(p) => Some(moved_to(db, (&site, &before), &p, u, (reference, &icbs)).await?),
        None => None,
    };
    let edit = Edit {
        current: before.iter().map(|m| (m.edge, m.code.clone())).collect(),
        settings: &settings,
        clear_parent: u.parent == Setting::Clear,
        moved,
    };
    let (codes, mut warnings) = placement::edit(&edit, &icbs);
    let planned = resolve_planned(db, &before, codes, &mut warnings).await?;
    finish_update(db, (site, before), &planned, warnings, ctx).await
}

/// The plain edges of an update, as given.
fn plain_settings(u: &MembershipUpdate) -> Vec<(Edge, Setting)> {
    vec![
        (
            Edge::OrganisationPaediatricDiabetesUnit,
            u.paediatric_diabetes_unit.to_text(),
        ),
        (Edge::OrganisationOpenUkNetwork, u.open_uk_network.to_text()),
        (Edge::OrganisationLondonBorough, u.london_borough.to_text()),
        (
            Edge::OrganisationIntegratedCareBoard,
            u.integrated_care_board.to_text(),
        ),
        (
            Edge::OrganisationNhsEnglandRegion,
            u.nhs_england_region.to_text(),
        ),
    ]
}

/// Why each code an update sets is refused: one we do not hold.
async fn unknown_targets<C: ConnectionTrait>(
    db: &C,
    settings: &[(Edge, Setting)],
) -> Result<Vec<String>, DbErr> {
    let mut unknown = Vec::new();
    for (edge, setting) in settings {
        let Setting::Set(c) = setting else {
            continue;
        };
        if memberships::id_of(db, edge.parent(), c).await?.is_none() {
            let what = match edge {
                Edge::OrganisationPaediatricDiabetesUnit => "Paediatric Diabetes Unit",
                Edge::OrganisationOpenUkNetwork => "OPEN UK network",
                Edge::OrganisationLondonBorough => "London borough",
                Edge::OrganisationIntegratedCareBoard => "Integrated Care Board",
                _ => "NHS England region",
            };
            unknown.push(format!("{c} is not a {what} we hold"));
        }
    }
    Ok(unknown)
}

/// The facts of a move to a new parent: its country, and for an English site whose ICB is not
/// given its geography (offline: the trust's sites, else the bundled lookup; never ORD).
async fn moved_to<C: ConnectionTrait>(
    db: &C,
    (site, before): (&organisation::Model, &[SiteMembership]),
    p: &Parent,
    u: &MembershipUpdate,
    (reference, icbs): (&ReferenceData, &IcbRegions),
) -> Result<Move, DbErr> {
    let trust = p.kind == ParentKind::Trust;
    let facts = SiteFacts {
        code: &site.ods_code,
        parent: Some(p.kind),
        parent_in_wales: trust && placement_facts::trust_in_wales(db, p.id).await?,
        address_country: None,
        postcode: site.postcode.as_deref(),
        current_country: before
            .iter()
            .find(|m| m.edge == Edge::OrganisationCountry)
            .map(|m| m.code.as_str()),
    };
    let country = placement::country(&facts);
    let mut geography = placement::Geography::default();
    let icb_given = u.integrated_care_board != Setting::Keep;
    if placement::has_nhs_england_geography(country, facts.parent) && !icb_given {
        let listed = placement::listed_icb(&reference.icb_lookup, &p.code);
        let t =
            placement_facts::trust_facts(db, (p.id, &p.code), Some(site.id), None, listed).await?;
        geography = placement::trust_geography(&t, icbs);
    }
    Ok(Move {
        parent: (p.kind, p.code.clone()),
        country,
        geography,
    })
}

/// Row ids of the planned codes. A code we do not hold (a country missing from the data)
/// leaves the edge as it was, with a warning.
async fn resolve_planned<C: ConnectionTrait>(
    db: &C,
    before: &[SiteMembership],
    codes: HashMap<Edge, String>,
    warnings: &mut Vec<String>,
) -> Result<HashMap<Edge, (i32, String)>, DbErr> {
    let mut planned = HashMap::new();
    let mut fresh = Vec::new();
    for (edge, code) in codes {
        match before.iter().find(|m| m.edge == edge && m.code == code) {
            Some(m) => {
                planned.insert(edge, (m.parent_id, code));
            }
            None => fresh.push((edge, code)),
        }
    }
    let wanted: Vec<Edge> = fresh.iter().map(|(e, _)| *e).collect();
    let (ids, unknown) = placement_facts::resolve(db, fresh).await?;
    planned.extend(ids);
    warnings.extend(unknown);
    for edge in wanted {
        if let (false, Some(m)) = (
            planned.contains_key(&edge),
            before.iter().find(|m| m.edge == edge),
        ) {
            planned.insert(edge, (m.parent_id, m.code.clone()));
        }
    }
    Ok(planned)
}

/// Applies an update's plan and reports it.
async fn finish_update<C: ConnectionTrait>(
    db: &C,
    (site, before): (organisation::Model, Vec<SiteMembership>),
    planned: &HashMap<Edge, (i32, String)>,
    mut warnings: Vec<String>,
    ctx: &ChangeContext,
) -> AppResult<MergerResult> {
    let code = site.ods_code.clone();
    let mut log = Vec::new();
    let changes = apply_placement(
        db,
        (site.id, &code),
        planned,
        &ORGANISATION_EDGES,
        ctx.effective_on,
        &mut log,
    )
    .await?;
    change_log::record(db, ctx, log).await?;
    let after = current_memberships(db, site.id).await?;
    let left: Vec<SiteMembership> = before
        .into_iter()
        .filter(|m| {
            !after
                .iter()
                .any(|a| a.edge == m.edge && a.parent_id == m.parent_id)
        })
        .collect();
    warnings.extend(emptied_warnings(db, &left).await?);
    warnings.extend(missing_warnings(&site, &after, false));
    let (status, message) = if changes.is_empty() {
        (
            MergerStatus::Unchanged,
            "the memberships were already as asked".to_string(),
        )
    } else {
        (
            MergerStatus::Updated,
            format!(
                "{} membership change(s) from {}",
                changes.len(),
                ctx.effective_on
            ),
        )
    };
    Ok(MergerResult {
        ods_code: code,
        status,
        message: Some(message),
        organisation: Some(site),
        memberships: after,
        changes,
        warnings,
    })
}
