//! Each kind of event as the operations that apply it (`crate::reorganisations`), in an open
//! transaction. Sites the data does not hold are left out by the operations with a warning.
use sea_orm::ConnectionTrait;

use super::events::{
    Change, Event, IcbReorganisation, Other, PduCreated, PduLeadSiteChange, PduMerger, PduSplit,
    TrustAcquisition, TrustRename,
};
use super::SOURCE;
use crate::change_log::RecordKind;
use crate::codes::PzCode;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge};
use crate::mergers::Setting;
use crate::reorganisations::{self as re, Author, ReorganisationReport, SuccessionKind};

/// Applies one event; the caller owns the transaction.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    event: &Event,
    actor: &str,
) -> AppResult<ReorganisationReport> {
    let author = Author::new(actor, SOURCE);
    let on = event.date;
    match &event.change {
        Change::TrustAcquisition(a) => acquisition(db, a, on, &author).await,
        Change::TrustRename(r) => rename(db, r, on, &author).await,
        Change::IcbReorganisation(r) => reorganisation(db, r, on, &author).await,
        Change::PduMerger(m) => merger(db, m, on, &author).await,
        Change::PduSplit(s) => split(db, s, on, &author).await,
        Change::Other(Other::PduLeadSiteChange(c)) => lead_site_change(db, c, on, &author).await,
        Change::Other(Other::PduCreated(c)) => created(db, c, on, &author).await,
    }
}

type Day = chrono::NaiveDate;

async fn acquisition<C: ConnectionTrait>(
    db: &C,
    a: &TrustAcquisition,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let request = re::AcquireTrusts {
        acquiring_ods_code: a.acquiring.clone(),
        acquired_ods_codes: a.acquired.clone(),
        effective_on: on,
        new_name: a.acquiring_name_after.clone(),
    };
    re::apply_acquire_trusts(db, &request, author).await
}

async fn rename<C: ConnectionTrait>(
    db: &C,
    r: &TrustRename,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let request = re::RenameTrust {
        ods_code: r.trust.clone(),
        name: r.name_after.clone(),
        effective_on: on,
    };
    re::apply_rename_trust(db, &request, author).await
}

