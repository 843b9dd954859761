//! Client for the NHS England "Organisation Data Terminology API", the FHIR R4 successor of
//! ORD (`https://api.service.nhs.uk/organisation-data-terminology-api/fhir`).
//!
//! Like [`crate::ord`], it knows HTTP and the FHIR JSON format only, and hands the sync the
//! same record model ([`crate::ord::OrdOrganisation`]). What FHIR lacks compared with ORD,
//! and how it is filled in, is in `docs/sync.md` ("Sources").
//!
//! Endpoints used:
//! * `GET Organization/{code}` and `GET OrganizationAffiliation?primary-organization={code}`
//!   (paged) → [`FhirClient::organisation`]; the affiliations' targets are read once each
//!   (`GET Organization/{target}`) for their primary role.
//! * `GET Organization?lastChangeDate=gt{day before}&_count=…` (paged) →
//!   [`FhirClient::changed_since`].
//! * `GET List/Organization-deletion` → [`FhirClient::deletions`].

pub mod client;
pub mod model;

pub use client::{ApiKey, FhirClient, FhirConfig, DEFAULT_BASE_URL};

/// Everything that can go wrong talking to the FHIR API or reading its JSON. Messages name
/// the request path and status, never the API key.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// Unreachable, or kept failing (429/5xx after the retries), or a status the client does
    /// not expect (401 for a wrong key, 400, 422 ...), which is not retried.
    #[error("ODS FHIR API unavailable for {url_path}: {detail}")]
    Unavailable {
        /// Path relative to the base URL, with query.
        url_path: String,
        /// Last HTTP status received, `None` without a response.
        status: Option<u16>,
        /// HTTP attempts made.
        attempts: u32,
        /// What went wrong.
        detail: String,
    },
    /// A 200 whose body is not the FHIR JSON expected.
    #[error("ODS FHIR API returned an invalid response for {url_path}: {detail}")]
    InvalidResponse { url_path: String, detail: String },
    /// The [`FhirConfig`] cannot be used.
    #[error("invalid FHIR client configuration: {0}")]
    Config(String),
}

impl From<crate::ord::OrdError> for FhirError {
    fn from(err: crate::ord::OrdError) -> Self {
        use crate::ord::OrdError;
        match err {
            OrdError::Unavailable {
                url_path,
                status,
                attempts,
                detail,
            } => Self::Unavailable {
                url_path,
                status,
                attempts,
                detail: format!("{detail} after {attempts} attempt(s)"),
            },
            OrdError::InvalidResponse { url_path, detail } => {
                Self::InvalidResponse { url_path, detail }
            }
            OrdError::Config(detail) => Self::Config(detail),
            // Only ORD's own `sync` endpoint answers 406; the shared HTTP core never does.
            OrdError::DateTooOld => Self::Config(err.to_string()),
        }
    }
}
