//! From snapshot records to the REST shapes. Which records and in which order is decided by
//! `crate::directory`; this only copies fields (and follows a record's own edges).
use std::sync::Arc;

use crate::boundaries;
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::snapshot::{edges, Day, Snapshot};

use super::shapes::*;

/// Sites in the order the REST routes list them (see `directory::collation_key`).
pub fn collated(mut list: Vec<Arc<organisation::Model>>) -> Vec<Arc<organisation::Model>> {
    crate::directory::collated(&mut list, false);
    list
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// A site's code and name.
pub fn org_min(m: &organisation::Model) -> OrgMin {
    OrgMin {
        ods_code: m.ods_code.clone(),
        name: m.name.clone(),
    }
}

/// A list of sites' codes and names.
pub fn org_mins<'a>(list: impl IntoIterator<Item = &'a Arc<organisation::Model>>) -> Vec<OrgMin> {
    list.into_iter().map(|m| org_min(m)).collect()
}

/// A trust.
pub fn trust(m: &trust::Model) -> Trust {
    Trust {
        ods_code: m.ods_code.clone(),
        name: m.name.clone(),
        address_line_1: text(&m.address_line1),
        address_line_2: text(&m.address_line2),
        town: text(&m.town),
        postcode: text(&m.postcode),
        country: text(&m.country),
        telephone: m.telephone.clone(),
        website: m.website.clone(),
        active: m.active,
        published_at: m.published_at,
    }
}

/// A trust with its sites on `day`.
pub fn trust_with_sites(s: &Snapshot, m: &trust::Model, day: Day) -> TrustWithSites {
    TrustWithSites {
        trust: trust(m),
        organisations: org_mins(&collated(
            s.children(edges::SITE_TRUST, m.id, day)
                .into_iter()
                .cloned()
                .collect(),
        )),
    }
}

/// A Local Health Board as a parent.
pub fn board_ref(m: &local_health_board::Model) -> BoardRef {
    BoardRef {
        ods_code: m.ods_code.clone(),
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
    }
}

/// The trust, else the Local Health Board, that runs a site on `day`.
pub fn parent_of(s: &Snapshot, site: i32, day: Day) -> Option<Parent> {
    if let Some(t) = s.parent(edges::SITE_TRUST, site, day) {
        return Some(Parent::Trust(trust(t)));
    }
    s.parent(edges::SITE_LOCAL_HEALTH_BOARD, site, day)
        .map(|b| Parent::LocalHealthBoard(board_ref(b)))
}

fn network_ref(m: &paediatric_diabetes_network::Model) -> NetworkRef {
    NetworkRef {
        pn_code: m.pn_code.clone(),
        name: m.name.clone(),
    }
}

fn region_ref(m: &nhs_england_region::Model) -> RegionRef {
    RegionRef {
        region_code: m.region_code.clone(),
        publication_date: Some(boundaries::NHS_ENGLAND_REGIONS_PUBLISHED.into()),
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
    }
}

/// An OPEN UK network.
pub fn open_uk_network(m: &open_uk_network::Model) -> OpenUkNetwork {
    OpenUkNetwork {
        name: m.name.clone(),
        boundary_identifier: m.code.clone(),
        country: m.country.clone(),
        publication_date: Some(boundaries::OPEN_UK_NETWORKS_PUBLISHED.into()),
    }
}

fn country_ref(m: &country::Model) -> CountryRef {
    CountryRef {
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
    }
}

