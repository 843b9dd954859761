//! Admin keys end to end: the CLI creates, lists and revokes them; the HTTP API accepts a live
//! key on the very next request and refuses a revoked one, without a restart.
use crate::common;

use std::process::{Command, Output};

use common::{serve, TestDb, BIN};
use nhs_organisations::auth;
use serde_json::{json, Value};

fn cli(database_url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Creates a key with the CLI and returns it (the last stdout line).
fn create_key(database_url: &str, name: &str) -> String {
    let out = cli(database_url, &["admin-key", "create", name]);
    assert!(out.status.success(), "create failed: {}", stderr(&out));
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("nhso_")
            && last.len() == 5 + 64
            && last[5..].bytes().all(|b| b.is_ascii_hexdigit()),
        "the last line must be the key alone: {last:?}"
    );
    // Printed once: only on the last line.
    assert_eq!(text.matches(&last).count(), 1);
    last
}

async fn whoami(base: &str, authorization: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "mutation { whoami }"}));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

fn code(resp: &Value) -> Option<&str> {
    resp["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test]
async fn create_prints_the_key_alone_on_the_last_line_of_a_fresh_sqlite_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let key = create_key(&url, "ci-bot");
    // The database holds its hash only.
    let conn = nhs_organisations::db::connect(&url).await.expect("connect");
    let keys = auth::list_keys(&conn).await.expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_hash, auth::hash_key(&key));
    assert_ne!(keys[0].key_hash, key);
}

#[tokio::test]
async fn list_shows_names_and_dates_but_never_keys_or_hashes() {
    let t = TestDb::seeded().await;
    let first = create_key(&t.url, "alice");
    let second = create_key(&t.url, "deploy.bot");
    let revoke = cli(&t.url, &["admin-key", "revoke", "alice"]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let out = cli(&t.url, &["admin-key", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("alice") && text.contains("deploy.bot"),
        "{text}"
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(text.contains(&today), "creation dates: {text}");
    assert!(text.contains("revoked") && text.contains("live"), "{text}");
    for key in [&first, &second] {
        let hash = auth::hash_key(key);
        assert!(!text.contains(key.as_str()), "a key leaked: {text}");
        assert!(!text.contains(&hash[..12]), "a hash leaked: {text}");
        assert!(!text.contains(&key[5..17]), "part of a key leaked: {text}");
    }
}

#[tokio::test]
async fn cli_failures_exit_non_zero_with_one_line() {
    let t = TestDb::seeded().await;
    create_key(&t.url, "dup");
    for args in [
        ["admin-key", "create", "dup"],
        ["admin-key", "revoke", "nobody"],
        ["admin-key", "create", "bad name!"],
    ] {
        let out = cli(&t.url, &args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(stdout(&out).trim().is_empty() || !stdout(&out).contains("nhso_"));
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_the_next_request_without_a_restart() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    // Created after the server started: accepted straight away.
    let key = create_key(&t.url, "ops");
    let bearer = format!("Bearer {key}");
    let ok = whoami(&base, Some(&bearer)).await;
    assert_eq!(ok["data"]["whoami"], "ops", "{ok}");
    // Scheme is case-insensitive.
    let ok = whoami(&base, Some(&format!("bearer {key}"))).await;
    assert_eq!(ok["data"]["whoami"], "ops", "{ok}");

    let revoke = cli(&t.url, &["admin-key", "revoke", "ops"]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let refused = whoami(&base, Some(&bearer)).await;
    assert_eq!(code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    assert!(refused["data"].is_null());
    assert!(!refused.to_string().contains(&key));
}

#[tokio::test]
async fn missing_or_wrong_keys_are_unauthenticated_and_queries_need_none() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let key = create_key(&t.url, "real");
    let wrong = format!("Bearer {}x", &key[..key.len() - 1]);
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(wrong.clone()),
        Some(format!("Basic {key}")),
        Some(key.clone()),
        Some("Bearer nhso_00".into()),
    ];
    for auth in &cases {
        let resp = whoami(&base, auth.as_deref()).await;
        assert_eq!(code(&resp), Some("UNAUTHENTICATED"), "{auth:?}: {resp}");
        let msg = resp["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("admin-key create"), "says what to do: {msg}");
        assert!(!resp.to_string().contains(&key[5..]));
    }
    // Reads need no key, and a bad key does not spoil them.
    let client = reqwest::Client::new();
    for auth in [None, Some(wrong.as_str())] {
        let mut req = client
            .post(format!("{base}/graphql"))
            .json(&json!({"query": "{ organisation(odsCode: \"RVV01\") { name } }"}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let body: Value = req
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert!(body["data"]["organisation"]["name"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn mutations_never_run_over_get() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let key = create_key(&t.url, "getter");
    let client = reqwest::Client::new();
    for query in [
        "mutation { whoami }",
        "query Q { __typename } mutation M { whoami }",
    ] {
        let resp = client
            .get(format!("{base}/graphql"))
            .query(&[("query", query), ("operationName", "M")])
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 405, "{query}");
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(code(&body), Some("BAD_USER_INPUT"));
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    // Never executed: the key was not even looked at.
    let keys = auth::list_keys(&t.db).await.expect("list");
    assert!(keys.iter().all(|k| k.last_used_at.is_none()));
}
