//! The OpenAPI 3.1 document of the REST routes (served at `/v1/openapi.json`).
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document as JSON text.
pub fn json() -> String {
    String::from("{}")
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}
