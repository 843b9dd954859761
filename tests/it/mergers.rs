//! Mergers: createOrganisations, deleteOrganisations and updateOrganisationMemberships against
//! a mock ORD (wiremock on 127.0.0.1), on SQLite or PostgreSQL (`TEST_DATABASE_URL`).
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::ord::{site_record, trust_record, MockOrd};
use common::{data, error_code, TestDb};
use nhs_organisations::auth;
use nhs_organisations::graphql::AppSchema;
use nhs_organisations::memberships::{self, Edge};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

/// Every field of a report, with the site's edges, so that dry and real runs compare fully.
const REPORT: &str = "dryRun warnings results { odsCode status message warnings
    memberships { kind code validFrom } changes { kind before after }
    organisation { odsCode name active address1 city postcode latitude longitude publishedAt
      trust { odsCode } localHealthBoard { odsCode } parent { odsCode }
      integratedCareBoard { odsCode } nhsEnglandRegion { regionCode }
      paediatricDiabetesUnit { pzCode } openUkNetwork { code } londonBorough { gssCode }
      country { code } } }";

/// A seeded database, a mock ORD, a schema wired to both, and an admin key.
struct Env {
    t: TestDb,
    ord: MockOrd,
    schema: AppSchema,
    key: String,
}

async fn env() -> Env {
    let t = TestDb::seeded().await;
    let ord = MockOrd::with(|c| {
        c.retry_budget = Duration::from_secs(2);
        c.request_timeout = Duration::from_millis(500);
    })
    .await;
    ord.not_found_otherwise().await;
    let schema = common::app(t.db.clone(), Some(ord.client.clone()))
        .await
        .schema;
    let key = auth::create_key(&t.db, "merger-admin")
        .await
        .expect("admin key");
    Env {
        t,
        ord,
        schema,
        key,
    }
}

impl Env {
    async fn admin(&self, query: &str) -> Value {
        common::gql_admin(&self.schema, query, &self.key).await
    }

    async fn create(&self, args: &str) -> Value {
        let resp = self
            .admin(&format!(
                "mutation {{ createOrganisations({args}) {{ {REPORT} }} }}"
            ))
            .await;
        data(resp)["createOrganisations"].clone()
    }

    async fn delete(&self, args: &str) -> Value {
        let resp = self
            .admin(&format!(
                "mutation {{ deleteOrganisations({args}) {{ {REPORT} }} }}"
            ))
            .await;
        data(resp)["deleteOrganisations"].clone()
    }

    async fn update(&self, args: &str) -> Value {
        let resp = self
            .admin(&format!(
                "mutation {{ updateOrganisationMemberships({args}) {{ {REPORT} }} }}"
            ))
            .await;
        data(resp)["updateOrganisationMemberships"].clone()
    }

    async fn site(&self, code: &str) -> Value {
        let q = format!(
            "{{ organisation(odsCode: \"{code}\") {{ odsCode name trust {{ odsCode }}
              localHealthBoard {{ odsCode }} integratedCareBoard {{ odsCode }}
              nhsEnglandRegion {{ regionCode }} paediatricDiabetesUnit {{ pzCode }}
              openUkNetwork {{ code }} londonBorough {{ gssCode }} country {{ code }}
              latitude longitude }} }}"
        );
        data(common::gql(&self.schema, &q).await)["organisation"].clone()
    }

    async fn dump(&self) -> BTreeMap<String, Vec<Value>> {
        dump(&self.t.db).await
    }
}

/// Every row of every table, as JSON, in primary-key order. `admin_keys.last_used_at` is left
/// out: authenticating a call records the key's use, which is not a change the call makes.
async fn dump(db: &DatabaseConnection) -> BTreeMap<String, Vec<Value>> {
    common::dump_except(db, &["last_used_at"]).await
}

fn result<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["odsCode"] == code))
        .unwrap_or_else(|| panic!("no result for {code} in {report}"))
}

