//! The read model: one immutable, in-memory copy of the whole history (every record, deleted
//! ones too, every membership interval, every attribute value with the day it took effect, and
//! the successions). Reads never touch the database: a request pins one `Snapshot` and answers
//! everything from it, so it never sees half of a write. The database stays the only source of
//! truth; `store` rebuilds the snapshot after every committed write and swaps it atomically.
mod build;
pub mod changes;
pub mod store;

// Keys are small integers and codes we own, so a fast non-DoS-resistant hash is safe here.
use rustc_hash::FxHashMap as HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use build::existence;
pub use build::{load_rows, Rows};
pub use store::{SnapshotHealth, SnapshotStore};

use crate::change_log::RecordKind;
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::memberships::{self, Edge, EntityTable};

/// A calendar day.
pub type Day = NaiveDate;

/// Days from `from` (inclusive) until `to` (exclusive; `None` = open-ended).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    pub from: Day,
    pub to: Option<Day>,
}

impl Period {
    pub fn contains(&self, day: Day) -> bool {
        self.from <= day && self.to.is_none_or(|to| day < to)
    }
}

/// What the snapshot was built from: the change log's last id and its row count. Every write
/// adds change-log rows in its transaction, so a different pair means different data.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DataVersion {
    pub last_change: i64,
    pub changes: i64,
}

impl std::fmt::Display for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.last_change, self.changes)
    }
}

/// One record with its history.
#[derive(Debug)]
pub struct Record<M> {
    pub id: i32,
    /// Days on which the record exists (from its creation; deletions end a period, restores
    /// start another).
    pub existence: Vec<Period>,
    /// Attribute values, oldest first: each applies from its day until the next one's.
    pub versions: Vec<(Day, Arc<M>)>,
}

impl<M> Record<M> {
    pub fn exists_on(&self, day: Day) -> bool {
        self.existence.iter().any(|p| p.contains(day))
    }

    /// The record as it was on `day` (attributes of the latest version that had begun; the
    /// first version for earlier days).
    pub fn version_on(&self, day: Day) -> &Arc<M> {
        let i = self.versions.partition_point(|(from, _)| *from <= day);
        &self.versions[i.saturating_sub(1)].1
    }

    /// The record on `day`, or `None` when it did not exist then.
    pub fn on(&self, day: Day) -> Option<&Arc<M>> {
        self.exists_on(day).then(|| self.version_on(day))
    }

    /// The latest version.
    pub fn latest(&self) -> &Arc<M> {
        &self.versions[self.versions.len() - 1].1
    }
}

/// Every record of one kind, by id and by natural code.
#[derive(Debug)]
pub struct Table<M> {
    records: Vec<Record<M>>,
    by_id: HashMap<i32, usize>,
    by_code: HashMap<String, usize>,
}

impl<M> Default for Table<M> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            by_id: HashMap::default(),
            by_code: HashMap::default(),
        }
    }
}

impl<M: Kind> Table<M> {
    fn new(mut records: Vec<Record<M>>) -> Self {
        // Kept in today's list order, so that sorting a list for a day (names rarely change)
        // finds it already sorted instead of sorting from scratch on every request.
        records.sort_by(|a, b| a.latest().sort_key().cmp(&b.latest().sort_key()));
        let by_id = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let by_code = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.latest().code().to_string(), i))
            .collect();
        Self {
            records,
            by_id,
            by_code,
        }
    }

    pub fn get(&self, id: i32) -> Option<&Record<M>> {
        self.by_id.get(&id).map(|&i| &self.records[i])
    }

    pub fn by_code(&self, code: &str) -> Option<&Record<M>> {
        self.by_code.get(code).map(|&i| &self.records[i])
    }

    /// Every record, deleted ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Record<M>> {
        self.records.iter()
    }

    /// The records that exist on `day`, as they were then, ordered as lists order them.
    pub fn list_on(&self, day: Day) -> Vec<&Arc<M>> {
        let mut list: Vec<&Arc<M>> = self.records.iter().filter_map(|r| r.on(day)).collect();
        list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        list
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// A kind of record the snapshot holds: a plain model with an id, a natural code and a list
/// order.
pub trait Kind: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    const TABLE: EntityTable;
    fn table(snapshot: &Snapshot) -> &Table<Self>;
    fn id(&self) -> i32;
    fn set_id(&mut self, id: i32);
    fn code(&self) -> &str;
    fn name(&self) -> Option<&str>;
    /// Lists order by this (name, then code).
    fn sort_key(&self) -> (&str, &str);
}

