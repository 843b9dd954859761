//! N+1 is a bug, and so is SQL on the read path: once the snapshot is built, no read query
//! issues a single SQL statement, however many rows it returns.
use crate::common;

use std::sync::atomic::Ordering;

use common::{data, TestDb};
use nhs_organisations::graphql::build_schema;

/// Runs `query` on a schema over a statement-counting connection whose snapshot is already
/// built; returns the statements it ran and its data.
async fn statements(t: &TestDb, query: &str) -> (usize, serde_json::Value) {
    let (conn, count) = t.counting().await;
    let schema = build_schema(conn);
    // The first request builds the snapshot (that is SQL, once per data version).
    data(common::gql(&schema, "{ historyStartsOn }").await);
    assert!(
        count.load(Ordering::SeqCst) > 0,
        "the build reads the database"
    );
    count.store(0, Ordering::SeqCst);
    let resp = common::gql(&schema, query).await;
    (count.load(Ordering::SeqCst), data(resp))
}

const ALL_EDGES: &str =
    "odsCode trust { odsCode } localHealthBoard { odsCode } integratedCareBoard { odsCode }
    nhsEnglandRegion { regionCode } paediatricDiabetesUnit { pzCode } openUkNetwork { code }
    londonBorough { gssCode } country { code } parent { odsCode }";

#[tokio::test]
async fn organisations_with_all_parent_edges_run_no_sql_for_5_rows_or_all() {
    let t = TestDb::seeded().await;
    // Five sites that between them have every kind of parent (Wales, London, Jersey, a PDU,
    // a network).
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
    assert_eq!((few, all), (0, 0), "reads ran SQL");
}

#[tokio::test]
async fn region_icb_site_pdu_network_tree_runs_no_sql() {
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
    assert_eq!((one, all), (0, 0), "reads ran SQL");
}

#[tokio::test]
async fn trusts_with_sites_and_pdus_run_no_sql() {
    let t = TestDb::seeded().await;
    let body = "odsCode organisations { odsCode paediatricDiabetesUnit { pzCode primaryOrganisation { odsCode } parent { odsCode } } }";
    let (few, _) = statements(&t, &format!("{{ trusts(limit: 5) {{ {body} }} }}")).await;
    let (all, all_data) = statements(&t, &format!("{{ trusts {{ {body} }} }}")).await;
    assert_eq!(all_data["trusts"].as_array().map(Vec::len), Some(242));
    assert_eq!((few, all), (0, 0), "reads ran SQL");
}

