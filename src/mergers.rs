//! Mergers: adding sites by ODS code (from ORD), deleting them (soft), and editing a site's
//! memberships by hand. The rules are explained in `docs/mergers.md`.
//!
//! Every call runs in one write transaction (`crate::writes`: one writer at a time), and
//! re-reads inside it everything it decides on. A dry run runs exactly the same code and rolls the
//! transaction back, so its report is the one applying would give. Everything ORD is asked for
//! is fetched before the transaction starts: a failing ORD fails the whole call and nothing is
//! written, and no write lock is held while waiting on the network.
use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, Set,
};

use crate::change_log::{self, Change, ChangeContext};
// Short aliases keep each change-log call below on one line.
use crate::change_log::{ChangeAction as Action, ChangeSource as Source};
use crate::codes;
use crate::entities::{organisation, trust};
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, Moment};
use crate::ord::{OrdClient, OrdError, OrdOrganisation, RoleClass};
use crate::reference_data::ReferenceData;
use crate::seed::{ENGLAND, JERSEY, WALES};
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

/// One edge of an `updateOrganisationMemberships` call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Setting {
    /// Leave the membership as it is.
    #[default]
    Keep,
    /// Close the current membership.
    Clear,
    /// Make this code the current one.
    Set(String),
}

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

fn upstream(e: OrdError) -> AppError {
    match e {
        OrdError::Config(_) => AppError::Internal(e.to_string()),
        _ => AppError::UpstreamUnavailable(format!("{e}. Nothing was changed; try again later.")),
    }
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

/// What the current sites of a parent agree on for one edge.
enum Consensus {
    None,
    One(i32),
    Disagree,
}

async fn consensus<C: ConnectionTrait>(
    db: &C,
    parent_edge: Edge,
    parent_id: i32,
    edge: Edge,
    excluding: Option<i32>,
) -> Result<Consensus, DbErr> {
    let sites: Vec<i32> = memberships::children_of(db, parent_edge, &[parent_id], Moment::Current)
        .await?
        .remove(&parent_id)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| Some(*s) != excluding)
        .collect();
    let values: BTreeSet<i32> = memberships::parents_of(db, edge, &sites, Moment::Current)
        .await?
        .into_values()
        .collect();
    Ok(match values.len() {
        0 => Consensus::None,
        1 => values
            .into_iter()
            .next()
            .map_or(Consensus::None, Consensus::One),
        _ => Consensus::Disagree,
    })
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
enum Parent {
    Trust(i32, String),
    Board(i32, String),
}

impl Parent {
    fn edge(&self) -> Edge {
        match self {
            Parent::Trust(..) => Edge::OrganisationTrust,
            Parent::Board(..) => Edge::OrganisationLocalHealthBoard,
        }
    }
    fn id(&self) -> i32 {
        match self {
            Parent::Trust(id, _) | Parent::Board(id, _) => *id,
        }
    }
    fn code(&self) -> &str {
        match self {
            Parent::Trust(_, c) | Parent::Board(_, c) => c,
        }
    }
}

/// Boards first, as the seed does: Powys (7A7) is in both lists and is a board.
async fn resolve_parent<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<Parent>, DbErr> {
    if let Some(id) = memberships::id_of(db, memberships::LOCAL_HEALTH_BOARDS, code).await? {
        return Ok(Some(Parent::Board(id, code.to_string())));
    }
    Ok(memberships::id_of(db, memberships::TRUSTS, code)
        .await?
        .map(|id| Parent::Trust(id, code.to_string())))
}

/// Where a site goes: the parent on each edge (absent = none).
#[derive(Clone, Debug, Default)]
struct Placement {
    parents: HashMap<Edge, (i32, String)>,
    warnings: Vec<String>,
}

impl Placement {
    fn set(&mut self, edge: Edge, id: i32, code: &str) {
        self.parents.insert(edge, (id, code.to_string()));
    }
}

/// ORD records fetched before the transaction, by code (`None` = ORD answered 404).
type Records = HashMap<String, Option<OrdOrganisation>>;

/// Whether ORD puts the site in Jersey (address country or a JE postcode).
fn in_jersey(org: &OrdOrganisation) -> bool {
    let country = org
        .country
        .as_deref()
        .is_some_and(|c| c.to_ascii_uppercase().contains("JERSEY"));
    let postcode = org.postcode.as_deref().is_some_and(|p| {
        let p = p.trim().to_ascii_uppercase();
        p.starts_with("JE") && p[2..].starts_with(|c: char| c.is_ascii_digit())
    });
    country || postcode
}

/// Everything a create call needs that does not change while it runs.
struct CreateInputs<'a> {
    records: &'a Records,
    trust_records: &'a Records,
    reference: &'a ReferenceData,
    coordinates: &'a HashMap<String, (f64, f64)>,
    allow_unlinked: bool,
}