fn warnings(r: &Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn has_warning(r: &Value, text: &str) -> bool {
    warnings(r).iter().any(|w| w.contains(text))
}

/// A report with `dryRun` forced, to compare a dry run with the real one.
fn as_applied(mut report: Value) -> Value {
    report["dryRun"] = json!(false);
    report
}

async fn change_log_rows(db: &DatabaseConnection, code: &str) -> Vec<(String, String, String)> {
    #[derive(FromQueryResult)]
    struct Row {
        actor: String,
        source: String,
        action: String,
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT actor, source, action FROM change_log WHERE code = $1 ORDER BY id"
        }
        _ => "SELECT actor, source, action FROM change_log WHERE code = ? ORDER BY id",
    };
    Row::find_by_statement(Statement::from_sql_and_values(backend, sql, [code.into()]))
        .all(db)
        .await
        .expect("change log")
        .into_iter()
        .map(|r| (r.actor, r.source, r.action))
        .collect()
}

async fn site_id(db: &DatabaseConnection, code: &str) -> i32 {
    memberships::ids_by_code(db, memberships::ORGANISATIONS)
        .await
        .expect("ids")[code]
}

#[tokio::test]
async fn english_site_is_created_under_its_trust_with_icb_region_country_network_and_pdu() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    let report = e.create("odsCodes: [\"rvv99\"]").await;
    assert_eq!(report["dryRun"], false);
    let r = result(&report, "RVV99");
    assert_eq!(r["status"], "CREATED", "{r}");
    let o = &r["organisation"];
    assert_eq!(o["name"], "NEW KENT HOSPITAL");
    assert_eq!(o["trust"]["odsCode"], "RVV");
    assert_eq!(o["parent"]["odsCode"], "RVV");
    assert_eq!(o["integratedCareBoard"]["odsCode"], "QKS");
    assert_eq!(o["nhsEnglandRegion"]["regionCode"], "Y59");
    assert_eq!(o["country"]["code"], "E92000001");
    assert_eq!(o["openUkNetwork"]["code"], "SETPEG");
    assert_eq!(o["paediatricDiabetesUnit"]["pzCode"], "PZ024");
    assert_eq!(o["localHealthBoard"], Value::Null);
    assert_eq!(o["postcode"], "TN24 0LZ");
    assert_eq!(o["publishedAt"], "2021-07-21");
    assert!(has_warning(r, "no coordinates"), "{r}");
    assert!(
        !has_warning(r, "no PDU") && !has_warning(r, "no ICB"),
        "{r}"
    );

    // The site is now current, as reads see it.
    let site = e.site("RVV99").await;
    assert_eq!(site["trust"]["odsCode"], "RVV");
    assert_eq!(site["integratedCareBoard"]["odsCode"], "QKS");
    assert_eq!(site["paediatricDiabetesUnit"]["pzCode"], "PZ024");

    // Logged as the key's name, source merger: the record and each membership.
    let log = change_log_rows(&e.t.db, "RVV99").await;
    assert!(log.len() >= 7, "{log:?}");
    assert!(log
        .iter()
        .all(|(actor, source, _)| actor == "merger-admin" && source == "merger"));
    assert_eq!(log[0].2, "create");
    assert!(log.iter().filter(|l| l.2 == "membership").count() >= 6);
}

#[tokio::test]
async fn welsh_site_is_created_under_its_board() {
    let e = env().await;
    // 7A4BV is not in the seed.
    assert_eq!(e.site("7A4BV").await, Value::Null);
    e.ord.fixtures(&["7A4BV"]).await;
    let report = e.create("odsCodes: [\"7A4BV\"]").await;
    let r = result(&report, "7A4BV");
    assert_eq!(r["status"], "CREATED", "{r}");
    let o = &r["organisation"];
    assert_eq!(o["name"], "UNIVERSITY HOSPITAL OF WALES");
    assert_eq!(o["localHealthBoard"]["odsCode"], "7A4");
    assert_eq!(o["parent"]["odsCode"], "7A4");
    assert_eq!(o["trust"], Value::Null);
    assert_eq!(o["country"]["code"], "W92000004");
    assert_eq!(o["integratedCareBoard"], Value::Null);
    assert_eq!(o["nhsEnglandRegion"], Value::Null);
    assert_eq!(o["openUkNetwork"]["code"], "SWEP");
    // 7A4 has no board-level PDU (only its site 7A4H1 has one).
    assert_eq!(o["paediatricDiabetesUnit"], Value::Null);
    assert!(has_warning(r, "no PDU"), "{r}");
    assert!(!has_warning(r, "no ICB"), "Welsh sites have no ICB: {r}");
    assert_eq!(e.site("7A4BV").await["localHealthBoard"]["odsCode"], "7A4");
}

