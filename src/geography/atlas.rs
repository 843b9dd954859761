//! The bundled boundary files (`data/reference-data/boundaries/`, British National Grid), read
//! once per process: each area kept in BNG (for simplifying and merging in metres) and in
//! WGS84 with RFC 7946 winding (for serving and point lookups), with an R-tree over the
//! bounding boxes of every polygon so that a point is tested against a handful of polygons,
//! not all of them.
use std::sync::LazyLock;

use geo::orient::{Direction, Orient};
use geo::{Area as _, Centroid, Intersects, MapCoords, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use rustc_hash::FxHashMap as HashMap;

use super::transform::{bng_to_wgs84, LonLat};
use crate::errors::{AppError, AppResult};

/// A set of boundaries we bundle, one per level of the hierarchy that is an area.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BoundaryKind {
    IntegratedCareBoards,
    LocalHealthBoards,
    NhsEnglandRegions,
    LondonBoroughs,
    Countries,
}

impl BoundaryKind {
    pub const ALL: [BoundaryKind; 5] = [
        BoundaryKind::Countries,
        BoundaryKind::NhsEnglandRegions,
        BoundaryKind::IntegratedCareBoards,
        BoundaryKind::LocalHealthBoards,
        BoundaryKind::LondonBoroughs,
    ];

    /// The name in `/boundaries/{kind}.geojson`.
    pub fn slug(self) -> &'static str {
        match self {
            BoundaryKind::IntegratedCareBoards => "integrated-care-boards",
            BoundaryKind::LocalHealthBoards => "local-health-boards",
            BoundaryKind::NhsEnglandRegions => "nhs-england-regions",
            BoundaryKind::LondonBoroughs => "london-boroughs",
            BoundaryKind::Countries => "countries",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// Singular, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            BoundaryKind::IntegratedCareBoards => "Integrated Care Board",
            BoundaryKind::LocalHealthBoards => "Local Health Board",
            BoundaryKind::NhsEnglandRegions => "NHS England region",
            BoundaryKind::LondonBoroughs => "London borough",
            BoundaryKind::Countries => "country",
        }
    }

    /// The bundled file, and the properties holding each area's GSS code and name.
    fn source(self) -> (&'static str, &'static [u8], &'static str, &'static str) {
        macro_rules! file {
            ($name:literal) => {
                (
                    $name,
                    include_bytes!(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/data/reference-data/boundaries/",
                        $name
                    ))
                    .as_slice(),
                )
            };
        }
        let ((name, bytes), code, label) = match self {
            BoundaryKind::IntegratedCareBoards => (
                file!("integrated_care_boards_apr_2023_en_bsc.geojson"),
                "ICB23CD",
                "ICB23NM",
            ),
            BoundaryKind::LocalHealthBoards => (
                file!("local_health_boards_apr_2022_wa_buc.geojson"),
                "LHB22CD",
                "LHB22NM",
            ),
            BoundaryKind::NhsEnglandRegions => (
                file!("nhs_england_regions_jul_2022_en_buc.geojson"),
                "NHSER22CD",
                "NHSER22NM",
            ),
            BoundaryKind::LondonBoroughs => (
                file!("london_boroughs_excluding_mhw.geojson"),
                "GSS_CODE",
                "NAME",
            ),
            BoundaryKind::Countries => (
                file!("countries_dec_2022_uk_buc.geojson"),
                "CTRY22CD",
                "CTRY22NM",
            ),
        };
        (name, bytes, code, label)
    }
}

/// One bundled area.
#[derive(Debug)]
pub struct Area {
    pub kind: BoundaryKind,
    /// GSS code (e.g. E54000056).
    pub code: String,
    pub name: String,
    /// British National Grid metres, as published.
    pub bng: MultiPolygon<f64>,
    /// WGS84 degrees (x = longitude), exterior rings anticlockwise.
    pub wgs84: MultiPolygon<f64>,
    /// Area-weighted centroid, WGS84.
    pub centroid: Option<LonLat>,
}

/// BNG geometry to WGS84 with RFC 7946 winding (the transform keeps east and north, so it
/// keeps the winding; `orient` turns the files' clockwise exteriors round).
pub fn to_wgs84(bng: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    bng.map_coords(|c| {
        let (x, y) = bng_to_wgs84(c.x, c.y);
        geo::coord! { x: x, y: y }
    })
    .orient(Direction::Default)
}

