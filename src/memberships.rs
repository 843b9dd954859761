//! Dated memberships: the single source of truth for every edge of the hierarchy.
//!
//! Each edge has its own table with the same shape (`child_id`, `parent_id`, `valid_from`
//! inclusive, `valid_to` exclusive, NULL = current), so one code path reads and writes them all.
//! The database refuses two current rows per child and overlapping intervals.
use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    Statement,
};
use serde_json::json;

use crate::change_log::{Change, ChangeAction, RecordKind};
use crate::entities::change_log as log_entry;
use crate::errors::{AppError, AppResult};
use crate::snapshot::Period;

/// Every edge of the hierarchy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Edge {
    OrganisationTrust,
    OrganisationLocalHealthBoard,
    OrganisationIntegratedCareBoard,
    OrganisationNhsEnglandRegion,
    OrganisationPaediatricDiabetesUnit,
    OrganisationOpenUkNetwork,
    OrganisationLondonBorough,
    OrganisationCountry,
    PaediatricDiabetesUnitNetwork,
    IntegratedCareBoardRegion,
}

/// A table holding one kind of entity, with the column of its natural code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EntityTable {
    /// Entity kind as written in the change log.
    pub entity: RecordKind,
    pub table: &'static str,
    pub code_column: &'static str,
}

pub const ORGANISATIONS: EntityTable = EntityTable {
    entity: RecordKind::Organisation,
    table: "organisations",
    code_column: "ods_code",
};
pub const TRUSTS: EntityTable = EntityTable {
    entity: RecordKind::Trust,
    table: "trusts",
    code_column: "ods_code",
};
pub const LOCAL_HEALTH_BOARDS: EntityTable = EntityTable {
    entity: RecordKind::LocalHealthBoard,
    table: "local_health_boards",
    code_column: "ods_code",
};
pub const INTEGRATED_CARE_BOARDS: EntityTable = EntityTable {
    entity: RecordKind::IntegratedCareBoard,
    table: "integrated_care_boards",
    code_column: "ods_code",
};
pub const NHS_ENGLAND_REGIONS: EntityTable = EntityTable {
    entity: RecordKind::NhsEnglandRegion,
    table: "nhs_england_regions",
    code_column: "region_code",
};
pub const PAEDIATRIC_DIABETES_UNITS: EntityTable = EntityTable {
    entity: RecordKind::PaediatricDiabetesUnit,
    table: "paediatric_diabetes_units",
    code_column: "pz_code",
};
pub const PAEDIATRIC_DIABETES_NETWORKS: EntityTable = EntityTable {
    entity: RecordKind::PaediatricDiabetesNetwork,
    table: "paediatric_diabetes_networks",
    code_column: "pn_code",
};
pub const OPEN_UK_NETWORKS: EntityTable = EntityTable {
    entity: RecordKind::OpenUkNetwork,
    table: "open_uk_networks",
    code_column: "code",
};
pub const LONDON_BOROUGHS: EntityTable = EntityTable {
    entity: RecordKind::LondonBorough,
    table: "london_boroughs",
    code_column: "gss_code",
};
pub const COUNTRIES: EntityTable = EntityTable {
    entity: RecordKind::Country,
    table: "countries",
    code_column: "code",
};

impl Edge {
    pub const ALL: [Edge; 10] = [
        Edge::OrganisationTrust,
        Edge::OrganisationLocalHealthBoard,
        Edge::OrganisationIntegratedCareBoard,
        Edge::OrganisationNhsEnglandRegion,
        Edge::OrganisationPaediatricDiabetesUnit,
        Edge::OrganisationOpenUkNetwork,
        Edge::OrganisationLondonBorough,
        Edge::OrganisationCountry,
        Edge::PaediatricDiabetesUnitNetwork,
        Edge::IntegratedCareBoardRegion,
    ];

