//! HTTP: GraphQL over POST and GET, GraphiQL, health, and the layers that protect them
//! (request ids, tracing, CORS, timeouts, body limits, per-client rate limits).
use std::error::Error as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{QueryLimits, ServerSettings};
use crate::errors::{AppResult, ErrorCode, RequestId};
use crate::graphql::loaders::{Pinned, Today};
use crate::graphql::AppSchema;
use crate::response_cache::{cacheable, CacheKey, ResponseCache};
use crate::snapshot::SnapshotStore;
use crate::sync::SharedSource;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    /// The read model every request answers from.
    pub store: Arc<SnapshotStore>,
}

impl AppState {
    /// The app over a database: one snapshot store shared by the schema and the HTTP layer;
    /// `source` is the ODS source the sync mutations and `createOrganisations` read.
    pub fn new(db: DatabaseConnection, source: Option<SharedSource>, limits: &QueryLimits) -> Self {
        let store = SnapshotStore::new(db.clone());
        let schema = crate::graphql::build_schema_over(store.clone(), db.clone(), source, limits);
        Self { schema, db, store }
    }

    /// The app as `serve` runs it over a migrated database (and as the tests build it): the
    /// settings' query limits, sync jobs left running by a dead process marked failed, the sync
    /// schedules (as sync jobs) when `SYNC_EVERY` or `SYNC_FULL_EVERY` is set, the read model
    /// built before the first request, and a watcher following other processes' writes.
    pub async fn start(
        db: DatabaseConnection,
        source: Option<SharedSource>,
        settings: &ServerSettings,
    ) -> AppResult<Self> {
        let state = Self::new(db, source.clone(), &settings.limits);
        // Jobs a dead process left running are failed before anything can start one.
        state.schema.jobs().recover().await;
        let jobs = state.schema.jobs().clone();
        match (settings.schedule(), &source) {
            (Some(every), Some(source)) => {
                tracing::info!(
                    every_secs = every.as_secs(),
                    source = source.name(),
                    "sync schedule on"
                );
                crate::sync::spawn_job_schedule(jobs.clone(), source.clone(), every, false);
            }
            (Some(_), None) => tracing::warn!("SYNC_EVERY is set, but there is no ODS source"),
            (None, _) => tracing::info!("sync schedule off (set SYNC_EVERY to turn it on)"),
        }
        match (settings.full_schedule(), &source) {
            (Some(every), Some(source)) => {
                tracing::info!(
                    every_secs = every.as_secs(),
                    source = source.name(),
                    "full sync schedule on"
                );
                crate::sync::spawn_job_schedule(jobs, source.clone(), every, true);
            }
            (Some(_), None) => tracing::warn!("SYNC_FULL_EVERY is set, but there is no ODS source"),
            (None, _) => {}
        }
        state.store.refresh().await?;
        state.store.spawn_watch(settings.snapshot_poll());
        Ok(state)
    }
}

/// The request-id header: set on every request (unless a trusted proxy sent a usable one) and
/// echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The state the handlers see: the app and the HTTP limits.
#[derive(Clone)]
struct Shared {
    app: AppState,
    max_body_bytes: usize,
    body_timeout: Duration,
    cache: Option<Arc<ResponseCache>>,
}

