//! The REST compatibility routes under `/v1/`: the paths and JSON shapes of the service this
//! one replaces (see `docs/rest.md`), answered from the same pinned snapshot and read
//! services (`crate::directory`) as GraphQL, with the same ETags, response cache and rate
//! limit. This module only parses parameters, calls the read services and maps to
//! `shapes`; it holds no rules of its own.
pub mod map;
pub mod openapi;
pub mod shapes;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::codes::OdsCode;
use crate::directory::{self, OrganisationFilter, Page, TrustFilter};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_unit,
};
use crate::errors::AppError;
use crate::response_cache::{CacheKey, ResponseCache};
use crate::snapshot::{edges, Day, Snapshot, SnapshotStore};

use shapes::*;

/// What the REST handlers need: the snapshot store and the shared response cache.
#[derive(Clone)]
pub struct RestState {
    /// The read model (the same store GraphQL reads).
    pub store: Arc<SnapshotStore>,
    /// The response cache shared with `/graphql` (`None` when off).
    pub cache: Option<Arc<ResponseCache>>,
}

/// Why a REST request failed: the status and the `detail` sentence.
#[derive(Debug)]
pub enum RestError {
    /// 400: a parameter is malformed.
    BadRequest(String),
    /// 404: no such record (on that day).
    NotFound(String),
    /// 500: our fault; the detail goes to the log only.
    Internal(String),
}

impl From<AppError> for RestError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::BadUserInput(m) => RestError::BadRequest(m),
            AppError::NotFound(m) => RestError::NotFound(m),
            other => RestError::Internal(other.to_string()),
        }
    }
}

/// A `{"detail": ...}` response.
pub fn detail(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&Detail {
        detail: message.to_string(),
    })
    .unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        match self {
            RestError::BadRequest(m) => detail(StatusCode::BAD_REQUEST, &m),
            RestError::NotFound(m) => detail(StatusCode::NOT_FOUND, &m),
            RestError::Internal(m) => {
                tracing::error!(error = %m, "REST request failed");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error; retry later or report the x-request-id of this response.",
                )
            }
        }
    }
}

type RestResult<T> = Result<T, RestError>;

/// The query parameters of a request, in the order sent.
pub struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri) -> RestResult<Self> {
        serde_urlencoded::from_str(uri.query().unwrap_or(""))
            .map(Params)
            .map_err(|_| RestError::BadRequest("The query string could not be decoded.".into()))
    }

    /// The last value of a parameter, when sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn date(&self, name: &str, message: &str) -> RestResult<Option<Day>> {
        self.get(name)
            .map(|v| {
                Day::parse_from_str(v.trim(), "%Y-%m-%d")
                    .map_err(|_| RestError::BadRequest(message.to_string()))
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> RestResult<Option<bool>> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if v == "true" || v == "1" => Ok(Some(true)),
            Some(v) if v == "false" || v == "0" => Ok(Some(false)),
            Some(_) => Err(RestError::BadRequest(format!(
                "`{name}` must be true or false."
            ))),
        }
    }
}

