//! Shared test support: a fresh database per test (SQLite always; PostgreSQL when
//! `TEST_DATABASE_URL` is set), the app as `serve` builds it, a mock ORD (`ord`), a statement
//! counter, and GraphQL/HTTP helpers.
#![allow(dead_code)]

pub mod fhir;
pub mod ord;
pub mod ordered_json;
mod pg_cleanup;
pub mod sync_env;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use nhs_organisations::graphql::{build_schema, AppSchema};
use nhs_organisations::{db, seed};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A test database, removed when dropped: its directory (SQLite) or the database itself
/// (PostgreSQL, by a background dropper; anything left is dropped when the run ends).
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    _dir: Option<TempDir>,
    /// The PostgreSQL database's name.
    pg_name: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            pg_cleanup::drop_later(name);
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("nhs_test_{}_{}_{}", std::process::id(), n, nanos)
}

/// Whether tests run against PostgreSQL.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').unwrap_or(base.len());
    format!("{}/{}{}", &base[..cut], name, query)
}

/// Seeded templates kept for the whole test binary (SQLite files or PostgreSQL databases): the
/// reference data alone (the structure of 2024-08-31), and with the bundled history applied.
static TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();
static CURRENT_TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();
static TEMPLATE_DIR: OnceLock<TempDir> = OnceLock::new();

async fn seed_template(conn: &DatabaseConnection, history: bool) -> Result<(), String> {
    let seeded = if history {
        seed::seed(conn).await
    } else {
        seed::seed_reference_data(conn).await
    };
    seeded.map(|_| ()).map_err(|e| e.to_string())
}

async fn build_template(history: bool) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    if let Some(admin_url) = postgres_url() {
        pg_cleanup::run_started(&admin_url);
        let name = format!("{}_tmpl{}", unique_name(), if history { "h" } else { "" });
        let admin = db::connect(&admin_url).await.map_err(|e| err(&e))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| err(&e))?;
        admin.close().await.map_err(|e| err(&e))?;
        let url = replace_db_name(&admin_url, &name);
        let conn = db::connect(&url).await.map_err(|e| err(&e))?;
        db::migrate(&conn).await.map_err(|e| err(&e))?;
        seed_template(&conn, history).await?;
        conn.close().await.map_err(|e| err(&e))?;
        Ok(name)
    } else {
        let dir = TEMPLATE_DIR.get_or_init(|| {
            let dir = TempDir::new().expect("temp dir");
            // A static is never dropped: the directory goes when the process exits.
            pg_cleanup::remove_at_exit(dir.path().to_path_buf());
            dir
        });
        let path = dir
            .path()
            .join(if history { "current.db" } else { "template.db" });
        let url = format!("sqlite://{}", path.display());
        let conn = db::connect(&url).await.map_err(|e| err(&e))?;
        db::migrate(&conn).await.map_err(|e| err(&e))?;
        seed_template(&conn, history).await?;
        conn.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map_err(|e| err(&e))?;
        conn.close().await.map_err(|e| err(&e))?;
        Ok(path.display().to_string())
    }
}

async fn template(history: bool) -> String {
    // Tests run on separate runtimes; the first builds the template on its own thread while
    // the others wait.
    let cell = if history {
        &CURRENT_TEMPLATE
    } else {
        &TEMPLATE
    };
    let built = cell.get_or_init(|| {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(build_template(history)))
        })
        .join()
        .unwrap_or_else(|_| Err("template builder panicked".into()))
    });
    match built {
        Ok(t) => t.clone(),
        Err(e) => panic!("cannot build the seeded template database: {e}"),
    }
}

impl TestDb {
    /// A migrated, empty database.
    pub async fn empty() -> TestDb {
        Self::create(None).await
    }

    /// A migrated database holding the bundled reference data alone, the structure of
    /// 2024-08-31 (copied from a template).
    pub async fn seeded() -> TestDb {
        let t = template(false).await;
        Self::create(Some(t)).await
    }

    /// A database as `seed` leaves it: the reference data and the bundled history applied.
    pub async fn current() -> TestDb {
        let t = template(true).await;
        Self::create(Some(t)).await
    }

