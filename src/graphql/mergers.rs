//! Merger mutations: create and delete sites by ODS code, and edit a site's memberships. The
//! rules live in `crate::mergers`; this maps arguments and reports.
use async_graphql::{
    ComplexObject, Context, Enum, InputObject, MaybeUndefined, Object, Result, SimpleObject,
};
use sea_orm::DatabaseConnection;

use super::loaders::{one_on_day, ReportedParents};
use super::scalars::Date;
use super::types::Organisation;
use crate::auth;
use crate::codes::{GssCode, NetworkCode, OdsCode, PzCode, RegionCode};
use crate::entities::organisation;
use crate::errors::AppError;
use crate::memberships::Edge;
use crate::mergers::{self, Setting, ORGANISATION_EDGES};

/// What happened to one code of a merger call.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MergerStatus {
    /// A new site was added.
    Created,
    /// A deleted site was added back, with the memberships it had when deleted.
    Restored,
    /// The site was deleted (soft: its row and history stay).
    Deleted,
    /// The site's memberships were changed.
    Updated,
    /// The memberships were already as asked; nothing changed.
    Unchanged,
    /// The site already exists; nothing changed.
    Conflict,
    /// No such site: ORD answers 404, or we hold no current site with the code.
    NotFound,
    /// Not applied: not a site, no known parent, unknown target code, ...
    Refused,
}

impl From<mergers::MergerStatus> for MergerStatus {
    fn from(s: mergers::MergerStatus) -> Self {
        use mergers::MergerStatus as S;
        match s {
            S::Created => Self::Created,
            S::Restored => Self::Restored,
            S::Deleted => Self::Deleted,
            S::Updated => Self::Updated,
            S::Unchanged => Self::Unchanged,
            S::Conflict => Self::Conflict,
            S::NotFound => Self::NotFound,
            S::Refused => Self::Refused,
        }
    }
}

/// A kind of membership a site has.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MembershipKind {
    /// The NHS trust that runs the site.
    Trust,
    /// The Local Health Board that runs the site.
    LocalHealthBoard,
    /// The country of the site.
    Country,
    /// The Integrated Care Board of the site.
    IntegratedCareBoard,
    /// The NHS England region of the site.
    NhsEnglandRegion,
    /// The Paediatric Diabetes Unit the site is part of.
    PaediatricDiabetesUnit,
    /// The OPEN UK paediatric epilepsy network of the site.
    OpenUkNetwork,
    /// The London borough of the site.
    LondonBorough,
}

fn kind(edge: Edge) -> Option<MembershipKind> {
    Some(match edge {
        Edge::OrganisationTrust => MembershipKind::Trust,
        Edge::OrganisationLocalHealthBoard => MembershipKind::LocalHealthBoard,
        Edge::OrganisationCountry => MembershipKind::Country,
        Edge::OrganisationIntegratedCareBoard => MembershipKind::IntegratedCareBoard,
        Edge::OrganisationNhsEnglandRegion => MembershipKind::NhsEnglandRegion,
        Edge::OrganisationPaediatricDiabetesUnit => MembershipKind::PaediatricDiabetesUnit,
        Edge::OrganisationOpenUkNetwork => MembershipKind::OpenUkNetwork,
        Edge::OrganisationLondonBorough => MembershipKind::LondonBorough,
        Edge::PaediatricDiabetesUnitNetwork | Edge::IntegratedCareBoardRegion => return None,
    })
}

/// One membership of a site.
#[derive(SimpleObject, Clone, Debug)]
pub struct MergerMembership {
    /// What kind of membership.
    pub kind: MembershipKind,
    /// Code of the trust, board, country, ICB, region, PDU (PZ code), network or borough.
    pub code: String,
    /// The day the membership began.
    pub valid_from: Date,
}

/// One membership the call opened, closed or moved.
#[derive(SimpleObject, Clone, Debug)]
pub struct MembershipChange {
    /// What kind of membership.
    pub kind: MembershipKind,
    /// Code before the call; null when the site had none.
    pub before: Option<String>,
    /// Code after the call; null when the call closed it.
    pub after: Option<String>,
}

/// The outcome for one code.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct MergerResult {
    /// The ODS code (upper case).
    pub ods_code: String,
    /// What happened (or, in a dry run, would happen).
    pub status: MergerStatus,
    /// Why, for anything not applied; what was done otherwise.
    pub message: Option<String>,
    /// Warnings, e.g. "PZ041 has no current sites left" or "no OPEN UK network".
    pub warnings: Vec<String>,
    /// The site's current memberships after the call; for a deleted site, the ones it had.
    pub memberships: Vec<MergerMembership>,
    /// The memberships the call opened, closed or moved (all dated `effectiveOn`).
    pub changes: Vec<MembershipChange>,
    #[graphql(skip)]
    pub site: Option<organisation::Model>,
}

