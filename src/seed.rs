//! Seeding from the bundled reference data. The deliberate choices for the known data problems
//! live here and are explained in `docs/seeding.md`; where a site goes (country, ICB, region,
//! network, PDU, a unit's lead) is decided by `crate::placement`, from the facts gathered here.
//!
//! Seeding is idempotent: records whose code exists are left alone, and an edge is only opened
//! for a child that never had a membership on it, so a second run (or a run after admins changed
//! things) changes nothing.
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, NotSet};
use serde::Serialize;

use crate::change_log::{self, Change, ChangeAction, ChangeContext, ChangeSource};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::errors::AppResult;
use crate::memberships::{self, Edge, EntityTable, NewMembership};
use crate::placement::{self, Agreement, IcbRegions, NewSite, Placement, SiteFacts, TrustFacts};
use crate::reference_data::{ReferenceData, Site};

/// The day the reference data describes (the upstream snapshot); seeded memberships start then.
pub fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 8, 31).unwrap_or_default()
}

// The placement constants, where the seed's callers and tests have always found them.
pub use crate::placement::{ENGLAND, JERSEY, JERSEY_SITE, PDU_LEADS, WALES};

/// What a seed run did.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SeedReport {
    /// New records per entity kind.
    pub inserted: BTreeMap<&'static str, usize>,
    /// New memberships per edge.
    pub memberships: BTreeMap<&'static str, usize>,
    /// Known data problems met and how they were handled.
    pub warnings: Vec<String>,
    /// Keys of the bundled history events applied by this run.
    pub history_applied: Vec<String>,
    /// Bundled history events found already applied.
    pub history_already_applied: usize,
    /// Warnings of the history events applied (e.g. sites the data does not hold).
    pub history_warnings: Vec<String>,
}

impl SeedReport {
    pub fn changed_anything(&self) -> bool {
        self.inserted
            .values()
            .chain(self.memberships.values())
            .any(|n| *n > 0)
            || !self.history_applied.is_empty()
    }
}

/// The `seed` command's report: counts, and one line for the known data rules (listed at
/// `RUST_LOG=debug`, explained in docs/seeding.md) instead of a line per rule.
impl std::fmt::Display for SeedReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, n) in &self.inserted {
            writeln!(out, "{kind}: {n} new")?;
        }
        for (edge, n) in &self.memberships {
            writeln!(out, "{edge}: {n} new memberships")?;
        }
        if !self.history_applied.is_empty() {
            writeln!(
                out,
                "history: {} events applied ({} already applied), {} warnings; see docs/history.md",
                self.history_applied.len(),
                self.history_already_applied,
                self.history_warnings.len()
            )?;
            for w in &self.history_warnings {
                writeln!(out, "  warning: {w}")?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(
                out,
                "the known data rules applied ({} notes: rows naming sites not in the data, duplicates; see docs/seeding.md, RUST_LOG=debug lists them)",
                self.warnings.len()
            )?;
        }
        if !self.changed_anything() {
            writeln!(
                out,
                "nothing to do: the database already holds the reference data"
            )?;
        }
        Ok(())
    }
}