/// The application's routes and layers.
pub fn router(state: AppState, settings: &ServerSettings) -> Router {
    let request_timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
    let shared = Shared {
        app: state,
        max_body_bytes: settings.max_body_bytes,
        // A body that trickles in is the client's fault (408), so it must time out before the
        // whole request does (503).
        body_timeout: request_timeout / 2,
        cache: ResponseCache::new(settings.response_cache_mb).map(Arc::new),
    };
    let graphql = get(graphql_get).post(graphql_post);
    let rest = crate::rest::router(crate::rest::RestState {
        store: shared.app.store.clone(),
        cache: shared.cache.clone(),
    });
    let boundaries = crate::rest::boundaries_router(crate::rest::RestState {
        store: shared.app.store.clone(),
        cache: shared.cache.clone(),
    });
    // One limit for all ways in: a client's budget covers GraphQL and REST together.
    let (graphql, rest, boundaries) = match RateLimit::new(settings).map(Arc::new) {
        Some(limit) => (
            graphql.route_layer(middleware::from_fn_with_state(limit.clone(), rate_limit)),
            rest.layer(middleware::from_fn_with_state(
                limit.clone(),
                rest_rate_limit,
            )),
            boundaries.layer(middleware::from_fn_with_state(limit, rest_rate_limit)),
        ),
        None => (graphql, rest, boundaries),
    };
    Router::new()
        .route("/", get(root))
        .route("/graphql", graphql)
        .route("/health", get(health))
        .nest_service("/v1", rest)
        .nest_service("/boundaries", boundaries)
        .merge(crate::graphiql::router())
        .with_state(shared)
        .layer(
            // Outermost first.
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    settings.trust_proxy_headers,
                    drop_untrusted_request_id,
                ))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(middleware::from_fn(log_request))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // gzip or brotli when the client accepts it (bodies of 32 bytes and more).
                .layer(CompressionLayer::new())
                .layer(cors(settings))
                .layer(middleware::from_fn_with_state(request_timeout, timeout)),
        )
}

fn cors(settings: &ServerSettings) -> CorsLayer {
    let origins = settings.cors_origins.values().to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER, header::ETAG])
        .max_age(Duration::from_secs(3600))
}

fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// One log line per request at `info`: method, path, status, time taken and request id.
async fn log_request(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id = request_id_of(req.headers()).unwrap_or_else(|| "-".into());
    let resp = next.run(req).await;
    tracing::info!(
        target: "nhs_organisations::request",
        "{method} {path} {} {:.1} ms request_id={id}",
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

/// The front door: where GraphQL, GraphiQL, REST, OpenAPI and health are (a small page for
/// browsers, JSON otherwise).
async fn root(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        return Html(ROOT_PAGE).into_response();
    }
    Json(json!({
        "name": "nhs-organisations",
        "graphql": "/graphql",
        "graphiql": "/graphql (open in a browser)",
        "rest": "/v1/",
        "openapi": "/v1/openapi.json",
        "health": "/health",
        "docs": "README.md, docs/api.md and docs/rest.md in the repository"
    }))
    .into_response()
}

const ROOT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nhs-organisations</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}code{background:#eee;padding:0 .2em}</style>
</head><body>
<h1>nhs-organisations</h1>
<p>UK secondary-care organisations where children are cared for, and their NHS hierarchy.</p>
<ul>
<li><a href="/graphql">GraphiQL</a>: explore and run GraphQL queries (<code>POST /graphql</code> for programs)</li>
<li><a href="/v1/organisations/">REST</a>: the routes of the RCPCH NHS Organisations API under <code>/v1/</code></li>
<li><a href="/v1/openapi.json">OpenAPI</a>: the document of the REST routes</li>
<li><a href="/boundaries/integrated-care-boards.geojson?simplify=500">Boundaries</a>: GeoJSON of the ICBs, health boards, regions, London boroughs and countries (<code>/boundaries/{kind}.geojson</code>)</li>
<li><a href="/health">Health</a>: database and snapshot state</li>
</ul>
</body></html>
"#;

/// A request id from outside is kept only from a trusted proxy, and only when it is short and
/// plain; anything else is replaced by a fresh one.
async fn drop_untrusted_request_id(
    State(trust_proxy): State<bool>,
    mut req: Request,
    next: Next,
) -> Response {
    let usable = trust_proxy
        && req.headers().get(&REQUEST_ID).is_some_and(|v| {
            let b = v.as_bytes();
            (1..=64).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        });
    if !usable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// A GraphQL-shaped error response for failures outside GraphQL execution.
fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    (status, Json(body)).into_response()
}

/// Answers 503 when a request takes longer than the configured timeout.
async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let id = request_id_of(req.headers());
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(timeout = ?limit, "request timed out");
            let msg = format!(
                "The request took longer than {} s and was stopped; retry later{}.",
                limit.as_secs(),
                id.map(|i| format!(" or report request id {i}"))
                    .unwrap_or_default()
            );
            error_response(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal, &msg)
        }
    }
}

