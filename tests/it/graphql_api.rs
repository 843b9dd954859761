//! The read API of API.md: every root, both directions of every edge, filters, ordering,
//! `null` never `""`, and bad input.
use crate::common;

use common::{data, error_code, gql, TestDb};
use serde_json::Value;

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_root_answers() {
    let t = TestDb::seeded().await;
    let s = t.schema();
    let d = data(gql(&s, r#"{
        organisations { odsCode } trusts { odsCode } localHealthBoards { odsCode }
        integratedCareBoards { odsCode } nhsEnglandRegions { regionCode }
        paediatricDiabetesUnits { pzCode } paediatricDiabetesNetworks { pnCode }
        openUkNetworks { code } londonBoroughs { gssCode } countries { code }
        organisation(odsCode: "RVV01") { odsCode } trust(odsCode: "rvv") { odsCode }
        localHealthBoard(odsCode: "7a4") { odsCode } integratedCareBoard(odsCode: "QKS") { odsCode }
        nhsEnglandRegion(regionCode: "y59") { regionCode } paediatricDiabetesUnit(pzCode: "pz024") { pzCode }
        paediatricDiabetesNetwork(pnCode: "pn05") { pnCode } openUkNetwork(code: "swep") { code }
        londonBorough(gssCode: "e09000007") { gssCode } country(code: "E92000001") { code }
    }"#).await);
    let len = |k: &str| d[k].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(len("organisations"), 339);
    assert_eq!(len("trusts"), 242);
    assert_eq!(len("localHealthBoards"), 7);
    assert_eq!(len("integratedCareBoards"), 42);
    assert_eq!(len("nhsEnglandRegions"), 7);
    assert_eq!(len("paediatricDiabetesUnits"), 173);
    assert_eq!(len("paediatricDiabetesNetworks"), 12);
    assert_eq!(len("openUkNetworks"), 15);
    assert_eq!(len("londonBoroughs"), 33);
    assert_eq!(len("countries"), 5);
    // Codes match case-insensitively and come back upper case.
    assert_eq!(d["trust"]["odsCode"], "RVV");
    assert_eq!(d["localHealthBoard"]["odsCode"], "7A4");
    assert_eq!(d["nhsEnglandRegion"]["regionCode"], "Y59");
    assert_eq!(d["paediatricDiabetesUnit"]["pzCode"], "PZ024");
    assert_eq!(d["paediatricDiabetesNetwork"]["pnCode"], "PN05");
    assert_eq!(d["openUkNetwork"]["code"], "SWEP");
    assert_eq!(d["londonBorough"]["gssCode"], "E09000007");
    for k in ["organisation", "integratedCareBoard", "country"] {
        assert!(d[k].is_object(), "{k}");
    }
    // Ordering: by name, PDUs and networks by code.
    let pz: Vec<&str> = d["paediatricDiabetesUnits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["pzCode"].as_str())
        .collect();
    let mut sorted = pz.clone();
    sorted.sort();
    assert_eq!(pz, sorted);
}

#[tokio::test]
async fn lists_are_ordered_by_name() {
    let t = TestDb::seeded().await;
    let d = data(
        gql(
            &t.schema(),
            "{ organisations { name } trusts { name } integratedCareBoards { name } }",
        )
        .await,
    );
    for k in ["organisations", "trusts", "integratedCareBoards"] {
        let n = names(&d[k]);
        let mut sorted = n.clone();
        sorted.sort();
        assert_eq!(n, sorted, "{k} not ordered by name");
    }
}

#[tokio::test]
async fn both_directions_of_every_edge() {
    let t = TestDb::seeded().await;
    let d = data(gql(&t.schema(), r#"{
        site: organisation(odsCode: "RVV01") {
            trust { odsCode organisations { odsCode } }
            parent { __typename odsCode organisations { odsCode } }
            integratedCareBoard { odsCode organisations { odsCode } trusts { odsCode } nhsEnglandRegion { regionCode integratedCareBoards { odsCode } organisations { odsCode } } }
            nhsEnglandRegion { regionCode }
            paediatricDiabetesUnit { pzCode organisations { odsCode } paediatricDiabetesNetwork { pnCode paediatricDiabetesUnits { pzCode } } }
            openUkNetwork { code organisations { odsCode } }
            country { code organisations { odsCode } }
            localHealthBoard { odsCode } londonBorough { gssCode }
        }
        welsh: organisation(odsCode: "7A2AJ") { trust { odsCode } localHealthBoard { odsCode organisations { odsCode } } parent { __typename odsCode } integratedCareBoard { odsCode } country { code } }
        london: organisation(odsCode: "RAL26") { londonBorough { gssCode name organisations { odsCode } } }
    }"#).await);
    let contains = |list: &Value, code: &str, key: &str| {
        list.as_array()
            .is_some_and(|a| a.iter().any(|x| x[key] == code))
    };
    let s = &d["site"];
    assert!(contains(&s["trust"]["organisations"], "RVV01", "odsCode"));
    assert_eq!(s["parent"]["__typename"], "Trust");
    assert!(contains(&s["parent"]["organisations"], "RVV01", "odsCode"));
    let icb = &s["integratedCareBoard"];
    assert_eq!(icb["odsCode"], "QKS");
    assert!(contains(&icb["organisations"], "RVV01", "odsCode"));
    assert!(contains(&icb["trusts"], "RVV", "odsCode"));
    assert_eq!(icb["nhsEnglandRegion"]["regionCode"], "Y59");
    assert!(contains(
        &icb["nhsEnglandRegion"]["integratedCareBoards"],
        "QKS",
        "odsCode"
    ));
    assert!(contains(
        &icb["nhsEnglandRegion"]["organisations"],
        "RVV01",
        "odsCode"
    ));
    assert_eq!(s["nhsEnglandRegion"]["regionCode"], "Y59");
    assert!(contains(
        &s["paediatricDiabetesUnit"]["organisations"],
        "RVV01",
        "odsCode"
    ));
    assert!(contains(
        &s["paediatricDiabetesUnit"]["paediatricDiabetesNetwork"]["paediatricDiabetesUnits"],
        "PZ024",
        "pzCode"
    ));
    assert!(contains(
        &s["openUkNetwork"]["organisations"],
        "RVV01",
        "odsCode"
    ));
    assert!(contains(&s["country"]["organisations"], "RVV01", "odsCode"));
    // Edges that do not apply are null, never "".
    assert_eq!(s["localHealthBoard"], Value::Null);
    assert_eq!(s["londonBorough"], Value::Null);
    let w = &d["welsh"];
    assert_eq!(w["trust"], Value::Null);
    assert_eq!(w["integratedCareBoard"], Value::Null);
    assert_eq!(w["parent"]["__typename"], "LocalHealthBoard");
    assert_eq!(w["parent"]["odsCode"], "7A2");
    assert!(contains(
        &w["localHealthBoard"]["organisations"],
        "7A2AJ",
        "odsCode"
    ));
    assert_eq!(w["country"]["code"], "W92000004");
    assert_eq!(d["london"]["londonBorough"]["name"], "Barnet");
    assert!(contains(
        &d["london"]["londonBorough"]["organisations"],
        "RAL26",
        "odsCode"
    ));
}

#[tokio::test]
async fn empty_strings_never_come_back() {
    let t = TestDb::seeded().await;
    let d = data(gql(&t.schema(), "{ organisations { website telephone address1 address2 address3 city county postcode } trusts { addressLine1 addressLine2 town postcode country telephone website } }").await);
    let text = d.to_string();
    assert!(!text.contains("\"\""), "an empty string was returned");
}

#[tokio::test]
async fn filters_limit_and_offset() {
    let t = TestDb::seeded().await;
    let s = t.schema();
    let d = data(gql(&s, r#"{
        kent: organisations(filter: {nameContains: "kent & canTERbury"}) { odsCode }
        codes: organisations(filter: {odsCodes: ["rvv01", "RVVKC", "ZZZ99"]}) { odsCode }
        withPdu: organisations(filter: {hasPaediatricDiabetesUnit: true}) { odsCode paediatricDiabetesUnit { pzCode } }
        withoutPdu: organisations(filter: {hasPaediatricDiabetesUnit: false}) { paediatricDiabetesUnit { pzCode } }
        active: organisations(filter: {active: true}, limit: 3, offset: 2) { odsCode }
        inactive: organisations(filter: {active: false}) { odsCode }
        all: organisations { odsCode }
        trustsByName: trusts(filter: {nameContains: "east kent"}) { odsCode }
        trustCodes: trusts(filter: {odsCodes: ["rvv"], active: true}) { odsCode }
        percent: organisations(filter: {nameContains: "%"}) { odsCode }
        underscore: trusts(filter: {nameContains: "_"}) { odsCode }
    }"#).await);
    assert_eq!(d["kent"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["codes"].as_array().map(Vec::len), Some(2));
    let with = d["withPdu"].as_array().cloned().unwrap_or_default();
    let without = d["withoutPdu"].as_array().cloned().unwrap_or_default();
    assert!(with.iter().all(|o| o["paediatricDiabetesUnit"].is_object()));
    assert!(without
        .iter()
        .all(|o| o["paediatricDiabetesUnit"].is_null()));
    assert_eq!(with.len() + without.len(), 339);
    let all: Vec<Value> = d["all"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        d["active"].as_array().cloned().unwrap_or_default(),
        all[2..5].to_vec()
    );
    assert_eq!(d["inactive"].as_array().map(Vec::len), Some(0));
    assert_eq!(d["trustsByName"][0]["odsCode"], "RVV");
    assert_eq!(d["trustCodes"][0]["odsCode"], "RVV");
    // LIKE wildcards are taken literally.
    assert_eq!(d["percent"].as_array().map(Vec::len), Some(0));
    assert_eq!(d["underscore"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn unknown_codes_are_null() {
    let t = TestDb::seeded().await;
    let d = data(gql(&t.schema(), r#"{
        organisation(odsCode: "ZZZ99") { name } trust(odsCode: "ZZZ") { name }
        localHealthBoard(odsCode: "7A9") { name } integratedCareBoard(odsCode: "QZZ") { name }
        nhsEnglandRegion(regionCode: "Y99") { name } paediatricDiabetesUnit(pzCode: "PZ000") { pzCode }
        paediatricDiabetesNetwork(pnCode: "PN99") { name } openUkNetwork(code: "NOPE") { name }
        londonBorough(gssCode: "E09000099") { name } country(code: "X92000009") { name }
    }"#).await);
    for (k, v) in d.as_object().into_iter().flatten() {
        assert_eq!(*v, Value::Null, "{k}");
    }
}

#[tokio::test]
async fn malformed_codes_and_negative_pages_are_bad_user_input() {
    let t = TestDb::seeded().await;
    let s = t.schema();
    let cases = [
        r#"{ organisation(odsCode: "R-V") { name } }"#,
        r#"{ organisation(odsCode: "RV") { name } }"#,
        r#"{ organisation(odsCode: "ABCDEFGHIJK") { name } }"#,
        r#"{ organisation(odsCode: "") { name } }"#,
        r#"{ trust(odsCode: "' OR 1=1 --") { name } }"#,
        r#"{ localHealthBoard(odsCode: "7A 4") { name } }"#,
        r#"{ integratedCareBoard(odsCode: "Q$") { name } }"#,
        r#"{ paediatricDiabetesUnit(pzCode: "PZ24") { pzCode } }"#,
        r#"{ paediatricDiabetesUnit(pzCode: "XX024") { pzCode } }"#,
        r#"{ paediatricDiabetesNetwork(pnCode: "PN1") { name } }"#,
        r#"{ londonBorough(gssCode: "E0900000") { name } }"#,
        r#"{ country(code: "England") { name } }"#,
        r#"{ nhsEnglandRegion(regionCode: "Y5-6") { name } }"#,
        r#"{ openUkNetwork(code: "a b") { name } }"#,
        r#"{ organisations(filter: {odsCodes: ["RVV01", "bad code"]}) { name } }"#,
        r#"{ organisations(limit: -1) { name } }"#,
        r#"{ organisations(offset: -5) { name } }"#,
        r#"{ trusts(limit: -1) { name } }"#,
        r#"{ organisations(limit: "ten") { name } }"#,
        r#"{ organisation { name } }"#,
        r#"{ nosuchfield }"#,
        r#"{ organisation(odsCode: "RVV01") { name "#,
    ];
    for q in cases {
        let resp = gql(&s, q).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("BAD_USER_INPUT"),
            "{q}: {resp}"
        );
    }
}

#[tokio::test]
async fn deleted_sites_vanish_from_current_queries() {
    let t = TestDb::seeded().await;
    use nhs_organisations::entities::organisation;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let site = organisation::Entity::find()
        .filter(organisation::Column::OdsCode.eq("RVV01"))
        .one(&t.db)
        .await
        .expect("query")
        .expect("RVV01");
    let mut a: organisation::ActiveModel = site.into();
    a.deleted_at = Set(Some(chrono::Utc::now()));
    a.update(&t.db).await.expect("update");
    let d = data(gql(&t.schema(), r#"{ organisation(odsCode: "RVV01") { name } organisations(filter: {odsCodes: ["RVV01"]}) { name } }"#).await);
    assert_eq!(d["organisation"], Value::Null);
    assert_eq!(d["organisations"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn the_change_log_answers_history() {
    let t = TestDb::seeded().await;
    let d = data(gql(&t.schema(), r#"{ changeLog(code: "rvv01", limit: 20) { actor source entity code action field after effectiveOn } }"#).await);
    let entries = d["changeLog"].as_array().cloned().unwrap_or_default();
    assert!(entries
        .iter()
        .any(|e| e["action"] == "create" && e["entity"] == "organisation"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "membership" && e["field"] == "trust"));
    assert!(entries
        .iter()
        .all(|e| e["source"] == "seed" && e["actor"] == "seed" && e["code"] == "RVV01"));
    let resp = gql(&t.schema(), "{ changeLog(limit: -1) { code } }").await;
    assert_eq!(common::error_code(&resp).as_deref(), Some("BAD_USER_INPUT"));
}