#[ComplexObject]
impl MergerResult {
    /// The site as it is (or, in a dry run, would be) after the call; null when the code was
    /// not found or refused. A deleted site has no current memberships.
    async fn organisation(&self) -> Option<Organisation> {
        self.site
            .clone()
            .map(|m| one_on_day(std::sync::Arc::new(m), chrono::Utc::now().date_naive()))
    }
}

/// What a merger call did, or for a dry run would do.
#[derive(SimpleObject, Clone, Debug)]
pub struct MergerReport {
    /// True when nothing was changed (the report is what applying would give).
    pub dry_run: bool,
    /// One entry per distinct code, in the order given.
    pub results: Vec<MergerResult>,
    /// Warnings about the call as a whole.
    pub warnings: Vec<String>,
}

/// Latitude and longitude for a site being created (ORD does not publish them).
#[derive(InputObject, Clone, Debug)]
pub struct OrganisationCoordinates {
    /// ODS code of the site; must be one of `odsCodes`.
    pub ods_code: String,
    /// Latitude, WGS84 decimal degrees.
    pub latitude: f64,
    /// Longitude, WGS84 decimal degrees.
    pub longitude: f64,
}

/// Turns a service report into the GraphQL one, and records the parents it reports so that
/// the sites' edges resolve as the call left them (dry runs included).
fn report(ctx: &Context<'_>, r: mergers::MergerReport) -> MergerReport {
    let reported = ctx.data_opt::<ReportedParents>();
    let results = r
        .results
        .into_iter()
        .map(|res| {
            if let (Some(reported), Some(site)) = (reported, &res.organisation) {
                for edge in ORGANISATION_EDGES {
                    reported.set(edge, site.id, res.parent_after(edge));
                }
            }
            MergerResult {
                ods_code: res.ods_code,
                status: res.status.into(),
                message: res.message,
                warnings: res.warnings,
                memberships: res
                    .memberships
                    .into_iter()
                    .filter_map(|m| {
                        Some(MergerMembership {
                            kind: kind(m.edge)?,
                            code: m.code,
                            valid_from: Date(m.valid_from),
                        })
                    })
                    .collect(),
                changes: res
                    .changes
                    .into_iter()
                    .filter_map(|c| {
                        Some(MembershipChange {
                            kind: kind(c.edge)?,
                            before: c.before,
                            after: c.after,
                        })
                    })
                    .collect(),
                site: res.organisation,
            }
        })
        .collect();
    MergerReport {
        dry_run: r.dry_run,
        results,
        warnings: r.warnings,
    }
}

/// An optional argument as a setting: omitted keeps, null clears, a value is parsed by `parse`.
pub(super) fn setting<T>(
    v: MaybeUndefined<String>,
    parse: impl FnOnce(&str) -> Result<T, AppError>,
) -> Result<Setting<T>, AppError> {
    Ok(match v {
        MaybeUndefined::Undefined => Setting::Keep,
        MaybeUndefined::Null => Setting::Clear,
        MaybeUndefined::Value(c) => Setting::Set(parse(&c)?),
    })
}

/// Parses a list of ODS codes as sent.
pub(super) fn parse_ods_codes(raw: &[String]) -> Result<Vec<OdsCode>, AppError> {
    raw.iter().map(|c| OdsCode::parse(c)).collect()
}

/// Mergers: adding, deleting and re-linking sites. Every one needs an admin key.
#[derive(Default)]
pub struct MergerMutation;

