//! The seed: counts, the derivation rules and our choices for the known data problems
//! (docs/seeding.md), idempotence, and the database's own guard on memberships.
use crate::common;

use chrono::NaiveDate;
use common::{data, gql, TestDb};
use nhs_organisations::memberships::{self, Edge, NewMembership};
use nhs_organisations::reference_data::ReferenceData;
use nhs_organisations::seed;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::Value;

fn plan() -> seed::SeedPlan {
    seed::plan(&ReferenceData::bundled().expect("bundled data parses"))
}

#[test]
fn plan_counts_match_the_reference_data() {
    let p = plan();
    assert_eq!(p.organisations.len(), 339);
    assert_eq!(p.trusts.len(), 242);
    assert_eq!(p.local_health_boards.len(), 7);
    assert_eq!(p.integrated_care_boards.len(), 42);
    assert_eq!(p.regions.len(), 7);
    assert_eq!(
        p.diabetes_units.len(),
        173,
        "every distinct PZ code (PZ010 appears twice)"
    );
    assert_eq!(p.diabetes_networks.len(), 12);
    assert_eq!(p.open_uk_networks.len(), 15);
    assert_eq!(p.london_boroughs.len(), 33);
    assert_eq!(p.countries.len(), 5);
}

#[test]
fn powys_sites_go_to_the_board_not_the_trust_of_the_same_code() {
    let p = plan();
    let powys_sites: Vec<_> = p
        .edges
        .iter()
        .filter(|(e, _, parent)| *e == Edge::OrganisationLocalHealthBoard && parent == "7A7")
        .collect();
    assert!(!powys_sites.is_empty());
    assert!(!p
        .edges
        .iter()
        .any(|(e, _, parent)| *e == Edge::OrganisationTrust && parent == "7A7"));
    for (_, site, _) in powys_sites {
        assert_eq!(p.parent(Edge::OrganisationCountry, site), Some(seed::WALES));
        assert_eq!(p.parent(Edge::OrganisationIntegratedCareBoard, site), None);
    }
}

#[test]
fn multi_icb_trusts_take_the_last_lookup_row() {
    let p = plan();
    // RTG appears for QNC then QJ2; RK9 for QT6 then QJK.
    let rtg_site = p
        .organisations
        .iter()
        .find(|o| p.parent(Edge::OrganisationTrust, &o.ods_code) == Some("RTG"))
        .expect("an RTG site");
    assert_eq!(
        p.parent(Edge::OrganisationIntegratedCareBoard, &rtg_site.ods_code),
        Some("QJ2")
    );
    assert_eq!(
        p.parent(Edge::OrganisationNhsEnglandRegion, &rtg_site.ods_code),
        Some("Y60")
    );
    let rk9_site = p
        .organisations
        .iter()
        .find(|o| p.parent(Edge::OrganisationTrust, &o.ods_code) == Some("RK9"))
        .expect("an RK9 site");
    assert_eq!(
        p.parent(Edge::OrganisationIntegratedCareBoard, &rk9_site.ods_code),
        Some("QJK")
    );
}

#[test]
fn stale_ons_codes_are_not_used_for_icb_boundaries() {
    let p = plan();
    for code in ["QXU", "QNX"] {
        let icb = p
            .integrated_care_boards
            .iter()
            .find(|i| i.ods_code == code)
            .expect("ICB");
        let b = icb.boundary_identifier.as_deref().unwrap_or_default();
        assert!(b == "E54000063" || b == "E54000064", "{code} has {b}");
    }
}

#[test]
fn london_borough_comes_from_the_local_authority_not_the_city() {
    let p = plan();
    let boroughs: Vec<_> = p
        .edges
        .iter()
        .filter(|(e, _, _)| *e == Edge::OrganisationLondonBorough)
        .collect();
    assert_eq!(
        boroughs.len(),
        44,
        "27 with city LONDON plus 17 London sites with another city"
    );
    assert_eq!(
        p.parent(Edge::OrganisationLondonBorough, "RAL26"),
        Some("E09000003"),
        "Barnet Hospital"
    );
    // City says BIRMINGHAM, but postcode and local authority are Kensington and Chelsea.
    assert_eq!(
        p.parent(Edge::OrganisationLondonBorough, "RYW91"),
        Some("E09000020")
    );
    assert_eq!(p.parent(Edge::OrganisationLondonBorough, "RGT01"), None);
}

