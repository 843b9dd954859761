//! The REST routes one by one: shapes, ordering, trailing slashes, 404 and 400 with
//! `{"detail": ...}`, `as_of`, the snapshot route's predecessor walk, ETags and the rate limit.
use crate::common;

use chrono::Utc;
use common::{serve, serve_with, TestDb};
use nhs_organisations::entities::ord_succession;
use sea_orm::{ActiveModelTrait, NotSet, Set};
use serde_json::Value;

async fn get(base: &str, route: &str) -> (u16, Value) {
    let (status, text) = get_text(base, route).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_text(base: &str, route: &str) -> (u16, String) {
    let resp = reqwest::get(format!("{base}/v1{route}"))
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The keys, in the order sent, of the body's object (or its list's first item).
async fn keys_of(base: &str, route: &str) -> Vec<String> {
    common::ordered_json::first_keys(&get_text(base, route).await.1)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|v| v["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn collated(mut names: Vec<String>, descending: bool) -> Vec<String> {
    names.sort_by_cached_key(|n| nhs_organisations::directory::collation_key(n));
    if descending {
        names.reverse();
    }
    names
}

#[tokio::test]
async fn every_route_answers_with_and_without_the_trailing_slash() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    for route in [
        "/organisations",
        "/organisations/limited",
        "/organisations/paediatric-diabetes-units",
        "/organisations/RGT01",
        "/organisations/RGT01/snapshot",
        "/trusts",
        "/trusts/RGT",
        "/local_health_boards",
        "/local_health_boards/organisations",
        "/integrated_care_boards",
        "/integrated_care_boards/organisations",
        "/nhs_england_regions",
        "/nhs_england_regions/organisations",
        "/london_boroughs",
        "/london_boroughs/organisations",
        "/countries",
        "/openuk_networks",
        "/paediatric_diabetes_units",
        "/paediatric_diabetes_units/parent",
        "/paediatric_diabetes_units/PZ041/parent",
        "/paediatric_diabetes_units/extended",
        "/paediatric_diabetes_units/organisations",
        "/paediatric_diabetes_units/sibling-organisations/RGT01",
    ] {
        let (a, body_a) = get(&base, route).await;
        let (b, body_b) = get(&base, &format!("{route}/")).await;
        assert_eq!((a, b), (200, 200), "{route}");
        assert_eq!(body_a, body_b, "{route}");
    }
}

#[tokio::test]
async fn lists_of_boundaries_have_their_shapes_and_order() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let cases: &[(&str, &[&str], bool)] = &[
        (
            "/local_health_boards/",
            &[
                "ods_code",
                "publication_date",
                "boundary_identifier",
                "name",
                "welsh_name",
                "bng_e",
                "bng_n",
                "long",
                "lat",
            ],
            true,
        ),
        (
            "/integrated_care_boards/",
            &[
                "boundary_identifier",
                "name",
                "bng_e",
                "bng_n",
                "long",
                "lat",
                "globalid",
                "ods_code",
                "publication_date",
            ],
            false,
        ),
        (
            "/nhs_england_regions/",
            &[
                "region_code",
                "publication_date",
                "boundary_identifier",
                "name",
                "bng_e",
                "bng_n",
                "long",
                "lat",
            ],
            true,
        ),
        (
            "/london_boroughs/",
            &[
                "name",
                "gss_code",
                "hectares",
                "nonld_area",
                "ons_inner",
                "sub_2009",
                "sub_2006",
            ],
            true,
        ),
        (
            "/openuk_networks/",
            &["name", "boundary_identifier", "country", "publication_date"],
            false,
        ),
        (
            "/countries/",
            &[
                "boundary_identifier",
                "name",
                "welsh_name",
                "bng_e",
                "bng_n",
                "long",
                "lat",
                "globalid",
            ],
            true,
        ),
    ];
    for (route, shape, descending) in cases {
        let (status, list) = get(&base, route).await;
        assert_eq!(status, 200, "{route}");
        assert_eq!(keys_of(&base, route).await, *shape, "{route}");
        let got = names(&list);
        assert!(got.len() > 1, "{route}");
        assert_eq!(got, collated(got.clone(), *descending), "{route}");
    }
    let (_, icbs) = get(&base, "/integrated_care_boards/").await;
    assert_eq!(icbs.as_array().map(Vec::len), Some(42));
    assert!(
        icbs.as_array()
            .into_iter()
            .flatten()
            .all(|b| b["bng_e"].is_number() && b["globalid"].is_string()),
        "every ICB has its boundary properties"
    );
    let (_, boroughs) = get(&base, "/london_boroughs/").await;
    assert_eq!(boroughs.as_array().map(Vec::len), Some(33));
    assert_eq!(boroughs[0]["name"], "Westminster");
}