#[tokio::test]
async fn icb_comes_from_the_trusts_ord_record_when_it_has_no_sites() {
    let e = env().await;
    // R1J is a seeded trust with no sites and no ICB in the reference data.
    e.ord
        .record(
            "R1J99",
            site_record("R1J99", "NEW GLOUCESTER CLINIC", "R1J", "RO197"),
        )
        .await;
    e.ord.record("R1J", trust_record("R1J")).await;
    let report = e.create("odsCodes: [\"R1J99\"]").await;
    let r = result(&report, "R1J99");
    assert_eq!(r["status"], "CREATED", "{r}");
    assert_eq!(r["organisation"]["trust"]["odsCode"], "R1J");
    assert_eq!(r["organisation"]["integratedCareBoard"]["odsCode"], "QKS");
    assert_eq!(r["organisation"]["nhsEnglandRegion"]["regionCode"], "Y59");
}

#[tokio::test]
async fn trusts_boards_icbs_and_regions_are_refused() {
    let e = env().await;
    e.ord.fixtures(&["RVV", "7A4", "QKS", "Y59"]).await;
    let before = e.dump().await;
    let report = e
        .create("odsCodes: [\"RVV\", \"7A4\", \"QKS\", \"Y59\"]")
        .await;
    for code in ["RVV", "7A4", "QKS", "Y59"] {
        let r = result(&report, code);
        assert_eq!(r["status"], "REFUSED", "{r}");
        assert!(r["message"]
            .as_str()
            .is_some_and(|m| m.contains("only sites")));
        assert_eq!(r["organisation"], Value::Null);
    }
    assert_eq!(e.dump().await, before, "a refused call changes nothing");
}

#[tokio::test]
async fn unknown_code_is_not_found_and_the_rest_of_the_batch_applies() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    let report = e.create("odsCodes: [\"RZZ99\", \"RVV99\"]").await;
    assert_eq!(result(&report, "RZZ99")["status"], "NOT_FOUND");
    assert_eq!(result(&report, "RVV99")["status"], "CREATED");
    assert_eq!(e.site("RZZ99").await, Value::Null);
    assert_eq!(e.site("RVV99").await["odsCode"], "RVV99");
}

#[tokio::test]
async fn unknown_parent_is_refused_unless_unlinked_sites_are_allowed() {
    let e = env().await;
    e.ord
        .record(
            "RZZ01",
            site_record("RZZ01", "ORPHAN HOSPITAL", "RZZ", "RO197"),
        )
        .await;
    let refused = e.create("odsCodes: [\"RZZ01\"]").await;
    let r = result(&refused, "RZZ01");
    assert_eq!(r["status"], "REFUSED", "{r}");
    assert!(r["message"].as_str().is_some_and(|m| m.contains("RZZ")));
    assert_eq!(e.site("RZZ01").await, Value::Null);

    let allowed = e.create("odsCodes: [\"RZZ01\"], allowUnlinked: true").await;
    let r = result(&allowed, "RZZ01");
    assert_eq!(r["status"], "CREATED", "{r}");
    assert_eq!(r["organisation"]["parent"], Value::Null);
    assert_eq!(r["organisation"]["country"]["code"], "E92000001");
    assert!(has_warning(r, "without a parent"), "{r}");
    assert!(has_warning(r, "no OPEN UK network"), "{r}");
    assert!(has_warning(r, "no ICB"), "{r}");
}

#[tokio::test]
async fn existing_site_is_a_conflict() {
    let e = env().await;
    e.ord.fixtures(&["RVV01"]).await;
    let before = e.dump().await;
    let report = e.create("odsCodes: [\"RVV01\"]").await;
    let r = result(&report, "RVV01");
    assert_eq!(r["status"], "CONFLICT", "{r}");
    assert_eq!(r["organisation"]["odsCode"], "RVV01");
    assert_eq!(r["organisation"]["trust"]["odsCode"], "RVV");
    assert_eq!(e.dump().await, before);
    assert_eq!(
        e.ord.requests().await,
        0,
        "a current site needs no ORD lookup"
    );
}

