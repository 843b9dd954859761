//! The bundled reference data (a copy of the RCPCH constants, see `data/reference-data/README.md`),
//! compiled into the binary so that `serve` works from any directory.
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::errors::AppError;

macro_rules! bundled {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/", $file)),
        )
    };
}

fn parse<T: DeserializeOwned>((name, text): (&str, &str)) -> Result<Vec<T>, AppError> {
    serde_json::from_str(text)
        .map_err(|e| AppError::Internal(format!("bundled data file {name} is invalid: {e}")))
}

#[derive(Clone, Debug, Deserialize)]
pub struct Site {
    pub organisation_code: String,
    pub organisation_name: String,
    pub address1: String,
    pub address2: String,
    pub address3: String,
    pub city: String,
    pub county: String,
    pub postcode: String,
    pub latitude: String,
    pub longitude: String,
    pub parent_ods_code: String,
    pub phone: String,
    pub email: String,
    pub website: String,
    pub local_authority: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Trust {
    pub ods_code: String,
    pub trust_name: String,
    pub address_line_1: String,
    pub address_line_2: String,
    pub town: String,
    pub postcode: String,
    pub country: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LocalHealthBoard {
    pub health_board: String,
    pub ods_code: String,
    pub gss_code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IntegratedCareBoard {
    pub ods_code: String,
    pub gss_code: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IcbLookupRow {
    pub nhs_england_region_code: String,
    pub ods_icb_code: String,
    pub ods_trust_code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Region {
    pub nhs_england_region_ons_code: String,
    pub nhs_england_region_code: String,
    pub nhs_england_region_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DiabetesNetwork {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PzCodeNetwork {
    pub ods_code: String,
    pub npda_code: String,
    pub network_code: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OpenUkNetwork {
    pub open_uk_network_name: String,
    pub open_uk_network_code: String,
    pub country: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OpenUkNetworkTrust {
    pub ods_trust_code: String,
    pub open_uk_network_code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Country {
    pub country_ons_code: String,
    pub country_ons_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WelshName {
    #[serde(alias = "country_ons_code")]
    pub gss_code: String,
    pub welsh_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LondonBorough {
    pub gss_code: String,
    pub name: String,
}

/// Every list the seed uses.
#[derive(Clone, Debug)]
pub struct ReferenceData {
    pub sites: Vec<Site>,
    pub trusts: Vec<Trust>,
    pub local_health_boards: Vec<LocalHealthBoard>,
    pub integrated_care_boards: Vec<IntegratedCareBoard>,
    pub icb_lookup: Vec<IcbLookupRow>,
    pub regions: Vec<Region>,
    pub diabetes_networks: Vec<DiabetesNetwork>,
    pub pz_codes: Vec<PzCodeNetwork>,
    pub open_uk_networks: Vec<OpenUkNetwork>,
    pub open_uk_network_trusts: Vec<OpenUkNetworkTrust>,
    pub countries: Vec<Country>,
    pub country_welsh_names: Vec<WelshName>,
    pub lhb_welsh_names: Vec<WelshName>,
    pub london_boroughs: Vec<LondonBorough>,
}

impl ReferenceData {
    /// Parses the copy compiled into the binary.
    pub fn bundled() -> Result<Self, AppError> {
        Ok(Self {
            sites: parse(bundled!("reference-data/rcpch_organisations.json"))?,
            trusts: parse(bundled!("reference-data/trusts.json"))?,
            local_health_boards: parse(bundled!("reference-data/local_health_boards.json"))?,
            integrated_care_boards: parse(bundled!("reference-data/integrated_care_boards.json"))?,
            icb_lookup: parse(bundled!(
                "reference-data/integrated_care_boards_local_authorities.json"
            ))?,
            regions: parse(bundled!("reference-data/nhs_england_regions.json"))?,
            diabetes_networks: parse(bundled!("reference-data/paediatric_diabetes_networks.json"))?,
            pz_codes: parse(bundled!("reference-data/pz_codes_networks.json"))?,
            open_uk_networks: parse(bundled!("reference-data/open_uk_networks.json"))?,
            open_uk_network_trusts: parse(bundled!("reference-data/open_uk_networks_trusts.json"))?,
            countries: parse(bundled!("reference-data/country_codes.json"))?,
            country_welsh_names: parse(bundled!("supplement/country_welsh_names.json"))?,
            lhb_welsh_names: parse(bundled!("supplement/local_health_board_welsh_names.json"))?,
            london_boroughs: parse(bundled!("supplement/london_boroughs.json"))?,
        })
    }
}
