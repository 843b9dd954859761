//! GraphQL object types: each wraps a snapshot record as it was on the request's day and
//! resolves edges through the loaders. No rules live here; derived edges come from
//! `crate::directory`.
use std::sync::Arc;

use async_graphql::{Context, Enum, Interface, Object, Result, SimpleObject};

use super::limits::{list_cost, weight};
use super::loaders::{down, on_day, snapshot, up, Level, Wrap};
use super::scalars::Date;
use crate::change_log::{ChangeAction, ChangeSource, RecordKind};
use crate::directory;
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::memberships::Edge;
use crate::placement;
use crate::snapshot::{self, edges, Day, Kind, Snapshot};

/// One record that succeeded another.
#[derive(SimpleObject, Clone, Debug)]
pub struct Succession {
    /// ODS code of the other record.
    pub ods_code: String,
    /// Its name, when we hold the record.
    pub name: Option<String>,
    /// The day the succession took effect, when known.
    pub effective_on: Option<Date>,
}

fn successions(s: &Snapshot, list: Vec<&snapshot::Succession>, day: Day) -> Vec<Succession> {
    list.into_iter()
        .map(|l| Succession {
            ods_code: l.code.clone(),
            name: s.name_of(&l.code, day),
            effective_on: l.effective_on.map(Date),
        })
        .collect()
}

/// ODS deleted the record (announced in its deletion notices) after the newest version we hold.
/// We keep it, with its history; republishing at ODS clears this.
#[derive(SimpleObject, Clone, Debug)]
pub struct OdsDeletion {
    /// The day ODS deleted it.
    pub deleted_on: Date,
    /// ODS's reason (e.g. `HUMAN ERROR`), when it gave one.
    pub reason: Option<String>,
}

fn ods_deletion(on: Option<Day>, reason: &Option<String>) -> Option<OdsDeletion> {
    on.map(|d| OdsDeletion {
        deleted_on: Date(d),
        reason: reason.clone(),
    })
}

/// One value an attribute held, and for which days.
#[derive(SimpleObject, Clone, Debug)]
pub struct AttributePeriod {
    /// The attribute, as the change log names it (e.g. `name`, `postcode`, `active`).
    pub field: String,
    /// Its value as text; null when it had none.
    pub value: Option<String>,
    /// First day it held this value.
    pub valid_from: Date,
    /// The day it stopped holding it (exclusive); null while it still does.
    pub valid_to: Option<Date>,
}

fn attribute_history<M: Kind>(s: &Snapshot, id: i32) -> Vec<AttributePeriod> {
    let Some(record) = M::table(s).get(id) else {
        return Vec::new();
    };
    snapshot::attribute_history(record)
        .into_iter()
        .map(|a| {
            let (field, value) = shown_attribute(s, a.field, a.value);
            (field, value, a.period)
        })
        .map(|(field, value, period)| AttributePeriod {
            field,
            value: match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                v => Some(v.to_string()),
            },
            valid_from: Date(period.from),
            valid_to: period.to.map(Date),
        })
        .collect()
}

/// An attribute as clients know it: a unit's lead site by its ODS code (`lead_ods_code`), not
/// our row id.
fn shown_attribute(
    s: &Snapshot,
    field: String,
    value: serde_json::Value,
) -> (String, serde_json::Value) {
    if field != "lead_organisation_id" {
        return (field, value);
    }
    let code = value
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(|id| organisation::Model::table(s).get(id))
        .and_then(|r| r.versions.last())
        .map(|(_, m)| serde_json::Value::String(m.ods_code.clone()))
        .unwrap_or(serde_json::Value::Null);
    ("lead_ods_code".to_string(), code)
}

/// Which edge of the hierarchy a membership is on (child → parent).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MembershipEdge {
    /// Site → NHS trust.
    OrganisationTrust,
    /// Site → Welsh Local Health Board.
    OrganisationLocalHealthBoard,
    /// Site → Integrated Care Board.
    OrganisationIntegratedCareBoard,
    /// Site → NHS England region.
    OrganisationNhsEnglandRegion,
    /// Site → Paediatric Diabetes Unit.
    OrganisationPaediatricDiabetesUnit,
    /// Site → OPEN UK network.
    OrganisationOpenUkNetwork,
    /// Site → London borough.
    OrganisationLondonBorough,
    /// Site → country.
    OrganisationCountry,
    /// Paediatric Diabetes Unit → diabetes network.
    PaediatricDiabetesUnitNetwork,
    /// Integrated Care Board → NHS England region.
    IntegratedCareBoardRegion,
}

