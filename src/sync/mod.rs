//! The ORD sync: keeps the records we track current from the NHS ODS ORD API.
//!
//! One run: work out `since`, ask ORD which codes changed since then, fetch the full record of
//! every listed code we track (all of them, before writing anything), then apply them in ONE
//! database transaction together with their change-log rows and the watermark row. A dry run
//! runs exactly the same apply code and rolls the transaction back, so its report is the one
//! the real run would give. Any ORD failure for a tracked code aborts before the transaction:
//! nothing is written and the watermark stays where it was. The rules are in `docs/sync.md`.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{Duration, NaiveDate, Utc};
use futures::StreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IdenStatic, ModelTrait, NotSet, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::change_log::{self, Change, ChangeAction, ChangeContext, ChangeSource, RecordKind};
use crate::entities::{
    integrated_care_board, local_health_board, nhs_england_region, ord_succession, organisation,
    sync_run, trust,
};
use crate::errors::{AppError, AppResult};
use crate::memberships::{self, Edge, EntityTable, Moment};
use crate::ord::{OrdClient, OrdOrganisation, SuccessionKind, ROLE_WELSH_LHB};
use crate::ord_rows;
use crate::placement::{self, IcbRegions, ParentKind, SiteFacts};
use crate::placement_facts;
use crate::reference_data::{IcbLookupRow, ReferenceData};

/// ORD only serves changes from the last 185 days.
pub const MAX_SINCE_DAYS: i64 = 185;
/// How far back the very first sync looks.
pub const FIRST_SYNC_DAYS: i64 = 30;
/// Most ORD requests in flight at once (the rate limiter spaces them anyway).
pub const MAX_CONCURRENCY: usize = 32;

/// Actors of syncs that no admin key started.
pub mod actor {
    /// `nhs-organisations sync`.
    pub const CLI: &str = "cli";
    /// The `SYNC_EVERY` schedule inside `serve`.
    pub const SCHEDULER: &str = "scheduler";
}

/// What to sync, and who asks.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// First `LastChangeDate` to ask ORD for; `None` = the day after the last sync.
    pub since: Option<NaiveDate>,
    /// Compute the report, change nothing.
    pub dry_run: bool,
    /// Recorded in the change log: the admin key's name, `cli` or `scheduler`.
    pub actor: String,
}

/// Hooks for showing progress (the CLI's progress bar); every method has a no-op default.
pub trait SyncProgress: Send + Sync {
    /// `n` more records will be fetched.
    fn to_fetch(&self, _n: usize) {}
    /// One record was fetched.
    fn fetched(&self) {}
    /// Fetching is over; the transaction starts.
    fn applying(&self) {}
}

/// Progress that shows nothing.
pub struct NoProgress;
impl SyncProgress for NoProgress {}

/// What a sync did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub dry_run: bool,
    pub since: NaiveDate,
    /// Codes ORD listed as changed.
    pub listed: usize,
    /// Listed codes we do not track (counted, never created).
    pub untracked: usize,
    /// Records requested from ORD, 404s included (listed tracked codes, plus new parents').
    pub fetched: usize,
    /// Listed codes of soft-deleted sites (left alone).
    pub skipped_deleted: usize,
    /// Tracked codes ORD answered 404 for (left as they are).
    pub not_found: Vec<String>,
    /// Every field and membership change, in code order.
    pub changes: Vec<SyncChange>,
    /// Sites that moved to another trust or health board.
    pub moves: Vec<SyncMove>,
    /// Records that closed (active → inactive).
    pub closures: Vec<SyncClosure>,
    /// Successions seen for the first time.
    pub successions: Vec<SyncSuccession>,
    pub warnings: Vec<String>,
}

/// One changed field (or membership edge) of one record.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange {
    pub ods_code: String,
    pub entity: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub effective_on: NaiveDate,
}

/// A site that changed parent.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMove {
    pub ods_code: String,
    pub before: Option<String>,
    pub after: String,
    pub effective_on: NaiveDate,
}

/// A record that closed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncClosure {
    pub ods_code: String,
    pub entity: String,
    pub closed_on: Option<NaiveDate>,
}

/// A succession link newly recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSuccession {
    pub ods_code: String,
    pub entity: String,
    /// `predecessor` or `successor`.
    pub kind: SuccessionKind,
    pub target_code: String,
    pub effective_on: Option<NaiveDate>,
}