#[test]
fn jersey_keeps_its_trust_but_gets_no_nhs_england_geography() {
    let p = plan();
    assert_eq!(
        p.parent(Edge::OrganisationTrust, seed::JERSEY_SITE),
        Some("RGT")
    );
    assert_eq!(
        p.parent(Edge::OrganisationCountry, seed::JERSEY_SITE),
        Some(seed::JERSEY)
    );
    assert_eq!(
        p.parent(Edge::OrganisationIntegratedCareBoard, seed::JERSEY_SITE),
        None
    );
    assert_eq!(
        p.parent(Edge::OrganisationNhsEnglandRegion, seed::JERSEY_SITE),
        None
    );
    assert_eq!(
        p.parent(Edge::OrganisationPaediatricDiabetesUnit, seed::JERSEY_SITE),
        Some("PZ248")
    );
    let jersey = p
        .countries
        .iter()
        .find(|c| c.code == seed::JERSEY)
        .expect("Jersey");
    assert_eq!(jersey.boundary_identifier, None);
}

#[test]
fn rcpch_itself_has_no_parent() {
    let p = plan();
    assert_eq!(p.parent(Edge::OrganisationTrust, "8HV48"), None);
    assert_eq!(p.parent(Edge::OrganisationLocalHealthBoard, "8HV48"), None);
    assert_eq!(
        p.parent(Edge::OrganisationCountry, "8HV48"),
        Some(seed::ENGLAND)
    );
    assert_eq!(
        p.parent(Edge::OrganisationPaediatricDiabetesUnit, "8HV48"),
        Some("PZ999")
    );
}

#[test]
fn duplicate_open_uk_rows_last_wins_and_rn3_goes_to_wpnn() {
    let p = plan();
    let rn3 = p
        .organisations
        .iter()
        .find(|o| p.parent(Edge::OrganisationTrust, &o.ods_code) == Some("RN3"))
        .expect("an RN3 site");
    assert_eq!(
        p.parent(Edge::OrganisationOpenUkNetwork, &rn3.ods_code),
        Some("WPNN")
    );
}

#[test]
fn pz_codes_site_level_first_then_parent_level_and_missing_sites_warned() {
    let p = plan();
    // Trust-level PZ024 (RVV) reaches RVV sites; RVV01 is its named lead.
    assert_eq!(
        p.parent(Edge::OrganisationPaediatricDiabetesUnit, "RVV01"),
        Some("PZ024")
    );
    assert_eq!(p.pdu_leads.get("PZ024").map(String::as_str), Some("RVV01"));
    // Board-level PZ244 (7A2) reaches Hywel Dda sites.
    assert_eq!(
        p.parent(Edge::OrganisationPaediatricDiabetesUnit, "7A2AJ"),
        Some("PZ244")
    );
    // Every named lead is a member of its unit.
    for (pz, site) in seed::PDU_LEADS {
        assert_eq!(
            p.parent(Edge::OrganisationPaediatricDiabetesUnit, site),
            Some(pz),
            "{pz} lead {site}"
        );
        assert_eq!(p.pdu_leads.get(pz).map(String::as_str), Some(site));
    }
    // The nine PZ rows whose site is not in the data are reported.
    for missing in [
        "RALC7", "RX1RA", "RJE09", "RWP01", "RWP31", "RAE05", "R0B0Q", "RGT2X", "RXF10",
    ] {
        assert!(
            p.warnings.iter().any(|w| w.contains(missing)),
            "no warning for {missing}"
        );
    }
    // PZ010 keeps its one known site (RC971); RGT2X is not in the data.
    assert_eq!(
        p.parent(Edge::OrganisationPaediatricDiabetesUnit, "RC971"),
        Some("PZ010")
    );
    // Networks: null network codes give no edge.
    assert_eq!(p.parent(Edge::PaediatricDiabetesUnitNetwork, "PZ206"), None);
    assert_eq!(
        p.parent(Edge::PaediatricDiabetesUnitNetwork, "PZ248"),
        Some("PN01")
    );
}