impl From<Edge> for MembershipEdge {
    fn from(e: Edge) -> Self {
        match e {
            Edge::OrganisationTrust => Self::OrganisationTrust,
            Edge::OrganisationLocalHealthBoard => Self::OrganisationLocalHealthBoard,
            Edge::OrganisationIntegratedCareBoard => Self::OrganisationIntegratedCareBoard,
            Edge::OrganisationNhsEnglandRegion => Self::OrganisationNhsEnglandRegion,
            Edge::OrganisationPaediatricDiabetesUnit => Self::OrganisationPaediatricDiabetesUnit,
            Edge::OrganisationOpenUkNetwork => Self::OrganisationOpenUkNetwork,
            Edge::OrganisationLondonBorough => Self::OrganisationLondonBorough,
            Edge::OrganisationCountry => Self::OrganisationCountry,
            Edge::PaediatricDiabetesUnitNetwork => Self::PaediatricDiabetesUnitNetwork,
            Edge::IntegratedCareBoardRegion => Self::IntegratedCareBoardRegion,
        }
    }
}

/// A period in which a record belonged to another (a dated membership).
#[derive(SimpleObject, Clone, Debug)]
pub struct MembershipPeriod {
    /// The edge.
    pub edge: MembershipEdge,
    /// Code of the record at the other end (the parent in `membershipHistory`, the member in
    /// `memberHistory`).
    pub code: String,
    /// Its name on the last day of the period, when it has one.
    pub name: Option<String>,
    /// First day of the membership.
    pub valid_from: Date,
    /// The day it ended (exclusive); null while it lasts.
    pub valid_to: Option<Date>,
}

fn label_day(p: &snapshot::Period) -> Day {
    p.to.and_then(|d| d.pred_opt())
        .unwrap_or(p.from)
        .max(p.from)
}

/// The periods of a record's parents on the given edges (it is the child).
fn membership_history(s: &Snapshot, id: i32, on: &[Edge]) -> Vec<MembershipPeriod> {
    let mut out = Vec::new();
    for &edge in on {
        for m in s.edge(edge).of_child(id) {
            if let Some((code, name)) = s.parent_label(edge, m.parent, label_day(&m.period)) {
                out.push(MembershipPeriod {
                    edge: edge.into(),
                    code,
                    name,
                    valid_from: Date(m.period.from),
                    valid_to: m.period.to.map(Date),
                });
            }
        }
    }
    out
}

/// The periods of a record's members on one edge (it is the parent), oldest first.
fn member_history(s: &Snapshot, id: i32, edge: Edge) -> Vec<MembershipPeriod> {
    s.edge(edge)
        .of_parent(id)
        .iter()
        .filter_map(|m| {
            let (code, name) = s.child_label(edge, m.child, label_day(&m.period))?;
            Some(MembershipPeriod {
                edge: edge.into(),
                code,
                name,
                valid_from: Date(m.period.from),
                valid_to: m.period.to.map(Date),
            })
        })
        .collect()
}

const SITE_EDGES: [Edge; 8] = [
    Edge::OrganisationTrust,
    Edge::OrganisationLocalHealthBoard,
    Edge::OrganisationIntegratedCareBoard,
    Edge::OrganisationNhsEnglandRegion,
    Edge::OrganisationPaediatricDiabetesUnit,
    Edge::OrganisationOpenUkNetwork,
    Edge::OrganisationLondonBorough,
    Edge::OrganisationCountry,
];

