//! Query roots.
use async_graphql::{Context, InputObject, Object, Result};
use sea_orm::DatabaseConnection;

use super::limits::{list_cost, weight};
use super::loaders::level;
use super::types::*;
use crate::codes;
use crate::directory::{self, Page};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, paediatric_diabetes_network, paediatric_diabetes_unit,
};

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

fn db<'a>(ctx: &'a Context<'_>) -> Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
}

pub struct QueryRoot;

/// Read access to the hierarchy. No credentials needed.
#[Object(name = "Query")]
impl QueryRoot {
    /// A current site by ODS code; null when unknown or deleted.
    async fn organisation(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
    ) -> Result<Option<Organisation>> {
        Ok(directory::organisation(db(ctx)?, &ods_code)
            .await?
            .map(Into::into))
    }

    /// Current sites, by name.
    #[graphql(complexity = "list_cost(weight::ALL_SITES, limit, child_complexity)")]
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganisationFilter>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<Vec<Organisation>> {
        let f = filter.unwrap_or_default();
        let filter = directory::OrganisationFilter {
            ods_codes: f.ods_codes,
            name_contains: f.name_contains,
            active: f.active,
            has_paediatric_diabetes_unit: f.has_paediatric_diabetes_unit,
        };
        Ok(level(
            directory::organisations(db(ctx)?, &filter, Page { limit, offset }).await?,
        ))
    }

    /// A trust by ODS code; null when unknown.
    async fn trust(&self, ctx: &Context<'_>, ods_code: String) -> Result<Option<Trust>> {
        Ok(directory::trust(db(ctx)?, &ods_code).await?.map(Into::into))
    }

