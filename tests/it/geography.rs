//! Geography: boundaries of the areas (GraphQL and `/boundaries/{kind}.geojson`), dated
//! through the 2026 ICB reorganisation; `locate` at known points (a Cambridge hospital, a
//! Cardiff hospital, central London, the sea, a border); `organisationsNear`; bad input.
use crate::common;

use common::{data, error_code, gql, serve, TestDb};
use nhs_organisations::geography::transform::bng_to_wgs84;
use serde_json::{json, Value};

/// Addenbrooke's Hospital (RGT01).
const CAMBRIDGE: (f64, f64) = (52.17513275, 0.140753239);
/// Noah's Ark Children's Hospital for Wales (7A4H1).
const CARDIFF: (f64, f64) = (51.50821561439174, -3.187478640298089);
/// Trafalgar Square.
const CENTRAL_LONDON: (f64, f64) = (51.50806, -0.12806);
/// The North Sea, 150 km off Lincolnshire.
const NORTH_SEA: (f64, f64) = (54.0, 2.5);
/// Watford General Hospital, in Hertfordshire (QM7, split in 2026).
const WATFORD: (f64, f64) = (51.6489, -0.4022);

const LOCATION: &str = "latitude longitude country { code } nhsEnglandRegion { regionCode }
    integratedCareBoard { odsCode } localHealthBoard { odsCode } londonBorough { gssCode }
    warnings";

async fn locate(
    schema: &nhs_organisations::graphql::AppSchema,
    p: (f64, f64),
    as_of: Option<&str>,
) -> Value {
    let as_of = as_of
        .map(|d| format!(", asOf: \"{d}\""))
        .unwrap_or_default();
    let q = format!(
        "{{ locate(latitude: {}, longitude: {}{as_of}) {{ {LOCATION} }} }}",
        p.0, p.1
    );
    data(gql(schema, &q).await)["locate"].clone()
}

/// The codes `locate` found: country, region, ICB, board, borough.
fn codes(l: &Value) -> [Option<String>; 5] {
    let s = |v: &Value| v.as_str().map(str::to_string);
    [
        s(&l["country"]["code"]),
        s(&l["nhsEnglandRegion"]["regionCode"]),
        s(&l["integratedCareBoard"]["odsCode"]),
        s(&l["localHealthBoard"]["odsCode"]),
        s(&l["londonBorough"]["gssCode"]),
    ]
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test]
async fn locate_finds_the_areas_at_known_points() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let cambridge = locate(&schema, CAMBRIDGE, None).await;
    assert_eq!(
        codes(&cambridge),
        [some("E92000001"), some("Y61"), some("QUE"), None, None]
    );
    assert_eq!(cambridge["warnings"], json!([]));
    assert_eq!(cambridge["latitude"], json!(CAMBRIDGE.0));
    let cardiff = locate(&schema, CARDIFF, None).await;
    assert_eq!(
        codes(&cardiff),
        [some("W92000004"), None, None, some("7A4"), None]
    );
    let london = locate(&schema, CENTRAL_LONDON, None).await;
    assert_eq!(
        codes(&london),
        [
            some("E92000001"),
            some("Y56"),
            some("QRV"),
            None,
            some("E09000033")
        ]
    );
    let sea = locate(&schema, NORTH_SEA, None).await;
    assert_eq!(codes(&sea), [None, None, None, None, None]);
    assert_eq!(sea["warnings"], json!([]));
}