/// The centroid of a BNG geometry, in WGS84.
pub fn centroid_of(bng: &MultiPolygon<f64>) -> Option<LonLat> {
    bng.centroid().map(|p| bng_to_wgs84(p.x(), p.y()))
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, (usize, usize)>;

/// Every bundled area, indexed.
pub struct Atlas {
    areas: Vec<Area>,
    by_code: HashMap<(BoundaryKind, String), usize>,
    index: RTree<Entry>,
}

impl Atlas {
    fn load() -> Result<Atlas, String> {
        let mut areas = Vec::new();
        for kind in BoundaryKind::ALL {
            let (file, bytes, code_key, name_key) = kind.source();
            let fc: geojson::FeatureCollection =
                serde_json::from_slice(bytes).map_err(|e| format!("{file}: {e}"))?;
            for f in fc.features {
                let prop = |k: &str| {
                    f.properties
                        .as_ref()
                        .and_then(|p| p.get(k))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                };
                let code =
                    prop(code_key).ok_or_else(|| format!("{file}: a feature has no {code_key}"))?;
                let name = prop(name_key).unwrap_or_else(|| code.clone());
                let geometry = f
                    .geometry
                    .as_ref()
                    .ok_or_else(|| format!("{file}: {code} has no geometry"))?;
                let bng = MultiPolygon::<f64>::try_from(&geometry.value)
                    .map_err(|e| format!("{file}: {code}: {e}"))?;
                let wgs84 = to_wgs84(&bng);
                let centroid = centroid_of(&bng);
                areas.push(Area {
                    kind,
                    code,
                    name,
                    bng,
                    wgs84,
                    centroid,
                });
            }
        }
        // By kind and code: a point on a shared border goes to the first by code, every time.
        areas.sort_by(|a, b| (a.kind, &a.code).cmp(&(b.kind, &b.code)));
        let by_code = areas
            .iter()
            .enumerate()
            .map(|(i, a)| ((a.kind, a.code.clone()), i))
            .collect();
        let mut entries = Vec::new();
        for (i, a) in areas.iter().enumerate() {
            for (j, p) in a.wgs84.0.iter().enumerate() {
                if let Some(r) = geo::BoundingRect::bounding_rect(p) {
                    let rect =
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                    entries.push(GeomWithData::new(rect, (i, j)));
                }
            }
        }
        Ok(Atlas {
            areas,
            by_code,
            index: RTree::bulk_load(entries),
        })
    }

    pub fn area(&self, i: usize) -> &Area {
        &self.areas[i]
    }

    /// Every area of a kind, by code.
    pub fn of_kind(&self, kind: BoundaryKind) -> impl Iterator<Item = (usize, &Area)> {
        self.areas
            .iter()
            .enumerate()
            .filter(move |(_, a)| a.kind == kind)
    }

    /// The area of a kind with this GSS code.
    pub fn find(&self, kind: BoundaryKind, code: &str) -> Option<usize> {
        self.by_code.get(&(kind, code.to_string())).copied()
    }

    /// The areas of a kind whose boundary holds the point (its edge included), by code.
    pub fn containing(&self, kind: BoundaryKind, point: LonLat) -> Vec<usize> {
        let p = Point::new(point.0, point.1);
        let mut found: Vec<usize> = self
            .index
            .locate_all_at_point(&[point.0, point.1])
            .map(|e| e.data)
            .filter(|(i, _)| self.areas[*i].kind == kind)
            .filter(|(i, j)| self.areas[*i].wgs84.0[*j].intersects(&p))
            .map(|(i, _)| i)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The areas of a kind whose bounding boxes come within `margin` degrees of the point.
    pub fn near(&self, kind: BoundaryKind, point: LonLat, margin: f64) -> Vec<usize> {
        let envelope = AABB::from_corners(
            [point.0 - margin, point.1 - margin],
            [point.0 + margin, point.1 + margin],
        );
        let mut found: Vec<usize> = self
            .index
            .locate_in_envelope_intersecting(&envelope)
            .map(|e| e.data.0)
            .filter(|i| self.areas[*i].kind == kind)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Vertices held (each area twice: BNG and WGS84).
    pub fn vertices(&self) -> usize {
        self.areas
            .iter()
            .map(|a| {
                a.bng
                    .0
                    .iter()
                    .map(|p| {
                        p.exterior().0.len()
                            + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    /// About how many bytes the prepared boundaries take (coordinates and index).
    pub fn memory_bytes(&self) -> usize {
        let coords = self.vertices() * 2 * std::mem::size_of::<geo::Coord<f64>>();
        let index = self.index.size() * std::mem::size_of::<Entry>() * 2;
        let names: usize = self.areas.iter().map(|a| a.code.len() + a.name.len()).sum();
        coords + index + names + self.areas.len() * std::mem::size_of::<Area>()
    }

    /// Total area of a kind's polygons in square kilometres (for tests).
    pub fn square_km(&self, i: usize) -> f64 {
        self.areas[i].bng.unsigned_area() / 1e6
    }
}

static ATLAS: LazyLock<Result<Atlas, String>> = LazyLock::new(Atlas::load);

/// The bundled boundaries, read and indexed on first use. A unit test checks the files load;
/// if they did not, geography answers fail with `INTERNAL` and everything else still works.
pub fn atlas() -> AppResult<&'static Atlas> {
    ATLAS
        .as_ref()
        .map_err(|e| AppError::Internal(format!("bundled boundary file is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_file_loads_with_its_areas() {
        let a = atlas().expect("loads");
        let count = |k| a.of_kind(k).count();
        assert_eq!(count(BoundaryKind::IntegratedCareBoards), 42);
        assert_eq!(count(BoundaryKind::LocalHealthBoards), 7);
        assert_eq!(count(BoundaryKind::NhsEnglandRegions), 7);
        assert_eq!(count(BoundaryKind::LondonBoroughs), 33);
        assert_eq!(count(BoundaryKind::Countries), 4);
        assert_eq!(a.vertices(), 13_612 + 23_809 + 1_039 + 48_548 + 4_568);
    }

    #[test]
    fn served_rings_wind_anticlockwise() {
        use geo::winding_order::{Winding, WindingOrder};
        let a = atlas().expect("loads");
        for area in &a.areas {
            assert!(area.bng.0[0].exterior().winding_order() == Some(WindingOrder::Clockwise));
            for p in &area.wgs84.0 {
                assert_eq!(
                    p.exterior().winding_order(),
                    Some(WindingOrder::CounterClockwise),
                    "{}",
                    area.code
                );
            }
        }
    }

    #[test]
    fn england_is_about_130_thousand_square_km() {
        let a = atlas().expect("loads");
        let e = a
            .find(BoundaryKind::Countries, "E92000001")
            .expect("England");
        let km2 = a.square_km(e);
        assert!((125_000.0..135_000.0).contains(&km2), "{km2}");
    }
}