    /// Trusts, by name.
    #[graphql(complexity = "list_cost(weight::ALL_TRUSTS, limit, child_complexity)")]
    async fn trusts(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrustFilter>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<Vec<Trust>> {
        let f = filter.unwrap_or_default();
        let filter = directory::TrustFilter {
            ods_codes: f.ods_codes,
            name_contains: f.name_contains,
            active: f.active,
        };
        Ok(level(
            directory::trusts(db(ctx)?, &filter, Page { limit, offset }).await?,
        ))
    }

    /// A Welsh Local Health Board by ODS code; null when unknown.
    async fn local_health_board(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
    ) -> Result<Option<LocalHealthBoard>> {
        let code = codes::ods_code(&ods_code)?;
        Ok(directory::by_code::<local_health_board::Entity, _>(
            db(ctx)?,
            local_health_board::Column::OdsCode,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All Welsh Local Health Boards, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn local_health_boards(&self, ctx: &Context<'_>) -> Result<Vec<LocalHealthBoard>> {
        Ok(level(
            directory::all::<local_health_board::Entity, _>(
                db(ctx)?,
                local_health_board::Column::Name,
            )
            .await?,
        ))
    }

    /// An Integrated Care Board by ODS code; null when unknown.
    async fn integrated_care_board(
        &self,
        ctx: &Context<'_>,
        ods_code: String,
    ) -> Result<Option<IntegratedCareBoard>> {
        let code = codes::ods_code(&ods_code)?;
        Ok(directory::by_code::<integrated_care_board::Entity, _>(
            db(ctx)?,
            integrated_care_board::Column::OdsCode,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All Integrated Care Boards, by name.
    #[graphql(complexity = "list_cost(weight::ALL_ICBS, None, child_complexity)")]
    async fn integrated_care_boards(&self, ctx: &Context<'_>) -> Result<Vec<IntegratedCareBoard>> {
        Ok(level(
            directory::all::<integrated_care_board::Entity, _>(
                db(ctx)?,
                integrated_care_board::Column::Name,
            )
            .await?,
        ))
    }

    /// An NHS England region by region code (e.g. Y56); null when unknown.
    async fn nhs_england_region(
        &self,
        ctx: &Context<'_>,
        region_code: String,
    ) -> Result<Option<NhsEnglandRegion>> {
        let code = codes::region_code(&region_code)?;
        Ok(directory::by_code::<nhs_england_region::Entity, _>(
            db(ctx)?,
            nhs_england_region::Column::RegionCode,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All NHS England regions, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn nhs_england_regions(&self, ctx: &Context<'_>) -> Result<Vec<NhsEnglandRegion>> {
        Ok(level(
            directory::all::<nhs_england_region::Entity, _>(
                db(ctx)?,
                nhs_england_region::Column::Name,
            )
            .await?,
        ))
    }

    /// A Paediatric Diabetes Unit by PZ code; null when unknown.
    async fn paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
        pz_code: String,
    ) -> Result<Option<PaediatricDiabetesUnit>> {
        let code = codes::pz_code(&pz_code)?;
        Ok(directory::by_code::<paediatric_diabetes_unit::Entity, _>(
            db(ctx)?,
            paediatric_diabetes_unit::Column::PzCode,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All Paediatric Diabetes Units, by PZ code.
    #[graphql(complexity = "list_cost(weight::ALL_UNITS, None, child_complexity)")]
    async fn paediatric_diabetes_units(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<PaediatricDiabetesUnit>> {
        Ok(level(
            directory::all::<paediatric_diabetes_unit::Entity, _>(
                db(ctx)?,
                paediatric_diabetes_unit::Column::PzCode,
            )
            .await?,
        ))
    }

    /// A paediatric diabetes network by PN code; null when unknown.
    async fn paediatric_diabetes_network(
        &self,
        ctx: &Context<'_>,
        pn_code: String,
    ) -> Result<Option<PaediatricDiabetesNetwork>> {
        let code = codes::pn_code(&pn_code)?;
        Ok(
            directory::by_code::<paediatric_diabetes_network::Entity, _>(
                db(ctx)?,
                paediatric_diabetes_network::Column::PnCode,
                code,
            )
            .await?
            .map(Into::into),
        )
    }

    /// All paediatric diabetes networks, by PN code.
    #[graphql(complexity = "list_cost(weight::NATIONAL, None, child_complexity)")]
    async fn paediatric_diabetes_networks(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<PaediatricDiabetesNetwork>> {
        Ok(level(
            directory::all::<paediatric_diabetes_network::Entity, _>(
                db(ctx)?,
                paediatric_diabetes_network::Column::PnCode,
            )
            .await?,
        ))
    }

    /// An OPEN UK network by code (e.g. BRPNF); null when unknown.
    async fn open_uk_network(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> Result<Option<OpenUkNetwork>> {
        let code = codes::network_code(&code)?;
        Ok(directory::by_code::<open_uk_network::Entity, _>(
            db(ctx)?,
            open_uk_network::Column::Code,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All OPEN UK networks, by name.
    #[graphql(complexity = "list_cost(weight::NATIONAL, None, child_complexity)")]
    async fn open_uk_networks(&self, ctx: &Context<'_>) -> Result<Vec<OpenUkNetwork>> {
        Ok(level(
            directory::all::<open_uk_network::Entity, _>(db(ctx)?, open_uk_network::Column::Name)
                .await?,
        ))
    }

    /// A London borough by GSS code (E09...); null when unknown.
    async fn london_borough(
        &self,
        ctx: &Context<'_>,
        gss_code: String,
    ) -> Result<Option<LondonBorough>> {
        let code = codes::gss_code(&gss_code)?;
        Ok(directory::by_code::<london_borough::Entity, _>(
            db(ctx)?,
            london_borough::Column::GssCode,
            code,
        )
        .await?
        .map(Into::into))
    }

    /// All London boroughs, by name.
    #[graphql(complexity = "list_cost(weight::ALL_BOROUGHS, None, child_complexity)")]
    async fn london_boroughs(&self, ctx: &Context<'_>) -> Result<Vec<LondonBorough>> {
        Ok(level(
            directory::all::<london_borough::Entity, _>(db(ctx)?, london_borough::Column::Name)
                .await?,
        ))
    }

    /// A country by ONS code (e.g. E92000001); null when unknown.
    async fn country(&self, ctx: &Context<'_>, code: String) -> Result<Option<Country>> {
        let code = codes::gss_code(&code)?;
        Ok(
            directory::by_code::<country::Entity, _>(db(ctx)?, country::Column::Code, code)
                .await?
                .map(Into::into),
        )
    }

    /// All countries, by name.
    #[graphql(complexity = "list_cost(weight::SHORT_NATIONAL, None, child_complexity)")]
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        Ok(level(
            directory::all::<country::Entity, _>(db(ctx)?, country::Column::Name).await?,
        ))
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
        #[graphql(desc = "Only this kind of record, e.g. `organisation`.")] entity: Option<String>,
        #[graphql(desc = "Only this record's code (case-insensitive).")] code: Option<String>,
        #[graphql(desc = "Only writes from this source: `seed`, `ord-sync` or `merger`.")]
        source: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
        #[graphql(desc = "Only entries older than this entry id (the cursor of the next page).")]
        before: Option<i32>,
    ) -> Result<Vec<ChangeLogEntry>> {
        // Reads need no key, but key names are for admins only.
        let admin = ctx.data_opt::<crate::auth::BearerToken>().is_some()
            && crate::auth::require_admin(ctx).await.is_ok();
        let filter = directory::ChangeFilter {
            entity,
            code,
            source,
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