    async fn create(template: Option<String>) -> TestDb {
        if let Some(admin_url) = postgres_url() {
            pg_cleanup::run_started(&admin_url);
            let name = unique_name();
            let admin = db::connect(&admin_url)
                .await
                .expect("connect to TEST_DATABASE_URL");
            let sql = match &template {
                Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
                None => format!("CREATE DATABASE {name}"),
            };
            admin
                .execute_unprepared(&sql)
                .await
                .expect("create test database");
            let _ = admin.close().await;
            let url = replace_db_name(&admin_url, &name);
            // Owned from here on, so a failure below still drops it.
            let mut test_db = TestDb {
                db: DatabaseConnection::Disconnected,
                url,
                _dir: None,
                pg_name: Some(name),
            };
            test_db.db = db::connect(&test_db.url)
                .await
                .expect("connect to test database");
            db::migrate(&test_db.db).await.expect("migrate");
            test_db
        } else {
            let dir = TempDir::new().expect("temp dir");
            let path: PathBuf = dir.path().join("test.db");
            if let Some(t) = &template {
                std::fs::copy(t, &path).expect("copy template");
            }
            let url = format!("sqlite://{}", path.display());
            let conn = db::connect(&url).await.expect("connect to sqlite");
            db::migrate(&conn).await.expect("migrate");
            TestDb {
                db: conn,
                url,
                _dir: Some(dir),
                pg_name: None,
            }
        }
    }

    /// A second connection to the same database that counts the statements it runs.
    pub async fn counting(&self) -> (DatabaseConnection, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let mut conn = db::connect(&self.url).await.expect("connect");
        let c = count.clone();
        conn.set_metric_callback(move |_info| {
            c.fetch_add(1, Ordering::SeqCst);
            if std::env::var("PRINT_SQL").is_ok() {
                eprintln!(
                    "SQL: {} {}",
                    _info.statement.sql.chars().take(110).collect::<String>(),
                    _info.statement.sql.matches("?").count()
                );
            }
        });
        (conn, count)
    }

    pub fn schema(&self) -> AppSchema {
        build_schema(self.db.clone())
    }
}

/// Runs a GraphQL request and returns the JSON response (`data` and `errors`).
pub async fn gql(schema: &AppSchema, query: &str) -> Value {
    gql_vars(schema, query, json!({})).await
}

pub async fn gql_vars(schema: &AppSchema, query: &str, variables: Value) -> Value {
    let req = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let resp = schema.execute(req).await;
    serde_json::to_value(&resp).expect("response serialises")
}

/// Like `gql`, with an admin bearer token attached.
pub async fn gql_admin(schema: &AppSchema, query: &str, token: &str) -> Value {
    let req = async_graphql::Request::new(query)
        .data(nhs_organisations::auth::BearerToken(token.to_string()));
    serde_json::to_value(&schema.execute(req).await).expect("response serialises")
}

/// The first error's `extensions.code`, if any.
pub fn error_code(resp: &Value) -> Option<String> {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .map(String::from)
}

/// Asserts a response has no errors and returns its data.
pub fn data(resp: Value) -> Value {
    assert!(
        resp.get("errors")
            .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
        "unexpected errors: {resp}"
    );
    resp["data"].clone()
}

/// The server settings of the tests: the environment and defaults, as `serve` reads them, but
/// without the per-client rate limit (every test client shares 127.0.0.1; rate-limit tests set
/// it) and without an ORD schedule.
pub fn settings() -> nhs_organisations::config::ServerSettings {
    let mut settings = nhs_organisations::config::ServerSettings::default_from_env();
    settings.rate_limit_rps = 0;
    settings.sync_every = None;
    settings
}

/// The app as `serve` builds it (`AppState::start`), over the test settings.
pub async fn app(
    db: DatabaseConnection,
    ord: Option<nhs_organisations::ord::OrdClient>,
) -> nhs_organisations::http::AppState {
    app_with(db, ord, &settings()).await
}

pub async fn app_with(
    db: DatabaseConnection,
    ord: Option<nhs_organisations::ord::OrdClient>,
    settings: &nhs_organisations::config::ServerSettings,
) -> nhs_organisations::http::AppState {
    app_over(db, ord.map(Into::into), settings).await
}

/// As `app_with`, over any ODS source (the FHIR client, say).
pub async fn app_over(
    db: DatabaseConnection,
    source: Option<nhs_organisations::sync::SharedSource>,
    settings: &nhs_organisations::config::ServerSettings,
) -> nhs_organisations::http::AppState {
    nhs_organisations::http::AppState::start(db, source, settings)
        .await
        .expect("the app starts")
}

/// Serves the app on a loopback port and returns its base URL.
pub async fn serve(test_db: &TestDb) -> String {
    serve_with(test_db, settings()).await
}