/// Every root, every edge, the history fields and time travel: none of it touches the
/// database once the snapshot exists.
#[tokio::test]
async fn every_read_root_and_field_runs_no_sql() {
    let t = TestDb::seeded().await;
    let site = "odsCode name website telephone address1 address2 address3 city county postcode
        latitude longitude active publishedAt trust { odsCode } localHealthBoard { odsCode }
        integratedCareBoard { odsCode trusts { odsCode } } nhsEnglandRegion { regionCode }
        paediatricDiabetesUnit { pzCode } openUkNetwork { code } londonBorough { gssCode }
        country { code } parent { odsCode name }
        membershipHistory { edge code name validFrom validTo }
        attributeHistory { field value validFrom validTo }
        predecessors { odsCode name effectiveOn } successors { odsCode }";
    let queries = [
        format!("{{ organisation(odsCode: \"RVV01\") {{ {site} }} }}"),
        format!("{{ organisations(asOf: \"2024-09-01\", limit: 20, offset: 3) {{ {site} }} }}"),
        "{ trusts(filter: {nameContains: \"kent\"}) { odsCode name organisations { odsCode }
            memberHistory { code validFrom } attributeHistory { field value }
            predecessors { odsCode } successors { odsCode } } }"
            .into(),
        "{ trust(odsCode: \"RVV\") { odsCode } localHealthBoard(odsCode: \"7A1\") { odsCode organisations { odsCode } } }".into(),
        "{ localHealthBoards { odsCode organisations { odsCode } } }".into(),
        "{ integratedCareBoards { odsCode nhsEnglandRegion { regionCode } organisations { odsCode }
            trusts { odsCode } membershipHistory { code } memberHistory { code }
            predecessors { odsCode } successors { odsCode } attributeHistory { field } } }"
            .into(),
        "{ integratedCareBoard(odsCode: \"QKS\") { odsCode } nhsEnglandRegion(regionCode: \"Y59\") { name } }".into(),
        "{ nhsEnglandRegions { regionCode integratedCareBoards { odsCode } organisations { odsCode } } }".into(),
        "{ paediatricDiabetesUnits { pzCode paediatricDiabetesNetwork { pnCode name }
            organisations { odsCode } primaryOrganisation { odsCode } parent { odsCode }
            membershipHistory { code } memberHistory { code } predecessors { odsCode } } }"
            .into(),
        "{ paediatricDiabetesUnit(pzCode: \"PZ024\") { pzCode } paediatricDiabetesNetwork(pnCode: \"PN01\") { pnCode } }".into(),
        "{ paediatricDiabetesNetworks { pnCode paediatricDiabetesUnits { pzCode } } }".into(),
        "{ openUkNetworks { code organisations { odsCode } } openUkNetwork(code: \"BRPNF\") { name } }".into(),
        "{ londonBoroughs { gssCode organisations { odsCode } } londonBorough(gssCode: \"E09000001\") { name } }".into(),
        "{ countries(asOf: \"2025-06-01\") { code organisations { odsCode } } country(code: \"W92000004\") { name } }".into(),
        "{ historyStartsOn changesBetween(from: \"2024-08-31\", to: \"2026-12-31\") { kind entity code field before after } }".into(),
        "{ locate(latitude: 51.508, longitude: -0.128) { country { code organisations { odsCode } }
            nhsEnglandRegion { regionCode } integratedCareBoard { odsCode trusts { odsCode } }
            localHealthBoard { odsCode } londonBorough { gssCode } warnings } }".into(),
        "{ organisationsNear(latitude: 52.175, longitude: 0.14, radiusKm: 100, filter: {active: true}) {
            distanceKm organisation { odsCode trust { odsCode } integratedCareBoard { odsCode } } } }".into(),
        "{ integratedCareBoards { boundary(simplifyMetres: 500) boundaryUnknownReason centroid { latitude longitude } }
            localHealthBoards { boundary centroid { latitude } } nhsEnglandRegions { boundary(simplifyMetres: 1000) }
            londonBoroughs { centroid { longitude } } countries { boundaryUnknownReason } }".into(),
        "{ geographyIssues(asOf: \"2024-09-01\") { odsCode kind assigned found distanceKm known reason } }".into(),
    ];
    for q in &queries {
        let (n, _) = statements(&t, q).await;
        assert_eq!(n, 0, "ran {n} SQL statements: {q}");
    }
}

/// The GeoJSON routes answer from the snapshot and the bundled boundaries alone.
#[tokio::test]
async fn boundary_feature_collections_run_no_sql() {
    let t = TestDb::current().await;
    let (conn, count) = t.counting().await;
    let base = common::serve_conn(conn, common::settings()).await;
    let get = |route: &str| reqwest::get(format!("{base}{route}"));
    // The first read builds the snapshot.
    assert_eq!(
        get("/v1/countries").await.map(|r| r.status().as_u16()).ok(),
        Some(200)
    );
    count.store(0, Ordering::SeqCst);
    for kind in [
        "integrated-care-boards",
        "local-health-boards",
        "nhs-england-regions",
        "london-boroughs",
        "countries",
    ] {
        for query in ["", "?simplify=500&as_of=2025-01-01"] {
            let resp = get(&format!("/boundaries/{kind}.geojson{query}"))
                .await
                .expect("request");
            assert_eq!(resp.status().as_u16(), 200, "{kind}{query}");
        }
    }
    assert_eq!(count.load(Ordering::SeqCst), 0, "boundary routes ran SQL");
}
