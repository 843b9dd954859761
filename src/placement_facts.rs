//! The database facts `crate::placement` decides on, gathered the same way for the mergers and
//! the sync (the seed has them from the reference data). No rules here: only reads.
use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::{organisation, trust};
use crate::memberships::{self, Edge, Moment};
use crate::placement::{Agreement, IcbRegions, TrustFacts};

/// The ICBs we hold, each with its current NHS England region.
pub async fn icb_regions<C: ConnectionTrait>(db: &C) -> Result<IcbRegions, DbErr> {
    let icbs = memberships::ids_by_code(db, memberships::INTEGRATED_CARE_BOARDS).await?;
    let ids: Vec<i32> = icbs.values().copied().collect();
    let regions =
        memberships::parents_of(db, Edge::IntegratedCareBoardRegion, &ids, Moment::Current).await?;
    let region_ids: Vec<i32> = regions.values().copied().collect();
    let region_codes =
        memberships::codes_of(db, memberships::NHS_ENGLAND_REGIONS, &region_ids).await?;
    Ok(icbs
        .into_iter()
        .map(|(code, id)| {
            let region = regions.get(&id).and_then(|r| region_codes.get(r)).cloned();
            (code, region)
        })
        .collect())
}

/// What the parent's other current sites (`excluding` the site itself; deleted sites have no
/// say) have on `edge`.
pub async fn agreement<C: ConnectionTrait>(
    db: &C,
    parent_edge: Edge,
    parent_id: i32,
    edge: Edge,
    excluding: Option<i32>,
) -> Result<Agreement, DbErr> {
    let sites: Vec<i32> = memberships::children_of(db, parent_edge, &[parent_id], Moment::Current)
        .await?
        .remove(&parent_id)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| Some(*s) != excluding)
        .collect();
    if sites.is_empty() {
        return Ok(Agreement::None);
    }
    let deleted: Vec<i32> = organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(sites.clone()))
        .filter(organisation::Column::DeletedAt.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.id)
        .collect();
    let live: Vec<i32> = sites.into_iter().filter(|s| !deleted.contains(s)).collect();
    let parents = memberships::parents_of(db, edge, &live, Moment::Current).await?;
    let ids: Vec<i32> = parents.values().copied().collect();
    let codes = memberships::codes_of(db, edge.parent(), &ids).await?;
    Ok(Agreement::of(ids.iter().filter_map(|id| codes.get(id))))
}

/// Whether the trust's own record puts it in Wales.
pub async fn trust_in_wales<C: ConnectionTrait>(db: &C, trust_id: i32) -> Result<bool, DbErr> {
    Ok(trust::Entity::find_by_id(trust_id)
        .one(db)
        .await?
        .and_then(|t| t.country)
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("WALES")))
}

/// What decides the ICB and region of `site` (none for a new one) under the trust.
pub async fn trust_facts<'a, C: ConnectionTrait>(
    db: &C,
    (trust_id, trust_code): (i32, &'a str),
    site: Option<i32>,
    ord_icb: Option<&'a str>,
    listed_icb: Option<&'a str>,
) -> Result<TrustFacts<'a>, DbErr> {
    let trust_edge = Edge::OrganisationTrust;
    let icb = Edge::OrganisationIntegratedCareBoard;
    let region = Edge::OrganisationNhsEnglandRegion;
    Ok(TrustFacts {
        code: trust_code,
        sites_icb: agreement(db, trust_edge, trust_id, icb, site).await?,
        sites_region: agreement(db, trust_edge, trust_id, region, site).await?,
        ord_icb,
        listed_icb,
    })
}

/// Row ids of the codes a placement names, by edge; a code we do not hold is left out, with a
/// warning.
pub async fn resolve<C: ConnectionTrait>(
    db: &C,
    edges: impl IntoIterator<Item = (Edge, String)>,
) -> Result<(HashMap<Edge, (i32, String)>, Vec<String>), DbErr> {
    let mut out = HashMap::new();
    let mut warnings = Vec::new();
    for (edge, code) in edges {
        match memberships::id_of(db, edge.parent(), &code).await? {
            Some(id) => {
                out.insert(edge, (id, code));
            }
            None => warnings.push(format!("{} {code} is not in our data", label(edge))),
        }
    }
    Ok((out, warnings))
}

/// How warnings name the parent of an edge.
fn label(edge: Edge) -> &'static str {
    match edge {
        Edge::OrganisationPaediatricDiabetesUnit => "PDU",
        Edge::OrganisationOpenUkNetwork => "OPEN UK network",
        Edge::OrganisationIntegratedCareBoard => "ICB",
        Edge::OrganisationNhsEnglandRegion => "NHS England region",
        Edge::OrganisationTrust => "trust",
        Edge::OrganisationLocalHealthBoard => "Local Health Board",
        Edge::OrganisationLondonBorough => "London borough",
        other => other.name(),
    }
}
