//! Mergers: adding sites by ODS code (from ORD), deleting them (soft), and editing a site's
//! memberships by hand. The rules are explained in `docs/mergers.md`.
//!
//! Every call runs in one write transaction (`crate::writes`: one writer at a time), and
//! re-reads inside it everything it decides on. A dry run runs exactly the same code and rolls the
//! transaction back, so its report is the one applying would give. Everything ORD is asked for
//! is fetched before the transaction starts: a failing ORD fails the whole call and nothing is
//! written, and no write lock is held while waiting on the network.
use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, Set,
};

use crate::change_log::{self, Change, ChangeContext};
// Short aliases keep each change-log call below on one line.
use crate::change_log::{ChangeAction as Action, ChangeSource as Source};
use crate::codes;
use crate::entities::organisation;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, Moment};
use crate::ord::{OrdClient, OrdOrganisation, RoleClass};
use crate::ord_rows;
use crate::placement::{self, Edit, IcbRegions, Move, NewSite, ParentKind, SiteFacts, ENGLAND};
use crate::placement_facts;
use crate::reference_data::ReferenceData;
use crate::writes::{self, WriteTxn};

/// Most codes one call may name: ORD is asked for each (and maybe for its trust) at no more
/// than `ORD_MAX_RPS` requests a second.
pub const MAX_CODES: usize = 100;

/// The edges of a site, in the order reports list them.
pub const ORGANISATION_EDGES: [Edge; 8] = [
    Edge::OrganisationTrust,
    Edge::OrganisationLocalHealthBoard,
    Edge::OrganisationCountry,
    Edge::OrganisationIntegratedCareBoard,
    Edge::OrganisationNhsEnglandRegion,
    Edge::OrganisationPaediatricDiabetesUnit,
    Edge::OrganisationOpenUkNetwork,
    Edge::OrganisationLondonBorough,
];

/// What happened to one code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MergerStatus {
    /// A new site was added.
    Created,
    /// A deleted site was added back, with its last memberships.
    Restored,
    /// The site was deleted (soft).
    Deleted,
    /// The site's memberships were changed.
    Updated,
    /// Nothing needed changing.
    Unchanged,
    /// The site is already there.
    Conflict,
    /// No such site (ORD answers 404, or we hold no current site with that code).
    NotFound,
    /// Not applied: not a site, no known parent, unknown target code, ...
    Refused,
}

impl MergerStatus {
    /// The status as GraphQL and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MergerStatus::Created => "CREATED",
            MergerStatus::Restored => "RESTORED",
            MergerStatus::Deleted => "DELETED",
            MergerStatus::Updated => "UPDATED",
            MergerStatus::Unchanged => "UNCHANGED",
            MergerStatus::Conflict => "CONFLICT",
            MergerStatus::NotFound => "NOT_FOUND",
            MergerStatus::Refused => "REFUSED",
        }
    }

    /// Whether the code was applied (or, in a dry run, would be).
    pub fn applied(self) -> bool {
        matches!(
            self,
            MergerStatus::Created
                | MergerStatus::Restored
                | MergerStatus::Deleted
                | MergerStatus::Updated
                | MergerStatus::Unchanged
        )
    }
}

/// One membership of a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteMembership {
    pub edge: Edge,
    pub parent_id: i32,
    pub code: String,
    pub valid_from: NaiveDate,
}

/// One membership opened, closed or moved by the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    pub edge: Edge,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The outcome for one code.
#[derive(Clone, Debug, PartialEq)]
pub struct MergerResult {
    pub ods_code: String,
    pub status: MergerStatus,
    /// Why, for anything not applied; what was done otherwise.
    pub message: Option<String>,
    /// The site after the call (a deleted site keeps its row, with `deleted_at`).
    pub organisation: Option<organisation::Model>,
    /// The site's current memberships after the call; for a deleted site, the ones it had.
    pub memberships: Vec<SiteMembership>,
    /// Memberships the call opened or closed.
    pub changes: Vec<MembershipChange>,
    pub warnings: Vec<String>,
}