/// Runs a sync: see the module documentation and `docs/sync.md`.
pub async fn run(
    db: &DatabaseConnection,
    ord: &OrdClient,
    opts: SyncOptions,
    progress: &dyn SyncProgress,
) -> AppResult<SyncReport> {
    let started_at = Utc::now();
    let today = started_at.date_naive();
    let since = resolve_since(db, opts.since, today).await?;

    let listed = ord.changed_since(since).await?;
    // The bundled trust → ICB lookup: the last word on a moved site's ICB (`placement`).
    let icb_lookup = ReferenceData::bundled()?.icb_lookup;
    let tracked = Tracked::load(db).await?;
    let mut report = SyncReport {
        dry_run: opts.dry_run,
        since,
        listed: listed.len(),
        ..Default::default()
    };
    let mut wanted = BTreeSet::new();
    for code in &listed {
        if tracked.is_live(code) {
            wanted.insert(code.clone());
        } else if tracked.deleted_sites.contains(code) {
            report.skipped_deleted += 1;
        } else {
            report.untracked += 1;
        }
    }

    let mut records = fetch_all(ord, wanted, progress).await?;
    let parents = trusts_to_look_up(db, &tracked, &records).await?;
    let extra = fetch_all(ord, parents, progress).await?;
    report.fetched = records.len() + extra.len();
    // Extra records only inform moves; they are never applied themselves.
    let lookups: BTreeMap<String, Option<OrdOrganisation>> = extra;

    progress.applying();
    // One writer at a time (the schedule, a mutation, a merger): each apply re-reads what the
    // one before it wrote and finds nothing left to do. Fetching runs concurrently; the shared
    // ORD client keeps the request rate.
    let txn = crate::writes::begin(db).await?;
    let ctx = ChangeContext::new(opts.actor.clone(), ChangeSource::OrdSync, today);
    let mut apply = Apply::new(&*txn, today, icb_lookup).await?;
    for (code, record) in std::mem::take(&mut records) {
        match record {
            Some(rec) => apply.record(&code, &rec, &lookups).await?,
            None => {
                report.not_found.push(code.clone());
                apply.warn(format!(
                    "{code}: ORD has no record for this code (HTTP 404); left as it is"
                ));
            }
        }
    }
    let Apply {
        log,
        changes,
        moves,
        closures,
        successions,
        warnings,
        ..
    } = apply;
    report.changes = changes;
    report.moves = moves;
    report.closures = closures;
    report.successions = successions;
    report.warnings = warnings;

    change_log::record(&*txn, &ctx, log).await?;
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    sync_run::ActiveModel {
        id: NotSet,
        started_at: Set(started_at),
        finished_at: Set(Utc::now()),
        since: Set(since),
        synced_on: Set(today),
        actor: Set(opts.actor.clone()),
        listed: Set(count(report.listed)),
        untracked: Set(count(report.untracked)),
        fetched: Set(count(report.fetched)),
        changes: Set(count(report.changes.len())),
        warnings: Set(count(report.warnings.len())),
        report: Set(serde_json::to_string(&report).ok()),
    }
    .insert(&*txn)
    .await?;
    if opts.dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    tracing::info!(
        actor = %opts.actor,
        dry_run = opts.dry_run,
        %since,
        listed = report.listed,
        untracked = report.untracked,
        fetched = report.fetched,
        changes = report.changes.len(),
        moves = report.moves.len(),
        warnings = report.warnings.len(),
        "ORD sync finished"
    );
    Ok(report)
}

