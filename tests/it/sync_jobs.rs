//! Background sync jobs (`startSync`, `syncJob`, `syncJobs`) against a mock ORD: polling to the
//! end, one job at a time, the schedule as a job, failures, a restart during a job, and on
//! PostgreSQL two app instances sharing one database.
use crate::common;

use std::time::{Duration, Instant};

use common::ord::{record_from, MockOrd, PREFIX};
use common::sync_env::SyncEnv;
use common::{count, data, days_ago, dump_except, error_code, gql, gql_admin, TestDb};
use nhs_organisations::graphql::AppSchema;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const JOB: &str = "id state trigger actor since full dryRun requestedAt startedAt finishedAt \
    progress { done total } error report { dryRun listed fetched changes { odsCode field after } warnings }";

/// The shared sync test set-up, with this file's helpers.
struct Env(SyncEnv);

impl std::ops::Deref for Env {
    type Target = SyncEnv;

    fn deref(&self) -> &SyncEnv {
        &self.0
    }
}

impl Env {
    async fn new() -> Env {
        Env(SyncEnv::over(MockOrd::start().await, "jobs-admin").await)
    }

    /// ORD lists RVV01 as changed and answers its record renamed, after `delay`.
    async fn renamed(&self, delay: Duration) {
        self.ord.list(days_ago(30), &["RVV01"]).await;
        self.ord.notifications(&[]).await;
        let body = record_from("RVV01", "RVV01", "JOB NAME", days_ago(1));
        self.ord
            .respond(
                "RVV01",
                common::ord::json_response(200, &body).set_delay(delay),
            )
            .await;
    }
}

async fn start(schema: &AppSchema, key: &str, args: &str) -> Value {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({args})")
    };
    gql_admin(
        schema,
        &format!("mutation {{ startSync{args} {{ {JOB} }} }}"),
        key,
    )
    .await
}

async fn job(schema: &AppSchema, key: &str, id: &str) -> Value {
    let resp = gql_admin(
        schema,
        &format!("{{ syncJob(id: \"{id}\") {{ {JOB} }} }}"),
        key,
    )
    .await;
    data(resp)["syncJob"].clone()
}

/// Polls `syncJob(id)` until it has finished.
async fn finished(schema: &AppSchema, key: &str, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let j = job(schema, key, id).await;
        if j["state"] == "SUCCEEDED" || j["state"] == "FAILED" {
            return j;
        }
        assert!(Instant::now() < until, "job {id} never finished: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_job_polled_to_completion_reports_what_sync_from_ord_reports() {
    let env = Env::new().await;
    env.renamed(Duration::from_millis(300)).await;
    let started = data(start(&env.schema, &env.key, "").await)["startSync"].clone();
    assert!(
        ["QUEUED", "RUNNING"].contains(&started["state"].as_str().unwrap_or("")),
        "{started}"
    );
    assert_eq!(started["trigger"], "ADMIN");
    assert_eq!(started["actor"], "jobs-admin");
    assert!(started["report"].is_null());
    let id = started["id"].as_str().expect("id").to_string();
    let done = finished(&env.schema, &env.key, &id).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert!(done["error"].is_null());
    assert!(done["startedAt"].is_string() && done["finishedAt"].is_string());
    assert_eq!(done["progress"], json!({"done": 1, "total": 1}));
    let report = &done["report"];
    assert_eq!(report["listed"], 1);
    assert_eq!(report["dryRun"], false);
    assert!(report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["odsCode"] == "RVV01" && c["field"] == "name" && c["after"] == "JOB NAME"));
    // Applied, with its watermark, as `syncFromOrd` would.
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_runs").await, 1);
    // The very next read sees it: the job rebuilt the snapshot before it read as succeeded.
    let read = data(
        gql(
            &env.schema,
            r#"{ organisation(odsCode: "RVV01") { name } }"#,
        )
        .await,
    );
    assert_eq!(read["organisation"]["name"], "JOB NAME");
    let list = data(
        gql_admin(
            &env.schema,
            &format!("{{ syncJobs(limit: 5) {{ {JOB} }} }}"),
            &env.key,
        )
        .await,
    );
    assert_eq!(list["syncJobs"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["syncJobs"][0]["id"], json!(id));
}

#[tokio::test]
async fn a_second_start_while_one_runs_returns_the_running_job() {
    let env = Env::new().await;
    env.renamed(Duration::from_millis(1200)).await;
    let first = data(start(&env.schema, &env.key, "").await)["startSync"].clone();
    let second = data(start(&env.schema, &env.key, "dryRun: true").await)["startSync"].clone();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["dryRun"], false, "the running job, not a new one");
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_jobs").await, 1);
    let id = first["id"].as_str().expect("id");
    assert_eq!(
        finished(&env.schema, &env.key, id).await["state"],
        "SUCCEEDED"
    );
    // Once it has finished, a start begins a new job.
    // The watermark moved on: ask for the listed day again.
    let args = format!("dryRun: true, since: \"{}\"", days_ago(30));
    let third = data(start(&env.schema, &env.key, &args).await)["startSync"].clone();
    assert_ne!(third["id"], first["id"]);
    let third = finished(&env.schema, &env.key, third["id"].as_str().expect("id")).await;
    assert_eq!(third["state"], "SUCCEEDED");
    assert_eq!(third["report"]["dryRun"], true);
}

