//! Query roots: each answers from the request's pinned snapshot, as of `asOf` (default today).
use async_graphql::{Context, InputObject, Object, Result};
use sea_orm::DatabaseConnection;

use super::limits::{list_cost, weight};
use super::loaders::{on_day, one_on_day, snapshot, today, Wrap};
use super::scalars::Date;
use super::types::*;
use crate::change_log::{ChangeSource, RecordKind};
use crate::codes::{GssCode, NetworkCode, OdsCode, PnCode, PzCode, RegionCode};
use crate::directory::{self, Page};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, paediatric_diabetes_network, paediatric_diabetes_unit,
};
use crate::errors::AppError;
use std::sync::Arc;

use crate::snapshot::{changes, Day, Kind, Snapshot};

/// Filter on sites; all given conditions must hold.
#[derive(InputObject, Default)]
pub struct OrganisationFilter {
    /// Only these ODS codes (case-insensitive).
    pub ods_codes: Option<Vec<String>>,
    /// Name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Only open (true) or closed (false) sites.
    pub active: Option<bool>,
    /// Only sites that are (true) or are not (false) part of a Paediatric Diabetes Unit.
    pub has_paediatric_diabetes_unit: Option<bool>,
}

/// Filter on trusts; all given conditions must hold.
#[derive(InputObject, Default)]
pub struct TrustFilter {
    /// Only these ODS codes (case-insensitive).
    pub ods_codes: Option<Vec<String>>,
    /// Name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Only open (true) or closed (false) trusts.
    pub active: Option<bool>,
}

fn site_filter(filter: Option<OrganisationFilter>) -> directory::OrganisationFilter {
    let f = filter.unwrap_or_default();
    directory::OrganisationFilter {
        ods_codes: f.ods_codes,
        name_contains: f.name_contains,
        active: f.active,
        has_paediatric_diabetes_unit: f.has_paediatric_diabetes_unit,
    }
}

fn db<'a>(ctx: &'a Context<'_>) -> Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
}

/// The snapshot and the day a root answers for.
async fn day(ctx: &Context<'_>, as_of: Option<Date>) -> Result<(Arc<Snapshot>, Day)> {
    let s = snapshot(ctx).await?;
    let day = directory::day(s, as_of.map(|d| d.0), today(ctx))?;
    Ok((s.clone(), day))
}

/// One record of a kind by its code as parsed from the argument (refused before the day is
/// looked at), wrapped for the day.
async fn one<M: Kind, T: Wrap<M>>(
    ctx: &Context<'_>,
    code: Result<impl AsRef<str>, AppError>,
    as_of: Option<Date>,
) -> Result<Option<T>> {
    let code = code?;
    let (s, day) = day(ctx, as_of).await?;
    Ok(directory::by_code::<M>(&s, code.as_ref(), day).map(|m| one_on_day(m, day)))
}

/// Every record of a kind on the day, in list order.
async fn every<M: Kind, T: Wrap<M>>(ctx: &Context<'_>, as_of: Option<Date>) -> Result<Vec<T>> {
    let (s, day) = day(ctx, as_of).await?;
    Ok(on_day(directory::all::<M>(&s, day), day))
}

#[derive(Default)]
pub struct QueryRoot;

/// Read access to the hierarchy. No credentials needed. Every root takes `asOf` (a day; default
/// today) and everything below it answers as of that day.
#[Object(name = "HierarchyQuery")]
impl QueryRoot {
    /// The first day the data describes; `asOf` cannot be earlier.
    async fn history_starts_on(&self, ctx: &Context<'_>) -> Result<Date> {
        Ok(Date(snapshot(ctx).await?.history_starts_on))
    }

