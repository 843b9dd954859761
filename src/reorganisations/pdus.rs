//! Paediatric Diabetes Unit mergers, splits, creations and updates. A unit that closes (merged
//! or split) becomes inactive and stops existing on the date; its history is kept.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set,
};
use serde_json::{json, Value};

use super::{
    begin, check_attribute_date, checked_name, close_record, current_site, distinct_codes, finish,
    move_edge, opened, record_succession, require_exists_on, require_id, text, updated, Author,
    ReorganisationReport, SuccessionKind, Work,
};
use crate::codes::{OdsCode, PnCode, PzCode};
use crate::entities::paediatric_diabetes_unit as unit;
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, Moment, PAEDIATRIC_DIABETES_NETWORKS as NETWORKS};
use crate::memberships::{ORGANISATIONS, PAEDIATRIC_DIABETES_UNITS as UNITS};
use crate::mergers::Setting;

const SITE_UNIT: Edge = Edge::OrganisationPaediatricDiabetesUnit;
const UNIT_NETWORK: Edge = Edge::PaediatricDiabetesUnitNetwork;

/// A `mergePaediatricDiabetesUnits` call: the predecessors' current sites move to the
/// successor (new, or one of the predecessors) and the other predecessors close.
#[derive(Clone, Debug)]
pub struct MergeUnits {
    pub predecessor_pz_codes: Vec<PzCode>,
    pub successor_pz_code: PzCode,
    pub effective_on: NaiveDate,
    /// The successor's name (for a new unit; for an existing one, its name from the date).
    pub name: Option<String>,
    pub lead_ods_code: Option<OdsCode>,
    /// The successor's diabetes network (required for a new unit).
    pub network_pn_code: Option<PnCode>,
}

/// One successor of a split.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitSuccessor {
    pub pz_code: PzCode,
    /// The predecessor's sites this successor takes.
    pub ods_codes: Vec<OdsCode>,
    pub name: Option<String>,
    pub lead_ods_code: Option<OdsCode>,
    pub network_pn_code: Option<PnCode>,
}

/// A `splitPaediatricDiabetesUnit` call.
#[derive(Clone, Debug)]
pub struct SplitUnit {
    pub pz_code: PzCode,
    pub successors: Vec<UnitSuccessor>,
    pub effective_on: NaiveDate,
    /// PZ code of one of the successors that takes every site of the predecessor not listed;
    /// without it, a split that leaves a site unlisted is refused (no site is orphaned).
    pub unlisted_sites_to: Option<PzCode>,
}

/// An `updatePaediatricDiabetesUnit` call: each setting is dated `effective_on`.
#[derive(Clone, Debug)]
pub struct UpdateUnit {
    pub pz_code: PzCode,
    pub name: Setting,
    pub lead_ods_code: Setting<OdsCode>,
    pub network_pn_code: Setting<PnCode>,
    pub active: Option<bool>,
    pub effective_on: NaiveDate,
}

/// A `createPaediatricDiabetesUnit` call.
#[derive(Clone, Debug)]
pub struct CreateUnit {
    pub pz_code: PzCode,
    pub name: Option<String>,
    pub lead_ods_code: Option<OdsCode>,
    pub network_pn_code: Option<PnCode>,
    /// Sites that join the unit from `effective_on` (leaving their current unit).
    pub ods_codes: Vec<OdsCode>,
    pub effective_on: NaiveDate,
}

/// What a new or changed unit should be: its name, lead site and network as given.
struct UnitFields {
    name: Setting,
    lead: Setting<OdsCode>,
    network: Setting<PnCode>,
}

impl UnitFields {
    fn given(name: &Option<String>, lead: &Option<OdsCode>, network: &Option<PnCode>) -> Self {
        fn set<T: Clone>(v: &Option<T>) -> Setting<T> {
            v.clone().map_or(Setting::Keep, Setting::Set)
        }
        Self {
            name: set(name),
            lead: set(lead),
            network: set(network),
        }
    }
}

/// The unit's id when it exists on the date; `NOT_FOUND` or `BAD_USER_INPUT` otherwise.
async fn existing_unit<C: ConnectionTrait>(db: &C, pz: &str, on: NaiveDate) -> AppResult<i32> {
    let id = require_id(db, UNITS, pz, "Paediatric Diabetes Unit").await?;
    require_exists_on(db, UNITS, pz, "Paediatric Diabetes Unit", on).await?;
    Ok(id)
}

