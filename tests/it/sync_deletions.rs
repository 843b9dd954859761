//! What ODS takes away, against the mock ORD (wiremock on 127.0.0.1): records deleted at ODS
//! (its `notifications`), archived RefOnly skeletons, and relationships that vanished without an
//! end date. Runs on SQLite, and on PostgreSQL with `TEST_DATABASE_URL`.
use crate::common;

use chrono::NaiveDate;
use common::ord::{fixture, json_response, record_from, trust_in, MockOrd};
use common::sync_env::SyncEnv;
use common::{count, data, days_ago, dump_except, gql_admin};
use nhs_organisations::memberships::{self, Edge};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

const REPORT: &str = "dryRun listed fetched notFound \
    changes { odsCode entity field before after effectiveOn } \
    moves { odsCode before after effectiveOn } closures { odsCode entity closedOn } \
    deletions { odsCode entity deletedOn reason } warnings";

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
        Env(SyncEnv::over(MockOrd::start().await, "sync-admin").await)
    }

    async fn report(&self, args: &str) -> Value {
        data(self.sync_from_ord(args, REPORT).await)["syncFromOrd"].clone()
    }

    async fn query(&self, q: &str) -> Value {
        data(common::gql(&self.schema, q).await)
    }

    async fn org(&self, code: &str) -> Value {
        self.query(&format!(
            "{{ organisation(odsCode: \"{code}\") {{ odsCode name active publishedAt \
             odsDeletion {{ deletedOn reason }} trust {{ odsCode }} localHealthBoard {{ odsCode }} \
             integratedCareBoard {{ odsCode }} nhsEnglandRegion {{ regionCode }} }} }}"
        ))
        .await["organisation"]
            .clone()
    }

    async fn trust(&self, code: &str) -> Value {
        self.query(&format!(
            "{{ trust(odsCode: \"{code}\") {{ odsCode name active publishedAt postcode \
             odsDeletion {{ deletedOn reason }} }} }}"
        ))
        .await["trust"]
            .clone()
    }
}

fn since(d: NaiveDate) -> String {
    format!("since: \"{d}\"")
}

fn at_midnight(d: NaiveDate) -> String {
    format!("{d} 00:00:00")
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w.as_str().map(String::from))
        .collect()
}

fn warned(report: &Value, all: &[&str]) -> bool {
    warnings(report)
        .iter()
        .any(|w| all.iter().all(|part| w.contains(part)))
}

fn change<'a>(report: &'a Value, code: &str, field: &str) -> Option<&'a Value> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["odsCode"] == code && c["field"] == field)
}

async fn log_rows(db: &DatabaseConnection, field: &str) -> Vec<Value> {
    Value::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT actor, source, entity, code, action, field, before, after, effective_on \
             FROM change_log WHERE field = '{field}' ORDER BY id"
        ),
    ))
    .all(db)
    .await
    .expect("change log")
}