/// The derived seed: records plus edges by natural code. Pure, so the rules are testable.
#[derive(Clone, Debug, Default)]
pub struct SeedPlan {
    pub countries: Vec<country::Model>,
    pub regions: Vec<nhs_england_region::Model>,
    pub integrated_care_boards: Vec<integrated_care_board::Model>,
    pub local_health_boards: Vec<local_health_board::Model>,
    pub trusts: Vec<trust::Model>,
    pub organisations: Vec<organisation::Model>,
    pub diabetes_networks: Vec<paediatric_diabetes_network::Model>,
    pub diabetes_units: Vec<String>,
    pub open_uk_networks: Vec<open_uk_network::Model>,
    pub london_boroughs: Vec<london_borough::Model>,
    /// (edge, child code, parent code)
    pub edges: Vec<(Edge, String, String)>,
    /// PZ code → lead site code.
    pub pdu_leads: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

impl SeedPlan {
    /// The parent code of `child` on `edge`, if the plan has one.
    pub fn parent(&self, edge: Edge, child: &str) -> Option<&str> {
        self.edges
            .iter()
            .find(|(e, c, _)| *e == edge && c == child)
            .map(|(_, _, p)| p.as_str())
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Applies the upstream derivation rules plus our documented choices.
pub fn plan(data: &ReferenceData) -> SeedPlan {
    let mut p = SeedPlan::default();
    plan_records(data, &mut p);
    let lhb_codes: HashSet<&str> = data
        .local_health_boards
        .iter()
        .map(|l| l.ods_code.as_str())
        .collect();
    let trust_codes: HashSet<&str> = data.trusts.iter().map(|t| t.ods_code.as_str()).collect();
    let borough_codes: HashSet<&str> = data
        .london_boroughs
        .iter()
        .map(|b| b.gss_code.as_str())
        .collect();
    // Each ICB has one region: the lookup's rows give the ICB → region edge.
    let mut icbs = IcbRegions::new();
    for row in &data.icb_lookup {
        icbs.insert(
            row.ods_icb_code.clone(),
            Some(row.nhs_england_region_code.clone()),
        );
    }
    let mut icb_codes: Vec<&String> = icbs.keys().collect();
    icb_codes.sort();
    for icb in icb_codes {
        if let Some(Some(region)) = icbs.get(icb) {
            p.edges
                .push((Edge::IntegratedCareBoardRegion, icb.clone(), region.clone()));
        }
    }

    let mut pdu_of_site: BTreeMap<&str, String> = BTreeMap::new();
    for s in &data.sites {
        let place = place_site(data, s, &lhb_codes, &trust_codes, &icbs);
        p.organisations.push(site_row(s));
        let code = &s.organisation_code;
        for (edge, to) in place.edges() {
            // PDU edges are written after the rest, in code order, as they always were.
            if edge == Edge::OrganisationPaediatricDiabetesUnit {
                pdu_of_site.insert(code, to);
            } else {
                p.edges.push((edge, code.clone(), to));
            }
        }
        p.warnings.extend(place.warnings);
        // Borough from the site's own local authority whenever it is a London borough: the
        // upstream `city == "LONDON"` test misses 17 London sites (and RYW91 says BIRMINGHAM).
        if borough_codes.contains(s.local_authority.as_str()) {
            p.edges.push((
                Edge::OrganisationLondonBorough,
                code.clone(),
                s.local_authority.clone(),
            ));
        }
    }
    plan_units(data, &mut p, &pdu_of_site, &trust_codes, &lhb_codes);
    p
}

/// The records other than sites and units, as the reference data lists them.
fn plan_records(data: &ReferenceData, p: &mut SeedPlan) {
    let welsh = |names: &[crate::reference_data::WelshName], code: &str| {
        names
            .iter()
            .find(|n| n.gss_code == code)
            .map(|n| n.welsh_name.clone())
    };

    for c in &data.countries {
        p.countries.push(country::Model {
            id: 0,
            code: c.country_ons_code.clone(),
            name: c.country_ons_name.clone(),
            welsh_name: welsh(&data.country_welsh_names, &c.country_ons_code),
            // Jersey's code is project-local and has no ONS boundary.
            boundary_identifier: (c.country_ons_code != JERSEY).then(|| c.country_ons_code.clone()),
        });
    }
    for r in &data.regions {
        p.regions.push(nhs_england_region::Model {
            id: 0,
            region_code: r.nhs_england_region_code.clone(),
            name: r.nhs_england_region_name.clone(),
            boundary_identifier: opt(&r.nhs_england_region_ons_code),
        });
    }
    for i in &data.integrated_care_boards {
        // The 2023 list's gss_code, never the stale 2022 codes of the lookup rows.
        p.integrated_care_boards.push(integrated_care_board::Model {
            id: 0,
            ods_code: i.ods_code.clone(),
            name: i.name.clone(),
            boundary_identifier: opt(&i.gss_code),
        });
    }
    for l in &data.local_health_boards {
        p.local_health_boards.push(local_health_board::Model {
            id: 0,
            ods_code: l.ods_code.clone(),
            name: l.health_board.clone(),
            welsh_name: welsh(&data.lhb_welsh_names, &l.gss_code),
            boundary_identifier: opt(&l.gss_code),
        });
    }
    for t in &data.trusts {
        p.trusts.push(trust::Model {
            id: 0,
            ods_code: t.ods_code.clone(),
            name: t.trust_name.clone(),
            address_line1: opt(&t.address_line_1),
            address_line2: opt(&t.address_line_2),
            town: opt(&t.town),
            postcode: opt(&t.postcode),
            country: opt(&t.country),
            telephone: None,
            website: None,
            active: true,
            published_at: None,
            ods_deleted_on: None,
            ods_deletion_reason: None,
        });
    }
    for n in &data.diabetes_networks {
        p.diabetes_networks
            .push(paediatric_diabetes_network::Model {
                id: 0,
                pn_code: n.id.clone(),
                name: n.name.clone(),
            });
    }
    for n in &data.open_uk_networks {
        p.open_uk_networks.push(open_uk_network::Model {
            id: 0,
            code: n.open_uk_network_code.clone(),
            name: n.open_uk_network_name.clone(),
            country: opt(&n.country),
        });
    }
    for b in &data.london_boroughs {
        p.london_boroughs.push(london_borough::Model {
            id: 0,
            gss_code: b.gss_code.clone(),
            name: b.name.clone(),
        });
    }
}

/// The placement of one reference-data site, from its facts (`crate::placement` decides).
fn place_site(
    data: &ReferenceData,
    s: &Site,
    lhb_codes: &HashSet<&str>,
    trust_codes: &HashSet<&str>,
    icbs: &IcbRegions,
) -> Placement {
    let parent = s.parent_ods_code.as_str();
    let kind = placement::parent_kind(lhb_codes.contains(parent), trust_codes.contains(parent));
    let parent_in_wales = data
        .trusts
        .iter()
        .any(|t| t.ods_code == parent && t.country.trim().eq_ignore_ascii_case("WALES"));
    let parent_code = kind.map(|_| parent);
    let new = NewSite {
        site: SiteFacts {
            code: &s.organisation_code,
            parent: kind,
            parent_in_wales,
            // The data has no address country; its one site without a parent (8HV48, RCPCH)
            // is in London.
            address_country: Some("ENGLAND"),
            postcode: Some(s.postcode.as_str()),
            current_country: None,
        },
        parent_code,
        trust: TrustFacts {
            code: parent,
            listed_icb: placement::listed_icb(&data.icb_lookup, parent),
            ..Default::default()
        },
        network_sites: Agreement::None,
        listed_network: placement::listed_network(&data.open_uk_network_trusts, parent),
        listed_pdu: placement::listed_pdu(&data.pz_codes, &s.organisation_code, parent_code),
    };
    placement::place(&new, icbs)
}

/// A reference-data site as a row (empty strings stored as `NULL`).
fn site_row(s: &Site) -> organisation::Model {
    organisation::Model {
        id: 0,
        ods_code: s.organisation_code.clone(),
        name: s.organisation_name.trim().to_string(),
        website: opt(&s.website),
        telephone: opt(&s.phone),
        email: opt(&s.email),
        address1: opt(&s.address1),
        address2: opt(&s.address2),
        address3: opt(&s.address3),
        city: opt(&s.city),
        county: opt(&s.county),
        postcode: opt(&s.postcode),
        latitude: s.latitude.trim().parse().ok(),
        longitude: s.longitude.trim().parse().ok(),
        active: true,
        published_at: None,
        deleted_at: None,
        ods_deleted_on: None,
        ods_deletion_reason: None,
    }
}

/// The units of the PZ list, their networks, their sites' edges and their lead sites.
fn plan_units(
    data: &ReferenceData,
    p: &mut SeedPlan,
    pdu_of_site: &BTreeMap<&str, String>,
    trust_codes: &HashSet<&str>,
    lhb_codes: &HashSet<&str>,
) {
    let site_codes: HashSet<&str> = data
        .sites
        .iter()
        .map(|s| s.organisation_code.as_str())
        .collect();
    let mut seen_pz = HashSet::new();
    let mut pdu_network: BTreeMap<&str, &str> = BTreeMap::new();
    for row in &data.pz_codes {
        if seen_pz.insert(row.npda_code.as_str()) {
            p.diabetes_units.push(row.npda_code.clone());
        }
        if let Some(net) = &row.network_code {
            pdu_network.insert(&row.npda_code, net);
        }
        let known = [&site_codes, trust_codes, lhb_codes]
            .iter()
            .any(|codes| codes.contains(row.ods_code.as_str()));
        if !known {
            p.warnings.push(format!(
                "{}: site {} is not in the reference data; the unit has no site until it is added",
                row.npda_code, row.ods_code
            ));
        }
    }
    for (site, pz) in pdu_of_site {
        p.edges.push((
            Edge::OrganisationPaediatricDiabetesUnit,
            site.to_string(),
            pz.clone(),
        ));
    }
    for (pz, net) in &pdu_network {
        p.edges.push((
            Edge::PaediatricDiabetesUnitNetwork,
            pz.to_string(),
            net.to_string(),
        ));
    }
    plan_leads(data, p, pdu_of_site);
}

/// Each unit's lead site, as `crate::placement::lead_site` picks it among its sites by name.
fn plan_leads(data: &ReferenceData, p: &mut SeedPlan, pdu_of_site: &BTreeMap<&str, String>) {
    let name_of: HashMap<&str, &str> = data
        .sites
        .iter()
        .map(|s| (s.organisation_code.as_str(), s.organisation_name.as_str()))
        .collect();
    for pz in &p.diabetes_units {
        let mut members: Vec<&str> = pdu_of_site
            .iter()
            .filter(|(_, u)| *u == pz)
            .map(|(s, _)| *s)
            .collect();
        members.sort_by_key(|s| (name_of.get(s).copied().unwrap_or_default(), *s));
        let named = placement::named_lead(pz);
        match placement::lead_site(&members, |s| Some(*s) == named) {
            Some(site) => {
                p.pdu_leads.insert(pz.clone(), site.to_string());
            }
            None => p
                .warnings
                .push(format!("{pz} has no site in the reference data")),
        }
    }
}

/// The change log's actor for what `seed` writes.
pub const SEED_ACTOR: &str = "seed";

/// Seeds the bundled reference data, then applies the bundled history (`crate::history`), in
/// one transaction: afterwards today's answers show today's structure, and earlier days the
/// reference data's. Idempotent.
pub async fn seed(db: &DatabaseConnection) -> AppResult<SeedReport> {
    let plan = plan(&ReferenceData::bundled()?);
    let txn = crate::writes::begin(db).await?;
    let mut report = apply(&*txn, &plan).await?;
    let history = crate::history::apply_bundled(&*txn, SEED_ACTOR).await?;
    report.history_already_applied = history.already_applied();
    report.history_warnings = history.warnings();
    report.history_applied = history.applied_keys();
    txn.commit().await?;
    Ok(report)
}

/// Seeds the bundled reference data alone (the structure of 2024-08-31), without the history.
pub async fn seed_reference_data(db: &DatabaseConnection) -> AppResult<SeedReport> {
    let plan = plan(&ReferenceData::bundled()?);
    let txn = crate::writes::begin(db).await?;
    let report = apply(&*txn, &plan).await?;
    txn.commit().await?;
    Ok(report)
}

async fn existing_codes<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
) -> Result<HashMap<String, i32>, DbErr> {
    memberships::ids_by_code(db, table).await
}

/// Inserts the records whose code is not there yet, logging each creation.
async fn insert_missing<C, A, M>(
    db: &C,
    table: EntityTable,
    models: &[M],
    code_of: impl Fn(&M) -> &str,
    to_active: impl Fn(M) -> A,
    changes: &mut Vec<Change>,
) -> Result<usize, DbErr>
where
    C: ConnectionTrait,
    M: Clone + Serialize,
    A: ActiveModelTrait + Send,
{
    let existing = existing_codes(db, table).await?;
    let mut new = Vec::new();
    for m in models {
        if existing.contains_key(code_of(m)) {
            continue;
        }
        changes.push(
            Change::new(table.entity, code_of(m), ChangeAction::Create)
                .after(serde_json::to_value(m).ok()),
        );
        new.push(to_active(m.clone()));
    }
    let n = new.len();
    for chunk in new.chunks(200) {
        <A::Entity as EntityTrait>::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(n)
}

macro_rules! active {
    ($module:ident) => {
        |m: $module::Model| {
            let mut a: $module::ActiveModel = m.into();
            a.id = NotSet;
            a
        }
    };
}

/// Inserts what the plan holds that the database lacks: records, then units, then memberships,
/// all from the reference date, with one change-log entry each.
async fn apply<C: ConnectionTrait>(db: &C, plan: &SeedPlan) -> AppResult<SeedReport> {
    let mut report = SeedReport {
        warnings: plan.warnings.clone(),
        ..Default::default()
    };
    let mut changes = Vec::new();
    insert_records(db, plan, &mut report.inserted, &mut changes).await?;
    insert_units(db, plan, &mut report.inserted, &mut changes).await?;
    insert_memberships(db, plan, &mut report, &mut changes).await?;
    let ctx = ChangeContext::new("seed", ChangeSource::Seed, reference_date());
    change_log::record(db, &ctx, changes).await?;
    Ok(report)
}

/// Inserts the missing records of every kind but units, counted by kind.
async fn insert_records<C: ConnectionTrait>(
    db: &C,
    plan: &SeedPlan,
    inserted: &mut BTreeMap<&'static str, usize>,
    ch: &mut Vec<Change>,
) -> Result<(), DbErr> {
    use memberships as m;
    // One line per kind: its table, planned rows, natural code and entity (the report's name).
    macro_rules! insert {
        ($table:expr, $rows:expr, $code:ident, $entity:ident) => {
            let n = insert_missing(db, $table, $rows, |x| &x.$code, active!($entity), ch).await?;
            inserted.insert(stringify!($entity), n);
        };
    }
    insert!(m::COUNTRIES, &plan.countries, code, country);
    insert!(
        m::NHS_ENGLAND_REGIONS,
        &plan.regions,
        region_code,
        nhs_england_region
    );
    insert!(
        m::INTEGRATED_CARE_BOARDS,
        &plan.integrated_care_boards,
        ods_code,
        integrated_care_board
    );
    insert!(
        m::LOCAL_HEALTH_BOARDS,
        &plan.local_health_boards,
        ods_code,
        local_health_board
    );
    insert!(m::TRUSTS, &plan.trusts, ods_code, trust);
    insert!(
        m::PAEDIATRIC_DIABETES_NETWORKS,
        &plan.diabetes_networks,
        pn_code,
        paediatric_diabetes_network
    );
    insert!(
        m::OPEN_UK_NETWORKS,
        &plan.open_uk_networks,
        code,
        open_uk_network
    );
    insert!(
        m::LONDON_BOROUGHS,
        &plan.london_boroughs,
        gss_code,
        london_borough
    );
    insert!(
        m::ORGANISATIONS,
        &plan.organisations,
        ods_code,
        organisation
    );
    Ok(())
}

/// Inserts the missing units, each with its lead site (sites are in by now).
async fn insert_units<C: ConnectionTrait>(
    db: &C,
    plan: &SeedPlan,
    inserted: &mut BTreeMap<&'static str, usize>,
    ch: &mut Vec<Change>,
) -> Result<(), DbErr> {
    let org_ids = existing_codes(db, memberships::ORGANISATIONS).await?;
    let units: Vec<paediatric_diabetes_unit::Model> = plan
        .diabetes_units
        .iter()
        .map(|pz| paediatric_diabetes_unit::Model {
            id: 0,
            pz_code: pz.clone(),
            lead_organisation_id: plan.pdu_leads.get(pz).and_then(|s| org_ids.get(s)).copied(),
            name: None,
            active: true,
        })
        .collect();
    let table = memberships::PAEDIATRIC_DIABETES_UNITS;
    let active = active!(paediatric_diabetes_unit);
    let n = insert_missing(db, table, &units, |x| &x.pz_code, active, ch).await?;
    inserted.insert("paediatric_diabetes_unit", n);
    Ok(())
}

/// Inserts the planned memberships of children that have none on that edge yet (a child with
/// history keeps it); a code the database lacks is a warning.
async fn insert_memberships<C: ConnectionTrait>(
    db: &C,
    plan: &SeedPlan,
    report: &mut SeedReport,
    changes: &mut Vec<Change>,
) -> Result<(), DbErr> {
    use memberships as m;
    let from = reference_date();
    let mut ids: HashMap<&'static str, HashMap<String, i32>> = HashMap::new();
    for edge in Edge::ALL {
        for t in [edge.child(), edge.parent()] {
            if !ids.contains_key(t.table) {
                ids.insert(t.table, existing_codes(db, t).await?);
            }
        }
        let had = m::children_with_history(db, edge).await?;
        let children = &ids[edge.child().table];
        let parents = &ids[edge.parent().table];
        let mut rows = Vec::new();
        for (e, child, parent) in &plan.edges {
            if *e != edge {
                continue;
            }
            let (Some(c), Some(p)) = (children.get(child), parents.get(parent)) else {
                report.warnings.push(format!(
                    "{}: {child} → {parent} refers to an unknown code",
                    edge.name()
                ));
                continue;
            };
            if had.contains(c) {
                continue;
            }
            rows.push(NewMembership {
                child_id: *c,
                parent_id: *p,
                valid_from: from,
            });
            changes.push(m::change(edge, child, None, Some((parent, from)), from));
        }
        m::insert(db, edge, &rows).await?;
        report.memberships.insert(edge.table(), rows.len());
    }
    Ok(())
}
