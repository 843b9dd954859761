//! HTTP client for ORD: shared rate limiting, bounded retries, typed errors.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use super::model::{
    normalise_code, parse_notifications_at, parse_organisation_at, parse_sync_at, OrdDeletion,
    OrdOrganisation,
};
use super::OrdError;

/// Production base URL of ORD 2-0-0 (also the default of `ORD_BASE_URL`).
pub const DEFAULT_BASE_URL: &str = "https://directory.spineservices.nhs.uk/ORD/2-0-0";

/// Default ceiling on requests per second (the one ODS asks for; also `ORD_MAX_RPS`'s).
pub const DEFAULT_MAX_RPS: u32 = 5;
/// Default timeout of one attempt (also `ORD_TIMEOUT_SECS`'s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default retry budget of one call (also `ORD_RETRY_BUDGET_SECS`'s).
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// User-Agent sent by default, so ODS can see who is calling.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "nhs-organisations/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/rcpch/nhs-organisations)"
);

/// First retry delay; doubles on each retry up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A retry is only worth sending if at least this much of the budget is left for it.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(100);
/// Requests are spaced 2% further apart than `1/max_rps` (about 20 ms of slack per
/// second), so scheduling and network jitter between our clock and the server's cannot
/// push a server-side one-second window over `max_rps`.
const RATE_SAFETY_MARGIN: f64 = 1.02;
/// Longest upstream error text quoted in an error message.
const MAX_DETAIL_CHARS: usize = 200;

/// Settings for [`OrdClient`]. `Default` gives the production values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdConfig {
    /// Base URL of the API, with or without a trailing `/`
    /// (default [`DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// Most requests per second, summed over all clones of a client (default 5, the
    /// ceiling ODS asks for). Must be at least 1.
    pub max_rps: u32,
    /// Timeout of one HTTP attempt, connect to end of body (default 10 s).
    pub request_timeout: Duration,
    /// Time after the first attempt of a call beyond which no retry is started; a code
    /// still failing after about this long fails (default 60 s).
    pub retry_budget: Duration,
    /// Most retries after the first attempt (default 5, must be at least 3).
    pub max_retries: u32,
    /// `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub user_agent: String,
}

impl Default for OrdConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            max_rps: DEFAULT_MAX_RPS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_budget: DEFAULT_RETRY_BUDGET,
            max_retries: 5,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

/// Async client for ORD. Cheap to clone; all clones share one HTTP connection pool and
/// one rate limiter, so the `max_rps` ceiling holds across every task using them.
#[derive(Clone, Debug)]
pub struct OrdClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Always ends with `/`, so `Url::join` appends rather than replaces the last segment.
    base: Url,
    limiter: DefaultDirectRateLimiter,
    config: OrdConfig,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("base", &self.base.as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A final (non-retried) HTTP answer.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    /// Attempts it took, first try included.
    attempts: u32,
}

/// Why an attempt failed in a way worth retrying.
struct Transient {
    status: Option<u16>,
    detail: String,
    /// Server-requested wait (`Retry-After`).
    retry_after: Option<Duration>,
}