/// The ICB (and region) of a new site of an English trust: what the trust's current sites
/// agree on, else the trust's active RE5 ICB in ORD and that ICB's region.
async fn icb_and_region<C: ConnectionTrait>(
    db: &C,
    trust: &Parent,
    site_id: Option<i32>,
    trust_records: &Records,
    place: &mut Placement,
) -> Result<(), DbErr> {
    let trust_edge = Edge::OrganisationTrust;
    let from_sites = consensus(
        db,
        trust_edge,
        trust.id(),
        Edge::OrganisationIntegratedCareBoard,
        site_id,
    )
    .await?;
    let icb = match from_sites {
        Consensus::One(icb) => {
            let code = memberships::codes_of(db, memberships::INTEGRATED_CARE_BOARDS, &[icb])
                .await?
                .remove(&icb)
                .unwrap_or_default();
            Some((icb, code))
        }
        _ => {
            let from_ord = trust_records
                .get(trust.code())
                .and_then(|r| r.as_ref())
                .and_then(|t| t.active_icb())
                .map(|rel| rel.target_code.clone());
            match from_ord {
                Some(code) => {
                    match memberships::id_of(db, memberships::INTEGRATED_CARE_BOARDS, &code).await?
                    {
                        Some(id) => Some((id, code)),
                        None => {
                            place.warnings.push(format!(
                                "ORD puts trust {} in ICB {code}, which is not in our data",
                                trust.code()
                            ));
                            None
                        }
                    }
                }
                None => None,
            }
        }
    };
    let Some((icb_id, icb_code)) = icb else {
        return Ok(());
    };
    place.set(Edge::OrganisationIntegratedCareBoard, icb_id, &icb_code);
    // The region the trust's sites agree on when the ICB came from them, else the ICB's own.
    let mut region = None;
    if matches!(from_sites, Consensus::One(_)) {
        if let Consensus::One(r) = consensus(
            db,
            trust_edge,
            trust.id(),
            Edge::OrganisationNhsEnglandRegion,
            site_id,
        )
        .await?
        {
            region = Some(r);
        }
    }
    if region.is_none() {
        region = memberships::parents_of(
            db,
            Edge::IntegratedCareBoardRegion,
            &[icb_id],
            Moment::Current,
        )
        .await?
        .remove(&icb_id);
    }
    if let Some(r) = region {
        let code = memberships::codes_of(db, memberships::NHS_ENGLAND_REGIONS, &[r])
            .await?
            .remove(&r)
            .unwrap_or_default();
        place.set(Edge::OrganisationNhsEnglandRegion, r, &code);
    }
    Ok(())
}

