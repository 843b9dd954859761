//! Admin writes released together, on one site and on twenty: the hierarchy stays consistent
//! (no deleted site with a current membership, one change-log row per real change) and no
//! write fails with INTERNAL ("database is locked", unique-index violations).
use crate::common;

use std::sync::Arc;

use common::TestDb;
use nhs_organisations::codes::{OdsCode, PzCode};
use nhs_organisations::entities::{change_log, organisation, paediatric_diabetes_unit};
use nhs_organisations::errors::ErrorCode;
use nhs_organisations::memberships::{self, Moment};
use nhs_organisations::mergers::{
    self, MembershipUpdate, MergerStatus, Setting, ORGANISATION_EDGES,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct RowCounts {
    rows: i64,
    closed: i64,
}

async fn membership_counts(db: &DatabaseConnection) -> RowCounts {
    let mut total = RowCounts::default();
    for edge in ORGANISATION_EDGES {
        let sql = format!(
            "SELECT COUNT(*) AS n, COUNT(valid_to) AS c FROM {}",
            edge.table()
        );
        let row = db
            .query_one(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("count")
            .expect("a row");
        total.rows += row.try_get::<i64>("", "n").expect("n");
        total.closed += row.try_get::<i64>("", "c").expect("c");
    }
    total
}

async fn last_change_id(db: &DatabaseConnection) -> i32 {
    change_log::Entity::find()
        .order_by_desc(change_log::Column::Id)
        .one(db)
        .await
        .expect("change log")
        .map_or(0, |c| c.id)
}

/// What one write did, as its caller saw it.
#[derive(Debug)]
enum Outcome {
    Report(Vec<MergerStatus>),
    Failed(ErrorCode, String),
}

async fn write(db: DatabaseConnection, code: String, n: usize, units: Arc<Vec<String>>) -> Outcome {
    let code = OdsCode::parse(&code).expect("an ODS code");
    let result = match n % 4 {
        0 => mergers::delete_organisations(&db, std::slice::from_ref(&code), false, "t").await,
        1 | 3 => {
            let unit = PzCode::parse(&units[n % units.len()]).expect("a PZ code");
            let update = MembershipUpdate {
                paediatric_diabetes_unit: Setting::Set(unit),
                ..MembershipUpdate::new(code)
            };
            mergers::update_memberships(&db, &update, "t").await
        }
        _ => {
            let update = MembershipUpdate {
                paediatric_diabetes_unit: Setting::Clear,
                open_uk_network: Setting::Clear,
                ..MembershipUpdate::new(code)
            };
            mergers::update_memberships(&db, &update, "t").await
        }
    };
    match result {
        Ok(r) => Outcome::Report(r.results.iter().map(|r| r.status).collect()),
        Err(e) => Outcome::Failed(e.code(), e.to_string()),
    }
}

/// Runs the writes at once (released by a barrier) and checks the database afterwards.
async fn run_and_check(t: &TestDb, codes: Vec<String>) {
    let db = &t.db;
    let units: Vec<String> = paediatric_diabetes_unit::Entity::find()
        .limit(5)
        .all(db)
        .await
        .expect("units")
        .into_iter()
        .map(|u| u.pz_code)
        .collect();
    let units = Arc::new(units);
    let before = membership_counts(db).await;
    let first_new = last_change_id(db).await;
    let deleted_before = organisation::Entity::find()
        .filter(organisation::Column::DeletedAt.is_not_null())
        .count(db)
        .await
        .expect("count") as usize;

    let barrier = Arc::new(tokio::sync::Barrier::new(codes.len()));
    let mut tasks = Vec::new();
    for (n, code) in codes.iter().enumerate() {
        let (db, code, units, barrier) = (db.clone(), code.clone(), units.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            write(db, code, n, units).await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    for o in &outcomes {
        if let Outcome::Failed(code, msg) = o {
            assert_ne!(*code, ErrorCode::Internal, "{msg}");
        }
    }

    // No deleted site has a current membership.
    let deleted: Vec<i32> = organisation::Entity::find()
        .filter(organisation::Column::DeletedAt.is_not_null())
        .all(db)
        .await
        .expect("sites")
        .into_iter()
        .map(|o| o.id)
        .collect();
    for edge in ORGANISATION_EDGES {
        let current = memberships::parents_of(db, edge, &deleted, Moment::Current)
            .await
            .expect("memberships");
        assert!(
            current.is_empty(),
            "deleted sites still in {edge:?}: {current:?}"
        );
    }

    // Each site is deleted once, and the change log says so once.
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    for code in &unique {
        let deletes = change_log::Entity::find()
            .filter(change_log::Column::Id.gt(first_new))
            .filter(change_log::Column::Code.eq(code.as_str()))
            .filter(change_log::Column::Action.eq("delete"))
            .count(db)
            .await
            .expect("count");
        assert!(deletes <= 1, "{code} deleted {deletes} times in the log");
    }
    let reported_deletes = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Report(s) => Some(s.iter().filter(|s| **s == MergerStatus::Deleted).count()),
            Outcome::Failed(..) => None,
        })
        .sum::<usize>();
    let logged_deletes = change_log::Entity::find()
        .filter(change_log::Column::Id.gt(first_new))
        .filter(change_log::Column::Action.eq("delete"))
        .count(db)
        .await
        .expect("count") as usize;
    assert_eq!(reported_deletes, logged_deletes, "{outcomes:?}");
    assert_eq!(
        logged_deletes,
        deleted.len() - deleted_before,
        "one delete per deleted site"
    );

    // One change-log row per real change: every opening is a new row, every closing a row
    // that was current.
    let after = membership_counts(db).await;
    let logged = change_log::Entity::find()
        .filter(change_log::Column::Id.gt(first_new))
        .filter(change_log::Column::Action.eq("membership"))
        .all(db)
        .await
        .expect("log");
    let opened = logged.iter().filter(|c| c.after.is_some()).count() as i64;
    let closed = logged.iter().filter(|c| c.before.is_some()).count() as i64;
    assert_eq!(
        opened,
        after.rows - before.rows,
        "openings logged vs rows added"
    );
    assert_eq!(
        closed,
        after.closed - before.closed,
        "closings logged vs rows closed"
    );
}

async fn current_sites(db: &DatabaseConnection, n: u64) -> Vec<String> {
    organisation::Entity::find()
        .filter(organisation::Column::DeletedAt.is_null())
        .order_by_asc(organisation::Column::OdsCode)
        .limit(n)
        .all(db)
        .await
        .expect("sites")
        .into_iter()
        .map(|o| o.ods_code)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_mixed_writes_on_one_site_keep_the_hierarchy_consistent() {
    let t = TestDb::seeded().await;
    for _ in 0..3 {
        let site = current_sites(&t.db, 1).await.remove(0);
        run_and_check(&t, vec![site; 20]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_mixed_writes_on_twenty_sites_never_fail_with_internal() {
    let t = TestDb::seeded().await;
    for _ in 0..2 {
        let sites = current_sites(&t.db, 20).await;
        assert_eq!(sites.len(), 20);
        run_and_check(&t, sites).await;
    }
}

#[tokio::test]
async fn a_constraint_violation_is_a_conflict_with_a_retry_message() {
    use nhs_organisations::errors::AppError;
    let t = TestDb::seeded().await;
    let txn = nhs_organisations::writes::begin(&t.db)
        .await
        .expect("begin");
    // A second current trust membership for a site: the partial unique index refuses it.
    let trust_edge = memberships::Edge::OrganisationTrust;
    let site = memberships::children_with_parent(&*txn, trust_edge, Moment::Current)
        .await
        .expect("sites")[0];
    let parent = memberships::parents_of(&*txn, trust_edge, &[site], Moment::Current)
        .await
        .expect("parent")[&site];
    let err = memberships::insert(
        &*txn,
        trust_edge,
        &[memberships::NewMembership {
            child_id: site,
            parent_id: parent,
            valid_from: chrono::Utc::now().date_naive(),
        }],
    )
    .await
    .map_err(AppError::from)
    .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert!(err.to_string().contains("Retry"), "{err}");
}

/// Replicas are other processes: the lock they would meet is the database's, not ours.
#[tokio::test]
async fn a_write_transaction_holds_the_database_write_lock_from_its_start() {
    let t = TestDb::seeded().await;
    let other = nhs_organisations::db::connect(&t.url)
        .await
        .expect("a second pool, as another process would have");
    let txn = nhs_organisations::writes::begin(&t.db)
        .await
        .expect("begin");
    let backend = t.db.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s.to_string());
    let key = nhs_organisations::writes::ADVISORY_KEY;
    if common::postgres_url().is_some() {
        let row = other
            .query_one(sql(&format!("SELECT pg_try_advisory_lock({key}) AS got")))
            .await
            .expect("try")
            .expect("row");
        assert!(
            !row.try_get::<bool>("", "got").expect("got"),
            "the lock is held"
        );
    } else {
        let held = other
            .execute_unprepared("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK")
            .await;
        assert!(held.is_err(), "another connection took the write lock");
    }
    txn.rollback().await.expect("rollback");
    if common::postgres_url().is_some() {
        let row = other
            .query_one(sql(&format!(
                "SELECT pg_try_advisory_lock({key}) AS got, pg_advisory_unlock({key}) AS released"
            )))
            .await
            .expect("try")
            .expect("row");
        assert!(row.try_get::<bool>("", "got").expect("got"), "free again");
    } else {
        other
            .execute_unprepared("BEGIN IMMEDIATE; ROLLBACK")
            .await
            .expect("free again");
    }
}
