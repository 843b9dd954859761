//! The one mock ORD of the tests (wiremock on 127.0.0.1), a client for it, and ORD-shaped
//! records built from the fixtures in `tests/fixtures/ord`.
use std::time::Duration;

use chrono::NaiveDate;
use nhs_organisations::ord::{OrdClient, OrdConfig};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// The path ORD 2-0-0 lives under, as in production, so the client's joining is exercised.
pub const PREFIX: &str = "/ORD/2-0-0";

/// A mock ORD and a client for it with short timeouts, so failures fail fast.
pub struct MockOrd {
    pub server: MockServer,
    pub client: OrdClient,
}

impl MockOrd {
    pub async fn start() -> MockOrd {
        Self::with(|_| {}).await
    }

    /// A mock whose client's settings `tune` changes first.
    pub async fn with(tune: impl FnOnce(&mut OrdConfig)) -> MockOrd {
        let server = MockServer::start().await;
        let mut config = OrdConfig {
            base_url: format!("{}{PREFIX}", server.uri()),
            max_rps: 50,
            request_timeout: Duration::from_secs(2),
            retry_budget: Duration::from_millis(2500),
            ..OrdConfig::default()
        };
        tune(&mut config);
        let client = OrdClient::new(config).expect("ORD client");
        MockOrd { server, client }
    }

    /// The root to give the binary as `ORD_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("{}{PREFIX}", self.server.uri())
    }

    /// Anything not mounted answers ORD's 404 body (wiremock's own 404 has none).
    pub async fn not_found_otherwise(&self) {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "errorCode": 404, "errorText": "Not found"
            })))
            .with_priority(200)
            .mount(&self.server)
            .await;
    }

    /// `GET sync?LastChangeDate=since` lists `codes`.
    pub async fn list(&self, since: NaiveDate, codes: &[&str]) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .and(query_param("LastChangeDate", since.to_string()))
            .respond_with(sync_list(codes))
            .mount(&self.server)
            .await;
    }

    /// `GET notifications` lists `notices` as `(code, time, reason)`, e.g.
    /// `("RVV01", "2026-11-30 00:00:00", "HUMAN ERROR")`.
    pub async fn notifications(&self, notices: &[(&str, &str, &str)]) {
        self.notifications_respond(json_response(200, &deleted_organisations(notices)))
            .await;
    }

    /// `GET notifications` answers `response`.
    pub async fn notifications_respond(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/notifications")))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// `GET sync` (any date) answers `response`.
    pub async fn sync_responds(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// `GET organisations/{code}` answers `body`.
    pub async fn record(&self, code: &str, body: Value) {
        self.respond(code, json_response(200, &body)).await;
    }

    /// `GET organisations/{code}` answers each code's fixture.
    pub async fn fixtures(&self, codes: &[&str]) {
        for code in codes {
            self.record(code, organisation(code)).await;
        }
    }

    /// `GET organisations/{code}` answers `status` with no body.
    pub async fn failing(&self, code: &str, status: u16) {
        self.respond(code, ResponseTemplate::new(status)).await;
    }

    pub async fn respond(&self, code: &str, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/{code}")))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// Paths requested so far, below the prefix.
    pub async fn requested(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| r.url.path().trim_start_matches(PREFIX).to_string())
            .collect()
    }

    /// How many requests arrived so far.
    pub async fn requests(&self) -> usize {
        self.server.received_requests().await.map_or(0, |r| r.len())
    }
}

pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json")
        .set_body_string(body.to_string())
}

/// ORD's answer to `sync`: a link per code, and the count header.
pub fn sync_list(codes: &[&str]) -> ResponseTemplate {
    let links: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({"OrgLink": format!("https://directory.spineservices.nhs.uk/ORD/2-0-0/organisations/{c}")})
        })
        .collect();
    json_response(200, &json!({ "Organisations": links }))
        .insert_header("X-Total-Count", codes.len().to_string().as_str())
}

/// ORD's answer to `notifications`: one deletion notice per `(code, time, reason)`, shaped as
/// the verbatim fixture (`OrgID`, zone-less `time`).
pub fn deleted_organisations(notices: &[(&str, &str, &str)]) -> Value {
    let entries: Vec<Value> = notices
        .iter()
        .map(|(code, time, reason)| {
            json!({
                "OrgID": code,
                "PrimaryRoleId": "RO198",
                "reason": {"code": 3, "description": reason},
                "time": time,
                "type": {"code": 1, "description": "Machine"}
            })
        })
        .collect();
    json!({ "DeletedOrganisations": entries })
}

/// A fixture file below `tests/fixtures/ord`, e.g. `errors/404.json`.
pub fn fixture(name: &str) -> Value {
    let file = format!("{}/tests/fixtures/ord/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The fixture record of one organisation, e.g. `RVV01`.
pub fn organisation(code: &str) -> Value {
    fixture(&format!("organisations/{code}.json"))
}

/// A fixture record with its code, name and change date replaced.
pub fn record_from(fixture_code: &str, code: &str, name: &str, changed: NaiveDate) -> Value {
    let mut v = organisation(fixture_code);
    let org = &mut v["Organisation"];
    org["OrgId"]["extension"] = json!(code);
    org["Name"] = json!(name);
    org["LastChangeDate"] = json!(changed.to_string());
    v
}

/// A site record: RVV01 with another code and name, operated by `parent` (primary role
/// `parent_role`).
pub fn site_record(code: &str, name: &str, parent: &str, parent_role: &str) -> Value {
    let mut v = organisation("RVV01");
    let o = &mut v["Organisation"];
    o["Name"] = json!(name);
    o["OrgId"]["extension"] = json!(code);
    let rel = &mut o["Rels"]["Rel"][0];
    rel["Target"]["OrgId"]["extension"] = json!(parent);
    rel["Target"]["PrimaryRoleId"]["id"] = json!(parent_role);
    v
}

/// A site record as `site_record`, changed (and its operator's relationship starting) on
/// `changed`.
pub fn site_changed(
    code: &str,
    name: &str,
    parent: &str,
    parent_role: &str,
    changed: NaiveDate,
) -> Value {
    let mut v = site_record(code, name, parent, parent_role);
    v["Organisation"]["LastChangeDate"] = json!(changed.to_string());
    v["Organisation"]["Rels"]["Rel"][0]["Date"][0]["Start"] = json!(changed.to_string());
    v
}

/// A trust record: RVV (RE5 → QKS) with another code.
pub fn trust_record(code: &str) -> Value {
    let mut v = organisation("RVV");
    v["Organisation"]["OrgId"]["extension"] = json!(code);
    v
}

/// A trust record (modelled on RVV) named `name`, changed on `changed`, whose Active RE5
/// points at `icb`.
pub fn trust_in(code: &str, name: &str, icb: &str, changed: NaiveDate) -> Value {
    let mut v = record_from("RVV", code, name, changed);
    for rel in v["Organisation"]["Rels"]["Rel"]
        .as_array_mut()
        .expect("rels")
    {
        if rel["id"] == "RE5" && rel["Status"] == "Active" {
            rel["Target"]["OrgId"]["extension"] = json!(icb);
        }
    }
    v
}
