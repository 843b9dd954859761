//! The bundled history (`data/history/events.json`, docs/history.md): `seed` applies it after
//! the reference data, so today's answers show today's structure and `asOf: "2024-09-01"` the
//! reference data's; the figures of the file's own validator (`data/history/validate.py`);
//! each event's effect; idempotence; `history apply` on a curated file, dry run included.
use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use common::{data, gql, TestDb, BIN};
use nhs_organisations::{history, seed};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

const BEFORE: &str = "2024-09-01";
const AFTER: &str = "2026-12-01";

async fn query(t: &TestDb, q: &str) -> Value {
    data(gql(&t.schema(), q).await)
}

fn codes(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v[field].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Counts on a day: sites, trusts, ICBs, PDUs, English sites with an ICB.
async fn counts(t: &TestDb, day: &str) -> BTreeMap<&'static str, usize> {
    let d = query(
        t,
        &format!(
            r#"{{ organisations(asOf: "{day}") {{ odsCode integratedCareBoard {{ odsCode }} country {{ code }} }}
                trusts(asOf: "{day}") {{ odsCode }}
                integratedCareBoards(asOf: "{day}") {{ odsCode }}
                paediatricDiabetesUnits(asOf: "{day}") {{ pzCode }} }}"#
        ),
    )
    .await;
    let len = |k: &str| d[k].as_array().map(Vec::len).unwrap_or(0);
    let english_with_icb = d["organisations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|o| {
                    o["country"]["code"] == "E92000001" && o["integratedCareBoard"].is_object()
                })
                .count()
        })
        .unwrap_or(0);
    BTreeMap::from([
        ("sites", len("organisations")),
        ("trusts", len("trusts")),
        ("icbs", len("integratedCareBoards")),
        ("pdus", len("paediatricDiabetesUnits")),
        ("english_sites_with_icb", english_with_icb),
    ])
}

