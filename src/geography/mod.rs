//! Geography: the bundled boundaries of ICBs, Local Health Boards, NHS England regions, London
//! boroughs and countries, served in WGS84; which areas hold a point; the sites near a point;
//! and the check of every site's coordinates against the areas we place it in. Every rule is
//! here; GraphQL, REST and the CLI only map types. Nothing reads the database: boundaries are
//! bundled and prepared once per process, sites come from the snapshot.
pub mod atlas;
pub mod check;
pub mod dated;
pub mod shapes;
pub mod sites;
pub mod transform;

use std::sync::Arc;

use geo::{Distance, Haversine, Point};
use serde_json::Value;

pub use atlas::{atlas, Atlas, BoundaryKind};
pub use dated::{Bounded, Resolved};
pub use transform::LonLat;

use crate::directory::{self, OrganisationFilter};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    organisation,
};
use crate::errors::{AppError, AppResult};
use crate::snapshot::{Day, Snapshot};

/// Largest simplification tolerance, in metres: beyond it the shapes are unrecognisable.
pub const MAX_SIMPLIFY_METRES: f64 = 50_000.0;
/// Largest radius of `organisationsNear`, in km.
pub const MAX_RADIUS_KM: f64 = 1_000.0;
/// Most sites `organisationsNear` returns, and how many it returns when no limit is given.
pub const MAX_NEAR: i32 = 1_000;
pub const DEFAULT_NEAR: i32 = 100;

/// A point a client sent, checked: `(longitude, latitude)`.
pub fn point(latitude: f64, longitude: f64) -> AppResult<LonLat> {
    if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
        return Err(AppError::BadUserInput(format!(
            "`latitude` must be a number from -90 to 90, not {latitude}."
        )));
    }
    if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
        return Err(AppError::BadUserInput(format!(
            "`longitude` must be a number from -180 to 180, not {longitude}."
        )));
    }
    Ok((longitude, latitude))
}

/// A simplification tolerance a client sent (`None` = as published).
pub fn tolerance(metres: Option<f64>, name: &str) -> AppResult<f64> {
    match metres {
        None => Ok(0.0),
        Some(m) if m.is_finite() && (0.0..=MAX_SIMPLIFY_METRES).contains(&m) => Ok(m),
        Some(m) => Err(AppError::BadUserInput(format!(
            "`{name}` must be a number of metres from 0 to {MAX_SIMPLIFY_METRES}, not {m}."
        ))),
    }
}

/// A record's boundary on a day: a GeoJSON geometry (WGS84, RFC 7946), or why it is unknown.
pub fn boundary<M: Bounded>(
    s: &Snapshot,
    m: &M,
    day: Day,
    tolerance: f64,
) -> AppResult<Result<Arc<Value>, String>> {
    let atlas = atlas()?;
    Ok(match dated::resolve::<M>(atlas, s, m.code(), day) {
        Resolved::Known(parts) => Ok(shapes::geometry(atlas, &parts, tolerance)),
        Resolved::Unknown(why) => Err(why),
    })
}

/// A record's centroid on a day (`None` when its boundary is unknown).
pub fn centroid<M: Bounded>(s: &Snapshot, m: &M, day: Day) -> AppResult<Option<LonLat>> {
    let atlas = atlas()?;
    Ok(match dated::resolve::<M>(atlas, s, m.code(), day) {
        Resolved::Known(parts) => shapes::centroid(atlas, &parts),
        Resolved::Unknown(_) => None,
    })
}

/// One record's area on a day, for a map.
#[derive(Clone, Debug)]
pub struct AreaFeature {
    /// GSS code of its bundled boundary, when it has one.
    pub code: Option<String>,
    pub name: Option<String>,
    /// ODS code (region code for a region), when it has one.
    pub ods_code: Option<String>,
    /// GeoJSON geometry, or why it is unknown.
    pub geometry: Result<Arc<Value>, String>,
}

fn features_of<M: Bounded>(s: &Snapshot, day: Day, tolerance: f64) -> AppResult<Vec<AreaFeature>> {
    let atlas = atlas()?;
    Ok(directory::all::<M>(s, day)
        .into_iter()
        .map(|m| AreaFeature {
            code: m.boundary_code().map(str::to_string),
            name: m.name().map(str::to_string),
            ods_code: m.ods_code().map(str::to_string),
            geometry: match dated::resolve::<M>(atlas, s, m.code(), day) {
                Resolved::Known(parts) => Ok(shapes::geometry(atlas, &parts, tolerance)),
                Resolved::Unknown(why) => Err(why),
            },
        })
        .collect())
}

/// Every record of a kind there on a day, in list order, with its area (for a GeoJSON
/// FeatureCollection).
pub fn features(
    s: &Snapshot,
    kind: BoundaryKind,
    day: Day,
    tolerance: f64,
) -> AppResult<Vec<AreaFeature>> {
    match kind {
        BoundaryKind::IntegratedCareBoards => {
            features_of::<integrated_care_board::Model>(s, day, tolerance)
        }
        BoundaryKind::LocalHealthBoards => {
            features_of::<local_health_board::Model>(s, day, tolerance)
        }
        BoundaryKind::NhsEnglandRegions => {
            features_of::<nhs_england_region::Model>(s, day, tolerance)
        }
        BoundaryKind::LondonBoroughs => features_of::<london_borough::Model>(s, day, tolerance),
        BoundaryKind::Countries => features_of::<country::Model>(s, day, tolerance),
    }
}

