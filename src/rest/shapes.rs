//! The JSON shapes of the REST routes, field for field and in the order of the service they
//! replace (see `docs/rest.md`). Plain data: `super::map` fills them from the snapshot.
use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// A site's code and name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrgMin {
    /// ODS code of the site.
    pub ods_code: String,
    /// Name of the site.
    pub name: String,
}

/// A GeoJSON point.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GeoPoint {
    /// Always `Point`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `[longitude, latitude]` (WGS84).
    pub coordinates: [f64; 2],
}

/// A Paediatric Diabetes Network's code and name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkRef {
    /// PN code of the network.
    pub pn_code: String,
    /// Name of the network.
    pub name: String,
}

/// The unit a site belongs to, with its network.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SitePdu {
    /// PZ code of the unit.
    pub pz_code: String,
    /// The unit's network, when it has one.
    pub paediatric_diabetes_network: Option<NetworkRef>,
}

/// An NHS trust (T).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Trust {
    /// ODS code of the trust.
    pub ods_code: String,
    /// Name of the trust.
    pub name: String,
    /// First address line (`""` when none).
    pub address_line_1: String,
    /// Second address line (`""` when none).
    pub address_line_2: String,
    /// Town (`""` when none).
    pub town: String,
    /// Postcode (`""` when none).
    pub postcode: String,
    /// Country, as ODS spells it (e.g. `ENGLAND`).
    pub country: String,
    /// Telephone, when known.
    pub telephone: Option<String>,
    /// Website, when known.
    pub website: Option<String>,
    /// Whether ODS lists the trust as active.
    pub active: bool,
    /// When the record was published, when known.
    pub published_at: Option<NaiveDate>,
}

/// A trust with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrustWithSites {
    /// The trust.
    #[serde(flatten)]
    pub trust: Trust,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// A Local Health Board as a site's parent (no other keys, so that it never reads as a trust).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(no_recursion)]
#[serde(deny_unknown_fields)]
pub struct BoardRef {
    /// ODS code of the board.
    pub ods_code: String,
    /// GSS code of the board's boundary.
    pub boundary_identifier: Option<String>,
    /// Name of the board.
    pub name: String,
}

/// The trust or Local Health Board that runs a site.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Parent {
    /// An English (or other) trust.
    Trust(Trust),
    /// A Welsh Local Health Board.
    LocalHealthBoard(BoardRef),
}

/// An Integrated Care Board as a site's.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IcbRef {
    /// GSS code of the board's boundary.
    pub boundary_identifier: Option<String>,
    /// Name of the board.
    pub name: String,
    /// ODS code of the board.
    pub ods_code: String,
}

/// An NHS England region as a site's.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegionRef {
    /// Region code (e.g. `Y61`).
    pub region_code: String,
    /// Publication date of the region boundaries.
    pub publication_date: Option<String>,
    /// GSS code of the region's boundary.
    pub boundary_identifier: Option<String>,
    /// Name of the region.
    pub name: String,
}

/// An OPEN UK paediatric epilepsy network.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OpenUkNetwork {
    /// Name of the network.
    pub name: String,
    /// Code of the network (e.g. `EPEN`).
    pub boundary_identifier: String,
    /// Country of the network (e.g. `England`).
    pub country: Option<String>,
    /// Publication date of the network list.
    pub publication_date: Option<String>,
}

/// A London borough as a site's.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoroughRef {
    /// Name of the borough.
    pub name: String,
    /// GSS code of the borough.
    pub gss_code: String,
}

/// A country as a site's.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CountryRef {
    /// GSS code of the country's boundary.
    pub boundary_identifier: Option<String>,
    /// Name of the country.
    pub name: String,
}

/// A site with every parent (Org).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Org {
    /// ODS code of the site.
    pub ods_code: String,
    /// Name of the site.
    pub name: String,
    /// Website (`""` when none).
    pub website: String,
    /// First address line (`""` when none).
    pub address1: String,
    /// Second address line (`""` when none).
    pub address2: String,
    /// Third address line (`""` when none).
    pub address3: String,
    /// Telephone (`""` when none).
    pub telephone: String,
    /// City (`""` when none).
    pub city: String,
    /// County (`""` when none).
    pub county: String,
    /// Latitude (WGS84), when known.
    pub latitude: Option<f64>,
    /// Longitude (WGS84), when known.
    pub longitude: Option<f64>,
    /// Postcode (`""` when none).
    pub postcode: String,
    /// The site's location as a GeoJSON point, when known.
    pub geocode_coordinates: Option<GeoPoint>,
    /// Whether ODS lists the site as active.
    pub active: bool,
    /// When the record was published, when known.
    pub published_at: Option<NaiveDate>,
    /// The site's Paediatric Diabetes Unit.
    pub paediatric_diabetes_unit: Option<SitePdu>,
    /// The trust that runs the site.
    pub trust: Option<Trust>,
    /// The Local Health Board that runs the site (Wales).
    pub local_health_board: Option<BoardRef>,
    /// The site's Integrated Care Board (England).
    pub integrated_care_board: Option<IcbRef>,
    /// The site's NHS England region (England).
    pub nhs_england_region: Option<RegionRef>,
    /// The site's OPEN UK network.
    pub openuk_network: Option<OpenUkNetwork>,
    /// The site's London borough (London).
    pub london_borough: Option<BoroughRef>,
    /// The site's country.
    pub country: Option<CountryRef>,
}

