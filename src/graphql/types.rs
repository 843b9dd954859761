//! GraphQL object types: they map records and resolve edges through the loaders.
use async_graphql::{ComplexObject, Context, Interface, Result, SimpleObject};

use std::sync::Arc;

use super::limits::{list_cost, weight};
use super::loaders::{down, up, Group, Grouped};
use super::scalars::Date;
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::memberships::Edge;

/// A hospital or community site where children are cared for.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Organisation {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ODS code of the site (upper case).
    pub ods_code: String,
    /// Name of the site.
    pub name: String,
    /// Website address.
    pub website: Option<String>,
    /// Telephone number.
    pub telephone: Option<String>,
    /// First address line.
    pub address1: Option<String>,
    /// Second address line.
    pub address2: Option<String>,
    /// Third address line.
    pub address3: Option<String>,
    /// Town or city.
    pub city: Option<String>,
    /// County.
    pub county: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Latitude (WGS84 decimal degrees).
    pub latitude: Option<f64>,
    /// Longitude (WGS84 decimal degrees).
    pub longitude: Option<f64>,
    /// False when ODS records the site as closed.
    pub active: bool,
    /// The date ODS last changed the record (from the ORD sync).
    pub published_at: Option<Date>,
}

impl From<organisation::Model> for Organisation {
    fn from(m: organisation::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            ods_code: m.ods_code,
            name: m.name,
            website: m.website,
            telephone: m.telephone,
            address1: m.address1,
            address2: m.address2,
            address3: m.address3,
            city: m.city,
            county: m.county,
            postcode: m.postcode,
            latitude: m.latitude,
            longitude: m.longitude,
            active: m.active,
            published_at: m.published_at.map(Date),
        }
    }
}

macro_rules! grouped {
    ($($t:ident),*) => {$(
        impl Grouped for $t {
            fn with_group(mut self, group: Arc<Group>) -> Self {
                self.group = group;
                self
            }
        }
    )*};
}

grouped!(
    Organisation,
    Trust,
    LocalHealthBoard,
    IntegratedCareBoard,
    NhsEnglandRegion,
    PaediatricDiabetesUnit,
    PaediatricDiabetesNetwork,
    OpenUkNetwork,
    LondonBorough,
    Country
);

#[ComplexObject]
impl Organisation {
    /// The NHS trust that runs the site (English and Jersey sites).
    async fn trust(&self, ctx: &Context<'_>) -> Result<Option<Trust>> {
        up::<trust::Model, _>(ctx, &self.group, Edge::OrganisationTrust, self.id).await
    }

    /// The Local Health Board that runs the site (Welsh sites).
    async fn local_health_board(&self, ctx: &Context<'_>) -> Result<Option<LocalHealthBoard>> {
        up::<local_health_board::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationLocalHealthBoard,
            self.id,
        )
        .await
    }

    /// The trust or Local Health Board that runs the site.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<ParentOrganisation>> {
        if let Some(t) = self.trust(ctx).await? {
            return Ok(Some(ParentOrganisation::Trust(t)));
        }
        Ok(self
            .local_health_board(ctx)
            .await?
            .map(ParentOrganisation::LocalHealthBoard))
    }

    /// The Integrated Care Board the site belongs to (English sites).
    async fn integrated_care_board(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<IntegratedCareBoard>> {
        up::<integrated_care_board::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationIntegratedCareBoard,
            self.id,
        )
        .await
    }

    /// The NHS England region the site belongs to (English sites).
    async fn nhs_england_region(&self, ctx: &Context<'_>) -> Result<Option<NhsEnglandRegion>> {
        up::<nhs_england_region::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationNhsEnglandRegion,
            self.id,
        )
        .await
    }

    /// The Paediatric Diabetes Unit the site is part of.
    async fn paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<PaediatricDiabetesUnit>> {
        up::<paediatric_diabetes_unit::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationPaediatricDiabetesUnit,
            self.id,
        )
        .await
    }

    /// The OPEN UK paediatric epilepsy network of the site.
    async fn open_uk_network(&self, ctx: &Context<'_>) -> Result<Option<OpenUkNetwork>> {
        up::<open_uk_network::Model, _>(ctx, &self.group, Edge::OrganisationOpenUkNetwork, self.id)
            .await
    }

    /// The London borough the site is in (London sites).
    async fn london_borough(&self, ctx: &Context<'_>) -> Result<Option<LondonBorough>> {
        up::<london_borough::Model, _>(ctx, &self.group, Edge::OrganisationLondonBorough, self.id)
            .await
    }

    /// The country the site is in.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        up::<country::Model, _>(ctx, &self.group, Edge::OrganisationCountry, self.id).await
    }
}