/// Pins a snapshot, works out the day, and answers with an ETag (304 when the client has it)
/// from the response cache or from `build`.
async fn answer<T, F>(st: &RestState, headers: &HeaderMap, uri: &Uri, build: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Snapshot, Day, &Params) -> RestResult<T>,
{
    match try_answer(st, headers, uri, build).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn try_answer<T, F>(
    st: &RestState,
    headers: &HeaderMap,
    uri: &Uri,
    build: F,
) -> RestResult<Response>
where
    T: Serialize,
    F: FnOnce(&Snapshot, Day, &Params) -> RestResult<T>,
{
    let params = Params::parse(uri)?;
    let as_of = params.date("as_of", "Invalid as_of date format. Use YYYY-MM-DD.")?;
    let snapshot = st.store.pinned().await?;
    let today = chrono::Utc::now().date_naive();
    let day = directory::day(&snapshot, as_of, today).map_err(|_| {
        RestError::BadRequest(format!(
            "as_of is before {}, the first day the data describes; ask for that day or later.",
            snapshot.history_starts_on
        ))
    })?;
    let route = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    let key = CacheKey::for_route(snapshot.version, today, route);
    let etag = key.etag();
    if crate::http::not_modified(headers, &etag) {
        return Ok(crate::http::cached_response(
            StatusCode::NOT_MODIFIED,
            &etag,
            None,
            true,
        ));
    }
    if let Some(body) = st.cache.as_ref().and_then(|c| c.get(&key)) {
        return Ok(crate::http::cached_response(
            StatusCode::OK,
            &etag,
            Some(body),
            true,
        ));
    }
    let value = build(&snapshot, day, &params)?;
    let body =
        Bytes::from(serde_json::to_vec(&value).map_err(|e| RestError::Internal(e.to_string()))?);
    if let Some(cache) = &st.cache {
        cache.insert(key, body.clone());
    }
    Ok(crate::http::cached_response(
        StatusCode::OK,
        &etag,
        Some(body),
        false,
    ))
}

fn not_found(kind: &str, code: &str) -> RestError {
    let shown: String = code.chars().take(16).collect();
    RestError::NotFound(format!("No {kind} with code {shown}."))
}

/// The REST routes (to be nested under `/v1`), each with and without the trailing slash.
pub fn router(state: RestState) -> Router {
    let mut r: Router<RestState> = Router::new();
    macro_rules! both {
        ($path:literal, $handler:expr) => {
            r = r
                .route($path, get($handler))
                .route(concat!($path, "/"), get($handler));
        };
    }
    both!("/organisations", organisations);
    both!("/organisations/limited", organisations_limited);
    both!(
        "/organisations/paediatric-diabetes-units",
        organisations_with_units
    );
    both!("/organisations/{ods_code}", organisation_one);
    both!("/organisations/{ods_code}/snapshot", organisation_snapshot);
    both!("/trusts", trusts);
    both!("/trusts/{ods_code}", trust_one);
    both!("/local_health_boards", local_health_boards);
    both!(
        "/local_health_boards/organisations",
        local_health_boards_organisations
    );
    both!("/integrated_care_boards", integrated_care_boards);
    both!(
        "/integrated_care_boards/organisations",
        integrated_care_boards_organisations
    );
    both!("/nhs_england_regions", nhs_england_regions);
    both!(
        "/nhs_england_regions/organisations",
        nhs_england_regions_organisations
    );
    both!("/london_boroughs", london_boroughs);
    both!(
        "/london_boroughs/organisations",
        london_boroughs_organisations
    );
    both!("/countries", countries);
    both!("/openuk_networks", openuk_networks);
    both!("/paediatric_diabetes_units", units);
    both!("/paediatric_diabetes_units/parent", units_parent);
    both!("/paediatric_diabetes_units/{pz_code}/parent", unit_parent);
    both!("/paediatric_diabetes_units/extended", units_extended);
    both!(
        "/paediatric_diabetes_units/organisations",
        units_organisations
    );
    both!(
        "/paediatric_diabetes_units/sibling-organisations/{ods_code}",
        unit_siblings
    );
    r.route("/openapi.json", get(openapi::document))
        .fallback(|| async {
            detail(
                StatusCode::NOT_FOUND,
                "No such route; the routes are listed in /v1/openapi.json.",
            )
        })
        .with_state(state)
}

/// `/boundaries/{kind}.geojson` (outside `/v1`: a route of this service, not of the old one),
/// with the same ETags, response cache and rate limit as the REST routes.
pub fn boundaries_router(state: RestState) -> Router {
    Router::new()
        .route("/{file}", get(boundaries))
        .fallback(|| async { detail(StatusCode::NOT_FOUND, BOUNDARY_KINDS) })
        .with_state(state)
}

const BOUNDARY_KINDS: &str = "No such boundary set; ask for /boundaries/integrated-care-boards.geojson, local-health-boards.geojson, nhs-england-regions.geojson, london-boroughs.geojson or countries.geojson.";

type St = State<RestState>;

/// The code in a route's path; a segment that cannot be decoded is a 400 with a detail.
pub struct Code(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Code {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(c)| Code(c))
            .map_err(|_| RestError::BadRequest("The code in the path could not be decoded.".into()))
    }
}

