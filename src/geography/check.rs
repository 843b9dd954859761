//! The spatial check: every site there on a day against the areas we place it in. A site is
//! reported when it has no coordinates, when they are outside the UK, or when they are outside
//! the boundary of its assigned country, region, ICB, Local Health Board or London borough
//! (by more than the files' generalisation), with the area that does hold them. What each kind
//! means and what we do about it is in `docs/seeding.md`; the issues of the bundled data that
//! were reviewed are listed in `data/supplement/known_geography_issues.json`, and anything else
//! is new.
use geo::{Distance, Euclidean, MultiPolygon, Point};
use serde::{Deserialize, Serialize};

use super::atlas::{Atlas, BoundaryKind};
use super::dated::{self, Bounded, Resolved};
use super::transform::{wgs84_to_bng, LonLat};
use super::{atlas, shapes};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    organisation,
};
use crate::errors::{AppError, AppResult};
use crate::snapshot::{edges, Day, EdgeDef, Kind, Snapshot};

/// How far outside a boundary a site may be and still count as inside it: the coarsest
/// generalisation of the files (500 m, clipped to the coastline), so that a site on the shore
/// or on a generalised border is not reported.
pub const TOLERANCE_METRES: f64 = 500.0;

/// What is wrong with a site's placement.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IssueKind {
    /// No latitude or longitude.
    NoCoordinates,
    /// The coordinates are in no UK country.
    OutsideUk,
    /// Outside the boundary of the site's country.
    OutsideCountry,
    /// Outside the boundary of the site's NHS England region.
    OutsideRegion,
    /// Outside the boundary of the site's Integrated Care Board.
    OutsideIntegratedCareBoard,
    /// Outside the boundary of the site's Local Health Board.
    OutsideLocalHealthBoard,
    /// Outside the boundary of the site's London borough.
    OutsideLondonBorough,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::NoCoordinates => "NO_COORDINATES",
            IssueKind::OutsideUk => "OUTSIDE_UK",
            IssueKind::OutsideCountry => "OUTSIDE_COUNTRY",
            IssueKind::OutsideRegion => "OUTSIDE_REGION",
            IssueKind::OutsideIntegratedCareBoard => "OUTSIDE_INTEGRATED_CARE_BOARD",
            IssueKind::OutsideLocalHealthBoard => "OUTSIDE_LOCAL_HEALTH_BOARD",
            IssueKind::OutsideLondonBorough => "OUTSIDE_LONDON_BOROUGH",
        }
    }
}

/// One problem with one site.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub ods_code: String,
    pub name: String,
    pub kind: IssueKind,
    /// Code of the area we place the site in (ODS code; region code; GSS code for boroughs
    /// and countries).
    pub assigned: Option<String>,
    /// Code of the area of that level whose boundary holds the coordinates, when one does.
    pub found: Option<String>,
    /// How far outside the assigned area's boundary the site is, in km.
    pub distance_km: Option<f64>,
    /// Whether the site and kind are in the reviewed list of the bundled data.
    pub known: bool,
    /// The reviewed list's case for it (a section of `docs/seeding.md`), when known.
    pub reason: Option<String>,
}

/// One reviewed issue, as listed in `data/supplement/known_geography_issues.json`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct KnownIssue {
    pub ods_code: String,
    pub kind: IssueKind,
    pub assigned: Option<String>,
    pub found: Option<String>,
    /// Which case of `docs/seeding.md` it is.
    pub reason: String,
}

/// The reviewed issues of the bundled data.
pub fn known_issues() -> AppResult<Vec<KnownIssue>> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/supplement/known_geography_issues.json"
    ));
    serde_json::from_str(text)
        .map_err(|e| AppError::Internal(format!("known_geography_issues.json is invalid: {e}")))
}

fn code_of<M: Kind>(m: &M) -> String {
    m.code().to_string()
}

/// How far (m) a BNG point is outside a record's area on the day (0 inside); `None` when the
/// area is not known.
fn outside_area<M: Bounded>(
    atlas: &Atlas,
    s: &Snapshot,
    m: &M,
    day: Day,
    point: &Point<f64>,
) -> Option<f64> {
    match dated::resolve::<M>(atlas, s, m.code(), day) {
        Resolved::Known(parts) => Some(shapes::with_bng(atlas, &parts, |a| {
            metres_outside(point, a)
        })),
        Resolved::Unknown(_) => None,
    }
}

/// Distance in metres from a BNG point to an area (0 inside).
fn metres_outside(point: &Point<f64>, area: &MultiPolygon<f64>) -> f64 {
    Euclidean.distance(area, point)
}

struct Site<'a> {
    s: &'a Snapshot,
    atlas: &'a Atlas,
    day: Day,
    m: &'a organisation::Model,
    point: LonLat,
    bng: Point<f64>,
}

impl Site<'_> {
    /// The issue of one level, if the site's assigned area there does not hold it.
    fn level<M: Bounded>(
        &self,
        edge: EdgeDef<organisation::Model, M>,
        kind: IssueKind,
    ) -> Option<Issue> {
        let assigned = self.s.parent(edge, self.m.id, self.day)?;
        // A boundary we do not know cannot be checked.
        let outside = outside_area(self.atlas, self.s, assigned.as_ref(), self.day, &self.bng)?;
        if outside <= TOLERANCE_METRES {
            return None;
        }
        let mut ignored = Vec::new();
        let found = super::holder_at::<M>(self.atlas, self.s, self.point, self.day, &mut ignored);
        Some(Issue {
            ods_code: self.m.ods_code.clone(),
            name: self.m.name.clone(),
            kind,
            assigned: Some(code_of(assigned.as_ref())),
            found: found.map(|f| code_of(f.as_ref())),
            distance_km: Some((outside / 100.0).round() / 10.0),
            known: false,
            reason: None,
        })
    }
}

