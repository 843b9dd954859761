//! Read queries over the hierarchy's records: lookups by code and filtered lists. Edges are
//! read through `crate::memberships`.
use sea_orm::sea_query::{Alias, Expr, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::codes;
use crate::entities::{organisation, trust};
use crate::errors::{AppError, AppResult};
use crate::memberships::Edge;

/// Page bounds as the client sent them.
#[derive(Copy, Clone, Debug, Default)]
pub struct Page {
    pub limit: Option<i32>,
    pub offset: Option<i32>,
}

impl Page {
    fn checked(self) -> AppResult<(Option<u64>, Option<u64>)> {
        let check = |v: Option<i32>, name: &str| match v {
            Some(n) if n < 0 => Err(AppError::BadUserInput(format!(
                "`{name}` must be zero or more, not {n}."
            ))),
            Some(n) => Ok(Some(n as u64)),
            None => Ok(None),
        };
        let (limit, offset) = (check(self.limit, "limit")?, check(self.offset, "offset")?);
        // SQLite has no OFFSET without LIMIT: an offset alone gets a limit nothing reaches.
        let limit = limit.or(offset.map(|_| i64::MAX as u64));
        Ok((limit, offset))
    }
}

/// Filter on sites.
#[derive(Clone, Debug, Default)]
pub struct OrganisationFilter {
    pub ods_codes: Option<Vec<String>>,
    pub name_contains: Option<String>,
    pub active: Option<bool>,
    pub has_paediatric_diabetes_unit: Option<bool>,
}

/// Filter on trusts.
#[derive(Clone, Debug, Default)]
pub struct TrustFilter {
    pub ods_codes: Option<Vec<String>>,
    pub name_contains: Option<String>,
    pub active: Option<bool>,
}

/// Most codes one `odsCodes` filter may hold: far more than any page needs, and well below the
/// databases' limits on bound parameters.
pub const MAX_FILTER_CODES: usize = 1_000;

fn normalised_codes(codes: &Option<Vec<String>>) -> AppResult<Option<Vec<String>>> {
    if let Some(list) = codes {
        if list.len() > MAX_FILTER_CODES {
            return Err(AppError::BadUserInput(format!(
                "`odsCodes` holds {} codes; send at most {MAX_FILTER_CODES} per request.",
                list.len()
            )));
        }
    }
    codes
        .as_ref()
        .map(|list| list.iter().map(|c| codes::ods_code(c)).collect())
        .transpose()
}

/// A `nameContains` needle. Names hold no control characters, and a NUL would cut the pattern
/// short in SQLite (matching everything) and be refused by PostgreSQL.
fn checked_needle(needle: &str) -> AppResult<&str> {
    if needle.chars().any(char::is_control) {
        return Err(AppError::BadUserInput(
            "`nameContains` must not contain control characters.".into(),
        ));
    }
    Ok(needle)
}

/// Case-insensitive substring match, with LIKE wildcards in the needle taken literally.
fn name_contains(
    column: impl sea_orm::sea_query::IntoColumnRef,
    needle: &str,
) -> sea_orm::sea_query::SimpleExpr {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(column)))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// A current (not deleted) site by ODS code.
pub async fn organisation(
    db: &DatabaseConnection,
    code: &str,
) -> AppResult<Option<organisation::Model>> {
    let code = codes::ods_code(code)?;
    Ok(organisation::Entity::find()
        .filter(organisation::Column::OdsCode.eq(code))
        .filter(organisation::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Current sites matching a filter, by name.
pub async fn organisations(
    db: &DatabaseConnection,
    filter: &OrganisationFilter,
    page: Page,
) -> AppResult<Vec<organisation::Model>> {
    let (limit, offset) = page.checked()?;
    let mut cond = Condition::all().add(organisation::Column::DeletedAt.is_null());
    if let Some(codes) = normalised_codes(&filter.ods_codes)? {
        cond = cond.add(organisation::Column::OdsCode.is_in(codes));
    }
    if let Some(needle) = &filter.name_contains {
        cond = cond.add(name_contains(
            (organisation::Entity, organisation::Column::Name),
            checked_needle(needle)?,
        ));
    }
    if let Some(active) = filter.active {
        cond = cond.add(organisation::Column::Active.eq(active));
    }
    if let Some(has) = filter.has_paediatric_diabetes_unit {
        let with_pdu = Query::select()
            .column(Alias::new("child_id"))
            .from(Alias::new(Edge::OrganisationPaediatricDiabetesUnit.table()))
            .and_where(Expr::col(Alias::new("valid_to")).is_null())
            .to_owned();
        let id = Expr::col((organisation::Entity, organisation::Column::Id));
        cond = cond.add(if has {
            id.in_subquery(with_pdu)
        } else {
            id.not_in_subquery(with_pdu)
        });
    }
    Ok(organisation::Entity::find()
        .filter(cond)
        .order_by_asc(organisation::Column::Name)
        .order_by_asc(organisation::Column::OdsCode)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?)
}

/// A trust by ODS code.
pub async fn trust(db: &DatabaseConnection, code: &str) -> AppResult<Option<trust::Model>> {
    let code = codes::ods_code(code)?;
    Ok(trust::Entity::find()
        .filter(trust::Column::OdsCode.eq(code))
        .one(db)
        .await?)
}

/// Trusts matching a filter, by name.
pub async fn trusts(
    db: &DatabaseConnection,
    filter: &TrustFilter,
    page: Page,
) -> AppResult<Vec<trust::Model>> {
    let (limit, offset) = page.checked()?;
    let mut cond = Condition::all();
    if let Some(codes) = normalised_codes(&filter.ods_codes)? {
        cond = cond.add(trust::Column::OdsCode.is_in(codes));
    }
    if let Some(needle) = &filter.name_contains {
        cond = cond.add(name_contains(
            (trust::Entity, trust::Column::Name),
            checked_needle(needle)?,
        ));
    }
    if let Some(active) = filter.active {
        cond = cond.add(trust::Column::Active.eq(active));
    }
    Ok(trust::Entity::find()
        .filter(cond)
        .order_by_asc(trust::Column::Name)
        .order_by_asc(trust::Column::OdsCode)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?)
}

/// One record of any entity by its (already normalised) natural code.
pub async fn by_code<E, C>(
    db: &DatabaseConnection,
    column: C,
    code: String,
) -> AppResult<Option<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    Ok(E::find().filter(column.eq(code)).one(db).await?)
}

/// Every record of an entity, ordered by a column.
pub async fn all<E, C>(db: &DatabaseConnection, order: C) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    Ok(E::find().order_by_asc(order).all(db).await?)
}

/// Filter on the change log.
#[derive(Clone, Debug, Default)]
pub struct ChangeFilter {
    pub entity: Option<String>,
    pub code: Option<String>,
    pub source: Option<String>,
}

/// Change-log entries one page holds unless asked otherwise, and at most.
pub const CHANGE_LOG_PAGE: i32 = 100;
pub const MAX_CHANGE_LOG_PAGE: i32 = 1_000;

/// Change-log entries, newest first; `before` is the id cursor of the next page (the last
/// entry's id).
pub async fn changes(
    db: &DatabaseConnection,
    filter: &ChangeFilter,
    page: Page,
    before: Option<i32>,
) -> AppResult<Vec<crate::entities::change_log::Model>> {
    use crate::entities::change_log;
    if page.limit.is_some_and(|l| l > MAX_CHANGE_LOG_PAGE) {
        return Err(AppError::BadUserInput(format!(
            "`limit` is at most {MAX_CHANGE_LOG_PAGE}; page on with `before` (the last entry's id)."
        )));
    }
    let page = Page {
        limit: Some(page.limit.unwrap_or(CHANGE_LOG_PAGE)),
        ..page
    };
    let (limit, offset) = page.checked()?;
    let mut q = change_log::Entity::find();
    if let Some(before) = before {
        q = q.filter(change_log::Column::Id.lt(before));
    }
    if let Some(entity) = &filter.entity {
        q = q.filter(change_log::Column::Entity.eq(entity.trim().to_ascii_lowercase()));
    }
    if let Some(code) = &filter.code {
        q = q.filter(change_log::Column::Code.eq(code.trim().to_ascii_uppercase()));
    }
    if let Some(source) = &filter.source {
        q = q.filter(change_log::Column::Source.eq(source.trim().to_ascii_lowercase()));
    }
    Ok(q.order_by_desc(change_log::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?)
}
