//! N+1 is a bug: the number of SQL statements a nested query issues must not grow with the
//! number of rows it returns.
mod common;

use std::sync::atomic::Ordering;

use common::{data, TestDb};
use nhs_organisations::graphql::build_schema;

async fn statements(t: &TestDb, query: &str) -> (usize, serde_json::Value) {
    let (conn, count) = t.counting().await;
    let schema = build_schema(conn);
    count.store(0, Ordering::SeqCst);
    let resp = common::gql(&schema, query).await;
    (count.load(Ordering::SeqCst), data(resp))
}

const ALL_EDGES: &str =
    "odsCode trust { odsCode } localHealthBoard { odsCode } integratedCareBoard { odsCode }
    nhsEnglandRegion { regionCode } paediatricDiabetesUnit { pzCode } openUkNetwork { code }
    londonBorough { gssCode } country { code } parent { odsCode }";

#[tokio::test]
async fn organisations_with_all_parent_edges_cost_the_same_for_5_rows_or_all() {
    let t = TestDb::seeded().await;
    // Five sites that between them have every kind of parent (Wales, London, Jersey, a PDU,
    // a network), so that the small query loads every kind of record too.
    let five = r#"["RAL26", "RGT1W", "RVV01", "7A2AJ", "RGT01"]"#;
    let (few, few_data) = statements(
        &t,
        &format!("{{ organisations(filter: {{odsCodes: {five}}}) {{ {ALL_EDGES} }} }}"),
    )
    .await;
    let (all, all_data) = statements(&t, &format!("{{ organisations {{ {ALL_EDGES} }} }}")).await;
    assert_eq!(few_data["organisations"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        all_data["organisations"].as_array().map(Vec::len),
        Some(339)
    );
    assert_eq!(
        few, all,
        "statements for 5 rows ({few}) and 339 rows ({all}) differ"
    );
    // One list query, then per edge one membership query and one record query.
    assert!(all <= 1 + 2 * 9, "too many statements: {all}");
}

#[tokio::test]
async fn region_icb_site_pdu_network_tree_costs_the_same_for_one_region_or_all() {
    let t = TestDb::seeded().await;
    let tree = "name integratedCareBoards { name organisations { name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode } } } }";
    let (one, one_data) = statements(
        &t,
        &format!("{{ nhsEnglandRegion(regionCode: \"Y56\") {{ {tree} }} }}"),
    )
    .await;
    let (all, all_data) = statements(&t, &format!("{{ nhsEnglandRegions {{ {tree} }} }}")).await;
    assert!(one_data["nhsEnglandRegion"]["integratedCareBoards"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert_eq!(
        all_data["nhsEnglandRegions"].as_array().map(Vec::len),
        Some(7)
    );
    assert_eq!(
        one, all,
        "statements for one region ({one}) and all regions ({all}) differ"
    );
}

#[tokio::test]
async fn trusts_with_sites_and_pdus_cost_the_same_for_5_trusts_or_all() {
    let t = TestDb::seeded().await;
    let body = "odsCode organisations { odsCode paediatricDiabetesUnit { pzCode primaryOrganisation { odsCode } parent { odsCode } } }";
    let (few, _) = statements(&t, &format!("{{ trusts(limit: 5) {{ {body} }} }}")).await;
    let (all, all_data) = statements(&t, &format!("{{ trusts {{ {body} }} }}")).await;
    assert_eq!(all_data["trusts"].as_array().map(Vec::len), Some(242));
    assert_eq!(few, all);
}