/// The lead site's id: a current site, else `None` with a warning (bulk operations name sites
/// we may not hold) or `NOT_FOUND` (`strict`, for single-unit calls).
async fn lead_site<C: ConnectionTrait>(
    db: &C,
    code: &OdsCode,
    strict: bool,
    work: &mut Work,
) -> AppResult<Option<i32>> {
    match current_site(db, code.as_str()).await? {
        Some(site) => Ok(Some(site.id)),
        None if strict => Err(AppError::NotFound(format!(
            "We hold no current site {code}."
        ))),
        None => {
            work.warn(format!(
                "lead site {code} is not a site we hold; no lead site set"
            ));
            Ok(None)
        }
    }
}

/// The network's id and code (`NOT_FOUND` naming an unknown code).
async fn network<C: ConnectionTrait>(db: &C, code: &PnCode) -> AppResult<(i32, String)> {
    let code = code.to_string();
    let id = require_id(db, NETWORKS, &code, "paediatric diabetes network").await?;
    Ok((id, code))
}

/// Creates a unit that opens on the work's date, in its network.
async fn create_unit<C: ConnectionTrait>(
    db: &C,
    pz: &str,
    fields: &UnitFields,
    strict: bool,
    work: &mut Work,
) -> AppResult<i32> {
    if memberships::id_of(db, UNITS, pz).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "The Paediatric Diabetes Unit {pz} already exists; nothing was changed."
        )));
    }
    let Setting::Set(pn) = &fields.network else {
        return Err(AppError::BadUserInput(format!(
            "A new unit needs a network: give `networkPnCode` for {pz}."
        )));
    };
    let net = network(db, pn).await?;
    let name = match &fields.name {
        Setting::Set(n) => Some(checked_name(n, "unit name")?),
        _ => None,
    };
    let lead = match &fields.lead {
        Setting::Set(code) => lead_site(db, code, strict, work).await?,
        _ => None,
    };
    let row = unit::ActiveModel {
        pz_code: Set(pz.to_string()),
        lead_organisation_id: Set(lead),
        name: Set(name),
        active: Set(true),
        ..Default::default()
    }
    .insert(db)
    .await?;
    opened(db, UNITS, pz, serde_json::to_value(&row).ok(), work).await?;
    move_edge(db, UNIT_NETWORK, (row.id, pz), Some((net.0, &net.1)), work).await?;
    Ok(row.id)
}

/// Applies dated changes of an existing unit's name, lead site, network and active flag.
async fn change_unit<C: ConnectionTrait>(
    db: &C,
    (id, pz): (i32, &str),
    fields: &UnitFields,
    active: Option<bool>,
    strict: bool,
    work: &mut Work,
) -> AppResult<()> {
    let name = match &fields.name {
        Setting::Keep => None,
        Setting::Clear => Some(None),
        Setting::Set(n) => Some(Some(checked_name(n, "unit name")?)),
    };
    let lead = match &fields.lead {
        Setting::Keep => None,
        Setting::Clear => Some(None),
        Setting::Set(code) => Some(lead_site(db, code, strict, work).await?),
    };
    if let Some(name) = name {
        set_attribute(db, (id, pz), "name", json!(name), work).await?;
    }
    if let Some(lead) = lead {
        set_attribute(db, (id, pz), "lead_organisation_id", json!(lead), work).await?;
    }
    if let Some(active) = active {
        set_attribute(db, (id, pz), "active", json!(active), work).await?;
    }
    match &fields.network {
        Setting::Keep => {}
        Setting::Clear => move_edge(db, UNIT_NETWORK, (id, pz), None, work).await?,
        Setting::Set(pn) => {
            let net = network(db, pn).await?;
            move_edge(db, UNIT_NETWORK, (id, pz), Some((net.0, &net.1)), work).await?;
        }
    }
    Ok(())
}

