//! Read services over the pinned snapshot: lookups by code, filtered lists, the rules of the
//! derived edges, and which days can be asked about. The GraphQL (and any other) read layer
//! calls these; none of them touches the database. The change log (an admin audit trail, not
//! the hierarchy) is read from the database at the end of this file.
use std::sync::Arc;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::change_log::{ChangeSource, RecordKind};
use crate::codes::OdsCode;
use crate::entities::{organisation, paediatric_diabetes_unit, trust};
use crate::errors::{AppError, AppResult};
use crate::snapshot::{edges, Day, Kind, Snapshot};

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

    /// This page of a list.
    fn of<T>(self, list: Vec<T>) -> AppResult<Vec<T>> {
        let (limit, offset) = self.checked()?;
        let rows = list.into_iter().skip(offset.unwrap_or(0) as usize);
        Ok(match limit {
            Some(n) => rows.take(n as usize).collect(),
            None => rows.collect(),
        })
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

/// Most codes one `odsCodes` filter may hold: far more than any page needs.
pub const MAX_FILTER_CODES: usize = 1_000;

fn normalised_codes(codes: &Option<Vec<String>>) -> AppResult<Option<Vec<OdsCode>>> {
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
        .map(|list| list.iter().map(|c| OdsCode::parse(c)).collect())
        .transpose()
}

/// A `nameContains` needle, lower-cased. Names hold no control characters.
fn checked_needle(needle: &Option<String>) -> AppResult<Option<String>> {
    match needle {
        Some(n) if n.chars().any(char::is_control) => Err(AppError::BadUserInput(
            "`nameContains` must not contain control characters.".into(),
        )),
        Some(n) => Ok(Some(n.to_lowercase())),
        None => Ok(None),
    }
}

/// The day a read answers for: `asOf`, or today. Days before the data begins cannot be
/// answered; later days show what is scheduled.
pub fn day(snapshot: &Snapshot, as_of: Option<Day>, today: Day) -> AppResult<Day> {
    let day = as_of.unwrap_or(today);
    if day < snapshot.history_starts_on {
        return Err(AppError::BadUserInput(format!(
            "`asOf` {day} is before {}, the first day the data describes; ask for that day or later.",
            snapshot.history_starts_on
        )));
    }
    Ok(day)
}

/// A site by ODS code, as it was on `day`; `None` when unknown or not there that day.
pub fn organisation(s: &Snapshot, code: &OdsCode, day: Day) -> Option<Arc<organisation::Model>> {
    by_code(s, code.as_str(), day)
}

/// The sites there on `day` that match a filter, by name.
pub fn organisations(
    s: &Snapshot,
    filter: &OrganisationFilter,
    page: Page,
    day: Day,
) -> AppResult<Vec<Arc<organisation::Model>>> {
    page.checked()?;
    let matches = site_matcher(s, filter, day)?;
    let list = s
        .organisations
        .list_on(day)
        .into_iter()
        .filter(|m| matches(m))
        .cloned()
        .collect();
    page.of(list)
}

/// Whether a site there on `day` matches a filter (the filter checked once, here).
pub fn site_matcher<'a>(
    s: &'a Snapshot,
    filter: &'a OrganisationFilter,
    day: Day,
) -> AppResult<impl Fn(&organisation::Model) -> bool + 'a> {
    let codes = normalised_codes(&filter.ods_codes)?;
    let needle = checked_needle(&filter.name_contains)?;
    Ok(move |m: &organisation::Model| {
        codes
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| c.as_str() == m.ods_code))
            && needle
                .as_ref()
                .is_none_or(|n| m.name.to_lowercase().contains(n))
            && filter.active.is_none_or(|a| m.active == a)
            && filter.has_paediatric_diabetes_unit.is_none_or(|has| {
                s.parent(edges::SITE_PAEDIATRIC_DIABETES_UNIT, m.id, day)
                    .is_some()
                    == has
            })
    })
}

