//! Building a snapshot: read every table in one consistent transaction (`load_rows`), then
//! derive existence periods and attribute versions from the change log (`Snapshot::build`, pure).
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, IsolationLevel, QueryOrder, TransactionTrait,
};
use serde_json::Value;

use super::{
    DataVersion, Day, EdgeIndex, Kind, Membership, Period, Record, Snapshot, Succession, Table,
};
use crate::change_log::{ChangeAction, RecordKind};
use crate::entities::{
    change_log, country, integrated_care_board, local_health_board, london_borough,
    nhs_england_region, open_uk_network, ord_succession, organisation, paediatric_diabetes_network,
    paediatric_diabetes_unit, trust,
};
use crate::memberships::{self, Edge};
use crate::ord::SuccessionKind;

/// Everything a snapshot is built from, as read from the database.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub version: DataVersion,
    pub organisations: Vec<organisation::Model>,
    pub trusts: Vec<trust::Model>,
    pub local_health_boards: Vec<local_health_board::Model>,
    pub integrated_care_boards: Vec<integrated_care_board::Model>,
    pub nhs_england_regions: Vec<nhs_england_region::Model>,
    pub paediatric_diabetes_units: Vec<paediatric_diabetes_unit::Model>,
    pub paediatric_diabetes_networks: Vec<paediatric_diabetes_network::Model>,
    pub open_uk_networks: Vec<open_uk_network::Model>,
    pub london_boroughs: Vec<london_borough::Model>,
    pub countries: Vec<country::Model>,
    pub memberships: Vec<(Edge, Vec<memberships::Membership>)>,
    pub change_log: Vec<change_log::Model>,
    pub successions: Vec<ord_succession::Model>,
}

/// The data version: the change log's last id and row count.
pub async fn data_version<C: ConnectionTrait>(db: &C) -> Result<DataVersion, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        last_change: Option<i64>,
        changes: Option<i64>,
    }
    let mut q = Query::select();
    q.expr_as(
        Func::max(Expr::col(Alias::new("id"))).cast_as(Alias::new("BIGINT")),
        Alias::new("last_change"),
    )
    .expr_as(
        Func::count(Expr::col(Alias::new("id"))).cast_as(Alias::new("BIGINT")),
        Alias::new("changes"),
    )
    .from(Alias::new("change_log"));
    let stmt = db.get_database_backend().build(&q);
    let row = Row::find_by_statement(stmt).one(db).await?;
    Ok(row
        .map(|r| DataVersion {
            last_change: r.last_change.unwrap_or(0),
            changes: r.changes.unwrap_or(0),
        })
        .unwrap_or_default())
}

/// Reads every table in one transaction, so the rows and their version agree.
pub async fn load_rows(db: &DatabaseConnection) -> Result<Rows, DbErr> {
    let txn = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        // A SQLite read transaction sees one state from its first read on.
        _ => db.begin().await?,
    };
    let version = data_version(&txn).await?;
    let mut rows = Rows {
        version,
        organisations: organisation::Entity::find().all(&txn).await?,
        trusts: trust::Entity::find().all(&txn).await?,
        local_health_boards: local_health_board::Entity::find().all(&txn).await?,
        integrated_care_boards: integrated_care_board::Entity::find().all(&txn).await?,
        nhs_england_regions: nhs_england_region::Entity::find().all(&txn).await?,
        paediatric_diabetes_units: paediatric_diabetes_unit::Entity::find().all(&txn).await?,
        paediatric_diabetes_networks: paediatric_diabetes_network::Entity::find()
            .all(&txn)
            .await?,
        open_uk_networks: open_uk_network::Entity::find().all(&txn).await?,
        london_boroughs: london_borough::Entity::find().all(&txn).await?,
        countries: country::Entity::find().all(&txn).await?,
        memberships: Vec::new(),
        change_log: change_log::Entity::find()
            .order_by_asc(change_log::Column::Id)
            .all(&txn)
            .await?,
        successions: ord_succession::Entity::find()
            .order_by_asc(ord_succession::Column::Id)
            .all(&txn)
            .await?,
    };
    for edge in Edge::ALL {
        rows.memberships
            .push((edge, memberships::all_rows(&txn, edge).await?));
    }
    txn.commit().await?;
    Ok(rows)
}

/// The change-log entries of one record that bear on its existence and attributes.
#[derive(Default)]
struct RecordLog<'a> {
    entries: Vec<&'a change_log::Model>,
}

