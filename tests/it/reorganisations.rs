//! Reorganisations: dated trust acquisitions and renames, PDU mergers, splits, creations and
//! updates, ICB reorganisations, and the date rules (backdated, scheduled, conflicting), on
//! SQLite or PostgreSQL (`TEST_DATABASE_URL`).
use crate::common;

use chrono::{Days, Utc};
use common::{data, error_code, TestDb};
use nhs_organisations::auth;
use nhs_organisations::graphql::AppSchema;
use serde_json::Value;

/// Every field of a report, so that dry and real runs compare fully.
const REPORT: &str = "dryRun warnings
    records { entity code action field before after effectiveOn }
    moves { entity code edge from to effectiveOn }
    successions { entity predecessor successor kind effectiveOn }";

struct Env {
    t: TestDb,
    schema: AppSchema,
    key: String,
}

async fn env() -> Env {
    let t = TestDb::seeded().await;
    let schema = common::app(t.db.clone(), None).await.schema;
    let key = auth::create_key(&t.db, "reorg-admin")
        .await
        .expect("admin key");
    Env { t, schema, key }
}

impl Env {
    async fn admin(&self, query: &str) -> Value {
        common::gql_admin(&self.schema, query, &self.key).await
    }

    /// Runs a mutation field (with its arguments) and returns its report.
    async fn mutate(&self, field: &str, args: &str) -> Value {
        let q = format!("mutation {{ {field}({args}) {{ {REPORT} }} }}");
        data(self.admin(&q).await)[field].clone()
    }

    async fn query(&self, q: &str) -> Value {
        data(common::gql(&self.schema, q).await)
    }

    /// A site's parent code on one edge on a day (`trust`, `integratedCareBoard`, ...).
    async fn parent_of(&self, site: &str, edge: &str, code: &str, day: &str) -> Value {
        let q = format!(
            "{{ organisation(odsCode: \"{site}\", asOf: \"{day}\") {{ {edge} {{ {code} }} }} }}"
        );
        self.query(&q).await["organisation"][edge][code].clone()
    }
}

fn has_move(report: &Value, code: &str, edge: &str, from: &str, to: &str, on: &str) -> bool {
    report["moves"].as_array().unwrap().iter().any(|m| {
        m["code"] == code
            && m["edge"] == edge
            && m["from"] == from
            && m["to"] == to
            && m["effectiveOn"] == on
    })
}

fn has_record(report: &Value, entity: &str, code: &str, action: &str) -> bool {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["entity"] == entity && r["code"] == code && r["action"] == action)
}