/// The body that runs a site: an NHS trust or a Welsh Local Health Board.
#[derive(Interface)]
#[allow(clippy::duplicated_attributes)] // the derive's repeated `ty = "&String"` trips the lint
#[graphql(
    field(
        name = "ods_code",
        ty = "&String",
        desc = "ODS code of the trust or board."
    ),
    field(name = "name", ty = "&String", desc = "Name of the trust or board."),
    field(
        name = "organisations",
        ty = "Vec<Organisation>",
        desc = "The current sites it runs, by name."
    )
)]
pub enum ParentOrganisation {
    Trust(Trust),
    LocalHealthBoard(LocalHealthBoard),
}

/// An NHS trust: the parent of English (and Jersey) sites.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Trust {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ODS code of the trust.
    pub ods_code: String,
    /// Name of the trust.
    pub name: String,
    /// First line of the registered address.
    pub address_line1: Option<String>,
    /// Second line of the registered address.
    pub address_line2: Option<String>,
    /// Town of the registered address.
    pub town: Option<String>,
    /// Postcode of the registered address.
    pub postcode: Option<String>,
    /// Country as ODS writes it (e.g. ENGLAND).
    pub country: Option<String>,
    /// Telephone number.
    pub telephone: Option<String>,
    /// Website address.
    pub website: Option<String>,
    /// False when ODS records the trust as closed.
    pub active: bool,
    /// The date ODS last changed the record (from the ORD sync).
    pub published_at: Option<Date>,
}

impl From<trust::Model> for Trust {
    fn from(m: trust::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            ods_code: m.ods_code,
            name: m.name,
            address_line1: m.address_line1,
            address_line2: m.address_line2,
            town: m.town,
            postcode: m.postcode,
            country: m.country,
            telephone: m.telephone,
            website: m.website,
            active: m.active,
            published_at: m.published_at.map(Date),
        }
    }
}

#[ComplexObject]
impl Trust {
    /// The current sites the trust runs, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(ctx, &self.group, Edge::OrganisationTrust, self.id).await
    }
}

/// A Welsh Local Health Board: the parent of Welsh sites.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct LocalHealthBoard {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ODS code of the board (7A1..7A7).
    pub ods_code: String,
    /// Name of the board.
    pub name: String,
    /// Welsh name of the board.
    pub welsh_name: Option<String>,
    /// ONS code of the board's boundary (LHB22CD).
    pub boundary_identifier: Option<String>,
}

impl From<local_health_board::Model> for LocalHealthBoard {
    fn from(m: local_health_board::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            ods_code: m.ods_code,
            name: m.name,
            welsh_name: m.welsh_name,
            boundary_identifier: m.boundary_identifier,
        }
    }
}

#[ComplexObject]
impl LocalHealthBoard {
    /// The current sites the board runs, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationLocalHealthBoard,
            self.id,
        )
        .await
    }
}

/// An English Integrated Care Board.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct IntegratedCareBoard {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ODS code of the ICB (Qxx).
    pub ods_code: String,
    /// Name of the ICB.
    pub name: String,
    /// ONS code of the ICB's boundary (ICB23CD).
    pub boundary_identifier: Option<String>,
}

impl From<integrated_care_board::Model> for IntegratedCareBoard {
    fn from(m: integrated_care_board::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            ods_code: m.ods_code,
            name: m.name,
            boundary_identifier: m.boundary_identifier,
        }
    }
}

#[ComplexObject]
impl IntegratedCareBoard {
    /// The NHS England region the ICB belongs to.
    async fn nhs_england_region(&self, ctx: &Context<'_>) -> Result<Option<NhsEnglandRegion>> {
        up::<nhs_england_region::Model, _>(
            ctx,
            &self.group,
            Edge::IntegratedCareBoardRegion,
            self.id,
        )
        .await
    }