async fn dump_counts(db: &sea_orm::DatabaseConnection) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut tables: Vec<&str> = Edge::ALL.iter().map(|e| e.table()).collect();
    tables.extend([
        "organisations",
        "trusts",
        "paediatric_diabetes_units",
        "change_log",
    ]);
    for t in tables {
        let row = db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {t}"),
            ))
            .await
            .expect("count")
            .expect("row");
        out.push((t.to_string(), row.try_get::<i64>("", "n").expect("n")));
    }
    out
}

#[tokio::test]
async fn seeding_loads_everything_once_and_a_second_run_changes_nothing() {
    let t = TestDb::empty().await;
    let first = seed::seed_reference_data(&t.db).await.expect("seed");
    assert_eq!(first.inserted["organisation"], 339);
    assert_eq!(first.inserted["trust"], 242);
    assert_eq!(first.inserted["paediatric_diabetes_unit"], 173);
    let before = dump_counts(&t.db).await;
    let second = seed::seed_reference_data(&t.db).await.expect("seed again");
    assert!(
        !second.changed_anything(),
        "second seed changed: {second:?}"
    );
    assert_eq!(dump_counts(&t.db).await, before);
    // Every write is in the change log with source `seed`.
    let logged = nhs_organisations::entities::change_log::Entity::find()
        .count(&t.db)
        .await
        .expect("count");
    let records: usize = first.inserted.values().sum();
    let edges: usize = first.memberships.values().sum();
    assert_eq!(logged as usize, records + edges);
}