fn parse(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// Builds one table: existence from `create`/`delete`/`restore` entries (the table has the last
/// word on whether a record exists now), attribute versions by undoing `update` and `restore`
/// entries from the current row backwards.
fn table<M: Kind>(
    models: Vec<M>,
    logs: &HashMap<(&str, &str), RecordLog<'_>>,
    starts: Day,
    deleted_now: impl Fn(&M) -> Option<Day>,
) -> Table<M> {
    let records = models
        .into_iter()
        .map(|model| {
            let code = model.code().to_string();
            let log = logs.get(&(M::TABLE.entity.as_str(), code.as_str()));
            let entries: &[&change_log::Model] = log.map(|l| l.entries.as_slice()).unwrap_or(&[]);
            let existence = existence(entries, starts, deleted_now(&model));
            let first_day = existence.first().map(|p| p.from).unwrap_or(starts);
            let versions = versions(model, entries, first_day);
            Record {
                id: versions[0].1.id(),
                existence,
                versions,
            }
        })
        .collect();
    Table::new(records)
}

/// The periods a record exists, from its lifecycle entries (in effective order), the day the
/// change log's history starts, and the day the table says it was deleted (if it does).
pub(crate) fn existence(
    entries: &[&change_log::Model],
    starts: Day,
    deleted_now: Option<Day>,
) -> Vec<Period> {
    let mut periods: Vec<Period> = Vec::new();
    let mut open: Option<Day> = None;
    for e in entries {
        match ChangeAction::parse(&e.action) {
            Some(ChangeAction::Create | ChangeAction::Restore) if open.is_none() => {
                open = Some(e.effective_on)
            }
            Some(ChangeAction::Delete) => {
                if let Some(from) = open.take() {
                    periods.push(Period {
                        from,
                        to: Some(e.effective_on.max(from)),
                    });
                }
            }
            _ => {}
        }
    }
    if periods.is_empty() && open.is_none() {
        // Written without a creation entry (e.g. before the change log): there from the start.
        open = Some(starts);
    }
    match (open, deleted_now) {
        (Some(from), Some(gone)) => periods.push(Period {
            from,
            to: Some(gone.max(from)),
        }),
        (Some(from), None) => periods.push(Period { from, to: None }),
        (None, None) => {
            // The log says deleted but the row is live (restored without an entry): live from
            // the last deletion on.
            let from = periods.last().and_then(|p| p.to).unwrap_or(starts);
            periods.push(Period { from, to: None });
        }
        (None, Some(_)) => {}
    }
    periods.retain(|p| p.to.is_none_or(|to| to > p.from));
    periods
}

fn versions<M: Kind>(
    current: M,
    entries: &[&change_log::Model],
    first_day: Day,
) -> Vec<(Day, Arc<M>)> {
    let id = current.id();
    let Ok(Value::Object(mut state)) = serde_json::to_value(&current) else {
        return vec![(first_day, Arc::new(current))];
    };
    let mut newest_first: Vec<(Day, Arc<M>)> = vec![];
    let mut latest_day: Option<Day> = None;
    let mut latest = Arc::new(current);
    for e in entries.iter().rev() {
        let undo: Vec<(String, Value)> = match (ChangeAction::parse(&e.action), &e.field) {
            (Some(ChangeAction::Update), Some(field)) if state.contains_key(field) => {
                vec![(field.clone(), parse(&e.before).unwrap_or(Value::Null))]
            }
            (Some(ChangeAction::Restore), _) => match parse(&e.before) {
                Some(Value::Object(before)) => before
                    .into_iter()
                    .filter(|(k, _)| state.contains_key(k) && k != "deleted_at")
                    .collect(),
                _ => vec![],
            },
            _ => continue,
        };
        if e.effective_on <= first_day {
            // Changes dated on or before the first day are part of the first version.
            continue;
        }
        if latest_day != Some(e.effective_on) {
            newest_first.push((e.effective_on, latest.clone()));
            latest_day = Some(e.effective_on);
        }
        for (k, v) in undo {
            state.insert(k, v);
        }
        match serde_json::from_value::<M>(Value::Object(state.clone())) {
            Ok(mut m) => {
                m.set_id(id);
                latest = Arc::new(m);
            }
            Err(_) => break,
        }
    }
    newest_first.push((first_day, latest));
    newest_first.reverse();
    newest_first
}

impl Snapshot {
    /// Derives the read model from the rows (no I/O).
    pub fn build(rows: Rows, built_at: DateTime<Utc>) -> Snapshot {
        let history_starts_on = rows
            .change_log
            .iter()
            .filter(|e| e.action == ChangeAction::Create.as_str())
            .map(|e| e.effective_on)
            .min()
            .unwrap_or_else(crate::seed::reference_date);
        let mut logs: HashMap<(&str, &str), RecordLog<'_>> = HashMap::new();
        for e in &rows.change_log {
            if matches!(
                ChangeAction::parse(&e.action),
                Some(
                    ChangeAction::Create
                        | ChangeAction::Delete
                        | ChangeAction::Restore
                        | ChangeAction::Update
                )
            ) {
                logs.entry((e.entity.as_str(), e.code.as_str()))
                    .or_default()
                    .entries
                    .push(e);
            }
        }
        // Entries of one record in effective order (ties in the order they were written).
        for log in logs.values_mut() {
            log.entries.sort_by_key(|e| (e.effective_on, e.id));
        }
        let starts = history_starts_on;
        let organisations = table(
            rows.organisations,
            &logs,
            starts,
            |m: &organisation::Model| m.deleted_at.map(|d| deletion_day(&logs, &m.ods_code, d)),
        );
        let edges = rows
            .memberships
            .into_iter()
            .map(|(edge, list)| {
                let list = list
                    .into_iter()
                    .map(|m| Membership {
                        child: m.child_id,
                        parent: m.parent_id,
                        period: Period {
                            from: m.valid_from,
                            to: m.valid_to,
                        },
                    })
                    .collect();
                (edge, EdgeIndex::new(list))
            })
            .collect();
        let (predecessors, successors) = successions(&rows.successions);
        Snapshot {
            version: rows.version,
            built_at,
            history_starts_on,
            organisations,
            trusts: table(rows.trusts, &logs, starts, |m: &trust::Model| {
                closed_in_log(&logs, memberships::TRUSTS.entity, &m.ods_code)
            }),
            local_health_boards: table(rows.local_health_boards, &logs, starts, never),
            integrated_care_boards: table(
                rows.integrated_care_boards,
                &logs,
                starts,
                |m: &integrated_care_board::Model| {
                    closed_in_log(
                        &logs,
                        memberships::INTEGRATED_CARE_BOARDS.entity,
                        &m.ods_code,
                    )
                },
            ),
            nhs_england_regions: table(rows.nhs_england_regions, &logs, starts, never),
            paediatric_diabetes_units: table(
                rows.paediatric_diabetes_units,
                &logs,
                starts,
                |m: &paediatric_diabetes_unit::Model| {
                    closed_in_log(
                        &logs,
                        memberships::PAEDIATRIC_DIABETES_UNITS.entity,
                        &m.pz_code,
                    )
                },
            ),
            paediatric_diabetes_networks: table(
                rows.paediatric_diabetes_networks,
                &logs,
                starts,
                never,
            ),
            open_uk_networks: table(rows.open_uk_networks, &logs, starts, never),
            london_boroughs: table(rows.london_boroughs, &logs, starts, never),
            countries: table(rows.countries, &logs, starts, never),
            edges,
            predecessors,
            successors,
            site_points: Default::default(),
        }
    }
}

/// For kinds without a deletion column whose records a reorganisation closes (trusts, ICBs,
/// PDUs): the log has the last word, so a record whose last lifecycle entry is a `delete` is
/// closed from that day (otherwise `existence` would read it as restored without an entry).
fn closed_in_log(
    logs: &HashMap<(&str, &str), RecordLog<'_>>,
    entity: RecordKind,
    code: &str,
) -> Option<Day> {
    let last = logs
        .get(&(entity.as_str(), code))?
        .entries
        .iter()
        .rev()
        .find(|e| {
            matches!(
                ChangeAction::parse(&e.action),
                Some(ChangeAction::Create | ChangeAction::Delete | ChangeAction::Restore)
            )
        })?;
    (last.action == ChangeAction::Delete.as_str()).then_some(last.effective_on)
}

/// For kinds that are never deleted.
fn never<M>(_: &M) -> Option<Day> {
    None
}

/// The day a deleted site stopped existing: its last `delete` entry's effective day, else the
/// day it was marked.
fn deletion_day(
    logs: &HashMap<(&str, &str), RecordLog<'_>>,
    code: &str,
    marked: DateTime<Utc>,
) -> Day {
    logs.get(&(memberships::ORGANISATIONS.entity.as_str(), code))
        .and_then(|l| {
            l.entries
                .iter()
                .rev()
                .find(|e| e.action == ChangeAction::Delete.as_str())
        })
        .map(|e| e.effective_on)
        .unwrap_or_else(|| marked.date_naive())
}

type Links = rustc_hash::FxHashMap<String, Vec<Succession>>;

/// Successions both ways: a record's `predecessor` is that record's successor and vice versa.
fn successions(rows: &[ord_succession::Model]) -> (Links, Links) {
    let mut pred = Links::default();
    let mut succ = Links::default();
    let add = |map: &mut Links, of: &str, other: &str, on: Option<Day>| {
        let list = map.entry(of.to_string()).or_default();
        if !list.iter().any(|s| s.code == other) {
            list.push(Succession {
                code: other.to_string(),
                effective_on: on,
            });
        }
    };
    for s in rows {
        match SuccessionKind::parse(&s.kind) {
            Some(SuccessionKind::Predecessor) => {
                add(&mut pred, &s.ods_code, &s.target_code, s.effective_on);
                add(&mut succ, &s.target_code, &s.ods_code, s.effective_on);
            }
            Some(SuccessionKind::Successor) => {
                add(&mut succ, &s.ods_code, &s.target_code, s.effective_on);
                add(&mut pred, &s.target_code, &s.ods_code, s.effective_on);
            }
            _ => {}
        }
    }
    for list in pred.values_mut().chain(succ.values_mut()) {
        list.sort_by(|a, b| (a.effective_on, &a.code).cmp(&(b.effective_on, &b.code)));
    }
    (pred, succ)
}