#[tokio::test]
async fn a_point_on_a_border_goes_to_the_first_area_by_code_every_time() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    // A vertex the England and Wales boundaries share (near Chirk), converted as the
    // boundaries are.
    let (lon, lat) = bng_to_wgs84(331_980.397_900_000_2, 291_800.202_400_000_77);
    for _ in 0..3 {
        let l = locate(&schema, (lat, lon), None).await;
        assert_eq!(l["country"]["code"], "E92000001");
    }
    // A kilometre or so around it, both countries.
    let mut around = Vec::new();
    for (dlat, dlon) in [(0.01, 0.0), (-0.01, 0.0), (0.0, 0.015), (0.0, -0.015)] {
        let l = locate(&schema, (lat + dlat, lon + dlon), None).await;
        around.push(l["country"]["code"].as_str().unwrap_or("").to_string());
    }
    around.sort();
    around.dedup();
    assert_eq!(around, ["E92000001", "W92000004"]);
    // A vertex of the border between Norfolk and Waveney (QMM, E54000022) and Cambridgeshire
    // and Peterborough (QUE, E54000056): the first by GSS code.
    let (lon, lat) = bng_to_wgs84(550_042.0, 296_448.655_999_999_5_f64);
    let l = locate(&schema, (lat, lon), None).await;
    assert_eq!(l["integratedCareBoard"]["odsCode"], "QMM");
    assert_eq!(l["nhsEnglandRegion"]["regionCode"], "Y61");
}

#[tokio::test]
async fn locate_follows_the_2026_icb_reorganisation() {
    let t = TestDb::current().await;
    let schema = t.schema();
    // QUE merged whole into S1Y5D on 2026-04-01.
    let before = locate(&schema, CAMBRIDGE, Some("2026-03-31")).await;
    assert_eq!(before["integratedCareBoard"]["odsCode"], "QUE");
    let after = locate(&schema, CAMBRIDGE, Some("2026-04-01")).await;
    assert_eq!(after["integratedCareBoard"]["odsCode"], "S1Y5D");
    assert_eq!(after["warnings"], json!([]));
    // QMJ and QRV merged into Z9B2Z.
    let london = locate(&schema, CENTRAL_LONDON, None).await;
    assert_eq!(london["integratedCareBoard"]["odsCode"], "Z9B2Z");
    // QM7 was split: which board holds Watford is not known from the boundaries.
    let watford = locate(&schema, WATFORD, Some("2026-06-01")).await;
    assert_eq!(watford["integratedCareBoard"], Value::Null);
    assert_eq!(watford["nhsEnglandRegion"]["regionCode"], "Y61");
    let warnings = watford["warnings"].to_string();
    assert!(warnings.contains("QM7 was split"), "{warnings}");
    let watford_before = locate(&schema, WATFORD, Some("2025-06-01")).await;
    assert_eq!(watford_before["integratedCareBoard"]["odsCode"], "QM7");
}

