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