    /// The current sites in the ICB, by name.
    #[graphql(complexity = "list_cost(weight::ICB_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationIntegratedCareBoard,
            self.id,
        )
        .await
    }

    /// The trusts that run the ICB's current sites, by name.
    #[graphql(complexity = "list_cost(weight::ICB_TRUSTS, None, child_complexity)")]
    async fn trusts(&self, ctx: &Context<'_>) -> Result<Vec<Trust>> {
        let sites: Vec<Organisation> = down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationIntegratedCareBoard,
            self.id,
        )
        .await?;
        let mut trusts: Vec<Trust> = Vec::new();
        for site in &sites {
            if let Some(t) = site.trust(ctx).await? {
                if !trusts.iter().any(|x| x.id == t.id) {
                    trusts.push(t);
                }
            }
        }
        trusts.sort_by(|a, b| (&a.name, &a.ods_code).cmp(&(&b.name, &b.ods_code)));
        Ok(trusts)
    }
}

/// An NHS England region.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct NhsEnglandRegion {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// Region code (Y56..Y63).
    pub region_code: String,
    /// Name of the region.
    pub name: String,
    /// ONS code of the region's boundary (NHSER22CD).
    pub boundary_identifier: Option<String>,
}

impl From<nhs_england_region::Model> for NhsEnglandRegion {
    fn from(m: nhs_england_region::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            region_code: m.region_code,
            name: m.name,
            boundary_identifier: m.boundary_identifier,
        }
    }
}

#[ComplexObject]
impl NhsEnglandRegion {
    /// The ICBs in the region, by name.
    #[graphql(complexity = "list_cost(weight::REGION_ICBS, None, child_complexity)")]
    async fn integrated_care_boards(&self, ctx: &Context<'_>) -> Result<Vec<IntegratedCareBoard>> {
        down::<integrated_care_board::Model, _>(
            ctx,
            &self.group,
            Edge::IntegratedCareBoardRegion,
            self.id,
        )
        .await
    }

    /// The current sites in the region, by name.
    #[graphql(complexity = "list_cost(weight::REGION_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationNhsEnglandRegion,
            self.id,
        )
        .await
    }
}

/// A Paediatric Diabetes Unit (NPDA PZ code): one or more sites that run a children's
/// diabetes service together.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct PaediatricDiabetesUnit {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    #[graphql(skip)]
    pub lead_organisation_id: Option<i32>,
    /// PZ code of the unit.
    pub pz_code: String,
}

impl From<paediatric_diabetes_unit::Model> for PaediatricDiabetesUnit {
    fn from(m: paediatric_diabetes_unit::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            lead_organisation_id: m.lead_organisation_id,
            pz_code: m.pz_code,
        }
    }
}

#[ComplexObject]
impl PaediatricDiabetesUnit {
    /// The diabetes network the unit belongs to.
    async fn paediatric_diabetes_network(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<PaediatricDiabetesNetwork>> {
        up::<paediatric_diabetes_network::Model, _>(
            ctx,
            &self.group,
            Edge::PaediatricDiabetesUnitNetwork,
            self.id,
        )
        .await
    }

    /// The current sites of the unit, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationPaediatricDiabetesUnit,
            self.id,
        )
        .await
    }

    /// The lead site: the named lead while it is a current site, else the first site by name.
    async fn primary_organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let sites: Vec<Organisation> = down::<organisation::Model, _>(
            ctx,
            &self.group,
            Edge::OrganisationPaediatricDiabetesUnit,
            self.id,
        )
        .await?;
        let lead = sites
            .iter()
            .position(|s| Some(s.id) == self.lead_organisation_id)
            .unwrap_or(0);
        Ok(sites.into_iter().nth(lead))
    }

    /// The trust or board that runs the lead site.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<ParentOrganisation>> {
        match self.primary_organisation(ctx).await? {
            Some(site) => site.parent(ctx).await,
            None => Ok(None),
        }
    }
}

/// A paediatric diabetes network (PN code, assigned by RCPCH).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct PaediatricDiabetesNetwork {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// PN code of the network.
    pub pn_code: String,
    /// Name of the network.
    pub name: String,
}

impl From<paediatric_diabetes_network::Model> for PaediatricDiabetesNetwork {
    fn from(m: paediatric_diabetes_network::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            pn_code: m.pn_code,
            name: m.name,
        }
    }
}