#[tokio::test]
async fn deleting_the_last_site_of_a_pdu_warns_and_keeps_history() {
    let e = env().await;
    let id = site_id(&e.t.db, "RGT01").await;
    let report = e.delete("odsCodes: [\"RGT01\", \"RZZ99\"]").await;
    let r = result(&report, "RGT01");
    assert_eq!(r["status"], "DELETED", "{r}");
    assert!(has_warning(r, "PZ041 has no current sites left"), "{r}");
    // RGT keeps RGT1W, and EPEN its other sites.
    assert!(!has_warning(r, "trust RGT"), "{r}");
    let had: Vec<(String, String)> = r["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or("").to_string(),
                m["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        had.contains(&("PAEDIATRIC_DIABETES_UNIT".into(), "PZ041".into())),
        "{had:?}"
    );
    assert!(had.contains(&("TRUST".into(), "RGT".into())), "{had:?}");
    assert_eq!(
        r["organisation"]["trust"],
        Value::Null,
        "a deleted site has no current edges"
    );
    assert_eq!(result(&report, "RZZ99")["status"], "NOT_FOUND");

    // Gone from current reads.
    assert_eq!(e.site("RGT01").await, Value::Null);
    let lists = data(
        common::gql(
            &e.schema,
            "{ organisations(filter: {odsCodes: [\"RGT01\"]}) { odsCode }
               trust(odsCode: \"RGT\") { organisations { odsCode } }
               paediatricDiabetesUnit(pzCode: \"PZ041\") { organisations { odsCode } primaryOrganisation { odsCode } } }",
        )
        .await,
    );
    assert_eq!(lists["organisations"], json!([]));
    assert_eq!(
        lists["trust"]["organisations"],
        json!([{"odsCode": "RGT1W"}])
    );
    assert_eq!(lists["paediatricDiabetesUnit"]["organisations"], json!([]));
    assert_eq!(
        lists["paediatricDiabetesUnit"]["primaryOrganisation"],
        Value::Null
    );

    // Nothing erased: the memberships are closed, not removed.
    let history = memberships::history(&e.t.db, Edge::OrganisationPaediatricDiabetesUnit, id)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].valid_to, Some(chrono::Utc::now().date_naive()));
    let log = change_log_rows(&e.t.db, "RGT01").await;
    assert!(log
        .iter()
        .any(|(a, s, action)| a == "merger-admin" && s == "merger" && action == "delete"));

    // Deleting again: not found.
    let again = e.delete("odsCodes: [\"RGT01\"]").await;
    assert_eq!(result(&again, "RGT01")["status"], "NOT_FOUND");
}

#[tokio::test]
async fn re_adding_a_deleted_site_restores_its_pdu_network_and_borough() {
    let e = env().await;
    // Give RQM01 a PDU that derivation would not give it (its own is PZ130).
    let moved = e.update("odsCode: \"RQM01\", pzCode: \"PZ099\"").await;
    assert_eq!(result(&moved, "RQM01")["status"], "UPDATED");
    let before = e.site("RQM01").await;
    assert_eq!(before["londonBorough"]["gssCode"], "E09000020");

    let deleted = e.delete("odsCodes: [\"RQM01\"]").await;
    assert_eq!(result(&deleted, "RQM01")["status"], "DELETED");
    assert_eq!(e.site("RQM01").await, Value::Null);

    let mut record = site_record("RQM01", "CHELSEA & WESTMINSTER HOSPITAL", "RQM", "RO197");
    record["Organisation"]["GeoLoc"]["Location"] = json!({
        "AddrLn1": "369 FULHAM ROAD", "Town": "LONDON", "PostCode": "SW10 9NH", "Country": "ENGLAND"
    });
    e.ord.record("RQM01", record).await;
    let report = e.create("odsCodes: [\"RQM01\"]").await;
    let r = result(&report, "RQM01");
    assert_eq!(r["status"], "RESTORED", "{r}");
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("re-added")),
        "{r}"
    );
    let o = &r["organisation"];
    assert_eq!(o["paediatricDiabetesUnit"]["pzCode"], "PZ099");
    assert_eq!(o["londonBorough"]["gssCode"], "E09000020");
    assert_eq!(o["openUkNetwork"], before["openUkNetwork"]);
    assert_eq!(o["trust"]["odsCode"], "RQM");
    assert_eq!(o["integratedCareBoard"], before["integratedCareBoard"]);
    assert_eq!(o["nhsEnglandRegion"], before["nhsEnglandRegion"]);
    // Coordinates are not in ORD: the old ones stay.
    assert_eq!(o["latitude"], before["latitude"]);
    assert_eq!(e.site("RQM01").await, before);
    let log = change_log_rows(&e.t.db, "RQM01").await;
    assert!(log.iter().any(|l| l.2 == "restore"), "{log:?}");
}