/// Whether a point is in (or within the tolerance of) any UK country.
fn in_uk(atlas: &Atlas, point: LonLat, bng: &Point<f64>) -> bool {
    if !atlas.containing(BoundaryKind::Countries, point).is_empty() {
        return true;
    }
    // About 1 km of margin in degrees, for the bounding-box search.
    atlas
        .near(BoundaryKind::Countries, point, 0.02)
        .into_iter()
        .any(|i| metres_outside(bng, &atlas.area(i).bng) <= TOLERANCE_METRES)
}

/// Every issue of every site there on `day`, by ODS code then kind, each marked `known` when
/// it is in the reviewed list.
pub fn check(s: &Snapshot, day: Day) -> AppResult<Vec<Issue>> {
    let atlas = atlas()?;
    let known = known_issues()?;
    let mut out = Vec::new();
    for m in crate::directory::all::<organisation::Model>(s, day) {
        let (Some(lat), Some(lon)) = (m.latitude, m.longitude) else {
            out.push(Issue {
                ods_code: m.ods_code.clone(),
                name: m.name.clone(),
                kind: IssueKind::NoCoordinates,
                assigned: None,
                found: None,
                distance_km: None,
                known: false,
                reason: None,
            });
            continue;
        };
        let point = (lon, lat);
        let (e, n) = wgs84_to_bng(point);
        let bng = Point::new(e, n);
        if !in_uk(atlas, point, &bng) {
            out.push(Issue {
                ods_code: m.ods_code.clone(),
                name: m.name.clone(),
                kind: IssueKind::OutsideUk,
                assigned: s
                    .parent(edges::SITE_COUNTRY, m.id, day)
                    .map(|c| code_of(c.as_ref())),
                found: None,
                distance_km: None,
                known: false,
                reason: None,
            });
            continue;
        }
        let site = Site {
            s,
            atlas,
            day,
            m: &m,
            point,
            bng,
        };
        out.extend(
            [
                site.level::<country::Model>(edges::SITE_COUNTRY, IssueKind::OutsideCountry),
                site.level::<nhs_england_region::Model>(
                    edges::SITE_NHS_ENGLAND_REGION,
                    IssueKind::OutsideRegion,
                ),
                site.level::<integrated_care_board::Model>(
                    edges::SITE_INTEGRATED_CARE_BOARD,
                    IssueKind::OutsideIntegratedCareBoard,
                ),
                site.level::<local_health_board::Model>(
                    edges::SITE_LOCAL_HEALTH_BOARD,
                    IssueKind::OutsideLocalHealthBoard,
                ),
                site.level::<london_borough::Model>(
                    edges::SITE_LONDON_BOROUGH,
                    IssueKind::OutsideLondonBorough,
                ),
            ]
            .into_iter()
            .flatten(),
        );
    }
    // Matched by site and kind: the codes of the areas change with the day asked about.
    for issue in &mut out {
        if let Some(k) = known
            .iter()
            .find(|k| k.ods_code == issue.ods_code && k.kind == issue.kind)
        {
            issue.known = true;
            issue.reason = Some(k.reason.clone());
        }
    }
    out.sort_by(|a, b| (&a.ods_code, a.kind).cmp(&(&b.ods_code, b.kind)));
    Ok(out)
}

/// One line of `nhs-organisations check`.
pub fn line(i: &Issue) -> String {
    let mut out = format!(
        "{} {} {} ({})",
        match &i.reason {
            Some(_) => "reviewed",
            None => "NEW     ",
        },
        i.kind.as_str(),
        i.ods_code,
        i.name
    );
    if let Some(a) = &i.assigned {
        out.push_str(&format!(" assigned {a}"));
    }
    if let Some(d) = i.distance_km {
        out.push_str(&format!(", {d} km outside it"));
    }
    match (&i.found, i.kind) {
        (_, IssueKind::NoCoordinates | IssueKind::OutsideUk) => {}
        (Some(f), _) => out.push_str(&format!(", in {f}")),
        (None, _) => out.push_str(", in none"),
    }
    if let Some(r) = &i.reason {
        out.push_str(&format!(" [{r}]"));
    }
    out
}

/// The issues as JSON (`check --json`), in the format of the reviewed list plus `name`,
/// `distance_km` and `known`.
pub fn as_json(issues: &[Issue]) -> serde_json::Value {
    serde_json::Value::Array(
        issues
            .iter()
            .map(|i| {
                serde_json::json!({
                    "ods_code": i.ods_code,
                    "name": i.name,
                    "kind": i.kind,
                    "assigned": i.assigned,
                    "found": i.found,
                    "distance_km": i.distance_km,
                    "known": i.known,
                    "reason": i.reason,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reviewed_list_parses_with_one_entry_per_site_and_kind() {
        let list = super::known_issues().expect("parses");
        assert_eq!(list.len(), 46);
        let mut keys: Vec<_> = list.iter().map(|k| (&k.ods_code, k.kind)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), list.len());
        let cases = [
            "jersey",
            "trust-serves-several-areas",
            "community-service-elsewhere",
            "source-coordinates-wrong",
            "source-borough-wrong",
            "board-boundary-changed",
        ];
        assert!(list.iter().all(|k| cases.contains(&k.reason.as_str())));
    }
}