fn outer_ring(geometry: &Value) -> Vec<(f64, f64)> {
    geometry["coordinates"][0][0]
        .as_array()
        .expect("ring")
        .iter()
        .map(|c| {
            (
                c[0].as_f64().unwrap_or(f64::NAN),
                c[1].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn vertices(geometry: &Value) -> usize {
    geometry["coordinates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p.as_array().into_iter().flatten())
        .map(|r| r.as_array().map(Vec::len).unwrap_or(0))
        .sum()
}

/// Twice the signed area of a ring: positive when anticlockwise.
fn signed_area(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

#[tokio::test]
async fn every_area_type_has_a_wgs84_boundary_and_centroid() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let q = "{ integratedCareBoard(odsCode: \"QUE\") { boundary centroid { latitude longitude } boundaryUnknownReason }
        simple: integratedCareBoard(odsCode: \"QUE\") { boundary(simplifyMetres: 2000) }
        localHealthBoard(odsCode: \"7A4\") { boundary centroid { latitude longitude } }
        nhsEnglandRegion(regionCode: \"Y56\") { boundary centroid { latitude longitude } }
        londonBorough(gssCode: \"E09000033\") { boundary centroid { latitude longitude } }
        country(code: \"E92000001\") { boundary(simplifyMetres: 500) centroid { latitude longitude } }
        jersey: country(code: \"E92000003\") { boundary boundaryUnknownReason centroid { latitude } } }";
    let d = data(gql(&schema, q).await);
    let icb = &d["integratedCareBoard"];
    assert_eq!(icb["boundary"]["type"], "MultiPolygon");
    assert_eq!(icb["boundaryUnknownReason"], Value::Null);
    let ring = outer_ring(&icb["boundary"]);
    assert!(ring
        .iter()
        .all(|(lon, lat)| (-0.6..0.6).contains(lon) && (51.9..52.8).contains(lat)));
    assert!(
        signed_area(&ring) > 0.0,
        "RFC 7946: exterior rings anticlockwise"
    );
    let c = &icb["centroid"];
    assert!(
        (c["latitude"].as_f64().unwrap_or(0.0) - 52.4).abs() < 0.2,
        "{c}"
    );
    assert!(vertices(&d["simple"]["boundary"]) < vertices(&icb["boundary"]) / 2);
    for (key, lat) in [
        ("localHealthBoard", 51.45),
        ("nhsEnglandRegion", 51.5),
        ("londonBorough", 51.51),
        ("country", 52.8),
    ] {
        assert_eq!(d[key]["boundary"]["type"], "MultiPolygon", "{key}");
        let got = d[key]["centroid"]["latitude"].as_f64().unwrap_or(0.0);
        assert!((got - lat).abs() < 0.4, "{key}: {got}");
    }
    // Jersey has no bundled boundary.
    assert_eq!(d["jersey"]["boundary"], Value::Null);
    assert_eq!(d["jersey"]["centroid"], Value::Null);
    assert!(d["jersey"]["boundaryUnknownReason"].is_string());
}

#[tokio::test]
async fn boards_made_by_the_2026_reorganisation_have_the_union_or_a_reason() {
    let t = TestDb::current().await;
    let schema = t.schema();
    let q = "{ merged: integratedCareBoard(odsCode: \"Z9B2Z\") { boundary centroid { latitude longitude } boundaryUnknownReason }
        nw: integratedCareBoard(odsCode: \"QRV\", asOf: \"2025-06-01\") { boundary }
        nc: integratedCareBoard(odsCode: \"QMJ\", asOf: \"2025-06-01\") { boundary }
        split: integratedCareBoard(odsCode: \"S1Y5D\") { boundary boundaryUnknownReason centroid { latitude } }
        grew: integratedCareBoard(odsCode: \"QRL\") { boundary boundaryUnknownReason }
        grewBefore: integratedCareBoard(odsCode: \"QRL\", asOf: \"2026-03-31\") { boundary boundaryUnknownReason } }";
    let d = data(gql(&schema, q).await);
    let merged = &d["merged"];
    assert_eq!(merged["boundary"]["type"], "MultiPolygon");
    assert_eq!(merged["boundaryUnknownReason"], Value::Null);
    // The union has about the outline of its two parts: fewer vertices than both together,
    // more than either, and a centroid in London.
    let (m, a, b) = (
        vertices(&merged["boundary"]),
        vertices(&d["nw"]["boundary"]),
        vertices(&d["nc"]["boundary"]),
    );
    assert!(m < a + b && m > a.max(b), "{m} {a} {b}");
    assert!((merged["centroid"]["latitude"].as_f64().unwrap_or(0.0) - 51.53).abs() < 0.1);
    // S1Y5D took part of QM7, which was split.
    assert_eq!(d["split"]["boundary"], Value::Null);
    assert_eq!(d["split"]["centroid"], Value::Null);
    let why = d["split"]["boundaryUnknownReason"].as_str().unwrap_or("");
    assert!(why.contains("QM7") && why.contains("split"), "{why}");
    // QRL gained north-east Hampshire from QNQ (split): its 2023 boundary no longer holds.
    assert_eq!(d["grew"]["boundary"], Value::Null);
    assert!(d["grew"]["boundaryUnknownReason"]
        .as_str()
        .is_some_and(|w| w.contains("QNQ")));
    assert_eq!(d["grewBefore"]["boundary"]["type"], "MultiPolygon");
    assert_eq!(d["grewBefore"]["boundaryUnknownReason"], Value::Null);
}

#[tokio::test]
async fn organisations_near_lists_sites_nearest_first() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let q = |radius: f64, extra: &str| {
        format!(
            "{{ organisationsNear(latitude: {}, longitude: {}, radiusKm: {radius}{extra}) {{ distanceKm organisation {{ odsCode latitude trust {{ odsCode }} }} }} }}",
            CAMBRIDGE.0, CAMBRIDGE.1
        )
    };
    let d = data(gql(&schema, &q(10.0, "")).await);
    let list = d["organisationsNear"].as_array().expect("list").clone();
    assert!(!list.is_empty());
    assert_eq!(list[0]["organisation"]["odsCode"], "RGT01");
    assert!(list[0]["distanceKm"].as_f64().unwrap_or(1.0) < 0.01);
    let km: Vec<f64> = list
        .iter()
        .filter_map(|s| s["distanceKm"].as_f64())
        .collect();
    assert!(km.windows(2).all(|w| w[0] <= w[1]) && km.iter().all(|d| *d <= 10.0));
    let wide = data(gql(&schema, &q(100.0, "")).await);
    let wide = wide["organisationsNear"].as_array().expect("list").clone();
    assert!(wide.len() > list.len());
    let five = data(gql(&schema, &q(100.0, ", limit: 5")).await);
    assert_eq!(five["organisationsNear"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        five["organisationsNear"].as_array().map(|a| a[..].to_vec()),
        Some(wide[..5].to_vec())
    );
    let filtered = data(
        gql(
            &schema,
            &q(100.0, ", filter: {nameContains: \"addenbrooke\"}"),
        )
        .await,
    );
    assert_eq!(
        filtered["organisationsNear"].as_array().map(Vec::len),
        Some(1)
    );
    // Cambridge to Cardiff is about 240 km.
    let cardiff = data(
        gql(
            &schema,
            &format!(
                "{{ organisationsNear(latitude: {}, longitude: {}, radiusKm: 1000, filter: {{odsCodes: [\"7A4H1\"]}}) {{ distanceKm }} }}",
                CAMBRIDGE.0, CAMBRIDGE.1
            ),
        )
        .await,
    );
    let km = cardiff["organisationsNear"][0]["distanceKm"]
        .as_f64()
        .unwrap_or(0.0);
    assert!((km - 240.0).abs() < 5.0, "{km}");
}

#[tokio::test]
async fn bad_coordinates_radius_limit_and_tolerance_are_bad_user_input() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    for q in [
        "{ locate(latitude: 90.5, longitude: 0) { warnings } }",
        "{ locate(latitude: -91, longitude: 0) { warnings } }",
        "{ locate(latitude: 52, longitude: 180.01) { warnings } }",
        "{ locate(latitude: 52, longitude: -181) { warnings } }",
        "{ organisationsNear(latitude: 52, longitude: 0, radiusKm: 0) { distanceKm } }",
        "{ organisationsNear(latitude: 52, longitude: 0, radiusKm: -5) { distanceKm } }",
        "{ organisationsNear(latitude: 52, longitude: 0, radiusKm: 1000.5) { distanceKm } }",
        "{ organisationsNear(latitude: 52, longitude: 0, radiusKm: 10, limit: 1001) { distanceKm } }",
        "{ organisationsNear(latitude: 52, longitude: 0, radiusKm: 10, limit: -1) { distanceKm } }",
        "{ organisationsNear(latitude: 95, longitude: 0, radiusKm: 10) { distanceKm } }",
        "{ integratedCareBoard(odsCode: \"QUE\") { boundary(simplifyMetres: -1) } }",
        "{ integratedCareBoard(odsCode: \"QUE\") { boundary(simplifyMetres: 1e9) } }",
        "{ locate(latitude: \"north\", longitude: 0) { warnings } }",
    ] {
        let resp = gql(&schema, q).await;
        assert_eq!(error_code(&resp).as_deref(), Some("BAD_USER_INPUT"), "{q}: {resp}");
    }
    // The limits themselves are fine.
    let ok = gql(
        &schema,
        "{ organisationsNear(latitude: -90, longitude: 180, radiusKm: 1000, limit: 1000) { distanceKm } locate(latitude: 90, longitude: -180) { warnings } }",
    )
    .await;
    assert!(ok["errors"].is_null(), "{ok}");
}

#[tokio::test]
async fn non_finite_numbers_over_http_are_refused_not_a_server_error() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let client = reqwest::Client::new();
    for body in [
        r#"{"query":"query($x: Float!) { locate(latitude: $x, longitude: 0) { warnings } }","variables":{"x":1e999}}"#,
        r#"{"query":"{ locate(latitude: 1e999, longitude: 0) { warnings } }"}"#,
        r#"{"query":"{ organisationsNear(latitude: 52, longitude: 0, radiusKm: 1e999) { distanceKm } }"}"#,
    ] {
        let resp = client
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert!(status < 500, "{status}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            assert_eq!(error_code(&v).as_deref(), Some("BAD_USER_INPUT"), "{text}");
        }
    }
}

async fn fetch(base: &str, route: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{base}{route}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn boundaries_geojson_serves_each_kind_with_etag_and_compression() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    for (kind, count) in [
        ("integrated-care-boards", 42),
        ("local-health-boards", 7),
        ("nhs-england-regions", 7),
        ("london-boroughs", 33),
        ("countries", 5),
    ] {
        let resp = fetch(&base, &format!("/boundaries/{kind}.geojson"), &[]).await;
        assert_eq!(resp.status().as_u16(), 200, "{kind}");
        assert_eq!(
            resp.headers()["content-type"].to_str().ok(),
            Some("application/geo+json")
        );
        let fc: Value = resp.json().await.expect("json");
        assert_eq!(fc["type"], "FeatureCollection");
        let features = fc["features"].as_array().expect("features");
        assert_eq!(features.len(), count, "{kind}");
        for f in features {
            assert_eq!(f["type"], "Feature");
            assert!(f["properties"]["name"].is_string(), "{f}");
            assert!(
                f["properties"].get("code").is_some() && f["properties"].get("ods_code").is_some()
            );
            // Before the 2026 reorganisation every area but Jersey has its boundary.
            let jersey = f["properties"]["name"] == "Jersey";
            assert_eq!(
                f["geometry"].is_null(),
                jersey,
                "{kind}: {}",
                f["properties"]
            );
            if !jersey {
                assert_eq!(f["geometry"]["type"], "MultiPolygon");
            }
        }
    }
    let resp = fetch(&base, "/boundaries/integrated-care-boards.geojson", &[]).await;
    let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
    let full: Value = resp.json().await.expect("json");
    let que = full["features"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["properties"]["ods_code"] == "QUE")
        .expect("QUE")
        .clone();
    assert_eq!(que["properties"]["code"], "E54000056");
    assert_eq!(que["geometry"]["type"], "MultiPolygon");
    let again = fetch(
        &base,
        "/boundaries/integrated-care-boards.geojson",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status().as_u16(), 304);
    let gz = fetch(
        &base,
        "/boundaries/integrated-care-boards.geojson?simplify=500",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(gz.headers()["content-encoding"].to_str().ok(), Some("gzip"));
    let simple = fetch(
        &base,
        "/boundaries/integrated-care-boards.geojson?simplify=500",
        &[],
    )
    .await;
    let simple = simple.text().await.unwrap_or_default();
    assert!(simple.len() * 2 < full.to_string().len());
    for (route, status) in [
        (
            "/boundaries/integrated-care-boards.geojson?simplify=abc",
            400,
        ),
        (
            "/boundaries/integrated-care-boards.geojson?simplify=-3",
            400,
        ),
        (
            "/boundaries/integrated-care-boards.geojson?as_of=2001-01-01",
            400,
        ),
        ("/boundaries/trusts.geojson", 404),
        ("/boundaries/integrated-care-boards", 404),
        ("/boundaries/", 404),
    ] {
        let resp = fetch(&base, route, &[]).await;
        assert_eq!(resp.status().as_u16(), status, "{route}");
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(v["detail"].is_string(), "{route}");
    }
}

#[tokio::test]
async fn boundaries_geojson_is_dated() {
    let t = TestDb::current().await;
    let base = serve(&t).await;
    let get = |route: String| {
        let base = base.clone();
        async move {
            let v: Value = fetch(&base, &route, &[]).await.json().await.expect("json");
            v
        }
    };
    let before = get("/boundaries/integrated-care-boards.geojson?as_of=2026-03-31".into()).await;
    let after =
        get("/boundaries/integrated-care-boards.geojson?as_of=2026-04-01&simplify=1000".into())
            .await;
    assert_eq!(before["features"].as_array().map(Vec::len), Some(42));
    assert_eq!(after["features"].as_array().map(Vec::len), Some(36));
    let by_ods = |fc: &Value, code: &str| {
        fc["features"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["properties"]["ods_code"] == code)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let split = by_ods(&after, "S1Y5D");
    assert_eq!(split["geometry"], Value::Null);
    assert!(split["properties"]["boundary_unknown_reason"].is_string());
    assert_eq!(split["properties"]["code"], Value::Null);
    let merged = by_ods(&after, "Z9B2Z");
    assert_eq!(merged["geometry"]["type"], "MultiPolygon");
    assert!(merged["properties"]
        .get("boundary_unknown_reason")
        .is_none());
}

type Pinned = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

/// The issues of the bundled data on the day of the reference data (2024 structure).
const ISSUES_2024: [Pinned; 46] = [
    (
        "7A1NU",
        "OUTSIDE_COUNTRY",
        Some("W92000004"),
        Some("E92000001"),
    ),
    ("7A1NU", "OUTSIDE_LOCAL_HEALTH_BOARD", Some("7A1"), None),
    (
        "7A3B7",
        "OUTSIDE_LOCAL_HEALTH_BOARD",
        Some("7A3"),
        Some("7A5"),
    ),
    (
        "R1LVD",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QH8"),
        Some("QM7"),
    ),
    ("RATE1", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE1",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("QH8"),
    ),
    ("RATE2", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE2",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("QH8"),
    ),
    ("RATE3", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE3",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("QH8"),
    ),
    ("RAX01", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RAX01",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QXU"),
        Some("QWE"),
    ),
    ("RGT1W", "OUTSIDE_UK", Some("E92000003"), None),
    ("RN7QM", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RN7QM",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QKS"),
        Some("QKK"),
    ),
    ("RNNHT", "OUTSIDE_REGION", Some("Y63"), Some("Y62")),
    (
        "RNNHT",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHM"),
        Some("QE1"),
    ),
    (
        "RP416",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMJ"),
        Some("QMF"),
    ),
    (
        "RP427",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMJ"),
        Some("QMF"),
    ),
    ("RP5DR", "OUTSIDE_REGION", Some("Y60"), Some("Y63")),
    (
        "RP5DR",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QT1"),
        Some("QF7"),
    ),
    (
        "RTG02",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QJ2"),
        Some("QNC"),
    ),
    (
        "RTG54",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QJ2"),
        Some("QNC"),
    ),
    (
        "RTRAT",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOQ"),
        Some("QHM"),
    ),
    ("RV3J1", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RV3J1",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMJ"),
        Some("QHG"),
    ),
    (
        "RV3J5",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMJ"),
        Some("QRV"),
    ),
    (
        "RVJT9",
        "OUTSIDE_COUNTRY",
        Some("E92000001"),
        Some("W92000004"),
    ),
    ("RVJT9", "OUTSIDE_REGION", Some("Y58"), None),
    ("RVJT9", "OUTSIDE_INTEGRATED_CARE_BOARD", Some("QUY"), None),
    (
        "RVN38",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVN4T",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVNE6",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVNE9",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    ("RVR05", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RVR05",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QXU"),
        Some("QWE"),
    ),
    ("RVR07", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RVR07",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QXU"),
        Some("QWE"),
    ),
    (
        "RVY02",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QYG"),
        Some("QE1"),
    ),
    (
        "RWF11",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QKS"),
        Some("QNX"),
    ),
    (
        "RWX85",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QU9"),
        Some("QNQ"),
    ),
    (
        "RXK01",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHL"),
        Some("QUA"),
    ),
    (
        "RY918",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QWE"),
        Some("QRV"),
    ),
    (
        "RYV42",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHG"),
        Some("QUE"),
    ),
    (
        "RYVF7",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHG"),
        Some("QUE"),
    ),
    ("RYW91", "OUTSIDE_LONDON_BOROUGH", Some("E09000020"), None),
];

/// The issues of the bundled data after its history (the 2026 ICB reorganisation): boards
/// with no known boundary (S1Y5D, D7T5G, ...) cannot be checked, so their sites drop out.
const ISSUES_2026: [Pinned; 38] = [
    (
        "7A1NU",
        "OUTSIDE_COUNTRY",
        Some("W92000004"),
        Some("E92000001"),
    ),
    ("7A1NU", "OUTSIDE_LOCAL_HEALTH_BOARD", Some("7A1"), None),
    (
        "7A3B7",
        "OUTSIDE_LOCAL_HEALTH_BOARD",
        Some("7A3"),
        Some("7A5"),
    ),
    ("RATE1", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE1",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("D7T5G"),
    ),
    ("RATE2", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE2",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("D7T5G"),
    ),
    ("RATE3", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RATE3",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QMF"),
        Some("D7T5G"),
    ),
    ("RAX01", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    ("RGT1W", "OUTSIDE_UK", Some("E92000003"), None),
    ("RN7QM", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RN7QM",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QKS"),
        Some("QKK"),
    ),
    ("RNNHT", "OUTSIDE_REGION", Some("Y63"), Some("Y62")),
    (
        "RNNHT",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHM"),
        Some("QE1"),
    ),
    (
        "RP416",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("Z9B2Z"),
        Some("QMF"),
    ),
    (
        "RP427",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("Z9B2Z"),
        Some("QMF"),
    ),
    ("RP5DR", "OUTSIDE_REGION", Some("Y60"), Some("Y63")),
    (
        "RP5DR",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QT1"),
        Some("QF7"),
    ),
    (
        "RTG02",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QJ2"),
        Some("QNC"),
    ),
    (
        "RTG54",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QJ2"),
        Some("QNC"),
    ),
    (
        "RTRAT",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOQ"),
        Some("QHM"),
    ),
    ("RV3J1", "OUTSIDE_REGION", Some("Y56"), Some("Y61")),
    (
        "RV3J1",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("Z9B2Z"),
        Some("S1Y5D"),
    ),
    (
        "RVJT9",
        "OUTSIDE_COUNTRY",
        Some("E92000001"),
        Some("W92000004"),
    ),
    ("RVJT9", "OUTSIDE_REGION", Some("Y58"), None),
    ("RVJT9", "OUTSIDE_INTEGRATED_CARE_BOARD", Some("QUY"), None),
    (
        "RVN38",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVN4T",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVNE6",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    (
        "RVNE9",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QOX"),
        Some("QUY"),
    ),
    ("RVR05", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    ("RVR07", "OUTSIDE_REGION", Some("Y59"), Some("Y56")),
    (
        "RVY02",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QYG"),
        Some("QE1"),
    ),
    (
        "RWF11",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QKS"),
        Some("S9B9J"),
    ),
    (
        "RXK01",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QHL"),
        Some("QUA"),
    ),
    (
        "RY918",
        "OUTSIDE_INTEGRATED_CARE_BOARD",
        Some("QWE"),
        Some("Z9B2Z"),
    ),
    ("RYW91", "OUTSIDE_LONDON_BOROUGH", Some("E09000020"), None),
];

fn issues(d: &Value) -> Vec<(String, String, Option<String>, Option<String>)> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    d["geographyIssues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                s(&i["odsCode"]).unwrap_or_default(),
                s(&i["kind"]).unwrap_or_default(),
                s(&i["assigned"]),
                s(&i["found"]),
            )
        })
        .collect()
}

fn pinned(list: &[Pinned]) -> Vec<(String, String, Option<String>, Option<String>)> {
    list.iter()
        .map(|(c, k, a, f)| {
            (
                c.to_string(),
                k.to_string(),
                a.map(str::to_string),
                f.map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn geography_issues_of_the_bundled_data_are_exactly_the_reviewed_ones() {
    let t = TestDb::current().await;
    let schema = t.schema();
    let q = |day: &str| {
        format!("{{ geographyIssues(asOf: \"{day}\") {{ odsCode name kind assigned found distanceKm known reason }} }}")
    };
    for (day, expected) in [
        ("2024-09-01", pinned(&ISSUES_2024)),
        ("2026-12-01", pinned(&ISSUES_2026)),
    ] {
        let d = data(gql(&schema, &q(day)).await);
        assert_eq!(issues(&d), expected, "{day}");
        for i in d["geographyIssues"].as_array().into_iter().flatten() {
            assert_eq!(i["known"], true, "{i}");
            assert!(i["reason"].is_string() && i["name"].is_string(), "{i}");
            if i["kind"] != "OUTSIDE_UK" {
                assert!(i["distanceKm"].as_f64().is_some_and(|k| k > 0.5), "{i}");
            }
        }
    }
    // The reference data alone gives the 2024 list too.
    let seeded = TestDb::seeded().await;
    let d = data(gql(&seeded.schema(), &q("2024-09-01")).await);
    assert_eq!(issues(&d), pinned(&ISSUES_2024));
}

#[tokio::test]
async fn check_exits_1_when_an_issue_is_new() {
    let t = TestDb::current().await;
    let run = || {
        std::process::Command::new(common::BIN)
            .args(["check", "--as-of", "2026-12-01"])
            .env("DATABASE_URL", &t.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run check")
    };
    let ok = run();
    let stdout = String::from_utf8_lossy(&ok.stdout).to_string();
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("38 issue(s) on 2026-12-01: 38 reviewed, 0 new"),
        "{stdout}"
    );
    assert!(stdout.contains("reviewed OUTSIDE_UK RGT1W"), "{stdout}");
    // Addenbrooke's moved to Edinburgh: outside its country and region.
    sea_orm::ConnectionTrait::execute_unprepared(
        &t.db,
        "UPDATE organisations SET latitude = 55.95, longitude = -3.19 WHERE ods_code = 'RGT01'",
    )
    .await
    .expect("update");
    let bad = run();
    let stdout = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("NEW      OUTSIDE_COUNTRY RGT01"),
        "{stdout}"
    );
    assert!(stdout.contains("in S92000003"), "{stdout}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2 new geography issue(s)"));
}

#[tokio::test]
async fn boundaries_share_the_rate_limit_of_graphql_and_rest() {
    let t = TestDb::seeded().await;
    let mut settings = common::settings();
    settings.rate_limit_rps = 1;
    settings.rate_limit_burst = 2;
    let base = common::serve_with(&t, settings).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = fetch(&base, "/boundaries/countries.geojson?simplify=5000", &[]).await;
        statuses.push(resp.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let rest = fetch(&base, "/v1/countries/", &[]).await;
    assert_eq!(rest.status().as_u16(), 429, "the same budget");
}

#[tokio::test]
async fn organisations_near_uses_the_coordinates_of_the_day() {
    let t = TestDb::seeded().await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &t.db,
        "UPDATE organisations SET latitude = 55.95, longitude = -3.19 WHERE ods_code = 'RGT01'",
    )
    .await
    .expect("update");
    let schema = t.schema();
    let near = |lat: f64, lon: f64| {
        format!("{{ organisationsNear(latitude: {lat}, longitude: {lon}, radiusKm: 5) {{ organisation {{ odsCode }} }} }}")
    };
    let codes = |d: Value| d.to_string();
    let edinburgh = codes(data(gql(&schema, &near(55.95, -3.19)).await));
    assert!(edinburgh.contains("RGT01"), "{edinburgh}");
    let cambridge = codes(data(gql(&schema, &near(CAMBRIDGE.0, CAMBRIDGE.1)).await));
    assert!(!cambridge.contains("RGT01"), "{cambridge}");
}
