//! Documents that used to overflow the stack: brackets nested thousands deep anywhere in the
//! query text, over POST, GET and direct execution. Each is refused with QUERY_TOO_COMPLEX, and
//! the server (this very process) keeps answering.
use crate::common;

use common::{data, error_code, gql, serve, TestDb};
use serde_json::{json, Value};

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_object(depth: usize) -> String {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
}

/// Every place of a document where a value can nest.
fn documents(depth: usize) -> Vec<(&'static str, String)> {
    let list = nested(depth);
    vec![
        ("argument", format!("{{ countries(x: {list}) {{ code }} }}")),
        (
            "unknown argument",
            format!("{{ organisation(odsCode: \"RVV01\", nope: {list}) {{ odsCode }} }}"),
        ),
        (
            "directive argument",
            format!("{{ countries @include(if: {list}) {{ code }} }}"),
        ),
        (
            "variable default",
            format!("query Q($v: [Int] = {list}) {{ countries {{ code }} }}"),
        ),
        (
            "unused fragment",
            format!(
                "{{ countries {{ code }} }} fragment F on Query {{ countries(x: {}) {{ code }} }}",
                nested_object(depth)
            ),
        ),
        (
            "selection sets",
            format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth)),
        ),
    ]
}

async fn post(base: &str, query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, query: &str) -> (u16, Value) {
    let url_len = query.len() * 3;
    if url_len > 60_000 {
        // Longer than an http::Uri can be, so no client library sends it: write it raw.
        return raw_get(base, query).await;
    }
    let resp = reqwest::Client::new()
        .get(format!("{base}/graphql"))
        .query(&[("query", query)])
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn raw_get(base: &str, query: &str) -> (u16, Value) {
    let encoded: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let head =
        format!("GET /graphql?query={encoded} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let resp = common::raw_http(
        base,
        &[(head.as_bytes(), std::time::Duration::ZERO)],
        std::time::Duration::from_secs(10),
    )
    .await;
    let status = common::raw_status(&resp).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

async fn still_serves(base: &str) {
    let (status, body) = post(base, "{ countries { code } }").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["countries"].is_array(), "{body}");
}

#[tokio::test]
async fn deep_literals_are_refused_over_post_and_get_at_2000_and_100000_levels() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    for depth in [2_000, 100_000] {
        for (place, query) in documents(depth) {
            for (how, (status, body)) in [
                ("POST", post(&base, &query).await),
                ("GET", get(&base, &query).await),
            ] {
                if how == "GET" && (status == 414 || status == 431) {
                    // Too long a URL for HTTP itself: refused before GraphQL, as it should be.
                    continue;
                }
                assert_eq!(status, 200, "{how} {place} at {depth}: {body}");
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
                    "{how} {place} at {depth}: {body}"
                );
                assert_eq!(
                    body["errors"].as_array().map(Vec::len),
                    Some(1),
                    "one error"
                );
            }
        }
        still_serves(&base).await;
    }
}

#[test]
fn direct_execution_refuses_deep_text_even_on_a_small_stack() {
    // 256 KiB of stack: the parser would overflow on a few thousand levels long before.
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let t = TestDb::empty().await;
                let schema = t.schema();
                let mut codes = Vec::new();
                for (_, query) in documents(100_000) {
                    codes.push(error_code(&gql(&schema, &query).await));
                }
                codes
            })
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    assert!(
        outcome
            .iter()
            .all(|c| c.as_deref() == Some("QUERY_TOO_COMPLEX")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn brackets_in_strings_and_comments_do_not_count() {
    let t = TestDb::seeded().await;
    let deep = "[".repeat(5_000);
    let q = format!(
        "# {deep}\n{{ organisations(filter: {{nameContains: \"{deep}\"}}) {{ odsCode }} }}"
    );
    let d = data(gql(&t.schema(), &q).await);
    assert_eq!(d["organisations"], json!([]));
}

#[tokio::test]
async fn deeply_nested_variables_are_a_400_not_a_crash() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let deep = nested(100_000);
    let body = format!(
        r#"{{"query": "query Q($v: [Int]) {{ countries {{ code }} }}", "variables": {{"v": {deep}}}}}"#
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // The same in a GET's `variables` parameter.
    let deep = nested(5_000);
    let resp = reqwest::Client::new()
        .get(format!("{base}/graphql"))
        .query(&[
            ("query", "query Q($v: [Int]) { countries { code } }"),
            ("variables", &format!(r#"{{"v": {deep}}}"#)),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 400);
    still_serves(&base).await;
}

#[tokio::test]
async fn directives_on_operations_and_fragments_are_counted_and_errors_are_capped() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    // About 1 MiB of directives on the operation: one error, not one per directive.
    let q = format!("query {} {{ countries {{ code }} }}", "@a ".repeat(300_000));
    let (status, body) = post(&base, &q).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
    let q = format!(
        "{{ countries {{ code }} }} fragment F on Query {} {{ countries {{ code }} }}",
        "@a ".repeat(50)
    );
    let (_, body) = post(&base, &q).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");

    // 500 unknown fields: 20 errors and one saying how many more there were.
    let fields: String = (0..500).map(|i| format!("nope{i} ")).collect();
    let (_, body) = post(&base, &format!("{{ countries {{ {fields} }} }}")).await;
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 21, "{body}");
    assert_eq!(errors[20]["extensions"]["leftOut"], 480);
    assert!(errors.iter().all(|e| e["extensions"]["code"].is_string()));
}

#[tokio::test]
async fn parse_errors_do_not_echo_a_whole_long_line() {
    let t = TestDb::seeded().await;
    let q = format!("{{ countries {{ code {} }} ", "x ".repeat(50_000));
    let resp = gql(&t.schema(), &q).await;
    let msg = resp["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!msg.is_empty());
    assert!(msg.lines().all(|l| l.chars().count() <= 161), "{msg}");
    assert!(msg.len() < 2_000, "{} bytes", msg.len());
}

#[tokio::test]
async fn a_deeply_nested_ord_body_is_an_upstream_error_not_a_crash() {
    let ord = common::ord::MockOrd::with(|c| {
        c.retry_budget = std::time::Duration::from_millis(500);
    })
    .await;
    let body = format!(r#"{{"Organisation": {}}}"#, nested(100_000));
    ord.respond(
        "RVV01",
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string(body),
    )
    .await;
    let got = ord.client.organisation("RVV01").await;
    assert!(got.is_err(), "{got:?}");
}