fn has_succession(report: &Value, pred: &str, succ: &str, kind: &str) -> bool {
    report["successions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["predecessor"] == pred && s["successor"] == succ && s["kind"] == kind)
}

const ACQUIRE_RY9: &str =
    "acquiringOdsCode: \"RAX\", acquiredOdsCodes: [\"RY9\"], effectiveOn: \"2024-11-01\"";

#[tokio::test]
async fn an_acquisition_moves_the_sites_and_closes_the_acquired_trust() {
    let e = env().await;
    let icb_before = e
        .parent_of("RY905", "integratedCareBoard", "odsCode", "2024-10-31")
        .await;
    let r = e.mutate("acquireTrusts", ACQUIRE_RY9).await;
    assert_eq!(r["dryRun"], false);
    assert!(
        has_move(
            &r,
            "RY905",
            "ORGANISATION_TRUST",
            "RY9",
            "RAX",
            "2024-11-01"
        ),
        "{r}"
    );
    assert!(has_record(&r, "trust", "RY9", "CLOSED"), "{r}");
    assert!(has_succession(&r, "RY9", "RAX", "ACQUISITION"), "{r}");
    // Only the parent changes.
    assert!(r["moves"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["edge"] == "ORGANISATION_TRUST"));

    assert_eq!(
        e.parent_of("RY905", "trust", "odsCode", "2024-11-01").await,
        "RAX"
    );
    assert_eq!(
        e.parent_of("RY905", "trust", "odsCode", "2024-10-31").await,
        "RY9"
    );
    let icb_after = e
        .parent_of("RY905", "integratedCareBoard", "odsCode", "2024-11-01")
        .await;
    assert_eq!(icb_before, icb_after);
    assert!(icb_after.is_string());

    let t = e
        .query(
            "{ before: trust(odsCode: \"RY9\", asOf: \"2024-10-31\") { odsCode }
                 after: trust(odsCode: \"RY9\", asOf: \"2024-11-01\") { odsCode }
                 rax: trust(odsCode: \"RAX\") { predecessors { odsCode effectiveOn } } }",
        )
        .await;
    assert_eq!(t["before"]["odsCode"], "RY9");
    assert!(t["after"].is_null(), "{t}");
    assert_eq!(t["rax"]["predecessors"][0]["odsCode"], "RY9");
    assert_eq!(t["rax"]["predecessors"][0]["effectiveOn"], "2024-11-01");

    let log = e
        .admin("{ changeLog(source: \"reorganisation\", limit: 100) { actor source effectiveOn entity code action } }")
        .await;
    let nodes = data(log)["changeLog"].clone();
    let ours: Vec<&Value> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["source"] == "reorganisation")
        .collect();
    assert!(!ours.is_empty());
    assert!(ours
        .iter()
        .all(|n| n["actor"] == "reorg-admin" && n["effectiveOn"] == "2024-11-01"));
    assert!(ours
        .iter()
        .any(|n| n["code"] == "RY9" && n["action"] == "delete"));
}

#[tokio::test]
async fn a_dry_run_reports_exactly_what_applying_does_and_changes_nothing() {
    let e = env().await;
    let dry = e
        .mutate("acquireTrusts", &format!("{ACQUIRE_RY9}, dryRun: true"))
        .await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        e.parent_of("RY905", "trust", "odsCode", "2024-11-01").await,
        "RY9"
    );
    let real = e.mutate("acquireTrusts", ACQUIRE_RY9).await;
    let strip = |mut v: Value| {
        v["dryRun"] = Value::Null;
        v
    };
    assert_eq!(strip(dry), strip(real));
}

#[tokio::test]
async fn two_trusts_merge_into_a_new_one() {
    let e = env().await;
    let r = e
        .mutate(
            "acquireTrusts",
            "acquiringOdsCode: \"R1Z\", acquiredOdsCodes: [\"RY9\", \"RWF\"],
             effectiveOn: \"2025-01-01\", newName: \"KENT AND HOUNSLOW NHS TRUST\"",
        )
        .await;
    assert!(has_record(&r, "trust", "R1Z", "OPENED"), "{r}");
    assert!(has_record(&r, "trust", "RY9", "CLOSED"));
    assert!(has_record(&r, "trust", "RWF", "CLOSED"));
    assert!(has_succession(&r, "RWF", "R1Z", "ACQUISITION"));
    assert_eq!(
        e.parent_of("RWF03", "trust", "odsCode", "2025-01-01").await,
        "R1Z"
    );
    assert_eq!(
        e.parent_of("RY905", "trust", "name", "2025-01-01").await,
        "KENT AND HOUNSLOW NHS TRUST"
    );
    let t = e
        .query(
            "{ before: trust(odsCode: \"R1Z\", asOf: \"2024-12-31\") { odsCode }
                 after: trust(odsCode: \"R1Z\", asOf: \"2025-01-01\") { name } }",
        )
        .await;
    assert!(t["before"].is_null(), "{t}");
    assert_eq!(t["after"]["name"], "KENT AND HOUNSLOW NHS TRUST");
}

#[tokio::test]
async fn a_dated_rename_shows_in_name_as_of_and_attribute_history() {
    let e = env().await;
    let old = e.query("{ trust(odsCode: \"RAX\") { name } }").await["trust"]["name"].clone();
    let r = e
        .mutate(
            "renameTrust",
            "odsCode: \"RAX\", name: \"KINGSTON AND RICHMOND NHS FOUNDATION TRUST\", effectiveOn: \"2025-01-01\"",
        )
        .await;
    assert!(has_record(&r, "trust", "RAX", "UPDATED"), "{r}");
    let t = e
        .query(
            "{ a: trust(odsCode: \"RAX\", asOf: \"2024-12-31\") { name }
                 b: trust(odsCode: \"RAX\", asOf: \"2025-01-01\") { name
                   attributeHistory { field value validFrom validTo } } }",
        )
        .await;
    assert_eq!(t["a"]["name"], old);
    assert_eq!(t["b"]["name"], "KINGSTON AND RICHMOND NHS FOUNDATION TRUST");
    let names: Vec<&Value> = t["b"]["attributeHistory"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["field"] == "name")
        .collect();
    assert_eq!(names.len(), 2, "{t}");
    assert_eq!(names[0]["validTo"], "2025-01-01");
    assert_eq!(names[1]["validFrom"], "2025-01-01");
    // An earlier rename would contradict the recorded one.
    let q = "mutation { renameTrust(odsCode: \"RAX\", name: \"X\", effectiveOn: \"2024-12-01\") { dryRun } }";
    let refused = e.admin(q).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("CONFLICT"),
        "{refused}"
    );
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("2025-01-01"));
}

