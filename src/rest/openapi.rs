//! The OpenAPI 3.1 document of the REST routes, generated from the handlers' annotations and
//! the shapes (served at `/v1/openapi.json`; `openapi.json` at the repository root is this
//! output, and a test fails when it is stale).
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

/// `as_of` alone.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// Answer as of this day (`YYYY-MM-DD`; default today). Days before the data begins are a 400.
    pub as_of: Option<NaiveDate>,
}

/// The exact-match filters on sites and trusts, and `as_of`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    /// Only the record with this ODS code.
    pub ods_code: Option<String>,
    /// Only records with exactly this name.
    pub name: Option<String>,
    /// Only active (`true`) or inactive (`false`) records.
    pub active: Option<bool>,
    /// Answer as of this day (`YYYY-MM-DD`; default today).
    pub as_of: Option<NaiveDate>,
}

/// The snapshot route's day, and `as_of`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The day to describe (`YYYY-MM-DD`; default `as_of`, else today).
    pub date: Option<NaiveDate>,
    /// Answer as of this day (`YYYY-MM-DD`; default today).
    pub as_of: Option<NaiveDate>,
}

/// The projection of `/countries/`, and `as_of`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountryQuery {
    /// Comma-separated field names to send (of `boundary_identifier`, `name`, `welsh_name`,
    /// `bng_e`, `bng_n`, `long`, `lat`, `globalid`).
    pub fields: Option<String>,
    /// Answer as of this day (`YYYY-MM-DD`; default today).
    pub as_of: Option<NaiveDate>,
}

/// One unit by PZ code, and `as_of`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitQuery {
    /// Only the unit with this PZ code (`PZ` and 3 digits).
    pub pz_code: Option<String>,
    /// Answer as of this day (`YYYY-MM-DD`; default today).
    pub as_of: Option<NaiveDate>,
}

/// The simplification of `/boundaries/{kind}.geojson`, and `as_of`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoundaryQuery {
    /// Simplify each boundary to this many metres (Douglas-Peucker in British National Grid
    /// metres, 0 to 50,000; default as published: 200 m generalisation for ICBs, 500 m for
    /// the rest, full detail for London boroughs).
    pub simplify: Option<f64>,
    /// Answer as of this day (`YYYY-MM-DD`; default today).
    pub as_of: Option<NaiveDate>,
}

/// The document's definition.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "nhs-organisations REST compatibility API",
        description = "The REST routes of the RCPCH NHS Organisations service, served from the same read model as the GraphQL API at /graphql. Every route also answers without the trailing slash. See docs/rest.md.",
        license(name = "MIT")
    ),
    paths(
        super::organisations,
        super::organisations_limited,
        super::organisations_with_units,
        super::organisation_one,
        super::organisation_snapshot,
        super::trusts,
        super::trust_one,
        super::local_health_boards,
        super::local_health_boards_organisations,
        super::integrated_care_boards,
        super::integrated_care_boards_organisations,
        super::nhs_england_regions,
        super::nhs_england_regions_organisations,
        super::london_boroughs,
        super::london_boroughs_organisations,
        super::countries,
        super::openuk_networks,
        super::units,
        super::units_parent,
        super::unit_parent,
        super::units_extended,
        super::units_organisations,
        super::unit_siblings,
        super::boundaries,
    )
)]
pub struct ApiDoc;

/// The document as pretty-printed JSON text (what `nhs-organisations openapi` prints).
pub fn json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut text = doc.to_pretty_json().unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}

static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(json);

/// `GET /v1/openapi.json`.
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}
