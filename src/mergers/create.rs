//! `createOrganisations`: adding sites by ODS code from ORD, or re-adding deleted ones. ORD is
//! asked for everything first; then each site is placed (`placement::place`), written and
//! given its memberships in one transaction.
use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ConnectionTrait, DatabaseConnection, DbErr,
    IntoActiveModel,
};

use crate::change_log::{self, Change, ChangeContext};
// Short aliases keep each change-log call below on one line.
use crate::change_log::{ChangeAction as Action, ChangeSource as Source};
use crate::entities::organisation;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge};
use crate::ord::{OrdOrganisation, RoleClass};
use crate::ord_rows;
use crate::placement::{self, IcbRegions, NewSite, ParentKind, SiteFacts};
use crate::placement_facts;
use crate::reference_data::ReferenceData;
use crate::writes;

use super::common::{
    apply_placement, current_memberships, distinct_codes, edge_label, find_site, finish,
    missing_warnings, resolve_parent, snapshot, today, Parent,
};
use super::{
    Coordinates, CreateRequest, MergerReport, MergerResult, MergerStatus, SiteMembership,
    ORGANISATION_EDGES,
};

/// Checks the given coordinates: each for a listed code, in range, and given once.
fn check_coordinates(
    given: &[Coordinates],
    codes: &[String],
) -> AppResult<HashMap<String, (f64, f64)>> {
    let mut out = HashMap::new();
    for c in given {
        let code = c.ods_code.to_string();
        if !codes.contains(&code) {
            return Err(AppError::BadUserInput(format!(
                "Coordinates are given for {code}, which is not in `odsCodes`."
            )));
        }
        let lat_ok = c.latitude.is_finite() && (-90.0..=90.0).contains(&c.latitude);
        let lon_ok = c.longitude.is_finite() && (-180.0..=180.0).contains(&c.longitude);
        if !lat_ok || !lon_ok {
            return Err(AppError::BadUserInput(format!(
                "Coordinates of {code} are out of range: latitude is -90 to 90 and longitude \
                 -180 to 180 (WGS84 decimal degrees)."
            )));
        }
        if out
            .insert(code.clone(), (c.latitude, c.longitude))
            .is_some()
        {
            return Err(AppError::BadUserInput(format!(
                "Coordinates are given twice for {code}."
            )));
        }
    }
    Ok(out)
}

/// Where a site goes: the parent on each edge (absent = none).
#[derive(Clone, Debug, Default)]
struct Planned {
    parents: HashMap<Edge, (i32, String)>,
    warnings: Vec<String>,
}

/// ORD records fetched before the transaction, by code (`None` = ORD answered 404).
type Records = HashMap<String, Option<OrdOrganisation>>;

/// Everything a create call needs that does not change while it runs.
struct CreateInputs<'a> {
    records: &'a Records,
    trust_records: &'a Records,
    reference: &'a ReferenceData,
    coordinates: &'a HashMap<String, (f64, f64)>,
    allow_unlinked: bool,
}

/// Adds sites by ODS code from the ODS source, ORD or FHIR (or re-adds deleted ones).
pub async fn create_organisations(
    db: &DatabaseConnection,
    source: &dyn crate::sync::Source,
    request: &CreateRequest,
    actor: &str,
) -> AppResult<MergerReport> {
    let (codes, warnings) = distinct_codes(&request.ods_codes)?;
    let coordinates = check_coordinates(&request.coordinates, &codes)?;
    let reference = ReferenceData::bundled()?;

    // Every request to the source happens here, before anything is written.
    let mut records = Records::new();
    for code in &codes {
        let current = find_site(db, code)
            .await?
            .is_some_and(|s| s.deleted_at.is_none());
        if !current {
            records.insert(code.clone(), source.organisation(code).await?);
        }
    }
    let mut trust_records = Records::new();
    for trust in trusts_needing_icb(db, &records).await? {
        let record = source.organisation(&trust).await?;
        trust_records.insert(trust, record);
    }

    let inputs = CreateInputs {
        records: &records,
        trust_records: &trust_records,
        reference: &reference,
        coordinates: &coordinates,
        allow_unlinked: request.allow_unlinked,
    };
    let on = request.effective_on.unwrap_or_else(today);
    let ctx = ChangeContext::new(actor, Source::Merger, on);
    let txn = writes::begin(db).await?;
    let outcome = apply_create(&*txn, &codes, &inputs, &ctx).await;
    let results = finish(txn, outcome, request.dry_run).await?;
    Ok(MergerReport {
        dry_run: request.dry_run,
        results,
        warnings,
    })
}