/// A hospital or community site where children are cared for.
#[derive(Clone, Debug)]
pub struct Organisation {
    pub rec: Arc<organisation::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<organisation::Model> for Organisation {
    fn wrap(rec: Arc<organisation::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A hospital or community site where children are cared for.
#[Object]
impl Organisation {
    /// ODS code of the site (upper case).
    async fn ods_code(&self) -> &String {
        &self.rec.ods_code
    }

    /// Name of the site.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// Website address.
    async fn website(&self) -> Option<&String> {
        self.rec.website.as_ref()
    }

    /// Telephone number.
    async fn telephone(&self) -> Option<&String> {
        self.rec.telephone.as_ref()
    }

    /// First address line.
    async fn address1(&self) -> Option<&String> {
        self.rec.address1.as_ref()
    }

    /// Second address line.
    async fn address2(&self) -> Option<&String> {
        self.rec.address2.as_ref()
    }

    /// Third address line.
    async fn address3(&self) -> Option<&String> {
        self.rec.address3.as_ref()
    }

    /// Town or city.
    async fn city(&self) -> Option<&String> {
        self.rec.city.as_ref()
    }

    /// County.
    async fn county(&self) -> Option<&String> {
        self.rec.county.as_ref()
    }

    /// Postcode.
    async fn postcode(&self) -> Option<&String> {
        self.rec.postcode.as_ref()
    }

    /// Latitude (WGS84 decimal degrees).
    async fn latitude(&self) -> Option<f64> {
        self.rec.latitude
    }

    /// Longitude (WGS84 decimal degrees).
    async fn longitude(&self) -> Option<f64> {
        self.rec.longitude
    }

    /// False when ODS records the site as closed.
    async fn active(&self) -> bool {
        self.rec.active
    }

    /// The date ODS last changed the record (from the ORD sync).
    async fn published_at(&self) -> Option<Date> {
        self.rec.published_at.map(Date)
    }

    /// Set when ODS deleted the record after the newest version we hold (the ORD sync reads
    /// ODS's deletion notices); null otherwise.
    async fn ods_deletion(&self) -> Option<OdsDeletion> {
        ods_deletion(self.rec.ods_deleted_on, &self.rec.ods_deletion_reason)
    }

    /// The NHS trust that runs the site (English and Jersey sites).
    async fn trust(&self, ctx: &Context<'_>) -> Result<Option<Trust>> {
        up(ctx, &self.level, edges::SITE_TRUST, self.rec.id).await
    }

    /// The Local Health Board that runs the site (Welsh sites).
    async fn local_health_board(&self, ctx: &Context<'_>) -> Result<Option<LocalHealthBoard>> {
        up(
            ctx,
            &self.level,
            edges::SITE_LOCAL_HEALTH_BOARD,
            self.rec.id,
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
        up(
            ctx,
            &self.level,
            edges::SITE_INTEGRATED_CARE_BOARD,
            self.rec.id,
        )
        .await
    }

    /// The NHS England region the site belongs to (English sites).
    async fn nhs_england_region(&self, ctx: &Context<'_>) -> Result<Option<NhsEnglandRegion>> {
        up(
            ctx,
            &self.level,
            edges::SITE_NHS_ENGLAND_REGION,
            self.rec.id,
        )
        .await
    }

    /// The Paediatric Diabetes Unit the site is part of.
    async fn paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<PaediatricDiabetesUnit>> {
        up(
            ctx,
            &self.level,
            edges::SITE_PAEDIATRIC_DIABETES_UNIT,
            self.rec.id,
        )
        .await
    }

    /// The OPEN UK paediatric epilepsy network of the site.
    async fn open_uk_network(&self, ctx: &Context<'_>) -> Result<Option<OpenUkNetwork>> {
        up(ctx, &self.level, edges::SITE_OPEN_UK_NETWORK, self.rec.id).await
    }

    /// The London borough the site is in (London sites).
    async fn london_borough(&self, ctx: &Context<'_>) -> Result<Option<LondonBorough>> {
        up(ctx, &self.level, edges::SITE_LONDON_BOROUGH, self.rec.id).await
    }

    /// The country the site is in.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        up(ctx, &self.level, edges::SITE_COUNTRY, self.rec.id).await
    }

    /// Every membership the site has had (trust, board, ICB, region, unit, network, borough,
    /// country), oldest first per edge.
    async fn membership_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(membership_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            &SITE_EDGES,
        ))
    }

    /// Records this one succeeded (ORD successions and mergers), as known on the day.
    async fn predecessors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.predecessors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Records that succeeded this one, as known on the day.
    async fn successors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.successors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Every value each attribute has held, with its dates (the whole history, whatever the
    /// day asked about).
    async fn attribute_history(&self, ctx: &Context<'_>) -> Result<Vec<AttributePeriod>> {
        Ok(attribute_history::<organisation::Model>(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
        ))
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
#[derive(Clone, Debug)]
pub struct Trust {
    pub rec: Arc<trust::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<trust::Model> for Trust {
    fn wrap(rec: Arc<trust::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// An NHS trust: the parent of English (and Jersey) sites.
#[Object]
impl Trust {
    /// ODS code of the trust.
    async fn ods_code(&self) -> &String {
        &self.rec.ods_code
    }

    /// Name of the trust.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// First line of the registered address.
    async fn address_line1(&self) -> Option<&String> {
        self.rec.address_line1.as_ref()
    }

    /// Second line of the registered address.
    async fn address_line2(&self) -> Option<&String> {
        self.rec.address_line2.as_ref()
    }

    /// Town of the registered address.
    async fn town(&self) -> Option<&String> {
        self.rec.town.as_ref()
    }

    /// Postcode of the registered address.
    async fn postcode(&self) -> Option<&String> {
        self.rec.postcode.as_ref()
    }

    /// Country as ODS writes it (e.g. ENGLAND).
    async fn country(&self) -> Option<&String> {
        self.rec.country.as_ref()
    }

    /// Telephone number.
    async fn telephone(&self) -> Option<&String> {
        self.rec.telephone.as_ref()
    }

    /// Website address.
    async fn website(&self) -> Option<&String> {
        self.rec.website.as_ref()
    }

    /// False when ODS records the trust as closed.
    async fn active(&self) -> bool {
        self.rec.active
    }

    /// The date ODS last changed the record (from the ORD sync).
    async fn published_at(&self) -> Option<Date> {
        self.rec.published_at.map(Date)
    }

    /// Set when ODS deleted the record after the newest version we hold (the ORD sync reads
    /// ODS's deletion notices); null otherwise.
    async fn ods_deletion(&self) -> Option<OdsDeletion> {
        ods_deletion(self.rec.ods_deleted_on, &self.rec.ods_deletion_reason)
    }

    /// The current sites the trust runs, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(ctx, &self.level, edges::SITE_TRUST, self.rec.id).await
    }

    /// Every period in which a site belonged to the trust, oldest first.
    async fn member_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(member_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            Edge::OrganisationTrust,
        ))
    }

    /// Records this one succeeded (ORD successions and mergers), as known on the day.
    async fn predecessors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.predecessors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Records that succeeded this one, as known on the day.
    async fn successors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.successors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Every value each attribute has held, with its dates (the whole history, whatever the
    /// day asked about).
    async fn attribute_history(&self, ctx: &Context<'_>) -> Result<Vec<AttributePeriod>> {
        Ok(attribute_history::<trust::Model>(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
        ))
    }
}

/// A Welsh Local Health Board: the parent of Welsh sites.
#[derive(Clone, Debug)]
pub struct LocalHealthBoard {
    pub rec: Arc<local_health_board::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<local_health_board::Model> for LocalHealthBoard {
    fn wrap(rec: Arc<local_health_board::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A Welsh Local Health Board: the parent of Welsh sites.
#[Object]
impl LocalHealthBoard {
    /// ODS code of the board (7A1..7A7).
    async fn ods_code(&self) -> &String {
        &self.rec.ods_code
    }

    /// Name of the board.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The boundary on the day as a GeoJSON geometry (WGS84, RFC 7946 winding), simplified to
    /// `simplifyMetres` (Douglas-Peucker in British National Grid metres; default as
    /// published). A board created by a merger has the union of the boards it took over;
    /// null where the boundary is unknown (see `boundaryUnknownReason`).
    #[graphql(complexity = 5)]
    async fn boundary(
        &self,
        ctx: &Context<'_>,
        simplify_metres: Option<f64>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::geography::boundary(ctx, self.rec.as_ref(), self.day, simplify_metres).await
    }

    /// Why `boundary` is null on the day (e.g. formed by a split whose parts have no
    /// published boundary); null when the boundary is known.
    async fn boundary_unknown_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::geography::unknown_reason(ctx, self.rec.as_ref(), self.day).await
    }

    /// The area-weighted centroid of `boundary` (WGS84); null when the boundary is unknown.
    async fn centroid(&self, ctx: &Context<'_>) -> Result<Option<super::geography::Centroid>> {
        super::geography::centroid(ctx, self.rec.as_ref(), self.day).await
    }

    /// Welsh name of the board.
    async fn welsh_name(&self) -> Option<&String> {
        self.rec.welsh_name.as_ref()
    }

    /// ONS code of the board's boundary (LHB22CD).
    async fn boundary_identifier(&self) -> Option<&String> {
        self.rec.boundary_identifier.as_ref()
    }

    /// The current sites the board runs, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(
            ctx,
            &self.level,
            edges::SITE_LOCAL_HEALTH_BOARD,
            self.rec.id,
        )
        .await
    }
}

/// An English Integrated Care Board.
#[derive(Clone, Debug)]
pub struct IntegratedCareBoard {
    pub rec: Arc<integrated_care_board::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<integrated_care_board::Model> for IntegratedCareBoard {
    fn wrap(rec: Arc<integrated_care_board::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// An English Integrated Care Board.
#[Object]
impl IntegratedCareBoard {
    /// ODS code of the ICB (Qxx).
    async fn ods_code(&self) -> &String {
        &self.rec.ods_code
    }

    /// Name of the ICB.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The boundary on the day as a GeoJSON geometry (WGS84, RFC 7946 winding), simplified to
    /// `simplifyMetres` (Douglas-Peucker in British National Grid metres; default as
    /// published). A board created by a merger has the union of the boards it took over;
    /// null where the boundary is unknown (see `boundaryUnknownReason`).
    #[graphql(complexity = 5)]
    async fn boundary(
        &self,
        ctx: &Context<'_>,
        simplify_metres: Option<f64>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::geography::boundary(ctx, self.rec.as_ref(), self.day, simplify_metres).await
    }

    /// Why `boundary` is null on the day (e.g. formed by a split whose parts have no
    /// published boundary); null when the boundary is known.
    async fn boundary_unknown_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::geography::unknown_reason(ctx, self.rec.as_ref(), self.day).await
    }

    /// The area-weighted centroid of `boundary` (WGS84); null when the boundary is unknown.
    async fn centroid(&self, ctx: &Context<'_>) -> Result<Option<super::geography::Centroid>> {
        super::geography::centroid(ctx, self.rec.as_ref(), self.day).await
    }

    /// ONS code of the ICB's boundary (ICB23CD).
    async fn boundary_identifier(&self) -> Option<&String> {
        self.rec.boundary_identifier.as_ref()
    }

    /// The NHS England region the ICB belongs to.
    async fn nhs_england_region(&self, ctx: &Context<'_>) -> Result<Option<NhsEnglandRegion>> {
        up(ctx, &self.level, edges::BOARD_REGION, self.rec.id).await
    }

    /// The current sites in the ICB, by name.
    #[graphql(complexity = "list_cost(weight::ICB_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(
            ctx,
            &self.level,
            edges::SITE_INTEGRATED_CARE_BOARD,
            self.rec.id,
        )
        .await
    }

    /// The trusts that run the ICB's current sites, by name.
    #[graphql(complexity = "list_cost(weight::ICB_TRUSTS, None, child_complexity)")]
    async fn trusts(&self, ctx: &Context<'_>) -> Result<Vec<Trust>> {
        Ok(on_day(
            directory::board_trusts(snapshot(ctx).await?.as_ref(), self.rec.id, self.day),
            self.day,
        ))
    }

    /// Every region the ICB has belonged to, oldest first.
    async fn membership_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(membership_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            &[Edge::IntegratedCareBoardRegion],
        ))
    }

    /// Every period in which a site belonged to the ICB, oldest first.
    async fn member_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(member_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            Edge::OrganisationIntegratedCareBoard,
        ))
    }

    /// Records this one succeeded (ORD successions and mergers), as known on the day.
    async fn predecessors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.predecessors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Records that succeeded this one, as known on the day.
    async fn successors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.successors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Every value each attribute has held, with its dates (the whole history, whatever the
    /// day asked about).
    async fn attribute_history(&self, ctx: &Context<'_>) -> Result<Vec<AttributePeriod>> {
        Ok(attribute_history::<integrated_care_board::Model>(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
        ))
    }
}

/// An NHS England region.
#[derive(Clone, Debug)]
pub struct NhsEnglandRegion {
    pub rec: Arc<nhs_england_region::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<nhs_england_region::Model> for NhsEnglandRegion {
    fn wrap(rec: Arc<nhs_england_region::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// An NHS England region.
#[Object]
impl NhsEnglandRegion {
    /// Region code (Y56..Y63).
    async fn region_code(&self) -> &String {
        &self.rec.region_code
    }

    /// Name of the region.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The boundary on the day as a GeoJSON geometry (WGS84, RFC 7946 winding), simplified to
    /// `simplifyMetres` (Douglas-Peucker in British National Grid metres; default as
    /// published). A board created by a merger has the union of the boards it took over;
    /// null where the boundary is unknown (see `boundaryUnknownReason`).
    #[graphql(complexity = 5)]
    async fn boundary(
        &self,
        ctx: &Context<'_>,
        simplify_metres: Option<f64>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::geography::boundary(ctx, self.rec.as_ref(), self.day, simplify_metres).await
    }

    /// Why `boundary` is null on the day (e.g. formed by a split whose parts have no
    /// published boundary); null when the boundary is known.
    async fn boundary_unknown_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::geography::unknown_reason(ctx, self.rec.as_ref(), self.day).await
    }

    /// The area-weighted centroid of `boundary` (WGS84); null when the boundary is unknown.
    async fn centroid(&self, ctx: &Context<'_>) -> Result<Option<super::geography::Centroid>> {
        super::geography::centroid(ctx, self.rec.as_ref(), self.day).await
    }

    /// ONS code of the region's boundary (NHSER22CD).
    async fn boundary_identifier(&self) -> Option<&String> {
        self.rec.boundary_identifier.as_ref()
    }

    /// The ICBs in the region, by name.
    #[graphql(complexity = "list_cost(weight::REGION_ICBS, None, child_complexity)")]
    async fn integrated_care_boards(&self, ctx: &Context<'_>) -> Result<Vec<IntegratedCareBoard>> {
        down(ctx, &self.level, edges::BOARD_REGION, self.rec.id).await
    }

    /// The current sites in the region, by name.
    #[graphql(complexity = "list_cost(weight::REGION_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(
            ctx,
            &self.level,
            edges::SITE_NHS_ENGLAND_REGION,
            self.rec.id,
        )
        .await
    }
}

/// A Paediatric Diabetes Unit (NPDA PZ code): one or more sites that run a children's
/// diabetes service together.
#[derive(Clone, Debug)]
pub struct PaediatricDiabetesUnit {
    pub rec: Arc<paediatric_diabetes_unit::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<paediatric_diabetes_unit::Model> for PaediatricDiabetesUnit {
    fn wrap(rec: Arc<paediatric_diabetes_unit::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A Paediatric Diabetes Unit (NPDA PZ code): one or more sites that run a children's
/// diabetes service together.
#[Object]
impl PaediatricDiabetesUnit {
    /// PZ code of the unit.
    async fn pz_code(&self) -> &String {
        &self.rec.pz_code
    }

    /// The unit's own name on the day, when it has one (otherwise it is known by its lead
    /// site's trust).
    async fn name(&self) -> Option<&String> {
        self.rec.name.as_ref()
    }

    /// Whether the unit is active on the day (false once it has closed).
    async fn active(&self) -> bool {
        self.rec.active
    }

    /// The diabetes network the unit belongs to.
    async fn paediatric_diabetes_network(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<PaediatricDiabetesNetwork>> {
        up(ctx, &self.level, edges::UNIT_NETWORK, self.rec.id).await
    }

    /// The current sites of the unit, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(
            ctx,
            &self.level,
            edges::SITE_PAEDIATRIC_DIABETES_UNIT,
            self.rec.id,
        )
        .await
    }

    /// The lead site: the named lead while it is a current site, else the first site by name.
    // Decided by `placement::lead_site`, as in the seed.
    async fn primary_organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let sites: Vec<Organisation> = down(
            ctx,
            &self.level,
            edges::SITE_PAEDIATRIC_DIABETES_UNIT,
            self.rec.id,
        )
        .await?;
        let named = self.rec.lead_organisation_id;
        Ok(placement::lead_site(&sites, |s| Some(s.rec.id) == named).cloned())
    }

    /// The trust or board that runs the lead site.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<ParentOrganisation>> {
        match self.primary_organisation(ctx).await? {
            Some(site) => site.parent(ctx).await,
            None => Ok(None),
        }
    }

    /// Every network the unit has belonged to, oldest first.
    async fn membership_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(membership_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            &[Edge::PaediatricDiabetesUnitNetwork],
        ))
    }