#[tokio::test]
async fn countries_project_the_asked_fields() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    assert_eq!(
        keys_of(&base, "/countries/?fields=bng_e,name,nonsense").await,
        ["name", "bng_e"],
        "in the fixed order"
    );
    assert_eq!(
        keys_of(&base, "/countries/?fields=nonsense").await.len(),
        8,
        "none left means all"
    );
    let epilepsy12 = "boundary_identifier,name,welsh_name,bng_e,bng_n,long,lat,globalid";
    let (_, list) = get(&base, &format!("/countries/?fields={epilepsy12}")).await;
    let england = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "England")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(england["boundary_identifier"], "E92000001");
    assert_eq!(england["welsh_name"], "Lloegr");
    assert!(england["lat"].is_number());
}

#[tokio::test]
async fn units_carry_their_sites_lead_and_parent() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let (_, list) = get(&base, "/paediatric_diabetes_units/").await;
    let pz024 = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["pz_code"] == "PZ024")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        keys_of(&base, "/paediatric_diabetes_units/").await,
        ["pz_code", "organisations", "primary_organisation", "parent"]
    );
    assert_eq!(pz024["primary_organisation"]["ods_code"], "RVV01");
    assert_eq!(pz024["parent"]["ods_code"], "RVV");
    let (status, one) = get(&base, "/paediatric_diabetes_units/PZ024/parent/").await;
    assert_eq!(status, 200);
    assert_eq!(
        keys_of(&base, "/paediatric_diabetes_units/PZ024/parent/").await,
        [
            "pz_code",
            "paediatric_diabetes_network",
            "parent",
            "primary_organisation",
            "updated_at",
            "last_updated",
            "active",
            "name"
        ]
    );
    assert_eq!(one[0]["name"], "WILLIAM HARVEY HOSPITAL (ASHFORD)");
    let (_, filtered) = get(
        &base,
        "/paediatric_diabetes_units/organisations/?pz_code=PZ041",
    )
    .await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    assert_eq!(filtered[0]["organisations"][0]["ods_code"], "RGT01");
}

#[tokio::test]
async fn filters_on_sites_match_exactly() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let (_, list) = get(&base, "/organisations/?ods_code=RGT01").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["name"], "ADDENBROOKE'S HOSPITAL");
    let (_, list) = get(
        &base,
        "/organisations/limited/?name=ADDENBROOKE'S%20HOSPITAL",
    )
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, list) = get(&base, "/organisations/limited/?name=ADDENBROOKE").await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "exact, not contains"
    );
    let (status, body) = get(&base, "/organisations/?active=perhaps").await;
    assert_eq!(status, 400);
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn unknown_codes_are_404_and_malformed_ones_400() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    for route in [
        "/organisations/ZZZ99/",
        "/trusts/ZZZ/",
        "/paediatric_diabetes_units/PZ998/parent/",
        "/paediatric_diabetes_units/sibling-organisations/ZZZ99/",
        "/organisations/ZZZ99/snapshot/?date=2025-01-01",
        "/no_such_route/",
    ] {
        let (status, body) = get(&base, route).await;
        assert_eq!(status, 404, "{route}");
        assert!(body["detail"].is_string(), "{route}: {body}");
    }
    for route in [
        "/organisations/!!/",
        "/paediatric_diabetes_units/XX1/parent/",
        "/paediatric_diabetes_units/organisations/?pz_code=nope",
        "/trusts/?as_of=yesterday",
        "/organisations/?as_of=1990-01-01",
        "/countries/?as_of=2025-13-01",
    ] {
        let (status, body) = get(&base, route).await;
        assert_eq!(status, 400, "{route}");
        assert!(body["detail"].is_string(), "{route}: {body}");
    }
    let (status, body) = get(&base, "/organisations/RGT01/snapshot/?date=31-12-2024").await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "Invalid date format. Use YYYY-MM-DD.");
}

