//! Which bundled areas make up a record's area on a day. The files describe the boards of
//! their publication; a board created later by a reorganisation (`crate::reorganisations`,
//! recorded as successions) covers the areas of the boards it took over whole, and has no
//! known boundary where it took part of a board that was split (the files hold no parts).
use std::sync::Arc;

use rustc_hash::FxHashSet as HashSet;

use super::atlas::{Atlas, BoundaryKind};
use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
};
use crate::snapshot::{Day, Kind, Snapshot};

/// Deepest chain of successions followed (real ones are one or two long).
const MAX_DEPTH: usize = 8;

/// A kind of record that is an area with a bundled boundary.
pub trait Bounded: Kind {
    const KIND: BoundaryKind;
    /// The GSS code of its boundary in the bundled file, when it has one.
    fn boundary_code(&self) -> Option<&str>;
    /// The ODS code clients know it by, when it has one.
    fn ods_code(&self) -> Option<&str>;
}

impl Bounded for integrated_care_board::Model {
    const KIND: BoundaryKind = BoundaryKind::IntegratedCareBoards;
    fn boundary_code(&self) -> Option<&str> {
        self.boundary_identifier.as_deref()
    }
    fn ods_code(&self) -> Option<&str> {
        Some(&self.ods_code)
    }
}

impl Bounded for local_health_board::Model {
    const KIND: BoundaryKind = BoundaryKind::LocalHealthBoards;
    fn boundary_code(&self) -> Option<&str> {
        self.boundary_identifier.as_deref()
    }
    fn ods_code(&self) -> Option<&str> {
        Some(&self.ods_code)
    }
}

impl Bounded for nhs_england_region::Model {
    const KIND: BoundaryKind = BoundaryKind::NhsEnglandRegions;
    fn boundary_code(&self) -> Option<&str> {
        self.boundary_identifier.as_deref()
    }
    fn ods_code(&self) -> Option<&str> {
        Some(&self.region_code)
    }
}

impl Bounded for london_borough::Model {
    const KIND: BoundaryKind = BoundaryKind::LondonBoroughs;
    fn boundary_code(&self) -> Option<&str> {
        Some(&self.gss_code)
    }
    fn ods_code(&self) -> Option<&str> {
        None
    }
}

impl Bounded for country::Model {
    const KIND: BoundaryKind = BoundaryKind::Countries;
    fn boundary_code(&self) -> Option<&str> {
        self.boundary_identifier.as_deref()
    }
    fn ods_code(&self) -> Option<&str> {
        None
    }
}

/// A record's area on a day.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// The union of these bundled areas (indices into the atlas, ascending).
    Known(Vec<usize>),
    /// Not known, and why.
    Unknown(String),
}

fn joined(list: &[&str]) -> String {
    list.join(", ")
}

/// The area of the record with `code` on `day`.
pub fn resolve<M: Bounded>(atlas: &Atlas, s: &Snapshot, code: &str, day: Day) -> Resolved {
    let mut parts = Vec::new();
    let mut problem = None;
    let mut seen = HashSet::default();
    let table = M::table(s);
    if let Some(rec) = table.by_code(code) {
        let gave: Vec<&str> = s
            .successors_of(code, day)
            .into_iter()
            .map(|l| l.code.as_str())
            .filter(|c| table.by_code(c).is_some())
            .collect();
        if rec.exists_on(day) && !gave.is_empty() {
            problem = Some(format!(
                "{code} handed part of its area to {} and no boundary is published for what it kept.",
                joined(&gave)
            ));
        }
    }
    walk::<M>(atlas, s, code, day, 0, &mut seen, &mut parts, &mut problem);
    if let Some(p) = problem {
        return Resolved::Unknown(p);
    }
    if parts.is_empty() {
        return Resolved::Unknown(format!(
            "No {} boundary is published for {code}.",
            M::KIND.noun()
        ));
    }
    parts.sort_unstable();
    parts.dedup();
    Resolved::Known(parts)
}

#[allow(clippy::too_many_arguments)]
fn walk<M: Bounded>(
    atlas: &Atlas,
    s: &Snapshot,
    code: &str,
    day: Day,
    depth: usize,
    seen: &mut HashSet<String>,
    parts: &mut Vec<usize>,
    problem: &mut Option<String>,
) {
    if depth > MAX_DEPTH || !seen.insert(code.to_string()) {
        return;
    }
    let table = M::table(s);
    let Some(rec) = table.by_code(code) else {
        return;
    };
    if let Some(i) = rec
        .version_on(day)
        .boundary_code()
        .and_then(|b| atlas.find(M::KIND, b))
    {
        parts.push(i);
    }
    for p in s.predecessors_of(code, day) {
        if table.by_code(&p.code).is_none() {
            continue;
        }
        let heirs: Vec<&str> = s
            .successors_of(&p.code, day)
            .into_iter()
            .map(|l| l.code.as_str())
            .filter(|c| table.by_code(c).is_some())
            .collect();
        if heirs.len() > 1 {
            problem.get_or_insert_with(|| {
                let on = p
                    .effective_on
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default();
                format!(
                    "{code} took part of {}, which was split{on} between {}; no boundary is published for the parts.",
                    p.code,
                    joined(&heirs)
                )
            });
            continue;
        }
        walk::<M>(atlas, s, &p.code, day, depth + 1, seen, parts, problem);
    }
}

/// Who holds a bundled area on a day: the record whose boundary it is, or the one that took
/// it over whole. `Err` says why it is unknown (split, or handed on in part).
pub fn holder<'s, M: Bounded>(
    atlas: &Atlas,
    s: &'s Snapshot,
    area: usize,
    day: Day,
) -> Result<Option<&'s Arc<M>>, String> {
    let table = M::table(s);
    let gss = &atlas.area(area).code;
    let Some(mut rec) = table
        .iter()
        .find(|r| r.version_on(day).boundary_code() == Some(gss.as_str()))
    else {
        return Ok(None);
    };
    for _ in 0..=MAX_DEPTH {
        let code = rec.version_on(day).code().to_string();
        let heirs: Vec<&str> = s
            .successors_of(&code, day)
            .into_iter()
            .map(|l| l.code.as_str())
            .filter(|c| table.by_code(c).is_some())
            .collect();
        if let Some(m) = rec.on(day) {
            if heirs.is_empty() {
                return Ok(Some(m));
            }
            return Err(format!(
                "The {} here on {day} is unknown: {code} handed part of its area to {} and no boundary is published for the parts.",
                M::KIND.noun(),
                joined(&heirs)
            ));
        }
        match heirs.as_slice() {
            [] => return Ok(None),
            [one] => match table.by_code(one) {
                Some(next) => rec = next,
                None => return Ok(None),
            },
            many => {
                return Err(format!(
                    "The {} here on {day} is unknown: {code} was split between {} and no boundary is published for the parts.",
                    M::KIND.noun(),
                    joined(many)
                ))
            }
        }
    }
    Ok(None)
}