#[tokio::test]
async fn dry_runs_change_nothing_and_report_what_applying_reports() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    e.ord.fixtures(&["7A4BV", "RVV"]).await;
    let batch = "odsCodes: [\"RVV99\", \"7A4BV\", \"RVV\", \"RZZ99\", \"RVV01\"], \
                 coordinates: [{odsCode: \"RVV99\", latitude: 51.1, longitude: 0.87}]";

    let before = e.dump().await;
    let dry = e.create(&format!("{batch}, dryRun: true")).await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        e.dump().await,
        before,
        "create dry run changed the database"
    );
    assert_eq!(e.site("RVV99").await, Value::Null);
    let real = e.create(batch).await;
    assert_eq!(as_applied(dry), real);
    assert_ne!(e.dump().await, before, "the real run changes the database");
    assert_eq!(result(&real, "RVV99")["organisation"]["latitude"], 51.1);
    assert_eq!(
        result(&real, "RVV99")["organisation"]["integratedCareBoard"]["odsCode"],
        "QKS"
    );

    let before = e.dump().await;
    let dry = e
        .delete("odsCodes: [\"RGT01\", \"RVV99\", \"RZZ99\"], dryRun: true")
        .await;
    assert_eq!(
        e.dump().await,
        before,
        "delete dry run changed the database"
    );
    assert_eq!(e.site("RGT01").await["odsCode"], "RGT01");
    let real = e
        .delete("odsCodes: [\"RGT01\", \"RVV99\", \"RZZ99\"]")
        .await;
    assert_eq!(as_applied(dry), real);

    let before = e.dump().await;
    let args =
        "odsCode: \"RVV01\", pzCode: \"PZ041\", parentOdsCode: \"RQM\", openUkNetworkCode: null";
    let dry = e.update(&format!("{args}, dryRun: true")).await;
    assert_eq!(
        e.dump().await,
        before,
        "update dry run changed the database"
    );
    let real = e.update(args).await;
    assert_eq!(as_applied(dry), real);
    assert_eq!(result(&real, "RVV01")["status"], "UPDATED");
}

#[tokio::test]
async fn mutations_need_an_admin_key() {
    let e = env().await;
    let before = e.dump().await;
    for m in [
        "createOrganisations(odsCodes: [\"RVV99\"]) { dryRun }",
        "deleteOrganisations(odsCodes: [\"RVV01\"]) { dryRun }",
        "updateOrganisationMemberships(odsCode: \"RVV01\", pzCode: null) { dryRun }",
    ] {
        let q = format!("mutation {{ {m} }}");
        let anonymous = common::gql(&e.schema, &q).await;
        assert_eq!(
            error_code(&anonymous).as_deref(),
            Some("UNAUTHENTICATED"),
            "{anonymous}"
        );
        let wrong = common::gql_admin(&e.schema, &q, "nhso_not_a_key").await;
        assert_eq!(
            error_code(&wrong).as_deref(),
            Some("UNAUTHENTICATED"),
            "{wrong}"
        );
    }
    assert_eq!(e.dump().await, before);
    assert_eq!(e.ord.requests().await, 0);
}