/// A trust by ODS code, as it was on `day`.
pub fn trust(s: &Snapshot, code: &OdsCode, day: Day) -> Option<Arc<trust::Model>> {
    by_code(s, code.as_str(), day)
}

/// The trusts there on `day` that match a filter, by name.
pub fn trusts(
    s: &Snapshot,
    filter: &TrustFilter,
    page: Page,
    day: Day,
) -> AppResult<Vec<Arc<trust::Model>>> {
    page.checked()?;
    let codes = normalised_codes(&filter.ods_codes)?;
    let needle = checked_needle(&filter.name_contains)?;
    let list = s
        .trusts
        .list_on(day)
        .into_iter()
        .filter(|m| {
            codes
                .as_ref()
                .is_none_or(|c| c.iter().any(|c| c.as_str() == m.ods_code))
        })
        .filter(|m| {
            needle
                .as_ref()
                .is_none_or(|n| m.name.to_lowercase().contains(n))
        })
        .filter(|m| filter.active.is_none_or(|a| m.active == a))
        .cloned()
        .collect();
    page.of(list)
}

/// One record of any kind by its (already normalised) natural code, as it was on `day`.
pub fn by_code<M: Kind>(s: &Snapshot, code: &str, day: Day) -> Option<Arc<M>> {
    M::table(s).by_code(code)?.on(day).cloned()
}

/// Every record of a kind there on `day`, in list order (name, then code).
pub fn all<M: Kind>(s: &Snapshot, day: Day) -> Vec<Arc<M>> {
    M::table(s).list_on(day).into_iter().cloned().collect()
}

/// The lead site of a unit among its sites (in list order): the named lead while it is one of
/// them, else the first by name.
pub fn primary_site<'a>(
    unit: &paediatric_diabetes_unit::Model,
    sites: &'a [Arc<organisation::Model>],
) -> Option<&'a Arc<organisation::Model>> {
    crate::placement::lead_site(sites, |s| Some(s.id) == unit.lead_organisation_id)
}

/// The trusts that run an ICB's sites on `day`, by name (a derived edge: the ICB commissions
/// the sites, and a trust's sites can lie in several ICBs).
pub fn board_trusts(s: &Snapshot, board_id: i32, day: Day) -> Vec<Arc<trust::Model>> {
    let mut trusts: Vec<Arc<trust::Model>> = s
        .children(edges::SITE_INTEGRATED_CARE_BOARD, board_id, day)
        .into_iter()
        .filter_map(|site| s.parent(edges::SITE_TRUST, site.id, day).cloned())
        .collect();
    trusts.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    trusts.dedup_by_key(|t| t.id);
    trusts
}

/// The sort key of a name under the collation the REST routes promise (that of `en_US`:
/// case and punctuation only break ties, so "St Albans" sorts before "ST. ANN").
pub fn collation_key(name: &str) -> (String, String) {
    let primary = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    (primary, name.to_string())
}

/// Orders records by name under `collation_key` (then code), descending when asked.
pub fn collated<M: Kind>(list: &mut [Arc<M>], descending: bool) {
    list.sort_by_cached_key(|m| {
        let (name, code) = m.sort_key();
        (collation_key(name), code.to_string())
    });
    if descending {
        list.reverse();
    }
}

/// The unit of a site on `day` and all the unit's sites then, by name: the site's PDU
/// siblings (itself included). `Ok(None)` when the site is unknown that day; an empty unit
/// list when it has no unit.
#[allow(clippy::type_complexity)]
pub fn pdu_siblings(
    s: &Snapshot,
    code: &OdsCode,
    day: Day,
) -> Option<
    Option<(
        Arc<paediatric_diabetes_unit::Model>,
        Vec<Arc<organisation::Model>>,
    )>,
> {
    let site = organisation(s, code, day)?;
    let Some(unit) = s.parent(edges::SITE_PAEDIATRIC_DIABETES_UNIT, site.id, day) else {
        return Some(None);
    };
    let sites = s
        .children(edges::SITE_PAEDIATRIC_DIABETES_UNIT, unit.id, day)
        .into_iter()
        .cloned()
        .collect();
    Some(Some((unit.clone(), sites)))
}

