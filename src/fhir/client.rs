//! HTTP client for the ODS FHIR R4 API: the `apikey` header, paging via `next`, and the
//! ORD client's HTTP core (one shared rate limiter, the same bounded retries of 429/5xx).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::model::{self, Page};
use super::FhirError;
use crate::errors::AppResult;
use crate::ord::model::normalise_code;
use crate::ord::{
    OrdClient, OrdConfig, OrdDeletion, OrdOrganisation, REL_IN_GEOGRAPHY_OF, REL_OPERATED_BY,
    REL_SUB_DIVISION_OF,
};
use crate::sync::Source;

/// Production base URL (also the default of `FHIR_BASE_URL`).
pub const DEFAULT_BASE_URL: &str =
    "https://api.service.nhs.uk/organisation-data-terminology-api/fhir";
/// Results per page asked for (the OAS suggests 1000).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Most pages followed in one search, so a server looping on `next` cannot hold a sync.
const MAX_PAGES: usize = 1000;

/// The relationships whose targets' roles the sync's rules need (operator, ICB, region).
const RELS_WITH_TARGET_ROLE: [&str; 3] =
    [REL_OPERATED_BY, REL_IN_GEOGRAPHY_OF, REL_SUB_DIVISION_OF];

/// The API key: shown as `[redacted]` by `Debug` and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Settings for [`FhirClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FhirConfig {
    /// Base URL of the API, with or without a trailing `/`.
    pub base_url: String,
    /// Sent as the `apikey` header.
    pub api_key: ApiKey,
    /// Most requests per second over all clones (5,000 per 5 minutes is about 16.7; the
    /// default is ORD's 5, well inside it).
    pub max_rps: u32,
    pub request_timeout: Duration,
    pub retry_budget: Duration,
    pub max_retries: u32,
    pub user_agent: String,
    /// `_count` of each search page.
    pub page_size: u32,
}

