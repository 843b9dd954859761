//! `openapi.json` must be what `nhs-organisations openapi` prints, and the server must serve
//! the same document at `/v1/openapi.json`.
use crate::common;

#[test]
fn committed_openapi_document_is_current() {
    let generated = nhs_organisations::rest::openapi::json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_SCHEMA").is_ok() {
            std::fs::write(path, &generated).expect("write openapi.json");
            return;
        }
        panic!("openapi.json is stale: run `cargo run -- openapi > openapi.json` (or UPDATE_SCHEMA=1 cargo test --test it openapi_file)");
    }
}

#[test]
fn the_document_is_openapi_3_1_and_describes_every_route() {
    let doc: serde_json::Value =
        serde_json::from_str(&nhs_organisations::rest::openapi::json()).expect("JSON");
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 24);
    for (path, item) in paths {
        let get = &item["get"];
        assert!(get["description"].is_string(), "{path}");
        assert!(get["responses"]["200"].is_object(), "{path}");
        let params = get["parameters"].as_array().expect("parameters");
        assert!(
            params.iter().any(|p| p["name"] == "as_of"),
            "{path} takes as_of"
        );
    }
    // Every shape and field is documented.
    let mut undocumented = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if schema["description"].is_null() && schema["oneOf"].is_null() {
            undocumented.push(name.clone());
        }
        for (field, p) in schema["properties"].as_object().into_iter().flatten() {
            let described = p["description"].is_string()
                || p["oneOf"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|x| x["description"].is_string()));
            if !described {
                undocumented.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}

#[tokio::test]
async fn the_server_serves_the_document() {
    let db = common::TestDb::seeded().await;
    let base = common::serve(&db).await;
    let body = reqwest::get(format!("{base}/v1/openapi.json"))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(body, nhs_organisations::rest::openapi::json());
}
