//! A mock of the ODS FHIR R4 API (wiremock on 127.0.0.1) serving the fixtures in
//! `tests/fixtures/fhir`, with their INT links rewritten to the mock, as APIM does.
use std::time::Duration;

use chrono::NaiveDate;
use nhs_organisations::fhir::{ApiKey, FhirClient, FhirConfig};
use serde_json::Value;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// The base path, as in production, so the client's joining is exercised.
pub const PREFIX: &str = "/organisation-data-terminology-api/fhir";
/// The key the mock accepts; every mounted answer requires it.
pub const KEY: &str = "test-key-0123";
/// The base the fixtures were captured from.
const INT_BASE: &str = "https://int.api.service.nhs.uk/organisation-data-terminology-api/fhir";

pub struct MockFhir {
    pub server: MockServer,
    pub client: FhirClient,
}

impl MockFhir {
    pub async fn start() -> MockFhir {
        Self::with(|_| {}).await
    }

    /// A mock whose client's settings `tune` changes first.
    pub async fn with(tune: impl FnOnce(&mut FhirConfig)) -> MockFhir {
        let server = MockServer::start().await;
        let mut config = FhirConfig {
            base_url: format!("{}{PREFIX}", server.uri()),
            max_rps: 50,
            request_timeout: Duration::from_secs(2),
            retry_budget: Duration::from_millis(2500),
            ..FhirConfig::new(ApiKey::new(KEY))
        };
        tune(&mut config);
        let client = FhirClient::new(config).expect("FHIR client");
        MockFhir { server, client }
    }

    pub fn base(&self) -> String {
        format!("{}{PREFIX}", self.server.uri())
    }

    /// A fixture with its INT links pointing at this mock.
    pub fn fixture(&self, name: &str) -> Value {
        let file = format!("{}/tests/fixtures/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = text.replace(INT_BASE, &self.base());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// `GET {relative}` (a path below the base) answers `response`, with the key only.
    pub async fn respond(&self, relative: &str, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/{relative}")))
            .and(header("apikey", KEY))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// `GET Organization/{code}` answers `body`.
    pub async fn organisation(&self, code: &str, body: &Value) {
        self.respond(&format!("Organization/{code}"), fhir_json(200, body))
            .await;
    }

    /// `GET OrganizationAffiliation?primary-organization={code}` answers `body`.
    pub async fn affiliations(&self, code: &str, body: &Value) {
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/OrganizationAffiliation")))
            .and(query_param("primary-organization", code))
            .and(header("apikey", KEY))
            .respond_with(fhir_json(200, body))
            .mount(&self.server)
            .await;
    }

    /// The composed records and affiliations of `codes`, as the fixtures have them.
    pub async fn fixtures(&self, codes: &[&str]) {
        for code in codes {
            self.organisation(code, &self.fixture(&format!("Organization/{code}.json")))
                .await;
            let a = self.fixture(&format!(
                "OrganizationAffiliation/primary-organization-{code}.json"
            ));
            self.affiliations(code, &a).await;
        }
    }

    /// `Organization?lastChangeDate=gt{since - 1}` answers the two composed pages, their links
    /// rewritten to that date.
    pub async fn changed_pages(&self, since: NaiveDate) {
        let gt = format!("gt{}", since.pred_opt().expect("date"));
        let mut pages = Vec::new();
        for name in ["page1", "page2"] {
            let text = self
                .fixture(&format!("Organization-lastChangeDate/{name}.json"))
                .to_string()
                .replace("gt2013-05-07", &gt);
            pages.push(serde_json::from_str::<Value>(&text).expect("json"));
        }
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/Organization")))
            .and(query_param("lastChangeDate", gt.as_str()))
            .and(query_param_is_missing("_offset"))
            .and(header("apikey", KEY))
            .respond_with(fhir_json(200, &pages[0]))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/Organization")))
            .and(query_param("lastChangeDate", gt.as_str()))
            .and(query_param("_offset", "2"))
            .and(header("apikey", KEY))
            .respond_with(fhir_json(200, &pages[1]))
            .mount(&self.server)
            .await;
    }

    /// `GET List/Organization-deletion` answers `body`.
    pub async fn deletions(&self, body: &Value) {
        self.respond("List/Organization-deletion", fhir_json(200, body))
            .await;
    }

    /// Requests so far: path and query below the base, and whether the key came with it.
    pub async fn requested(&self) -> Vec<(String, bool)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let rel = r.url.path().trim_start_matches(PREFIX).to_string();
                let rel = match r.url.query() {
                    Some(q) => format!("{rel}?{q}"),
                    None => rel,
                };
                let keyed = r.headers.get("apikey").and_then(|v| v.to_str().ok()) == Some(KEY);
                (rel, keyed)
            })
            .collect()
    }
}

pub fn fhir_json(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/fhir+json")
        .set_body_string(body.to_string())
}