/// Sets one attribute of a unit from the work's date (nothing when it already has the value).
async fn set_attribute<C: ConnectionTrait>(
    db: &C,
    (id, pz): (i32, &str),
    field: &str,
    value: Value,
    work: &mut Work,
) -> AppResult<()> {
    let Some(row) = unit::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::NotFound(format!(
            "We hold no Paediatric Diabetes Unit {pz}."
        )));
    };
    let Ok(Value::Object(mut state)) = serde_json::to_value(&row) else {
        return Err(AppError::Internal(format!("unit {pz} does not serialise")));
    };
    let before = state.get(field).cloned().unwrap_or(Value::Null);
    if before == value {
        return Ok(());
    }
    check_attribute_date(db, UNITS, pz, field, work.on).await?;
    state.insert(field.to_string(), value.clone());
    let mut changed: unit::Model = serde_json::from_value(Value::Object(state))
        .map_err(|e| AppError::BadUserInput(format!("{field} of {pz}: {e}")))?;
    changed.id = id;
    let shown = (
        shown(db, field, &before).await?,
        shown(db, field, &value).await?,
    );
    changed.into_active_model().reset_all().update(db).await?;
    updated((UNITS, pz, field), (before, value), shown, work);
    Ok(())
}

/// A unit attribute as the report shows it (the lead site by its ODS code).
async fn shown<C: ConnectionTrait>(db: &C, field: &str, v: &Value) -> AppResult<Option<String>> {
    match (field, v.as_i64().and_then(|n| i32::try_from(n).ok())) {
        ("lead_organisation_id", Some(id)) => Ok(memberships::codes_of(db, ORGANISATIONS, &[id])
            .await?
            .remove(&id)),
        _ => Ok(text(v)),
    }
}

/// The unit's sites on the work's date, as (id, ODS code) by code.
async fn sites_of<C: ConnectionTrait>(
    db: &C,
    unit_id: i32,
    on: NaiveDate,
) -> AppResult<Vec<(i32, String)>> {
    let ids = memberships::children_of(db, SITE_UNIT, &[unit_id], Moment::On(on))
        .await?
        .remove(&unit_id)
        .unwrap_or_default();
    let mut sites: Vec<(i32, String)> = memberships::codes_of(db, ORGANISATIONS, &ids)
        .await?
        .into_iter()
        .collect();
    sites.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(sites)
}

/// Moves named sites into a unit; a code we hold no current site for is skipped with a warning.
async fn take_sites<C: ConnectionTrait>(
    db: &C,
    target: (i32, &str),
    codes_given: &[OdsCode],
    work: &mut Work,
) -> AppResult<()> {
    for code in codes_given {
        let code = code.as_str();
        match current_site(db, code).await? {
            Some(site) => move_edge(db, SITE_UNIT, (site.id, code), Some(target), work).await?,
            None => work.warn(format!("{code} is not a site we hold; skipped")),
        }
    }
    Ok(())
}

/// Closes a unit on the work's date: inactive from then, out of its network, no longer
/// existing (its sites must have moved first).
async fn close_unit<C: ConnectionTrait>(
    db: &C,
    (id, pz): (i32, &str),
    work: &mut Work,
) -> AppResult<()> {
    set_attribute(db, (id, pz), "active", json!(false), work).await?;
    move_edge(db, UNIT_NETWORK, (id, pz), None, work).await?;
    close_record(db, UNITS, (id, pz), &[SITE_UNIT], work).await
}

/// Applies a PDU merger in an open transaction (not committed).
pub async fn apply_merge_paediatric_diabetes_units<C: ConnectionTrait>(
    db: &C,
    request: &MergeUnits,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let on = work.on;
    let preds = distinct_codes(
        &request.predecessor_pz_codes,
        "predecessor PZ code",
        &mut work,
    )?;
    let successor = request.successor_pz_code.to_string();
    let mut pred_ids = Vec::new();
    for pz in &preds {
        pred_ids.push((existing_unit(db, pz, on).await?, pz.clone()));
    }
    let fields = UnitFields::given(
        &request.name,
        &request.lead_ods_code,
        &request.network_pn_code,
    );
    let target = match pred_ids.iter().find(|(_, pz)| *pz == successor) {
        Some((id, _)) => {
            change_unit(db, (*id, &successor), &fields, None, false, &mut work).await?;
            *id
        }
        None if memberships::id_of(db, UNITS, &successor).await?.is_some() => {
            return Err(AppError::BadUserInput(format!(
                "{successor} already exists: list it in `predecessorPzCodes` to merge into it, \
                 or give a new PZ code."
            )))
        }
        None => create_unit(db, &successor, &fields, false, &mut work).await?,
    };
    for (id, pz) in pred_ids.iter().filter(|(_, pz)| *pz != successor) {
        for (site, code) in sites_of(db, *id, on).await? {
            move_edge(
                db,
                SITE_UNIT,
                (site, &code),
                Some((target, &successor)),
                &mut work,
            )
            .await?;
        }
        close_unit(db, (*id, pz), &mut work).await?;
        record_succession(
            db,
            UNITS,
            (pz, &successor),
            SuccessionKind::Merger,
            &mut work,
        )
        .await?;
    }
    work.finish(db).await
}

