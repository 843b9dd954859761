//! changeLog is admin-only, bounded and paged; `offset` works without `limit`.
use crate::common;

use common::{data, error_code, gql, gql_admin, TestDb};
use nhs_organisations::{auth, mergers};
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn change_log_shows_key_names_only_to_admins() {
    let t = TestDb::seeded().await;
    let key = auth::create_key(&t.db, "auditor").await.expect("key");
    let site =
        t.db.query_one(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT ods_code FROM organisations WHERE deleted_at IS NULL ORDER BY ods_code LIMIT 1",
        ))
        .await
        .expect("query")
        .expect("a site")
        .try_get::<String>("", "ods_code")
        .expect("code");
    let code = nhs_organisations::codes::OdsCode::parse(&site).expect("an ODS code");
    let update = mergers::MembershipUpdate {
        open_uk_network: mergers::Setting::Clear,
        paediatric_diabetes_unit: mergers::Setting::Clear,
        ..mergers::MembershipUpdate::new(code)
    };
    mergers::update_memberships(&t.db, &update, "alice-ops")
        .await
        .expect("update");
    let q = format!("{{ changeLog(code: \"{site}\", limit: 50) {{ actor }} }}");
    let actors = |v: serde_json::Value| -> Vec<String> {
        v["changeLog"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["actor"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let public = actors(data(gql(&t.schema(), &q).await));
    assert!(public.iter().any(|a| a == "admin"), "{public:?}");
    assert!(public.iter().any(|a| a == "seed"), "{public:?}");
    assert!(!public.iter().any(|a| a == "alice-ops"), "{public:?}");
    let admin = actors(data(gql_admin(&t.schema(), &q, &key).await));
    assert!(admin.iter().any(|a| a == "alice-ops"), "{admin:?}");
    // A wrong key reads like no key, not an error: reads need no credentials.
    let wrong = actors(data(gql_admin(&t.schema(), &q, "nhso_wrong").await));
    assert_eq!(wrong, public);
}

#[tokio::test]
async fn change_log_limit_is_capped_and_costed() {
    let t = TestDb::seeded().await;
    let key = auth::create_key(&t.db, "auditor").await.expect("key");
    let schema = t.schema();
    let resp = gql_admin(&schema, "{ changeLog(limit: 1001) { id } }", &key).await;
    assert_eq!(
        error_code(&resp).as_deref(),
        Some("BAD_USER_INPUT"),
        "{resp}"
    );
    let page = data(gql_admin(&schema, "{ changeLog(limit: 1000) { id } }", &key).await);
    assert_eq!(page["changeLog"].as_array().map(Vec::len), Some(1000));
    // 30 aliases of a big page cost far more than one response may hold.
    let aliases: String = (0..30)
        .map(|i| format!("a{i}: changeLog(limit: 2147483647) {{ id recordedAt effectiveOn actor source entity code action field before after }} "))
        .collect();
    let resp = gql_admin(&schema, &format!("{{ {aliases} }}"), &key).await;
    assert_eq!(
        error_code(&resp).as_deref(),
        Some("QUERY_TOO_COMPLEX"),
        "{resp}"
    );
}

#[tokio::test]
async fn change_log_pages_with_an_id_cursor() {
    let t = TestDb::seeded().await;
    let key = auth::create_key(&t.db, "auditor").await.expect("key");
    let schema = t.schema();
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["changeLog"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let first = ids(&data(
        gql_admin(&schema, "{ changeLog(limit: 5) { id } }", &key).await,
    ));
    assert_eq!(first.len(), 5);
    assert!(first.windows(2).all(|w| w[0] > w[1]), "newest first");
    let q = format!("{{ changeLog(limit: 5, before: {}) {{ id }} }}", first[4]);
    let second = ids(&data(gql_admin(&schema, &q, &key).await));
    assert_eq!(second.len(), 5);
    assert!(second[0] < first[4]);
    let both = ids(&data(
        gql_admin(&schema, "{ changeLog(limit: 10) { id } }", &key).await,
    ));
    assert_eq!(both, [first, second].concat());
}

#[tokio::test]
async fn offset_without_limit_pages_sites_and_trusts() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let all = data(gql(&schema, "{ organisations { odsCode } trusts { odsCode } }").await);
    let skipped = data(
        gql(
            &schema,
            "{ organisations(offset: 1) { odsCode } trusts(offset: 1) { odsCode } }",
        )
        .await,
    );
    for list in ["organisations", "trusts"] {
        let all = all[list].as_array().cloned().unwrap_or_default();
        let skipped = skipped[list].as_array().cloned().unwrap_or_default();
        assert!(!all.is_empty());
        assert_eq!(skipped.as_slice(), &all[1..], "{list}");
    }
}

/// A mistyped `source` or `entity` is `BAD_USER_INPUT` naming the values, not an empty page;
/// the right values match whatever their case.
#[tokio::test]
async fn change_log_filters_refuse_unknown_values() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    for q in [
        r#"{ changeLog(source: "ord_sync") { id } }"#,
        r#"{ changeLog(entity: "site") { id } }"#,
    ] {
        let resp = gql(&schema, q).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("BAD_USER_INPUT"),
            "{q}: {resp}"
        );
        let message = resp["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("is not one of"), "{message}");
    }
    let resp = gql(
        &schema,
        r#"{ changeLog(source: "SEED", entity: "Trust", limit: 1) { source entity } }"#,
    )
    .await;
    let d = data(resp);
    assert_eq!(d["changeLog"][0]["source"], "seed");
    assert_eq!(d["changeLog"][0]["entity"], "trust");
}

/// The enum alternatives filter like the text ones and read back as enums; an unknown enum
/// value fails validation, and giving the text and the enum of one filter is refused.
#[tokio::test]
async fn change_log_takes_and_gives_enums_too() {
    let t = TestDb::seeded().await;
    let schema = t.schema();
    let d = data(
        gql(
            &schema,
            "{ changeLog(sourceKind: SEED, entityKind: TRUST, limit: 1) \
             { source sourceKind entity entityKind action actionKind } }",
        )
        .await,
    );
    let entry = &d["changeLog"][0];
    assert_eq!(entry["source"], "seed", "{d}");
    assert_eq!(entry["sourceKind"], "SEED", "{d}");
    assert_eq!(entry["entity"], "trust", "{d}");
    assert_eq!(entry["entityKind"], "TRUST", "{d}");
    assert_eq!(entry["action"], "create", "{d}");
    assert_eq!(entry["actionKind"], "CREATE", "{d}");
    for q in [
        "{ changeLog(sourceKind: ORD_SYNCH) { id } }",
        r#"{ changeLog(source: "seed", sourceKind: SEED) { id } }"#,
        r#"{ changeLog(entity: "trust", entityKind: TRUST) { id } }"#,
    ] {
        let resp = gql(&schema, q).await;
        assert_eq!(
            error_code(&resp).as_deref(),
            Some("BAD_USER_INPUT"),
            "{q}: {resp}"
        );
    }
}