/// Per-client rate limit on `/graphql`.
struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trust_proxy: bool,
    checks: AtomicU64,
}

impl RateLimit {
    /// `None` when the limit is off (`RATE_LIMIT_RPS=0`).
    fn new(settings: &ServerSettings) -> Option<Self> {
        let rps = NonZeroU32::new(settings.rate_limit_rps)?;
        let burst = NonZeroU32::new(settings.rate_limit_burst.max(settings.rate_limit_rps))?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rps).allow_burst(burst)),
            trust_proxy: settings.trust_proxy_headers,
            checks: AtomicU64::new(0),
        })
    }
}

async fn rate_limit(State(limit): State<Arc<RateLimit>>, req: Request, next: Next) -> Response {
    limited(&limit, req, next, |msg| {
        error_response(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, msg)
    })
    .await
}

/// The same limit on the REST routes, refusing with their `{"detail": ...}` shape.
async fn rest_rate_limit(
    State(limit): State<Arc<RateLimit>>,
    req: Request,
    next: Next,
) -> Response {
    limited(&limit, req, next, |msg| {
        crate::rest::detail(StatusCode::TOO_MANY_REQUESTS, msg)
    })
    .await
}

async fn limited(
    limit: &RateLimit,
    req: Request,
    next: Next,
    refusal: impl FnOnce(&str) -> Response,
) -> Response {
    let ip = client_ip(&req, limit.trust_proxy);
    // Forget idle clients now and then, so the table does not grow with every address seen.
    if limit.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
        limit.limiter.retain_recent();
        limit.limiter.shrink_to_fit();
    }
    match limit.limiter.check_key(&rate_key(ip)) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let secs = secs.max(1);
            tracing::debug!(%ip, "rate limited");
            let mut resp = refusal(&format!(
                "Too many requests from your address; retry after {secs} s."
            ));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            // The body is left unread, so the connection cannot carry another request: say so.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// The address a request came from: the peer, or behind a trusted proxy the address the proxy
/// appended last to `X-Forwarded-For` (earlier entries are whatever the client claimed).
pub fn client_ip(req: &Request, trust_proxy: bool) -> IpAddr {
    let forwarded = trust_proxy.then(|| forwarded_for(req.headers())).flatten();
    forwarded
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|s| !s.is_empty())?;
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// IPv6 clients usually hold a whole /64, so they are limited per /64.
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// JSON, or no content type at all (read as JSON: simple clients often omit it). Other types
/// (text/plain, forms, multipart) are refused.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m == "application/graphql+json")
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Reads and decodes a JSON GraphQL request, answering 4xx for anything malformed.
async fn read_request(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<async_graphql::Request, Response> {
    let bad = |status, msg: &str| error_response(status, ErrorCode::BadUserInput, msg);
    if !is_json(headers) {
        return Err(bad(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send a JSON body {\"query\": …, \"variables\": …} with `Content-Type: application/json`.",
        ));
    }
    let too_large = || {
        bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The request body is larger than {} bytes; send a smaller query or fewer variables.",
                shared.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body_bytes as u64) {
        return Err(too_large());
    }
    let read = axum::body::to_bytes(body, shared.max_body_bytes);
    let bytes = match tokio::time::timeout(shared.body_timeout, read).await {
        Err(_) => {
            return Err(bad(
                StatusCode::REQUEST_TIMEOUT,
                "The request body did not arrive in time; send it again.",
            ))
        }
        Ok(Err(e)) if is_length_limit(&e) => return Err(too_large()),
        Ok(Err(_)) => {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "The request body could not be read; send it again.",
            ))
        }
        Ok(Ok(bytes)) => bytes,
    };
    serde_json::from_slice::<async_graphql::Request>(&bytes).map_err(|e| {
        // Describe the problem without echoing what was sent.
        let msg = match e.classify() {
            serde_json::error::Category::Data => {
                "The body is JSON but not a GraphQL request: send one object {\"query\": string, \"variables\": object, \"operationName\": string}.".to_string()
            }
            _ => format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ),
        };
        bad(StatusCode::BAD_REQUEST, &msg)
    })
}