/// Applies a PDU merger in its own transaction (rolled back for a dry run).
pub async fn merge_paediatric_diabetes_units(
    db: &DatabaseConnection,
    request: &MergeUnits,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_merge_paediatric_diabetes_units(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Which successor takes each site of a split's predecessor (site code → (site id, PZ code)).
type SplitPlan = BTreeMap<String, (i32, String)>;

/// Checks a split's plan: which successor takes each site of the predecessor. Refuses a site
/// listed twice or a listed site held elsewhere (a code we do not hold is skipped), then places
/// the unlisted ones (`place_unlisted`).
async fn split_plan<C: ConnectionTrait>(
    db: &C,
    request: &SplitUnit,
    pred: (i32, &str),
    work: &mut Work,
) -> AppResult<SplitPlan> {
    let current = sites_of(db, pred.0, work.on).await?;
    let mut plan = SplitPlan::new();
    for s in &request.successors {
        let pz = s.pz_code.to_string();
        for code in &s.ods_codes {
            let code = code.to_string();
            let Some((id, _)) = current.iter().find(|(_, c)| *c == code) else {
                if current_site(db, &code).await?.is_some() {
                    return Err(AppError::BadUserInput(format!(
                        "{code} is not a site of {} on {}; nothing was changed.",
                        pred.1, work.on
                    )));
                }
                work.warn(format!("{code} is not a site we hold; skipped"));
                continue;
            };
            if plan.insert(code.clone(), (*id, pz.clone())).is_some() {
                return Err(AppError::BadUserInput(format!(
                    "{code} is given to more than one successor."
                )));
            }
        }
    }
    place_unlisted(
        &current,
        request.unlisted_sites_to.as_ref(),
        pred.1,
        &mut plan,
    )?;
    Ok(plan)
}

/// Gives every site of the predecessor that no successor lists to `unlisted_to`; without it,
/// refuses naming them, so that no site is silently orphaned.
fn place_unlisted(
    current: &[(i32, String)],
    unlisted_to: Option<&PzCode>,
    pred: &str,
    plan: &mut SplitPlan,
) -> AppResult<()> {
    let unlisted: Vec<&(i32, String)> = current
        .iter()
        .filter(|(_, c)| !plan.contains_key(c))
        .collect();
    match unlisted_to {
        Some(to) => {
            for (id, code) in unlisted {
                plan.insert(code.clone(), (*id, to.to_string()));
            }
            Ok(())
        }
        None if unlisted.is_empty() => Ok(()),
        None => {
            let list: Vec<&str> = unlisted.iter().map(|(_, c)| c.as_str()).collect();
            Err(AppError::BadUserInput(format!(
                "{pred} has sites no successor takes: {}. List each under a successor, or give \
                 `unlistedSitesTo`; nothing was changed.",
                list.join(", ")
            )))
        }
    }
}

/// Each successor of a split by PZ code: existing on the date (its given name, lead and
/// network applied from then) or created. Refuses the predecessor's code or a repeated one.
async fn open_successors<C: ConnectionTrait>(
    db: &C,
    successors: &[UnitSuccessor],
    pz: &str,
    work: &mut Work,
) -> AppResult<BTreeMap<String, i32>> {
    let mut targets: BTreeMap<String, i32> = BTreeMap::new();
    for s in successors {
        let code = s.pz_code.to_string();
        if code == pz || targets.contains_key(&code) {
            return Err(AppError::BadUserInput(format!(
                "Each successor needs its own PZ code, other than {pz} ({code} repeats)."
            )));
        }
        let fields = UnitFields::given(&s.name, &s.lead_ods_code, &s.network_pn_code);
        let id = match memberships::id_of(db, UNITS, &code).await? {
            Some(id) => {
                require_exists_on(db, UNITS, &code, "Paediatric Diabetes Unit", work.on).await?;
                change_unit(db, (id, &code), &fields, None, false, work).await?;
                id
            }
            None => create_unit(db, &code, &fields, false, work).await?,
        };
        targets.insert(code, id);
    }
    Ok(targets)
}

/// Applies a PDU split in an open transaction (not committed).
pub async fn apply_split_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &SplitUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let pz = request.pz_code.to_string();
    let pred = existing_unit(db, &pz, work.on).await?;
    if request.successors.is_empty() {
        return Err(AppError::BadUserInput(
            "Give at least one successor.".into(),
        ));
    }
    let targets = open_successors(db, &request.successors, &pz, &mut work).await?;
    if let Some(rest) = &request.unlisted_sites_to {
        if !targets.contains_key(rest.as_str()) {
            return Err(AppError::BadUserInput(format!(
                "`unlistedSitesTo` {rest} is not one of the successors."
            )));
        }
    }
    let plan = split_plan(db, request, (pred, &pz), &mut work).await?;
    for (code, (site, to)) in &plan {
        let target = targets.get(to).copied().unwrap_or_default();
        move_edge(db, SITE_UNIT, (*site, code), Some((target, to)), &mut work).await?;
    }
    close_unit(db, (pred, &pz), &mut work).await?;
    for code in targets.keys() {
        record_succession(db, UNITS, (&pz, code), SuccessionKind::Split, &mut work).await?;
    }
    work.finish(db).await
}

/// Applies a PDU split in its own transaction (rolled back for a dry run).
pub async fn split_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &SplitUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_split_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Applies a dated PDU update in an open transaction (not committed).
pub async fn apply_update_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &UpdateUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let pz = request.pz_code.to_string();
    let fields = UnitFields {
        name: request.name.clone(),
        lead: request.lead_ods_code.clone(),
        network: request.network_pn_code.clone(),
    };
    let nothing = fields.name == Setting::Keep
        && fields.lead == Setting::Keep
        && fields.network == Setting::Keep;
    if nothing && request.active.is_none() {
        return Err(AppError::BadUserInput(
            "Nothing to change: give a name, lead site, network or active.".into(),
        ));
    }
    let id = existing_unit(db, &pz, work.on).await?;
    change_unit(db, (id, &pz), &fields, request.active, true, &mut work).await?;
    if work.report.records.is_empty() && work.report.moves.is_empty() {
        work.warn(format!("{pz} already is as asked; nothing changed"));
    }
    work.finish(db).await
}