fn sorted<M: crate::snapshot::Kind>(mut list: Vec<Arc<M>>, descending: bool) -> Vec<Arc<M>> {
    directory::collated(&mut list, descending);
    list
}

fn site_filter(p: &Params) -> RestResult<OrganisationFilter> {
    Ok(OrganisationFilter {
        ods_codes: p.get("ods_code").map(|c| vec![c.to_string()]),
        active: p.flag("active")?,
        ..Default::default()
    })
}

fn sites(
    s: &Snapshot,
    day: Day,
    filter: &OrganisationFilter,
    p: &Params,
) -> RestResult<Vec<Arc<organisation::Model>>> {
    let mut list = directory::organisations(s, filter, Page::default(), day)?;
    if let Some(name) = p.get("name") {
        list.retain(|m| m.name == name);
    }
    Ok(sorted(list, false))
}

/// `GET /organisations/`: every site with its parents, by name (`?ods_code=`, `?name=`,
/// `?active=` filter exactly).
#[utoipa::path(get, path = "/v1/organisations/", tag = "organisations", description = "Every site with its parents, by name; `ods_code`, `name` and `active` filter exactly.", params(openapi::SiteQuery), responses((status = 200, description = "Every site with its parents, by name", body = Vec<Org>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let list = sites(s, day, &site_filter(p)?, p)?;
        Ok(list.iter().map(|m| map::org(s, m, day)).collect::<Vec<_>>())
    })
    .await
}

/// `GET /organisations/limited/`: every site's code and name, by name.
#[utoipa::path(get, path = "/v1/organisations/limited/", tag = "organisations", description = "Every site's code and name, by name.", params(openapi::SiteQuery), responses((status = 200, description = "Every site's code and name, by name", body = Vec<OrgMin>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn organisations_limited(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let list = sites(s, day, &site_filter(p)?, p)?;
        Ok(map::org_mins(&list))
    })
    .await
}

/// `GET /organisations/paediatric-diabetes-units`: the sites that have a unit, by name.
#[utoipa::path(get, path = "/v1/organisations/paediatric-diabetes-units", tag = "organisations", description = "The sites that have a Paediatric Diabetes Unit, with their parents, by name.", params(openapi::SiteQuery), responses((status = 200, description = "The sites that have a Paediatric Diabetes Unit, with their parents, by name", body = Vec<Org>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn organisations_with_units(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let filter = OrganisationFilter {
            has_paediatric_diabetes_unit: Some(true),
            ..site_filter(p)?
        };
        let list = sites(s, day, &filter, p)?;
        Ok(list.iter().map(|m| map::org(s, m, day)).collect::<Vec<_>>())
    })
    .await
}

/// `GET /organisations/{ods_code}/`: one site with its parents.
#[utoipa::path(get, path = "/v1/organisations/{ods_code}/", tag = "organisations", description = "One site with its parents.", params(("ods_code" = String, Path, description = "ODS code of the site", example = "RGT01"), openapi::AsOfQuery), responses((status = 200, description = "One site with its parents", body = Org), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn organisation_one(State(st): St, Code(code): Code, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let m = directory::organisation(s, &OdsCode::parse(&code)?, day)
            .ok_or_else(|| not_found("organisation", &code))?;
        Ok(map::org(s, &m, day))
    })
    .await
}

