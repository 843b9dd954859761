//! The sync with `ODS_SOURCE=fhir`: a mock FHIR API (wiremock on 127.0.0.1) serving the same
//! facts as a mock ORD gives the same report and the same data; paging, the key, retries and
//! the deletion List. Runs on SQLite, and on PostgreSQL with `TEST_DATABASE_URL`.
use crate::common;

use common::fhir::{fhir_json, MockFhir, KEY};
use common::ord::{json_response, organisation, MockOrd};
use common::{days_ago, dump_except, gql, gql_admin, TestDb};
use nhs_organisations::sync::{self, NoProgress, Source, SyncOptions, SyncReport};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

/// The records both sources serve (the composed FHIR fixtures equal these ORD ones).
const CODES: [&str; 4] = ["7A4BV", "QKS", "RVV", "RVVKC"];
/// Targets the FHIR adapter reads for their primary role.
const TARGETS: [&str; 2] = ["7A4", "Y59"];
const NEW_SITE_NAME: &str = "KENT AND CANTERBURY HOSPITAL";
const NEW_TRUST_PHONE: &str = "01227 000000";
/// A tracked site both sources announce as deleted.
const DELETED: &str = "RVV01";

fn options(since: chrono::NaiveDate) -> SyncOptions {
    SyncOptions {
        since: Some(since),
        full: false,
        dry_run: false,
        actor: "test".into(),
    }
}

/// The ORD side of the facts. Successions are left out: FHIR publishes none (see the
/// succession test below).
async fn ord_facts(since: chrono::NaiveDate) -> MockOrd {
    let ord = MockOrd::start().await;
    ord.not_found_otherwise().await;
    ord.list(since, &CODES).await;
    for code in CODES {
        let mut v = organisation(code);
        let o = &mut v["Organisation"];
        if let Some(o) = o.as_object_mut() {
            o.remove("Succs");
        }
        if code == "RVVKC" {
            o["Name"] = json!(NEW_SITE_NAME);
        }
        if code == "RVV" {
            for c in o["Contacts"]["Contact"].as_array_mut().expect("contacts") {
                if c["type"] == "tel" {
                    c["value"] = json!(NEW_TRUST_PHONE);
                }
            }
        }
        ord.record(code, v).await;
    }
    let deleted = json!({"DeletedOrganisations": [
        {"OrgID": DELETED, "time": format!("{} 00:00:00", days_ago(1))}
    ]});
    ord.notifications_respond(json_response(200, &deleted))
        .await;
    ord
}

/// The same facts, in FHIR.
async fn fhir_facts(since: chrono::NaiveDate) -> MockFhir {
    let fhir = MockFhir::start().await;
    fhir.changed_pages(since).await;
    for code in CODES.iter().chain(&TARGETS) {
        let mut v = fhir.fixture(&format!("Organization/{code}.json"));
        if *code == "RVVKC" {
            v["name"] = json!(NEW_SITE_NAME);
        }
        if *code == "RVV" {
            for t in v["telecom"].as_array_mut().expect("telecom") {
                if t["system"] == "phone" {
                    t["value"] = json!(NEW_TRUST_PHONE);
                }
            }
        }
        fhir.organisation(code, &v).await;
        let a = fhir.fixture(&format!(
            "OrganizationAffiliation/primary-organization-{code}.json"
        ));
        fhir.affiliations(code, &a).await;
    }
    let mut list = fhir.fixture("List/Organization-deletion.ord-parity.json");
    list["entry"] = json!([{
        "date": format!("{}T00:00:00+00:00", days_ago(1)),
        "item": {"type": "Organization", "identifier": {
            "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": DELETED
        }}
    }]);
    fhir.deletions(&list).await;
    fhir
}