    /// The membership table.
    pub fn table(self) -> &'static str {
        match self {
            Edge::OrganisationTrust => "organisation_trusts",
            Edge::OrganisationLocalHealthBoard => "organisation_local_health_boards",
            Edge::OrganisationIntegratedCareBoard => "organisation_integrated_care_boards",
            Edge::OrganisationNhsEnglandRegion => "organisation_nhs_england_regions",
            Edge::OrganisationPaediatricDiabetesUnit => "organisation_paediatric_diabetes_units",
            Edge::OrganisationOpenUkNetwork => "organisation_open_uk_networks",
            Edge::OrganisationLondonBorough => "organisation_london_boroughs",
            Edge::OrganisationCountry => "organisation_countries",
            Edge::PaediatricDiabetesUnitNetwork => "paediatric_diabetes_unit_networks",
            Edge::IntegratedCareBoardRegion => "integrated_care_board_regions",
        }
    }

    pub fn child(self) -> EntityTable {
        match self {
            Edge::PaediatricDiabetesUnitNetwork => PAEDIATRIC_DIABETES_UNITS,
            Edge::IntegratedCareBoardRegion => INTEGRATED_CARE_BOARDS,
            _ => ORGANISATIONS,
        }
    }

    pub fn parent(self) -> EntityTable {
        match self {
            Edge::OrganisationTrust => TRUSTS,
            Edge::OrganisationLocalHealthBoard => LOCAL_HEALTH_BOARDS,
            Edge::OrganisationIntegratedCareBoard => INTEGRATED_CARE_BOARDS,
            Edge::OrganisationNhsEnglandRegion | Edge::IntegratedCareBoardRegion => {
                NHS_ENGLAND_REGIONS
            }
            Edge::OrganisationPaediatricDiabetesUnit => PAEDIATRIC_DIABETES_UNITS,
            Edge::OrganisationOpenUkNetwork => OPEN_UK_NETWORKS,
            Edge::OrganisationLondonBorough => LONDON_BOROUGHS,
            Edge::OrganisationCountry => COUNTRIES,
            Edge::PaediatricDiabetesUnitNetwork => PAEDIATRIC_DIABETES_NETWORKS,
        }
    }

    /// The edge's name in reports and the change log (the parent's entity kind).
    pub fn name(self) -> &'static str {
        self.parent().entity.as_str()
    }
}

/// When to read memberships: now, or as they were on a day.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Moment {
    Current,
    On(NaiveDate),
}

/// One membership row.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct Membership {
    pub id: i32,
    pub child_id: i32,
    pub parent_id: i32,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// A membership to insert.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMembership {
    pub child_id: i32,
    pub parent_id: i32,
    pub valid_from: NaiveDate,
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn select(edge: Edge, at: Moment) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["id", "child_id", "parent_id", "valid_from", "valid_to"].map(Alias::new))
        .from(Alias::new(edge.table()));
    match at {
        Moment::Current => {
            q.and_where(col("valid_to").is_null());
        }
        Moment::On(day) => {
            q.and_where(col("valid_from").lte(day))
                .and_where(col("valid_to").is_null().or(col("valid_to").gt(day)));
        }
    }
    q
}

async fn fetch<C: ConnectionTrait>(db: &C, q: &SelectStatement) -> Result<Vec<Membership>, DbErr> {
    let stmt: Statement = db.get_database_backend().build(q);
    Membership::find_by_statement(stmt).all(db).await
}

/// The parent of each child at a moment (children without one are absent).
pub async fn parents_of<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child_ids: &[i32],
    at: Moment,
) -> Result<HashMap<i32, i32>, DbErr> {
    let mut out = HashMap::new();
    for chunk in child_ids.chunks(5_000) {
        let mut q = select(edge, at);
        q.and_where(col("child_id").is_in(chunk.iter().copied()));
        out.extend(
            fetch(db, &q)
                .await?
                .into_iter()
                .map(|m| (m.child_id, m.parent_id)),
        );
    }
    Ok(out)
}

/// The children of each parent at a moment.
pub async fn children_of<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    parent_ids: &[i32],
    at: Moment,
) -> Result<HashMap<i32, Vec<i32>>, DbErr> {
    let mut out: HashMap<i32, Vec<i32>> = HashMap::new();
    for chunk in parent_ids.chunks(5_000) {
        let mut q = select(edge, at);
        q.and_where(col("parent_id").is_in(chunk.iter().copied()));
        for m in fetch(db, &q).await? {
            out.entry(m.parent_id).or_default().push(m.child_id);
        }
    }
    Ok(out)
}