#[ComplexObject]
impl PaediatricDiabetesNetwork {
    /// The units in the network, by PZ code.
    #[graphql(complexity = "list_cost(weight::NETWORK_UNITS, None, child_complexity)")]
    async fn paediatric_diabetes_units(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<PaediatricDiabetesUnit>> {
        down::<paediatric_diabetes_unit::Model, _>(
            ctx,
            &self.group,
            Edge::PaediatricDiabetesUnitNetwork,
            self.id,
        )
        .await
    }
}

/// An OPEN UK regional paediatric epilepsy network.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct OpenUkNetwork {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// Short code of the network (e.g. BRPNF).
    pub code: String,
    /// Name of the network.
    pub name: String,
    /// Country of the network (England or Wales).
    pub country: Option<String>,
}

impl From<open_uk_network::Model> for OpenUkNetwork {
    fn from(m: open_uk_network::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            code: m.code,
            name: m.name,
            country: m.country,
        }
    }
}

#[ComplexObject]
impl OpenUkNetwork {
    /// The current sites in the network, by name.
    #[graphql(complexity = "list_cost(weight::NETWORK_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(ctx, &self.group, Edge::OrganisationOpenUkNetwork, self.id)
            .await
    }
}

/// A London borough (or the City of London).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct LondonBorough {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ONS GSS code of the borough (E09...).
    pub gss_code: String,
    /// Name of the borough.
    pub name: String,
}

impl From<london_borough::Model> for LondonBorough {
    fn from(m: london_borough::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            gss_code: m.gss_code,
            name: m.name,
        }
    }
}

#[ComplexObject]
impl LondonBorough {
    /// The current sites in the borough, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(ctx, &self.group, Edge::OrganisationLondonBorough, self.id)
            .await
    }
}

/// A country of the UK (or Jersey).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Country {
    #[graphql(skip)]
    pub id: i32,
    #[graphql(skip)]
    pub group: Arc<Group>,
    /// ONS code of the country (E92000001); Jersey has the project-local E92000003.
    pub code: String,
    /// Name of the country.
    pub name: String,
    /// Welsh name of the country.
    pub welsh_name: Option<String>,
    /// ONS code of the country's boundary (CTRY22CD), when there is one.
    pub boundary_identifier: Option<String>,
}

impl From<country::Model> for Country {
    fn from(m: country::Model) -> Self {
        Self {
            id: m.id,
            group: Group::single(m.id),
            code: m.code,
            name: m.name,
            welsh_name: m.welsh_name,
            boundary_identifier: m.boundary_identifier,
        }
    }
}

#[ComplexObject]
impl Country {
    /// The current sites in the country, by name.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down::<organisation::Model, _>(ctx, &self.group, Edge::OrganisationCountry, self.id).await
    }
}

/// One recorded write: who or what made it, when, and the state before and after.
#[derive(SimpleObject, Clone, Debug)]
pub struct ChangeLogEntry {
    /// The entry's id, increasing with time: `changeLog(before:)` takes it as a cursor.
    pub id: i32,
    /// When the write was recorded (RFC 3339, UTC).
    pub recorded_at: String,
    /// The day the change takes effect.
    pub effective_on: Date,
    /// Who made it: `seed`, `cli`, `scheduler` or an admin key's name.
    pub actor: String,
    /// What made it: `seed`, `ord-sync` or `merger`.
    pub source: String,
    /// The kind of record, e.g. `organisation`, `trust`.
    pub entity: String,
    /// The record's natural code.
    pub code: String,
    /// `create`, `update`, `delete`, `restore` or `membership`.
    pub action: String,
    /// The field or edge changed, when the change is about one.
    pub field: Option<String>,
    /// JSON of the state before.
    pub before: Option<String>,
    /// JSON of the state after.
    pub after: Option<String>,
}

impl From<crate::entities::change_log::Model> for ChangeLogEntry {
    fn from(m: crate::entities::change_log::Model) -> Self {
        Self {
            id: m.id,
            recorded_at: m.recorded_at.to_rfc3339(),
            effective_on: Date(m.effective_on),
            actor: m.actor,
            source: m.source,
            entity: m.entity,
            code: m.code,
            action: m.action,
            field: m.field,
            before: m.before,
            after: m.after,
        }
    }
}