#[tokio::test]
async fn malformed_codes_are_bad_user_input_and_nothing_is_applied() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    let before = e.dump().await;
    for m in [
        "createOrganisations(odsCodes: [\"RVV99\", \"R-1\"])",
        "createOrganisations(odsCodes: [])",
        "createOrganisations(odsCodes: [\"RVV99\"], coordinates: [{odsCode: \"RVV99\", latitude: 91, longitude: 0}])",
        "deleteOrganisations(odsCodes: [\"RVV01\", \"TOOLONGCODE1\"])",
        "updateOrganisationMemberships(odsCode: \"RVV01\", pzCode: \"PZ24\")",
        "updateOrganisationMemberships(odsCode: \"RVV01\")",
    ] {
        let resp = e.admin(&format!("mutation {{ {m} {{ dryRun }} }}")).await;
        assert_eq!(error_code(&resp).as_deref(), Some("BAD_USER_INPUT"), "{m}: {resp}");
    }
    assert_eq!(e.dump().await, before);
    assert_eq!(
        e.ord.requests().await,
        0,
        "codes are checked before ORD is asked"
    );
}

#[tokio::test]
async fn ord_failing_is_upstream_unavailable_and_nothing_is_applied() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    e.ord.failing("RVV98", 500).await;
    let before = e.dump().await;
    let resp = e
        .admin(&format!(
            "mutation {{ createOrganisations(odsCodes: [\"RVV99\", \"RVV98\"]) {{ {REPORT} }} }}"
        ))
        .await;
    assert_eq!(
        error_code(&resp).as_deref(),
        Some("UPSTREAM_UNAVAILABLE"),
        "{resp}"
    );
    let message = resp["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("RVV98") && message.contains("Nothing was changed"),
        "{message}"
    );
    assert_eq!(e.dump().await, before);
    assert_eq!(e.site("RVV99").await, Value::Null);

    // Garbage from ORD counts as unavailable too.
    e.ord
        .respond(
            "RVV97",
            ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
        )
        .await;
    let resp = e
        .admin("mutation { createOrganisations(odsCodes: [\"RVV97\"]) { dryRun } }")
        .await;
    assert_eq!(
        error_code(&resp).as_deref(),
        Some("UPSTREAM_UNAVAILABLE"),
        "{resp}"
    );
    assert_eq!(e.dump().await, before);
}

#[tokio::test]
async fn memberships_are_set_and_cleared_with_history_kept() {
    let e = env().await;
    let id = site_id(&e.t.db, "RVV01").await;
    let today = chrono::Utc::now().date_naive();

    let set = e.update("odsCode: \"RVV01\", pzCode: \"pz041\"").await;
    let r = result(&set, "RVV01");
    assert_eq!(r["status"], "UPDATED", "{r}");
    assert_eq!(
        r["changes"],
        json!([{"kind": "PAEDIATRIC_DIABETES_UNIT", "before": "PZ024", "after": "PZ041"}])
    );
    assert_eq!(
        r["organisation"]["paediatricDiabetesUnit"]["pzCode"],
        "PZ041"
    );
    assert_eq!(
        e.site("RVV01").await["paediatricDiabetesUnit"]["pzCode"],
        "PZ041"
    );

    let same = e.update("odsCode: \"RVV01\", pzCode: \"PZ041\"").await;
    assert_eq!(result(&same, "RVV01")["status"], "UNCHANGED");

    let cleared = e.update("odsCode: \"RVV01\", pzCode: null").await;
    let r = result(&cleared, "RVV01");
    assert_eq!(r["status"], "UPDATED");
    assert!(has_warning(r, "no PDU"), "{r}");
    assert!(
        !has_warning(r, "PZ041 has no current sites left"),
        "RGT01 is still in PZ041: {r}"
    );
    assert_eq!(e.site("RVV01").await["paediatricDiabetesUnit"], Value::Null);

    let history = memberships::history(&e.t.db, Edge::OrganisationPaediatricDiabetesUnit, id)
        .await
        .expect("history");
    let rows: Vec<(String, Option<chrono::NaiveDate>)> = {
        let codes = memberships::codes_of(
            &e.t.db,
            memberships::PAEDIATRIC_DIABETES_UNITS,
            &history.iter().map(|m| m.parent_id).collect::<Vec<_>>(),
        )
        .await
        .expect("codes");
        history
            .iter()
            .map(|m| (codes[&m.parent_id].clone(), m.valid_to))
            .collect()
    };
    assert_eq!(
        rows,
        vec![
            ("PZ024".to_string(), Some(today)),
            ("PZ041".to_string(), Some(today))
        ]
    );

    // A new parent trust brings its ICB and region; a board makes the site Welsh.
    let moved = e.update("odsCode: \"RVV01\", parentOdsCode: \"RQM\"").await;
    let o = &result(&moved, "RVV01")["organisation"];
    assert_eq!(o["trust"]["odsCode"], "RQM");
    assert_eq!(o["integratedCareBoard"]["odsCode"], "QRV");
    assert_eq!(o["nhsEnglandRegion"]["regionCode"], "Y56");
    let welsh = e.update("odsCode: \"RVV01\", parentOdsCode: \"7A4\"").await;
    let o = &result(&welsh, "RVV01")["organisation"];
    assert_eq!(o["localHealthBoard"]["odsCode"], "7A4");
    assert_eq!(o["trust"], Value::Null);
    assert_eq!(o["country"]["code"], "W92000004");
    assert_eq!(o["integratedCareBoard"], Value::Null);
    assert_eq!(o["nhsEnglandRegion"], Value::Null);

    // Borough set and cleared; ICB set by hand brings its region.
    let r = e
        .update("odsCode: \"RVV01\", londonBoroughGssCode: \"E09000020\", integratedCareBoardOdsCode: \"QKS\"")
        .await;
    let o = &result(&r, "RVV01")["organisation"];
    assert_eq!(o["londonBorough"]["gssCode"], "E09000020");
    assert_eq!(o["nhsEnglandRegion"]["regionCode"], "Y59");
    let r = e
        .update("odsCode: \"RVV01\", londonBoroughGssCode: null")
        .await;
    assert_eq!(
        result(&r, "RVV01")["organisation"]["londonBorough"],
        Value::Null
    );

    let log = change_log_rows(&e.t.db, "RVV01").await;
    assert!(
        log.iter()
            .filter(|l| l.0 == "merger-admin" && l.1 == "merger")
            .count()
            >= 8
    );
}