impl OrdClient {
    /// Builds a client. Fails with [`OrdError::Config`] if the base URL is not an absolute
    /// http(s) URL, `max_rps` is 0, `request_timeout` is zero, `max_retries` is below 3, or
    /// the user agent is not a valid header value.
    pub fn new(config: OrdConfig) -> Result<Self, OrdError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Self::with_headers(config, headers)
    }

    /// A client sending `headers` on every request: the HTTP core (rate limit, retries) of
    /// another ODS source, which brings its own `Accept` and credentials.
    pub(crate) fn with_headers(config: OrdConfig, headers: HeaderMap) -> Result<Self, OrdError> {
        let base = parse_base_url(&config.base_url)?;
        let max_rps = NonZeroU32::new(config.max_rps)
            .ok_or_else(|| OrdError::Config("max_rps must be at least 1".to_owned()))?;
        if config.request_timeout.is_zero() {
            return Err(OrdError::Config(
                "request_timeout must be greater than zero".to_owned(),
            ));
        }
        if config.max_retries < 3 {
            return Err(OrdError::Config(format!(
                "max_retries must be at least 3 (got {})",
                config.max_retries
            )));
        }
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            OrdError::Config(format!(
                "user_agent {:?} is not a valid HTTP header value",
                config.user_agent
            ))
        })?;

        // Burst 1: one request per period, evenly spaced. A larger burst would let a full
        // bucket plus a second's refill (~2 × max_rps) land inside one second.
        let period = Duration::from_secs_f64(RATE_SAFETY_MARGIN / f64::from(max_rps.get()));
        let quota = Quota::with_period(period)
            .ok_or_else(|| OrdError::Config("rate limit period is zero".to_owned()))?;
        let limiter = RateLimiter::direct(quota);

        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(user_agent)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| OrdError::Config(format!("cannot build HTTP client: {e}")))?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                limiter,
                config,
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &OrdConfig {
        &self.inner.config
    }

    /// ODS codes of the organisations changed on or after `since`
    /// (`GET sync?LastChangeDate=YYYY-MM-DD`): upper case, de-duplicated, in response order.
    ///
    /// ORD only serves the last 185 days; older dates give [`OrdError::DateTooOld`].
    pub async fn changed_since(&self, since: NaiveDate) -> Result<Vec<String>, OrdError> {
        let date = since.format("%Y-%m-%d").to_string();
        let url_path = format!("sync?LastChangeDate={date}");
        let mut url = self.endpoint("sync", &url_path)?;
        url.query_pairs_mut().append_pair("LastChangeDate", &date);

        let reply = self.get(url, &url_path).await?;
        match reply.status {
            StatusCode::OK => {
                let codes = parse_sync_at(&reply.body, &url_path)?;
                tracing::debug!(
                    url_path,
                    count = codes.len(),
                    "ORD sync listed changed codes"
                );
                Ok(codes)
            }
            StatusCode::NOT_ACCEPTABLE => Err(OrdError::DateTooOld),
            _ => Err(unexpected_status(&url_path, &reply)),
        }
    }

    /// The whole-record deletions ORD announces for the last 185 days (`GET notifications`), in
    /// response order. Any status but 200 is an error (the endpoint itself never 404s).
    pub async fn deletions(&self) -> Result<Vec<OrdDeletion>, OrdError> {
        let url_path = "notifications";
        let url = self.endpoint(url_path, url_path)?;
        let reply = self.get(url, url_path).await?;
        match reply.status {
            StatusCode::OK => {
                let deletions = parse_notifications_at(&reply.body, url_path)?;
                tracing::debug!(
                    url_path,
                    count = deletions.len(),
                    "ORD listed deleted records"
                );
                Ok(deletions)
            }
            _ => Err(unexpected_status(url_path, &reply)),
        }
    }

    /// The full record of `code` (`GET organisations/{code}`), or `Ok(None)` if ORD answers
    /// 404. A code that cannot be an ODS code (empty, not alphanumeric) is also `Ok(None)`,
    /// without a request.
    pub async fn organisation(&self, code: &str) -> Result<Option<OrdOrganisation>, OrdError> {
        let Some(code) = normalise_code(code) else {
            tracing::debug!(code, "not a plausible ODS code; not requested");
            return Ok(None);
        };
        let url_path = format!("organisations/{code}");
        let url = self.endpoint(&url_path, &url_path)?;

        let reply = self.get(url, &url_path).await?;
        match reply.status {
            StatusCode::OK => {
                let org = parse_organisation_at(&reply.body, &url_path)?;
                if org.code != code {
                    tracing::warn!(url_path, returned = %org.code, "ORD returned a record for a different code");
                }
                Ok(Some(org))
            }
            StatusCode::NOT_FOUND => {
                tracing::debug!(url_path, "ORD has no such organisation (404)");
                Ok(None)
            }
            _ => Err(unexpected_status(&url_path, &reply)),
        }
    }

    /// The base URL, ending with `/`.
    pub(crate) fn base(&self) -> &Url {
        &self.inner.base
    }

    /// A rate-limited, retried GET of `url` (429/5xx/transport errors retried): the final
    /// status, body and attempts, for a source that reads its own format.
    pub(crate) async fn get_raw(
        &self,
        url: Url,
        url_path: &str,
    ) -> Result<(StatusCode, Vec<u8>, u32), OrdError> {
        let reply = self.get(url, url_path).await?;
        Ok((reply.status, reply.body, reply.attempts))
    }

    fn endpoint(&self, relative: &str, url_path: &str) -> Result<Url, OrdError> {
        self.inner
            .base
            .join(relative)
            .map_err(|e| OrdError::Config(format!("cannot build URL for {url_path}: {e}")))
    }

    /// GET with rate limiting and retries. Returns the first answer that is not worth
    /// retrying (any status except 429/5xx); transport errors, timeouts, 429 and 5xx are
    /// retried with exponential backoff until `max_retries` or `retry_budget` runs out.
    async fn get(&self, url: Url, url_path: &str) -> Result<Reply, OrdError> {
        let config = &self.inner.config;
        let mut attempts: u32 = 0;
        let mut backoff = INITIAL_BACKOFF;
        let mut started: Option<Instant> = None;
        let mut last: Option<Transient> = None;

        loop {
            // Every attempt, retries included, takes a slot from the shared limiter.
            self.inner.limiter.until_ready().await;
            let now = Instant::now();
            let first = *started.get_or_insert(now);

            let timeout = match &last {
                None => config.request_timeout,
                Some(_) => {
                    // Queueing for the limiter may have used up the rest of the budget.
                    let remaining = config.retry_budget.saturating_sub(now - first);
                    if remaining < MIN_ATTEMPT_TIME {
                        return Err(give_up(url_path, attempts, last, "retry budget exhausted"));
                    }
                    config.request_timeout.min(remaining)
                }
            };

            attempts += 1;
            tracing::debug!(url_path, attempt = attempts, "ORD request");
            let failure = match self.attempt(&url, timeout).await {
                Ok(Ok(mut reply)) => {
                    reply.attempts = attempts;
                    tracing::debug!(
                        url_path,
                        attempt = attempts,
                        status = reply.status.as_u16(),
                        "ORD response"
                    );
                    return Ok(reply);
                }
                Ok(Err(transient)) => transient,
                Err(fatal) => {
                    return Err(OrdError::Unavailable {
                        url_path: url_path.to_owned(),
                        status: None,
                        attempts,
                        detail: fatal,
                    })
                }
            };

            if attempts > config.max_retries {
                return Err(give_up(
                    url_path,
                    attempts,
                    Some(failure),
                    "retries exhausted",
                ));
            }
            let delay = failure.retry_after.unwrap_or(backoff);
            let remaining = config.retry_budget.saturating_sub(first.elapsed());
            if delay.saturating_add(MIN_ATTEMPT_TIME) > remaining {
                // Covers a Retry-After longer than the budget too: fail now, not later.
                return Err(give_up(
                    url_path,
                    attempts,
                    Some(failure),
                    "retry budget exhausted",
                ));
            }
            tracing::warn!(
                url_path,
                attempt = attempts,
                status = failure.status,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                detail = %failure.detail,
                "ORD request failed; retrying"
            );
            tokio::time::sleep(delay).await;
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            last = Some(failure);
        }
    }

    /// One HTTP attempt. `Ok(Ok)` = final answer, `Ok(Err)` = retryable failure,
    /// `Err` = failure that retrying cannot fix.
    async fn attempt(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<Result<Reply, Transient>, String> {
        let response = match self
            .inner
            .http
            .get(url.clone())
            .timeout(timeout)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return classify_transport_error(&e, timeout),
        };

        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            // The body is part of the attempt: a reset or timeout mid-body is transient.
            Err(e) => return classify_transport_error(&e, timeout),
        };

        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Ok(Err(Transient {
                status: Some(status.as_u16()),
                detail: format!("HTTP {status}{}", upstream_text(&body)),
                retry_after: if status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::SERVICE_UNAVAILABLE
                {
                    retry_after
                } else {
                    None
                },
            }));
        }
        Ok(Ok(Reply {
            status,
            body,
            attempts: 1,
        }))
    }
}