#[tokio::test]
async fn jobs_need_an_admin_key_and_refuse_bad_arguments_with_codes() {
    let env = Env::new().await;
    for q in [
        "mutation { startSync { id } }",
        "{ syncJob(id: \"1\") { id } }",
        "{ syncJobs { id } }",
    ] {
        assert_eq!(
            error_code(&gql(&env.schema, q).await).as_deref(),
            Some("UNAUTHENTICATED"),
            "{q}"
        );
        assert_eq!(
            error_code(&gql_admin(&env.schema, q, "not-a-key").await).as_deref(),
            Some("UNAUTHENTICATED"),
            "{q}"
        );
    }
    let admin = |q: &'static str| gql_admin(&env.schema, q, &env.key);
    assert_eq!(
        error_code(&admin("{ syncJob(id: \"999\") { id } }").await).as_deref(),
        Some("NOT_FOUND")
    );
    assert_eq!(
        error_code(&admin("{ syncJob(id: \"abc\") { id } }").await).as_deref(),
        Some("BAD_USER_INPUT")
    );
    for limit in [0, 101, -1] {
        let q = format!("{{ syncJobs(limit: {limit}) {{ id }} }}");
        let resp = gql_admin(&env.schema, &q, &env.key).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("BAD_USER_INPUT"),
            "{limit}"
        );
    }
    // Refused before any job exists.
    let since = days_ago(1);
    for args in [
        format!("full: true, since: \"{since}\""),
        format!("since: \"{}\"", days_ago(400)),
    ] {
        let resp = start(&env.schema, &env.key, &args).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("BAD_USER_INPUT"),
            "{args}"
        );
    }
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_jobs").await, 0);
    assert_eq!(env.ord.requests().await, 0);
}

