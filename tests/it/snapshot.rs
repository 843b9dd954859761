//! The temporal snapshot: time travel (`asOf`, history fields, `changesBetween`), freshness
//! after writes in this and other processes, serving through a failed rebuild, and HTTP caching.
use crate::common;

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use common::{data, error_code, gql, gql_admin, start_server, today, TestDb};
use nhs_organisations::change_log::{self, Change, ChangeContext};
use nhs_organisations::config::QueryLimits;
use nhs_organisations::entities::{ord_succession, trust};
use nhs_organisations::http::AppState;
use nhs_organisations::memberships::{self, Edge};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, NotSet, Set};
use serde_json::{json, Value};

fn app(t: &TestDb) -> AppState {
    AppState::new(t.db.clone(), None, &QueryLimits::default())
}

async fn id_of(db: &DatabaseConnection, table: memberships::EntityTable, code: &str) -> i32 {
    memberships::ids_by_code(db, table).await.expect("ids")[code]
}

/// Moves a site to another trust from `on` (past, today or future), logged as a write is.
async fn move_site(db: &DatabaseConnection, site: &str, trust_code: &str, on: NaiveDate) {
    let child = id_of(db, memberships::ORGANISATIONS, site).await;
    let parent = id_of(db, memberships::TRUSTS, trust_code).await;
    let (_, change) = memberships::set_parent(
        db,
        Edge::OrganisationTrust,
        (child, site),
        Some((parent, trust_code)),
        on,
    )
    .await
    .expect("set parent")
    .expect("a move");
    let ctx = ChangeContext::new("test", change_log::ChangeSource::Merger, on);
    change_log::record(db, &ctx, vec![change])
        .await
        .expect("log");
}

/// Renames a trust with effect from `on`, as the ORD sync records it.
async fn rename_trust(t: &TestDb, code: &str, name: &str, on: NaiveDate) {
    let row = trust::Entity::find_by_id(id_of(&t.db, memberships::TRUSTS, code).await)
        .one(&t.db)
        .await
        .expect("read")
        .expect("trust");
    let before = row.name.clone();
    let mut am: trust::ActiveModel = row.into();
    am.name = Set(name.to_string());
    am.update(&t.db).await.expect("rename");
    let ctx = ChangeContext::new("test", change_log::ChangeSource::OrdSync, on);
    let change = Change::new(
        memberships::TRUSTS.entity,
        code,
        change_log::ChangeAction::Update,
    )
    .field("name")
    .before(Some(json!(before)))
    .after(Some(json!(name)));
    change_log::record(&t.db, &ctx, vec![change])
        .await
        .expect("log");
}

#[tokio::test]
async fn history_starts_on_the_reference_day_and_earlier_days_are_refused() {
    let t = TestDb::seeded().await;
    let schema = app(&t).schema;
    let d = data(gql(&schema, "{ historyStartsOn }").await);
    assert_eq!(d["historyStartsOn"], "2024-08-31");
    let resp = gql(
        &schema,
        r#"{ organisations(asOf: "2024-08-30") { odsCode } }"#,
    )
    .await;
    assert_eq!(error_code(&resp).as_deref(), Some("BAD_USER_INPUT"));
    assert!(resp.to_string().contains("2024-08-31"), "{resp}");
    let resp = gql(
        &schema,
        r#"{ trust(odsCode: "RVV", asOf: "2020-01-01") { name } }"#,
    )
    .await;
    assert_eq!(error_code(&resp).as_deref(), Some("BAD_USER_INPUT"));
    // The first day itself is fine.
    let d = data(
        gql(
            &schema,
            r#"{ organisations(asOf: "2024-08-31") { odsCode } }"#,
        )
        .await,
    );
    assert_eq!(d["organisations"].as_array().map(Vec::len), Some(339));
}

