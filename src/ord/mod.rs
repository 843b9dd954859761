//! Client for the NHS ODS "ORD" API, version 2-0-0
//! (`https://directory.spineservices.nhs.uk/ORD/2-0-0/`).
//!
//! This module knows HTTP and the ORD JSON format only. It has no idea how the records
//! are stored: callers get plain owned [`OrdOrganisation`] values and ODS codes.
//!
//! * [`model`] – serde models of the raw JSON (lenient: every key may be missing, arrays
//!   may arrive as single objects) and the parsed, domain-neutral [`OrdOrganisation`].
//! * [`client`] – [`OrdClient`], an async HTTP client with a shared rate limiter
//!   (ODS asks callers to stay below 5 requests per second) and bounded retries.
//!
//! Endpoints used:
//! * `GET organisations/{code}` → [`OrdClient::organisation`]
//! * `GET sync?LastChangeDate=YYYY-MM-DD` → [`OrdClient::changed_since`] (ORD refuses dates
//!   more than 185 days back with HTTP 406, reported as [`OrdError::DateTooOld`]).
//! * `GET notifications` → [`OrdClient::deletions`] (whole-record deletions of the last 185
//!   days).

pub mod client;
pub mod model;

pub use client::{OrdClient, OrdConfig, DEFAULT_BASE_URL, DEFAULT_USER_AGENT};
pub use model::{
    classify_role, code_from_org_link, parse_notifications, parse_organisation, parse_sync,
    OrdDeletion, OrdOrganisation, OrdRel, OrdRole, OrdSuccession, RoleClass, SuccessionKind,
    REL_COMMISSIONED_BY, REL_IN_GEOGRAPHY_OF, REL_OPERATED_BY, REL_PARTNER_TO, REL_SUB_DIVISION_OF,
    ROLE_CCG, ROLE_FOUNDATION_TRUST, ROLE_ICB, ROLE_INTEGRATED_CARE_BOARD, ROLE_LHB_SITE,
    ROLE_NHS_TRUST, ROLE_REGION, ROLE_REGION_LOCAL_OFFICE, ROLE_STP, ROLE_STRATEGIC_PARTNERSHIP,
    ROLE_SUB_ICB_LOCATION, ROLE_TRUST_SITE, ROLE_WELSH_LHB,
};

/// Everything that can go wrong talking to ORD or reading its JSON.
///
/// Messages name the request path (e.g. `organisations/RVVKC`) and the upstream HTTP
/// status so that an operator can act on them; ORD needs no credentials, so there is
/// nothing secret to leak.
#[derive(Debug, thiserror::Error)]
pub enum OrdError {
    /// ORD could not be reached or kept failing: network errors, timeouts, 429 and 5xx
    /// after the retries ran out, and any status the client does not expect (e.g. 400,
    /// 403), which are not retried.
    #[error(
        "ORD API unavailable for {url_path}: {} after {attempts} attempt(s): {detail}",
        status_label(.status)
    )]
    Unavailable {
        /// Path relative to the base URL, with query, e.g. `organisations/RVVKC`.
        url_path: String,
        /// Last HTTP status received, `None` if the last attempt got no response.
        status: Option<u16>,
        /// Number of HTTP attempts made (first try included).
        attempts: u32,
        /// What went wrong on the last attempt and why the client stopped.
        detail: String,
    },
    /// ORD answered 200 but the body is not the JSON it documents.
    #[error("ORD API returned an invalid response for {url_path}: {detail}")]
    InvalidResponse {
        /// Path relative to the base URL, with query.
        url_path: String,
        /// Parser message (with line/column) or the missing piece.
        detail: String,
    },
    /// `sync` answered 406: ORD only serves changes from the last 185 days.
    #[error(
        "ORD API refused the sync request (HTTP 406): LastChangeDate must be within the last \
         185 days; a full reload is needed instead of an incremental sync"
    )]
    DateTooOld,
    /// The [`OrdConfig`] cannot be used (bad base URL, zero rate, ...).
    #[error("invalid ORD client configuration: {0}")]
    Config(String),
}

fn status_label(status: &Option<u16>) -> String {
    match status {
        Some(code) => format!("last upstream status HTTP {code}"),
        None => "no HTTP response".to_owned(),
    }
}