#[tokio::test]
async fn a_pdu_merger_moves_the_sites_to_the_new_unit() {
    let e = env().await;
    let r = e
        .mutate(
            "mergePaediatricDiabetesUnits",
            "predecessorPzCodes: [\"PZ125\", \"PZ216\"], successorPzCode: \"PZ253\",
             effectiveOn: \"2025-04-01\", name: \"Maidstone and Tunbridge Wells\",
             networkPnCode: \"PN05\"",
        )
        .await;
    assert!(
        has_record(&r, "paediatric_diabetes_unit", "PZ253", "OPENED"),
        "{r}"
    );
    assert!(has_record(
        &r,
        "paediatric_diabetes_unit",
        "PZ125",
        "CLOSED"
    ));
    assert!(has_record(
        &r,
        "paediatric_diabetes_unit",
        "PZ216",
        "CLOSED"
    ));
    assert!(has_move(
        &r,
        "RWF03",
        "ORGANISATION_PAEDIATRIC_DIABETES_UNIT",
        "PZ125",
        "PZ253",
        "2025-04-01"
    ));
    assert!(has_move(
        &r,
        "RWFTW",
        "ORGANISATION_PAEDIATRIC_DIABETES_UNIT",
        "PZ216",
        "PZ253",
        "2025-04-01"
    ));
    assert!(has_succession(&r, "PZ125", "PZ253", "MERGER"));
    for (site, before) in [("RWF03", "PZ125"), ("RWFTW", "PZ216")] {
        let unit = "paediatricDiabetesUnit";
        assert_eq!(
            e.parent_of(site, unit, "pzCode", "2025-04-01").await,
            "PZ253"
        );
        assert_eq!(
            e.parent_of(site, unit, "pzCode", "2025-03-31").await,
            before
        );
    }
    let u = e
        .query(
            "{ new: paediatricDiabetesUnit(pzCode: \"PZ253\", asOf: \"2025-04-01\") {
                   name active predecessors { odsCode } paediatricDiabetesNetwork { pnCode } }
                 old: paediatricDiabetesUnit(pzCode: \"PZ125\", asOf: \"2025-04-01\") { pzCode }
                 was: paediatricDiabetesUnit(pzCode: \"PZ125\", asOf: \"2025-03-31\") {
                   name active attributeHistory { field value validFrom } } }",
        )
        .await;
    assert_eq!(u["new"]["name"], "Maidstone and Tunbridge Wells");
    assert_eq!(u["new"]["active"], true);
    assert_eq!(u["new"]["paediatricDiabetesNetwork"]["pnCode"], "PN05");
    assert_eq!(u["new"]["predecessors"].as_array().unwrap().len(), 2, "{u}");
    assert!(u["old"].is_null(), "{u}");
    assert_eq!(u["was"]["active"], true);
    assert!(u["was"]["attributeHistory"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["field"] == "active"
            && a["value"] == "false"
            && a["validFrom"] == "2025-04-01"));
}