fn classify_transport_error(
    e: &reqwest::Error,
    timeout: Duration,
) -> Result<Result<Reply, Transient>, String> {
    let detail = if e.is_timeout() {
        format!("timed out after {} ms", timeout.as_millis())
    } else {
        error_chain(e)
    };
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode() {
        Ok(Err(Transient {
            status: None,
            detail,
            retry_after: None,
        }))
    } else {
        Err(detail)
    }
}

/// `Unavailable` from the last retryable failure.
fn give_up(url_path: &str, attempts: u32, last: Option<Transient>, why: &str) -> OrdError {
    let (status, detail) = match last {
        Some(t) => (t.status, format!("{} ({why})", t.detail)),
        None => (None, why.to_owned()),
    };
    OrdError::Unavailable {
        url_path: url_path.to_owned(),
        status,
        attempts,
        detail,
    }
}

/// A final status the caller does not handle (400, 401, 403, 3xx left over, ...).
fn unexpected_status(url_path: &str, reply: &Reply) -> OrdError {
    OrdError::Unavailable {
        url_path: url_path.to_owned(),
        status: Some(reply.status.as_u16()),
        attempts: reply.attempts,
        detail: format!(
            "unexpected HTTP {}{} (not retried)",
            reply.status,
            upstream_text(&reply.body)
        ),
    }
}

