//! HTTP routes: GraphQL over POST and GET, GraphiQL, health, and what malformed requests get.
use crate::common;

use common::{serve, TestDb};
use serde_json::{json, Value};

#[tokio::test]
async fn post_get_graphiql_and_health() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let client = reqwest::Client::new();

    let resp = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "{ organisation(odsCode: \"RVV01\") { name } }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["data"]["organisation"]["name"],
        "WILLIAM HARVEY HOSPITAL (ASHFORD)"
    );

    let resp = client
        .get(format!("{base}/graphql"))
        .query(&[("query", "{ countries { code } }")])
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["countries"].as_array().map(Vec::len), Some(5));

    let resp = client
        .get(format!("{base}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("graphiql");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .expect("text")
        .to_lowercase()
        .contains("graphiql"));

    let resp = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_issue_example_tree_comes_back_whole() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let q = "{ nhsEnglandRegions { name integratedCareBoards { name organisations { name paediatricDiabetesUnit { pzCode } } } } }";
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": q}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    let regions = body["data"]["nhsEnglandRegions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(regions.len(), 7);
    let icbs: usize = regions
        .iter()
        .map(|r| r["integratedCareBoards"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(icbs, 42);
    let sites: usize = regions
        .iter()
        .flat_map(|r| {
            r["integratedCareBoards"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|i| i["organisations"].as_array().map_or(0, Vec::len))
        .sum();
    // Every English site with an ICB: all sites less Wales, Jersey and RCPCH.
    assert!(sites > 250, "only {sites} sites in the tree");
}

#[tokio::test]
async fn malformed_requests_get_4xx_never_5xx() {
    let t = TestDb::seeded().await;
    let base = serve(&t).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/graphql");

    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);

    let big = format!(
        "{{\"query\": \"{{ countries {{ code }} }}\", \"variables\": {{\"x\": \"{}\"}}}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);

    let r = client
        .get(&url)
        .query(&[("query", "mutation { whoami }")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 405, "a mutation over GET must not run");

    let r = client.get(&url).send().await.expect("send");
    assert_eq!(r.status(), 400);

    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error(), "{}", r.status());
}