#[tokio::test]
async fn membership_updates_refuse_unknown_targets_and_sites() {
    let e = env().await;
    let before = e.dump().await;
    let r = e
        .update("odsCode: \"RVV01\", pzCode: \"PZ998\", parentOdsCode: \"RZZ\"")
        .await;
    let r = result(&r, "RVV01");
    assert_eq!(r["status"], "REFUSED");
    let message = r["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("PZ998") && message.contains("RZZ"),
        "{message}"
    );
    let missing = e.update("odsCode: \"RZZ99\", pzCode: null").await;
    assert_eq!(result(&missing, "RZZ99")["status"], "NOT_FOUND");
    assert_eq!(e.dump().await, before);
}

#[tokio::test]
async fn the_command_line_mirrors_the_mutations() {
    let e = env().await;
    e.ord
        .record(
            "RVV99",
            site_record("RVV99", "NEW KENT HOSPITAL", "RVV", "RO197"),
        )
        .await;
    let uri = e.ord.base_url();
    let run = |args: &'static [&'static str]| {
        tokio::process::Command::new(common::BIN)
            .args(args)
            .env("DATABASE_URL", &e.t.url)
            .env("ORD_BASE_URL", &uri)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .output()
    };
    let out = run(&["merger", "create", "RVV99", "--dry-run"])
        .await
        .expect("run the binary");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dry run") && stdout.contains("RVV99 CREATED"),
        "{stdout}"
    );
    assert_eq!(e.site("RVV99").await, Value::Null);

    let out = run(&["merger", "create", "RVV99"])
        .await
        .expect("run the binary");
    assert!(out.status.success(), "{out:?}");
    // Another process wrote: the server sees it within a second.
    let second = std::time::Duration::from_secs(1);
    assert!(
        common::eventually(second, || async {
            e.site("RVV99").await["trust"]["odsCode"] == "RVV"
        })
        .await
    );

    // stdin is not a terminal: no prompt, the delete goes ahead.
    let out = run(&["merger", "delete", "RVV99"])
        .await
        .expect("run the binary");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("RVV99 DELETED"));
    assert!(common::eventually(second, || async { e.site("RVV99").await == Value::Null }).await);

    // A code not applied: non-zero exit, one line on stderr.
    let out = run(&["merger", "delete", "RVV99", "--yes"])
        .await
        .expect("run the binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout_has(&out, "RVV99 NOT_FOUND"), "{out:?}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let out = run(&["merger", "create", "R-1"])
        .await
        .expect("run the binary");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid ODS code"));

    let out = run(&["merger", "memberships", "RVV01", "--pdu", "PZ041"])
        .await
        .expect("run the binary");
    assert!(out.status.success(), "{out:?}");
    assert!(
        common::eventually(second, || async {
            e.site("RVV01").await["paediatricDiabetesUnit"]["pzCode"] == "PZ041"
        })
        .await
    );
    let log = change_log_rows(&e.t.db, "RVV01").await;
    assert!(log.iter().any(|l| l.0 == "cli" && l.1 == "merger"));
}