async fn trust_history(db: &DatabaseConnection, code: &str) -> Vec<(String, NaiveDate)> {
    let id = memberships::ids_by_code(db, memberships::ORGANISATIONS)
        .await
        .expect("ids")[code];
    let rows = memberships::history(db, Edge::OrganisationTrust, id)
        .await
        .expect("history");
    let parents: Vec<i32> = rows.iter().map(|m| m.parent_id).collect();
    let codes = memberships::codes_of(db, memberships::TRUSTS, &parents)
        .await
        .expect("codes");
    rows.iter()
        .map(|m| (codes[&m.parent_id].clone(), m.valid_from))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Deletions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_deletion_notice_marks_a_tracked_site_keeps_it_and_logs_it() {
    let env = Env::new().await;
    let deleted = days_ago(2);
    // RVV01 is listed and now 404s; RVVKC is not even listed. Both were deleted at ODS.
    env.ord.list(days_ago(5), &["RVV01"]).await;
    env.ord
        .respond("RVV01", json_response(404, &fixture("errors/404.json")))
        .await;
    env.ord
        .notifications(&[
            ("RVV01", &at_midnight(deleted), "HUMAN ERROR"),
            ("RVVKC", &at_midnight(deleted), "ORG DOES NOT EXIST"),
            // Untracked codes (the documentation's own example) are ignored.
            ("I8M8X", "2023-09-01 00:00:00", "HUMAN ERROR"),
        ])
        .await;
    let before_org = env.org("RVV01").await;

    // A dry run reports exactly what the real run does, and writes nothing (but the admin
    // key's last-used stamp).
    let untouched = dump_except(&env.db.db, &["last_used_at"]).await;
    let dry = env
        .report(&format!("{}, dryRun: true", since(days_ago(5))))
        .await;
    assert!(dump_except(&env.db.db, &["last_used_at"]).await == untouched);
    let report = env.report(&since(days_ago(5))).await;
    let mut as_real = dry.clone();
    as_real["dryRun"] = json!(false);
    assert_eq!(as_real, report);

    assert_eq!(
        report["deletions"],
        json!([
            {"odsCode": "RVV01", "entity": "organisation", "deletedOn": deleted.to_string(), "reason": "HUMAN ERROR"},
            {"odsCode": "RVVKC", "entity": "organisation", "deletedOn": deleted.to_string(), "reason": "ORG DOES NOT EXIST"},
        ])
    );
    // Still a 404, but the notice explains it: no warning.
    assert_eq!(report["notFound"], json!(["RVV01"]));
    assert_eq!(warnings(&report), Vec::<String>::new());
    let mark = change(&report, "RVV01", "ods_deleted_on").expect("mark reported");
    assert_eq!(
        (mark["before"].clone(), mark["after"].clone()),
        (Value::Null, json!(deleted.to_string()))
    );
    assert_eq!(mark["effectiveOn"], deleted.to_string());

    // Kept, with everything else as it was, and the mark.
    let after = env.org("RVV01").await;
    assert_eq!(
        after["odsDeletion"],
        json!({"deletedOn": deleted.to_string(), "reason": "HUMAN ERROR"})
    );
    let mut unmarked = after.clone();
    unmarked["odsDeletion"] = Value::Null;
    assert_eq!(unmarked, before_org);
    // As of a day before the deletion, there was no mark.
    let earlier = env
        .query(&format!(
            "{{ organisation(odsCode: \"RVV01\", asOf: \"{}\") {{ odsDeletion {{ deletedOn }} }} }}",
            days_ago(3)
        ))
        .await;
    assert_eq!(earlier["organisation"]["odsDeletion"], Value::Null);

    // The change log has both fields, by the admin key, from the deletion day.
    let rows = log_rows(&env.db.db, "ods_deleted_on").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["actor"], "sync-admin");
        assert_eq!(row["source"], "ord-sync");
        assert_eq!(row["action"], "update");
        assert_eq!(row["entity"], "organisation");
        assert_eq!(row["effective_on"], deleted.to_string());
    }
    let reasons = log_rows(&env.db.db, "ods_deletion_reason").await;
    assert_eq!(reasons[0]["after"], "\"HUMAN ERROR\"");

    // Again: nothing new to mark, nothing written, and the 404 is still explained.
    let again = env.report(&since(days_ago(5))).await;
    assert_eq!(again["deletions"], json!([]));
    assert_eq!(again["changes"], json!([]));
    assert_eq!(warnings(&again), Vec::<String>::new());
    assert_eq!(log_rows(&env.db.db, "ods_deleted_on").await.len(), 2);
}