/// `GET /organisations/{ods_code}/snapshot/?date=`: a site as it was on a day, or its
/// predecessor's state when the code did not exist yet.
#[utoipa::path(get, path = "/v1/organisations/{ods_code}/snapshot/", tag = "organisations", description = "A site as it was on `date` (default: `as_of`, else today); when the code did not exist yet, its predecessor's state with `predecessor_ods_code` set.", params(("ods_code" = String, Path, description = "ODS code of the site", example = "RGT01"), openapi::SnapshotQuery), responses((status = 200, description = "A site as it was on `date` (default: `as_of`, else today)", body = SiteSnapshot), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn organisation_snapshot(
    State(st): St,
    Code(code): Code,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let date = p
            .date("date", "Invalid date format. Use YYYY-MM-DD.")?
            .unwrap_or(day);
        let date = directory::day(s, Some(date), day)?;
        let (m, predecessor) = directory::site_on_or_predecessor(s, &OdsCode::parse(&code)?, date)
            .ok_or_else(|| {
                RestError::NotFound(format!(
                    "No organisation {} (or predecessor) on {date}.",
                    code.chars().take(16).collect::<String>()
                ))
            })?;
        Ok(map::site_snapshot(s, &m, date, predecessor))
    })
    .await
}

/// `GET /trusts/`: every trust with its sites, by name.
#[utoipa::path(get, path = "/v1/trusts/", tag = "trusts", description = "Every trust with its sites, by name; `ods_code`, `name` and `active` filter exactly.", params(openapi::SiteQuery), responses((status = 200, description = "Every trust with its sites, by name", body = Vec<TrustWithSites>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn trusts(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let filter = TrustFilter {
            ods_codes: p.get("ods_code").map(|c| vec![c.to_string()]),
            active: p.flag("active")?,
            ..Default::default()
        };
        let mut list = directory::trusts(s, &filter, Page::default(), day)?;
        if let Some(name) = p.get("name") {
            list.retain(|m| m.name == name);
        }
        let list = sorted(list, false);
        Ok(list
            .iter()
            .map(|t| map::trust_with_sites(s, t, day))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /trusts/{ods_code}/`: one trust with its sites.
#[utoipa::path(get, path = "/v1/trusts/{ods_code}/", tag = "trusts", description = "One trust with its sites.", params(("ods_code" = String, Path, description = "ODS code of the trust", example = "RGT"), openapi::AsOfQuery), responses((status = 200, description = "One trust with its sites", body = TrustWithSites), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn trust_one(State(st): St, Code(code): Code, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let t = directory::trust(s, &OdsCode::parse(&code)?, day)
            .ok_or_else(|| not_found("trust", &code))?;
        Ok(map::trust_with_sites(s, &t, day))
    })
    .await
}

/// `GET /local_health_boards/`: every board, name descending.
#[utoipa::path(get, path = "/v1/local_health_boards/", tag = "local_health_boards", description = "Every Local Health Board, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every Local Health Board, name descending", body = Vec<LocalHealthBoard>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn local_health_boards(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<local_health_board::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| map::local_health_board(m))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /local_health_boards/organisations/`: every board with its sites, name descending.
#[utoipa::path(get, path = "/v1/local_health_boards/organisations/", tag = "local_health_boards", description = "Every Local Health Board with its sites, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every Local Health Board with its sites, name descending", body = Vec<LhbOrganisations>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn local_health_boards_organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<local_health_board::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| LhbOrganisations {
                ods_code: m.ods_code.clone(),
                boundary_identifier: m.boundary_identifier.clone(),
                name: m.name.clone(),
                organisations: children(s, edges::SITE_LOCAL_HEALTH_BOARD, m.id, day),
            })
            .collect::<Vec<_>>())
    })
    .await
}

fn children<P: crate::snapshot::Kind>(
    s: &Snapshot,
    e: crate::snapshot::EdgeDef<organisation::Model, P>,
    id: i32,
    day: Day,
) -> Vec<OrgMin> {
    let list: Vec<Arc<organisation::Model>> = s.children(e, id, day).into_iter().cloned().collect();
    map::org_mins(&sorted(list, false))
}