#[tokio::test]
async fn a_pdu_split_needs_every_site_placed() {
    let e = env().await;
    let successors = "successors: [
        {pzCode: \"PZ251\", odsCodes: [], name: \"Pinderfields General Hospital\", networkPnCode: \"PN10\"},
        {pzCode: \"PZ252\", odsCodes: [\"RXF03\"], name: \"Pontefract General Infirmary\", networkPnCode: \"PN10\"}]";
    let q = format!(
        "mutation {{ splitPaediatricDiabetesUnit(pzCode: \"PZ003\", effectiveOn: \"2025-04-01\", {successors}) {{ dryRun }} }}"
    );
    let refused = e.admin(&q).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("BAD_USER_INPUT"),
        "{refused}"
    );
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("RXF05"));

    let r = e
        .mutate(
            "splitPaediatricDiabetesUnit",
            &format!("pzCode: \"PZ003\", effectiveOn: \"2025-04-01\", unlistedSitesTo: \"PZ251\", {successors}"),
        )
        .await;
    assert!(
        has_move(
            &r,
            "RXF05",
            "ORGANISATION_PAEDIATRIC_DIABETES_UNIT",
            "PZ003",
            "PZ251",
            "2025-04-01"
        ),
        "{r}"
    );
    assert!(has_record(
        &r,
        "paediatric_diabetes_unit",
        "PZ003",
        "CLOSED"
    ));
    assert!(has_succession(&r, "PZ003", "PZ251", "SPLIT"));
    assert!(has_succession(&r, "PZ003", "PZ252", "SPLIT"));
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("RXF03")));
}