    /// What differs between two days (`from` ≤ `to`): records opened and closed, renamed or
    /// otherwise changed, and memberships moved.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, None, child_complexity)")]
    async fn changes_between(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
    ) -> Result<Vec<Difference>> {
        let (s, from) = day(ctx, Some(from)).await?;
        let (_, to) = day(ctx, Some(to)).await?;
        if from > to {
            return Err(AppError::BadUserInput(format!(
                "`from` ({from}) must not be after `to` ({to})."
            ))
            .into());
        }
        Ok(changes::between(&s, from, to)
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A site by ODS code; null when unknown or not there on the day (e.g. deleted).
    async fn organisation(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<Organisation>> {
        let (s, day) = day(ctx, as_of).await?;
        let code = OdsCode::parse(&ods_code)?;
        Ok(directory::organisation(&s, &code, day).map(|m| one_on_day(m, day)))
    }

    /// The sites there on the day, by name.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, limit, child_complexity)")]
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganisationFilter>,
        limit: Option<i32>,
        offset: Option<i32>,
        as_of: Option<Date>,
    ) -> Result<Vec<Organisation>> {
        let filter = site_filter(filter);
        let (s, day) = day(ctx, as_of).await?;
        let list = directory::organisations(&s, &filter, Page { limit, offset }, day)?;
        Ok(on_day(list, day))
    }

    /// A trust by ODS code; null when unknown.
    async fn trust(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<Trust>> {
        let (s, day) = day(ctx, as_of).await?;
        let code = OdsCode::parse(&ods_code)?;
        Ok(directory::trust(&s, &code, day).map(|m| one_on_day(m, day)))
    }

    /// Trusts, by name.
    #[graphql(complexity = "list_cost(weight::ALL_TRUSTS, limit, child_complexity)")]
    async fn trusts(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrustFilter>,
        limit: Option<i32>,
        offset: Option<i32>,
        as_of: Option<Date>,
    ) -> Result<Vec<Trust>> {
        let f = filter.unwrap_or_default();
        let filter = directory::TrustFilter {
            ods_codes: f.ods_codes,
            name_contains: f.name_contains,
            active: f.active,
        };
        let (s, day) = day(ctx, as_of).await?;
        let list = directory::trusts(&s, &filter, Page { limit, offset }, day)?;
        Ok(on_day(list, day))
    }

    /// A Welsh Local Health Board by ODS code; null when unknown.
    async fn local_health_board(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<LocalHealthBoard>> {
        one::<local_health_board::Model, _>(ctx, OdsCode::parse(&ods_code), as_of).await
    }

    /// All Welsh Local Health Boards, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn local_health_boards(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<LocalHealthBoard>> {
        every::<local_health_board::Model, _>(ctx, as_of).await
    }

    /// An Integrated Care Board by ODS code; null when unknown.
    async fn integrated_care_board(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<IntegratedCareBoard>> {
        one::<integrated_care_board::Model, _>(ctx, OdsCode::parse(&ods_code), as_of).await
    }

    /// All Integrated Care Boards, by name.
    #[graphql(complexity = "list_cost(weight::ALL_ICBS, None, child_complexity)")]
    async fn integrated_care_boards(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<IntegratedCareBoard>> {
        every::<integrated_care_board::Model, _>(ctx, as_of).await
    }

    /// An NHS England region by region code (e.g. Y56); null when unknown.
    async fn nhs_england_region(
        &self,
        ctx: &Context<'_>,
        region_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<NhsEnglandRegion>> {
        one::<nhs_england_region::Model, _>(ctx, RegionCode::parse(&region_code), as_of).await
    }

    /// All NHS England regions, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn nhs_england_regions(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<NhsEnglandRegion>> {
        every::<nhs_england_region::Model, _>(ctx, as_of).await
    }

    /// A Paediatric Diabetes Unit by PZ code; null when unknown.
    async fn paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
        pz_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<PaediatricDiabetesUnit>> {
        one::<paediatric_diabetes_unit::Model, _>(ctx, PzCode::parse(&pz_code), as_of).await
    }

    /// All Paediatric Diabetes Units, by PZ code.
    #[graphql(complexity = "list_cost(weight::ALL_UNITS, None, child_complexity)")]
    async fn paediatric_diabetes_units(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<PaediatricDiabetesUnit>> {
        every::<paediatric_diabetes_unit::Model, _>(ctx, as_of).await
    }

    /// A paediatric diabetes network by PN code; null when unknown.
    async fn paediatric_diabetes_network(
        &self,
        ctx: &Context<'_>,
        pn_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<PaediatricDiabetesNetwork>> {
        one::<paediatric_diabetes_network::Model, _>(ctx, PnCode::parse(&pn_code), as_of).await
    }

    /// All paediatric diabetes networks, by PN code.
    #[graphql(complexity = "list_cost(weight::NATIONAL, None, child_complexity)")]
    async fn paediatric_diabetes_networks(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<PaediatricDiabetesNetwork>> {
        every::<paediatric_diabetes_network::Model, _>(ctx, as_of).await
    }

    /// An OPEN UK network by code (e.g. BRPNF); null when unknown.
    async fn open_uk_network(
        &self,
        ctx: &Context<'_>,
        code: String,
        as_of: Option<Date>,
    ) -> Result<Option<OpenUkNetwork>> {
        one::<open_uk_network::Model, _>(ctx, NetworkCode::parse(&code), as_of).await
    }

    /// All OPEN UK networks, by name.
    #[graphql(complexity = "list_cost(weight::NATIONAL, None, child_complexity)")]
    async fn open_uk_networks(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<OpenUkNetwork>> {
        every::<open_uk_network::Model, _>(ctx, as_of).await
    }

    /// A London borough by GSS code (E09...); null when unknown.
    async fn london_borough(
        &self,
        ctx: &Context<'_>,
        gss_code: String,
        as_of: Option<Date>,
    ) -> Result<Option<LondonBorough>> {
        one::<london_borough::Model, _>(ctx, GssCode::parse(&gss_code), as_of).await
    }

    /// All London boroughs, by name.
    #[graphql(complexity = "list_cost(weight::ALL_BOROUGHS, None, child_complexity)")]
    async fn london_boroughs(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<LondonBorough>> {
        every::<london_borough::Model, _>(ctx, as_of).await
    }

    /// A country by ONS code (e.g. E92000001); null when unknown.
    async fn country(
        &self,
        ctx: &Context<'_>,
        code: String,
        as_of: Option<Date>,
    ) -> Result<Option<Country>> {
        one::<country::Model, _>(ctx, GssCode::parse(&code), as_of).await
    }

    /// All countries, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn countries(&self, ctx: &Context<'_>, as_of: Option<Date>) -> Result<Vec<Country>> {
        every::<country::Model, _>(ctx, as_of).await
    }

    /// The country, NHS England region, Integrated Care Board, Local Health Board and London
    /// borough whose boundary holds the point (WGS84 decimal degrees) on the day; each null
    /// where none does (e.g. at sea), with `warnings` where the area on that day is unknown.
    async fn locate(
        &self,
        ctx: &Context<'_>,
        latitude: f64,
        longitude: f64,
        as_of: Option<Date>,
    ) -> Result<super::geography::Location> {
        let point = crate::geography::point(latitude, longitude)?;
        let (s, day) = day(ctx, as_of).await?;
        Ok(super::geography::Location {
            inner: crate::geography::locate(&s, point, day)?,
            point,
            day,
        })
    }

    /// The sites there on the day within `radiusKm` (more than 0, at most 1,000) of the point,
    /// nearest first (great-circle distance), at most `limit` (default 100, at most 1,000),
    /// matching `filter`.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, limit, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn organisations_near(
        &self,
        ctx: &Context<'_>,
        latitude: f64,
        longitude: f64,
        radius_km: f64,
        limit: Option<i32>,
        filter: Option<OrganisationFilter>,
        as_of: Option<Date>,
    ) -> Result<Vec<super::geography::OrganisationDistance>> {
        let point = crate::geography::point(latitude, longitude)?;
        let filter = site_filter(filter);
        let (s, day) = day(ctx, as_of).await?;
        let found = crate::geography::near(&s, point, radius_km, limit, &filter, day)?;
        Ok(super::geography::distances(found, day))
    }

    /// Every site there on the day whose coordinates are missing, outside the UK, or more
    /// than 500 m outside the boundary of its country, region, ICB, Local Health Board or
    /// London borough, by ODS code then kind (what `nhs-organisations check` prints).
    #[graphql(complexity = "list_cost(weight::ALL_SITES, None, child_complexity)")]
    async fn geography_issues(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<super::geography::GeographyIssue>> {
        let (s, day) = day(ctx, as_of).await?;
        Ok(crate::geography::check::check(&s, day)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The change log, newest first (100 entries unless `limit` says otherwise, at most
    /// 1,000): every write with who made it, when, and the state before and after. An actor
    /// that is an admin key's name shows as `admin` unless the request carries an admin key.
    /// Page on with `before`: the last entry's `id`.
    #[graphql(complexity = "list_cost(
        directory::MAX_CHANGE_LOG_PAGE as usize,
        Some(limit.unwrap_or(directory::CHANGE_LOG_PAGE)),
        child_complexity
    )")]
    #[allow(clippy::too_many_arguments)]
    async fn change_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only this kind of record: `organisation`, `trust`, `local_health_board`, `integrated_care_board`, `nhs_england_region`, `paediatric_diabetes_unit`, `paediatric_diabetes_network`, `open_uk_network`, `london_borough` or `country`; another value is `BAD_USER_INPUT`."
        )]
        entity: Option<String>,
        #[graphql(desc = "Only this record's code (case-insensitive).")] code: Option<String>,
        #[graphql(
            desc = "Only writes from this source: `seed`, `ord-sync`, `merger`, `reorganisation` or `history`; another value is `BAD_USER_INPUT`."
        )]
        source: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
        #[graphql(desc = "Only entries older than this entry id (the cursor of the next page).")]
        before: Option<i32>,
        #[graphql(
            desc = "Only this kind of record, as an enum (`entity` as text); give one of the two."
        )]
        entity_kind: Option<RecordKind>,
        #[graphql(
            desc = "Only writes from this source, as an enum (`source` as text); give one of the two."
        )]
        source_kind: Option<ChangeSource>,
    ) -> Result<Vec<ChangeLogEntry>> {
        // Reads need no key, but key names are for admins only.
        let admin = ctx.data_opt::<crate::auth::BearerToken>().is_some()
            && crate::auth::require_admin(ctx).await.is_ok();
        let filter = directory::ChangeFilter {
            entity,
            code,
            source,
            entity_kind,
            source_kind,
        };
        let rows = directory::changes(db(ctx)?, &filter, Page { limit, offset }, before).await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let mut entry = ChangeLogEntry::from(m);
                if !admin && !crate::change_log::is_public_actor(&entry.actor) {
                    entry.actor = crate::change_log::HIDDEN_ACTOR.to_string();
                }
                entry
            })
            .collect())
    }
}