fn stdout_has(out: &std::process::Output, text: &str) -> bool {
    String::from_utf8_lossy(&out.stdout).contains(text)
}

/// A trust split in two with its sites recoded, composed as docs/reorganisations.md says: the
/// successor trusts are created (`acquireTrusts` with a new code, `newName` and no acquired
/// trust), the recoded sites added from ORD and the old ones deleted on the same day, and the
/// emptied trust closed into its first successor.
#[tokio::test]
async fn a_trust_splits_in_two_with_its_sites_recoded() {
    let e = env().await;
    let on = "2025-06-01";
    for (code, name) in [("R9X", "ALPHA NHS TRUST"), ("R9Y", "BETA NHS TRUST")] {
        let q = format!(
            "mutation {{ acquireTrusts(acquiringOdsCode: \"{code}\", acquiredOdsCodes: [],
             newName: \"{name}\", effectiveOn: \"{on}\") {{ records {{ code action }} }} }}"
        );
        let r = data(e.admin(&q).await);
        assert_eq!(r["acquireTrusts"]["records"][0]["action"], "OPENED", "{r}");
    }
    for (site, name, trust) in [("R9X05", "HAM CLINIC", "R9X"), ("R9Y18", "HOUNSLOW", "R9Y")] {
        e.ord
            .record(site, site_record(site, name, trust, "RO197"))
            .await;
        e.ord.record(trust, trust_record(trust)).await;
    }
    let q = format!(
        "mutation {{ createOrganisations(odsCodes: [\"R9X05\", \"R9Y18\"], effectiveOn: \"{on}\")
         {{ results {{ odsCode status }} }} }}"
    );
    let r = data(e.admin(&q).await);
    assert!(
        r["createOrganisations"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "CREATED"),
        "{r}"
    );
    let q = format!(
        "mutation {{ deleteOrganisations(odsCodes: [\"RY905\", \"RY918\"], effectiveOn: \"{on}\")
         {{ results {{ status }} }} }}"
    );
    data(e.admin(&q).await);
    let q = format!(
        "mutation {{ acquireTrusts(acquiringOdsCode: \"R9X\", acquiredOdsCodes: [\"RY9\"],
         effectiveOn: \"{on}\") {{ records {{ code action }} successions {{ predecessor successor }} }} }}"
    );
    let r = data(e.admin(&q).await);
    assert!(r["acquireTrusts"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["code"] == "RY9" && x["action"] == "CLOSED"));

    let day = |d: &str| {
        format!(
            "{{ old: organisation(odsCode: \"RY905\", asOf: \"{d}\") {{ trust {{ odsCode }} }}
               a: organisation(odsCode: \"R9X05\", asOf: \"{d}\") {{ trust {{ odsCode }} }}
               b: organisation(odsCode: \"R9Y18\", asOf: \"{d}\") {{ trust {{ odsCode }} }}
               ry9: trust(odsCode: \"RY9\", asOf: \"{d}\") {{ odsCode }} }}"
        )
    };
    let before = data(common::gql(&e.schema, &day("2025-05-31")).await);
    assert_eq!(before["old"]["trust"]["odsCode"], "RY9");
    assert!(before["a"].is_null() && before["b"].is_null(), "{before}");
    let after = data(common::gql(&e.schema, &day(on)).await);
    assert!(after["old"].is_null() && after["ry9"].is_null(), "{after}");
    assert_eq!(after["a"]["trust"]["odsCode"], "R9X");
    assert_eq!(after["b"]["trust"]["odsCode"], "R9Y");
}