/// The day after the last applied sync (never later than today), else 30 days ago; checked
/// against ORD's 185-day window before any request.
pub async fn resolve_since(
    db: &DatabaseConnection,
    given: Option<NaiveDate>,
    today: NaiveDate,
) -> AppResult<NaiveDate> {
    let oldest = today - Duration::days(MAX_SINCE_DAYS);
    if let Some(since) = given {
        if since > today {
            return Err(AppError::BadUserInput(format!(
                "`since` ({since}) is in the future; give a date from {oldest} to {today}."
            )));
        }
        if since < oldest {
            return Err(AppError::BadUserInput(format!(
                "`since` ({since}) is more than {MAX_SINCE_DAYS} days ago; ORD only lists changes \
                 from {oldest} on. Give a later date."
            )));
        }
        return Ok(since);
    }
    let last = sync_run::Entity::find()
        .order_by_desc(sync_run::Column::SyncedOn)
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await?;
    let since = match &last {
        Some(run) => (run.synced_on + Duration::days(1)).min(today),
        None => today - Duration::days(FIRST_SYNC_DAYS),
    };
    if since < oldest {
        return Err(AppError::BadUserInput(format!(
            "The last sync ran on {}, more than {MAX_SINCE_DAYS} days ago, and ORD only lists \
             changes from {oldest} on. Pass `since` explicitly (changes before it will not be seen).",
            last.map(|r| r.synced_on.to_string()).unwrap_or_default()
        )));
    }
    Ok(since)
}

/// Trusts that listed sites move to and that were not listed themselves: their records tell
/// the ICB when their current sites cannot (fetched before the transaction, like the rest).
async fn trusts_to_look_up(
    db: &DatabaseConnection,
    tracked: &Tracked,
    records: &BTreeMap<String, Option<OrdOrganisation>>,
) -> AppResult<BTreeSet<String>> {
    let site_ids: Vec<i32> = records
        .keys()
        .filter_map(|code| tracked.sites.get(code).copied())
        .collect();
    let current =
        memberships::parents_of(db, Edge::OrganisationTrust, &site_ids, Moment::Current).await?;
    let trust_codes: HashMap<i32, &str> = tracked
        .trusts
        .iter()
        .map(|(code, id)| (*id, code.as_str()))
        .collect();
    let mut wanted = BTreeSet::new();
    for (code, record) in records {
        let (Some(site), Some(rec)) = (tracked.sites.get(code), record) else {
            continue;
        };
        let Some(rel) = rec.operated_by() else {
            continue;
        };
        let target = rel.target_code.as_str();
        let now = current.get(site).and_then(|t| trust_codes.get(t)).copied();
        let moves_to_trust =
            tracked.parent_kind(target) == Some(ParentKind::Trust) && now != Some(target);
        if moves_to_trust && !records.contains_key(target) {
            wanted.insert(target.to_string());
        }
    }
    Ok(wanted)
}

/// Fetches every code with bounded concurrency; the first failure aborts the lot.
async fn fetch_all(
    ord: &OrdClient,
    codes: BTreeSet<String>,
    progress: &dyn SyncProgress,
) -> AppResult<BTreeMap<String, Option<OrdOrganisation>>> {
    let mut out = BTreeMap::new();
    if codes.is_empty() {
        return Ok(out);
    }
    progress.to_fetch(codes.len());
    let width = usize::try_from(ord.config().max_rps)
        .unwrap_or(MAX_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY);
    let mut results = futures::stream::iter(codes.into_iter().map(|code| {
        let ord = ord.clone();
        async move {
            let result = ord.organisation(&code).await;
            (code, result)
        }
    }))
    .buffer_unordered(width);
    while let Some((code, result)) = results.next().await {
        // Returning drops the stream, which cancels the requests still in flight.
        let record = result?;
        progress.fetched();
        out.insert(code, record);
    }
    Ok(out)
}

/// The codes we track, by entity.
struct Tracked {
    /// Live (not soft-deleted) sites.
    sites: HashMap<String, i32>,
    deleted_sites: HashSet<String>,
    trusts: HashMap<String, i32>,
    lhbs: HashMap<String, i32>,
    icbs: HashMap<String, i32>,
    regions: HashMap<String, i32>,
}

impl Tracked {
    async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        let mut sites = HashMap::new();
        let mut deleted_sites = HashSet::new();
        for o in organisation::Entity::find().all(db).await? {
            if o.deleted_at.is_some() {
                deleted_sites.insert(o.ods_code);
            } else {
                sites.insert(o.ods_code, o.id);
            }
        }
        Ok(Self {
            sites,
            deleted_sites,
            trusts: memberships::ids_by_code(db, memberships::TRUSTS).await?,
            lhbs: memberships::ids_by_code(db, memberships::LOCAL_HEALTH_BOARDS).await?,
            icbs: memberships::ids_by_code(db, memberships::INTEGRATED_CARE_BOARDS).await?,
            regions: memberships::ids_by_code(db, memberships::NHS_ENGLAND_REGIONS).await?,
        })
    }

    /// What a parent code is among what we track (`placement::parent_kind`).
    fn parent_kind(&self, code: &str) -> Option<ParentKind> {
        placement::parent_kind(self.lhbs.contains_key(code), self.trusts.contains_key(code))
    }

    fn is_live(&self, code: &str) -> bool {
        self.sites.contains_key(code)
            || self.trusts.contains_key(code)
            || self.lhbs.contains_key(code)
            || self.icbs.contains_key(code)
            || self.regions.contains_key(code)
    }
}