#[tokio::test]
async fn a_deleted_site_is_there_for_earlier_days_and_gone_today() {
    let t = TestDb::seeded().await;
    let state = app(&t);
    let key = nhs_organisations::auth::create_key(&t.db, "admin")
        .await
        .expect("key");
    let yesterday = today() - Days::new(1);
    let resp = gql_admin(
        &state.schema,
        r#"mutation { deleteOrganisations(odsCodes: ["RVV01"]) { results { status } } }"#,
        &key,
    )
    .await;
    assert_eq!(
        data(resp)["deleteOrganisations"]["results"][0]["status"],
        "DELETED"
    );
    // The very next request sees the write.
    let now = data(
        gql(
            &state.schema,
            r#"{ organisation(odsCode: "RVV01") { odsCode } organisations { odsCode }
                trust(odsCode: "RVV") { organisations { odsCode } } }"#,
        )
        .await,
    );
    assert_eq!(now["organisation"], Value::Null);
    assert_eq!(now["organisations"].as_array().map(Vec::len), Some(338));
    assert!(!now.to_string().contains("RVV01"));
    let then = data(
        gql(
            &state.schema,
            &format!(
                r#"{{ organisation(odsCode: "RVV01", asOf: "{yesterday}") {{ odsCode trust {{ odsCode }}
                      paediatricDiabetesUnit {{ pzCode }} }}
                    organisations(asOf: "{yesterday}") {{ odsCode }}
                    trust(odsCode: "RVV", asOf: "{yesterday}") {{ organisations {{ odsCode }} }} }}"#
            ),
        )
        .await,
    );
    assert_eq!(then["organisation"]["trust"]["odsCode"], "RVV");
    assert_eq!(
        then["organisation"]["paediatricDiabetesUnit"]["pzCode"],
        "PZ024"
    );
    assert_eq!(then["organisations"].as_array().map(Vec::len), Some(339));
    assert!(then["trust"]["organisations"].to_string().contains("RVV01"));
}

