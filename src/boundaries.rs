//! Properties of the ONS/GLA boundary files (centroids, areas, global ids) for countries,
//! Integrated Care Boards, Local Health Boards, NHS England regions and London boroughs, keyed
//! by GSS code, and the publication dates of those boundary sets. Bundled from
//! `data/supplement/boundary_properties.json` (derived from the boundary files of the RCPCH
//! reference data, see `data/reference-data/README.md`); read-only, never in the database.
use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The properties one boundary carries (each only for the kinds whose files hold it).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Properties {
    /// British National Grid easting of the centroid.
    pub bng_e: Option<f64>,
    /// British National Grid northing of the centroid.
    pub bng_n: Option<f64>,
    /// Longitude of the centroid (WGS84).
    pub long: Option<f64>,
    /// Latitude of the centroid (WGS84).
    pub lat: Option<f64>,
    /// The ONS global id of the boundary.
    pub globalid: Option<String>,
    /// Area in hectares (London boroughs).
    pub hectares: Option<f64>,
    /// Non-land area (London boroughs).
    pub nonld_area: Option<f64>,
    /// `T` for an inner London borough, `F` for outer (London boroughs).
    pub ons_inner: Option<String>,
    /// Sub-region in 2009 (London boroughs; often empty).
    pub sub_2009: Option<String>,
    /// Sub-region in 2006 (London boroughs; often empty).
    pub sub_2006: Option<String>,
}

static ALL: LazyLock<HashMap<String, Properties>> = LazyLock::new(|| {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/supplement/boundary_properties.json"
    ));
    // A unit test checks the file parses; a broken file only loses these optional fields.
    serde_json::from_str(text).unwrap_or_default()
});

static NONE: LazyLock<Properties> = LazyLock::new(Properties::default);

/// The properties of a boundary by GSS code (all empty when unknown).
pub fn of(gss_code: Option<&str>) -> &'static Properties {
    gss_code.and_then(|c| ALL.get(c)).unwrap_or(&NONE)
}

/// Publication date of the Integrated Care Board boundaries (April 2023 set).
pub const INTEGRATED_CARE_BOARDS_PUBLISHED: &str = "2023-03-15";
/// Publication date of the NHS England region boundaries (July 2022 set).
pub const NHS_ENGLAND_REGIONS_PUBLISHED: &str = "2022-07-30";
/// Publication date of the OPEN UK network list.
pub const OPEN_UK_NETWORKS_PUBLISHED: &str = "2022-12-08";

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_file_parses_and_holds_every_kind() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/supplement/boundary_properties.json"
        ));
        let all: std::collections::HashMap<String, super::Properties> =
            serde_json::from_str(text).expect("parses");
        assert_eq!(all.len(), 93);
        assert!(super::of(Some("E92000001")).globalid.is_some());
        assert!(super::of(Some("E09000033")).hectares.is_some());
    }
}