/// Field differences of one record: what to report and log.
struct Diff {
    fields: Vec<(&'static str, Value, Value)>,
}

impl Diff {
    fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// `Some(new)` when it differs from `current` (and notes the change).
    fn check<T: PartialEq + Serialize>(
        &mut self,
        field: &'static str,
        current: &T,
        new: T,
    ) -> Option<T> {
        if *current == new {
            return None;
        }
        self.fields.push((field, json!(current), json!(new)));
        Some(new)
    }

    /// Notes each of `fields` that `new` changes from `old`, and marks it to be written.
    fn columns<A: ActiveModelTrait>(
        &mut self,
        (old, new): (&ModelOf<A>, &ModelOf<A>),
        fields: &'static [<A::Entity as EntityTrait>::Column],
        am: &mut A,
    ) where
        ModelOf<A>: Serialize,
    {
        let (before, after) = (json!(old), json!(new));
        for col in fields {
            if old.get(*col) != new.get(*col) {
                am.reset(*col);
                let name = col.as_str();
                self.fields
                    .push((name, before[name].clone(), after[name].clone()));
            }
        }
    }
}

/// The model of an active model's entity.
type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// A JSON snapshot as report text: `null` → none, strings bare, the rest as JSON.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The apply phase: writes inside the sync's transaction and collects the report.
struct Apply<'a, C> {
    db: &'a C,
    today: NaiveDate,
    tracked: Tracked,
    icbs: IcbRegions,
    icb_lookup: Vec<IcbLookupRow>,
    countries: HashMap<String, i32>,
    log: Vec<Change>,
    changes: Vec<SyncChange>,
    moves: Vec<SyncMove>,
    closures: Vec<SyncClosure>,
    successions: Vec<SyncSuccession>,
    warnings: Vec<String>,
}

impl<'a, C: ConnectionTrait> Apply<'a, C> {
    async fn new(
        db: &'a C,
        today: NaiveDate,
        icb_lookup: Vec<IcbLookupRow>,
    ) -> Result<Self, DbErr> {
        // Re-read inside the transaction: this is the state the writes build on.
        Ok(Self {
            db,
            today,
            tracked: Tracked::load(db).await?,
            icbs: placement_facts::icb_regions(db).await?,
            icb_lookup,
            countries: memberships::ids_by_code(db, memberships::COUNTRIES).await?,
            log: Vec::new(),
            changes: Vec::new(),
            moves: Vec::new(),
            closures: Vec::new(),
            successions: Vec::new(),
            warnings: Vec::new(),
        })
    }

    fn warn(&mut self, message: String) {
        tracing::warn!("ORD sync: {message}");
        self.warnings.push(message);
    }