/// Ids of all children that have a parent at a moment.
pub async fn children_with_parent<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    at: Moment,
) -> Result<Vec<i32>, DbErr> {
    Ok(fetch(db, &select(edge, at))
        .await?
        .into_iter()
        .map(|m| m.child_id)
        .collect())
}

/// Every membership a child ever had on this edge, oldest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child_id: i32,
) -> Result<Vec<Membership>, DbErr> {
    let mut q = Query::select();
    q.columns(["id", "child_id", "parent_id", "valid_from", "valid_to"].map(Alias::new))
        .from(Alias::new(edge.table()))
        .and_where(col("child_id").eq(child_id))
        .order_by(Alias::new("valid_from"), Order::Asc)
        .order_by(Alias::new("id"), Order::Asc);
    fetch(db, &q).await
}

/// Ids of children with any membership row on this edge (current or past).
pub async fn children_with_history<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
) -> Result<std::collections::HashSet<i32>, DbErr> {
    let mut q = Query::select();
    q.column(Alias::new("child_id"))
        .distinct()
        .from(Alias::new(edge.table()));
    #[derive(FromQueryResult)]
    struct Row {
        child_id: i32,
    }
    let stmt = db.get_database_backend().build(&q);
    Ok(Row::find_by_statement(stmt)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.child_id)
        .collect())
}

/// Inserts memberships in batches, without logging (callers log them).
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    rows: &[NewMembership],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(500) {
        let mut q = Query::insert();
        q.into_table(Alias::new(edge.table()))
            .columns(["child_id", "parent_id", "valid_from"].map(Alias::new));
        for r in chunk {
            q.values_panic([r.child_id.into(), r.parent_id.into(), r.valid_from.into()]);
        }
        db.execute(db.get_database_backend().build(&q)).await?;
    }
    Ok(())
}

/// Closes a membership on a day (it stops applying from that day). Only a row that is still
/// current is closed: when another write closed it first, nothing is changed and the error is
/// `RecordNotUpdated` (a conflict), so a closure is never recorded twice.
async fn close_row<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    membership_id: i32,
    on: NaiveDate,
) -> Result<(), DbErr> {
    let mut q = Query::update();
    q.table(Alias::new(edge.table()))
        .value(Alias::new("valid_to"), on)
        .and_where(col("id").eq(membership_id))
        .and_where(col("valid_to").is_null());
    let done = db.execute(db.get_database_backend().build(&q)).await?;
    if done.rows_affected() == 0 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// Looks up natural codes for ids in an entity table.
pub async fn codes_of<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    ids: &[i32],
) -> Result<HashMap<i32, String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i32,
        code: String,
    }
    let mut out = HashMap::new();
    for chunk in ids.chunks(5_000) {
        let mut q = Query::select();
        q.column(Alias::new("id"))
            .expr_as(col(table.code_column), Alias::new("code"))
            .from(Alias::new(table.table))
            .and_where(col("id").is_in(chunk.iter().copied()));
        let stmt = db.get_database_backend().build(&q);
        out.extend(
            Row::find_by_statement(stmt)
                .all(db)
                .await?
                .into_iter()
                .map(|r| (r.id, r.code)),
        );
    }
    Ok(out)
}

/// The change-log entry for a membership opening or closing.
pub fn change(
    edge: Edge,
    child_code: &str,
    before: Option<(&str, NaiveDate)>,
    after: Option<(&str, NaiveDate)>,
    on: NaiveDate,
) -> Change {
    let snap = |p: Option<(&str, NaiveDate)>| {
        p.map(|(code, from)| json!({"code": code, "validFrom": from}))
    };
    Change::new(edge.child().entity, child_code, ChangeAction::Membership)
        .field(edge.name())
        .before(snap(before))
        .after(snap(after))
        .effective_on(on)
}