async fn graphql_post(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let mut req = match read_request(&shared, &headers, body).await {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(token) = crate::auth::bearer_from_header(auth) {
        req = req.data(token);
    }
    if let Some(id) = request_id_of(&headers) {
        req = req.data(RequestId(id));
    }
    execute(&shared, &headers, req).await
}

/// Whether `If-None-Match` names this ETag (or `*`).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// Says whether a response came from the response cache.
const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A query response the client may keep but must revalidate.
pub(crate) fn cached_response(
    status: StatusCode,
    etag: &str,
    body: Option<axum::body::Bytes>,
    hit: bool,
) -> Response {
    let mut resp = match body {
        Some(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        None => status.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp.headers_mut().insert(
        X_CACHE,
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    resp
}

/// Runs a request against one pinned snapshot. Queries without credentials get an ETag from
/// the snapshot version and the request, answer `304` to a matching `If-None-Match`, and come
/// from the response cache when an identical one was answered from the same snapshot.
async fn execute(shared: &Shared, headers: &HeaderMap, req: async_graphql::Request) -> Response {
    let Ok(snapshot) = shared.app.store.pinned().await else {
        // No snapshot could be built: let the schema report it as any internal error.
        return GraphQLResponse::from(shared.app.schema.execute(req).await).into_response();
    };
    let today = chrono::Utc::now().date_naive();
    let key = (!headers.contains_key(header::AUTHORIZATION) && cacheable(&req.query))
        .then(|| CacheKey::new(snapshot.version, today, &req));
    if let Some(key) = &key {
        let etag = key.etag();
        if not_modified(headers, &etag) {
            return cached_response(StatusCode::NOT_MODIFIED, &etag, None, true);
        }
        if let Some(body) = shared.cache.as_ref().and_then(|c| c.get(key)) {
            return cached_response(StatusCode::OK, &etag, Some(body), true);
        }
    }
    let req = req.data(Pinned::to(snapshot)).data(Today(today));
    let resp = shared.app.schema.execute(req).await;
    match key {
        Some(key) if resp.is_ok() => {
            let body = match serde_json::to_vec(&resp) {
                Ok(b) => axum::body::Bytes::from(b),
                Err(_) => return GraphQLResponse::from(resp).into_response(),
            };
            if let Some(cache) = &shared.cache {
                cache.insert(key.clone(), body.clone());
            }
            cached_response(StatusCode::OK, &key.etag(), Some(body), false)
        }
        _ => GraphQLResponse::from(resp).into_response(),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn is_mutation(query: &str) -> bool {
    // Too deep to parse safely: execution refuses it with QUERY_TOO_COMPLEX.
    if crate::graphql::limits::check_nesting(query).is_err() {
        return false;
    }
    async_graphql::parser::parse_query(query)
        .map(|doc| {
            doc.operations
                .iter()
                .any(|(_, op)| op.node.ty == OperationType::Mutation)
        })
        .unwrap_or(false)
}

/// GraphiQL for browsers; otherwise a query sent as URL parameters. Never a mutation.
async fn graphql_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    req: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    if wants_html(&headers) {
        return crate::graphiql::page("/graphql").into_response();
    }
    let mut req = match req {
        Ok(r) if !r.0.query.trim().is_empty() => r.into_inner(),
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                "Send a query as ?query=…, or POST a JSON body.",
            )
        }
    };
    if is_mutation(&req.query) {
        let mut resp = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            "Mutations must be sent with POST.",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    if let Some(id) = request_id_of(&headers) {
        req = req.data(RequestId(id));
    }
    execute(&shared, &headers, req).await
}

/// 200 when the database answers and can take a write; 503 when it does not answer, its
/// SQLite file is gone, or it is read-only.
async fn health(State(shared): State<Shared>) -> Response {
    let db = &shared.app.db;
    let within = Duration::from_secs(3);
    let state = match tokio::time::timeout(within, crate::db::ping(db)).await {
        // A write probe still waiting on another process's write lock: that one can write.
        Ok(Ok(())) => tokio::time::timeout(within, database_state(db))
            .await
            .unwrap_or("ok"),
        _ => "unreachable",
    };
    let status = if state == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let overall = if state == "ok" { "ok" } else { "unavailable" };
    let snapshot = shared.app.store.health();
    (
        status,
        Json(json!({"status": overall, "database": state, "snapshot": snapshot})),
    )
        .into_response()
}

/// `ok`, `file-missing` (the SQLite file was deleted under us), `read-only` or `unreachable`.
async fn database_state(db: &DatabaseConnection) -> &'static str {
    match crate::db::sqlite_file_missing(db).await {
        Ok(true) => return "file-missing",
        Ok(false) => {}
        Err(_) => return "unreachable",
    }
    match crate::writes::probe(db).await {
        Ok(true) => "ok",
        Ok(false) => "read-only",
        Err(e) => {
            tracing::warn!(error = %e, "health: the write probe failed");
            "unreachable"
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down; letting in-flight requests finish");
}

/// Binds and serves until a shutdown signal, then lets in-flight requests finish (for at most
/// the request timeout and a little more).
pub async fn serve(state: AppState, settings: &ServerSettings) -> std::io::Result<()> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{addr}/graphql");
    serve_listener(listener, state, settings, shutdown_signal()).await
}

/// Serves connections from a listener until `shutdown` resolves (what `serve` and the tests
/// run). axum's own server has no header timeout and no connection cap, so connections are
/// accepted here: each gets `HEADER_READ_TIMEOUT_SECS` to send a request head (also the most
/// a keep-alive connection may sit idle), and beyond `MAX_CONNECTIONS` open ones a new
/// connection is closed at once, so idle sockets cannot use up the process's descriptors.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    settings: &ServerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = router(state, settings);
    let header_timeout = Duration::from_secs(settings.header_read_timeout_secs.max(1));
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut open = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, usually: wait instead of spinning.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, max = settings.max_connections, "too many open connections; closing a new one");
                    drop(stream);
                    continue;
                };
                let conn = connection(stream, peer, app.clone(), header_timeout, stop_rx.clone());
                open.spawn(async move {
                    conn.await;
                    drop(slot);
                });
            }
            Some(_) = open.join_next(), if !open.is_empty() => {}
        }
    }
    // No new connections from here on.
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(settings.request_timeout_secs.saturating_add(5));
    let drained =
        tokio::time::timeout(grace, async { while open.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            ?grace,
            "requests still running after the grace period; stopping anyway"
        );
        open.abort_all();
    }
    Ok(())
}

/// Serves one HTTP/1.1 connection; on shutdown, finishes the request in flight and closes.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tower::ServiceExt;
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with(xff: &[&str], peer: &str) -> Request {
        let mut b = axum::http::Request::builder().uri("/graphql");
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        let mut req = b.body(Body::empty()).expect("request");
        let peer: SocketAddr = peer.parse().expect("peer");
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted_and_its_last_entry_wins() {
        let req = req_with(&["6.6.6.6, 10.0.0.7"], "127.0.0.1:5000");
        assert_eq!(client_ip(&req, false).to_string(), "127.0.0.1");
        assert_eq!(client_ip(&req, true).to_string(), "10.0.0.7");
        let req = req_with(&["1.1.1.1", "2.2.2.2:80"], "127.0.0.1:5000");
        assert_eq!(client_ip(&req, true).to_string(), "2.2.2.2");
        let req = req_with(&["garbage"], "127.0.0.1:5000");
        assert_eq!(client_ip(&req, true).to_string(), "127.0.0.1");
    }

    #[test]
    fn ipv6_clients_share_a_limit_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(rate_key(a), rate_key(b));
        let v4: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(rate_key(v4).to_string(), "192.0.2.1");
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(is_json(&h), "no content type is read as JSON");
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
    }
}