#[tokio::test]
async fn a_failing_job_is_failed_with_its_error_and_applies_nothing() {
    let env = Env::new().await;
    env.ord.list(days_ago(30), &["RVV01"]).await;
    env.ord.notifications(&[]).await;
    env.ord.failing("RVV01", 500).await;
    let before = dump_except(&env.db.db, &["last_used_at"]).await;
    let started = data(start(&env.schema, &env.key, "").await)["startSync"].clone();
    let done = finished(&env.schema, &env.key, started["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert!(
        done["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{done}"
    );
    assert!(done["report"].is_null());
    let mut after = dump_except(&env.db.db, &["last_used_at"]).await;
    after.remove("sync_jobs");
    after.remove("sqlite_sequence");
    let mut before = before;
    before.remove("sync_jobs");
    before.remove("sqlite_sequence");
    for (table, rows) in &before {
        assert!(
            after.get(table) == Some(rows),
            "{table} changed: a failed job changes nothing"
        );
    }
}

#[tokio::test]
async fn the_scheduled_sync_runs_as_a_job_and_is_listed() {
    let ord = MockOrd::start().await;
    let db = TestDb::seeded().await;
    let key = nhs_organisations::auth::create_key(&db.db, "jobs-admin")
        .await
        .expect("admin key");
    ord.list(days_ago(30), &["RVV01"]).await;
    ord.notifications(&[]).await;
    ord.record(
        "RVV01",
        record_from("RVV01", "RVV01", "SCHEDULED", days_ago(1)),
    )
    .await;
    let mut settings = common::settings();
    settings.sync_every = Some("1h".parse().expect("interval"));
    let schema = common::app_with(db.db.clone(), Some(ord.client.clone()), &settings)
        .await
        .schema;
    let q = format!("{{ syncJobs {{ {JOB} }} }}");
    let ran = common::eventually(Duration::from_secs(20), || async {
        let list = data(gql_admin(&schema, &q, &key).await);
        list["syncJobs"][0]["state"] == "SUCCEEDED"
    })
    .await;
    assert!(ran, "the schedule did not run as a job");
    let list = data(gql_admin(&schema, &q, &key).await)["syncJobs"].clone();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["trigger"], "SCHEDULE");
    assert_eq!(list[0]["actor"], "scheduler");
    assert_eq!(list[0]["report"]["listed"], 1);
}

/// Starts `serve` over `url` with ORD at `ord_base_url`; killed when dropped.
async fn serve_binary(
    url: &str,
    ord_base_url: &str,
    dir: &std::path::Path,
) -> (common::Server, String) {
    let port = common::free_port();
    let child = std::process::Command::new(common::BIN)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("ORD_BASE_URL", ord_base_url)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env("RATE_LIMIT_RPS", "0")
        .env_remove("SYNC_EVERY")
        .env_remove("SYNC_FULL_EVERY")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let server = common::Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let up = common::eventually(Duration::from_secs(60), || async {
        reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "server did not come up");
    (server, base)
}

async fn post(base: &str, key: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_job_cut_off_by_a_restart_is_failed_and_applied_nothing() {
    let ord = MockOrd::start().await;
    let db = TestDb::seeded().await;
    let key = nhs_organisations::auth::create_key(&db.db, "jobs-admin")
        .await
        .expect("admin key");
    ord.list(days_ago(30), &["RVV01"]).await;
    ord.notifications(&[]).await;
    // The record never arrives while the first process lives.
    let body = record_from("RVV01", "RVV01", "NEVER APPLIED", days_ago(1));
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/organisations/RVV01")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(body)
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&ord.server)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    // The job's own row (and SQLite's counter of its ids) are the only writes allowed.
    let without_jobs = |mut d: std::collections::BTreeMap<String, Vec<Value>>| {
        d.remove("sync_jobs");
        d.remove("sqlite_sequence");
        d
    };
    // Using the key stamps it; that is no part of the sync.
    let before = without_jobs(dump_except(&db.db, &["last_used_at"]).await);

    let (server, base) = serve_binary(&db.url, &ord.base_url(), dir.path()).await;
    let started = post(
        &base,
        &key,
        &format!("mutation {{ startSync {{ {JOB} }} }}"),
    )
    .await;
    let id = started["data"]["startSync"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    let q = format!("{{ syncJob(id: \"{id}\") {{ {JOB} }} }}");
    let running = common::eventually(Duration::from_secs(10), || async {
        post(&base, &key, &q).await["data"]["syncJob"]["state"] == "RUNNING"
    })
    .await;
    assert!(running, "the job never ran");
    drop(server); // killed: no chance to clean up

    let (_server, base) = serve_binary(&db.url, &ord.base_url(), dir.path()).await;
    let after = post(&base, &key, &q).await["data"]["syncJob"].clone();
    assert_eq!(after["state"], "FAILED", "{after}");
    assert_eq!(after["error"], "interrupted by a restart");
    assert!(after["finishedAt"].is_string());
    assert!(after["report"].is_null());
    let after = without_jobs(dump_except(&db.db, &["last_used_at"]).await);
    for (table, rows) in &before {
        assert!(
            after.get(table) == Some(rows),
            "{table} changed: nothing may be half-applied"
        );
    }
    assert_eq!(before.len(), after.len());
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_run_one_job_at_a_time() {
    if common::postgres_url().is_none() {
        // One server process per SQLite file: the in-process guard is the lock there.
        return;
    }
    let env = Env::new().await;
    env.renamed(Duration::from_millis(1200)).await;
    // A second app instance over its own pool, as another replica would be.
    let other_db = nhs_organisations::db::connect(&env.db.url)
        .await
        .expect("connect");
    let other = common::app(other_db, Some(env.ord.client.clone()))
        .await
        .schema;
    let first = data(start(&env.schema, &env.key, "").await)["startSync"].clone();
    let second = data(start(&other, &env.key, "").await)["startSync"].clone();
    assert_eq!(
        first["id"], second["id"],
        "the other instance returns the running job"
    );
    // Starting up while the job runs leaves it alone.
    let third_db = nhs_organisations::db::connect(&env.db.url)
        .await
        .expect("connect");
    let _third = common::app(third_db, Some(env.ord.client.clone())).await;
    let id = first["id"].as_str().expect("id");
    assert_eq!(finished(&other, &env.key, id).await["state"], "SUCCEEDED");
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_jobs").await, 1);
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_runs").await, 1);
    // The lock was given back: the other instance can run the next one.
    let args = format!("dryRun: true, since: \"{}\"", days_ago(30));
    let next = data(start(&other, &env.key, &args).await)["startSync"].clone();
    assert_ne!(next["id"], first["id"]);
    let next = finished(&env.schema, &env.key, next["id"].as_str().expect("id")).await;
    assert_eq!(next["state"], "SUCCEEDED", "{next}");
}