async fn reorganisation<C: ConnectionTrait>(
    db: &C,
    r: &IcbReorganisation,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let successions = r
        .successions
        .iter()
        .map(|s| {
            Ok(re::BoardSuccession {
                predecessor: s.predecessor.clone(),
                successor: s.successor.clone(),
                kind: succession_kind(&s.kind)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let request = re::ReorganiseBoards {
        effective_on: on,
        new_boards: r
            .new_icbs
            .iter()
            .map(|b| re::NewBoard {
                ods_code: b.ods_code.clone(),
                name: b.name.clone(),
                region_code: b.region_code.clone(),
            })
            .collect(),
        successions,
        site_moves: r
            .site_moves
            .iter()
            .map(|m| re::SiteMove {
                ods_code: m.ods_code.clone(),
                to_ods_code: m.to_icb.clone(),
            })
            .collect(),
    };
    let mut report = re::apply_reorganise_integrated_care_boards(db, &request, author).await?;
    check_closed(&mut report, &r.closed_icbs);
    Ok(report)
}

/// Warns where the file's `closed_icbs` and the boards the reorganisation closed disagree.
fn check_closed(report: &mut ReorganisationReport, listed: &[String]) {
    let closed: Vec<&str> = report
        .records
        .iter()
        .filter(|r| {
            r.action == re::RecordAction::Closed && r.entity == RecordKind::IntegratedCareBoard
        })
        .map(|r| r.code.as_str())
        .collect();
    let mut warnings: Vec<String> = listed
        .iter()
        .filter(|c| !closed.contains(&c.as_str()))
        .map(|c| format!("{c} is listed as closed but keeps sites, so it stays open"))
        .collect();
    warnings.extend(
        closed
            .iter()
            .filter(|c| !listed.iter().any(|l| l == *c))
            .map(|c| format!("{c} closed (left without sites) but is not listed in closed_icbs")),
    );
    report.warnings.extend(warnings);
}

fn succession_kind(text: &str) -> AppResult<SuccessionKind> {
    match text.to_ascii_lowercase().as_str() {
        "merger" => Ok(SuccessionKind::Merger),
        "split" => Ok(SuccessionKind::Split),
        "acquisition" => Ok(SuccessionKind::Acquisition),
        other => Err(AppError::BadUserInput(format!(
            "succession type {other:?} is not merger, split or acquisition"
        ))),
    }
}

async fn merger<C: ConnectionTrait>(
    db: &C,
    m: &PduMerger,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let request = re::MergeUnits {
        predecessor_pz_codes: m.predecessors.clone(),
        successor_pz_code: m.successor.clone(),
        effective_on: on,
        name: m.successor_name.clone(),
        lead_ods_code: m.successor_lead_site.clone(),
        network_pn_code: m.successor_network_code.clone(),
    };
    re::apply_merge_paediatric_diabetes_units(db, &request, author).await
}

async fn split<C: ConnectionTrait>(
    db: &C,
    s: &PduSplit,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let request = re::SplitUnit {
        pz_code: s.predecessor.clone(),
        successors: s
            .successors
            .iter()
            .map(|u| re::UnitSuccessor {
                pz_code: u.pz_code.clone(),
                ods_codes: u
                    .sites
                    .iter()
                    .chain(&u.sites_not_in_seed)
                    .cloned()
                    .collect(),
                name: u.name.clone(),
                lead_ods_code: u.lead_site.clone(),
                network_pn_code: u.network_code.clone(),
            })
            .collect(),
        effective_on: on,
        unlisted_sites_to: None,
    };
    re::apply_split_paediatric_diabetes_unit(db, &request, author).await
}

async fn created<C: ConnectionTrait>(
    db: &C,
    c: &PduCreated,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let request = re::CreateUnit {
        pz_code: c.pz_code.clone(),
        name: c.name.clone(),
        lead_ods_code: c.lead_site.clone(),
        network_pn_code: c.network_code.clone(),
        ods_codes: c
            .sites
            .iter()
            .chain(&c.sites_not_in_seed)
            .cloned()
            .collect(),
        effective_on: on,
    };
    re::apply_create_paediatric_diabetes_unit(db, &request, author).await
}

/// The unit's sites first (so that a new lead site is already a member), then its lead and
/// name.
async fn lead_site_change<C: ConnectionTrait>(
    db: &C,
    c: &PduLeadSiteChange,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut report = ReorganisationReport::default();
    for m in &c.site_moves {
        let to = m.to_pdu.as_ref().map(PzCode::as_str);
        report.extend(site_unit_move(db, m.ods_code.as_str(), to, on, author).await?);
    }
    let request = re::UpdateUnit {
        pz_code: c.pz_code.clone(),
        name: setting(&c.name_after),
        lead_ods_code: setting(&c.lead_site_after),
        network_pn_code: Setting::Keep,
        active: None,
        effective_on: on,
    };
    report.extend(re::apply_update_paediatric_diabetes_unit(db, &request, author).await?);
    Ok(report)
}

fn setting<T: Clone>(value: &Option<T>) -> Setting<T> {
    value.clone().map(Setting::Set).unwrap_or(Setting::Keep)
}

/// One site's unit from the day (`None`: it leaves its unit), as `updateOrganisationMemberships`
/// would set it; a site the data does not hold is a warning.
async fn site_unit_move<C: ConnectionTrait>(
    db: &C,
    ods_code: &str,
    to: Option<&str>,
    on: Day,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = re::Work::new(author, on);
    let Some(site) = re::current_site(db, ods_code).await? else {
        work.warn(format!("{ods_code} is not a site we hold: left out"));
        return work.finish(db).await;
    };
    let unit = match to {
        Some(pz) => {
            let id = re::require_id(db, memberships::PAEDIATRIC_DIABETES_UNITS, pz, "PDU").await?;
            Some((id, pz))
        }
        None => None,
    };
    let edge = Edge::OrganisationPaediatricDiabetesUnit;
    re::move_edge(db, edge, (site.id, &site.ods_code), unit, &mut work).await?;
    work.finish(db).await
}