#[tokio::test]
async fn a_republished_record_clears_the_mark() {
    let env = Env::new().await;
    let deleted = days_ago(6);
    env.ord
        .notifications(&[("RVV01", &at_midnight(deleted), "HUMAN ERROR")])
        .await;
    env.ord.list(days_ago(10), &[]).await;
    let first = env.report(&since(days_ago(10))).await;
    assert_eq!(first["deletions"][0]["odsCode"], "RVV01");
    assert_eq!(
        env.org("RVV01").await["odsDeletion"]["deletedOn"],
        deleted.to_string()
    );

    // ODS publishes the code again: /sync lists it with a newer LastChangeDate. The notice
    // stays in `notifications` for 185 days, but it is older than the record now.
    let republished = days_ago(1);
    env.ord.list(days_ago(3), &["RVV01"]).await;
    env.ord
        .record(
            "RVV01",
            record_from(
                "RVV01",
                "RVV01",
                "WILLIAM HARVEY HOSPITAL (ASHFORD)",
                republished,
            ),
        )
        .await;
    let second = env.report(&since(days_ago(3))).await;
    assert_eq!(second["deletions"], json!([]));
    let cleared = change(&second, "RVV01", "ods_deleted_on").expect("cleared");
    assert_eq!(cleared["before"], deleted.to_string());
    assert_eq!(cleared["after"], Value::Null);
    assert_eq!(cleared["effectiveOn"], republished.to_string());
    assert!(change(&second, "RVV01", "ods_deletion_reason").is_some());
    let org = env.org("RVV01").await;
    assert_eq!(org["odsDeletion"], Value::Null);
    assert_eq!(org["publishedAt"], republished.to_string());

    // Later runs that do not list it: the old notice is older than the version we hold.
    env.ord.list(days_ago(0), &[]).await;
    let third = env.report(&since(days_ago(0))).await;
    assert_eq!(third["deletions"], json!([]));
    assert_eq!(third["changes"], json!([]));
    assert_eq!(env.org("RVV01").await["odsDeletion"], Value::Null);
}

#[tokio::test]
async fn only_deletions_after_the_newest_version_we_hold_count_and_trusts_are_marked_too() {
    let env = Env::new().await;
    // We hold RVVKC as ORD changed it 2 days ago.
    env.ord.list(days_ago(10), &["RVVKC"]).await;
    env.ord
        .record(
            "RVVKC",
            record_from("RVVKC", "RVVKC", "KENT & CANTERBURY HOSPITAL", days_ago(2)),
        )
        .await;
    env.ord.notifications(&[]).await;
    env.report(&since(days_ago(10))).await;

    let env = Env(env.0.with_ord(MockOrd::start().await).await);
    env.ord.list(days_ago(1), &[]).await;
    env.ord
        .notifications(&[
            // Older than the version we hold: that version is a republication.
            ("RVVKC", &at_midnight(days_ago(3)), "HUMAN ERROR"),
            // A trust we never synced: any deletion is newer.
            ("RVV", "2026-01-15 09:30:00", "THIRD PARTY ERROR"),
        ])
        .await;
    let report = env.report(&since(days_ago(1))).await;
    assert_eq!(
        report["deletions"],
        json!([{"odsCode": "RVV", "entity": "trust", "deletedOn": "2026-01-15", "reason": "THIRD PARTY ERROR"}])
    );
    assert_eq!(env.org("RVVKC").await["odsDeletion"], Value::Null);
    let trust = env.trust("RVV").await;
    assert_eq!(
        trust["odsDeletion"],
        json!({"deletedOn": "2026-01-15", "reason": "THIRD PARTY ERROR"})
    );
    assert_eq!(trust["active"], true);
    // Its sites stay where they are.
    assert_eq!(env.org("RVV01").await["trust"]["odsCode"], "RVV");
}

#[tokio::test]
async fn a_tracked_code_that_404s_without_a_notice_is_still_a_warning() {
    let env = Env::new().await;
    env.ord.list(days_ago(3), &["RVV01"]).await;
    env.ord
        .respond("RVV01", json_response(404, &fixture("errors/404.json")))
        .await;
    env.ord
        .notifications_respond(json_response(
            200,
            &fixture("notifications/notifications.json"),
        ))
        .await;
    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(report["notFound"], json!(["RVV01"]));
    assert_eq!(report["deletions"], json!([]));
    assert_eq!(
        warnings(&report),
        ["RVV01: ORD has no record for this code (HTTP 404); left as it is"]
    );
    assert_eq!(env.org("RVV01").await["odsDeletion"], Value::Null);
}