/// Applies a dated PDU update in its own transaction (rolled back for a dry run).
pub async fn update_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &UpdateUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_update_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}

/// Creates a PDU in an open transaction (not committed): it opens on the date in its network,
/// and the named sites join it (leaving their current unit).
pub async fn apply_create_paediatric_diabetes_unit<C: ConnectionTrait>(
    db: &C,
    request: &CreateUnit,
    author: &Author,
) -> AppResult<ReorganisationReport> {
    let mut work = Work::new(author, request.effective_on);
    let pz = request.pz_code.to_string();
    let fields = UnitFields::given(
        &request.name,
        &request.lead_ods_code,
        &request.network_pn_code,
    );
    let id = create_unit(db, &pz, &fields, false, &mut work).await?;
    take_sites(db, (id, &pz), &request.ods_codes, &mut work).await?;
    work.finish(db).await
}

/// Creates a PDU in its own transaction (rolled back for a dry run).
pub async fn create_paediatric_diabetes_unit(
    db: &DatabaseConnection,
    request: &CreateUnit,
    author: &Author,
    dry_run: bool,
) -> AppResult<ReorganisationReport> {
    let txn = begin(db).await?;
    let outcome = apply_create_paediatric_diabetes_unit(&*txn, request, author).await;
    finish(txn, outcome, dry_run).await
}
