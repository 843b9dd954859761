//! HTTP hardening over real sockets: body limits, timeouts, per-client rate limits, trusted
//! proxy headers, CORS and request ids.
use crate::common;

use std::time::{Duration, Instant};

use common::{raw_http, raw_status, serve_with, settings, TestDb};
use nhs_organisations::config::ServerSettings;
use serde_json::{json, Value};

const QUERY: &str = "{ countries { code } }";

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Response {
    client
        .post(format!("{base}/graphql"))
        .json(body)
        .send()
        .await
        .expect("request")
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test]
async fn a_body_over_the_default_limit_is_413() {
    let t = TestDb::seeded().await;
    let defaults = ServerSettings::default_from_env();
    assert_eq!(defaults.max_body_bytes, 1024 * 1024, "default is 1 MiB");
    let base = serve_with(&t, settings()).await;
    let client = reqwest::Client::new();
    // A valid request padded with spaces: just under the limit passes, just over does not.
    let pad = |total: usize| {
        let head = format!("{{\"query\": \"{QUERY}\"");
        format!("{head}{}}}", " ".repeat(total - head.len() - 1))
    };
    let under = pad(1024 * 1024);
    assert_eq!(under.len(), 1024 * 1024);
    let resp = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(under)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let over = pad(1024 * 1024 + 1);
    let resp = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(over)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(code(&body), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.max_body_bytes = 1_000;
    let base = serve_with(&t, s).await;
    let chunk = format!("{:x}\r\n{}\r\n", 600, " ".repeat(600));
    let head = "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let resp = raw_http(
        &base,
        &[
            (head.as_bytes(), Duration::ZERO),
            (chunk.as_bytes(), Duration::from_millis(50)),
            (chunk.as_bytes(), Duration::from_millis(50)),
            (b"0\r\n\r\n", Duration::ZERO),
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_408_after_the_timeout() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.request_timeout_secs = 2;
    let base = serve_with(&t, s).await;
    let head = "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":";
    let started = Instant::now();
    let resp = raw_http(
        &base,
        &[(head.as_bytes(), Duration::ZERO)],
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(raw_status(&resp), Some(408), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn clients_over_the_rate_get_429_with_retry_after() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.rate_limit_rps = 1;
    s.rate_limit_burst = 3;
    let base = serve_with(&t, s).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let resp = post(&client, &base, &json!({"query": QUERY})).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            limited = Some(resp);
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    let resp = limited.expect("a 429");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(code(&body), Some("RATE_LIMITED"));
    // Health checks are not limited; the client may come back after Retry-After.
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let resp = post(&client, &base, &json!({"query": QUERY})).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_zero_rate_disables_the_limit() {
    let t = TestDb::seeded().await;
    let base = serve_with(&t, settings()).await;
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let resp = post(&client, &base, &json!({"query": "{ __typename }"})).await;
        assert_eq!(resp.status(), 200);
    }
}

async fn statuses_for_forwarded(base: &str, addrs: &[&str]) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for a in addrs {
        let resp = client
            .post(format!("{base}/graphql"))
            .header("x-forwarded-for", format!("203.0.113.250, {a}"))
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .expect("request");
        out.push(resp.status().as_u16());
    }
    out
}

#[tokio::test]
async fn x_forwarded_for_counts_only_when_proxy_headers_are_trusted() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.rate_limit_rps = 1;
    s.rate_limit_burst = 1;
    let untrusted = serve_with(&t, s.clone()).await;
    // Without trust, every request is the loopback peer, whatever the header says.
    assert_eq!(
        statuses_for_forwarded(&untrusted, &["192.0.2.1", "192.0.2.2"]).await,
        [200, 429]
    );
    s.trust_proxy_headers = true;
    let trusted = serve_with(&t, s).await;
    // With trust, the proxy's (last) entry is the client; the first entry is ignored.
    assert_eq!(
        statuses_for_forwarded(&trusted, &["192.0.2.1", "192.0.2.2", "192.0.2.1"]).await,
        [200, 200, 429]
    );
}

#[tokio::test]
async fn cors_preflight_allows_listed_origins_only() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.cors_origins = "https://allowed.example, https://other.example"
        .parse()
        .expect("origins");
    let base = serve_with(&t, s).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let ok = preflight("https://allowed.example")
        .await
        .expect("preflight");
    assert!(ok.status().is_success());
    let h = ok.headers();
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://allowed.example")
    );
    let allowed_headers = h
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(h
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("POST")));

    let denied = preflight("https://evil.example").await.expect("preflight");
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // An actual request from an allowed origin can read the request id.
    let resp = client
        .post(format!("{base}/graphql"))
        .header("origin", "https://other.example")
        .json(&json!({"query": QUERY}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://other.example")
    );
    assert!(resp
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("x-request-id")));
}

#[tokio::test]
async fn no_cors_origins_means_no_cross_origin_access() {
    let t = TestDb::seeded().await;
    let base = serve_with(&t, settings()).await;
    let resp = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
        .header("origin", "https://allowed.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

async fn request_id_for(base: &str, sent: Option<&str>) -> String {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": QUERY}));
    if let Some(id) = sent {
        req = req.header("x-request-id", id);
    }
    let resp = req.send().await.expect("request");
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on every response")
        .to_string()
}

#[tokio::test]
async fn every_response_has_a_request_id_and_outside_ids_need_a_trusted_proxy() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    let base = serve_with(&t, s.clone()).await;
    let a = request_id_for(&base, None).await;
    let b = request_id_for(&base, None).await;
    assert_eq!(a.len(), 36, "a UUID: {a}");
    assert_ne!(a, b);
    assert_ne!(
        request_id_for(&base, Some("from-client")).await,
        "from-client"
    );

    s.trust_proxy_headers = true;
    let behind_proxy = serve_with(&t, s).await;
    assert_eq!(
        request_id_for(&behind_proxy, Some("nginx-42.abc")).await,
        "nginx-42.abc"
    );
    let odd = "x".repeat(65);
    assert_ne!(request_id_for(&behind_proxy, Some(&odd)).await, odd);
    assert_ne!(
        request_id_for(&behind_proxy, Some("a b<script>")).await,
        "a b<script>"
    );
}

#[tokio::test]
async fn graphiql_for_browsers_and_queries_over_get() {
    let t = TestDb::seeded().await;
    let base = serve_with(&t, settings()).await;
    let client = reqwest::Client::new();
    let html = client
        .get(format!("{base}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("graphiql");
    assert_eq!(html.status(), 200);
    assert!(html.text().await.unwrap_or_default().contains("graphiql"));
    let resp = client
        .get(format!("{base}/graphql"))
        .query(&[("query", QUERY)])
        .send()
        .await
        .expect("get query");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["countries"].as_array().map(Vec::len), Some(5));
}