/// What `set_parent` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeMove {
    pub edge: Edge,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Makes `parent` the child's current parent on `edge` from `on`: closes the current membership
/// (if it differs) and opens the new one. `None` clears the edge. Returns the change log entry and
/// what moved, or `None` when nothing changes.
pub async fn set_parent<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child: (i32, &str),
    parent: Option<(i32, &str)>,
    on: NaiveDate,
) -> Result<Option<(EdgeMove, Change)>, DbErr> {
    let mut q = select(edge, Moment::Current);
    q.and_where(col("child_id").eq(child.0));
    let current = fetch(db, &q).await?.into_iter().next();
    if current.as_ref().map(|m| m.parent_id) == parent.map(|p| p.0) {
        return Ok(None);
    }
    let mut before = None;
    // Never close before the row began: an older effective date than ours still ends it today.
    let mut from = on;
    if let Some(m) = &current {
        let close_on = on.max(m.valid_from);
        from = close_on;
        close_row(db, edge, m.id, close_on).await?;
        let codes = codes_of(db, edge.parent(), &[m.parent_id]).await?;
        before = Some((
            codes.get(&m.parent_id).cloned().unwrap_or_default(),
            m.valid_from,
        ));
    }
    if let Some((parent_id, _)) = parent {
        insert(
            db,
            edge,
            &[NewMembership {
                child_id: child.0,
                parent_id,
                valid_from: from,
            }],
        )
        .await?;
    }
    let change = change(
        edge,
        child.1,
        before.as_ref().map(|(c, d)| (c.as_str(), *d)),
        parent.map(|(_, code)| (code, from)),
        from,
    );
    let moved = EdgeMove {
        edge,
        before: before.map(|(c, _)| c),
        after: parent.map(|(_, c)| c.to_string()),
    };
    Ok(Some((moved, change)))
}

/// Id of the record with this natural code.
pub async fn id_of<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
) -> Result<Option<i32>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i32,
    }
    let mut q = Query::select();
    q.column(Alias::new("id"))
        .from(Alias::new(table.table))
        .and_where(col(table.code_column).eq(code));
    let stmt = db.get_database_backend().build(&q);
    Ok(Row::find_by_statement(stmt).one(db).await?.map(|r| r.id))
}

/// Natural code → id for every row of an entity table.
pub async fn ids_by_code<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
) -> Result<HashMap<String, i32>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i32,
        code: String,
    }
    let mut q = Query::select();
    q.column(Alias::new("id"))
        .expr_as(col(table.code_column), Alias::new("code"))
        .from(Alias::new(table.table));
    let stmt = db.get_database_backend().build(&q);
    Ok(Row::find_by_statement(stmt)
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.code, r.id))
        .collect())
}

/// Every row of an edge, current and past (the snapshot reads the whole history).
pub async fn all_rows<C: ConnectionTrait>(db: &C, edge: Edge) -> Result<Vec<Membership>, DbErr> {
    let mut q = Query::select();
    q.columns(["id", "child_id", "parent_id", "valid_from", "valid_to"].map(Alias::new))
        .from(Alias::new(edge.table()))
        .order_by(Alias::new("id"), Order::Asc);
    fetch(db, &q).await
}

/// A recorded change on a child's edge dated after the day of a new change: a membership that
/// opens, or one that closes, on `on`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaterChange {
    pub parent_id: i32,
    pub on: NaiveDate,
    pub opens: bool,
}

/// Where a change dated `on` lands in a child's history on one edge: the current row it splits
/// (none when the child has no current row), or the later recorded change it would contradict.
/// A row that began on `on` itself is split too (a same-day correction leaves an empty row).
pub fn place_dated(
    history: &[Membership],
    on: NaiveDate,
) -> Result<Option<&Membership>, LaterChange> {
    let mut covering = None;
    for m in history {
        if m.valid_from > on {
            return Err(LaterChange {
                parent_id: m.parent_id,
                on: m.valid_from,
                opens: true,
            });
        }
        match m.valid_to {
            Some(to) if to > on => {
                return Err(LaterChange {
                    parent_id: m.parent_id,
                    on: to,
                    opens: false,
                })
            }
            Some(_) => {}
            None => covering = Some(m),
        }
    }
    Ok(covering)
}