#[tokio::test]
async fn seeded_graph_answers_the_rules() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let d = data(gql(&schema, r#"{
        jersey: organisation(odsCode: "rgt1w") { odsCode country { name } trust { odsCode } integratedCareBoard { odsCode } nhsEnglandRegion { regionCode } }
        powys: localHealthBoard(odsCode: "7A7") { name welshName organisations { odsCode } }
        powysTrust: trust(odsCode: "7A7") { name organisations { odsCode } }
        pz024: paediatricDiabetesUnit(pzCode: "PZ024") { primaryOrganisation { odsCode } parent { odsCode } organisations { odsCode } paediatricDiabetesNetwork { pnCode } }
        wales: country(code: "W92000004") { welshName }
        camden: londonBorough(gssCode: "E09000007") { name }
    }"#).await);
    assert_eq!(d["jersey"]["country"]["name"], "Jersey");
    assert_eq!(d["jersey"]["trust"]["odsCode"], "RGT");
    assert_eq!(d["jersey"]["integratedCareBoard"], Value::Null);
    assert_eq!(d["jersey"]["nhsEnglandRegion"], Value::Null);
    assert!(d["powys"]["organisations"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert_eq!(d["powys"]["welshName"], "Bwrdd Iechyd Addysgu Powys");
    assert_eq!(
        d["powysTrust"]["organisations"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(d["pz024"]["primaryOrganisation"]["odsCode"], "RVV01");
    assert_eq!(d["pz024"]["parent"]["odsCode"], "RVV");
    assert_eq!(d["pz024"]["paediatricDiabetesNetwork"]["pnCode"], "PN05");
    assert_eq!(d["wales"]["welshName"], "Cymru");
    assert_eq!(d["camden"]["name"], "Camden");
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

#[tokio::test]
async fn the_database_refuses_two_current_memberships_or_overlapping_intervals() {
    let t = TestDb::seeded().await;
    let ids = memberships::ids_by_code(&t.db, memberships::ORGANISATIONS)
        .await
        .expect("ids");
    let trusts = memberships::ids_by_code(&t.db, memberships::TRUSTS)
        .await
        .expect("ids");
    let site = ids["RVV01"];
    let other = trusts["RGT"];
    // RVV01 already has a current trust membership from the seed: a second current row fails.
    let second_current = memberships::insert(
        &t.db,
        Edge::OrganisationTrust,
        &[NewMembership {
            child_id: site,
            parent_id: other,
            valid_from: day("2025-01-01"),
        }],
    )
    .await;
    assert!(
        second_current.is_err(),
        "a second current membership was accepted"
    );
    // A closed interval overlapping the current one fails too.
    let stmt = sea_orm::Statement::from_sql_and_values(
        t.db.get_database_backend(),
        match t.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "INSERT INTO organisation_trusts (child_id, parent_id, valid_from, valid_to) VALUES ($1, $2, $3, $4)",
            _ => "INSERT INTO organisation_trusts (child_id, parent_id, valid_from, valid_to) VALUES (?, ?, ?, ?)",
        },
        [site.into(), other.into(), day("2025-01-01").into(), day("2025-06-01").into()],
    );
    assert!(
        t.db.execute(stmt.clone()).await.is_err(),
        "an overlapping interval was accepted"
    );
    // Before the current one began, a closed interval is fine.
    let ok = sea_orm::Statement::from_sql_and_values(
        t.db.get_database_backend(),
        match t.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "INSERT INTO organisation_trusts (child_id, parent_id, valid_from, valid_to) VALUES ($1, $2, $3, $4)",
            _ => "INSERT INTO organisation_trusts (child_id, parent_id, valid_from, valid_to) VALUES (?, ?, ?, ?)",
        },
        [site.into(), other.into(), day("2020-01-01").into(), day("2021-01-01").into()],
    );
    t.db.execute(ok)
        .await
        .expect("a non-overlapping past interval");
}

#[tokio::test]
async fn set_parent_closes_the_old_membership_and_opens_the_new_one() {
    let t = TestDb::seeded().await;
    let ids = memberships::ids_by_code(&t.db, memberships::ORGANISATIONS)
        .await
        .expect("ids");
    let units = memberships::ids_by_code(&t.db, memberships::PAEDIATRIC_DIABETES_UNITS)
        .await
        .expect("ids");
    let site = ids["RVV01"];
    let on = day("2025-03-01");
    let (moved, change) = memberships::set_parent(
        &t.db,
        Edge::OrganisationPaediatricDiabetesUnit,
        (site, "RVV01"),
        Some((units["PZ041"], "PZ041")),
        on,
    )
    .await
    .expect("set")
    .expect("a change");
    assert_eq!(moved.before.as_deref(), Some("PZ024"));
    assert_eq!(moved.after.as_deref(), Some("PZ041"));
    assert_eq!(change.field.as_deref(), Some("paediatric_diabetes_unit"));
    let history = memberships::history(&t.db, Edge::OrganisationPaediatricDiabetesUnit, site)
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].valid_to, Some(on));
    assert_eq!(history[1].valid_from, on);
    assert_eq!(history[1].valid_to, None);
    // As of a day before the move, the old unit applies.
    let then = memberships::parents_of(
        &t.db,
        Edge::OrganisationPaediatricDiabetesUnit,
        &[site],
        memberships::Moment::On(day("2025-02-28")),
    )
    .await
    .expect("asof");
    assert_eq!(then.get(&site), Some(&units["PZ024"]));
    // Setting the same parent again changes nothing.
    let again = memberships::set_parent(
        &t.db,
        Edge::OrganisationPaediatricDiabetesUnit,
        (site, "RVV01"),
        Some((units["PZ041"], "PZ041")),
        on,
    )
    .await
    .expect("set");
    assert!(again.is_none());
    let _ = nhs_organisations::entities::organisation::Entity::find()
        .count(&t.db)
        .await;
}