/// English trusts whose new site's ICB their current sites cannot tell: ORD is asked for the
/// trust's record.
async fn trusts_needing_icb<C: ConnectionTrait>(
    db: &C,
    records: &Records,
) -> Result<Vec<String>, DbErr> {
    let mut out = Vec::new();
    for org in records.values().flatten() {
        let Some(rel) = org.operated_by() else {
            continue;
        };
        let jersey = placement::in_jersey(org.country.as_deref(), org.postcode.as_deref());
        if jersey || out.contains(&rel.target_code) {
            continue;
        }
        let Some(parent) = resolve_parent(db, &rel.target_code).await? else {
            continue;
        };
        if parent.kind != ParentKind::Trust {
            continue;
        }
        let site = find_site(db, &org.code).await?.map(|s| s.id);
        let agreed = placement_facts::agreement(
            db,
            Edge::OrganisationTrust,
            parent.id,
            Edge::OrganisationIntegratedCareBoard,
            site,
        )
        .await?;
        if agreed.agreed().is_none() {
            out.push(rel.target_code.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// Creates each code in turn: pick its ORD record, place it, write the row, open its
/// memberships, then log and report it.
async fn apply_create<C: ConnectionTrait>(
    db: &C,
    codes: &[String],
    inputs: &CreateInputs<'_>,
    ctx: &ChangeContext,
) -> AppResult<Vec<MergerResult>> {
    let on = ctx.effective_on;
    let icbs = placement_facts::icb_regions(db).await?;
    let mut log = Vec::new();
    let mut results = Vec::new();
    for code in codes {
        let existing = find_site(db, code).await?;
        let org = match create_source(db, code, existing.as_ref(), inputs.records).await? {
            Ok(org) => org,
            Err(r) => {
                results.push(r);
                continue;
            }
        };
        let place = match place_site(db, (code, org), existing.as_ref(), inputs, &icbs).await? {
            Ok(p) => p,
            Err(why) => {
                results.push(MergerResult::new(code, MergerStatus::Refused, why));
                continue;
            }
        };

        let coords = inputs.coordinates.get(code).copied();
        let (site, status) = write_site(db, code, org, existing.as_ref(), coords, &mut log).await?;
        let changes = apply_placement(
            db,
            (site.id, code),
            &place.parents,
            &ORGANISATION_EDGES,
            on,
            &mut log,
        )
        .await?;
        let now = current_memberships(db, site.id).await?;
        let message = created_message(status, &now, site.active);
        let mut warnings = place.warnings;
        warnings.extend(missing_warnings(&site, &now, true));
        results.push(MergerResult {
            ods_code: code.clone(),
            status,
            message: Some(message),
            organisation: Some(site),
            memberships: now,
            changes,
            warnings,
        });
    }
    change_log::record(db, ctx, log).await?;
    Ok(results)
}

/// The ORD record to create `code` from, or the result saying why there is none.
async fn create_source<'r, C: ConnectionTrait>(
    db: &C,
    code: &str,
    existing: Option<&organisation::Model>,
    records: &'r Records,
) -> Result<Result<&'r OrdOrganisation, MergerResult>, DbErr> {
    if let Some(site) = existing.filter(|s| s.deleted_at.is_none()) {
        let mut r = MergerResult::new(
            code,
            MergerStatus::Conflict,
            format!("{code} is already a current site; nothing was changed"),
        );
        r.memberships = current_memberships(db, site.id).await?;
        r.organisation = Some(site.clone());
        return Ok(Err(r));
    }
    Ok(match records.get(code) {
        // It was current when ORD was asked, and has been deleted since.
        None => Err(MergerResult::new(
            code,
            MergerStatus::Conflict,
            format!("{code} was deleted while this call ran; run it again"),
        )),
        Some(None) => Err(MergerResult::new(
            code,
            MergerStatus::NotFound,
            format!("ORD has no organisation {code}"),
        )),
        Some(Some(org)) if !ord_rows::is_source_of_truth(org) => Err(MergerResult::new(
            code,
            MergerStatus::Refused,
            format!(
                "ORD holds only an archived reference skeleton (refOnly) for {code} (closed before \
                 31 March 2017); a skeleton is never used to add a site"
            ),
        )),
        Some(Some(org)) => Ok(org),
    })
}

/// Why a record that is not a site cannot be created (none for a site).
fn not_a_site(code: &str, org: &OrdOrganisation, warnings: &mut Vec<String>) -> Option<String> {
    let role = org.primary_role.clone().unwrap_or_else(|| "none".into());
    let what = match org.role_class() {
        RoleClass::Site => None,
        RoleClass::Trust => Some("an NHS trust"),
        RoleClass::Lhb => Some("a Local Health Board"),
        RoleClass::Icb => Some("an Integrated Care Board"),
        RoleClass::Region => Some("an NHS England region"),
        RoleClass::Other if org.operated_by().is_none() => {
            Some("not a hospital site and has no operating trust or board")
        }
        RoleClass::Other => {
            warnings.push(format!(
                "primary role {role} is not a trust or board site role; added because a \
                 trust or board operates it"
            ));
            None
        }
    };
    what.map(|what| {
        format!("{code} is {what} (primary role {role} in ORD); only sites can be created")
    })
}

/// Where a site ORD describes goes: its facts gathered here, decided by `placement::place`.
/// `Err(message)` is a refusal.
async fn place_site<C: ConnectionTrait>(
    db: &C,
    (code, org): (&str, &OrdOrganisation),
    existing: Option<&organisation::Model>,
    inputs: &CreateInputs<'_>,
    icbs: &IcbRegions,
) -> AppResult<Result<Planned, String>> {
    let mut warnings = Vec::new();
    if let Some(why) = not_a_site(code, org, &mut warnings) {
        return Ok(Err(why));
    }
    let operator = org.operated_by().map(|r| r.target_code.clone());
    let parent = match &operator {
        Some(p) => resolve_parent(db, p).await?,
        None => None,
    };
    if parent.is_none() {
        let why = match &operator {
            Some(p) => {
                format!("its operator in ORD, {p}, is not a trust or Local Health Board we hold")
            }
            None => "ORD names no trust or Local Health Board operating it".to_string(),
        };
        if !inputs.allow_unlinked {
            return Ok(Err(format!(
                "{why}; add the parent first, or pass allowUnlinked to create the site without one"
            )));
        }
        warnings.push(format!("created without a parent: {why}"));
    }
    let site_id = existing.map(|m| m.id);
    let new = new_site_facts(db, (code, org), site_id, parent.as_ref(), inputs).await?;
    let answer = placement::place(&new, icbs);
    warnings.extend(answer.warnings.iter().cloned());
    let (mut parents, unknown) = placement_facts::resolve(db, answer.edges()).await?;
    warnings.extend(unknown);
    if let Some(old) = existing {
        restore_edges(db, old, &mut parents).await?;
    }
    Ok(Ok(Planned { parents, warnings }))
}

/// The facts `placement::place` decides a created site on.
async fn new_site_facts<'a, C: ConnectionTrait>(
    db: &C,
    (code, org): (&'a str, &'a OrdOrganisation),
    site_id: Option<i32>,
    parent: Option<&'a Parent>,
    inputs: &'a CreateInputs<'_>,
) -> Result<NewSite<'a>, DbErr> {
    let reference = inputs.reference;
    let parent_code = parent.map(|p| p.code.as_str());
    let mut new = NewSite {
        site: SiteFacts {
            code,
            parent: parent.map(|p| p.kind),
            parent_in_wales: false,
            address_country: org.country.as_deref(),
            postcode: org.postcode.as_deref(),
            current_country: None,
        },
        parent_code,
        listed_pdu: placement::listed_pdu(&reference.pz_codes, code, parent_code),
        ..Default::default()
    };
    let Some(p) = parent else {
        return Ok(new);
    };
    let network = Edge::OrganisationOpenUkNetwork;
    new.network_sites =
        placement_facts::agreement(db, p.kind.edge(), p.id, network, site_id).await?;
    new.listed_network = placement::listed_network(&reference.open_uk_network_trusts, &p.code);
    if p.kind == ParentKind::Trust {
        new.site.parent_in_wales = placement_facts::trust_in_wales(db, p.id).await?;
        let ord_icb = inputs
            .trust_records
            .get(&p.code)
            .and_then(Option::as_ref)
            .and_then(|t| t.active_icb())
            .map(|rel| rel.target_code.as_str());
        let listed = placement::listed_icb(&reference.icb_lookup, &p.code);
        new.trust =
            placement_facts::trust_facts(db, (p.id, &p.code), site_id, ord_icb, listed).await?;
    }
    Ok(new)
}

