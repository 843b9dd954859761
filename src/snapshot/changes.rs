//! What differs between two days: records opened and closed, attributes changed, memberships
//! moved. Computed by comparing the snapshot's answers for both days, so it agrees with `asOf`.
use serde_json::Value;

use super::{Day, Kind, Snapshot, Table};
use crate::change_log::RecordKind;
use crate::memberships::Edge;

/// The kind of a difference.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DifferenceKind {
    Opened,
    Closed,
    Renamed,
    Updated,
    Moved,
}

/// One difference between two days.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// The kind of record.
    pub entity: RecordKind,
    pub code: String,
    /// The attribute or edge (the parent's entity kind) for updates and moves.
    pub field: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn records<M: Kind>(t: &Table<M>, from: Day, to: Day, out: &mut Vec<Difference>) {
    for r in t.iter() {
        let (a, b) = (r.on(from), r.on(to));
        let code = r.latest().code().to_string();
        let diff = |kind, field: Option<&str>, before, after| Difference {
            kind,
            entity: M::TABLE.entity,
            code: code.clone(),
            field: field.map(String::from),
            before,
            after,
        };
        match (a, b) {
            (None, Some(m)) => out.push(diff(
                DifferenceKind::Opened,
                None,
                None,
                m.name().map(String::from),
            )),
            (Some(m), None) => out.push(diff(
                DifferenceKind::Closed,
                None,
                m.name().map(String::from),
                None,
            )),
            (Some(x), Some(y)) if !std::sync::Arc::ptr_eq(x, y) => {
                let (Ok(Value::Object(x)), Ok(Value::Object(y))) = (
                    serde_json::to_value(x.as_ref()),
                    serde_json::to_value(y.as_ref()),
                ) else {
                    continue;
                };
                for (field, xv) in &x {
                    let yv = y.get(field).unwrap_or(&Value::Null);
                    if xv != yv && field != "deleted_at" {
                        let kind = if field == "name" {
                            DifferenceKind::Renamed
                        } else {
                            DifferenceKind::Updated
                        };
                        out.push(diff(kind, Some(field), text(xv), text(yv)));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every difference between `from` and `to`, by entity, code, kind and field.
pub fn between(s: &Snapshot, from: Day, to: Day) -> Vec<Difference> {
    let mut out = Vec::new();
    records(&s.organisations, from, to, &mut out);
    records(&s.trusts, from, to, &mut out);
    records(&s.local_health_boards, from, to, &mut out);
    records(&s.integrated_care_boards, from, to, &mut out);
    records(&s.nhs_england_regions, from, to, &mut out);
    records(&s.paediatric_diabetes_units, from, to, &mut out);
    records(&s.paediatric_diabetes_networks, from, to, &mut out);
    records(&s.open_uk_networks, from, to, &mut out);
    records(&s.london_boroughs, from, to, &mut out);
    records(&s.countries, from, to, &mut out);
    for edge in Edge::ALL {
        let index = s.edge(edge);
        let mut children: Vec<i32> = index.children().collect();
        children.sort_unstable();
        for child in children {
            let (a, b) = (index.parent_on(child, from), index.parent_on(child, to));
            if a == b {
                continue;
            }
            let Some((code, _)) = s.child_label(edge, child, to) else {
                continue;
            };
            let label = |p: Option<i32>| p.and_then(|p| s.parent_label(edge, p, to)).map(|l| l.0);
            out.push(Difference {
                kind: DifferenceKind::Moved,
                entity: edge.child().entity,
                code,
                field: Some(edge.name().to_string()),
                before: label(a),
                after: label(b),
            });
        }
    }
    out.sort_by(|a, b| {
        // By the stored name, as the order is documented.
        (a.entity.as_str(), &a.code, a.kind, &a.field).cmp(&(
            b.entity.as_str(),
            &b.code,
            b.kind,
            &b.field,
        ))
    });
    out
}