#[tokio::test]
async fn a_pdu_is_created_and_updated_on_dates() {
    let e = env().await;
    let r = e
        .mutate(
            "createPaediatricDiabetesUnit",
            "pzCode: \"PZ900\", networkPnCode: \"PN05\", odsCodes: [\"RWF03\", \"RZZ99\"],
             leadOdsCode: \"RWF03\", effectiveOn: \"2025-02-01\"",
        )
        .await;
    assert!(
        has_record(&r, "paediatric_diabetes_unit", "PZ900", "OPENED"),
        "{r}"
    );
    assert!(has_move(
        &r,
        "RWF03",
        "ORGANISATION_PAEDIATRIC_DIABETES_UNIT",
        "PZ125",
        "PZ900",
        "2025-02-01"
    ));
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("RZZ99")));
    let r = e
        .mutate(
            "updatePaediatricDiabetesUnit",
            "pzCode: \"PZ900\", name: \"Maidstone\", active: false, effectiveOn: \"2025-06-01\"",
        )
        .await;
    assert_eq!(r["records"].as_array().unwrap().len(), 2, "{r}");
    let u = e
        .query(
            "{ a: paediatricDiabetesUnit(pzCode: \"PZ900\", asOf: \"2025-05-31\") { name active }
                 b: paediatricDiabetesUnit(pzCode: \"PZ900\", asOf: \"2025-06-01\") { name active }
                 c: paediatricDiabetesUnit(pzCode: \"PZ900\", asOf: \"2025-01-31\") { name } }",
        )
        .await;
    assert_eq!(
        (u["a"]["name"].clone(), u["a"]["active"].clone()),
        (Value::Null, Value::Bool(true))
    );
    assert_eq!(u["b"]["name"], "Maidstone");
    assert_eq!(u["b"]["active"], false);
    assert!(u["c"].is_null());
    // A lead site change is dated, and its history shows the site's ODS code, not a row id.
    e.mutate(
        "updatePaediatricDiabetesUnit",
        "pzCode: \"PZ900\", leadOdsCode: \"RWFTW\", effectiveOn: \"2025-07-01\"",
    )
    .await;
    let h = e
        .query("{ paediatricDiabetesUnit(pzCode: \"PZ900\") { attributeHistory { field value validFrom } } }")
        .await;
    let leads: Vec<(Value, Value)> = h["paediatricDiabetesUnit"]["attributeHistory"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["field"] == "lead_ods_code")
        .map(|a| (a["value"].clone(), a["validFrom"].clone()))
        .collect();
    assert_eq!(
        leads,
        vec![
            (Value::from("RWF03"), Value::from("2025-02-01")),
            (Value::from("RWFTW"), Value::from("2025-07-01"))
        ],
        "{h}"
    );
}

/// Sites of a board on a day.
async fn board_sites(e: &Env, board: &str, day: &str) -> Vec<String> {
    let q = format!(
        "{{ integratedCareBoard(odsCode: \"{board}\", asOf: \"{day}\") {{ organisations {{ odsCode }} }} }}"
    );
    e.query(&q).await["integratedCareBoard"]["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["odsCode"].as_str().unwrap().to_string())
        .collect()
}

async fn board_count(e: &Env, day: &str) -> usize {
    let q = format!("{{ integratedCareBoards(asOf: \"{day}\") {{ odsCode }} }}");
    e.query(&q).await["integratedCareBoards"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_icb_reorganisation_merges_boards() {
    let e = env().await;
    let mut sites = board_sites(&e, "QHG", "2026-03-31").await;
    sites.extend(board_sites(&e, "QUE", "2026-03-31").await);
    assert!(sites.contains(&"RGT01".to_string()));
    let moves: Vec<String> = sites
        .iter()
        .map(|s| format!("{{odsCode: \"{s}\", toOdsCode: \"S1Y5D\"}}"))
        .collect();
    let before = board_count(&e, "2026-03-31").await;
    let r = e
        .mutate(
            "reorganiseIntegratedCareBoards",
            &format!(
                "effectiveOn: \"2026-04-01\",
                 newBoards: [{{odsCode: \"S1Y5D\", name: \"NHS CENTRAL EAST INTEGRATED CARE BOARD\", regionCode: \"Y61\"}}],
                 successions: [{{predecessor: \"QHG\", successor: \"S1Y5D\", kind: MERGER}},
                               {{predecessor: \"QUE\", successor: \"S1Y5D\", kind: MERGER}}],
                 siteMoves: [{}, {{odsCode: \"RZZ98\", toOdsCode: \"S1Y5D\"}}]",
                moves.join(", ")
            ),
        )
        .await;
    assert!(
        has_record(&r, "integrated_care_board", "S1Y5D", "OPENED"),
        "{r}"
    );
    assert!(has_record(&r, "integrated_care_board", "QHG", "CLOSED"));
    assert!(has_record(&r, "integrated_care_board", "QUE", "CLOSED"));
    assert!(has_succession(&r, "QUE", "S1Y5D", "MERGER"));
    assert!(has_move(
        &r,
        "RGT01",
        "ORGANISATION_INTEGRATED_CARE_BOARD",
        "QUE",
        "S1Y5D",
        "2026-04-01"
    ));
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("RZZ98")));
    let icb = "integratedCareBoard";
    assert_eq!(
        e.parent_of("RGT01", icb, "odsCode", "2026-03-31").await,
        "QUE"
    );
    assert_eq!(
        e.parent_of("RGT01", icb, "odsCode", "2026-04-01").await,
        "S1Y5D"
    );
    assert_eq!(board_count(&e, "2026-04-01").await, before - 1);
}

#[tokio::test]
async fn a_future_change_is_scheduled() {
    let e = env().await;
    let today = Utc::now().date_naive();
    let later = today.checked_add_days(Days::new(30)).unwrap().to_string();
    e.mutate(
        "acquireTrusts",
        &format!(
            "acquiringOdsCode: \"RAX\", acquiredOdsCodes: [\"RY9\"], effectiveOn: \"{later}\""
        ),
    )
    .await;
    let now = e
        .query("{ organisation(odsCode: \"RY905\") { trust { odsCode } } }")
        .await;
    assert_eq!(now["organisation"]["trust"]["odsCode"], "RY9");
    assert_eq!(
        e.parent_of("RY905", "trust", "odsCode", &later).await,
        "RAX"
    );
    let t = e.query("{ trust(odsCode: \"RY9\") { odsCode } }").await;
    assert_eq!(t["trust"]["odsCode"], "RY9");
}

#[tokio::test]
async fn a_change_before_a_later_recorded_one_is_refused() {
    let e = env().await;
    e.mutate(
        "mergePaediatricDiabetesUnits",
        "predecessorPzCodes: [\"PZ125\", \"PZ216\"], successorPzCode: \"PZ253\",
         effectiveOn: \"2025-04-01\", networkPnCode: \"PN05\"",
    )
    .await;
    let q = "mutation { createPaediatricDiabetesUnit(pzCode: \"PZ901\", networkPnCode: \"PN05\",
             odsCodes: [\"RWF03\"], effectiveOn: \"2025-01-01\") { dryRun } }";
    let refused = e.admin(q).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("CONFLICT"),
        "{refused}"
    );
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("RWF03") && message.contains("2025-04-01"),
        "{message}"
    );
    // All or nothing: the unit was not created.
    let u = e
        .query("{ paediatricDiabetesUnit(pzCode: \"PZ901\", asOf: \"2025-06-01\") { pzCode } }")
        .await;
    assert!(u["paediatricDiabetesUnit"].is_null());

    // A closed trust cannot acquire, be renamed or close again after it closed.
    e.mutate("acquireTrusts", ACQUIRE_RY9).await;
    let q = "mutation { renameTrust(odsCode: \"RY9\", name: \"X\", effectiveOn: \"2025-01-01\") { dryRun } }";
    assert_eq!(
        error_code(&e.admin(q).await).as_deref(),
        Some("BAD_USER_INPUT")
    );
    // Closing before the trust's history begins is refused too.
    let q = "mutation { acquireTrusts(acquiringOdsCode: \"RAX\", acquiredOdsCodes: [\"RWF\"],
             effectiveOn: \"2020-01-01\") { dryRun } }";
    let early = e.admin(q).await;
    assert!(
        matches!(
            error_code(&early).as_deref(),
            Some("CONFLICT" | "BAD_USER_INPUT")
        ),
        "{early}"
    );
}

#[tokio::test]
async fn unknown_codes_are_named() {
    let e = env().await;
    let q = "mutation { acquireTrusts(acquiringOdsCode: \"RAX\", acquiredOdsCodes: [\"RZZ\"],
             effectiveOn: \"2025-01-01\") { dryRun } }";
    let r = e.admin(q).await;
    assert_eq!(error_code(&r).as_deref(), Some("NOT_FOUND"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("RZZ"));
    let q = "mutation { mergePaediatricDiabetesUnits(predecessorPzCodes: [\"PZ990\"],
             successorPzCode: \"PZ998\", effectiveOn: \"2025-01-01\", networkPnCode: \"PN05\") { dryRun } }";
    assert_eq!(error_code(&e.admin(q).await).as_deref(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn reorganisations_need_an_admin_key() {
    let e = env().await;
    for m in [
        format!("acquireTrusts({ACQUIRE_RY9})"),
        "renameTrust(odsCode: \"RAX\", name: \"X\", effectiveOn: \"2025-01-01\")".into(),
        "mergePaediatricDiabetesUnits(predecessorPzCodes: [\"PZ125\"], successorPzCode: \"PZ253\", effectiveOn: \"2025-01-01\")".into(),
        "splitPaediatricDiabetesUnit(pzCode: \"PZ003\", successors: [], effectiveOn: \"2025-01-01\")".into(),
        "updatePaediatricDiabetesUnit(pzCode: \"PZ003\", active: false, effectiveOn: \"2025-01-01\")".into(),
        "createPaediatricDiabetesUnit(pzCode: \"PZ900\", networkPnCode: \"PN05\", effectiveOn: \"2025-01-01\")".into(),
        "reorganiseIntegratedCareBoards(effectiveOn: \"2026-04-01\")".into(),
    ] {
        let q = format!("mutation {{ {m} {{ dryRun }} }}");
        let anonymous = common::gql(&e.schema, &q).await;
        assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"), "{m}: {anonymous}");
    }
    assert_eq!(
        e.parent_of("RY905", "trust", "odsCode", "2024-11-01").await,
        "RY9"
    );
}

#[tokio::test]
async fn the_merger_mutations_take_an_effective_date() {
    let e = env().await;
    let q = "mutation { updateOrganisationMemberships(odsCode: \"RWF03\", pzCode: \"PZ216\",
             effectiveOn: \"2025-01-01\") { results { status changes { kind before after } } } }";
    let r = data(e.admin(q).await);
    assert_eq!(
        r["updateOrganisationMemberships"]["results"][0]["status"], "UPDATED",
        "{r}"
    );
    let unit = "paediatricDiabetesUnit";
    assert_eq!(
        e.parent_of("RWF03", unit, "pzCode", "2024-12-31").await,
        "PZ125"
    );
    assert_eq!(
        e.parent_of("RWF03", unit, "pzCode", "2025-01-01").await,
        "PZ216"
    );
    // Backdated before that recorded change: refused, naming it.
    let q = "mutation { updateOrganisationMemberships(odsCode: \"RWF03\", pzCode: \"PZ041\",
             effectiveOn: \"2024-12-01\") { dryRun } }";
    let refused = e.admin(q).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("CONFLICT"),
        "{refused}"
    );
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("RWF03") && message.contains("2025-01-01"),
        "{message}"
    );

    let later = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(10))
        .unwrap()
        .to_string();
    let q = format!(
        "mutation {{ deleteOrganisations(odsCodes: [\"RY918\"], effectiveOn: \"{later}\") {{ results {{ status }} }} }}"
    );
    let r = data(e.admin(&q).await);
    assert_eq!(
        r["deleteOrganisations"]["results"][0]["status"], "DELETED",
        "{r}"
    );
    let now = e
        .query("{ organisation(odsCode: \"RY918\") { odsCode } }")
        .await;
    assert_eq!(now["organisation"]["odsCode"], "RY918");
    let q = format!("{{ organisation(odsCode: \"RY918\", asOf: \"{later}\") {{ odsCode }} }}");
    assert!(e.query(&q).await["organisation"].is_null());
}

/// The importer's way: several operations in one transaction, each seeing what the earlier
/// ones wrote, their reports merged, committed once.
#[tokio::test]
async fn operations_compose_in_one_transaction() {
    use chrono::NaiveDate;
    use nhs_organisations::codes::{PnCode, PzCode};
    use nhs_organisations::mergers::Setting;
    use nhs_organisations::reorganisations::{self as reorg, Author};
    let e = env().await;
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let author = Author::new(
        "importer",
        nhs_organisations::change_log::ChangeSource::History,
    );
    let txn = nhs_organisations::writes::begin(&e.t.db).await.unwrap();
    let pz = |c: &str| PzCode::parse(c).unwrap();
    let merge = reorg::MergeUnits {
        predecessor_pz_codes: vec![pz("PZ125"), pz("PZ216")],
        successor_pz_code: pz("PZ253"),
        effective_on: day("2025-04-01"),
        name: None,
        lead_ods_code: None,
        network_pn_code: Some(PnCode::parse("PN05").unwrap()),
    };
    let mut report = reorg::apply_merge_paediatric_diabetes_units(&*txn, &merge, &author)
        .await
        .unwrap();
    // PZ253 exists only in this transaction so far.
    let update = reorg::UpdateUnit {
        pz_code: pz("PZ253"),
        name: Setting::Set("Maidstone and Tunbridge Wells".into()),
        lead_ods_code: Setting::Keep,
        network_pn_code: Setting::Keep,
        active: None,
        effective_on: day("2025-06-01"),
    };
    report.extend(
        reorg::apply_update_paediatric_diabetes_unit(&*txn, &update, &author)
            .await
            .unwrap(),
    );
    txn.commit().await.unwrap();
    assert!(report.records.iter().any(|r| r.code == "PZ253"
        && r.field.as_deref() == Some("name")
        && r.after.as_deref() == Some("Maidstone and Tunbridge Wells")));
    assert!(report.to_string().contains("MOVED organisation RWF03"));
    let log = e
        .admin("{ changeLog(source: \"history\", limit: 100) { actor } }")
        .await;
    let entries = data(log)["changeLog"].as_array().unwrap().clone();
    assert!(!entries.is_empty() && entries.iter().all(|l| l["actor"] == "importer"));
    let units = "{ a: paediatricDiabetesUnit(pzCode: \"PZ253\", asOf: \"2025-05-01\") { name }
                 b: paediatricDiabetesUnit(pzCode: \"PZ253\", asOf: \"2025-06-01\") { name } }";
    // Written outside the schema: the served snapshot follows within a second.
    let seen = common::eventually(std::time::Duration::from_secs(1), || async {
        e.query(units).await["b"]["name"] == "Maidstone and Tunbridge Wells"
    })
    .await;
    assert!(seen, "the snapshot did not follow the transaction");
    let u = e.query(units).await;
    assert!(u["a"]["name"].is_null(), "{u}");
    assert_eq!(u["b"]["name"], "Maidstone and Tunbridge Wells");
}

#[tokio::test]
async fn a_site_follows_its_new_board_into_another_region() {
    let e = env().await;
    let args = "effectiveOn: \"2026-04-01\",
        newBoards: [{odsCode: \"S9Z9Z\", name: \"NHS TEST INTEGRATED CARE BOARD\", regionCode: \"Y56\"}],
        siteMoves: [{odsCode: \"RGT01\", toOdsCode: \"S9Z9Z\"}]";
    let dry = e
        .mutate(
            "reorganiseIntegratedCareBoards",
            &format!("{args}, dryRun: true"),
        )
        .await;
    let r = e.mutate("reorganiseIntegratedCareBoards", args).await;
    assert_eq!(dry["moves"], r["moves"]);
    assert_eq!(dry["records"], r["records"]);
    let region = "nhsEnglandRegion";
    let before = e
        .parent_of("RGT01", region, "regionCode", "2026-03-31")
        .await;
    assert_ne!(before, "Y56");
    assert_eq!(
        e.parent_of("RGT01", region, "regionCode", "2026-04-01")
            .await,
        "Y56"
    );
    assert!(
        has_move(
            &r,
            "RGT01",
            "ORGANISATION_NHS_ENGLAND_REGION",
            before.as_str().unwrap(),
            "Y56",
            "2026-04-01"
        ),
        "{r}"
    );
    // QUE keeps its other sites, so it stays open.
    assert!(
        !has_record(&r, "integrated_care_board", "QUE", "CLOSED"),
        "{r}"
    );
}