pub async fn serve_with(
    test_db: &TestDb,
    settings: nhs_organisations::config::ServerSettings,
) -> String {
    serve_conn(test_db.db.clone(), settings).await
}

/// Serves the app over any connection (e.g. one through a fault-injecting proxy).
pub async fn serve_conn(
    db: DatabaseConnection,
    settings: nhs_organisations::config::ServerSettings,
) -> String {
    let state = app_with(db, None, &settings).await;
    serve_state(state, settings).await
}

/// Serves an app whose snapshot is not built yet (`AppState::new`, unlike `serve`), so that
/// the first request reads the database: for what a failing database does to a request.
pub async fn serve_unbuilt(test_db: &TestDb) -> String {
    let settings = settings();
    let state = nhs_organisations::http::AppState::new(test_db.db.clone(), None, &settings.limits);
    serve_state(state, settings).await
}

/// Serves an app the test holds on to (e.g. to reach its snapshot store).
pub async fn serve_state(
    state: nhs_organisations::http::AppState,
    settings: nhs_organisations::config::ServerSettings,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The server main runs, connection handling included.
    tokio::spawn(async move {
        let _ = nhs_organisations::http::serve_listener(
            listener,
            state,
            &settings,
            std::future::pending(),
        )
        .await;
    });
    format!("http://{addr}")
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nhs-organisations");

pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

pub fn days_ago(n: i64) -> chrono::NaiveDate {
    today() - chrono::Duration::days(n)
}

/// Every row of every table (SQLite's own included), as JSON, by table name, in primary-key
/// order: two dumps are equal when nothing changed.
pub async fn dump(db: &DatabaseConnection) -> BTreeMap<String, Vec<Value>> {
    dump_except(db, &[]).await
}

/// `dump` without the columns named in `skip`, in any table.
pub async fn dump_except(db: &DatabaseConnection, skip: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let backend = db.get_database_backend();
    let list = match backend {
        DatabaseBackend::Postgres => {
            "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1",
    };
    #[derive(FromQueryResult)]
    struct Table {
        name: String,
    }
    let tables = Table::find_by_statement(Statement::from_string(backend, list))
        .all(db)
        .await
        .expect("list tables");
    let mut out = BTreeMap::new();
    for t in tables {
        let sql = format!("SELECT * FROM \"{}\" ORDER BY 1", t.name);
        let mut rows = Value::find_by_statement(Statement::from_string(backend, sql))
            .all(db)
            .await
            .unwrap_or_else(|e| panic!("read {}: {e}", t.name));
        for r in &mut rows {
            if let Some(o) = r.as_object_mut() {
                for column in skip {
                    o.remove(*column);
                }
            }
        }
        out.insert(t.name, rows);
    }
    // The dump must see real columns on both backends, or comparing dumps proves nothing.
    let site = out.get("organisations").and_then(|rows| rows.first());
    assert!(site.is_some_and(|s| s.get("ods_code").is_some()
        && s.get("active").is_some()
        && s.get("deleted_at").is_some()));
    assert!(out.get("change_log").is_some_and(|rows| !rows.is_empty()));
    assert!(out.contains_key("organisation_trusts"));
    out
}

/// The one integer a query such as `SELECT COUNT(*) …` answers.
pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

/// Sends raw bytes to a server in parts, pausing after each as asked, and returns everything
/// it answers until it closes the connection (or `read_for` passes).
pub async fn raw_http(
    base: &str,
    parts: &[(&[u8], std::time::Duration)],
    read_for: std::time::Duration,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for (bytes, pause) in parts {
        // The server may answer (and close) before everything is sent.
        if stream.write_all(bytes).await.is_err() {
            break;
        }
        tokio::time::sleep(*pause).await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(read_for, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP response.
pub fn raw_status(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `ok` holds, for at most `within`; false if it never did. For writes made by
/// another process, which the server's snapshot picks up within a second.
pub async fn eventually<F, Fut>(within: std::time::Duration, mut ok: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + within;
    loop {
        if ok().await {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Starts the binary's `serve` on a free port over `url` and waits for `/health`.
pub async fn start_server(url: &str, dir: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let child = std::process::Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env("RATE_LIMIT_RPS", "0")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    // Killed and waited for on drop, whatever the test does.
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < until {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return (server, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("server did not come up");
}

/// A server process, killed and waited for when dropped, whatever the test does.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