/// A code and name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CodeName {
    /// ODS code.
    pub ods_code: String,
    /// Name.
    pub name: String,
}

/// A region's code and name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegionCodeName {
    /// Region code.
    pub region_code: String,
    /// Name.
    pub name: String,
}

/// An OPEN UK network's code and name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkCodeName {
    /// Network code.
    pub boundary_identifier: String,
    /// Name.
    pub name: String,
}

/// A unit's code.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PzCode {
    /// PZ code.
    pub pz_code: String,
}

/// A site as it was on one day (the snapshot route).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SiteSnapshot {
    /// The code whose state this is (a predecessor's when the asked code did not exist yet).
    pub ods_code: String,
    /// The day asked about.
    pub snapshot_date: NaiveDate,
    /// Name on that day.
    pub name: String,
    /// First address line (`""` when none).
    pub address1: String,
    /// Second address line (`""` when none).
    pub address2: String,
    /// Third address line (`""` when none).
    pub address3: String,
    /// Telephone (`""` when none).
    pub telephone: String,
    /// City (`""` when none).
    pub city: String,
    /// County (`""` when none).
    pub county: String,
    /// Postcode (`""` when none).
    pub postcode: String,
    /// Latitude (WGS84), when known.
    pub latitude: Option<f64>,
    /// Longitude (WGS84), when known.
    pub longitude: Option<f64>,
    /// Whether the site was active.
    pub active: bool,
    /// When the record was published, when known.
    pub published_at: Option<NaiveDate>,
    /// Its trust then.
    pub trust: Option<CodeName>,
    /// Its Local Health Board then.
    pub local_health_board: Option<CodeName>,
    /// Its Integrated Care Board then.
    pub integrated_care_board: Option<CodeName>,
    /// Its NHS England region then.
    pub nhs_england_region: Option<RegionCodeName>,
    /// Its OPEN UK network then.
    pub openuk_network: Option<NetworkCodeName>,
    /// Its Paediatric Diabetes Unit then.
    pub paediatric_diabetes_unit: Option<PzCode>,
    /// The predecessor whose state is shown, when the asked code did not exist on that day.
    pub predecessor_ods_code: Option<String>,
    /// Its country then.
    pub country: Option<CountryRef>,
}

/// A Local Health Board with its boundary properties.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LocalHealthBoard {
    /// ODS code.
    pub ods_code: String,
    /// Publication date of the boundaries (unknown for this set).
    pub publication_date: Option<String>,
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Welsh name.
    pub welsh_name: Option<String>,
    /// Centroid easting (BNG).
    pub bng_e: Option<f64>,
    /// Centroid northing (BNG).
    pub bng_n: Option<f64>,
    /// Centroid longitude.
    pub long: Option<f64>,
    /// Centroid latitude.
    pub lat: Option<f64>,
}

/// An Integrated Care Board with its boundary properties.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IntegratedCareBoard {
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Centroid easting (BNG).
    pub bng_e: Option<f64>,
    /// Centroid northing (BNG).
    pub bng_n: Option<f64>,
    /// Centroid longitude.
    pub long: Option<f64>,
    /// Centroid latitude.
    pub lat: Option<f64>,
    /// ONS global id of the boundary.
    pub globalid: Option<String>,
    /// ODS code.
    pub ods_code: String,
    /// Publication date of the boundaries.
    pub publication_date: Option<String>,
}

/// An NHS England region with its boundary properties.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NhsEnglandRegion {
    /// Region code.
    pub region_code: String,
    /// Publication date of the boundaries.
    pub publication_date: Option<String>,
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Centroid easting (BNG).
    pub bng_e: Option<f64>,
    /// Centroid northing (BNG).
    pub bng_n: Option<f64>,
    /// Centroid longitude.
    pub long: Option<f64>,
    /// Centroid latitude.
    pub lat: Option<f64>,
}

/// A London borough with its boundary properties.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LondonBorough {
    /// Name.
    pub name: String,
    /// GSS code.
    pub gss_code: String,
    /// Area in hectares.
    pub hectares: Option<f64>,
    /// Non-land area.
    pub nonld_area: Option<f64>,
    /// `T` for inner London, `F` for outer.
    pub ons_inner: Option<String>,
    /// Sub-region (2009).
    pub sub_2009: Option<String>,
    /// Sub-region (2006).
    pub sub_2006: Option<String>,
}