/// `GET /integrated_care_boards/`: every ICB, by name.
#[utoipa::path(get, path = "/v1/integrated_care_boards/", tag = "integrated_care_boards", description = "Every Integrated Care Board, by name.", params(openapi::AsOfQuery), responses((status = 200, description = "Every Integrated Care Board, by name", body = Vec<IntegratedCareBoard>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn integrated_care_boards(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(
            directory::all::<integrated_care_board::Model>(s, day),
            false,
        );
        Ok(list
            .iter()
            .map(|m| map::integrated_care_board(m))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /integrated_care_boards/organisations/`: every ICB with its sites, by name.
#[utoipa::path(get, path = "/v1/integrated_care_boards/organisations/", tag = "integrated_care_boards", description = "Every Integrated Care Board with its sites, by name.", params(openapi::AsOfQuery), responses((status = 200, description = "Every Integrated Care Board with its sites, by name", body = Vec<IcbOrganisations>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn integrated_care_boards_organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(
            directory::all::<integrated_care_board::Model>(s, day),
            false,
        );
        Ok(list
            .iter()
            .map(|m| IcbOrganisations {
                boundary_identifier: m.boundary_identifier.clone(),
                name: m.name.clone(),
                ods_code: m.ods_code.clone(),
                publication_date: Some(crate::boundaries::INTEGRATED_CARE_BOARDS_PUBLISHED.into()),
                organisations: children(s, edges::SITE_INTEGRATED_CARE_BOARD, m.id, day),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /nhs_england_regions/`: every region, name descending.
#[utoipa::path(get, path = "/v1/nhs_england_regions/", tag = "nhs_england_regions", description = "Every NHS England region, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every NHS England region, name descending", body = Vec<NhsEnglandRegion>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn nhs_england_regions(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<nhs_england_region::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| map::nhs_england_region(m))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /nhs_england_regions/organisations/`: every region with its sites, name descending.
#[utoipa::path(get, path = "/v1/nhs_england_regions/organisations/", tag = "nhs_england_regions", description = "Every NHS England region with its sites, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every NHS England region with its sites, name descending", body = Vec<RegionOrganisations>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn nhs_england_regions_organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<nhs_england_region::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| RegionOrganisations {
                region_code: m.region_code.clone(),
                publication_date: Some(crate::boundaries::NHS_ENGLAND_REGIONS_PUBLISHED.into()),
                boundary_identifier: m.boundary_identifier.clone(),
                name: m.name.clone(),
                organisations: children(s, edges::SITE_NHS_ENGLAND_REGION, m.id, day),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /london_boroughs/`: every borough, name descending.
#[utoipa::path(get, path = "/v1/london_boroughs/", tag = "london_boroughs", description = "Every London borough, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every London borough, name descending", body = Vec<LondonBorough>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn london_boroughs(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<london_borough::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| map::london_borough(m))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /london_boroughs/organisations/`: every borough with its sites, name descending.
#[utoipa::path(get, path = "/v1/london_boroughs/organisations/", tag = "london_boroughs", description = "Every London borough with its sites, name descending.", params(openapi::AsOfQuery), responses((status = 200, description = "Every London borough with its sites, name descending", body = Vec<BoroughOrganisations>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn london_boroughs_organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<london_borough::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| BoroughOrganisations {
                name: m.name.clone(),
                gss_code: m.gss_code.clone(),
                organisations: children(s, edges::SITE_LONDON_BOROUGH, m.id, day),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /countries/?fields=a,b`: every country, name descending, with the asked fields
/// (unknown names dropped; none left means all).
#[utoipa::path(get, path = "/v1/countries/", tag = "countries", description = "Every country, name descending, with the fields named in `fields` (unknown names dropped; none left means all).", params(openapi::CountryQuery), responses((status = 200, description = "Every country, name descending, with the fields named in `fields` (unknown names dropped", body = Vec<Country>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn countries(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let mut fields = [false; 8];
        for f in p.get("fields").unwrap_or("").split(',') {
            if let Some(i) = COUNTRY_FIELDS.iter().position(|k| *k == f.trim()) {
                fields[i] = true;
            }
        }
        if !fields.iter().any(|f| *f) {
            fields = [true; 8];
        }
        let list = sorted(directory::all::<country::Model>(s, day), true);
        Ok(list
            .iter()
            .map(|m| map::country(m, fields))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /openuk_networks/`: every OPEN UK network, by name.
#[utoipa::path(get, path = "/v1/openuk_networks/", tag = "openuk_networks", description = "Every OPEN UK paediatric epilepsy network, by name.", params(openapi::AsOfQuery), responses((status = 200, description = "Every OPEN UK paediatric epilepsy network, by name", body = Vec<OpenUkNetwork>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn openuk_networks(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let list = sorted(directory::all::<open_uk_network::Model>(s, day), false);
        Ok(list
            .iter()
            .map(|m| map::open_uk_network(m))
            .collect::<Vec<_>>())
    })
    .await
}

