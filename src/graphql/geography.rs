//! GraphQL types of `crate::geography`: boundaries and centroids of the areas, `locate` and
//! `organisationsNear`. Only mapping; the rules are in `crate::geography`.
use std::sync::Arc;

use async_graphql::{Context, Json, Object, Result, SimpleObject};

use super::loaders::{one_on_day, snapshot};
use super::types::{
    Country, IntegratedCareBoard, LocalHealthBoard, LondonBorough, NhsEnglandRegion, Organisation,
};
use crate::geography::{self, Bounded, LonLat};
use crate::snapshot::Day;

/// A point in WGS84 decimal degrees.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct Centroid {
    /// Latitude (WGS84 decimal degrees).
    pub latitude: f64,
    /// Longitude (WGS84 decimal degrees).
    pub longitude: f64,
}

impl From<LonLat> for Centroid {
    fn from((longitude, latitude): LonLat) -> Self {
        Self {
            latitude,
            longitude,
        }
    }
}

/// `boundary(simplifyMetres:)` of any area type.
pub async fn boundary<M: Bounded>(
    ctx: &Context<'_>,
    m: &M,
    day: Day,
    simplify_metres: Option<f64>,
) -> Result<Option<Json<serde_json::Value>>> {
    let tolerance = geography::tolerance(simplify_metres, "simplifyMetres")?;
    let s = snapshot(ctx).await?;
    Ok(geography::boundary(s, m, day, tolerance)?
        .ok()
        .map(|g| Json(g.as_ref().clone())))
}

/// `boundaryUnknownReason` of any area type.
pub async fn unknown_reason<M: Bounded>(
    ctx: &Context<'_>,
    m: &M,
    day: Day,
) -> Result<Option<String>> {
    let s = snapshot(ctx).await?;
    Ok(geography::boundary(s, m, day, 0.0)?.err())
}

/// `centroid` of any area type.
pub async fn centroid<M: Bounded>(ctx: &Context<'_>, m: &M, day: Day) -> Result<Option<Centroid>> {
    let s = snapshot(ctx).await?;
    Ok(geography::centroid(s, m, day)?.map(Centroid::from))
}

/// The areas whose boundaries hold a point on the day.
pub struct Location {
    pub inner: geography::Location,
    pub point: LonLat,
    pub day: Day,
}

/// The areas whose boundaries hold a point on the day (each null where none does, e.g. at
/// sea, or where the area there on that day is unknown: see `warnings`).
#[Object]
impl Location {
    /// The latitude asked about.
    async fn latitude(&self) -> f64 {
        self.point.1
    }

    /// The longitude asked about.
    async fn longitude(&self) -> f64 {
        self.point.0
    }

    /// The country whose boundary holds the point.
    async fn country(&self) -> Option<Country> {
        self.inner.country.clone().map(|m| one_on_day(m, self.day))
    }

    /// The NHS England region whose boundary holds the point.
    async fn nhs_england_region(&self) -> Option<NhsEnglandRegion> {
        self.inner
            .nhs_england_region
            .clone()
            .map(|m| one_on_day(m, self.day))
    }

    /// The Integrated Care Board whose boundary holds the point.
    async fn integrated_care_board(&self) -> Option<IntegratedCareBoard> {
        self.inner
            .integrated_care_board
            .clone()
            .map(|m| one_on_day(m, self.day))
    }

    /// The Welsh Local Health Board whose boundary holds the point.
    async fn local_health_board(&self) -> Option<LocalHealthBoard> {
        self.inner
            .local_health_board
            .clone()
            .map(|m| one_on_day(m, self.day))
    }

    /// The London borough whose boundary holds the point.
    async fn london_borough(&self) -> Option<LondonBorough> {
        self.inner
            .london_borough
            .clone()
            .map(|m| one_on_day(m, self.day))
    }