/// A site with every parent it has on `day`.
pub fn org(s: &Snapshot, m: &organisation::Model, day: Day) -> Org {
    let id = m.id;
    let unit = s.parent(edges::SITE_PAEDIATRIC_DIABETES_UNIT, id, day);
    Org {
        ods_code: m.ods_code.clone(),
        name: m.name.clone(),
        website: text(&m.website),
        address1: text(&m.address1),
        address2: text(&m.address2),
        address3: text(&m.address3),
        telephone: text(&m.telephone),
        city: text(&m.city),
        county: text(&m.county),
        latitude: m.latitude,
        longitude: m.longitude,
        postcode: text(&m.postcode),
        geocode_coordinates: match (m.longitude, m.latitude) {
            (Some(lon), Some(lat)) => Some(GeoPoint {
                kind: "Point",
                coordinates: [lon, lat],
            }),
            _ => None,
        },
        active: m.active,
        published_at: m.published_at,
        paediatric_diabetes_unit: unit.map(|u| SitePdu {
            pz_code: u.pz_code.clone(),
            paediatric_diabetes_network: s
                .parent(edges::UNIT_NETWORK, u.id, day)
                .map(|n| network_ref(n)),
        }),
        trust: s.parent(edges::SITE_TRUST, id, day).map(|t| trust(t)),
        local_health_board: s
            .parent(edges::SITE_LOCAL_HEALTH_BOARD, id, day)
            .map(|b| board_ref(b)),
        integrated_care_board: s
            .parent(edges::SITE_INTEGRATED_CARE_BOARD, id, day)
            .map(|b| IcbRef {
                boundary_identifier: b.boundary_identifier.clone(),
                name: b.name.clone(),
                ods_code: b.ods_code.clone(),
            }),
        nhs_england_region: s
            .parent(edges::SITE_NHS_ENGLAND_REGION, id, day)
            .map(|r| region_ref(r)),
        openuk_network: s
            .parent(edges::SITE_OPEN_UK_NETWORK, id, day)
            .map(|n| open_uk_network(n)),
        london_borough: s
            .parent(edges::SITE_LONDON_BOROUGH, id, day)
            .map(|b| BoroughRef {
                name: b.name.clone(),
                gss_code: b.gss_code.clone(),
            }),
        country: s
            .parent(edges::SITE_COUNTRY, id, day)
            .map(|c| country_ref(c)),
    }
}

/// A site's state on `day` for the snapshot route; `predecessor` when it stands in for a code
/// that did not exist yet.
pub fn site_snapshot(
    s: &Snapshot,
    m: &organisation::Model,
    day: Day,
    predecessor: bool,
) -> SiteSnapshot {
    let id = m.id;
    SiteSnapshot {
        ods_code: m.ods_code.clone(),
        snapshot_date: day,
        name: m.name.clone(),
        address1: text(&m.address1),
        address2: text(&m.address2),
        address3: text(&m.address3),
        telephone: text(&m.telephone),
        city: text(&m.city),
        county: text(&m.county),
        postcode: text(&m.postcode),
        latitude: m.latitude,
        longitude: m.longitude,
        active: m.active,
        published_at: m.published_at,
        trust: s.parent(edges::SITE_TRUST, id, day).map(|t| CodeName {
            ods_code: t.ods_code.clone(),
            name: t.name.clone(),
        }),
        local_health_board: s
            .parent(edges::SITE_LOCAL_HEALTH_BOARD, id, day)
            .map(|b| CodeName {
                ods_code: b.ods_code.clone(),
                name: b.name.clone(),
            }),
        integrated_care_board: s
            .parent(edges::SITE_INTEGRATED_CARE_BOARD, id, day)
            .map(|b| CodeName {
                ods_code: b.ods_code.clone(),
                name: b.name.clone(),
            }),
        nhs_england_region: s.parent(edges::SITE_NHS_ENGLAND_REGION, id, day).map(|r| {
            RegionCodeName {
                region_code: r.region_code.clone(),
                name: r.name.clone(),
            }
        }),
        openuk_network: s
            .parent(edges::SITE_OPEN_UK_NETWORK, id, day)
            .map(|n| NetworkCodeName {
                boundary_identifier: n.code.clone(),
                name: n.name.clone(),
            }),
        paediatric_diabetes_unit: s.parent(edges::SITE_PAEDIATRIC_DIABETES_UNIT, id, day).map(
            |u| PzCode {
                pz_code: u.pz_code.clone(),
            },
        ),
        predecessor_ods_code: predecessor.then(|| m.ods_code.clone()),
        country: s
            .parent(edges::SITE_COUNTRY, id, day)
            .map(|c| country_ref(c)),
    }
}

/// A Local Health Board with its boundary properties.
pub fn local_health_board(m: &local_health_board::Model) -> LocalHealthBoard {
    let p = boundaries::of(m.boundary_identifier.as_deref());
    LocalHealthBoard {
        ods_code: m.ods_code.clone(),
        publication_date: None,
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
        welsh_name: m.welsh_name.clone(),
        bng_e: p.bng_e,
        bng_n: p.bng_n,
        long: p.long,
        lat: p.lat,
    }
}

/// An Integrated Care Board with its boundary properties.
pub fn integrated_care_board(m: &integrated_care_board::Model) -> IntegratedCareBoard {
    let p = boundaries::of(m.boundary_identifier.as_deref());
    IntegratedCareBoard {
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
        bng_e: p.bng_e,
        bng_n: p.bng_n,
        long: p.long,
        lat: p.lat,
        globalid: p.globalid.clone(),
        ods_code: m.ods_code.clone(),
        publication_date: Some(boundaries::INTEGRATED_CARE_BOARDS_PUBLISHED.into()),
    }
}

