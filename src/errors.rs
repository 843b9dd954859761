//! Error kinds with the stable `extensions.code` values of the public contract.
use async_graphql::ErrorExtensions;

/// The stable machine-readable error codes (see API.md).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    BadUserInput,
    NotFound,
    Conflict,
    UpstreamUnavailable,
    QueryTooComplex,
    Internal,
    /// HTTP 429 only (never a GraphQL execution error): too many requests from one client.
    RateLimited,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::RateLimited => "RATE_LIMITED",
        }
    }
}

/// The id of the HTTP request being served (`x-request-id`), put into the GraphQL request data
/// so that internal errors can quote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Errors raised by services. Messages are safe to show to clients, except `Database`/`Internal`
/// whose detail only goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    UpstreamUnavailable(String),
    #[error("database error: {0}")]
    Database(sea_orm::DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::BadUserInput(_) => ErrorCode::BadUserInput,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AppError::UpstreamUnavailable(_) => ErrorCode::UpstreamUnavailable,
            AppError::Database(_) | AppError::Internal(_) => ErrorCode::Internal,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// What a client sees when a write lost a race: the database refused it (two current
/// memberships, overlapping intervals, a duplicate code) because another write got there first.
pub const CHANGED_CONCURRENTLY: &str =
    "The records changed concurrently while this write ran; nothing was changed. Retry.";

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        // RecordNotUpdated: the row a write meant to change was changed or closed first.
        if is_constraint_violation(&err) || matches!(err, sea_orm::DbErr::RecordNotUpdated) {
            tracing::warn!(error = %err, "write refused by a constraint");
            AppError::Conflict(CHANGED_CONCURRENTLY.into())
        } else {
            AppError::Database(err)
        }
    }
}

/// An ORD failure as the client sees it, wherever one ends a call (sync, mergers): every ORD
/// request runs before anything is written, so nothing was changed.
impl From<crate::ord::OrdError> for AppError {
    fn from(err: crate::ord::OrdError) -> Self {
        use crate::ord::OrdError;
        match err {
            // A `since` older than ORD serves is the caller's to fix.
            OrdError::DateTooOld => AppError::BadUserInput(err.to_string()),
            OrdError::Config(_) => AppError::Internal(err.to_string()),
            OrdError::Unavailable { .. } | OrdError::InvalidResponse { .. } => {
                AppError::UpstreamUnavailable(format!(
                    "{err}. Nothing was changed; try again later."
                ))
            }
        }
    }
}

/// A FHIR source failure: the same codes as the ORD ones (every request runs before anything
/// is written).
impl From<crate::fhir::FhirError> for AppError {
    fn from(err: crate::fhir::FhirError) -> Self {
        use crate::fhir::FhirError;
        match err {
            FhirError::Config(_) => AppError::Internal(err.to_string()),
            FhirError::Unavailable { .. } | FhirError::InvalidResponse { .. } => {
                AppError::UpstreamUnavailable(format!(
                    "{err}. Nothing was changed; try again later."
                ))
            }
        }
    }
}

/// The driver's error code (SQLSTATE on PostgreSQL, the extended result code on SQLite).
pub fn database_code(err: &sea_orm::DbErr) -> Option<String> {
    use sea_orm::{sqlx, DbErr, RuntimeErr};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
        | DbErr::Conn(RuntimeErr::SqlxError(sqlx::Error::Database(e))) => {
            e.code().map(|c| c.into_owned())
        }
        _ => None,
    }
}

/// Unique and exclusion violations, and the SQLite triggers that stand in for exclusion
/// constraints: what a write that raced another one meets.
pub fn is_constraint_violation(err: &sea_orm::DbErr) -> bool {
    let code = database_code(err);
    // PostgreSQL unique / exclusion; SQLite UNIQUE, PRIMARY KEY, trigger RAISE(ABORT).
    matches!(
        code.as_deref(),
        Some("23505" | "23P01" | "2067" | "1555" | "1811")
    ) || err.to_string().contains("UNIQUE constraint failed")
}

/// Builds a GraphQL error with `extensions.code`.
pub fn gql_error(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code.as_str()))
}

impl AppError {
    /// The client-facing GraphQL error: internal details go to the log under a reference.
    pub fn to_graphql(&self) -> async_graphql::Error {
        match self.code() {
            ErrorCode::Internal => internal_error(self),
            code => gql_error(code, self.to_string()),
        }
    }
}

/// Logs an internal failure and returns a generic error the client can quote.
pub fn internal_error(detail: &dyn std::fmt::Display) -> async_graphql::Error {
    let reference = internal_reference();
    tracing::error!(error = %detail, reference = %reference, "internal error");
    gql_error(
        ErrorCode::Internal,
        format!("Internal error; please retry later or report reference {reference}."),
    )
    .extend_with(|_, e| e.set("reference", reference.clone()))
}

/// A short unique reference that ties a client-visible internal error to its log line.
pub fn internal_reference() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = chrono::Utc::now().timestamp_millis() as u64;
    format!("{:x}-{:x}", t, n)
}

/// Converts a database error into a GraphQL error without leaking its text.
pub fn db_error(err: sea_orm::DbErr) -> async_graphql::Error {
    internal_error(&err)
}