/// The data a sync leaves, without the columns that hold the time of the run.
async fn data(db: &TestDb) -> std::collections::BTreeMap<String, Vec<Value>> {
    dump_except(
        &db.db,
        &[
            "started_at",
            "finished_at",
            "recorded_at",
            "changed_at",
            "created_at",
            "report",
        ],
    )
    .await
}

async fn run(db: &TestDb, source: &dyn Source, since: chrono::NaiveDate) -> SyncReport {
    sync::run(&db.db, source, options(since), &NoProgress)
        .await
        .unwrap_or_else(|e| panic!("{} sync: {e}", source.name()))
}

#[tokio::test]
async fn fhir_and_ord_make_the_same_changes_from_the_same_facts() {
    let since = days_ago(5);
    let ord = ord_facts(since).await;
    let fhir = fhir_facts(since).await;
    let (ord_db, fhir_db) = (TestDb::seeded().await, TestDb::seeded().await);
    let before = data(&ord_db).await;

    let by_ord = run(&ord_db, &ord.client, since).await;
    let by_fhir = run(&fhir_db, &fhir.client, since).await;

    // The facts changed something, so equal reports prove more than two empty ones.
    assert_eq!(by_ord.listed, 4);
    assert!(
        by_ord
            .changes
            .iter()
            .any(|c| c.ods_code == "RVVKC" && c.field == "name"),
        "{by_ord:#?}"
    );
    assert!(by_ord
        .changes
        .iter()
        .any(|c| c.ods_code == "RVV" && c.field == "telephone"));
    assert_eq!(by_ord.deletions.len(), 1, "{by_ord:#?}");
    assert_eq!(
        serde_json::to_value(&by_fhir).expect("json"),
        serde_json::to_value(&by_ord).expect("json")
    );
    let (after_ord, after_fhir) = (data(&ord_db).await, data(&fhir_db).await);
    assert_ne!(after_ord, before);
    for (table, rows) in &after_ord {
        assert_eq!(Some(rows), after_fhir.get(table), "table {table} differs");
    }
    assert_eq!(after_ord.len(), after_fhir.len());

    // Every FHIR request carried the key; the second page came from `next`.
    let requested = fhir.requested().await;
    assert!(requested.iter().all(|(_, keyed)| *keyed), "{requested:?}");
    assert!(
        requested.iter().any(|(p, _)| p.contains("_offset=2")),
        "{requested:?}"
    );
}