/// `": <errorText>"` from an ORD error body, else a short printable excerpt, else empty.
fn upstream_text(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["errorText", "ErrorText"]
                .iter()
                .find_map(|k| v.get(k).and_then(|t| t.as_str()).map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        String::new()
    } else {
        format!(": {cleaned}")
    }
}

/// reqwest's own message is terse ("error sending request"); the cause is in the sources.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After`: delay in seconds, or an HTTP date (a past date means "now").
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is valid RFC 2822.
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A base URL as the client uses it: absolute http(s), no query or fragment, ending in `/`.
pub fn parse_base_url(raw: &str) -> Result<Url, OrdError> {
    let trimmed = raw.trim();
    let with_slash = if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    };
    let url = Url::parse(&with_slash)
        .map_err(|e| OrdError::Config(format!("base_url {raw:?} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(OrdError::Config(format!(
            "base_url {raw:?} must be an absolute http(s) URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OrdError::Config(format!(
            "base_url {raw:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ord");
    const PREFIX: &str = "/ORD/2-0-0";

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{rel}")).expect("fixture readable")
    }

    fn json_response(status: u16, body: Vec<u8>) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body, "application/json")
    }

    /// A client against the mock, fast enough that the limiter does not dominate tests.
    fn client(server: &MockServer, tweak: impl FnOnce(&mut OrdConfig)) -> OrdClient {
        let mut config = OrdConfig {
            base_url: format!("{}{PREFIX}", server.uri()),
            max_rps: 50,
            request_timeout: Duration::from_secs(2),
            retry_budget: Duration::from_secs(3),
            ..OrdConfig::default()
        };
        tweak(&mut config);
        OrdClient::new(config).expect("client builds")
    }

    async fn request_count(server: &MockServer) -> usize {
        server.received_requests().await.map_or(0, |r| r.len())
    }

    #[test]
    fn default_config() {
        let c = OrdConfig::default();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.max_rps, 5);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.retry_budget, Duration::from_secs(60));
        assert_eq!(c.max_retries, 5);
        assert!(c.user_agent.starts_with("nhs-organisations/"));
        assert!(c
            .user_agent
            .ends_with("(+https://github.com/rcpch/nhs-organisations)"));
        assert!(OrdClient::new(c).is_ok());
    }

    #[test]
    fn bad_config_is_rejected() {
        let bad = [
            OrdConfig {
                max_rps: 0,
                ..OrdConfig::default()
            },
            OrdConfig {
                base_url: "not a url".into(),
                ..OrdConfig::default()
            },
            OrdConfig {
                base_url: "ftp://example.org/".into(),
                ..OrdConfig::default()
            },
            OrdConfig {
                max_retries: 2,
                ..OrdConfig::default()
            },
            OrdConfig {
                request_timeout: Duration::ZERO,
                ..OrdConfig::default()
            },
            OrdConfig {
                user_agent: "bad\nagent".into(),
                ..OrdConfig::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(OrdClient::new(config.clone()), Err(OrdError::Config(_))),
                "{config:?} accepted"
            );
        }
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let wait = parse_retry_after(&future).expect("http date");
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn organisation_found_with_headers_and_slash_variants() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RVVKC")))
            .and(header("accept", "application/json"))
            .and(header("user-agent", DEFAULT_USER_AGENT))
            .respond_with(json_response(200, fixture("organisations/RVVKC.json")))
            .expect(2)
            .mount(&server)
            .await;

        let without_slash = client(&server, |_| {});
        let org = without_slash
            .organisation("rvvkc")
            .await
            .expect("ok")
            .expect("found");
        assert_eq!(org.code, "RVVKC");
        assert_eq!(
            org.operated_by().map(|r| r.target_code.as_str()),
            Some("RVV")
        );

        let with_slash = client(&server, |c| c.base_url.push('/'));
        let again = with_slash.organisation("RVVKC").await.expect("ok");
        assert_eq!(again, Some(org));
        server.verify().await;
    }

    #[tokio::test]
    async fn organisation_404_is_none() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/ZZZ99")))
            .respond_with(json_response(404, fixture("errors/404.json")))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        assert_eq!(c.organisation("ZZZ99").await.expect("ok"), None);
        // Not a possible ODS code: no request, no path tricks.
        assert_eq!(c.organisation("../sync").await.expect("ok"), None);
        assert_eq!(c.organisation("").await.expect("ok"), None);
        server.verify().await;
    }

    #[tokio::test]
    async fn changed_since_lists_codes() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .and(query_param("LastChangeDate", "2024-03-05"))
            .respond_with(
                json_response(200, fixture("sync/LastChangeDate.json"))
                    .insert_header("X-Total-Count", "10"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let since = NaiveDate::from_ymd_opt(2024, 3, 5).expect("date");
        let codes = c.changed_since(since).await.expect("ok");
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0], "8HD87");
        assert_eq!(codes[9], "7A4BV");
        server.verify().await;
    }

    #[tokio::test]
    async fn deletions_are_read_and_a_404_is_an_error() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/notifications")))
            .respond_with(json_response(
                200,
                fixture("notifications/notifications.json"),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let deletions = c.deletions().await.expect("ok");
        let codes: Vec<&str> = deletions.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["I8M8X", "F3W7C"]);
        assert_eq!(deletions[0].reason.as_deref(), Some("HUMAN ERROR"));
        server.verify().await;

        let bare = MockServer::start().await;
        let err = client(&bare, |_| {}).deletions().await.expect_err("404");
        match err {
            OrdError::Unavailable {
                url_path, status, ..
            } => assert_eq!((url_path.as_str(), status), ("notifications", Some(404))),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn sync_406_is_date_too_old_and_empty_list_is_ok() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .and(query_param("LastChangeDate", "2020-01-01"))
            .respond_with(json_response(406, fixture("errors/406.json")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .and(query_param("LastChangeDate", "2024-01-01"))
            .respond_with(json_response(200, b"{}".to_vec()))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let old = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let err = c.changed_since(old).await.expect_err("406");
        assert!(matches!(err, OrdError::DateTooOld), "{err:?}");
        assert!(err.to_string().contains("185 days"));
        let recent = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        assert!(c.changed_since(recent).await.expect("ok").is_empty());
        server.verify().await;
    }

    #[tokio::test]
    async fn retry_after_429_then_success() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RWR")))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RWR")))
            .respond_with(json_response(200, fixture("organisations/RWR.json")))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let started = std::time::Instant::now();
        let org = c.organisation("RWR").await.expect("ok").expect("found");
        let took = started.elapsed();
        assert_eq!(
            org.active_icb().map(|r| r.target_code.as_str()),
            Some("QM7")
        );
        assert!(took >= Duration::from_millis(950), "waited only {took:?}");
        assert!(took < Duration::from_millis(2500), "waited {took:?}");
        server.verify().await;
    }

    #[tokio::test]
    async fn retry_after_beyond_budget_fails_fast() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let started = std::time::Instant::now();
        let err = c.organisation("RWR").await.expect_err("429");
        assert!(started.elapsed() < Duration::from_secs(1));
        match err {
            OrdError::Unavailable {
                status, attempts, ..
            } => {
                assert_eq!(status, Some(429));
                assert_eq!(attempts, 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn persistent_500_is_unavailable_after_retries() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RVV")))
            .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let started = std::time::Instant::now();
        let err = c.organisation("RVV").await.expect_err("500");
        let took = started.elapsed();
        let message = err.to_string();
        match err {
            OrdError::Unavailable {
                url_path,
                status,
                attempts,
                detail,
            } => {
                assert_eq!(url_path, "organisations/RVV");
                assert_eq!(status, Some(500));
                assert!(
                    attempts >= 4,
                    "only {attempts} attempts (>= 3 retries wanted)"
                );
                assert!(detail.contains("upstream exploded"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            message.contains("organisations/RVV") && message.contains("HTTP 500"),
            "{message}"
        );
        assert!(
            took <= Duration::from_millis(3500),
            "budget overrun: {took:?}"
        );
        assert!(request_count(&server).await >= 4);
    }

    #[tokio::test]
    async fn other_4xx_is_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(json_response(
                403,
                br#"{"errorCode":403,"errorText":"Forbidden"}"#.to_vec(),
            ))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        let err = c.organisation("RVV").await.expect_err("403");
        match &err {
            OrdError::Unavailable {
                status,
                attempts,
                detail,
                ..
            } => {
                assert_eq!(*status, Some(403));
                assert_eq!(*attempts, 1);
                assert!(detail.contains("Forbidden"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(request_count(&server).await, 1);
    }

    #[tokio::test]
    async fn server_error_then_4xx_reports_all_attempts() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(400))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        match c.organisation("RVV").await {
            Err(OrdError::Unavailable {
                status, attempts, ..
            }) => {
                assert_eq!(status, Some(400));
                assert_eq!(attempts, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn malformed_json_is_invalid_response_and_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RVV")))
            .respond_with(json_response(
                200,
                b"{\"Organisation\": {\"Name\": ".to_vec(),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/sync")))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
            .mount(&server)
            .await;
        let c = client(&server, |_| {});
        match c.organisation("RVV").await {
            Err(OrdError::InvalidResponse { url_path, detail }) => {
                assert_eq!(url_path, "organisations/RVV");
                assert!(!detail.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let since = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        match c.changed_since(since).await {
            Err(OrdError::InvalidResponse { url_path, .. }) => {
                assert_eq!(url_path, "sync?LastChangeDate=2024-01-01");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(request_count(&server).await, 2);
    }

    #[tokio::test]
    async fn slow_response_times_out_and_is_retried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RVV")))
            .respond_with(
                json_response(200, fixture("organisations/RVV.json"))
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let c = client(&server, |c| {
            c.request_timeout = Duration::from_millis(300);
            c.retry_budget = Duration::from_secs(2);
        });
        let started = std::time::Instant::now();
        let err = c.organisation("RVV").await.expect_err("timeout");
        let took = started.elapsed();
        match &err {
            OrdError::Unavailable {
                status,
                attempts,
                detail,
                ..
            } => {
                assert_eq!(*status, None);
                assert!(*attempts >= 3, "only {attempts} attempts");
                assert!(detail.contains("timed out"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("no HTTP response"));
        assert!(took < Duration::from_millis(2600), "took {took:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_unavailable() {
        // Bind then drop a listener to get a loopback port with nothing behind it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let c = OrdClient::new(OrdConfig {
            base_url: format!("http://127.0.0.1:{port}/ORD/2-0-0"),
            max_rps: 50,
            retry_budget: Duration::from_secs(1),
            ..OrdConfig::default()
        })
        .expect("client");
        match c.organisation("RVV").await {
            Err(OrdError::Unavailable {
                status, attempts, ..
            }) => {
                assert_eq!(status, None);
                assert!(attempts >= 2, "connect errors are retried");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Records when each request reached the server.
    struct Recorder {
        seen: Arc<Mutex<Vec<std::time::Instant>>>,
        body: Vec<u8>,
    }

    impl Respond for Recorder {
        fn respond(&self, _request: &Request) -> ResponseTemplate {
            if let Ok(mut seen) = self.seen.lock() {
                seen.push(std::time::Instant::now());
            }
            json_response(200, self.body.clone())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_holds_across_clones() {
        let server = MockServer::start().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        Mock::given(method("GET"))
            .and(path(format!("{PREFIX}/organisations/RVVKC")))
            .respond_with(Recorder {
                seen: Arc::clone(&seen),
                body: fixture("organisations/RVVKC.json"),
            })
            .mount(&server)
            .await;
        let c = client(&server, |c| c.max_rps = 5);

        let tasks: Vec<_> = (0..15)
            .map(|_| {
                let clone = c.clone();
                tokio::spawn(async move { clone.organisation("RVVKC").await })
            })
            .collect();
        for task in tasks {
            let org = task.await.expect("task").expect("ok").expect("found");
            assert_eq!(org.code, "RVVKC");
        }

        let mut times = seen.lock().expect("lock").clone();
        times.sort();
        assert_eq!(times.len(), 15);
        // Any 6 consecutive requests must span at least a second, i.e. no 1 s window
        // holds more than 5.
        for window in times.windows(6) {
            let span = window[5] - window[0];
            assert!(span >= Duration::from_secs(1), "6 requests within {span:?}");
        }
        // And the limiter is not wildly over-cautious: 14 gaps of ~204 ms.
        let total = times[14] - times[0];
        assert!(total < Duration::from_millis(3400), "took {total:?}");
    }
}