impl MergerResult {
    fn new(code: &str, status: MergerStatus, message: impl Into<String>) -> Self {
        Self {
            ods_code: code.to_string(),
            status,
            message: Some(message.into()),
            organisation: None,
            memberships: Vec::new(),
            changes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The site's parent on `edge` after the call (none for a deleted site).
    pub fn parent_after(&self, edge: Edge) -> Option<i32> {
        if self.status == MergerStatus::Deleted {
            return None;
        }
        self.memberships
            .iter()
            .find(|m| m.edge == edge)
            .map(|m| m.parent_id)
    }
}

/// What a call did, or for a dry run would do.
#[derive(Clone, Debug, PartialEq)]
pub struct MergerReport {
    pub dry_run: bool,
    pub results: Vec<MergerResult>,
    pub warnings: Vec<String>,
}

impl MergerReport {
    /// Results whose code was not applied.
    pub fn not_applied(&self) -> usize {
        self.results.iter().filter(|r| !r.status.applied()).count()
    }
}

/// The plain-text report of the command line.
impl std::fmt::Display for MergerReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            writeln!(out, "dry run: nothing was changed; applying would give:")?;
        }
        for r in &self.results {
            write!(out, "{} {}", r.ods_code, r.status.as_str())?;
            if let Some(m) = &r.message {
                write!(out, ": {m}")?;
            }
            writeln!(out)?;
            if !r.memberships.is_empty() {
                let list: Vec<String> = r
                    .memberships
                    .iter()
                    .map(|m| format!("{} {}", m.edge.name(), m.code))
                    .collect();
                let label = if r.status == MergerStatus::Deleted {
                    "had"
                } else {
                    "memberships"
                };
                writeln!(out, "  {label}: {}", list.join(", "))?;
            }
            for c in &r.changes {
                writeln!(
                    out,
                    "  {}: {} -> {}",
                    c.edge.name(),
                    c.before.as_deref().unwrap_or("none"),
                    c.after.as_deref().unwrap_or("none")
                )?;
            }
            for w in &r.warnings {
                writeln!(out, "  warning: {w}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Latitude and longitude given for a code being created (ORD has none).
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinates {
    pub ods_code: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A `createOrganisations` call.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub ods_codes: Vec<String>,
    pub dry_run: bool,
    pub allow_unlinked: bool,
    pub coordinates: Vec<Coordinates>,
    /// The day the sites exist and their memberships begin (default today).
    pub effective_on: Option<NaiveDate>,
}

/// One edge of an `updateOrganisationMemberships` call (leave, clear, or set to a code).
pub use crate::placement::Setting;

/// An `updateOrganisationMemberships` call.
#[derive(Clone, Debug, Default)]
pub struct MembershipUpdate {
    pub ods_code: String,
    pub paediatric_diabetes_unit: Setting,
    pub open_uk_network: Setting,
    pub london_borough: Setting,
    /// A trust or Local Health Board ODS code.
    pub parent: Setting,
    pub integrated_care_board: Setting,
    pub nhs_england_region: Setting,
    pub dry_run: bool,
    /// The day the changes take effect (default today).
    pub effective_on: Option<NaiveDate>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Checks and upper-cases the codes of a call; repeated codes are handled once.
fn normalise_codes(raw: &[String]) -> AppResult<(Vec<String>, Vec<String>)> {
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
        let code = codes::ods_code(r)?;
        if codes.contains(&code) {
            warnings.push(format!("{code} is listed more than once; handled once"));
        } else {
            codes.push(code);
        }
    }
    Ok((codes, warnings))
}

fn check_coordinates(
    given: &[Coordinates],
    codes: &[String],
) -> AppResult<HashMap<String, (f64, f64)>> {
    let mut out = HashMap::new();
    for c in given {
        let code = codes::ods_code(&c.ods_code)?;
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

/// Commits, or rolls back for a dry run or on error.
async fn finish<T>(txn: WriteTxn, outcome: AppResult<T>, dry_run: bool) -> AppResult<T> {
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

async fn find_site<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<organisation::Model>, DbErr> {
    organisation::Entity::find()
        .filter(organisation::Column::OdsCode.eq(code))
        .one(db)
        .await
}

/// The site's current memberships, in report order.
async fn current_memberships<C: ConnectionTrait>(
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

async fn current_children<C: ConnectionTrait>(
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
struct Parent {
    kind: ParentKind,
    id: i32,
    code: String,
}

/// The parent a code names, as `placement::parent_kind` reads what we hold.
async fn resolve_parent<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<Parent>, DbErr> {
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

/// Warnings for each relationship a site lacks.
fn missing_warnings(
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

fn edge_label(edge: Edge, code: &str) -> String {
    match edge {
        Edge::OrganisationPaediatricDiabetesUnit => code.to_string(),
        Edge::OrganisationOpenUkNetwork => format!("OPEN UK network {code}"),
        Edge::OrganisationTrust => format!("trust {code}"),
        Edge::OrganisationLocalHealthBoard => format!("Local Health Board {code}"),
        _ => format!("{} {code}", edge.name().replace('_', " ")),
    }
}

/// Warnings for PDUs, OPEN UK networks, trusts and boards a change left without current sites.
async fn emptied_warnings<C: ConnectionTrait>(
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
async fn apply_placement<C: ConnectionTrait>(
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

fn snapshot(m: &organisation::Model) -> Option<serde_json::Value> {
    serde_json::to_value(m).ok()
}

/// Adds sites by ODS code from ORD (or re-adds deleted ones).
pub async fn create_organisations(
    db: &DatabaseConnection,
    ord: &OrdClient,
    request: &CreateRequest,
    actor: &str,
) -> AppResult<MergerReport> {
    let (codes, warnings) = normalise_codes(&request.ods_codes)?;
    let coordinates = check_coordinates(&request.coordinates, &codes)?;
    let reference = ReferenceData::bundled()?;

    // Every ORD request happens here, before anything is written.
    let mut records = Records::new();
    for code in &codes {
        let current = find_site(db, code)
            .await?
            .is_some_and(|s| s.deleted_at.is_none());
        if !current {
            records.insert(code.clone(), ord.organisation(code).await?);
        }
    }
    let mut trust_records = Records::new();
    for trust in trusts_needing_icb(db, &records).await? {
        let record = ord.organisation(&trust).await?;
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
        Some(Some(org)) => Ok(org),
    })
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

/// Deletes sites (soft) today: see `delete_organisations_on`.
pub async fn delete_organisations(
    db: &DatabaseConnection,
    ods_codes: &[String],
    dry_run: bool,
    actor: &str,
) -> AppResult<MergerReport> {
    delete_organisations_on(db, ods_codes, dry_run, actor, None).await
}

/// Deletes sites (soft): closes every current membership on `effective_on` (default today)
/// and sets `deleted_at`; the site exists until that day.
pub async fn delete_organisations_on(
    db: &DatabaseConnection,
    ods_codes: &[String],
    dry_run: bool,
    actor: &str,
    effective_on: Option<NaiveDate>,
) -> AppResult<MergerReport> {
    let (codes, warnings) = normalise_codes(ods_codes)?;
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

async fn apply_delete<C: ConnectionTrait>(
    db: &C,
    codes: &[String],
    ctx: &ChangeContext,
) -> AppResult<Vec<MergerResult>> {
    let on = ctx.effective_on;
    let mut log = Vec::new();
    let mut results = Vec::new();
    for code in codes {
        let site = match find_site(db, code).await? {
            None => {
                results.push(MergerResult::new(
                    code,
                    MergerStatus::NotFound,
                    format!("we hold no site {code}"),
                ));
                continue;
            }
            Some(s) if s.deleted_at.is_some() => {
                results.push(MergerResult::new(
                    code,
                    MergerStatus::NotFound,
                    format!("{code} is already deleted"),
                ));
                continue;
            }
            Some(s) => s,
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

/// Checks the codes of an update call before anything is read.
fn check_update(u: &MembershipUpdate) -> AppResult<MembershipUpdate> {
    fn check(s: &Setting, f: fn(&str) -> AppResult<String>) -> AppResult<Setting> {
        Ok(match s {
            Setting::Set(c) => Setting::Set(f(c)?),
            other => other.clone(),
        })
    }
    let checked = MembershipUpdate {
        ods_code: codes::ods_code(&u.ods_code)?,
        paediatric_diabetes_unit: check(&u.paediatric_diabetes_unit, codes::pz_code)?,
        open_uk_network: check(&u.open_uk_network, codes::network_code)?,
        london_borough: check(&u.london_borough, codes::gss_code)?,
        parent: check(&u.parent, codes::ods_code)?,
        integrated_care_board: check(&u.integrated_care_board, codes::ods_code)?,
        nhs_england_region: check(&u.nhs_england_region, codes::region_code)?,
        dry_run: u.dry_run,
        effective_on: u.effective_on,
    };
    let all_kept = [
        &checked.paediatric_diabetes_unit,
        &checked.open_uk_network,
        &checked.london_borough,
        &checked.parent,
        &checked.integrated_care_board,
        &checked.nhs_england_region,
    ]
    .iter()
    .all(|s| **s == Setting::Keep);
    if all_kept {
        return Err(AppError::BadUserInput(
            "Nothing to change: give at least one membership to set or clear.".into(),
        ));
    }
    Ok(checked)
}

/// Sets or clears a site's memberships by hand.
pub async fn update_memberships(
    db: &DatabaseConnection,
    update: &MembershipUpdate,
    actor: &str,
) -> AppResult<MergerReport> {
    let update = check_update(update)?;
    let reference = ReferenceData::bundled()?;
    let on = update.effective_on.unwrap_or_else(today);
    let ctx = ChangeContext::new(actor, Source::Merger, on);
    let txn = writes::begin(db).await?;
    let outcome = apply_update(&*txn, &update, &reference, &ctx).await;
    let result = finish(txn, outcome, update.dry_run).await?;
    Ok(MergerReport {
        dry_run: update.dry_run,
        results: vec![result],
        warnings: Vec::new(),
    })
}

async fn apply_update<C: ConnectionTrait>(
    db: &C,
    u: &MembershipUpdate,
    reference: &ReferenceData,
    ctx: &ChangeContext,
) -> AppResult<MergerResult> {
    let code = &u.ods_code;
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
            let p = resolve_parent(db, c).await?;
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
            u.paediatric_diabetes_unit.clone(),
        ),
        (Edge::OrganisationOpenUkNetwork, u.open_uk_network.clone()),
        (Edge::OrganisationLondonBorough, u.london_borough.clone()),
        (
            Edge::OrganisationIntegratedCareBoard,
            u.integrated_care_board.clone(),
        ),
        (
            Edge::OrganisationNhsEnglandRegion,
            u.nhs_england_region.clone(),
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