/// The OPEN UK network the parent's current sites agree on, else the parent's row in the
/// bundled reference data (last row wins, as in the seed).
async fn network_of_parent<C: ConnectionTrait>(
    db: &C,
    parent: &Parent,
    site_id: Option<i32>,
    reference: &ReferenceData,
) -> Result<Option<(i32, String)>, DbErr> {
    if let Consensus::One(id) = consensus(
        db,
        parent.edge(),
        parent.id(),
        Edge::OrganisationOpenUkNetwork,
        site_id,
    )
    .await?
    {
        let code = memberships::codes_of(db, memberships::OPEN_UK_NETWORKS, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        return Ok(Some((id, code)));
    }
    let listed = reference
        .open_uk_network_trusts
        .iter()
        .rev()
        .find(|r| r.ods_trust_code == parent.code())
        .map(|r| r.open_uk_network_code.clone());
    match listed {
        Some(code) => Ok(memberships::id_of(db, memberships::OPEN_UK_NETWORKS, &code)
            .await?
            .map(|id| (id, code))),
        None => Ok(None),
    }
}

/// The PDU of a new site: its own row in the bundled PZ list, else its parent's (first row
/// wins, as in the seed).
fn pdu_from_reference(
    reference: &ReferenceData,
    site: &str,
    parent: Option<&str>,
) -> Option<String> {
    let rows = &reference.pz_codes;
    rows.iter()
        .find(|r| r.ods_code == site)
        .or_else(|| parent.and_then(|p| rows.iter().find(|r| r.ods_code == p)))
        .map(|r| r.npda_code.clone())
}

/// Where a site ORD describes goes. `Err(message)` is a refusal.
async fn place_site<C: ConnectionTrait>(
    db: &C,
    code: &str,
    org: &OrdOrganisation,
    existing: Option<&organisation::Model>,
    inputs: &CreateInputs<'_>,
) -> AppResult<Result<Placement, String>> {
    let mut place = Placement::default();
    let role = org.primary_role.clone().unwrap_or_else(|| "none".into());
    let what = match org.role_class() {
        RoleClass::Site => None,
        RoleClass::Trust => Some("an NHS trust"),
        RoleClass::Lhb => Some("a Local Health Board"),
        RoleClass::Icb => Some("an Integrated Care Board"),
        RoleClass::Region => Some("an NHS England region"),
        RoleClass::Other => {
            if org.operated_by().is_none() {
                Some("not a hospital site and has no operating trust or board")
            } else {
                place.warnings.push(format!(
                    "primary role {role} is not a trust or board site role; added because a \
                     trust or board operates it"
                ));
                None
            }
        }
    };
    if let Some(what) = what {
        return Ok(Err(format!(
            "{code} is {what} (primary role {role} in ORD); only sites can be created"
        )));
    }

    let site_id = existing.map(|m| m.id);
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
        place
            .warnings
            .push(format!("created without a parent: {why}"));
    }

    // Country: Wales under a board (or one of the few Welsh trusts, e.g. RT4); England under
    // a trust, unless ORD's address is in Jersey.
    let ord_country = org.country.as_deref().map(str::to_ascii_uppercase);
    let jersey = in_jersey(org);
    let welsh_trust = match &parent {
        Some(Parent::Trust(id, _)) => trust::Entity::find_by_id(*id)
            .one(db)
            .await?
            .and_then(|t| t.country)
            .is_some_and(|c| c.eq_ignore_ascii_case("WALES")),
        _ => false,
    };
    let country = match &parent {
        Some(Parent::Board(..)) => Some(WALES),
        Some(Parent::Trust(..)) if jersey => Some(JERSEY),
        Some(Parent::Trust(..)) if welsh_trust => Some(WALES),
        Some(Parent::Trust(..)) => Some(ENGLAND),
        None if jersey => Some(JERSEY),
        None => match ord_country.as_deref() {
            Some("ENGLAND") => Some(ENGLAND),
            Some("WALES") => Some(WALES),
            _ => None,
        },
    };
    if let Some(c) = country {
        match memberships::id_of(db, memberships::COUNTRIES, c).await? {
            Some(id) => place.set(Edge::OrganisationCountry, id, c),
            None => place
                .warnings
                .push(format!("country {c} is not in our data")),
        }
    }

    if let Some(p) = &parent {
        place.set(p.edge(), p.id(), p.code());
        // English geography only: Welsh boards and Jersey have no ICB or region.
        if matches!(p, Parent::Trust(..)) && country == Some(ENGLAND) {
            icb_and_region(db, p, site_id, inputs.trust_records, &mut place).await?;
        }
        if let Some((id, c)) = network_of_parent(db, p, site_id, inputs.reference).await? {
            place.set(Edge::OrganisationOpenUkNetwork, id, &c);
        }
    }
    let parent_code = parent.as_ref().map(|p| p.code().to_string());
    if let Some(pz) = pdu_from_reference(inputs.reference, code, parent_code.as_deref()) {
        match memberships::id_of(db, memberships::PAEDIATRIC_DIABETES_UNITS, &pz).await? {
            Some(id) => place.set(Edge::OrganisationPaediatricDiabetesUnit, id, &pz),
            None => place
                .warnings
                .push(format!("PDU {pz} of the reference data is not in our data")),
        }
    }

    // A re-added site gets back what it had when it was deleted (not in ORD).
    if let Some(old) = existing {
        let deleted_on = old.deleted_at.map(|d| d.date_naive());
        for edge in [
            Edge::OrganisationPaediatricDiabetesUnit,
            Edge::OrganisationOpenUkNetwork,
            Edge::OrganisationLondonBorough,
        ] {
            place.parents.remove(&edge);
            let last = memberships::history(db, edge, old.id).await?.pop();
            let had = last.filter(|m| match (m.valid_to, deleted_on) {
                (None, _) => true,
                (Some(to), Some(on)) => to >= on,
                (Some(_), None) => false,
            });
            if let Some(m) = had {
                let code = memberships::codes_of(db, edge.parent(), &[m.parent_id])
                    .await?
                    .remove(&m.parent_id)
                    .unwrap_or_default();
                place.set(edge, m.parent_id, &code);
            }
        }
    }
    Ok(Ok(place))
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
            records.insert(
                code.clone(),
                ord.organisation(code).await.map_err(upstream)?,
            );
        }
    }
    let mut trust_records = Records::new();
    for trust in trusts_needing_icb(db, &records).await? {
        let record = ord.organisation(&trust).await.map_err(upstream)?;
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
        if in_jersey(org) || out.contains(&rel.target_code) {
            continue;
        }
        let Some(parent @ Parent::Trust(..)) = resolve_parent(db, &rel.target_code).await? else {
            continue;
        };
        let site = find_site(db, &org.code).await?.map(|s| s.id);
        let agreed = consensus(
            db,
            Edge::OrganisationTrust,
            parent.id(),
            Edge::OrganisationIntegratedCareBoard,
            site,
        )
        .await?;
        if !matches!(agreed, Consensus::One(_)) {
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
    let mut log = Vec::new();
    let mut results = Vec::new();
    for code in codes {
        let existing = find_site(db, code).await?;
        if let Some(site) = existing.as_ref().filter(|s| s.deleted_at.is_none()) {
            let mut r = MergerResult::new(
                code,
                MergerStatus::Conflict,
                format!("{code} is already a current site; nothing was changed"),
            );
            r.memberships = current_memberships(db, site.id).await?;
            r.organisation = Some(site.clone());
            results.push(r);
            continue;
        }
        let Some(record) = inputs.records.get(code) else {
            // It was current when ORD was asked, and has been deleted since.
            results.push(MergerResult::new(
                code,
                MergerStatus::Conflict,
                format!("{code} was deleted while this call ran; run it again"),
            ));
            continue;
        };
        let Some(org) = record else {
            results.push(MergerResult::new(
                code,
                MergerStatus::NotFound,
                format!("ORD has no organisation {code}"),
            ));
            continue;
        };
        let place = match place_site(db, code, org, existing.as_ref(), inputs).await? {
            Ok(p) => p,
            Err(why) => {
                results.push(MergerResult::new(code, MergerStatus::Refused, why));
                continue;
            }
        };

        let coords = inputs.coordinates.get(code).copied();
        let (site, status) = match &existing {
            Some(old) => {
                let mut row = old.clone().into_active_model();
                fill_from_ord(&mut row, org);
                if let Some((lat, lon)) = coords {
                    row.latitude = Set(Some(lat));
                    row.longitude = Set(Some(lon));
                }
                row.deleted_at = Set(None);
                let site = row.update(db).await?;
                log.push(
                    Change::new(memberships::ORGANISATIONS.entity, code, Action::Restore)
                        .before(snapshot(old))
                        .after(snapshot(&site)),
                );
                (site, MergerStatus::Restored)
            }
            None => {
                let mut row = organisation::ActiveModel {
                    id: NotSet,
                    ods_code: Set(code.clone()),
                    email: Set(None),
                    latitude: Set(coords.map(|c| c.0)),
                    longitude: Set(coords.map(|c| c.1)),
                    deleted_at: Set(None),
                    ..Default::default()
                };
                fill_from_ord(&mut row, org);
                let site = row.insert(db).await?;
                log.push(
                    Change::new(memberships::ORGANISATIONS.entity, code, Action::Create)
                        .after(snapshot(&site)),
                );
                (site, MergerStatus::Created)
            }
        };
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
        if !org.active {
            message.push_str("; closed in ORD");
        }
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

/// Copies what ORD knows about a site onto its row.
fn fill_from_ord(row: &mut organisation::ActiveModel, org: &OrdOrganisation) {
    row.name = Set(org.name.clone());
    row.address1 = Set(org.address_line1.clone());
    row.address2 = Set(org.address_line2.clone());
    row.address3 = Set(org.address_line3.clone());
    row.city = Set(org.town.clone());
    row.county = Set(org.county.clone());
    row.postcode = Set(org.postcode.clone());
    row.telephone = Set(org.telephone.clone());
    row.website = Set(org.website.clone());
    row.active = Set(org.active);
    row.published_at = Set(org.last_change_date);
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
    let mut planned: HashMap<Edge, (i32, String)> = before
        .iter()
        .map(|m| (m.edge, (m.parent_id, m.code.clone())))
        .collect();
    let mut unknown = Vec::new();
    let mut warnings = Vec::new();

    // Plain edges: as given.
    for (setting, edge, what) in [
        (
            &u.paediatric_diabetes_unit,
            Edge::OrganisationPaediatricDiabetesUnit,
            "Paediatric Diabetes Unit",
        ),
        (
            &u.open_uk_network,
            Edge::OrganisationOpenUkNetwork,
            "OPEN UK network",
        ),
        (
            &u.london_borough,
            Edge::OrganisationLondonBorough,
            "London borough",
        ),
        (
            &u.integrated_care_board,
            Edge::OrganisationIntegratedCareBoard,
            "Integrated Care Board",
        ),
        (
            &u.nhs_england_region,
            Edge::OrganisationNhsEnglandRegion,
            "NHS England region",
        ),
    ] {
        match setting {
            Setting::Keep => {}
            Setting::Clear => {
                planned.remove(&edge);
            }
            Setting::Set(c) => match memberships::id_of(db, edge.parent(), c).await? {
                Some(id) => {
                    planned.insert(edge, (id, c.clone()));
                }
                None => unknown.push(format!("{c} is not a {what} we hold")),
            },
        }
    }

    // The parent, and the geography that follows it unless given too.
    let old_parent = before
        .iter()
        .find(|m| {
            matches!(
                m.edge,
                Edge::OrganisationTrust | Edge::OrganisationLocalHealthBoard
            )
        })
        .map(|m| m.code.clone());
    let new_parent = match &u.parent {
        Setting::Keep => None,
        Setting::Clear => {
            planned.remove(&Edge::OrganisationTrust);
            planned.remove(&Edge::OrganisationLocalHealthBoard);
            None
        }
        Setting::Set(c) => match resolve_parent(db, c).await? {
            Some(p) => Some(p),
            None => {
                unknown.push(format!("{c} is not a trust or Local Health Board we hold"));
                None
            }
        },
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
    if let Some(p) = new_parent.filter(|p| old_parent.as_deref() != Some(p.code())) {
        planned.remove(&Edge::OrganisationTrust);
        planned.remove(&Edge::OrganisationLocalHealthBoard);
        planned.insert(p.edge(), (p.id(), p.code().to_string()));
        let was_jersey = before
            .iter()
            .any(|m| m.edge == Edge::OrganisationCountry && m.code == JERSEY);
        let country = match p {
            Parent::Board(..) => WALES,
            Parent::Trust(..) if was_jersey => JERSEY,
            Parent::Trust(..) => ENGLAND,
        };
        match memberships::id_of(db, memberships::COUNTRIES, country).await? {
            Some(id) => {
                planned.insert(Edge::OrganisationCountry, (id, country.to_string()));
            }
            None => warnings.push(format!("country {country} is not in our data")),
        }
        let icb_given = u.integrated_care_board != Setting::Keep;
        let region_given = u.nhs_england_region != Setting::Keep;
        if country != ENGLAND {
            if !icb_given {
                planned.remove(&Edge::OrganisationIntegratedCareBoard);
            }
            if !region_given {
                planned.remove(&Edge::OrganisationNhsEnglandRegion);
            }
        } else if !icb_given {
            let mut geo = Placement::default();
            // Offline: the trust's current sites, else the bundled trust → ICB lookup.
            icb_and_region(db, &p, Some(site.id), &Records::new(), &mut geo).await?;
            if !geo
                .parents
                .contains_key(&Edge::OrganisationIntegratedCareBoard)
            {
                let listed = reference
                    .icb_lookup
                    .iter()
                    .rev()
                    .find(|r| r.ods_trust_code == p.code())
                    .map(|r| r.ods_icb_code.clone());
                if let Some(icb) = listed {
                    if let Some(id) =
                        memberships::id_of(db, memberships::INTEGRATED_CARE_BOARDS, &icb).await?
                    {
                        geo.set(Edge::OrganisationIntegratedCareBoard, id, &icb);
                        let region = memberships::parents_of(
                            db,
                            Edge::IntegratedCareBoardRegion,
                            &[id],
                            Moment::Current,
                        )
                        .await?
                        .remove(&id);
                        if let Some(r) = region {
                            let rc =
                                memberships::codes_of(db, memberships::NHS_ENGLAND_REGIONS, &[r])
                                    .await?
                                    .remove(&r)
                                    .unwrap_or_default();
                            geo.set(Edge::OrganisationNhsEnglandRegion, r, &rc);
                        }
                    }
                }
            }
            warnings.extend(geo.warnings);
            planned.remove(&Edge::OrganisationIntegratedCareBoard);
            if let Some((id, c)) = geo.parents.get(&Edge::OrganisationIntegratedCareBoard) {
                planned.insert(Edge::OrganisationIntegratedCareBoard, (*id, c.clone()));
            }
            if !region_given {
                planned.remove(&Edge::OrganisationNhsEnglandRegion);
                if let Some((id, c)) = geo.parents.get(&Edge::OrganisationNhsEnglandRegion) {
                    planned.insert(Edge::OrganisationNhsEnglandRegion, (*id, c.clone()));
                }
            }
        }
    }
    // A new ICB brings its region unless one is given.
    let icb_changed = match &u.integrated_care_board {
        Setting::Set(c) => !before
            .iter()
            .any(|m| m.edge == Edge::OrganisationIntegratedCareBoard && &m.code == c),
        _ => false,
    };
    if icb_changed && u.nhs_england_region == Setting::Keep {
        if let Some((icb, _)) = planned.get(&Edge::OrganisationIntegratedCareBoard).cloned() {
            let region = memberships::parents_of(
                db,
                Edge::IntegratedCareBoardRegion,
                &[icb],
                Moment::Current,
            )
            .await?
            .remove(&icb);
            if let Some(r) = region {
                let rc = memberships::codes_of(db, memberships::NHS_ENGLAND_REGIONS, &[r])
                    .await?
                    .remove(&r)
                    .unwrap_or_default();
                planned.insert(Edge::OrganisationNhsEnglandRegion, (r, rc));
            }
        }
    }
    // Say so when an explicit ICB and region disagree.
    if let (Some((icb, icb_code)), Some((region, region_code))) = (
        planned.get(&Edge::OrganisationIntegratedCareBoard),
        planned.get(&Edge::OrganisationNhsEnglandRegion),
    ) {
        let of_icb = memberships::parents_of(
            db,
            Edge::IntegratedCareBoardRegion,
            &[*icb],
            Moment::Current,
        )
        .await?
        .remove(icb);
        if of_icb.is_some_and(|r| r != *region) {
            warnings.push(format!(
                "ICB {icb_code} belongs to another region than {region_code}"
            ));
        }
    }

    let mut log = Vec::new();
    let changes = apply_placement(
        db,
        (site.id, code),
        &planned,
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
    let status = if changes.is_empty() {
        MergerStatus::Unchanged
    } else {
        MergerStatus::Updated
    };
    let message = if changes.is_empty() {
        "the memberships were already as asked".to_string()
    } else {
        format!(
            "{} membership change(s) from {}",
            changes.len(),
            ctx.effective_on
        )
    };
    Ok(MergerResult {
        ods_code: code.clone(),
        status,
        message: Some(message),
        organisation: Some(site),
        memberships: after,
        changes,
        warnings,
    })
}
