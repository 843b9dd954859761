//! The apply phase of a run: the `Apply` writer, which works inside the run's transaction.
//! Field updates of sites, trusts, boards, ICBs and regions (`Diff`, `save`), membership
//! changes (`set`), closures and newly seen successions, all reported and change-logged.
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, ModelTrait,
    NotSet, QueryFilter, Set,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::change_log::{Change, ChangeAction, RecordKind};
use crate::entities::{
    integrated_care_board, local_health_board, nhs_england_region, ord_succession, organisation,
    trust,
};
use crate::memberships::{self, Edge, EntityTable, Moment};
use crate::ord::OrdOrganisation;
use crate::ord_rows;
use crate::placement::IcbRegions;
use crate::placement_facts;
use crate::reference_data::IcbLookupRow;

use super::{SyncChange, SyncClosure, SyncDeletion, SyncMove, SyncSuccession, Tracked};

/// Field differences of one record: what to report and log.
pub(super) struct Diff {
    pub(super) fields: Vec<(&'static str, Value, Value)>,
}

impl Diff {
    pub(super) fn new() -> Self {
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
    pub(super) fn columns<A: ActiveModelTrait>(
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
pub(super) type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// A JSON snapshot as report text: `null` → none, strings bare, the rest as JSON.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The apply phase: writes inside the sync's transaction and collects the report.
pub(super) struct Apply<'a, C> {
    pub(super) db: &'a C,
    pub(super) today: NaiveDate,
    pub(super) tracked: Tracked,
    pub(super) icbs: IcbRegions,
    pub(super) icb_lookup: Vec<IcbLookupRow>,
    pub(super) countries: HashMap<String, i32>,
    pub(super) log: Vec<Change>,
    pub(super) changes: Vec<SyncChange>,
    pub(super) moves: Vec<SyncMove>,
    pub(super) closures: Vec<SyncClosure>,
    pub(super) successions: Vec<SyncSuccession>,
    pub(super) deletions: Vec<SyncDeletion>,
    pub(super) warnings: Vec<String>,
}

impl<'a, C: ConnectionTrait> Apply<'a, C> {
    /// The writer, with what it decides on re-read inside the transaction.
    pub(super) async fn new(
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
            deletions: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// Logs a warning and adds it to the report.
    pub(super) fn warn(&mut self, message: String) {
        tracing::warn!("ORD sync: {message}");
        self.warnings.push(message);
    }

    /// Applies one fetched record to every table that tracks its code.
    pub(super) async fn record(
        &mut self,
        code: &str,
        rec: &OrdOrganisation,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        if !ord_rows::is_source_of_truth(rec) {
            self.warn(format!(
                "{code}: ORD serves only an archived reference skeleton (refOnly) for this code; \
                 nothing was taken from it and our record is left as it is"
            ));
            return Ok(());
        }
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
    pub(super) async fn save<A>(
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

    /// Updates a site's fields from ORD, notes a closure, then follows its operator (`reparent`).
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

    /// Updates a trust's fields from ORD and notes a closure.
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

    /// The id of the child's current parent on `edge`.
    pub(super) async fn current(&self, edge: Edge, child: i32) -> Result<Option<i32>, DbErr> {
        Ok(
            memberships::parents_of(self.db, edge, &[child], Moment::Current)
                .await?
                .remove(&child),
        )
    }

    /// Sets the site's country by code; a country we do not hold is a warning.
    pub(super) async fn set_country(
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
    pub(super) async fn set(
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