#[tokio::test]
async fn changed_since_follows_next_and_asks_for_the_day_before() {
    let since = days_ago(5);
    let fhir = MockFhir::start().await;
    fhir.changed_pages(since).await;
    let codes = fhir.client.changed_since(since).await.expect("pages");
    assert_eq!(codes, ["7A4BV", "QKS", "RVV", "RVVKC"]);
    let requested = fhir.requested().await;
    assert_eq!(requested.len(), 2, "{requested:?}");
    let gt = format!("lastChangeDate=gt{}", days_ago(6));
    assert!(requested.iter().all(|(p, keyed)| p.contains(&gt) && *keyed));
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let since = days_ago(5);
    let fhir = MockFhir::start().await;
    let mut page = fhir.fixture("Organization-lastChangeDate/page1.json");
    page["link"][1]["url"] = json!("https://elsewhere.example/fhir/Organization?_offset=2");
    fhir.respond("Organization", fhir_json(200, &page)).await;
    let err = fhir.client.changed_since(since).await.expect_err("refused");
    assert!(err.to_string().contains("next link"), "{err}");
    assert_eq!(fhir.requested().await.len(), 1);
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_like_ord() {
    let fhir = MockFhir::start().await;
    // Mounted first, so they answer first; each once.
    for status in [429, 500] {
        wiremock::Mock::given(wiremock::matchers::path(format!(
            "{}/Organization/RVVKC",
            common::fhir::PREFIX
        )))
        .respond_with(ResponseTemplate::new(status))
        .up_to_n_times(1)
        .mount(&fhir.server)
        .await;
    }
    fhir.fixtures(&["RVVKC", "RVV"]).await;
    let org = fhir
        .client
        .organisation("RVVKC")
        .await
        .expect("retried")
        .expect("found");
    assert_eq!(
        org.operated_by().map(|r| r.target_code.as_str()),
        Some("RVV")
    );
    let record_reads = fhir
        .requested()
        .await
        .iter()
        .filter(|(p, _)| p == "/Organization/RVVKC")
        .count();
    assert_eq!(record_reads, 3);

    // Persistent 500s end in the ORD error code, after at least three retries.
    let down = MockFhir::start().await;
    down.respond("Organization/RVV", ResponseTemplate::new(500))
        .await;
    let err = Source::organisation(&down.client, "RVV")
        .await
        .expect_err("500");
    assert_eq!(err.code().as_str(), "UPSTREAM_UNAVAILABLE", "{err}");
    assert!(down.requested().await.len() >= 4);
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn a_wrong_key_is_an_error_and_not_retried() {
    let fhir = MockFhir::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .mount(&fhir.server)
        .await;
    let err = fhir.client.organisation("RVV").await.expect_err("401");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains(KEY) && !format!("{:?}", fhir.client).contains(KEY));
    assert_eq!(fhir.requested().await.len(), 1);
}

#[tokio::test]
async fn the_deletion_list_is_read() {
    let fhir = MockFhir::start().await;
    fhir.deletions(&fhir.fixture("List/Organization-deletion.json"))
        .await;
    let gone = fhir.client.deletions().await.expect("list");
    let codes: Vec<&str> = gone.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["FVG57", "FJE57"]);
    assert!(gone
        .iter()
        .all(|d| d.reason.is_none() && d.primary_role.is_none()));
}

#[tokio::test]
async fn fhir_keeps_stored_successions_and_county() {
    let since = days_ago(5);
    let (ord, fhir) = (MockOrd::start().await, fhir_facts(since).await);
    ord.not_found_otherwise().await;
    ord.list(since, &["RVVKC"]).await;
    ord.fixtures(&["RVVKC"]).await;
    ord.notifications_respond(json_response(200, &json!({})))
        .await;
    let db = TestDb::seeded().await;
    // ORD first: it records RVVKC's predecessor and its county.
    let first = run(&db, &ord.client, since).await;
    assert_eq!(first.successions.len(), 1, "{first:#?}");
    let kept = |db: &TestDb| {
        let db = db.db.clone();
        async move {
            let rows = common::count(
                &db,
                "SELECT COUNT(*) FROM ord_successions WHERE ods_code = 'RVVKC'",
            )
            .await;
            let county = common::count(
                &db,
                "SELECT COUNT(*) FROM organisations WHERE ods_code = 'RVVKC' AND county = 'KENT'",
            )
            .await;
            (rows, county)
        }
    };
    assert_eq!(kept(&db).await, (1, 1));
    let second = run(&db, &fhir.client, since).await;
    assert!(second.successions.is_empty());
    assert!(
        !second.changes.iter().any(|c| c.field == "county"),
        "{second:#?}"
    );
    assert_eq!(kept(&db).await, (1, 1), "FHIR's silence removes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reads_fhir_and_needs_its_key() {
    let since = days_ago(5);
    let fhir = fhir_facts(since).await;
    let db = TestDb::seeded().await;
    let command = |key: Option<&str>| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.env("DATABASE_URL", &db.url)
            .env("ODS_SOURCE", "fhir")
            .env("FHIR_BASE_URL", fhir.base())
            .env("ORD_BASE_URL", "http://127.0.0.1:9/never")
            .env("ORD_MAX_RPS", "50")
            .env("RUST_LOG", "error")
            .env_remove("FHIR_API_KEY")
            .env_remove("SYNC_EVERY")
            .args(["sync", "--since", &since.to_string(), "--json"]);
        if let Some(key) = key {
            cmd.env("FHIR_API_KEY", key);
        }
        cmd
    };
    let mut keyless = command(None);
    let out = tokio::task::spawn_blocking(move || keyless.output())
        .await
        .expect("join")
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("FHIR_API_KEY"), "{stderr}");
    assert!(
        fhir.requested().await.is_empty(),
        "nothing asked without a key"
    );

    let mut keyed = command(Some(KEY));
    let out = tokio::task::spawn_blocking(move || keyed.output())
        .await
        .expect("join")
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(KEY));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["listed"], 4);
    assert_eq!(report["deletions"][0]["odsCode"], DELETED);
}