/// A re-added site gets back the `placement::RESTORED_EDGES` it had when it was deleted.
async fn restore_edges<C: ConnectionTrait>(
    db: &C,
    old: &organisation::Model,
    parents: &mut HashMap<Edge, (i32, String)>,
) -> Result<(), DbErr> {
    let deleted_on = old.deleted_at.map(|d| d.date_naive());
    for edge in placement::RESTORED_EDGES {
        parents.remove(&edge);
        let last = memberships::history(db, edge, old.id).await?.pop();
        let had = last.filter(|m| placement::had_when_deleted(m.valid_to, deleted_on));
        if let Some(m) = had {
            let code = memberships::codes_of(db, edge.parent(), &[m.parent_id])
                .await?
                .remove(&m.parent_id)
                .unwrap_or_default();
            parents.insert(edge, (m.parent_id, code));
        }
    }
    Ok(())
}

/// Writes the row of a created or re-added site: ORD's fields (`ord_rows::site`) over ours,
/// and the coordinates given.
async fn write_site<C: ConnectionTrait>(
    db: &C,
    code: &str,
    org: &OrdOrganisation,
    existing: Option<&organisation::Model>,
    coords: Option<(f64, f64)>,
    log: &mut Vec<Change>,
) -> Result<(organisation::Model, MergerStatus), DbErr> {
    let blank = organisation::Model {
        id: 0,
        ods_code: code.to_string(),
        name: String::new(),
        website: None,
        telephone: None,
        email: None,
        address1: None,
        address2: None,
        address3: None,
        city: None,
        county: None,
        postcode: None,
        latitude: None,
        longitude: None,
        active: true,
        published_at: None,
        deleted_at: None,
        ods_deleted_on: None,
        ods_deletion_reason: None,
    };
    let mut row = ord_rows::site(existing.unwrap_or(&blank), org, today());
    if let Some((lat, lon)) = coords {
        row.latitude = Some(lat);
        row.longitude = Some(lon);
    }
    row.deleted_at = None;
    let entity = memberships::ORGANISATIONS.entity;
    match existing {
        Some(old) => {
            let site = row.into_active_model().reset_all().update(db).await?;
            log.push(
                Change::new(entity, code, Action::Restore)
                    .before(snapshot(old))
                    .after(snapshot(&site)),
            );
            Ok((site, MergerStatus::Restored))
        }
        None => {
            let mut new = row.into_active_model().reset_all();
            new.id = NotSet;
            let site = new.insert(db).await?;
            log.push(Change::new(entity, code, Action::Create).after(snapshot(&site)));
            Ok((site, MergerStatus::Created))
        }
    }
}

/// What the result of a created or re-added site says.
fn created_message(status: MergerStatus, now: &[SiteMembership], active: bool) -> String {
    let parent = now
        .iter()
        .find(|m| {
            matches!(
                m.edge,
                Edge::OrganisationTrust | Edge::OrganisationLocalHealthBoard
            )
        })
        .map(|m| edge_label(m.edge, &m.code));
    let mut message = match (status, parent) {
        (MergerStatus::Restored, Some(p)) => {
            format!("re-added under {p}, with the memberships it had when deleted")
        }
        (MergerStatus::Restored, None) => {
            "re-added without a parent, with the memberships it had when deleted".to_string()
        }
        (_, Some(p)) => format!("created under {p}"),
        (_, None) => "created without a parent".to_string(),
    };
    if !active {
        message.push_str("; closed in ORD");
    }
    message
}
