//! Geometries as served: a union of bundled areas (merged once, in BNG metres), simplified by
//! a tolerance in metres, in WGS84 GeoJSON rounded to 6 decimals (about 0.1 m). Each answer is
//! kept, so that a geometry is merged, simplified and converted once, not per request.
use std::sync::Arc;

use geo::{BooleanOps, MapCoords, MultiPolygon, Simplify};
use moka::sync::Cache;
use serde_json::Value;

use super::atlas::{centroid_of, to_wgs84, Atlas};
use super::transform::LonLat;

/// A merged area.
struct Merged {
    bng: MultiPolygon<f64>,
    centroid: Option<LonLat>,
}

/// Merged areas by their parts: one per board created by a merger, so few.
static MERGED: std::sync::LazyLock<Cache<Vec<usize>, Arc<Merged>>> =
    std::sync::LazyLock::new(|| Cache::new(256));

/// A geometry as served: its parts and tolerance (in metres).
type ServedKey = (Vec<usize>, u64);

/// Served geometries, weighed by their size.
static SERVED: std::sync::LazyLock<Cache<ServedKey, Arc<Value>>> = std::sync::LazyLock::new(|| {
    Cache::builder()
        .weigher(|_, v: &Arc<Value>| weight(v))
        // About 64 MB of coordinates.
        .max_capacity(64 << 20)
        .build()
});

fn weight(v: &Value) -> u32 {
    fn count(v: &Value) -> usize {
        match v {
            Value::Array(a) => a.iter().map(count).sum::<usize>() + 1,
            _ => 1,
        }
    }
    u32::try_from(count(v) * 24).unwrap_or(u32::MAX)
}

fn merged(atlas: &Atlas, parts: &[usize]) -> Arc<Merged> {
    MERGED.get_with(parts.to_vec(), || {
        let mut bng = MultiPolygon::new(Vec::new());
        for &i in parts {
            bng = bng.union(&atlas.area(i).bng);
        }
        let centroid = centroid_of(&bng);
        Arc::new(Merged { bng, centroid })
    })
}

/// Runs `f` on the BNG geometry of the union of `parts`.
pub fn with_bng<R>(atlas: &Atlas, parts: &[usize], f: impl FnOnce(&MultiPolygon<f64>) -> R) -> R {
    match parts {
        [one] => f(&atlas.area(*one).bng),
        many => f(&merged(atlas, many).bng),
    }
}

/// The centroid of the union of `parts`.
pub fn centroid(atlas: &Atlas, parts: &[usize]) -> Option<LonLat> {
    match parts {
        [one] => atlas.area(*one).centroid,
        many => merged(atlas, many).centroid,
    }
}

/// GeoJSON for a WGS84 geometry, coordinates to 6 decimals.
pub fn geojson(wgs84: &MultiPolygon<f64>) -> Value {
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let rounded = wgs84.map_coords(|c| geo::coord! { x: round(c.x), y: round(c.y) });
    let geometry = geojson::Geometry::new(geojson::GeometryValue::from(&rounded));
    serde_json::to_value(&geometry).unwrap_or(Value::Null)
}

/// The GeoJSON geometry of the union of `parts`, simplified to `tolerance` metres, rounded
/// to whole metres (0 = as published).
pub fn geometry(atlas: &Atlas, parts: &[usize], tolerance: f64) -> Arc<Value> {
    // Whole metres: finer steps look the same on a map and would only fill the cache.
    let tolerance = tolerance.round();
    let key = (parts.to_vec(), tolerance as u64);
    SERVED.get_with(key, || {
        let wgs84 = match (parts, tolerance > 0.0) {
            ([one], false) => atlas.area(*one).wgs84.clone(),
            ([one], true) => to_wgs84(&atlas.area(*one).bng.simplify(tolerance)),
            (many, false) => to_wgs84(&merged(atlas, many).bng),
            (many, true) => to_wgs84(&merged(atlas, many).bng.simplify(tolerance)),
        };
        Arc::new(geojson(&wgs84))
    })
}