    /// Every period in which a site belonged to the unit, oldest first.
    async fn member_history(&self, ctx: &Context<'_>) -> Result<Vec<MembershipPeriod>> {
        Ok(member_history(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
            Edge::OrganisationPaediatricDiabetesUnit,
        ))
    }

    /// Records this one succeeded (ORD successions and mergers), as known on the day.
    async fn predecessors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.predecessors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Records that succeeded this one, as known on the day.
    async fn successors(&self, ctx: &Context<'_>) -> Result<Vec<Succession>> {
        let s = &snapshot(ctx).await?;
        Ok(successions(
            s,
            s.successors_of(self.rec.code(), self.day),
            self.day,
        ))
    }

    /// Every value each attribute has held, with its dates (the whole history, whatever the
    /// day asked about).
    async fn attribute_history(&self, ctx: &Context<'_>) -> Result<Vec<AttributePeriod>> {
        Ok(attribute_history::<paediatric_diabetes_unit::Model>(
            snapshot(ctx).await?.as_ref(),
            self.rec.id,
        ))
    }
}

/// A paediatric diabetes network (PN code, assigned by RCPCH).
#[derive(Clone, Debug)]
pub struct PaediatricDiabetesNetwork {
    pub rec: Arc<paediatric_diabetes_network::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<paediatric_diabetes_network::Model> for PaediatricDiabetesNetwork {
    fn wrap(rec: Arc<paediatric_diabetes_network::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A paediatric diabetes network (PN code, assigned by RCPCH).
#[Object]
impl PaediatricDiabetesNetwork {
    /// PN code of the network.
    async fn pn_code(&self) -> &String {
        &self.rec.pn_code
    }

    /// Name of the network.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The units in the network, by PZ code.
    #[graphql(complexity = "list_cost(weight::NETWORK_UNITS, None, child_complexity)")]
    async fn paediatric_diabetes_units(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<PaediatricDiabetesUnit>> {
        down(ctx, &self.level, edges::UNIT_NETWORK, self.rec.id).await
    }
}

/// An OPEN UK regional paediatric epilepsy network.
#[derive(Clone, Debug)]
pub struct OpenUkNetwork {
    pub rec: Arc<open_uk_network::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<open_uk_network::Model> for OpenUkNetwork {
    fn wrap(rec: Arc<open_uk_network::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// An OPEN UK regional paediatric epilepsy network.
#[Object]
impl OpenUkNetwork {
    /// Short code of the network (e.g. BRPNF).
    async fn code(&self) -> &String {
        &self.rec.code
    }

    /// Name of the network.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// Country of the network (England or Wales).
    async fn country(&self) -> Option<&String> {
        self.rec.country.as_ref()
    }

    /// The current sites in the network, by name.
    #[graphql(complexity = "list_cost(weight::NETWORK_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(ctx, &self.level, edges::SITE_OPEN_UK_NETWORK, self.rec.id).await
    }
}

/// A London borough (or the City of London).
#[derive(Clone, Debug)]
pub struct LondonBorough {
    pub rec: Arc<london_borough::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<london_borough::Model> for LondonBorough {
    fn wrap(rec: Arc<london_borough::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A London borough (or the City of London).
#[Object]
impl LondonBorough {
    /// ONS GSS code of the borough (E09...).
    async fn gss_code(&self) -> &String {
        &self.rec.gss_code
    }

    /// Name of the borough.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The boundary on the day as a GeoJSON geometry (WGS84, RFC 7946 winding), simplified to
    /// `simplifyMetres` (Douglas-Peucker in British National Grid metres; default as
    /// published). A board created by a merger has the union of the boards it took over;
    /// null where the boundary is unknown (see `boundaryUnknownReason`).
    #[graphql(complexity = 5)]
    async fn boundary(
        &self,
        ctx: &Context<'_>,
        simplify_metres: Option<f64>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::geography::boundary(ctx, self.rec.as_ref(), self.day, simplify_metres).await
    }

    /// Why `boundary` is null on the day (e.g. formed by a split whose parts have no
    /// published boundary); null when the boundary is known.
    async fn boundary_unknown_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::geography::unknown_reason(ctx, self.rec.as_ref(), self.day).await
    }

    /// The area-weighted centroid of `boundary` (WGS84); null when the boundary is unknown.
    async fn centroid(&self, ctx: &Context<'_>) -> Result<Option<super::geography::Centroid>> {
        super::geography::centroid(ctx, self.rec.as_ref(), self.day).await
    }

    /// The current sites in the borough, by name.
    #[graphql(complexity = "list_cost(weight::FEW_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(ctx, &self.level, edges::SITE_LONDON_BOROUGH, self.rec.id).await
    }
}

/// A country of the UK (or Jersey).
#[derive(Clone, Debug)]
pub struct Country {
    pub rec: Arc<country::Model>,
    pub day: Day,
    pub level: Arc<Level>,
}

impl Wrap<country::Model> for Country {
    fn wrap(rec: Arc<country::Model>, day: Day, level: Arc<Level>) -> Self {
        Self { rec, day, level }
    }
}
/// A country of the UK (or Jersey).
#[Object]
impl Country {
    /// ONS code of the country (E92000001); Jersey has the project-local E92000003.
    async fn code(&self) -> &String {
        &self.rec.code
    }

    /// Name of the country.
    async fn name(&self) -> &String {
        &self.rec.name
    }

    /// The boundary on the day as a GeoJSON geometry (WGS84, RFC 7946 winding), simplified to
    /// `simplifyMetres` (Douglas-Peucker in British National Grid metres; default as
    /// published). A board created by a merger has the union of the boards it took over;
    /// null where the boundary is unknown (see `boundaryUnknownReason`).
    #[graphql(complexity = 5)]
    async fn boundary(
        &self,
        ctx: &Context<'_>,
        simplify_metres: Option<f64>,
    ) -> Result<Option<async_graphql::Json<serde_json::Value>>> {
        super::geography::boundary(ctx, self.rec.as_ref(), self.day, simplify_metres).await
    }

    /// Why `boundary` is null on the day (e.g. formed by a split whose parts have no
    /// published boundary); null when the boundary is known.
    async fn boundary_unknown_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::geography::unknown_reason(ctx, self.rec.as_ref(), self.day).await
    }

    /// The area-weighted centroid of `boundary` (WGS84); null when the boundary is unknown.
    async fn centroid(&self, ctx: &Context<'_>) -> Result<Option<super::geography::Centroid>> {
        super::geography::centroid(ctx, self.rec.as_ref(), self.day).await
    }

    /// Welsh name of the country.
    async fn welsh_name(&self) -> Option<&String> {
        self.rec.welsh_name.as_ref()
    }

    /// ONS code of the country's boundary (CTRY22CD), when there is one.
    async fn boundary_identifier(&self) -> Option<&String> {
        self.rec.boundary_identifier.as_ref()
    }

    /// The current sites in the country, by name.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, None, child_complexity)")]
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        down(ctx, &self.level, edges::SITE_COUNTRY, self.rec.id).await
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
    /// What made it: `seed`, `ord-sync`, `merger`, `reorganisation` or `history`.
    pub source: String,
    /// `source` as an enum; null for a value this version does not know.
    pub source_kind: Option<ChangeSource>,
    /// The kind of record, e.g. `organisation`, `trust`.
    pub entity: String,
    /// `entity` as an enum; null for a value this version does not know.
    pub entity_kind: Option<RecordKind>,
    /// The record's natural code.
    pub code: String,
    /// `create`, `update`, `delete`, `restore`, `membership` or `succession`.
    pub action: String,
    /// `action` as an enum; null for a value this version does not know.
    pub action_kind: Option<ChangeAction>,
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
            source_kind: ChangeSource::parse(&m.source),
            source: m.source,
            entity_kind: RecordKind::parse(&m.entity),
            entity: m.entity,
            code: m.code,
            action_kind: ChangeAction::parse(&m.action),
            action: m.action,
            field: m.field,
            before: m.before,
            after: m.after,
        }
    }
}

/// What kind of difference `changesBetween` found.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DifferenceKind {
    /// The record exists on the later day but not the earlier.
    Opened,
    /// The record exists on the earlier day but not the later.
    Closed,
    /// The record's name differs.
    Renamed,
    /// Another attribute differs.
    Updated,
    /// The record's parent on an edge differs.
    Moved,
}

/// One difference between two days.
#[derive(SimpleObject, Clone, Debug)]
pub struct Difference {
    /// What differs.
    pub kind: DifferenceKind,
    /// The kind of record, e.g. `organisation`, `trust`.
    pub entity: String,
    /// The record's natural code.
    pub code: String,
    /// The attribute, or for a move the edge (named by the parent's kind, e.g. `trust`).
    pub field: Option<String>,
    /// The value (for a move, the parent's code; for a closing, the name) on the earlier day.
    pub before: Option<String>,
    /// The value (for a move, the parent's code; for an opening, the name) on the later day.
    pub after: Option<String>,
}

impl From<snapshot::changes::Difference> for Difference {
    fn from(d: snapshot::changes::Difference) -> Self {
        use snapshot::changes::DifferenceKind as K;
        Self {
            kind: match d.kind {
                K::Opened => DifferenceKind::Opened,
                K::Closed => DifferenceKind::Closed,
                K::Renamed => DifferenceKind::Renamed,
                K::Updated => DifferenceKind::Updated,
                K::Moved => DifferenceKind::Moved,
            },
            entity: d.entity.to_string(),
            code: d.code,
            field: d.field,
            before: d.before,
            after: d.after,
        }
    }
}