    /// Applies one fetched record to every table that tracks its code.
    async fn record(
        &mut self,
        code: &str,
        rec: &OrdOrganisation,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        // ORD's change date, unless it is missing or (bad data) in the future.
        let on = rec
            .last_change_date
            .filter(|d| *d <= self.today)
            .unwrap_or(self.today);
        let active = ord_rows::is_active(rec, self.today);
        let mut entity = None;
        if let Some(&id) = self.tracked.sites.get(code) {
            entity.get_or_insert(memberships::ORGANISATIONS.entity);
            self.site(id, code, rec, on, active, lookups).await?;
        }
        if self.tracked.trusts.contains_key(code) {
            entity.get_or_insert(memberships::TRUSTS.entity);
            self.trust(code, rec, on).await?;
        }
        // Boards, ICBs and regions carry only a name that ORD can change.
        macro_rules! rename {
            ($tracked:ident, $module:ident, $column:ident, $table:expr) => {
                if self.tracked.$tracked.contains_key(code) {
                    entity.get_or_insert($table.entity);
                    if let Some(m) = $module::Entity::find()
                        .filter($module::Column::$column.eq(code))
                        .one(self.db)
                        .await?
                    {
                        let mut d = Diff::new();
                        let mut am: $module::ActiveModel = m.clone().into();
                        if let Some(v) = d.check("name", &m.name, rec.name.clone()) {
                            am.name = Set(v);
                        }
                        self.save(am, $table, code, d, on).await?;
                    }
                }
            };
        }
        rename!(
            lhbs,
            local_health_board,
            OdsCode,
            memberships::LOCAL_HEALTH_BOARDS
        );
        rename!(
            icbs,
            integrated_care_board,
            OdsCode,
            memberships::INTEGRATED_CARE_BOARDS
        );
        rename!(
            regions,
            nhs_england_region,
            RegionCode,
            memberships::NHS_ENGLAND_REGIONS
        );
        if let Some(entity) = entity {
            self.record_successions(entity, code, rec, on).await?;
        }
        Ok(())
    }

    /// Writes the changed fields (if any) and reports and logs each one.
    async fn save<A>(
        &mut self,
        am: A,
        table: EntityTable,
        code: &str,
        diff: Diff,
        on: NaiveDate,
    ) -> Result<(), DbErr>
    where
        A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
        <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    {
        if diff.fields.is_empty() {
            return Ok(());
        }
        am.update(self.db).await?;
        for (field, before, after) in diff.fields {
            self.changes.push(SyncChange {
                ods_code: code.to_string(),
                entity: table.entity.to_string(),
                field: field.to_string(),
                before: as_text(&before),
                after: as_text(&after),
                effective_on: on,
            });
            self.log.push(
                Change::new(table.entity, code, ChangeAction::Update)
                    .field(field)
                    .before(Some(before))
                    .after(Some(after))
                    .effective_on(on),
            );
        }
        Ok(())
    }

    async fn site(
        &mut self,
        id: i32,
        code: &str,
        rec: &OrdOrganisation,
        on: NaiveDate,
        active: bool,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let Some(m) = organisation::Entity::find_by_id(id).one(self.db).await? else {
            return Ok(());
        };
        let new = ord_rows::site(&m, rec, self.today);
        let mut d = Diff::new();
        let mut am: organisation::ActiveModel = new.clone().into();
        d.columns((&m, &new), &ord_rows::SITE_FIELDS, &mut am);
        if m.active && !new.active {
            self.closures.push(SyncClosure {
                ods_code: code.to_string(),
                entity: memberships::ORGANISATIONS.entity.to_string(),
                closed_on: rec.closed_on(),
            });
        }
        self.save(am, memberships::ORGANISATIONS, code, d, on)
            .await?;
        self.reparent(id, code, rec, on, active, lookups).await
    }

    async fn trust(
        &mut self,
        code: &str,
        rec: &OrdOrganisation,
        on: NaiveDate,
    ) -> Result<(), DbErr> {
        let Some(m) = trust::Entity::find()
            .filter(trust::Column::OdsCode.eq(code))
            .one(self.db)
            .await?
        else {
            return Ok(());
        };
        let new = ord_rows::trust(&m, rec, self.today);
        let mut d = Diff::new();
        let mut am: trust::ActiveModel = new.clone().into();
        d.columns((&m, &new), &ord_rows::TRUST_FIELDS, &mut am);
        if m.active && !new.active {
            self.closures.push(SyncClosure {
                ods_code: code.to_string(),
                entity: memberships::TRUSTS.entity.to_string(),
                closed_on: rec.closed_on(),
            });
        }
        self.save(am, memberships::TRUSTS, code, d, on).await
    }

