//! An R-tree of every coordinate any site has held, built once per snapshot (on its first
//! `organisationsNear`) and kept in it, so that a radius search looks at the sites near the
//! point, not all of them.
use rstar::primitives::GeomWithData;
use rstar::{RTree, AABB};

use super::transform::LonLat;
use crate::snapshot::Snapshot;

/// The index: `[longitude, latitude]` to the site's id.
pub type SiteIndex = RTree<GeomWithData<[f64; 2], i32>>;

fn index(s: &Snapshot) -> &SiteIndex {
    s.site_points.get_or_init(|| {
        let mut entries = Vec::new();
        for r in s.organisations.iter() {
            let mut seen: Vec<[f64; 2]> = Vec::new();
            for (_, m) in &r.versions {
                if let (Some(lat), Some(lon)) = (m.latitude, m.longitude) {
                    if !seen.contains(&[lon, lat]) {
                        seen.push([lon, lat]);
                        entries.push(GeomWithData::new([lon, lat], r.id));
                    }
                }
            }
        }
        RTree::bulk_load(entries)
    })
}

/// Ids of the sites that have ever had coordinates within the box of `radius_km` around the
/// point (a superset: the caller checks the day's coordinates and the exact distance).
pub fn candidates(s: &Snapshot, point: LonLat, radius_km: f64) -> Vec<i32> {
    // A degree of latitude is at least 110.5 km; a degree of longitude shrinks with the cosine
    // of the latitude furthest from the equator within the box.
    let dlat = radius_km / 110.5;
    let far = (point.1.abs() + dlat).min(89.9).to_radians();
    let mut dlon = radius_km / (111.4 * far.cos());
    if point.0 - dlon < -180.0 || point.0 + dlon > 180.0 {
        // The box wraps round the antimeridian: every longitude.
        dlon = 540.0;
    }
    let envelope = AABB::from_corners(
        [point.0 - dlon, point.1 - dlat],
        [point.0 + dlon, point.1 + dlat],
    );
    let mut ids: Vec<i32> = index(s)
        .locate_in_envelope(&envelope)
        .map(|e| e.data)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