/// `validate.py`'s summary: sites 339 → 339, trusts 242 → 236, ICBs 42 → 36, PDUs 173 → 173,
/// English sites with an ICB 309 → 309; moves trust 16, ICB 84, PDU 8; sites per new ICB; the
/// PDUs left without a site; 3 warnings (RXF03, R0B0Q, YK301).
#[tokio::test]
async fn the_bundled_history_reproduces_the_validator_figures() {
    let t = TestDb::seeded().await;
    let report = history::apply_bundled(&t.db, "test").await.expect("apply");
    assert_eq!(report.events.len(), 14);
    assert!(report.events.iter().all(|e| e.applied));

    let before = counts(&t, BEFORE).await;
    let after = counts(&t, AFTER).await;
    let expect = |pairs: [(&'static str, usize); 5]| BTreeMap::from(pairs);
    assert_eq!(
        before,
        expect([
            ("sites", 339),
            ("trusts", 242),
            ("icbs", 42),
            ("pdus", 173),
            ("english_sites_with_icb", 309)
        ])
    );
    assert_eq!(
        after,
        expect([
            ("sites", 339),
            ("trusts", 236),
            ("icbs", 36),
            ("pdus", 173),
            ("english_sites_with_icb", 309)
        ])
    );

    let mut moves: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &report.events {
        // Sites' moves only (a new board's region and a new unit's network are moves too).
        for m in e
            .report
            .moves
            .iter()
            .filter(|m| m.entity == nhs_organisations::change_log::RecordKind::Organisation)
        {
            *moves.entry(m.edge.name()).or_default() += 1;
        }
    }
    assert_eq!(moves.get("trust"), Some(&16), "{moves:?}");
    assert_eq!(moves.get("integrated_care_board"), Some(&84), "{moves:?}");
    assert_eq!(moves.get("paediatric_diabetes_unit"), Some(&8), "{moves:?}");

    let boards = query(
        &t,
        &format!(r#"{{ integratedCareBoards(asOf: "{AFTER}") {{ odsCode organisations {{ odsCode }} }} }}"#),
    )
    .await;
    let per_board: BTreeMap<String, usize> = boards["integratedCareBoards"]
        .as_array()
        .expect("boards")
        .iter()
        .map(|b| {
            let n = b["organisations"].as_array().map(Vec::len).unwrap_or(0);
            (b["odsCode"].as_str().unwrap_or("").to_string(), n)
        })
        .collect();
    for (code, n) in [
        ("D7T5G", 6),
        ("S0E4D", 11),
        ("S1Y5D", 15),
        ("S9B9J", 19),
        ("T6Y0W", 9),
        ("Z9B2Z", 24),
    ] {
        assert_eq!(per_board.get(code), Some(&n), "sites of {code}");
    }

    let units = query(
        &t,
        &format!(r#"{{ paediatricDiabetesUnits(asOf: "{AFTER}") {{ pzCode organisations {{ odsCode }} }} }}"#),
    )
    .await;
    let empty: BTreeSet<&str> = units["paediatricDiabetesUnits"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["organisations"].as_array().is_none_or(|a| a.is_empty()))
        .filter_map(|u| u["pzCode"].as_str())
        .collect();
    assert_eq!(
        empty,
        BTreeSet::from([
            "PZ014", "PZ042", "PZ065", "PZ073", "PZ084", "PZ105", "PZ226", "PZ252", "PZ256"
        ])
    );

    let warnings = report.warnings();
    for code in ["RXF03", "R0B0Q", "YK301"] {
        assert!(
            warnings.iter().any(|w| w.contains(code)),
            "{code} in {warnings:?}"
        );
    }
}

/// The issue's own examples: RY905 under RAX from 2024-11-01 with its ICB unchanged; RWF03 and
/// RWFTW in PZ253 from 2025-04-01; RGT01's ICB QUE until 2026-03-31 and S1Y5D from 2026-04-01.
#[tokio::test]
async fn each_event_takes_effect_on_its_date() {
    let t = TestDb::current().await;
    let site = |code: &str, day: &str| {
        format!(
            r#"{{ organisation(odsCode: "{code}", asOf: "{day}") {{ parent {{ odsCode }}
                integratedCareBoard {{ odsCode }} paediatricDiabetesUnit {{ pzCode }} }} }}"#
        )
    };
    let ry905_before = query(&t, &site("RY905", "2024-10-31")).await;
    let ry905_after = query(&t, &site("RY905", "2024-11-01")).await;
    assert_eq!(ry905_before["organisation"]["parent"]["odsCode"], "RY9");
    assert_eq!(ry905_after["organisation"]["parent"]["odsCode"], "RAX");
    assert_eq!(
        ry905_before["organisation"]["integratedCareBoard"],
        ry905_after["organisation"]["integratedCareBoard"],
        "an acquisition moves the parent only"
    );

    for code in ["RWF03", "RWFTW"] {
        let before = query(&t, &site(code, "2025-03-31")).await;
        let after = query(&t, &site(code, "2025-04-01")).await;
        let unit = before["organisation"]["paediatricDiabetesUnit"]["pzCode"].clone();
        assert!(unit == "PZ125" || unit == "PZ216", "{code} before: {unit}");
        assert_eq!(
            after["organisation"]["paediatricDiabetesUnit"]["pzCode"],
            "PZ253"
        );
    }

    let before = query(&t, &site("RGT01", "2026-03-31")).await;
    let after = query(&t, &site("RGT01", "2026-04-01")).await;
    assert_eq!(
        before["organisation"]["integratedCareBoard"]["odsCode"],
        "QUE"
    );
    assert_eq!(
        after["organisation"]["integratedCareBoard"]["odsCode"],
        "S1Y5D"
    );

    // The acquiring trust's dated rename, and the acquired trust gone from today's list.
    let d = query(
        &t,
        r#"{ before: trust(odsCode: "RAX", asOf: "2024-10-31") { name }
             after: trust(odsCode: "RAX") { name }
             gone: trust(odsCode: "RY9") { name }
             was: trust(odsCode: "RY9", asOf: "2024-10-31") { name } }"#,
    )
    .await;
    assert_eq!(
        d["after"]["name"],
        "KINGSTON AND RICHMOND NHS FOUNDATION TRUST"
    );
    assert_ne!(d["before"]["name"], d["after"]["name"]);
    assert!(d["gone"].is_null(), "{d}");
    assert!(d["was"].is_object(), "{d}");
}