    /// Moves a site to the trust or health board ORD says operates it (Active RE6).
    async fn reparent(
        &mut self,
        site: i32,
        code: &str,
        rec: &OrdOrganisation,
        on: NaiveDate,
        active: bool,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let Some(rel) = rec.operated_by() else {
            if active {
                self.warn(format!(
                    "{code}: ORD lists no active operating trust or health board; parent left as it was"
                ));
            }
            return Ok(());
        };
        let target = rel.target_code.clone();
        let kind = self.tracked.parent_kind(&target);
        let current_trust = self.current(Edge::OrganisationTrust, site).await?;
        let current_board = self
            .current(Edge::OrganisationLocalHealthBoard, site)
            .await?;
        let (new_id, current) = match kind {
            Some(ParentKind::Board) => (self.tracked.lhbs.get(&target).copied(), current_board),
            Some(ParentKind::Trust) => (self.tracked.trusts.get(&target).copied(), current_trust),
            None => (None, current_trust),
        };
        if new_id.is_some() && current == new_id {
            return Ok(());
        }
        let before = match (current_trust, current_board) {
            (Some(t), _) => memberships::codes_of(self.db, memberships::TRUSTS, &[t])
                .await?
                .remove(&t),
            (None, Some(b)) => {
                memberships::codes_of(self.db, memberships::LOCAL_HEALTH_BOARDS, &[b])
                    .await?
                    .remove(&b)
            }
            (None, None) => None,
        };
        let (Some(kind), Some(new_id)) = (kind, new_id) else {
            let to_board = rel.target_primary_role.as_deref() == Some(ROLE_WELSH_LHB);
            let kind = if to_board { "health board" } else { "trust" };
            self.warn(format!(
                "{code}: ORD says it is operated by {kind} {target}, which we do not track; left under {}",
                before.as_deref().unwrap_or("no parent")
            ));
            return Ok(());
        };

        let child = (site, code);
        let moved_on = self
            .set(kind.edge(), child, Some((new_id, &target)), on)
            .await?
            .unwrap_or(on);
        let other = match kind {
            ParentKind::Trust => Edge::OrganisationLocalHealthBoard,
            ParentKind::Board => Edge::OrganisationTrust,
        };
        self.set(other, child, None, on).await?;
        self.place_moved(child, (kind, new_id, &target), rec, on, lookups)
            .await?;
        self.moves.push(SyncMove {
            ods_code: code.to_string(),
            before,
            after: target,
            effective_on: moved_on,
        });
        Ok(())
    }

    /// The country, ICB and region of a site that moved, as `placement` decides them.
    async fn place_moved(
        &mut self,
        child: (i32, &str),
        (kind, parent_id, parent_code): (ParentKind, i32, &str),
        rec: &OrdOrganisation,
        on: NaiveDate,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let country_id = self.current(Edge::OrganisationCountry, child.0).await?;
        let current_country = self
            .countries
            .iter()
            .find(|(_, id)| Some(**id) == country_id)
            .map(|(c, _)| c.clone());
        let trust = kind == ParentKind::Trust;
        let facts = SiteFacts {
            code: child.1,
            parent: Some(kind),
            parent_in_wales: trust && placement_facts::trust_in_wales(self.db, parent_id).await?,
            address_country: rec.country.as_deref(),
            postcode: rec.postcode.as_deref(),
            current_country: current_country.as_deref(),
        };
        let country = placement::country(&facts);
        if let Some(c) = country {
            self.set_country(child, c, on).await?;
        }
        if placement::has_nhs_england_geography(country, Some(kind)) {
            return self
                .follow_trust(child, (parent_id, parent_code), on, lookups)
                .await;
        }
        // Welsh boards and trusts, and Jersey, are outside NHS England's geography.
        self.set(Edge::OrganisationIntegratedCareBoard, child, None, on)
            .await?;
        self.set(Edge::OrganisationNhsEnglandRegion, child, None, on)
            .await?;
        Ok(())
    }

