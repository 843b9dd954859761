//! A database that cannot take writes: `/health` says so (503), and on SQLite writes recover
//! by themselves once the file is writable again (connections opened read-only are retired).
use crate::common;

use common::{postgres_url, serve_conn, settings, TestDb};
use nhs_organisations::{auth, db};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::Value;

/// The tests here run one at a time: retiring SQLite connections after a read-only spell is
/// process-wide (`writes::retire_connections`), so one test's recovery would close another's
/// pooled connections mid-test (and a new connection to a deleted file is not the old one).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn health(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/health"))
        .await
        .expect("health");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn read_works(base: &str) -> bool {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": "{ countries { code } }"}))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// The URL of the same database, opened so that nothing can be written.
fn read_only_url(t: &TestDb) -> String {
    if postgres_url().is_some() {
        format!("{}?options=-c%20default_transaction_read_only%3Don", t.url)
    } else {
        format!("{}?mode=ro", t.url)
    }
}

#[tokio::test]
async fn health_reports_a_read_only_database_and_reads_still_work() {
    let _serial = SERIAL.lock().await;
    let t = TestDb::seeded().await;
    let ro = db::connect(&read_only_url(&t))
        .await
        .expect("connect read-only");
    let base = serve_conn(ro, settings()).await;
    let (status, body) = health(&base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "read-only", "{body}");
    assert!(read_works(&base).await);

    let rw = serve_conn(t.db.clone(), settings()).await;
    let (status, body) = health(&rw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn sqlite_writes_recover_from_connections_stuck_read_only() {
    let _serial = SERIAL.lock().await;
    if postgres_url().is_some() {
        return; // a SQLite file's permissions; PostgreSQL has no such state
    }
    let t = TestDb::seeded().await;
    // Every pooled connection behaves as one opened while the file was read-only.
    let mut held = Vec::new();
    for _ in 0..16 {
        let txn = t.db.begin().await.expect("begin");
        txn.execute_unprepared("PRAGMA query_only = ON")
            .await
            .expect("pragma");
        held.push(txn);
    }
    for txn in held {
        txn.rollback().await.expect("rollback");
    }
    let direct =
        t.db.execute_unprepared("UPDATE admin_keys SET name = name WHERE 0")
            .await;
    assert!(direct.is_err(), "the pool is stuck read-only");
    auth::create_key(&t.db, "after-the-spell")
        .await
        .expect("a write on a fresh connection");
    let base = serve_conn(t.db.clone(), settings()).await;
    let (status, body) = health(&base).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn health_notices_a_deleted_sqlite_file() {
    let _serial = SERIAL.lock().await;
    if postgres_url().is_some() {
        return;
    }
    let t = TestDb::seeded().await;
    let base = serve_conn(t.db.clone(), settings()).await;
    assert_eq!(health(&base).await.0, 200);
    let path = db::sqlite_path(&t.url).expect("a file");
    std::fs::remove_file(&path).expect("delete");
    let (status, body) = health(&base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "file-missing", "{body}");
}