macro_rules! kind {
    ($module:ident, $field:ident, $table:ident, $code:ident, $sort:ident, $($name:ident)?) => {
        impl Kind for $module::Model {
            const TABLE: EntityTable = memberships::$table;
            fn table(s: &Snapshot) -> &Table<Self> {
                &s.$field
            }
            fn id(&self) -> i32 {
                self.id
            }
            fn set_id(&mut self, id: i32) {
                self.id = id;
            }
            fn code(&self) -> &str {
                &self.$code
            }
            fn name(&self) -> Option<&str> {
                None$(.or(Some(self.$name.as_str())))?
            }
            fn sort_key(&self) -> (&str, &str) {
                (&self.$sort, &self.$code)
            }
        }
    };
}

kind!(
    organisation,
    organisations,
    ORGANISATIONS,
    ods_code,
    name,
    name
);
kind!(trust, trusts, TRUSTS, ods_code, name, name);
kind!(
    local_health_board,
    local_health_boards,
    LOCAL_HEALTH_BOARDS,
    ods_code,
    name,
    name
);
kind!(
    integrated_care_board,
    integrated_care_boards,
    INTEGRATED_CARE_BOARDS,
    ods_code,
    name,
    name
);
kind!(
    nhs_england_region,
    nhs_england_regions,
    NHS_ENGLAND_REGIONS,
    region_code,
    name,
    name
);
// By hand: a unit's name is optional.
impl Kind for paediatric_diabetes_unit::Model {
    const TABLE: EntityTable = memberships::PAEDIATRIC_DIABETES_UNITS;
    fn table(s: &Snapshot) -> &Table<Self> {
        &s.paediatric_diabetes_units
    }
    fn id(&self) -> i32 {
        self.id
    }
    fn set_id(&mut self, id: i32) {
        self.id = id;
    }
    fn code(&self) -> &str {
        &self.pz_code
    }
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn sort_key(&self) -> (&str, &str) {
        (&self.pz_code, &self.pz_code)
    }
}
kind!(
    paediatric_diabetes_network,
    paediatric_diabetes_networks,
    PAEDIATRIC_DIABETES_NETWORKS,
    pn_code,
    pn_code,
    name
);
kind!(
    open_uk_network,
    open_uk_networks,
    OPEN_UK_NETWORKS,
    code,
    name,
    name
);
kind!(
    london_borough,
    london_boroughs,
    LONDON_BOROUGHS,
    gss_code,
    name,
    name
);
kind!(country, countries, COUNTRIES, code, name, name);

/// An edge with the kinds at its ends, so that a wrong edge/model pair does not compile.
pub struct EdgeDef<C, P> {
    pub edge: Edge,
    _ends: PhantomData<fn() -> (C, P)>,
}

impl<C, P> Clone for EdgeDef<C, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, P> Copy for EdgeDef<C, P> {}

impl<C, P> EdgeDef<C, P> {
    const fn new(edge: Edge) -> Self {
        Self {
            edge,
            _ends: PhantomData,
        }
    }
}

/// Every edge, typed by its ends.
pub mod edges {
    use super::EdgeDef;
    use crate::entities::{
        country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
        open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit,
        trust,
    };
    use crate::memberships::Edge;

    type Site = organisation::Model;

    pub const SITE_TRUST: EdgeDef<Site, trust::Model> = EdgeDef::new(Edge::OrganisationTrust);
    pub const SITE_LOCAL_HEALTH_BOARD: EdgeDef<Site, local_health_board::Model> =
        EdgeDef::new(Edge::OrganisationLocalHealthBoard);
    pub const SITE_INTEGRATED_CARE_BOARD: EdgeDef<Site, integrated_care_board::Model> =
        EdgeDef::new(Edge::OrganisationIntegratedCareBoard);
    pub const SITE_NHS_ENGLAND_REGION: EdgeDef<Site, nhs_england_region::Model> =
        EdgeDef::new(Edge::OrganisationNhsEnglandRegion);
    pub const SITE_PAEDIATRIC_DIABETES_UNIT: EdgeDef<Site, paediatric_diabetes_unit::Model> =
        EdgeDef::new(Edge::OrganisationPaediatricDiabetesUnit);
    pub const SITE_OPEN_UK_NETWORK: EdgeDef<Site, open_uk_network::Model> =
        EdgeDef::new(Edge::OrganisationOpenUkNetwork);
    pub const SITE_LONDON_BOROUGH: EdgeDef<Site, london_borough::Model> =
        EdgeDef::new(Edge::OrganisationLondonBorough);
    pub const SITE_COUNTRY: EdgeDef<Site, country::Model> = EdgeDef::new(Edge::OrganisationCountry);
    pub const UNIT_NETWORK: EdgeDef<
        paediatric_diabetes_unit::Model,
        paediatric_diabetes_network::Model,
    > = EdgeDef::new(Edge::PaediatricDiabetesUnitNetwork);
    pub const BOARD_REGION: EdgeDef<integrated_care_board::Model, nhs_england_region::Model> =
        EdgeDef::new(Edge::IntegratedCareBoardRegion);
}