    /// Gives a site that moved to an English trust the ICB and region `placement` finds for
    /// it; what it cannot tell stays as it was.
    async fn follow_trust(
        &mut self,
        child: (i32, &str),
        (trust_id, trust_code): (i32, &str),
        on: NaiveDate,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let ord_icb = lookups
            .get(trust_code)
            .and_then(Option::as_ref)
            .and_then(|t| t.active_icb())
            .map(|rel| rel.target_code.clone());
        let listed = placement::listed_icb(&self.icb_lookup, trust_code).map(str::to_string);
        let site = Some(child.0);
        let facts = placement_facts::trust_facts(
            self.db,
            (trust_id, trust_code),
            site,
            ord_icb.as_deref(),
            listed.as_deref(),
        )
        .await?;
        let geo = placement::trust_geography(&facts, &self.icbs);
        for w in geo.warnings {
            self.warn(format!("{}: {w}", child.1));
        }
        let Some((icb_id, icb)) = geo
            .icb
            .and_then(|c| self.tracked.icbs.get(&c).map(|id| (*id, c)))
        else {
            self.warn(format!(
                "{}: cannot tell the ICB of its new trust {trust_code} (its sites disagree or have \
                 none, and neither ORD nor the bundled lookup names an ICB we track); ICB and \
                 region left as they were",
                child.1
            ));
            return Ok(());
        };
        self.set(
            Edge::OrganisationIntegratedCareBoard,
            child,
            Some((icb_id, &icb)),
            on,
        )
        .await?;
        let region = geo
            .region
            .and_then(|c| self.tracked.regions.get(&c).map(|id| (*id, c)));
        match region {
            Some((id, code)) => {
                self.set(
                    Edge::OrganisationNhsEnglandRegion,
                    child,
                    Some((id, &code)),
                    on,
                )
                .await?;
            }
            None => self.warn(format!(
                "{}: ICB {icb} has no NHS England region; region left as it was",
                child.1
            )),
        }
        Ok(())
    }

    async fn current(&self, edge: Edge, child: i32) -> Result<Option<i32>, DbErr> {
        Ok(
            memberships::parents_of(self.db, edge, &[child], Moment::Current)
                .await?
                .remove(&child),
        )
    }

    async fn set_country(
        &mut self,
        child: (i32, &str),
        country: &str,
        on: NaiveDate,
    ) -> Result<(), DbErr> {
        match self.countries.get(country).copied() {
            Some(id) => {
                self.set(Edge::OrganisationCountry, child, Some((id, country)), on)
                    .await?;
                Ok(())
            }
            None => {
                self.warn(format!(
                    "{}: country {country} is missing from the database; country left as it was",
                    child.1
                ));
                Ok(())
            }
        }
    }

    /// `memberships::set_parent`, reported and logged. Returns the day the change took
    /// effect (later than `on` when the current membership began after it), if it changed.
    async fn set(
        &mut self,
        edge: Edge,
        child: (i32, &str),
        parent: Option<(i32, &str)>,
        on: NaiveDate,
    ) -> Result<Option<NaiveDate>, DbErr> {
        let Some((moved, change)) =
            memberships::set_parent(self.db, edge, child, parent, on).await?
        else {
            return Ok(None);
        };
        let effective = change.effective_on.unwrap_or(on);
        self.changes.push(SyncChange {
            ods_code: child.1.to_string(),
            entity: edge.child().entity.to_string(),
            field: edge.name().to_string(),
            before: moved.before,
            after: moved.after,
            effective_on: effective,
        });
        self.log.push(change);
        Ok(Some(effective))
    }

    /// Stores the successions ORD lists that we have not stored yet.
    async fn record_successions(
        &mut self,
        entity: RecordKind,
        code: &str,
        rec: &OrdOrganisation,
        on: NaiveDate,
    ) -> Result<(), DbErr> {
        if rec.succs.is_empty() {
            return Ok(());
        }
        let mut known: HashSet<(String, String)> = ord_succession::Entity::find()
            .filter(ord_succession::Column::OdsCode.eq(code))
            .all(self.db)
            .await?
            .into_iter()
            .map(|s| (s.kind, s.target_code))
            .collect();
        for s in &rec.succs {
            let kind = s.kind.as_str();
            if !known.insert((kind.to_string(), s.target_code.clone())) {
                continue;
            }
            ord_succession::ActiveModel {
                id: NotSet,
                ods_code: Set(code.to_string()),
                entity: Set(entity.to_string()),
                kind: Set(kind.to_string()),
                target_code: Set(s.target_code.clone()),
                target_primary_role: Set(s.target_primary_role.clone()),
                effective_on: Set(s.start),
                recorded_at: Set(Utc::now()),
            }
            .insert(self.db)
            .await?;
            self.successions.push(SyncSuccession {
                ods_code: code.to_string(),
                entity: entity.to_string(),
                kind: s.kind,
                target_code: s.target_code.clone(),
                effective_on: s.start,
            });
            self.log.push(
                Change::new(entity, code, ChangeAction::Update)
                    .field(kind)
                    .after(Some(json!({
                        "code": s.target_code,
                        "primaryRole": s.target_primary_role,
                        "date": s.start,
                    })))
                    .effective_on(on),
            );
        }
        Ok(())
    }
}