#[tokio::test]
async fn a_future_move_is_scheduled_and_a_past_one_splits_history() {
    let t = TestDb::seeded().await;
    let later = today() + Days::new(30);
    let past = NaiveDate::from_ymd_opt(2025, 3, 1).expect("date");
    move_site(&t.db, "RVV01", "RYR", later).await;
    let schema = app(&t).schema;
    let q = |day: String| {
        format!(r#"{{ organisation(odsCode: "RVV01", asOf: "{day}") {{ trust {{ odsCode }} }} }}"#)
    };
    let now = data(
        gql(
            &schema,
            r#"{ organisation(odsCode: "RVV01") { trust { odsCode } } }"#,
        )
        .await,
    );
    assert_eq!(
        now["organisation"]["trust"]["odsCode"], "RVV",
        "today is unchanged"
    );
    let then = data(gql(&schema, &q(later.to_string())).await);
    assert_eq!(then["organisation"]["trust"]["odsCode"], "RYR", "scheduled");
    let trust_later = data(
        gql(
            &schema,
            &format!(
                r#"{{ trust(odsCode: "RYR", asOf: "{later}") {{ organisations {{ odsCode }} }} }}"#
            ),
        )
        .await,
    );
    assert!(trust_later.to_string().contains("RVV01"));

    // The whole history, with both periods.
    let d = data(
        gql(
            &schema,
            r#"{ organisation(odsCode: "RVV01") { membershipHistory { edge code validFrom validTo } } }"#,
        )
        .await,
    );
    let periods: Vec<&Value> = d["organisation"]["membershipHistory"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| p["edge"] == "ORGANISATION_TRUST")
        .collect();
    assert_eq!(periods.len(), 2, "{d}");
    assert_eq!(periods[0]["code"], "RVV");
    assert_eq!(periods[0]["validFrom"], "2024-08-31");
    assert_eq!(periods[0]["validTo"], later.to_string());
    assert_eq!(periods[1]["code"], "RYR");
    assert_eq!(periods[1]["validTo"], Value::Null);

    let d = data(
        gql(
            &schema,
            &format!(
                r#"{{ changesBetween(from: "{}", to: "{later}") {{ kind entity code field before after }} }}"#,
                today()
            ),
        )
        .await,
    );
    let moved = json!({"kind": "MOVED", "entity": "organisation", "code": "RVV01",
        "field": "trust", "before": "RVV", "after": "RYR"});
    assert!(
        d["changesBetween"]
            .as_array()
            .expect("list")
            .contains(&moved),
        "{d}"
    );
    // A backdated move splits the interval it crosses: before the day, the old trust.
    move_site(&t.db, "RGT01", "RVV", past).await;
    let schema = app(&t).schema;
    let site_on = |day: &str| {
        format!(r#"{{ organisation(odsCode: "RGT01", asOf: "{day}") {{ trust {{ odsCode }} }} }}"#)
    };
    let before = data(gql(&schema, &site_on("2025-02-28")).await);
    assert_eq!(before["organisation"]["trust"]["odsCode"], "RGT");
    let after = data(gql(&schema, &site_on("2025-03-01")).await);
    assert_eq!(after["organisation"]["trust"]["odsCode"], "RVV");
    let d = data(
        gql(
            &schema,
            &format!(r#"{{ changesBetween(from: "{past}", to: "{past}") {{ code }} }}"#),
        )
        .await,
    );
    assert_eq!(d["changesBetween"], json!([]));
    let resp = gql(
        &schema,
        r#"{ changesBetween(from: "2025-02-01", to: "2025-01-01") { code } }"#,
    )
    .await;
    assert_eq!(error_code(&resp).as_deref(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn attributes_answer_as_of_the_day_they_took_effect() {
    let t = TestDb::seeded().await;
    let on = NaiveDate::from_ymd_opt(2025, 6, 1).expect("date");
    let old = data(gql(&app(&t).schema, r#"{ trust(odsCode: "RVV") { name } }"#).await)["trust"]
        ["name"]
        .clone();
    rename_trust(&t, "RVV", "EAST KENT RENAMED NHS TRUST", on).await;
    let schema = app(&t).schema;
    let name_on = |day: &str| {
        format!(
            r#"{{ trust(odsCode: "RVV", asOf: "{day}") {{ name }} organisation(odsCode: "RVV01", asOf: "{day}") {{ trust {{ name }} }} }}"#
        )
    };
    let before = data(gql(&schema, &name_on("2025-05-31")).await);
    assert_eq!(before["trust"]["name"], old);
    assert_eq!(before["organisation"]["trust"]["name"], old);
    let after = data(gql(&schema, &name_on("2025-06-01")).await);
    assert_eq!(after["trust"]["name"], "EAST KENT RENAMED NHS TRUST");
    assert_eq!(
        after["organisation"]["trust"]["name"],
        "EAST KENT RENAMED NHS TRUST"
    );
    let d = data(
        gql(
            &schema,
            r#"{ trust(odsCode: "RVV") { attributeHistory { field value validFrom validTo } } }"#,
        )
        .await,
    );
    let names: Vec<&Value> = d["trust"]["attributeHistory"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["field"] == "name")
        .collect();
    assert_eq!(names.len(), 2, "{d}");
    assert_eq!(names[0]["value"], old);
    assert_eq!(names[0]["validFrom"], "2024-08-31");
    assert_eq!(names[0]["validTo"], "2025-06-01");
    assert_eq!(names[1]["value"], "EAST KENT RENAMED NHS TRUST");
    let d = data(
        gql(
            &schema,
            r#"{ changesBetween(from: "2025-01-01", to: "2025-07-01") { kind entity code field before after } }"#,
        )
        .await,
    );
    let renamed = json!({"kind": "RENAMED", "entity": "trust", "code": "RVV", "field": "name",
        "before": old, "after": "EAST KENT RENAMED NHS TRUST"});
    assert_eq!(d["changesBetween"], json!([renamed]));
}

#[tokio::test]
async fn predecessors_and_successors_come_from_successions() {
    let t = TestDb::seeded().await;
    for (code, kind, target, on) in [
        ("RVV", "predecessor", "RVVOLD", "2020-04-01"),
        ("RYR", "successor", "RYRNEW", "2030-01-01"),
    ] {
        ord_succession::ActiveModel {
            id: NotSet,
            ods_code: Set(code.into()),
            entity: Set("trust".into()),
            kind: Set(kind.into()),
            target_code: Set(target.into()),
            target_primary_role: Set(None),
            effective_on: Set(on.parse().ok()),
            recorded_at: Set(Utc::now()),
        }
        .insert(&t.db)
        .await
        .expect("succession");
    }
    let schema = app(&t).schema;
    let d = data(
        gql(
            &schema,
            r#"{ a: trust(odsCode: "RVV") { predecessors { odsCode effectiveOn } successors { odsCode } }
                 b: trust(odsCode: "RYR") { successors { odsCode } }
                 c: trust(odsCode: "RYR", asOf: "2030-01-01") { successors { odsCode name effectiveOn } } }"#,
        )
        .await,
    );
    assert_eq!(
        d["a"]["predecessors"],
        json!([{"odsCode": "RVVOLD", "effectiveOn": "2020-04-01"}])
    );
    assert_eq!(d["a"]["successors"], json!([]));
    assert_eq!(d["b"]["successors"], json!([]), "not yet in effect");
    assert_eq!(
        d["c"]["successors"],
        json!([{"odsCode": "RYRNEW", "name": null, "effectiveOn": "2030-01-01"}])
    );
}

#[tokio::test]
async fn another_connections_write_is_seen_within_a_second() {
    let t = TestDb::seeded().await;
    let reader = common::app(t.db.clone(), None).await;
    let q = r#"{ organisation(odsCode: "RVV01") { trust { odsCode } } }"#;
    assert_eq!(
        data(gql(&reader.schema, q).await)["organisation"]["trust"]["odsCode"],
        "RVV"
    );
    // A second pool on the same database stands in for another process.
    let other = nhs_organisations::db::connect(&t.url)
        .await
        .expect("connect");
    let started = Instant::now();
    move_site(&other, "RVV01", "RYR", today()).await;
    let seen = common::eventually(Duration::from_secs(1), || async {
        data(gql(&reader.schema, q).await)["organisation"]["trust"]["odsCode"] == "RYR"
    })
    .await;
    assert!(seen, "not visible after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_failed_rebuild_keeps_serving_the_last_snapshot_and_health_says_so() {
    let t = TestDb::seeded().await;
    let state = app(&t);
    let base = common::serve_state(state.clone(), common::settings()).await;
    let client = reqwest::Client::new();
    let q = json!({"query": "{ organisation(odsCode: \"RVV01\") { name } }"});
    let ok: Value = client
        .post(format!("{base}/graphql"))
        .json(&q)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ok["data"]["organisation"]["name"],
        "WILLIAM HARVEY HOSPITAL (ASHFORD)"
    );
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let version = health["snapshot"]["version"].clone();
    assert!(version.is_string(), "{health}");
    assert_eq!(health["snapshot"]["stale"], false);

    // New data arrives, but the tables cannot be read.
    move_site(&t.db, "RVV01", "RYR", today()).await;
    t.db.execute_unprepared("ALTER TABLE trusts RENAME TO trusts_away")
        .await
        .expect("rename");
    assert!(state.store.refresh().await.is_err());
    let still: Value = client
        .post(format!("{base}/graphql"))
        .json(&q)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        still["data"]["organisation"]["name"],
        "WILLIAM HARVEY HOSPITAL (ASHFORD)"
    );
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["snapshot"]["version"], version, "{health}");
    assert_eq!(health["snapshot"]["stale"], true, "{health}");
    assert!(health["snapshot"]["ageSeconds"].is_number(), "{health}");
    assert!(health["snapshot"]["lastError"].is_string(), "{health}");

    // Readable again: the retry picks the new data up.
    t.db.execute_unprepared("ALTER TABLE trusts_away RENAME TO trusts")
        .await
        .expect("rename back");
    assert_eq!(state.store.refresh().await.ok(), Some(true));
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["snapshot"]["stale"], false);
    assert_ne!(health["snapshot"]["version"], version);
}

#[tokio::test]
async fn query_responses_carry_an_etag_and_revalidate_with_304() {
    let t = TestDb::seeded().await;
    let key = nhs_organisations::auth::create_key(&t.db, "admin")
        .await
        .expect("key");
    let base = common::serve(&t).await;
    let client = reqwest::Client::new();
    let body = json!({"query": "{ trust(odsCode: \"RVV\") { name organisations { odsCode } } }"});
    let first = client
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    assert_eq!(first.headers()["x-cache"], "miss");
    let first_body: Value = first.json().await.expect("json");

    // The same query again: from the cache, same tag.
    let again = client
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(again.headers()["etag"].to_str().ok(), Some(etag.as_str()));
    assert_eq!(again.headers()["x-cache"], "hit");
    assert_eq!(again.json::<Value>().await.expect("json"), first_body);

    // Revalidation, by POST and by GET (GET and POST of one request share a tag).
    let post304 = client
        .post(format!("{base}/graphql"))
        .header("if-none-match", &etag)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(post304.status(), 304);
    let get = client
        .get(format!("{base}/graphql"))
        .query(&[("query", body["query"].as_str().unwrap_or_default())])
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 200);
    let get_tag = get.headers()["etag"].to_str().expect("etag").to_string();
    let get304 = client
        .get(format!("{base}/graphql"))
        .query(&[("query", body["query"].as_str().unwrap_or_default())])
        .header("if-none-match", &get_tag)
        .send()
        .await
        .expect("get");
    assert_eq!(get304.status(), 304);

    // Errors and mutations get no tag and are never cached.
    let bad = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "{ trust(odsCode: \"R-1\") { name } }"}))
        .send()
        .await
        .expect("post");
    assert!(bad.headers().get("etag").is_none());
    let m = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .json(&json!({"query": "mutation { deleteOrganisations(odsCodes: [\"RVV01\"]) { results { status } } }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(m.status(), 200, "a mutation is never answered 304");
    assert!(m.headers().get("etag").is_none());
    let m: Value = m.json().await.expect("json");
    assert_eq!(
        m["data"]["deleteOrganisations"]["results"][0]["status"],
        "DELETED"
    );

    // The write made a new snapshot: the old tag no longer matches, and the answer is new.
    let after = client
        .post(format!("{base}/graphql"))
        .header("if-none-match", &etag)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(after.status(), 200);
    assert_ne!(after.headers()["etag"].to_str().ok(), Some(etag.as_str()));
    assert_eq!(after.headers()["x-cache"], "miss");
    let after: Value = after.json().await.expect("json");
    assert!(!after.to_string().contains("RVV01"), "{after}");
}

#[tokio::test]
async fn the_response_cache_can_be_turned_off() {
    let t = TestDb::seeded().await;
    let mut settings = common::settings();
    settings.response_cache_mb = 0;
    let base = common::serve_with(&t, settings).await;
    let client = reqwest::Client::new();
    let body = json!({"query": "{ countries { code } }"});
    let mut tags = Vec::new();
    for _ in 0..2 {
        let r = client
            .post(format!("{base}/graphql"))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.headers()["x-cache"], "miss");
        tags.push(r.headers()["etag"].to_str().expect("etag").to_string());
    }
    assert_eq!(tags[0], tags[1], "the tag still identifies the answer");
}

/// Two server processes on one database (PostgreSQL: LISTEN/NOTIFY and the poll; SQLite: the
/// poll): a write through one is answered by the other within a second.
#[tokio::test]
async fn two_server_processes_on_one_database_agree_within_a_second() {
    let t = TestDb::seeded().await;
    let key = nhs_organisations::auth::create_key(&t.db, "admin")
        .await
        .expect("key");
    let dir = tempfile::tempdir().expect("dir");
    let (_a, a) = start_server(&t.url, dir.path()).await;
    let (_b, b) = start_server(&t.url, dir.path()).await;
    let client = reqwest::Client::new();
    let site = json!({"query": "{ organisation(odsCode: \"RVV01\") { odsCode } }"});
    let on_b = || async {
        client
            .post(format!("{b}/graphql"))
            .json(&site)
            .send()
            .await
            .expect("post")
            .json::<Value>()
            .await
            .expect("json")
    };
    assert_eq!(on_b().await["data"]["organisation"]["odsCode"], "RVV01");
    let resp: Value = client
        .post(format!("{a}/graphql"))
        .bearer_auth(&key)
        .json(&json!({"query": "mutation { deleteOrganisations(odsCodes: [\"RVV01\"]) { results { status } } }"}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        resp["data"]["deleteOrganisations"]["results"][0]["status"],
        "DELETED"
    );
    let started = Instant::now();
    let seen = common::eventually(Duration::from_secs(1), || async {
        on_b().await["data"]["organisation"] == Value::Null
    })
    .await;
    assert!(
        seen,
        "B still answered the old data after {:?}",
        started.elapsed()
    );
}