impl FhirConfig {
    /// Production settings with `api_key`.
    pub fn new(api_key: ApiKey) -> Self {
        let ord = OrdConfig::default();
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key,
            max_rps: ord.max_rps,
            request_timeout: ord.request_timeout,
            retry_budget: ord.retry_budget,
            max_retries: ord.max_retries,
            user_agent: ord.user_agent,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// Async client for the FHIR API. Cheap to clone; clones share the connection pool, the rate
/// limiter and the cache of target roles.
#[derive(Clone, Debug)]
pub struct FhirClient {
    http: OrdClient,
    page_size: u32,
    /// Primary role of each affiliation target read so far (`None`: no such record).
    roles: Arc<Mutex<HashMap<String, Option<String>>>>,
}

impl FhirClient {
    /// Builds a client; fails on a bad base URL, an empty or non-header API key, or the
    /// limits [`OrdClient::new`] refuses.
    pub fn new(config: FhirConfig) -> Result<Self, FhirError> {
        if config.api_key.expose().trim().is_empty() {
            return Err(FhirError::Config("the API key is empty".to_owned()));
        }
        let mut key = HeaderValue::from_str(config.api_key.expose().trim())
            .map_err(|_| FhirError::Config("the API key is not a valid header value".to_owned()))?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/fhir+json"));
        headers.insert(HeaderName::from_static("apikey"), key);
        let http = OrdClient::with_headers(
            OrdConfig {
                base_url: config.base_url,
                max_rps: config.max_rps,
                request_timeout: config.request_timeout,
                retry_budget: config.retry_budget,
                max_retries: config.max_retries,
                user_agent: config.user_agent,
            },
            headers,
        )?;
        Ok(Self {
            http,
            page_size: config.page_size.max(1),
            roles: Arc::default(),
        })
    }

    /// Most requests per second.
    pub fn max_rps(&self) -> u32 {
        self.http.config().max_rps
    }

    /// ODS codes of the organisations changed on or after `since`: `lastChangeDate=gt` the day
    /// before (`gt` is strictly after), every page followed.
    pub async fn changed_since(&self, since: NaiveDate) -> Result<Vec<String>, FhirError> {
        let day_before = since.pred_opt().unwrap_or(since);
        let url_path = format!(
            "Organization?lastChangeDate=gt{}&_count={}",
            day_before.format("%Y-%m-%d"),
            self.page_size
        );
        let mut seen = std::collections::HashSet::new();
        let mut codes = Vec::new();
        for resource in self.search(&url_path).await? {
            if let Some(code) = model::resource_code(&resource) {
                if seen.insert(code.clone()) {
                    codes.push(code);
                }
            }
        }
        tracing::debug!(
            url_path,
            count = codes.len(),
            "FHIR search listed changed codes"
        );
        Ok(codes)
    }

    /// The record of `code` with its relationships (from `OrganizationAffiliation`), or
    /// `None` on 404 or for a code that cannot be an ODS code.
    pub async fn organisation(&self, code: &str) -> Result<Option<OrdOrganisation>, FhirError> {
        let Some(code) = normalise_code(code) else {
            return Ok(None);
        };
        let Some(resource) = self.read(&format!("Organization/{code}")).await? else {
            return Ok(None);
        };
        let url_path = format!("Organization/{code}");
        let mut org =
            model::organisation(&resource).map_err(|detail| FhirError::InvalidResponse {
                url_path: url_path.clone(),
                detail,
            })?;
        let affiliations = self
            .search(&format!(
                "OrganizationAffiliation?primary-organization={code}&_count={}",
                self.page_size
            ))
            .await?;
        for resource in &affiliations {
            let Some(a) = model::affiliation(resource) else {
                continue;
            };
            let role = if RELS_WITH_TARGET_ROLE.contains(&a.id.as_str()) {
                self.primary_role_of(&a.target_code).await?
            } else {
                None
            };
            org.rels.push(model::rel(a, role));
        }
        Ok(Some(org))
    }

    /// Whole-record deletions (`List/Organization-deletion`).
    pub async fn deletions(&self) -> Result<Vec<OrdDeletion>, FhirError> {
        let url_path = "List/Organization-deletion";
        let list = self
            .read(url_path)
            .await?
            .ok_or_else(|| FhirError::Unavailable {
                url_path: url_path.to_owned(),
                status: Some(404),
                attempts: 1,
                detail: "the deletion List is missing (HTTP 404)".to_owned(),
            })?;
        model::deletions(&list).map_err(|detail| FhirError::InvalidResponse {
            url_path: url_path.to_owned(),
            detail,
        })
    }

    /// The primary role of `code`, read once per client.
    async fn primary_role_of(&self, code: &str) -> Result<Option<String>, FhirError> {
        if let Some(role) = self.roles.lock().ok().and_then(|m| m.get(code).cloned()) {
            return Ok(role);
        }
        let url_path = format!("Organization/{code}");
        let role = match self.read(&url_path).await? {
            Some(resource) => {
                model::organisation(&resource)
                    .map_err(|detail| FhirError::InvalidResponse { url_path, detail })?
                    .primary_role
            }
            None => None,
        };
        if let Ok(mut m) = self.roles.lock() {
            m.insert(code.to_owned(), role.clone());
        }
        Ok(role)
    }

    /// GET of one resource; `None` on 404.
    async fn read(&self, url_path: &str) -> Result<Option<Value>, FhirError> {
        let url = self.endpoint(url_path)?;
        match self.get_json(url, url_path).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (_, v) => Ok(Some(v)),
        }
    }

    /// Every matching resource of a search, following `next` links exactly as given (only
    /// to the configured host: the key goes nowhere else).
    async fn search(&self, url_path: &str) -> Result<Vec<Value>, FhirError> {
        let mut url = self.endpoint(url_path)?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let label = page_label(&url, self.http.base());
            let (status, body) = self.get_json(url, &label).await?;
            if status == StatusCode::NOT_FOUND {
                // A search never 404s when the API is there: a wrong base URL, most likely.
                return Err(FhirError::Unavailable {
                    url_path: label,
                    status: Some(status.as_u16()),
                    attempts: 1,
                    detail: "HTTP 404 for a search (is FHIR_BASE_URL right?)".to_owned(),
                });
            }
            let Page { resources, next } =
                model::page(&body).map_err(|detail| FhirError::InvalidResponse {
                    url_path: label.clone(),
                    detail,
                })?;
            out.extend(resources);
            let Some(next) = next else {
                return Ok(out);
            };
            url = Url::parse(&next).map_err(|e| FhirError::InvalidResponse {
                url_path: label.clone(),
                detail: format!("next link is not a URL: {e}"),
            })?;
            let base = self.http.base();
            if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
                return Err(FhirError::InvalidResponse {
                    url_path: label,
                    detail: "next link leaves the configured base URL; not followed".to_owned(),
                });
            }
        }
        Err(FhirError::InvalidResponse {
            url_path: url_path.to_owned(),
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// A GET whose 200 (or 404) body is JSON; any other final status is an error.
    async fn get_json(&self, url: Url, url_path: &str) -> Result<(StatusCode, Value), FhirError> {
        let (status, body, attempts) = self.http.get_raw(url, url_path).await?;
        match status {
            StatusCode::OK => serde_json::from_slice(&body)
                .map(|v| (status, v))
                .map_err(|e| FhirError::InvalidResponse {
                    url_path: url_path.to_owned(),
                    detail: format!("not JSON: {e}"),
                }),
            StatusCode::NOT_FOUND => Ok((status, Value::Null)),
            _ => Err(FhirError::Unavailable {
                url_path: url_path.to_owned(),
                status: Some(status.as_u16()),
                attempts,
                detail: format!(
                    "unexpected HTTP {status}{} (not retried)",
                    outcome_text(&body)
                ),
            }),
        }
    }

    fn endpoint(&self, relative: &str) -> Result<Url, FhirError> {
        self.http
            .base()
            .join(relative)
            .map_err(|e| FhirError::Config(format!("cannot build URL for {relative}: {e}")))
    }
}

/// The URL below the base, for messages.
fn page_label(url: &Url, base: &Url) -> String {
    url.as_str()
        .strip_prefix(base.as_str())
        .unwrap_or(url.path())
        .to_owned()
}

/// `": <diagnostics>"` of an `OperationOutcome`, short; else empty.
fn outcome_text(body: &[u8]) -> String {
    let text = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v["issue"][0]["diagnostics"].as_str().map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
    });
    text.map(|t| format!(": {t}")).unwrap_or_default()
}

impl Source for FhirClient {
    fn name(&self) -> &'static str {
        "fhir"
    }

    fn max_rps(&self) -> u32 {
        FhirClient::max_rps(self)
    }

    fn changed_since(&self, since: NaiveDate) -> BoxFuture<'_, AppResult<Vec<String>>> {
        Box::pin(async move { Ok(FhirClient::changed_since(self, since).await?) })
    }

    fn organisation<'a>(
        &'a self,
        code: &'a str,
    ) -> BoxFuture<'a, AppResult<Option<OrdOrganisation>>> {
        Box::pin(async move { Ok(FhirClient::organisation(self, code).await?) })
    }

    fn deletions(&self) -> BoxFuture<'_, AppResult<Vec<OrdDeletion>>> {
        Box::pin(async move { Ok(FhirClient::deletions(self).await?) })
    }
}
