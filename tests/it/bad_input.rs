//! Hostile and malformed input over real HTTP: always a 4xx or a GraphQL error with the right
//! code (or an empty answer), never a 5xx, a panic or a damaged database.
use crate::common;

use common::{serve, TestDb};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const INJECTIONS: &[&str] = &[
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\"; DROP TABLE organisations; --",
    "'; DROP TABLE trusts; --",
    "<script>alert(1)</script>",
    "RVV01' OR '1'='1",
    "RVV01\u{0}",
    "\u{0}",
    "%%%%",
    "\\%",
    "*",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "\u{202e}RVV01",
];

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn gql(&self, body: Value) -> (u16, Value) {
        self.post_raw(
            Some("application/json"),
            serde_json::to_vec(&body).expect("json"),
        )
        .await
    }

    async fn vars(&self, query: &str, variables: Value) -> (u16, Value) {
        self.gql(json!({"query": query, "variables": variables}))
            .await
    }
}

async fn api(t: &TestDb) -> Api {
    Api {
        client: reqwest::Client::new(),
        base: serve(t).await,
    }
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

fn every_error_has_a_code(body: &Value) {
    if let Some(errors) = body["errors"].as_array() {
        for e in errors {
            let c = e["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                [
                    "UNAUTHENTICATED",
                    "BAD_USER_INPUT",
                    "NOT_FOUND",
                    "CONFLICT",
                    "UPSTREAM_UNAVAILABLE",
                    "QUERY_TOO_COMPLEX",
                    "INTERNAL"
                ]
                .contains(&c),
                "error without a known code: {e}"
            );
        }
    }
}

async fn counts(t: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "organisations",
        "trusts",
        "paediatric_diabetes_units",
        "organisation_trusts",
        "admin_keys",
    ] {
        let row =
            t.db.query_one(Statement::from_string(
                t.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        out.push(row.try_get::<i64>("", "n").expect("n"));
    }
    out
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_code() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    let json = Some("application/json");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("truncated JSON", json, b"{\"query\": ".to_vec(), 400),
        (
            "not JSON",
            json,
            b"query { countries { name } }".to_vec(),
            400,
        ),
        ("empty body", json, Vec::new(), 400),
        (
            "invalid UTF-8",
            json,
            b"{\"query\": \"{ countries { name } }\xff\xfe\"}".to_vec(),
            400,
        ),
        (
            "a JSON array (batch)",
            json,
            b"[{\"query\": \"{ __typename }\"}]".to_vec(),
            400,
        ),
        ("query is a number", json, b"{\"query\": 5}".to_vec(), 400),
        (
            "variables not an object",
            json,
            b"{\"query\": \"{ __typename }\", \"variables\": [1]}".to_vec(),
            400,
        ),
        (
            "deeply nested JSON",
            json,
            format!(
                "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": {}{}}}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            400,
        ),
        (
            "text/plain",
            Some("text/plain"),
            b"{\"query\": \"{ __typename }\"}".to_vec(),
            415,
        ),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            b"query=%7B__typename%7D".to_vec(),
            415,
        ),
        (
            "multipart",
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
            415,
        ),
    ];
    for (what, ct, body, expected) in cases {
        let (status, resp) = api.post_raw(ct, body).await;
        assert_eq!(status, expected, "{what}: {resp}");
        assert_eq!(code(&resp), Some("BAD_USER_INPUT"), "{what}: {resp}");
    }
    // A JSON body without a content type is read as JSON.
    let (status, resp) = api
        .post_raw(None, b"{\"query\": \"{ __typename }\"}".to_vec())
        .await;
    assert_eq!(status, 200, "no content type: {resp}");
}