/// The refusal of a change that contradicts a later one on the same edge.
async fn later_change_conflict<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child_code: &str,
    later: &LaterChange,
    on: NaiveDate,
) -> AppResult<AppError> {
    let parent = codes_of(db, edge.parent(), &[later.parent_id])
        .await?
        .remove(&later.parent_id)
        .unwrap_or_default();
    let what = if later.opens { "joins" } else { "leaves" };
    Ok(AppError::Conflict(format!(
        "{child_code} already {what} {} {parent} on {}, after {on}: a change dated {on} would \
         contradict that later change; nothing was changed",
        edge.name(),
        later.on
    )))
}

/// Makes `parent` the child's parent on `edge` from `on` (past, today or future): the current
/// membership ends on `on` (`valid_to = on`) and the new one starts on `on`; `None` clears the
/// edge. Refused with `CONFLICT` when the child's history on this edge already has a change
/// dated after `on` (it is never overwritten or reordered). `None` when nothing changes.
pub async fn set_parent_on<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    child: (i32, &str),
    parent: Option<(i32, &str)>,
    on: NaiveDate,
) -> AppResult<Option<(EdgeMove, Change)>> {
    let rows = history(db, edge, child.0).await?;
    let current = match place_dated(&rows, on) {
        Ok(c) => c.cloned(),
        Err(later) => return Err(later_change_conflict(db, edge, child.1, &later, on).await?),
    };
    if current.as_ref().map(|m| m.parent_id) == parent.map(|p| p.0) {
        return Ok(None);
    }
    let mut before = None;
    if let Some(m) = &current {
        close_row(db, edge, m.id, on).await?;
        let code = codes_of(db, edge.parent(), &[m.parent_id]).await?;
        before = Some((
            code.get(&m.parent_id).cloned().unwrap_or_default(),
            m.valid_from,
        ));
    }
    if let Some((parent_id, _)) = parent {
        let row = NewMembership {
            child_id: child.0,
            parent_id,
            valid_from: on,
        };
        insert(db, edge, &[row]).await?;
    }
    let entry = change(
        edge,
        child.1,
        before.as_ref().map(|(c, d)| (c.as_str(), *d)),
        parent.map(|(_, code)| (code, on)),
        on,
    );
    let moved = EdgeMove {
        edge,
        before: before.map(|(c, _)| c),
        after: parent.map(|(_, c)| c.to_string()),
    };
    Ok(Some((moved, entry)))
}

/// The children of a parent on `edge` whose membership covers any day from `on` on (current
/// rows, and rows that begin or end after `on`): what must move before the parent closes.
pub async fn children_from<C: ConnectionTrait>(
    db: &C,
    edge: Edge,
    parent_id: i32,
    on: NaiveDate,
) -> Result<Vec<Membership>, DbErr> {
    let mut q = Query::select();
    q.columns(["id", "child_id", "parent_id", "valid_from", "valid_to"].map(Alias::new))
        .from(Alias::new(edge.table()))
        .and_where(col("parent_id").eq(parent_id))
        .and_where(col("valid_to").is_null().or(col("valid_to").gt(on)))
        .order_by(Alias::new("child_id"), Order::Asc);
    fetch(db, &q).await
}

/// The periods a record exists, from its lifecycle entries in the change log (the snapshot's
/// rule; a last `delete` entry closes a record for good unless `deleted_now` says otherwise).
pub async fn existence<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
) -> Result<Vec<Period>, DbErr> {
    let entries = log_entry::Entity::find()
        .filter(log_entry::Column::Entity.eq(table.entity.as_str()))
        .filter(log_entry::Column::Code.eq(code))
        .filter(
            log_entry::Column::Action.is_in(
                [
                    ChangeAction::Create,
                    ChangeAction::Delete,
                    ChangeAction::Restore,
                ]
                .map(ChangeAction::as_str),
            ),
        )
        .order_by_asc(log_entry::Column::EffectiveOn)
        .order_by_asc(log_entry::Column::Id)
        .all(db)
        .await?;
    let starts = history_starts_on(db).await?;
    let refs: Vec<&log_entry::Model> = entries.iter().collect();
    let closed = refs
        .last()
        .filter(|e| e.action == ChangeAction::Delete.as_str())
        .map(|e| e.effective_on);
    Ok(crate::snapshot::existence(&refs, starts, closed))
}