/// One membership interval.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub child: i32,
    pub parent: i32,
    pub period: Period,
}

/// The intervals of one edge, by child and by parent (each list oldest first).
#[derive(Debug, Default)]
pub struct EdgeIndex {
    by_child: HashMap<i32, Vec<Membership>>,
    by_parent: HashMap<i32, Vec<Membership>>,
}

impl EdgeIndex {
    fn new(mut rows: Vec<Membership>) -> Self {
        rows.sort_by_key(|m| (m.period.from, m.child, m.parent));
        let mut index = EdgeIndex::default();
        for m in rows {
            // An empty interval never applies.
            if m.period.to.is_some_and(|to| to <= m.period.from) {
                continue;
            }
            index.by_child.entry(m.child).or_default().push(m);
            index.by_parent.entry(m.parent).or_default().push(m);
        }
        index
    }

    /// The child's parent on `day`.
    pub fn parent_on(&self, child: i32, day: Day) -> Option<i32> {
        self.by_child
            .get(&child)?
            .iter()
            .rev()
            .find(|m| m.period.contains(day))
            .map(|m| m.parent)
    }

    /// The parent's children on `day`.
    pub fn children_on(&self, parent: i32, day: Day) -> impl Iterator<Item = i32> + '_ {
        self.by_parent
            .get(&parent)
            .into_iter()
            .flatten()
            .filter(move |m| m.period.contains(day))
            .map(|m| m.child)
    }

    /// Every child that ever had a parent on this edge.
    pub fn children(&self) -> impl Iterator<Item = i32> + '_ {
        self.by_child.keys().copied()
    }

    /// Every interval the child ever had on this edge, oldest first.
    pub fn of_child(&self, child: i32) -> &[Membership] {
        self.by_child.get(&child).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every interval of the parent's children on this edge, oldest first.
    pub fn of_parent(&self, parent: i32) -> &[Membership] {
        self.by_parent
            .get(&parent)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// A link between two records by natural code: one succeeded the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Succession {
    /// The other record's code.
    pub code: String,
    /// The day the succession took effect, when known.
    pub effective_on: Option<Day>,
}

/// The whole read model at one data version.
#[derive(Debug)]
pub struct Snapshot {
    pub version: DataVersion,
    pub built_at: DateTime<Utc>,
    /// The first day the data describes; earlier days cannot be answered.
    pub history_starts_on: Day,
    pub organisations: Table<organisation::Model>,
    pub trusts: Table<trust::Model>,
    pub local_health_boards: Table<local_health_board::Model>,
    pub integrated_care_boards: Table<integrated_care_board::Model>,
    pub nhs_england_regions: Table<nhs_england_region::Model>,
    pub paediatric_diabetes_units: Table<paediatric_diabetes_unit::Model>,
    pub paediatric_diabetes_networks: Table<paediatric_diabetes_network::Model>,
    pub open_uk_networks: Table<open_uk_network::Model>,
    pub london_boroughs: Table<london_borough::Model>,
    pub countries: Table<country::Model>,
    edges: HashMap<Edge, EdgeIndex>,
    predecessors: HashMap<String, Vec<Succession>>,
    successors: HashMap<String, Vec<Succession>>,
    /// Every coordinate a site has held, indexed on first use (`crate::geography::sites`).
    pub(crate) site_points: std::sync::OnceLock<crate::geography::sites::SiteIndex>,
}

static NO_EDGE: std::sync::LazyLock<EdgeIndex> = std::sync::LazyLock::new(EdgeIndex::default);

impl Snapshot {
    /// The intervals of an edge.
    pub fn edge(&self, edge: Edge) -> &EdgeIndex {
        self.edges.get(&edge).unwrap_or(&NO_EDGE)
    }

    /// The child's parent on `day`, as it was then (`None` when it had none, or the parent did
    /// not exist then).
    pub fn parent<C: Kind, P: Kind>(
        &self,
        e: EdgeDef<C, P>,
        child: i32,
        day: Day,
    ) -> Option<&Arc<P>> {
        let parent = self.edge(e.edge).parent_on(child, day)?;
        P::table(self).get(parent)?.on(day)
    }

    /// The parent's children on `day`, as they were then, in list order.
    pub fn children<C: Kind, P: Kind>(
        &self,
        e: EdgeDef<C, P>,
        parent: i32,
        day: Day,
    ) -> Vec<&Arc<C>> {
        let table = C::table(self);
        let mut list: Vec<&Arc<C>> = self
            .edge(e.edge)
            .children_on(parent, day)
            .filter_map(|id| table.get(id)?.on(day))
            .collect();
        list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        list.dedup_by_key(|m| m.id());
        list
    }

    /// Records this one succeeded, as known on `day`.
    pub fn predecessors_of(&self, code: &str, day: Day) -> Vec<&Succession> {
        Self::links(&self.predecessors, code, day)
    }

    /// Records that succeeded this one, as known on `day`.
    pub fn successors_of(&self, code: &str, day: Day) -> Vec<&Succession> {
        Self::links(&self.successors, code, day)
    }

    fn links<'a>(
        map: &'a HashMap<String, Vec<Succession>>,
        code: &str,
        day: Day,
    ) -> Vec<&'a Succession> {
        map.get(code)
            .into_iter()
            .flatten()
            .filter(|s| s.effective_on.is_none_or(|d| d <= day))
            .collect()
    }

    /// The name of any record by natural code, as it was on `day` (for labelling links).
    pub fn name_of(&self, code: &str, day: Day) -> Option<String> {
        fn find<M: Kind>(t: &Table<M>, code: &str, day: Day) -> Option<String> {
            t.by_code(code)
                .and_then(|r| r.version_on(day).name().map(String::from))
        }
        find(&self.organisations, code, day)
            .or_else(|| find(&self.trusts, code, day))
            .or_else(|| find(&self.local_health_boards, code, day))
            .or_else(|| find(&self.integrated_care_boards, code, day))
            .or_else(|| find(&self.nhs_england_regions, code, day))
            .or_else(|| find(&self.paediatric_diabetes_networks, code, day))
    }

    /// The code and name, as of `day`, of a record of the parent kind of `edge`.
    pub fn parent_label(&self, edge: Edge, id: i32, day: Day) -> Option<(String, Option<String>)> {
        self.label(edge.parent(), id, day)
    }

    /// The code and name, as of `day`, of a record of the child kind of `edge`.
    pub fn child_label(&self, edge: Edge, id: i32, day: Day) -> Option<(String, Option<String>)> {
        self.label(edge.child(), id, day)
    }

    fn label(&self, table: EntityTable, id: i32, day: Day) -> Option<(String, Option<String>)> {
        fn of<M: Kind>(t: &Table<M>, id: i32, day: Day) -> Option<(String, Option<String>)> {
            let m = t.get(id)?.version_on(day);
            Some((m.code().to_string(), m.name().map(String::from)))
        }
        match table.entity {
            RecordKind::Organisation => of(&self.organisations, id, day),
            RecordKind::Trust => of(&self.trusts, id, day),
            RecordKind::LocalHealthBoard => of(&self.local_health_boards, id, day),
            RecordKind::IntegratedCareBoard => of(&self.integrated_care_boards, id, day),
            RecordKind::NhsEnglandRegion => of(&self.nhs_england_regions, id, day),
            RecordKind::PaediatricDiabetesUnit => of(&self.paediatric_diabetes_units, id, day),
            RecordKind::PaediatricDiabetesNetwork => {
                of(&self.paediatric_diabetes_networks, id, day)
            }
            RecordKind::OpenUkNetwork => of(&self.open_uk_networks, id, day),
            RecordKind::LondonBorough => of(&self.london_boroughs, id, day),
            RecordKind::Country => of(&self.countries, id, day),
        }
    }
}