/// Seeding twice applies the history once: the second run changes nothing.
#[tokio::test]
async fn seeding_again_applies_nothing_twice() {
    let t = TestDb::current().await;
    let log = || async {
        nhs_organisations::entities::change_log::Entity::find()
            .count(&t.db)
            .await
            .expect("count")
    };
    let before = log().await;
    let again = seed::seed(&t.db).await.expect("seed again");
    assert!(!again.changed_anything(), "{again:?}");
    assert!(again.history_applied.is_empty());
    assert_eq!(again.history_already_applied, 14);
    assert_eq!(log().await, before);
}

fn cli(t: &TestDb, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", &t.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the binary")
}

/// `history apply FILE --dry-run` prints what applying prints and changes nothing; applying
/// again skips what is applied; a bad file is one line and changes nothing.
#[tokio::test]
async fn history_apply_runs_a_curated_file_all_or_nothing() {
    let t = TestDb::current().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("batch.json");
    std::fs::write(
        &file,
        r#"[{"date": "2026-12-01", "kind": "trust_rename", "source": "test",
             "trust": "RAL", "name_after": "ROYAL FREE LONDON NHS FOUNDATION TRUST (RENAMED)"}]"#,
    )
    .expect("write");
    let path = file.display().to_string();

    let dry = cli(&t, &["history", "apply", &path, "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    let real = cli(&t, &["history", "apply", &path]);
    assert!(real.status.success(), "{real:?}");
    let dry_out = String::from_utf8_lossy(&dry.stdout);
    let real_out = String::from_utf8_lossy(&real.stdout);
    assert!(dry_out.starts_with("dry run"), "{dry_out}");
    assert_eq!(
        dry_out.lines().skip(1).collect::<Vec<_>>(),
        real_out.lines().collect::<Vec<_>>(),
        "a dry run reports what applying does"
    );
    assert!(
        real_out.contains("2026-12-01 trust_rename RAL: applied"),
        "{real_out}"
    );

    let again = cli(&t, &["history", "apply", &path]);
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already applied"));

    let d = query(&t, r#"{ trust(odsCode: "RAL") { name } }"#).await;
    assert_eq!(
        d["trust"]["name"],
        "ROYAL FREE LONDON NHS FOUNDATION TRUST (RENAMED)"
    );

    // An event that cannot apply refuses the whole file, naming the event.
    std::fs::write(
        &file,
        r#"[{"date": "2026-12-01", "kind": "trust_rename", "source": "test", "trust": "RJ1", "name_after": "A"},
            {"date": "2026-12-01", "kind": "trust_acquisition", "source": "test", "acquiring": "RJ1", "acquired": ["XXX"]}]"#,
    )
    .expect("write");
    let bad = cli(&t, &["history", "apply", &path]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("event 2") && err.contains("XXX"), "{err}");
    let d = query(&t, r#"{ trust(odsCode: "RJ1") { name } }"#).await;
    assert_ne!(
        d["trust"]["name"], "A",
        "nothing of a refused file is applied"
    );

    std::fs::write(&file, "not json").expect("write");
    let garbage = cli(&t, &["history", "apply", &path]);
    assert!(!garbage.status.success());
    assert_eq!(
        String::from_utf8_lossy(&garbage.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
}

/// A fresh `seed` command reports the history once, in one line plus its warnings.
#[tokio::test]
async fn the_seed_command_says_what_history_it_applied() {
    let t = TestDb::empty().await;
    let out = cli(&t, &["seed"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("history: 14 events applied"), "{text}");
    let again = cli(&t, &["seed"]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("nothing to do"), "{text}");
}

/// A fresh install's first start seeds the reference data and the history: today's answers
/// have the 36 boards of today, `asOf: "2024-09-01"` the 42 of the reference data.
#[tokio::test]
async fn a_fresh_server_serves_today_and_2024_as_of_2024_09_01() {
    let t = TestDb::empty().await;
    let dir = tempfile::tempdir().expect("dir");
    let (_server, base) = common::start_server(&t.url, dir.path()).await;
    let body = serde_json::json!({"query": format!(
        r#"{{ today: integratedCareBoards {{ odsCode }} then: integratedCareBoards(asOf: "{BEFORE}") {{ odsCode }} }}"#
    )});
    let resp: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let d = &resp["data"];
    assert_eq!(d["today"].as_array().map(Vec::len), Some(36), "{resp}");
    assert_eq!(d["then"].as_array().map(Vec::len), Some(42), "{resp}");
    assert!(codes(&d["today"], "odsCode").contains("S1Y5D"));
}
