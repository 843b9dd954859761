//! HTTP: GraphQL over POST and GET, GraphiQL, health, and the tower-http layers around them.
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::ServerSettings;
use crate::errors::{gql_error, ErrorCode};
use crate::graphql::AppSchema;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
}

/// The application's routes and layers.
pub fn router(state: AppState, settings: &ServerSettings) -> Router {
    let origins: Vec<HeaderValue> = settings
        .cors_origin_list()
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]);
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(health))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(cors)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(settings.request_timeout_secs),
        ))
        .layer(TraceLayer::new_for_http())
}

/// A request the GraphQL extractor could not read: 413 when too large, else 400, with a
/// GraphQL-shaped JSON body carrying `BAD_USER_INPUT` (never the parser's internals).
pub struct BadRequest(async_graphql::ParseRequestError);

impl From<async_graphql::ParseRequestError> for BadRequest {
    fn from(e: async_graphql::ParseRequestError) -> Self {
        BadRequest(e)
    }
}

fn error_body(code: ErrorCode, message: &str) -> Json<async_graphql::Response> {
    let err = gql_error(code, message).into_server_error(Default::default());
    Json(async_graphql::Response::from_errors(vec![err]))
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        use async_graphql::ParseRequestError as E;
        let (status, message) = match self.0 {
            E::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large."),
            E::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "The body is not a valid GraphQL request: send JSON {\"query\": …, \"variables\": …}."),
            E::UnsupportedBatch => (StatusCode::BAD_REQUEST, "Batched requests are not supported."),
            _ => (StatusCode::BAD_REQUEST, "The request could not be read as GraphQL over HTTP."),
        };
        (status, error_body(ErrorCode::BadUserInput, message)).into_response()
    }
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: GraphQLRequest<BadRequest>,
) -> GraphQLResponse {
    let mut req = req.into_inner();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(token) = crate::auth::bearer_from_header(auth) {
        req = req.data(token);
    }
    state.schema.execute(req).await.into()
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn is_mutation(query: &str) -> bool {
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
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLRequest<BadRequest>, BadRequest>,
) -> Response {
    if wants_html(&headers) {
        return Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    }
    let req = match req {
        Ok(r) if !r.0.query.trim().is_empty() => r.into_inner(),
        _ => {
            let msg = "Send a query as ?query=…, or POST a JSON body.";
            return (
                StatusCode::BAD_REQUEST,
                error_body(ErrorCode::BadUserInput, msg),
            )
                .into_response();
        }
    };
    if is_mutation(&req.query) {
        let body = error_body(ErrorCode::BadUserInput, "Mutations must be sent with POST.");
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            body,
        )
            .into_response();
    }
    GraphQLResponse::from(state.schema.execute(req).await).into_response()
}

/// 200 when the database answers, 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    let probe = tokio::time::timeout(Duration::from_secs(3), crate::db::ping(&state.db)).await;
    match probe {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "unreachable"})),
        )
            .into_response(),
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

/// Binds and serves until a shutdown signal.
pub async fn serve(state: AppState, settings: &ServerSettings) -> std::io::Result<()> {
    let app = router(state, settings);
    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("listening on http://{addr}/graphql");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}