/// The areas that hold a point on a day.
#[derive(Clone, Debug, Default)]
pub struct Location {
    pub country: Option<Arc<country::Model>>,
    pub nhs_england_region: Option<Arc<nhs_england_region::Model>>,
    pub integrated_care_board: Option<Arc<integrated_care_board::Model>>,
    pub local_health_board: Option<Arc<local_health_board::Model>>,
    pub london_borough: Option<Arc<london_borough::Model>>,
    /// Where the area of a level on that day is not known.
    pub warnings: Vec<String>,
}

pub(crate) fn holder_at<M: Bounded>(
    atlas: &Atlas,
    s: &Snapshot,
    point: LonLat,
    day: Day,
    warnings: &mut Vec<String>,
) -> Option<Arc<M>> {
    for area in atlas.containing(M::KIND, point) {
        match dated::holder::<M>(atlas, s, area, day) {
            Ok(Some(m)) => return Some(m.clone()),
            Ok(None) => {}
            Err(why) => {
                warnings.push(why);
                return None;
            }
        }
    }
    None
}

/// The country, region, ICB, Local Health Board and London borough whose boundary holds the
/// point on `day` (a point on a shared edge goes to the first area by GSS code).
pub fn locate(s: &Snapshot, point: LonLat, day: Day) -> AppResult<Location> {
    let atlas = atlas()?;
    let mut w = Vec::new();
    Ok(Location {
        country: holder_at(atlas, s, point, day, &mut w),
        nhs_england_region: holder_at(atlas, s, point, day, &mut w),
        integrated_care_board: holder_at(atlas, s, point, day, &mut w),
        local_health_board: holder_at(atlas, s, point, day, &mut w),
        london_borough: holder_at(atlas, s, point, day, &mut w),
        warnings: w,
    })
}

/// Great-circle distance in km (haversine on the GRS80 mean radius).
pub fn distance_km(a: LonLat, b: LonLat) -> f64 {
    Haversine.distance(Point::new(a.0, a.1), Point::new(b.0, b.1)) / 1000.0
}

/// The sites there on `day` that match `filter` within `radius_km` of the point, nearest
/// first (then by ODS code), with their distances in km.
pub fn near(
    s: &Snapshot,
    point: LonLat,
    radius_km: f64,
    limit: Option<i32>,
    filter: &OrganisationFilter,
    day: Day,
) -> AppResult<Vec<(Arc<organisation::Model>, f64)>> {
    if !radius_km.is_finite() || radius_km <= 0.0 || radius_km > MAX_RADIUS_KM {
        return Err(AppError::BadUserInput(format!(
            "`radiusKm` must be more than 0 and at most {MAX_RADIUS_KM}, not {radius_km}."
        )));
    }
    let limit = limit.unwrap_or(DEFAULT_NEAR);
    if !(0..=MAX_NEAR).contains(&limit) {
        return Err(AppError::BadUserInput(format!(
            "`limit` must be from 0 to {MAX_NEAR}, not {limit}."
        )));
    }
    let matches = directory::site_matcher(s, filter, day)?;
    let mut found: Vec<(Arc<organisation::Model>, f64)> = sites::candidates(s, point, radius_km)
        .into_iter()
        .filter_map(|id| {
            let m = s.organisations.get(id)?.on(day)?;
            let (lat, lon) = (m.latitude?, m.longitude?);
            let d = distance_km(point, (lon, lat));
            (d <= radius_km && matches(m)).then(|| (m.clone(), d))
        })
        .collect();
    found.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then_with(|| a.0.ods_code.cmp(&b.0.ods_code))
    });
    found.truncate(limit as usize);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_tolerances_outside_their_ranges_are_bad_user_input() {
        let bad = |r: AppResult<LonLat>| matches!(r, Err(AppError::BadUserInput(_)));
        assert!(bad(point(f64::NAN, 0.0)));
        assert!(bad(point(0.0, f64::INFINITY)));
        assert!(bad(point(90.000_001, 0.0)));
        assert!(bad(point(0.0, -180.000_001)));
        assert_eq!(point(-90.0, 180.0).ok(), Some((180.0, -90.0)));
        for t in [f64::NAN, f64::NEG_INFINITY, -0.1, MAX_SIMPLIFY_METRES + 1.0] {
            assert!(tolerance(Some(t), "simplify").is_err(), "{t}");
        }
        assert_eq!(tolerance(None, "simplify").ok(), Some(0.0));
    }

    #[test]
    fn great_circle_distances() {
        // London to Paris is about 344 km; a degree of latitude about 111 km.
        let km = distance_km((-0.1276, 51.5072), (2.3522, 48.8566));
        assert!((km - 344.0).abs() < 2.0, "{km}");
        assert!((distance_km((0.0, 52.0), (0.0, 53.0)) - 111.2).abs() < 0.5);
    }
}