#[tokio::test]
async fn a_code_fhir_does_not_know_is_warned_about_as_fhir() {
    let since = days_ago(5);
    let fhir = MockFhir::start().await;
    let mut page = fhir.fixture("Organization-lastChangeDate/page2.json");
    page["entry"][0]["resource"]["id"] = json!("RVV01");
    page["entry"].as_array_mut().expect("entries").truncate(1);
    fhir.respond("Organization", fhir_json(200, &page)).await;
    fhir.respond(
        "Organization/RVV01",
        fhir_json(404, &fhir.fixture("errors/404.json")),
    )
    .await;
    fhir.deletions(&fhir.fixture("List/Organization-deletion.json"))
        .await;
    let db = TestDb::seeded().await;
    let report = run(&db, &fhir.client, since).await;
    assert_eq!(report.not_found, ["RVV01"]);
    assert_eq!(
        report.warnings,
        ["RVV01: FHIR has no record for this code (HTTP 404); left as it is"]
    );
}

#[tokio::test]
async fn the_rate_ceiling_holds_for_fhir_too() {
    let since = days_ago(5);
    let fhir = MockFhir::with(|c| c.max_rps = 5).await;
    fhir.changed_pages(since).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        fhir.client.changed_since(since).await.expect("pages");
    }
    // Six requests evenly spaced at 5 a second: five gaps of about 204 ms.
    let took = started.elapsed();
    assert_eq!(fhir.requested().await.len(), 6);
    assert!(took >= std::time::Duration::from_millis(1000), "{took:?}");
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
}

/// `serve` with `ODS_SOURCE=fhir`: its mutations read FHIR, never ORD (whose root here
/// refuses every connection).
async fn fhir_app(fhir: &MockFhir, db: &TestDb) -> (nhs_organisations::graphql::AppSchema, String) {
    let key = nhs_organisations::auth::create_key(&db.db, "fhir-admin")
        .await
        .expect("admin key");
    let app = common::app_over(
        db.db.clone(),
        Some(fhir.client.clone().into()),
        &common::settings(),
    )
    .await;
    (app.schema, key)
}