/// Most successions the predecessor walk follows before giving up (chains are short; this
/// only guards against a cycle in the data).
const MAX_SUCCESSION_STEPS: usize = 16;

/// A site's state on `day`, or, when the code did not exist yet that day, the state of the
/// nearest predecessor that did (following the successions back, breadth first). Returns the
/// site and whether it is a predecessor; `None` when neither it nor any predecessor was there.
pub fn site_on_or_predecessor(
    s: &Snapshot,
    code: &OdsCode,
    day: Day,
) -> Option<(Arc<organisation::Model>, bool)> {
    if let Some(site) = by_code::<organisation::Model>(s, code.as_str(), day) {
        return Some((site, false));
    }
    let far = Day::MAX;
    let mut frontier = vec![code.as_str().to_string()];
    let mut seen = vec![code.as_str().to_string()];
    for _ in 0..MAX_SUCCESSION_STEPS {
        let mut next = Vec::new();
        for c in &frontier {
            for p in s.predecessors_of(c, far) {
                if seen.contains(&p.code) {
                    continue;
                }
                if let Some(site) = by_code::<organisation::Model>(s, &p.code, day) {
                    return Some((site, true));
                }
                seen.push(p.code.clone());
                next.push(p.code.clone());
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    None
}

/// Filter on the change log. `entity` and `source` are the text the client sent (checked
/// here, case-insensitive); `entity_kind` and `source_kind` are their typed alternatives.
#[derive(Clone, Debug, Default)]
pub struct ChangeFilter {
    pub entity: Option<String>,
    pub code: Option<String>,
    pub source: Option<String>,
    pub entity_kind: Option<RecordKind>,
    pub source_kind: Option<ChangeSource>,
}

/// A filter value that must be one of `allowed` (case-insensitive): a typo is an error naming
/// the values, not a filter that silently matches nothing.
fn one_of<T: Copy>(
    value: &str,
    allowed: &[T],
    text: fn(T) -> &'static str,
    what: &str,
) -> AppResult<T> {
    let wanted = value.trim().to_ascii_lowercase();
    allowed
        .iter()
        .copied()
        .find(|a| text(*a) == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|a| text(*a)).collect();
            AppError::BadUserInput(format!(
                "`{what}` {value:?} is not one of: {}.",
                names.join(", ")
            ))
        })
}

/// A filter given as text (`what`) or typed (`typed_what`), not both: two that disagree would
/// match nothing.
fn text_or_typed<T: Copy>(
    (text, typed): (Option<&str>, Option<T>),
    allowed: &[T],
    name: fn(T) -> &'static str,
    (what, typed_what): (&str, &str),
) -> AppResult<Option<T>> {
    match (text, typed) {
        (Some(_), Some(_)) => Err(AppError::BadUserInput(format!(
            "Give `{what}` or `{typed_what}`, not both."
        ))),
        (Some(t), None) => one_of(t, allowed, name, what).map(Some),
        (None, typed) => Ok(typed),
    }
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
    let entity = text_or_typed(
        (filter.entity.as_deref(), filter.entity_kind),
        &RecordKind::ALL,
        RecordKind::as_str,
        ("entity", "entityKind"),
    )?;
    if let Some(entity) = entity {
        q = q.filter(change_log::Column::Entity.eq(entity.as_str()));
    }
    if let Some(code) = &filter.code {
        q = q.filter(change_log::Column::Code.eq(code.trim().to_ascii_uppercase()));
    }
    let source = text_or_typed(
        (filter.source.as_deref(), filter.source_kind),
        &ChangeSource::ALL,
        ChangeSource::as_str,
        ("source", "sourceKind"),
    )?;
    if let Some(source) = source {
        q = q.filter(change_log::Column::Source.eq(source.as_str()));
    }
    Ok(q.order_by_desc(change_log::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?)
}