    /// Levels whose area at this point on the day is unknown (e.g. a board split by a
    /// reorganisation, whose parts have no published boundary), and why.
    async fn warnings(&self) -> &Vec<String> {
        &self.inner.warnings
    }
}

/// A site and its great-circle distance from the point asked about.
#[derive(SimpleObject)]
pub struct OrganisationDistance {
    /// The site.
    pub organisation: Organisation,
    /// Great-circle distance in km (haversine on the GRS80 mean radius, 6,371.0088 km).
    pub distance_km: f64,
}

/// Wraps the sites `geography::near` found, as one level (their edges load in one batch).
pub fn distances(
    list: Vec<(Arc<crate::entities::organisation::Model>, f64)>,
    day: Day,
) -> Vec<OrganisationDistance> {
    let (sites, km): (Vec<_>, Vec<_>) = list.into_iter().unzip();
    super::loaders::on_day::<_, Organisation>(sites, day)
        .into_iter()
        .zip(km)
        .map(|(organisation, distance_km)| OrganisationDistance {
            organisation,
            distance_km,
        })
        .collect()
}

/// What is wrong with a site's placement (rules in `docs/seeding.md`, "Spatial check").
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum GeographyIssueKind {
    /// The site has no latitude or longitude.
    NoCoordinates,
    /// The coordinates are in no UK country (more than 500 m outside every one).
    OutsideUk,
    /// More than 500 m outside the boundary of the site's country.
    OutsideCountry,
    /// More than 500 m outside the boundary of the site's NHS England region.
    OutsideRegion,
    /// More than 500 m outside the boundary of the site's Integrated Care Board.
    OutsideIntegratedCareBoard,
    /// More than 500 m outside the boundary of the site's Local Health Board.
    OutsideLocalHealthBoard,
    /// More than 500 m outside the boundary of the site's London borough.
    OutsideLondonBorough,
}

impl From<geography::check::IssueKind> for GeographyIssueKind {
    fn from(k: geography::check::IssueKind) -> Self {
        use geography::check::IssueKind as K;
        match k {
            K::NoCoordinates => Self::NoCoordinates,
            K::OutsideUk => Self::OutsideUk,
            K::OutsideCountry => Self::OutsideCountry,
            K::OutsideRegion => Self::OutsideRegion,
            K::OutsideIntegratedCareBoard => Self::OutsideIntegratedCareBoard,
            K::OutsideLocalHealthBoard => Self::OutsideLocalHealthBoard,
            K::OutsideLondonBorough => Self::OutsideLondonBorough,
        }
    }
}

/// One site whose coordinates disagree with where we place it.
#[derive(SimpleObject, Clone, Debug)]
pub struct GeographyIssue {
    /// ODS code of the site.
    pub ods_code: String,
    /// Name of the site.
    pub name: String,
    /// What is wrong.
    pub kind: GeographyIssueKind,
    /// Code of the area we place the site in at that level (ODS code; region code; GSS code
    /// for boroughs and countries).
    pub assigned: Option<String>,
    /// Code of the area of that level whose boundary holds the coordinates; null where none
    /// does (or its holder on the day is unknown).
    pub found: Option<String>,
    /// How far outside the assigned area's boundary the coordinates are, in km.
    pub distance_km: Option<f64>,
    /// True when the site and kind are in the reviewed list of the bundled data
    /// (`data/supplement/known_geography_issues.json`); false for a new issue.
    pub known: bool,
    /// The reviewed list's case for it (`docs/seeding.md`), e.g. `trust-serves-several-areas`.
    pub reason: Option<String>,
}

impl From<geography::check::Issue> for GeographyIssue {
    fn from(i: geography::check::Issue) -> Self {
        Self {
            ods_code: i.ods_code,
            name: i.name,
            kind: i.kind.into(),
            assigned: i.assigned,
            found: i.found,
            distance_km: i.distance_km,
            known: i.known,
            reason: i.reason,
        }
    }
}