#[tokio::test]
async fn the_sync_mutations_read_the_configured_source() {
    let since = days_ago(5);
    let fhir = fhir_facts(since).await;
    let db = TestDb::seeded().await;
    let (schema, key) = fhir_app(&fhir, &db).await;

    let dry = common::data(
        gql_admin(
            &schema,
            &format!(
                "mutation {{ syncFromOrd(since: \"{since}\", dryRun: true) {{ listed changes {{ odsCode field after }} }} }}"
            ),
            &key,
        )
        .await,
    );
    assert_eq!(dry["syncFromOrd"]["listed"], 4);
    let renamed = json!({"odsCode": "RVVKC", "field": "name", "after": NEW_SITE_NAME});
    assert!(
        dry["syncFromOrd"]["changes"]
            .as_array()
            .expect("changes")
            .contains(&renamed),
        "{dry}"
    );

    let started = common::data(
        gql_admin(
            &schema,
            &format!("mutation {{ startSync(since: \"{since}\") {{ id }} }}"),
            &key,
        )
        .await,
    );
    let id = started["startSync"]["id"].as_str().expect("id").to_owned();
    let query = format!("{{ syncJob(id: \"{id}\") {{ state error report {{ listed }} }} }}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let job = loop {
        let job = common::data(gql_admin(&schema, &query, &key).await)["syncJob"].clone();
        if job["state"] == "SUCCEEDED" || job["state"] == "FAILED" {
            break job;
        }
        assert!(
            std::time::Instant::now() < until,
            "the job never finished: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(job["state"], "SUCCEEDED", "{job}");
    assert_eq!(job["report"]["listed"], 4);
    let name = common::data(gql(&schema, r#"{ organisation(odsCode: "RVVKC") { name } }"#).await);
    assert_eq!(name["organisation"]["name"], NEW_SITE_NAME);
    let requested = fhir.requested().await;
    assert!(requested.iter().all(|(_, keyed)| *keyed), "{requested:?}");
}

#[tokio::test]
async fn create_organisations_reads_the_configured_source() {
    let fhir = MockFhir::start().await;
    let codes: Vec<&str> = CODES.iter().chain(&TARGETS).copied().collect();
    fhir.fixtures(&codes).await;
    let db = TestDb::seeded().await;
    let (schema, key) = fhir_app(&fhir, &db).await;
    let deleted = common::data(
        gql_admin(
            &schema,
            r#"mutation { deleteOrganisations(odsCodes: ["RVVKC"]) { results { status } } }"#,
            &key,
        )
        .await,
    );
    assert_eq!(
        deleted["deleteOrganisations"]["results"][0]["status"],
        "DELETED"
    );
    assert!(fhir.requested().await.is_empty());

    let created = common::data(
        gql_admin(
            &schema,
            r#"mutation { createOrganisations(odsCodes: ["RVVKC"]) { results { odsCode status message } } }"#,
            &key,
        )
        .await,
    );
    let result = &created["createOrganisations"]["results"][0];
    assert_eq!(result["odsCode"], "RVVKC");
    assert!(
        ["CREATED", "RESTORED"].contains(&result["status"].as_str().unwrap_or("")),
        "{created}"
    );
    let requested = fhir.requested().await;
    assert!(
        requested
            .iter()
            .any(|(p, keyed)| p.starts_with("/Organization/RVVKC") && *keyed),
        "{requested:?}"
    );
    let site = common::data(
        gql(
            &schema,
            r#"{ organisation(odsCode: "RVVKC") { name trust { odsCode } } }"#,
        )
        .await,
    );
    assert_eq!(site["organisation"]["trust"]["odsCode"], "RVV", "{site}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_schedules_its_sync_from_the_configured_source() {
    // Never synced, so the first scheduled run is due at once, from 30 days ago.
    let since = days_ago(30);
    let fhir = fhir_facts(since).await;
    let db = TestDb::seeded().await;
    let port = common::free_port();
    let mut child = std::process::Command::new(common::BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("PORT", port.to_string())
        .env("ODS_SOURCE", "fhir")
        .env("FHIR_BASE_URL", fhir.base())
        .env("FHIR_API_KEY", KEY)
        .env("ORD_BASE_URL", "http://127.0.0.1:9/never")
        .env("ORD_MAX_RPS", "50")
        .env("SYNC_EVERY", "1h")
        .env_remove("SYNC_FULL_EVERY")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    let ran = common::eventually(std::time::Duration::from_secs(60), || async {
        common::count(&db.db, "SELECT COUNT(*) FROM sync_runs").await > 0
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(ran, "the scheduled sync never ran");
    let renamed = common::count(
        &db.db,
        &format!(
            "SELECT COUNT(*) FROM organisations WHERE ods_code = 'RVVKC' AND name = '{NEW_SITE_NAME}'"
        ),
    )
    .await;
    assert_eq!(renamed, 1, "the schedule applied FHIR's name");
    let requested = fhir.requested().await;
    assert!(!requested.is_empty() && requested.iter().all(|(_, keyed)| *keyed));
}