/// The fields `/countries/?fields=` can project, in output order.
pub const COUNTRY_FIELDS: [&str; 8] = [
    "boundary_identifier",
    "name",
    "welsh_name",
    "bng_e",
    "bng_n",
    "long",
    "lat",
    "globalid",
];

/// A country with its boundary properties; only the asked fields are sent.
#[derive(Clone, Debug, ToSchema)]
pub struct Country {
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    #[schema(required = false)]
    pub name: String,
    /// Welsh name.
    pub welsh_name: Option<String>,
    /// Centroid easting (BNG).
    pub bng_e: Option<f64>,
    /// Centroid northing (BNG).
    pub bng_n: Option<f64>,
    /// Centroid longitude.
    pub long: Option<f64>,
    /// Centroid latitude.
    pub lat: Option<f64>,
    /// ONS global id of the boundary.
    pub globalid: Option<String>,
    /// Which of `COUNTRY_FIELDS` to send.
    #[schema(ignore)]
    pub fields: [bool; 8],
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (i, key) in COUNTRY_FIELDS.iter().enumerate() {
            if !self.fields[i] {
                continue;
            }
            match i {
                0 => map.serialize_entry(key, &self.boundary_identifier)?,
                1 => map.serialize_entry(key, &self.name)?,
                2 => map.serialize_entry(key, &self.welsh_name)?,
                3 => map.serialize_entry(key, &self.bng_e)?,
                4 => map.serialize_entry(key, &self.bng_n)?,
                5 => map.serialize_entry(key, &self.long)?,
                6 => map.serialize_entry(key, &self.lat)?,
                _ => map.serialize_entry(key, &self.globalid)?,
            }
        }
        map.end()
    }
}

/// A unit as the NPDA seeder reads it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PduParent {
    /// PZ code.
    pub pz_code: String,
    /// The unit's network.
    pub paediatric_diabetes_network: Option<NetworkRef>,
    /// The trust or board that runs the lead site.
    pub parent: Option<Parent>,
    /// The lead site.
    pub primary_organisation: Option<OrgMin>,
    /// When the unit last changed (not tracked per unit: always `null`).
    pub updated_at: Option<String>,
    /// The same as `updated_at` (the name older NPDA versions read).
    pub last_updated: Option<String>,
    /// Whether the unit exists on the day asked about (always `true` in a list).
    pub active: bool,
    /// The unit's name: its lead site's name.
    pub name: Option<String>,
}

/// A unit with its sites, lead site and parent.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PduWithSites {
    /// PZ code.
    pub pz_code: String,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
    /// The lead site.
    pub primary_organisation: Option<OrgMin>,
    /// The trust or board that runs the lead site.
    pub parent: Option<Parent>,
}

/// A unit with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PduOrganisations {
    /// PZ code.
    pub pz_code: String,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// A site with the trust or board that runs it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SiblingSite {
    /// ODS code.
    pub ods_code: String,
    /// Name.
    pub name: String,
    /// The trust or board that runs it.
    pub parent: Option<Parent>,
}

/// A unit with its sites and their parents.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PduSiblings {
    /// PZ code.
    pub pz_code: String,
    /// The unit's sites, by name.
    pub organisations: Vec<SiblingSite>,
}

/// An Integrated Care Board with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IcbOrganisations {
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// ODS code.
    pub ods_code: String,
    /// Publication date of the boundaries.
    pub publication_date: Option<String>,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// A Local Health Board with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LhbOrganisations {
    /// ODS code.
    pub ods_code: String,
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// An NHS England region with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegionOrganisations {
    /// Region code.
    pub region_code: String,
    /// Publication date of the boundaries.
    pub publication_date: Option<String>,
    /// GSS code of the boundary.
    pub boundary_identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// A London borough with its sites.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoroughOrganisations {
    /// Name.
    pub name: String,
    /// GSS code.
    pub gss_code: String,
    /// Its sites, by name.
    pub organisations: Vec<OrgMin>,
}

/// An error: what went wrong, in one sentence.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Detail {
    /// What went wrong and what to send instead.
    pub detail: String,
}

/// A GeoJSON FeatureCollection (RFC 7946: WGS84, anticlockwise exterior rings) of one kind of
/// area, one feature per record there on the day.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoundaryCollection {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// One feature per record, in list order.
    pub features: Vec<BoundaryFeature>,
}

/// One area of a `BoundaryCollection`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoundaryFeature {
    /// Always `Feature`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the area is.
    pub properties: BoundaryProperties,
    /// A GeoJSON `MultiPolygon`; null where the boundary on that day is unknown.
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<serde_json::Value>,
}

/// The properties of one area.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoundaryProperties {
    /// ONS GSS code of the boundary (e.g. E54000056); null for a board with none of its own.
    pub code: Option<String>,
    /// Name of the area.
    pub name: Option<String>,
    /// ODS code (the region code for an NHS England region); null for boroughs and countries.
    pub ods_code: Option<String>,
    /// Why `geometry` is null; absent when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary_unknown_reason: Option<String>,
}