/// Whether the record exists on `day` (see `existence`).
pub async fn exists_on<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
    day: NaiveDate,
) -> Result<bool, DbErr> {
    Ok(existence(db, table, code)
        .await?
        .iter()
        .any(|p| p.contains(day)))
}

/// The first day of the change log's history (its earliest `create`), else the reference date.
async fn history_starts_on<C: ConnectionTrait>(db: &C) -> Result<NaiveDate, DbErr> {
    let first = log_entry::Entity::find()
        .filter(log_entry::Column::Action.eq(ChangeAction::Create.as_str()))
        .order_by_asc(log_entry::Column::EffectiveOn)
        .one(db)
        .await?;
    Ok(first
        .map(|e| e.effective_on)
        .unwrap_or_else(crate::seed::reference_date))
}

/// The latest day any change-log entry of this record takes effect (its last recorded change).
pub async fn last_change_on<C: ConnectionTrait>(
    db: &C,
    table: EntityTable,
    code: &str,
) -> Result<Option<NaiveDate>, DbErr> {
    let last = log_entry::Entity::find()
        .filter(log_entry::Column::Entity.eq(table.entity.as_str()))
        .filter(log_entry::Column::Code.eq(code))
        .order_by_desc(log_entry::Column::EffectiveOn)
        .one(db)
        .await?;
    Ok(last.map(|e| e.effective_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn row(id: i32, parent_id: i32, from: &str, to: Option<&str>) -> Membership {
        Membership {
            id,
            child_id: 1,
            parent_id,
            valid_from: day(from),
            valid_to: to.map(day),
        }
    }

    #[test]
    fn a_backdated_change_splits_the_current_row() {
        let h = [row(1, 10, "2024-08-31", None)];
        assert_eq!(place_dated(&h, day("2024-11-01")), Ok(Some(&h[0])));
    }

    #[test]
    fn a_change_before_a_later_opening_is_refused() {
        let h = [
            row(1, 10, "2024-08-31", Some("2025-04-01")),
            row(2, 11, "2025-04-01", None),
        ];
        assert_eq!(
            place_dated(&h, day("2024-11-01")),
            Err(LaterChange {
                parent_id: 10,
                on: day("2025-04-01"),
                opens: false
            })
        );
    }

    #[test]
    fn a_change_before_a_scheduled_closure_is_refused() {
        let h = [row(1, 10, "2024-08-31", Some("2027-01-01"))];
        let later = place_dated(&h, day("2026-01-01")).unwrap_err();
        assert_eq!((later.on, later.opens), (day("2027-01-01"), false));
    }

    #[test]
    fn a_change_before_the_history_begins_is_refused() {
        let h = [row(1, 10, "2024-08-31", None)];
        let later = place_dated(&h, day("2024-01-01")).unwrap_err();
        assert_eq!((later.on, later.opens), (day("2024-08-31"), true));
    }

    #[test]
    fn a_change_after_a_closure_finds_no_current_row() {
        let h = [row(1, 10, "2024-08-31", Some("2025-01-01"))];
        assert_eq!(place_dated(&h, day("2025-01-01")), Ok(None));
        assert_eq!(place_dated(&h, day("2025-06-01")), Ok(None));
    }

    #[test]
    fn a_same_day_correction_splits_the_row_that_began_that_day() {
        let h = [
            row(1, 10, "2024-08-31", Some("2025-04-01")),
            row(2, 11, "2025-04-01", None),
        ];
        assert_eq!(place_dated(&h, day("2025-04-01")), Ok(Some(&h[1])));
    }
}