fn all_units(s: &Snapshot, day: Day) -> Vec<Arc<paediatric_diabetes_unit::Model>> {
    directory::all::<paediatric_diabetes_unit::Model>(s, day)
}

fn one_unit(
    s: &Snapshot,
    code: &str,
    day: Day,
) -> RestResult<Arc<paediatric_diabetes_unit::Model>> {
    let pz = crate::codes::PzCode::parse(code)?;
    directory::by_code::<paediatric_diabetes_unit::Model>(s, pz.as_str(), day)
        .ok_or_else(|| not_found("paediatric diabetes unit", pz.as_str()))
}

/// `GET /paediatric_diabetes_units/`: every unit with its sites, lead site and parent.
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/", tag = "paediatric_diabetes_units", description = "Every Paediatric Diabetes Unit with its sites, lead site and parent, by PZ code.", params(openapi::AsOfQuery), responses((status = 200, description = "Every Paediatric Diabetes Unit with its sites, lead site and parent, by PZ code", body = Vec<PduWithSites>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn units(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        Ok(all_units(s, day)
            .iter()
            .map(|u| map::pdu_with_sites(s, u, day))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /paediatric_diabetes_units/parent/`: every unit as the NPDA seeder reads it.
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/parent/", tag = "paediatric_diabetes_units", description = "Every unit as the NPDA seeder reads it, by PZ code.", params(openapi::AsOfQuery), responses((status = 200, description = "Every unit as the NPDA seeder reads it, by PZ code", body = Vec<PduParent>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn units_parent(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        Ok(all_units(s, day)
            .iter()
            .map(|u| map::pdu_parent(s, u, day))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /paediatric_diabetes_units/{pz_code}/parent/`: one unit as the NPDA seeder reads it
/// (a list of one, as the old service answered).
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/{pz_code}/parent/", tag = "paediatric_diabetes_units", description = "One unit as the NPDA seeder reads it (a list of one).", params(("pz_code" = String, Path, description = "PZ code of the unit", example = "PZ041"), openapi::AsOfQuery), responses((status = 200, description = "One unit as the NPDA seeder reads it (a list of one)", body = Vec<PduParent>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn unit_parent(State(st): St, Code(code): Code, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let u = one_unit(s, &code, day)?;
        Ok(vec![map::pdu_parent(s, &u, day)])
    })
    .await
}

