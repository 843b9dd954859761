//! Faults: internal errors say nothing about internals, a missing database makes `/health`
//! 503 and requests fail fast, and the service recovers by itself when the database is back.
use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{serve_conn, serve_unbuilt, TestDb};
use nhs_organisations::db;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

const QUERY: &str = "{ organisation(odsCode: \"RVV01\") { odsCode name trust { name } } }";

async fn query(base: &str) -> (reqwest::StatusCode, Option<String>, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": QUERY}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, id, resp.json().await.expect("json"))
}

async fn health(base: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/health"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// What an internal error may never show.
fn assert_no_internals(body: &str) {
    let lower = body.to_lowercase();
    for leak in [
        "select",
        "sqlite",
        "postgres",
        "table",
        "relation",
        "organisations",
        "no such",
        "/tmp",
        "/work",
        "/root",
        ".rs",
        "panicked",
        "backtrace",
        "sqlx",
        "database error",
    ] {
        assert!(!lower.contains(leak), "response leaks {leak:?}: {body}");
    }
}

#[tokio::test]
async fn a_database_failure_is_internal_with_the_request_id_and_no_details() {
    let t = TestDb::seeded().await;
    let base = serve_unbuilt(&t).await;
    t.db.execute_unprepared("ALTER TABLE organisations RENAME TO organisations_gone")
        .await
        .expect("rename");
    let (status, id, body) = query(&base).await;
    assert_eq!(status, 200);
    let id = id.expect("x-request-id");
    let err = &body["errors"][0];
    assert_eq!(err["extensions"]["code"], "INTERNAL", "{body}");
    assert_eq!(err["extensions"]["requestId"], id.as_str());
    assert_eq!(err["extensions"]["reference"], id.as_str());
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains(&id)),
        "{body}"
    );
    assert_no_internals(&body.to_string());

    // Put the table back: the same server answers again, no restart.
    t.db.execute_unprepared("ALTER TABLE organisations_gone RENAME TO organisations")
        .await
        .expect("rename back");
    let (_, _, body) = query(&base).await;
    assert_eq!(body["data"]["organisation"]["odsCode"], "RVV01", "{body}");
}

#[tokio::test]
async fn a_closed_pool_gives_503_health_and_fast_internal_errors() {
    let t = TestDb::seeded().await;
    let base = serve_unbuilt(&t).await;
    assert_eq!(health(&base).await, 200);
    t.db.clone().close().await.expect("close the pool");
    let started = Instant::now();
    assert_eq!(health(&base).await, 503);
    let (status, _, body) = query(&base).await;
    assert!(status == 200 || status == 503, "{status}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    assert_no_internals(&body.to_string());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "should fail fast"
    );
}

/// A TCP proxy in front of PostgreSQL that can refuse or black-hole connections.
struct Proxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

const UP: u8 = 0;
const REFUSE: u8 = 1;
const BLACK_HOLE: u8 = 2;

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(AtomicU8::new(UP));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (m, l) = (mode.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let link = match m.load(Ordering::SeqCst) {
                    UP => tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }),
                    REFUSE => {
                        drop(client);
                        continue;
                    }
                    _ => tokio::spawn(async move {
                        // Accept, then say nothing until the link is cut.
                        let _held = client;
                        std::future::pending::<()>().await;
                    }),
                };
                l.lock().expect("links").push(link);
            }
        });
        Proxy { addr, mode, links }
    }

    /// Switches mode and cuts every open connection, as a database restart would.
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }
}

fn host_port(url: &str) -> Option<(String, String)> {
    let after_at = url.split_once('@').map(|(_, r)| r)?;
    let host_port = after_at.split('/').next()?;
    Some((host_port.to_string(), url.replacen(host_port, "{}", 1)))
}

async fn wait_for(mut ok: impl AsyncFnMut() -> bool, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if ok().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn postgres_outage_fails_fast_and_recovers_without_a_restart() {
    if common::postgres_url().is_none() {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let t = TestDb::seeded().await;
    let (upstream, template) = host_port(&t.url).expect("host:port in TEST_DATABASE_URL");
    let proxy = Proxy::start(upstream).await;
    let via_proxy = template.replacen("{}", &proxy.addr.to_string(), 1);
    let conn = db::connect(&via_proxy)
        .await
        .expect("connect through proxy");
    let base = serve_conn(conn, common::settings()).await;

    let (_, _, body) = query(&base).await;
    assert_eq!(body["data"]["organisation"]["odsCode"], "RVV01", "{body}");
    assert_eq!(health(&base).await, 200);

    let key = nhs_organisations::auth::create_key(&t.db, "outage")
        .await
        .expect("key");
    let whoami = || async {
        let resp = reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .bearer_auth(&key)
            .json(&json!({"query": "mutation { whoami }"}))
            .send()
            .await
            .expect("whoami");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!(whoami().await.1["data"]["whoami"], "outage");

    for (mode, name) in [(REFUSE, "refused"), (BLACK_HOLE, "black hole")] {
        proxy.set(mode);
        let started = Instant::now();
        assert_eq!(health(&base).await, 503, "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: health hung"
        );
        // Reads go on from the last good snapshot.
        let (status, _, body) = query(&base).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            body["data"]["organisation"]["odsCode"], "RVV01",
            "{name}: {body}"
        );
        // Anything that needs the database fails fast with INTERNAL.
        let started = Instant::now();
        let (status, body) = whoami().await;
        assert!(status == 200 || status == 503, "{name}: {status}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INTERNAL",
            "{name}: {body}"
        );
        assert_no_internals(&body.to_string());
        // The pool's acquire timeout (3 s) bounds each of whoami's two statements.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{name}: write took {:?}",
            started.elapsed()
        );
    }

    proxy.set(UP);
    let recovered = wait_for(
        async || whoami().await.1["data"]["whoami"] == "outage",
        Duration::from_secs(15),
    )
    .await;
    assert!(recovered, "writes did not recover");
    assert_eq!(health(&base).await, 200);
}

#[tokio::test]
async fn a_request_stuck_on_a_lock_is_answered_503_at_the_timeout() {
    use sea_orm::{ConnectOptions, Database, TransactionTrait};
    let t = TestDb::seeded().await;
    let key = nhs_organisations::auth::create_key(&t.db, "slow")
        .await
        .expect("key");
    let mut settings = common::settings();
    settings.request_timeout_secs = 1;
    let base = common::serve_with(&t, settings).await;
    let whoami = || {
        reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .bearer_auth(&key)
            .json(&json!({"query": "mutation { whoami }"}))
            .send()
    };
    assert_eq!(whoami().await.expect("whoami").status(), 200);

    // Another client holds a write lock on the keys for longer than the timeout; whoami
    // records when the key was used, so it has to wait.
    let mut opts = ConnectOptions::new(t.url.clone());
    opts.max_connections(1).min_connections(1);
    let other = Database::connect(opts).await.expect("second connection");
    let txn = other.begin().await.expect("begin");
    txn.execute_unprepared("UPDATE admin_keys SET name = name")
        .await
        .expect("lock the keys");
    let started = Instant::now();
    let resp = whoami().await.expect("whoami");
    let took = started.elapsed();
    let status = resp.status();
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .expect("x-request-id");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&id), "{msg}");
    assert_no_internals(&body.to_string());
    assert!(
        took < Duration::from_millis(2_500),
        "answered after {took:?}"
    );

    txn.rollback().await.expect("release the lock");
    let _ = other.close().await;
    let body: Value = whoami().await.expect("whoami").json().await.expect("json");
    assert_eq!(body["data"]["whoami"], "slow", "{body}");
}