/// One attribute's value over a period.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributePeriod {
    pub field: String,
    pub value: serde_json::Value,
    pub period: Period,
}

/// Every attribute's values over time, field by field (in the record's field order), each
/// field's periods oldest first. `id` and `deleted_at` are not attributes.
pub fn attribute_history<M: Kind>(record: &Record<M>) -> Vec<AttributePeriod> {
    let values: Vec<(Day, serde_json::Map<String, serde_json::Value>)> = record
        .versions
        .iter()
        .filter_map(|(d, m)| match serde_json::to_value(m.as_ref()) {
            Ok(serde_json::Value::Object(map)) => Some((*d, map)),
            _ => None,
        })
        .collect();
    let Some((_, first)) = values.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in first.keys().filter(|f| f.as_str() != "deleted_at") {
        let mut current: Option<(Day, &serde_json::Value)> = None;
        for (day, map) in &values {
            let v = map.get(field).unwrap_or(&serde_json::Value::Null);
            match current {
                Some((_, cv)) if cv == v => {}
                Some((from, cv)) => {
                    out.push(AttributePeriod {
                        field: field.clone(),
                        value: cv.clone(),
                        period: Period {
                            from,
                            to: Some(*day),
                        },
                    });
                    current = Some((*day, v));
                }
                None => current = Some((*day, v)),
            }
        }
        if let Some((from, v)) = current {
            out.push(AttributePeriod {
                field: field.clone(),
                value: v.clone(),
                period: Period { from, to: None },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