/// `GET /paediatric_diabetes_units/extended/`: every unit's code.
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/extended/", tag = "paediatric_diabetes_units", description = "Every unit's PZ code.", params(openapi::AsOfQuery), responses((status = 200, description = "Every unit's PZ code", body = Vec<PzCode>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn units_extended(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        Ok(all_units(s, day)
            .iter()
            .map(|u| PzCode {
                pz_code: u.pz_code.clone(),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /paediatric_diabetes_units/organisations/[?pz_code=]`: units with their sites.
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/organisations/", tag = "paediatric_diabetes_units", description = "Units with their sites, by PZ code; `pz_code` picks one.", params(openapi::UnitQuery), responses((status = 200, description = "Units with their sites, by PZ code", body = Vec<PduOrganisations>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn units_organisations(State(st): St, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, p| {
        let list = match p.get("pz_code") {
            Some(code) => vec![one_unit(s, code, day)?],
            None => all_units(s, day),
        };
        Ok(list
            .iter()
            .map(|u| map::pdu_organisations(s, u, day))
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /paediatric_diabetes_units/sibling-organisations/{ods_code}/`: the unit of a site
/// with all its sites and their parents (`[]` when the site has no unit).
#[utoipa::path(get, path = "/v1/paediatric_diabetes_units/sibling-organisations/{ods_code}/", tag = "paediatric_diabetes_units", description = "The unit of a site with all its sites and their parents (`[]` when the site has no unit).", params(("ods_code" = String, Path, description = "ODS code of the site", example = "RGT01"), openapi::AsOfQuery), responses((status = 200, description = "The unit of a site with all its sites and their parents (`[]` when the site has no unit)", body = Vec<PduSiblings>), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such record on that day, or no such route", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn unit_siblings(State(st): St, Code(code): Code, h: HeaderMap, uri: Uri) -> Response {
    answer(&st, &h, &uri, |s, day, _| {
        let found = directory::pdu_siblings(s, &OdsCode::parse(&code)?, day)
            .ok_or_else(|| not_found("organisation", &code))?;
        Ok(found
            .into_iter()
            .map(|(unit, sites)| PduSiblings {
                pz_code: unit.pz_code.clone(),
                organisations: sorted(sites, false)
                    .iter()
                    .map(|m| SiblingSite {
                        ods_code: m.ods_code.clone(),
                        name: m.name.clone(),
                        parent: map::parent_of(s, m.id, day),
                    })
                    .collect(),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /boundaries/{kind}.geojson[?simplify=metres][&as_of=]`: every area of a kind there on
/// the day as a GeoJSON FeatureCollection in WGS84.
#[utoipa::path(get, path = "/boundaries/{kind}.geojson", tag = "boundaries", description = "Every area of a kind there on the day as a GeoJSON FeatureCollection (RFC 7946: WGS84, anticlockwise exterior rings), for map libraries to load directly; `code`, `name` and `ods_code` in each feature's properties. A board created by a merger has the union of the boards it took over; a feature whose boundary on that day is unknown has a null geometry and `boundary_unknown_reason`. Served as `application/geo+json`.", params(("kind" = String, Path, description = "`integrated-care-boards`, `local-health-boards`, `nhs-england-regions`, `london-boroughs` or `countries`", example = "integrated-care-boards"), openapi::BoundaryQuery), responses((status = 200, description = "The areas as a GeoJSON FeatureCollection", body = BoundaryCollection, content_type = "application/geo+json"), (status = 400, description = "A malformed parameter", body = Detail), (status = 404, description = "No such boundary set", body = Detail), (status = 429, description = "Too many requests from this client (see `Retry-After`); the budget is shared with /graphql", body = Detail)))]
async fn boundaries(State(st): St, Code(file): Code, h: HeaderMap, uri: Uri) -> Response {
    let mut resp = answer(&st, &h, &uri, |s, day, p| {
        let kind = file
            .strip_suffix(".geojson")
            .and_then(crate::geography::BoundaryKind::from_slug)
            .ok_or_else(|| RestError::NotFound(BOUNDARY_KINDS.into()))?;
        let metres = p
            .get("simplify")
            .map(|v| {
                v.trim().parse::<f64>().map_err(|_| {
                    RestError::BadRequest("`simplify` must be a number of metres.".into())
                })
            })
            .transpose()?;
        let tolerance = crate::geography::tolerance(metres, "simplify")?;
        Ok(map::boundary_collection(crate::geography::features(
            s, kind, day, tolerance,
        )?))
    })
    .await;
    if resp.status() == StatusCode::OK {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/geo+json"),
        );
    }
    resp
}