#[tokio::test]
async fn bad_graphql_requests_are_graphql_errors() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    let cases = [
        ("empty query", json!({"query": ""})),
        ("no query", json!({})),
        ("syntax error", json!({"query": "{ countries { name "})),
        ("unknown field", json!({"query": "{ nope }"})),
        (
            "unknown operationName",
            json!({"query": "query A { __typename }", "operationName": "B"}),
        ),
        (
            "two operations, no name",
            json!({"query": "query A { __typename } query B { __typename }"}),
        ),
        (
            "wrong variable type",
            json!({"query": "query($n: Int) { organisations(limit: $n) { name } }", "variables": {"n": "ten"}}),
        ),
        (
            "missing required variable",
            json!({"query": "query($c: String!) { organisation(odsCode: $c) { name } }"}),
        ),
        ("subscription", json!({"query": "subscription { x }"})),
    ];
    for (what, body) in cases {
        let (status, resp) = api.gql(body).await;
        assert_eq!(status, 200, "{what}: {resp}");
        assert_eq!(code(&resp), Some("BAD_USER_INPUT"), "{what}: {resp}");
        every_error_has_a_code(&resp);
    }
}

#[tokio::test]
async fn huge_variables_are_413_or_a_graphql_error() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    let query = "query($c: String!) { organisation(odsCode: $c) { name } }";
    // Over the body limit.
    let (status, resp) = api
        .vars(query, json!({"c": "A".repeat(2 * 1024 * 1024)}))
        .await;
    assert_eq!(status, 413, "{resp}");
    // Under it: the code is refused, and its echo is short.
    let (status, resp) = api.vars(query, json!({"c": "A".repeat(900_000)})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&resp), Some("BAD_USER_INPUT"));
    assert!(resp.to_string().len() < 1_000, "echoes the input");
    // Many unused variables.
    let many: serde_json::Map<String, Value> =
        (0..20_000).map(|i| (format!("v{i}"), json!(i))).collect();
    let (status, resp) = api.vars("{ __typename }", Value::Object(many)).await;
    assert_eq!(status, 200, "{resp}");
    // Thousands of codes in one filter.
    let codes: Vec<String> = (0..70_000).map(|i| format!("A{i:05}")).collect();
    let (status, resp) = api
        .vars(
            "query($c: [String!]) { organisations(filter: {odsCodes: $c}) { name } }",
            json!({ "c": codes }),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(code(&resp), Some("BAD_USER_INPUT"), "{resp}");
}

/// Every string argument of the API, as (query, variable type, what a hostile value gives).
const STRING_ARGUMENTS: &[(&str, &str)] = &[
    ("organisation(odsCode: $v) { name }", "String!"),
    ("trust(odsCode: $v) { name }", "String!"),
    ("localHealthBoard(odsCode: $v) { name }", "String!"),
    ("integratedCareBoard(odsCode: $v) { name }", "String!"),
    ("nhsEnglandRegion(regionCode: $v) { name }", "String!"),
    ("paediatricDiabetesUnit(pzCode: $v) { pzCode }", "String!"),
    ("paediatricDiabetesNetwork(pnCode: $v) { name }", "String!"),
    ("openUkNetwork(code: $v) { name }", "String!"),
    ("londonBorough(gssCode: $v) { name }", "String!"),
    ("country(code: $v) { name }", "String!"),
    (
        "organisations(filter: {nameContains: $v}) { name }",
        "String",
    ),
    ("trusts(filter: {nameContains: $v}) { name }", "String"),
    (
        "organisations(filter: {odsCodes: [$v]}) { name }",
        "String!",
    ),
    ("trusts(filter: {odsCodes: [$v]}) { name }", "String!"),
];

#[tokio::test]
async fn injection_like_strings_in_every_argument_are_harmless() {
    let t = TestDb::seeded().await;
    let before = counts(&t).await;
    let api = api(&t).await;
    let long = "A".repeat(10_000);
    let mut values: Vec<&str> = INJECTIONS.to_vec();
    values.push(&long);
    for (field, ty) in STRING_ARGUMENTS {
        let query = format!("query($v: {ty}) {{ result: {field} }}");
        for v in &values {
            let (status, resp) = api.vars(&query, json!({"v": v})).await;
            assert_eq!(status, 200, "{field} with {v:?}: {resp}");
            every_error_has_a_code(&resp);
            let result = &resp["data"]["result"];
            let harmless = code(&resp) == Some("BAD_USER_INPUT")
                || result.is_null()
                || result.as_array().is_some_and(Vec::is_empty);
            assert!(harmless, "{field} with {v:?}: {resp}");
            if let Some(msg) = resp["errors"][0]["message"].as_str() {
                assert!(msg.len() < 200, "the message echoes too much: {msg}");
            }
        }
        // Inline too, escaped as a GraphQL string literal.
        for v in INJECTIONS {
            let literal = serde_json::to_string(v).expect("literal");
            let inline = format!("{{ result: {} }}", field.replace("$v", &literal));
            let (status, resp) = api.gql(json!({ "query": inline })).await;
            assert_eq!(status, 200, "{inline}: {resp}");
            every_error_has_a_code(&resp);
        }
    }
    assert_eq!(counts(&t).await, before, "the tables changed");
    let (_, resp) = api
        .gql(json!({"query": "{ organisations { odsCode } }"}))
        .await;
    assert_eq!(
        resp["data"]["organisations"].as_array().map(Vec::len),
        Some(339)
    );
}

