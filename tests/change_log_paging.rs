//! changeLog is admin-only, bounded and paged; `offset` works without `limit`.
mod common;

use common::{data, error_code, gql, gql_admin, TestDb};
use nhs_organisations::auth;

#[tokio::test]
async fn change_log_needs_an_admin_key() {
    let t = TestDb::seeded().await;
    let resp = gql(&t.schema(), "{ changeLog(limit: 1) { actor } }").await;
    assert_eq!(
        error_code(&resp).as_deref(),
        Some("UNAUTHENTICATED"),
        "{resp}"
    );
    assert!(resp["data"].is_null(), "{resp}");
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