/// An NHS England region with its boundary properties.
pub fn nhs_england_region(m: &nhs_england_region::Model) -> NhsEnglandRegion {
    let p = boundaries::of(m.boundary_identifier.as_deref());
    NhsEnglandRegion {
        region_code: m.region_code.clone(),
        publication_date: Some(boundaries::NHS_ENGLAND_REGIONS_PUBLISHED.into()),
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
        bng_e: p.bng_e,
        bng_n: p.bng_n,
        long: p.long,
        lat: p.lat,
    }
}

/// A London borough with its boundary properties.
pub fn london_borough(m: &london_borough::Model) -> LondonBorough {
    let p = boundaries::of(Some(&m.gss_code));
    LondonBorough {
        name: m.name.clone(),
        gss_code: m.gss_code.clone(),
        hectares: p.hectares,
        nonld_area: p.nonld_area,
        ons_inner: p.ons_inner.clone(),
        sub_2009: p.sub_2009.clone(),
        sub_2006: p.sub_2006.clone(),
    }
}

/// A country with its boundary properties, sending only `fields`.
pub fn country(m: &country::Model, fields: [bool; 8]) -> Country {
    let p = boundaries::of(m.boundary_identifier.as_deref());
    Country {
        boundary_identifier: m.boundary_identifier.clone(),
        name: m.name.clone(),
        welsh_name: m.welsh_name.clone(),
        bng_e: p.bng_e,
        bng_n: p.bng_n,
        long: p.long,
        lat: p.lat,
        globalid: p.globalid.clone(),
        fields,
    }
}

/// A unit's sites on `day`, in list order (what `directory::primary_site` expects).
pub fn unit_sites(
    s: &Snapshot,
    unit: &paediatric_diabetes_unit::Model,
    day: Day,
) -> Vec<Arc<organisation::Model>> {
    s.children(edges::SITE_PAEDIATRIC_DIABETES_UNIT, unit.id, day)
        .into_iter()
        .cloned()
        .collect()
}

/// A unit as the NPDA seeder reads it.
pub fn pdu_parent(s: &Snapshot, unit: &paediatric_diabetes_unit::Model, day: Day) -> PduParent {
    let sites = unit_sites(s, unit, day);
    let lead = crate::directory::primary_site(unit, &sites);
    PduParent {
        pz_code: unit.pz_code.clone(),
        paediatric_diabetes_network: s
            .parent(edges::UNIT_NETWORK, unit.id, day)
            .map(|n| network_ref(n)),
        parent: lead.and_then(|l| parent_of(s, l.id, day)),
        primary_organisation: lead.map(|l| org_min(l)),
        updated_at: None,
        last_updated: None,
        active: true,
        name: lead.map(|l| l.name.clone()),
    }
}

/// A unit with its sites, lead site and parent.
pub fn pdu_with_sites(
    s: &Snapshot,
    unit: &paediatric_diabetes_unit::Model,
    day: Day,
) -> PduWithSites {
    let sites = unit_sites(s, unit, day);
    let lead = crate::directory::primary_site(unit, &sites);
    PduWithSites {
        pz_code: unit.pz_code.clone(),
        organisations: org_mins(&collated(sites.clone())),
        primary_organisation: lead.map(|l| org_min(l)),
        parent: lead.and_then(|l| parent_of(s, l.id, day)),
    }
}

/// A unit with its sites.
pub fn pdu_organisations(
    s: &Snapshot,
    unit: &paediatric_diabetes_unit::Model,
    day: Day,
) -> PduOrganisations {
    PduOrganisations {
        pz_code: unit.pz_code.clone(),
        organisations: org_mins(&collated(unit_sites(s, unit, day))),
    }
}

/// Areas as GeoJSON features.
pub fn boundary_collection(list: Vec<crate::geography::AreaFeature>) -> BoundaryCollection {
    BoundaryCollection {
        kind: "FeatureCollection",
        features: list
            .into_iter()
            .map(|f| {
                let (geometry, reason) = match f.geometry {
                    Ok(g) => (Some(g.as_ref().clone()), None),
                    Err(why) => (None, Some(why)),
                };
                BoundaryFeature {
                    kind: "Feature",
                    properties: BoundaryProperties {
                        code: f.code,
                        name: f.name,
                        ods_code: f.ods_code,
                        boundary_unknown_reason: reason,
                    },
                    geometry,
                }
            })
            .collect(),
    }
}