#[Object]
impl MergerMutation {
    /// Adds sites by ODS code from ORD (or FHIR, with `ODS_SOURCE=fhir`), under the trust or
    /// Local Health Board that operates them, with country, ICB, region, OPEN UK network and
    /// PDU derived from the parent. A deleted site is re-added (RESTORED) with its last PDU,
    /// network and borough. Each code gets a result; the source being unavailable fails the
    /// whole call and applies nothing.
    async fn create_organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ODS codes of the sites to add (3 to 10 letters and digits).")]
        ods_codes: Vec<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Add a site whose parent is not in our data (or unnamed in ORD) without a parent, instead of refusing it."
        )]
        allow_unlinked: Option<bool>,
        #[graphql(desc = "Latitude and longitude per code, when known (ORD has none).")]
        coordinates: Option<Vec<OrganisationCoordinates>>,
        #[graphql(
            desc = "The day the change takes effect (past, today or future; default today)."
        )]
        effective_on: Option<Date>,
    ) -> Result<MergerReport> {
        let admin = auth::require_admin(ctx).await?;
        let db = ctx.data::<DatabaseConnection>()?;
        let source = super::sync::source(ctx)?;
        let request = mergers::CreateRequest {
            ods_codes: parse_ods_codes(&ods_codes)?,
            dry_run: dry_run.unwrap_or(false),
            allow_unlinked: allow_unlinked.unwrap_or(false),
            coordinates: coordinates
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    Ok(mergers::Coordinates {
                        ods_code: OdsCode::parse(&c.ods_code)?,
                        latitude: c.latitude,
                        longitude: c.longitude,
                    })
                })
                .collect::<Result<_, AppError>>()?,
            effective_on: effective_on.map(|d| d.0),
        };
        let r = mergers::create_organisations(db, &*source, &request, &admin.name).await?;
        Ok(report(ctx, r))
    }

    /// Deletes sites (soft): closes every current membership from `effectiveOn` (default
    /// today) and marks the site deleted; nothing is erased. Each result lists the memberships the site had.
    async fn delete_organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ODS codes of the sites to delete.")] ods_codes: Vec<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
        #[graphql(
            desc = "The day the change takes effect (past, today or future; default today)."
        )]
        effective_on: Option<Date>,
    ) -> Result<MergerReport> {
        let admin = auth::require_admin(ctx).await?;
        let db = ctx.data::<DatabaseConnection>()?;
        let dry_run = dry_run.unwrap_or(false);
        let on = effective_on.map(|d| d.0);
        let codes = parse_ods_codes(&ods_codes)?;
        let r = mergers::delete_organisations_on(db, &codes, dry_run, &admin.name, on).await?;
        Ok(report(ctx, r))
    }

    /// Sets or clears a site's memberships from `effectiveOn` (default today), closing the old
    /// membership and opening the new one (history is kept; a change before a later recorded
    /// one on the same edge is CONFLICT). Omit an argument to leave that membership alone; pass
    /// null to clear it. A new parent trust brings its ICB and region unless they are given.
    #[allow(clippy::too_many_arguments)]
    async fn update_organisation_memberships(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ODS code of the site.")] ods_code: String,
        #[graphql(desc = "PZ code of the Paediatric Diabetes Unit; null clears it.")]
        pz_code: MaybeUndefined<String>,
        #[graphql(desc = "Code of the OPEN UK network (e.g. SETPEG); null clears it.")]
        open_uk_network_code: MaybeUndefined<String>,
        #[graphql(desc = "GSS code of the London borough (E09...); null clears it.")]
        london_borough_gss_code: MaybeUndefined<String>,
        #[graphql(desc = "ODS code of the parent trust or Local Health Board; null clears it.")]
        parent_ods_code: MaybeUndefined<String>,
        #[graphql(desc = "ODS code of the Integrated Care Board; null clears it.")]
        integrated_care_board_ods_code: MaybeUndefined<String>,
        #[graphql(desc = "Code of the NHS England region (Y56..Y63); null clears it.")]
        nhs_england_region_code: MaybeUndefined<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
        #[graphql(
            desc = "The day the change takes effect (past, today or future; default today)."
        )]
        effective_on: Option<Date>,
    ) -> Result<MergerReport> {
        let admin = auth::require_admin(ctx).await?;
        let db = ctx.data::<DatabaseConnection>()?;
        let update = mergers::MembershipUpdate {
            ods_code: OdsCode::parse(&ods_code)?,
            paediatric_diabetes_unit: setting(pz_code, PzCode::parse)?,
            open_uk_network: setting(open_uk_network_code, NetworkCode::parse)?,
            london_borough: setting(london_borough_gss_code, GssCode::parse)?,
            parent: setting(parent_ods_code, OdsCode::parse)?,
            integrated_care_board: setting(integrated_care_board_ods_code, OdsCode::parse)?,
            nhs_england_region: setting(nhs_england_region_code, RegionCode::parse)?,
            dry_run: dry_run.unwrap_or(false),
            effective_on: effective_on.map(|d| d.0),
        };
        let r = mergers::update_memberships(db, &update, &admin.name).await?;
        Ok(report(ctx, r))
    }
}