#[tokio::test]
async fn a_failed_notifications_read_is_a_warning_and_the_sync_applies() {
    let env = Env::new().await;
    // No `notifications` route at all (the mock answers 404).
    env.ord.list(days_ago(3), &["RVV01"]).await;
    env.ord
        .record(
            "RVV01",
            record_from("RVV01", "RVV01", "RENAMED ONCE", days_ago(1)),
        )
        .await;
    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(env.org("RVV01").await["name"], "RENAMED ONCE");
    assert!(
        warned(&report, &["notifications", "HTTP 404", "not checked"]),
        "{report}"
    );
    assert_eq!(warnings(&report).len(), 1);

    // A notifications endpoint that keeps failing (retried, then given up): the same.
    let env = Env(env.0.with_ord(MockOrd::start().await).await);
    env.ord
        .notifications_respond(ResponseTemplate::new(500))
        .await;
    env.ord.list(days_ago(3), &["RVV01"]).await;
    env.ord
        .record(
            "RVV01",
            record_from("RVV01", "RVV01", "RENAMED TWICE", days_ago(1)),
        )
        .await;
    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(env.org("RVV01").await["name"], "RENAMED TWICE");
    assert!(warned(&report, &["notifications", "HTTP 500"]), "{report}");
    let attempts = env
        .ord
        .requested()
        .await
        .iter()
        .filter(|p| p.ends_with("/notifications"))
        .count();
    assert!(attempts >= 4, "notifications retried: {attempts}");
    assert_eq!(count(&env.db.db, "SELECT COUNT(*) FROM sync_runs").await, 2);
}

// ---------------------------------------------------------------------------------------
// RefOnly skeletons
// ---------------------------------------------------------------------------------------

/// The verbatim RJY skeleton (closed 2001, `refOnly`, no Rels/Succs/Contacts) under `code`.
fn skeleton(code: &str, changed: NaiveDate) -> Value {
    record_from(
        "RJY",
        code,
        "WIGAN AND LEIGH HEALTH SERVICES NHS TRUST",
        changed,
    )
}

#[tokio::test]
async fn a_ref_only_record_for_a_tracked_trust_or_site_changes_nothing() {
    let env = Env::new().await;
    env.ord.notifications(&[]).await;
    env.ord.list(days_ago(3), &["RVV", "RVV01"]).await;
    env.ord.record("RVV", skeleton("RVV", days_ago(1))).await;
    env.ord
        .record("RVV01", skeleton("RVV01", days_ago(1)))
        .await;
    let trust_before = env.trust("RVV").await;
    let site_before = env.org("RVV01").await;
    let log_before = count(&env.db.db, "SELECT COUNT(*) FROM change_log").await;

    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(report["changes"], json!([]));
    assert_eq!(report["closures"], json!([]));
    assert_eq!(report["moves"], json!([]));
    // One warning each; none about a missing operator.
    let w = warnings(&report);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(warned(&report, &["RVV:", "refOnly"]), "{w:?}");
    assert!(warned(&report, &["RVV01:", "refOnly"]), "{w:?}");
    // Not closed, renamed, blanked or orphaned.
    assert_eq!(env.trust("RVV").await, trust_before);
    assert_eq!(env.org("RVV01").await, site_before);
    assert_eq!(site_before["trust"]["odsCode"], "RVV");
    assert_eq!(
        count(&env.db.db, "SELECT COUNT(*) FROM change_log").await,
        log_before
    );
}

#[tokio::test]
async fn a_ref_only_record_never_creates_a_site() {
    let env = Env::new().await;
    env.ord
        .record("RJY01", skeleton("RJY01", days_ago(1)))
        .await;
    let resp = gql_admin(
        &env.schema,
        "mutation { createOrganisations(odsCodes: [\"RJY01\"], allowUnlinked: true) { \
         results { odsCode status message } } }",
        &env.key,
    )
    .await;
    let r = &data(resp)["createOrganisations"]["results"][0];
    assert_eq!(r["status"], "REFUSED", "{r}");
    assert!(
        r["message"].as_str().is_some_and(|m| m.contains("refOnly")),
        "{r}"
    );
    assert_eq!(
        count(
            &env.db.db,
            "SELECT COUNT(*) FROM organisations WHERE ods_code = 'RJY01'"
        )
        .await,
        0
    );
}

// ---------------------------------------------------------------------------------------
// Vanished relationships
// ---------------------------------------------------------------------------------------

/// RVV01 as ORD has it, changed on `changed`, with `rels` as its relationships.
fn rvv01_with(rels: Value, changed: NaiveDate) -> Value {
    let mut v = record_from(
        "RVV01",
        "RVV01",
        "WILLIAM HARVEY HOSPITAL (ASHFORD)",
        changed,
    );
    v["Organisation"]["Rels"] = json!({ "Rel": rels });
    v
}