/// After a failed scheduled sync, try again this soon (or at the normal interval if shorter).
const RETRY_FAILED_SCHEDULE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs the sync every `every` inside `serve` (actor `scheduler`), logging each outcome. The
/// first run is due `every` after the last applied sync (at once if there never was one), so
/// restarts do not postpone it.
pub fn spawn_schedule(
    db: DatabaseConnection,
    ord: OrdClient,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = first_wait(&db, every).await;
        loop {
            tracing::info!(in_secs = wait.as_secs(), "next scheduled ORD sync");
            tokio::time::sleep(wait).await;
            let opts = SyncOptions {
                since: None,
                dry_run: false,
                actor: actor::SCHEDULER.to_string(),
            };
            wait = match run(&db, &ord, opts, &NoProgress).await {
                Ok(report) => {
                    tracing::info!(
                        since = %report.since,
                        listed = report.listed,
                        untracked = report.untracked,
                        changes = report.changes.len(),
                        moves = report.moves.len(),
                        closures = report.closures.len(),
                        warnings = report.warnings.len(),
                        "scheduled ORD sync applied"
                    );
                    for w in &report.warnings {
                        tracing::warn!("scheduled ORD sync: {w}");
                    }
                    every
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduled ORD sync failed; nothing was applied");
                    every.min(RETRY_FAILED_SCHEDULE)
                }
            };
        }
    })
}

async fn first_wait(db: &DatabaseConnection, every: std::time::Duration) -> std::time::Duration {
    let last = sync_run::Entity::find()
        .order_by_desc(sync_run::Column::FinishedAt)
        .one(db)
        .await;
    match last {
        Ok(Some(run)) => {
            let due = run.finished_at + chrono::Duration::from_std(every).unwrap_or_default();
            (due - Utc::now()).to_std().unwrap_or_default()
        }
        Ok(None) => std::time::Duration::ZERO,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last sync; syncing now");
            std::time::Duration::ZERO
        }
    }
}

/// The human-readable report of the `sync` command.
impl std::fmt::Display for SyncReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let outcome = if r.dry_run {
            "DRY RUN, nothing was changed"
        } else {
            "applied"
        };
        writeln!(out, "ORD sync of changes since {}: {outcome}.", r.since)?;
        writeln!(
            out,
            "listed {}, untracked {}, fetched {}, deleted sites skipped {}, not found {}",
            r.listed,
            r.untracked,
            r.fetched,
            r.skipped_deleted,
            r.not_found.len()
        )?;
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        writeln!(out, "{}:", plural(r.changes.len(), "change", "changes"))?;
        for c in &r.changes {
            writeln!(
                out,
                "  {:<8} {}.{}: {} -> {} (from {})",
                c.ods_code,
                c.entity,
                c.field,
                show(&c.before),
                show(&c.after),
                c.effective_on
            )?;
        }
        if !r.moves.is_empty() {
            writeln!(out, "{}:", plural(r.moves.len(), "move", "moves"))?;
            for m in &r.moves {
                writeln!(
                    out,
                    "  {:<8} {} -> {} (from {})",
                    m.ods_code,
                    show(&m.before),
                    m.after,
                    m.effective_on
                )?;
            }
        }
        if !r.closures.is_empty() {
            writeln!(out, "{}:", plural(r.closures.len(), "closure", "closures"))?;
            for c in &r.closures {
                let on = c.closed_on.map(|d| format!(" on {d}")).unwrap_or_default();
                writeln!(out, "  {:<8} {} closed{on}", c.ods_code, c.entity)?;
            }
        }
        if !r.successions.is_empty() {
            writeln!(
                out,
                "{}:",
                plural(r.successions.len(), "new succession", "new successions")
            )?;
            for s in &r.successions {
                let on = s
                    .effective_on
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                writeln!(out, "  {:<8} {} {}{on}", s.ods_code, s.kind, s.target_code)?;
            }
        }
        if !r.warnings.is_empty() {
            writeln!(out, "{}:", plural(r.warnings.len(), "warning", "warnings"))?;
            for w in &r.warnings {
                writeln!(out, "  - {w}")?;
            }
        }
        Ok(())
    }
}