#[tokio::test]
async fn a_site_without_a_unit_has_no_siblings() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let (_, all) = get(&base, "/organisations/").await;
    let lonely = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["paediatric_diabetes_unit"].is_null())
        .map(|o| o["ods_code"].as_str().unwrap_or("").to_string())
        .expect("a site without a unit");
    let (status, body) = get(
        &base,
        &format!("/paediatric_diabetes_units/sibling-organisations/{lonely}/"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, Value::Array(Vec::new()));
}

#[tokio::test]
async fn the_snapshot_route_walks_back_to_a_predecessor() {
    let db = TestDb::seeded().await;
    ord_succession::ActiveModel {
        id: NotSet,
        ods_code: Set("RVVNEW".into()),
        entity: Set("organisation".into()),
        kind: Set("predecessor".into()),
        target_code: Set("RVV01".into()),
        target_primary_role: Set(None),
        effective_on: Set("2030-01-01".parse().ok()),
        recorded_at: Set(Utc::now()),
    }
    .insert(&db.db)
    .await
    .expect("succession");
    let base = serve(&db).await;
    let today = Utc::now().date_naive().to_string();
    let (status, own) = get(
        &base,
        &format!("/organisations/RVV01/snapshot/?date={today}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        keys_of(
            &base,
            &format!("/organisations/RVV01/snapshot/?date={today}")
        )
        .await,
        [
            "ods_code",
            "snapshot_date",
            "name",
            "address1",
            "address2",
            "address3",
            "telephone",
            "city",
            "county",
            "postcode",
            "latitude",
            "longitude",
            "active",
            "published_at",
            "trust",
            "local_health_board",
            "integrated_care_board",
            "nhs_england_region",
            "openuk_network",
            "paediatric_diabetes_unit",
            "predecessor_ods_code",
            "country"
        ]
    );
    assert_eq!(own["snapshot_date"], today);
    assert_eq!(own["predecessor_ods_code"], Value::Null);
    assert_eq!(own["trust"]["ods_code"], "RVV");
    assert_eq!(own["paediatric_diabetes_unit"]["pz_code"], "PZ024");
    let (status, walked) = get(
        &base,
        &format!("/organisations/RVVNEW/snapshot/?date={today}"),
    )
    .await;
    assert_eq!(status, 200, "{walked}");
    assert_eq!(walked["ods_code"], "RVV01");
    assert_eq!(walked["predecessor_ods_code"], "RVV01");
    assert_eq!(walked["name"], own["name"]);
}

#[tokio::test]
async fn as_of_answers_for_a_day_and_is_part_of_the_etag() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let client = reqwest::Client::new();
    let today = Utc::now().date_naive().to_string();
    let a = client
        .get(format!("{base}/v1/trusts/RGT/"))
        .send()
        .await
        .expect("request");
    let etag = a.headers()["etag"].to_str().unwrap_or("").to_string();
    assert!(!etag.is_empty());
    let b = client
        .get(format!("{base}/v1/trusts/RGT/?as_of={today}"))
        .send()
        .await
        .expect("request");
    assert_eq!(b.status(), 200);
    assert_ne!(b.headers()["etag"].to_str().unwrap_or(""), etag);
    let again = client
        .get(format!("{base}/v1/trusts/RGT/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    let cached = client
        .get(format!("{base}/v1/trusts/RGT/"))
        .send()
        .await
        .expect("request");
    assert_eq!(cached.headers()["x-cache"], "hit");
}

#[tokio::test]
async fn rest_shares_the_rate_limit_of_graphql() {
    let db = TestDb::seeded().await;
    let mut settings = common::settings();
    settings.rate_limit_rps = 1;
    settings.rate_limit_burst = 2;
    let base = serve_with(&db, settings).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut refusal = Value::Null;
    for _ in 0..4 {
        let resp = client
            .get(format!("{base}/v1/openuk_networks/"))
            .send()
            .await
            .expect("request");
        let s = resp.status().as_u16();
        if s == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            refusal = resp.json().await.unwrap_or(Value::Null);
        }
        statuses.push(s);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(refusal["detail"].is_string(), "REST's own shape: {refusal}");
    let graphql = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(graphql.status(), 429, "the same budget");
}

#[tokio::test]
async fn only_get_is_served() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/trusts/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 405);
}