/// An RE6 relationship to `target` (an NHS trust).
fn operated_by(target: &str, start: &str, end: Option<&str>) -> Value {
    let mut date = json!({"Type": "Operational", "Start": start});
    if let Some(end) = end {
        date["End"] = json!(end);
    }
    json!({
        "Date": [date],
        "Status": if end.is_some() { "Inactive" } else { "Active" },
        "Target": {
            "OrgId": {"root": "2.16.840.1.113883.2.1.3.2.4.18.48", "assigningAuthorityName": "HSCIC", "extension": target},
            "PrimaryRoleId": {"id": "RO197", "uniqueRoleId": 1}
        },
        "id": "RE6",
        "uniqueRelId": 1
    })
}

#[tokio::test]
async fn a_vanished_relationship_with_no_replacement_keeps_the_site_and_warns() {
    let env = Env::new().await;
    env.ord.notifications(&[]).await;
    env.ord.list(days_ago(3), &["RVV01"]).await;
    // The RE6 to RVV is simply gone: no end date, nothing instead.
    env.ord
        .record("RVV01", rvv01_with(json!([]), days_ago(1)))
        .await;
    let before = env.org("RVV01").await;
    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(report["moves"], json!([]));
    assert!(
        warned(
            &report,
            &["RVV01", "RVV", "gone from ORD without an end date"]
        ),
        "{report}"
    );
    assert_eq!(warnings(&report).len(), 1);
    let after = env.org("RVV01").await;
    assert_eq!(after["trust"], before["trust"]);
    assert_eq!(after["integratedCareBoard"], before["integratedCareBoard"]);
    assert_eq!(after["nhsEnglandRegion"], before["nhsEnglandRegion"]);
}

#[tokio::test]
async fn a_corrected_relationship_moves_the_site_from_its_own_start() {
    let env = Env::new().await;
    env.ord.notifications(&[]).await;
    let changed = days_ago(1);
    let corrected_from = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    env.ord.list(days_ago(3), &["RVV01", "RVVKC"]).await;
    // RVV01: the wrong RE6 to RVV was removed and a corrected one to RJ1 added from 2025.
    env.ord
        .record(
            "RVV01",
            rvv01_with(
                json!([operated_by("RJ1", &corrected_from.to_string(), None)]),
                changed,
            ),
        )
        .await;
    // RVVKC, for contrast: an ordinary move (the RE6 to RVV ended), dated by the change.
    let mut rvvkc = record_from("RVVKC", "RVVKC", "KENT & CANTERBURY HOSPITAL", changed);
    rvvkc["Organisation"]["Rels"] = json!({"Rel": [
        operated_by("RVV", "1999-04-01", Some("2024-12-31")),
        operated_by("RJ1", &corrected_from.to_string(), None),
    ]});
    env.ord.record("RVVKC", rvvkc).await;
    env.ord
        .record(
            "RJ1",
            trust_in(
                "RJ1",
                "GUY'S AND ST THOMAS' NHS FOUNDATION TRUST",
                "QKK",
                changed,
            ),
        )
        .await;

    let report = env.report(&since(days_ago(3))).await;
    assert_eq!(
        report["moves"],
        json!([
            {"odsCode": "RVV01", "before": "RVV", "after": "RJ1", "effectiveOn": corrected_from.to_string()},
            {"odsCode": "RVVKC", "before": "RVV", "after": "RJ1", "effectiveOn": changed.to_string()},
        ])
    );
    assert_eq!(warnings(&report), Vec::<String>::new());
    // The ICB and region follow from the same day.
    let icb = change(&report, "RVV01", "integrated_care_board").expect("icb");
    assert_eq!(icb["after"], "QKK");
    assert_eq!(icb["effectiveOn"], corrected_from.to_string());
    let seeded = nhs_organisations::seed::reference_date();
    assert_eq!(
        trust_history(&env.db.db, "RVV01").await,
        [
            ("RVV".to_string(), seeded),
            ("RJ1".to_string(), corrected_from)
        ]
    );
    let after = env.org("RVV01").await;
    assert_eq!(after["trust"]["odsCode"], "RJ1");
    assert_eq!(after["nhsEnglandRegion"]["regionCode"], "Y56");
}