#[tokio::test]
async fn unicode_names_are_matched_properly() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    let query = "query($v: String) { organisations(filter: {nameContains: $v}) { odsCode name } }";
    let found = async |needle: &str| -> Vec<String> {
        let (status, resp) = api.vars(query, json!({ "v": needle })).await;
        assert_eq!(status, 200, "{resp}");
        assert!(resp.get("errors").is_none(), "{needle}: {resp}");
        resp["data"]["organisations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["odsCode"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(found("Ysbyty Gwynedd").await, ["7A1AU"]);
    assert_eq!(found("ysbyty glan clwyd").await, ["7A1A1"]);
    assert_eq!(found("Children’s Hospital").await.len(), 1);
    assert!(found("Ñ").await.is_empty());
    assert!(found("🏥").await.is_empty());
    assert!(found("Ysbyty 🏥 Gwynedd").await.is_empty());
    assert!(found(&"ё".repeat(10_000)).await.is_empty());
    let (_, resp) = api
        .vars(
            "query($v: String) { trusts(filter: {nameContains: $v}) { name } }",
            json!({"v": "Ñ🏥"}),
        )
        .await;
    assert_eq!(resp["data"]["trusts"], json!([]));
}

#[tokio::test]
async fn negative_or_wrong_limits_are_bad_user_input() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    for query in [
        "{ organisations(limit: -1) { name } }",
        "{ organisations(offset: -5) { name } }",
        "{ trusts(limit: -1) { name } }",
        "{ trusts(offset: -1) { name } }",
        "{ organisations(limit: \"ten\") { name } }",
        "{ organisations(limit: 99999999999) { name } }",
        "{ organisations(limit: 1.5) { name } }",
    ] {
        let (status, resp) = api.gql(json!({ "query": query })).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(code(&resp), Some("BAD_USER_INPUT"), "{query}: {resp}");
    }
    let (_, resp) = api
        .gql(json!({"query": "{ organisations(limit: 2147483647, offset: 2147483647) { name } }"}))
        .await;
    assert_eq!(resp["data"]["organisations"], json!([]), "{resp}");
}

#[tokio::test]
async fn absurdly_nested_documents_are_refused_without_crashing() {
    let t = TestDb::seeded().await;
    let api = api(&t).await;
    let n = 10_000;
    let cases = [
        (
            "nested selection sets",
            format!("{}{}", "{ a ".repeat(n), "}".repeat(n)),
        ),
        (
            "nested lists in an argument",
            format!(
                "{{ organisations(filter: {{odsCodes: {}\"RVV01\"{}}}) {{ name }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ),
        (
            "nested input objects",
            format!(
                "{{ organisations(filter: {}{}) {{ name }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
        ),
    ];
    for (what, query) in cases {
        let (status, resp) = api.gql(json!({ "query": query })).await;
        assert_eq!(status, 200, "{what}: {resp}");
        assert!(
            matches!(code(&resp), Some("BAD_USER_INPUT" | "QUERY_TOO_COMPLEX")),
            "{what}: {resp}"
        );
    }
    // Still serving.
    let (_, resp) = api.gql(json!({"query": "{ countries { code } }"})).await;
    assert_eq!(resp["data"]["countries"].as_array().map(Vec::len), Some(5));
}
