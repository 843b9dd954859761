//! FHIR R4 JSON (ODS profiles) → the record model the sync consumes ([`OrdOrganisation`]).
//!
//! Read leniently from `serde_json::Value`: a missing element is `None`, never a failure,
//! except a resource with no code or no name.

use chrono::NaiveDate;
use serde_json::Value;

use crate::ord::model::normalise_code;
use crate::ord::{OrdDeletion, OrdOrganisation, OrdRel, OrdRole};

const EXT_ROLE: &str =
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-OrganisationRole";
const EXT_TYPED_PERIOD: &str =
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-TypedPeriod";
const EXT_TYPED_DATE_TIME: &str =
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-TypedDateTime";
const SYS_ODS_CODE: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const SYS_RECORD_CLASS: &str =
    "https://digital.nhs.uk/services/organisation-data-service/CodeSystem/ODSRecordClass";
const SYS_RECORD_USE: &str = "https://fhir.nhs.uk/England/CodeSystem/England-ODSRecordUseType";

/// Role codes that are primary roles. The role extension has no primary flag (the
/// `ODSOrganisationRole` CodeSystem holds it per code); these are the ones the sync's rules
/// use, plus the commissioning ones it classifies.
pub const PRIMARY_ROLES: [&str; 8] = [
    "RO197", "RO198", "RO142", "RO148", "RO261", "RO209", "RO98", "RO177",
];

/// One `OrganizationAffiliation`, from the primary organisation to the participating one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affiliation {
    /// Relationship code, e.g. `RE6`.
    pub id: String,
    pub active: bool,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// ODS code of the participating organisation.
    pub target_code: String,
}

/// A searchset page: its resources and the `next` link, if any.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub resources: Vec<Value>,
    pub next: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn date(v: &Value) -> Option<NaiveDate> {
    let s = v.as_str()?.trim();
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The sub-extensions of `ext` with `url`.
fn sub<'a>(ext: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    array(&ext["extension"])
        .iter()
        .filter(move |e| e["url"].as_str() == Some(url))
}

/// `(dateType, start, end)` of each TypedPeriod inside `ext`.
fn typed_periods(ext: &Value) -> Vec<(String, Option<NaiveDate>, Option<NaiveDate>)> {
    sub(ext, EXT_TYPED_PERIOD)
        .map(|p| {
            let kind = sub(p, "dateType")
                .find_map(|d| text(&d["valueCoding"]["code"]))
                .unwrap_or_default();
            let period = sub(p, "period")
                .map(|d| &d["valuePeriod"])
                .next()
                .cloned()
                .unwrap_or(Value::Null);
            (kind, date(&period["start"]), date(&period["end"]))
        })
        .collect()
}

/// Operational preferred, then Legal, then the first: as ORD's periods are read.
fn period(
    periods: &[(String, Option<NaiveDate>, Option<NaiveDate>)],
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let pick = |k: &str| periods.iter().find(|p| p.0.eq_ignore_ascii_case(k));
    pick("Operational")
        .or_else(|| pick("Legal"))
        .or_else(|| periods.first())
        .map_or((None, None), |p| (p.1, p.2))
}

fn coding_code(v: &Value, system: &str) -> Option<String> {
    array(v).iter().find_map(|t| {
        array(&t["coding"])
            .iter()
            .find(|c| c["system"].as_str() == Some(system))
            .and_then(|c| text(&c["code"]))
    })
}

/// The ODS code of a resource: `id`, else its ODS-code identifier.
fn code_of(resource: &Value) -> Option<String> {
    text(&resource["id"])
        .or_else(|| {
            array(&resource["identifier"])
                .iter()
                .find(|i| i["system"].as_str() == Some(SYS_ODS_CODE))
                .and_then(|i| text(&i["value"]))
        })
        .and_then(|c| normalise_code(&c))
}

/// Whether `role` is a primary role code.
pub fn is_primary_role(role: &str) -> bool {
    PRIMARY_ROLES.contains(&role)
}

/// An `Organization` resource as a record without relationships (`rels` is filled from the
/// affiliations) or successions (FHIR publishes none). County is unknown.
pub fn organisation(resource: &Value) -> Result<OrdOrganisation, String> {
    if resource["resourceType"].as_str() != Some("Organization") {
        return Err("not an Organization resource".to_owned());
    }
    let code = code_of(resource).ok_or("Organization without a valid ODS code")?;
    let name = text(&resource["name"]).ok_or_else(|| format!("Organization {code} has no name"))?;
    let extensions = array(&resource["extension"]);

    let mut roles = Vec::new();
    let mut primary_operational = (None, None);
    for ext in extensions
        .iter()
        .filter(|e| e["url"].as_str() == Some(EXT_ROLE))
    {
        let Some(id) = sub(ext, "roleCode")
            .find_map(|r| text(&r["valueCodeableConcept"]["coding"][0]["code"]))
            .map(|c| c.to_ascii_uppercase())
        else {
            continue;
        };
        let periods = typed_periods(ext);
        let (start, end) = period(&periods);
        let primary = is_primary_role(&id);
        if primary {
            primary_operational = periods
                .iter()
                .find(|p| p.0.eq_ignore_ascii_case("Operational"))
                .map_or((None, None), |p| (p.1, p.2));
        }
        roles.push(OrdRole {
            id,
            primary,
            active: sub(ext, "active").any(|a| a["valueBoolean"].as_bool() == Some(true)),
            start,
            end,
        });
    }
    // One primary role per record, as in ORD: the first primary code (an active one first).
    let primary_role = roles
        .iter()
        .find(|r| r.primary && r.active)
        .or_else(|| roles.iter().find(|r| r.primary))
        .map(|r| r.id.clone());
    for r in &mut roles {
        r.primary = Some(&r.id) == primary_role.as_ref();
    }

    let last_change_date = extensions
        .iter()
        .filter(|e| e["url"].as_str() == Some(EXT_TYPED_DATE_TIME))
        .find(|e| {
            sub(e, "type").any(|t| t["valueCoding"]["code"].as_str() == Some("LastChangeDate"))
        })
        .and_then(|e| sub(e, "dateTime").find_map(|d| date(&d["valueDateTime"])));

    let address = &resource["address"][0];
    let lines = array(&address["line"]);
    let line = |i: usize| lines.get(i).and_then(text);
    let telecom = |system: &str| {
        array(&resource["telecom"])
            .iter()
            .filter(|t| t["system"].as_str() == Some(system))
            .find_map(|t| text(&t["value"]))
    };
    let ref_only = coding_code(&resource["type"], SYS_RECORD_USE)
        .is_some_and(|u| !u.eq_ignore_ascii_case("Full"));

    Ok(OrdOrganisation {
        code,
        name,
        active: resource["active"].as_bool().unwrap_or(false),
        operational_start: primary_operational.0,
        operational_end: primary_operational.1,
        last_change_date,
        record_class: coding_code(&resource["type"], SYS_RECORD_CLASS)
            .map(|c| c.to_ascii_uppercase()),
        ref_only,
        address_line1: line(0),
        address_line2: line(1),
        address_line3: line(2),
        town: text(&address["city"]),
        county: None,
        county_known: false,
        postcode: text(&address["postalCode"]),
        country: text(&address["country"]),
        telephone: telecom("phone"),
        website: telecom("url"),
        primary_role,
        roles,
        rels: Vec::new(),
        succs: Vec::new(),
    })
}

/// The relationship of an `OrganizationAffiliation`; `None` without a code or a target.
pub fn affiliation(resource: &Value) -> Option<Affiliation> {
    let id = text(&resource["code"][0]["coding"][0]["code"])?.to_ascii_uppercase();
    let target_code = text(&resource["participatingOrganization"]["identifier"]["value"])
        .or_else(|| {
            text(&resource["participatingOrganization"]["reference"])
                .and_then(|r| r.rsplit('/').next().map(str::to_owned))
        })
        .and_then(|c| normalise_code(&c))?;
    let periods = typed_periods(resource);
    let (start, end) = if periods.is_empty() {
        (
            date(&resource["period"]["start"]),
            date(&resource["period"]["end"]),
        )
    } else {
        period(&periods)
    };
    Some(Affiliation {
        id,
        active: resource["active"].as_bool().unwrap_or(false),
        start,
        end,
        target_code,
    })
}

/// The relationship as the record model holds it, given the target's primary role.
pub fn rel(a: Affiliation, target_primary_role: Option<String>) -> OrdRel {
    OrdRel {
        id: a.id,
        active: a.active,
        start: a.start,
        end: a.end,
        target_code: a.target_code,
        target_primary_role,
    }
}

/// A `Bundle` page: the `resource` of each entry in search mode `match` (or no mode) and the
/// `next` link.
pub fn page(bundle: &Value) -> Result<Page, String> {
    if bundle["resourceType"].as_str() != Some("Bundle") {
        return Err("not a Bundle".to_owned());
    }
    let resources = array(&bundle["entry"])
        .iter()
        .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
        .map(|e| e["resource"].clone())
        .filter(|r| r.is_object())
        .collect();
    let next = array(&bundle["link"])
        .iter()
        .find(|l| l["relation"].as_str() == Some("next"))
        .and_then(|l| text(&l["url"]));
    Ok(Page { resources, next })
}

/// The ODS code of a search-result resource.
pub fn resource_code(resource: &Value) -> Option<String> {
    code_of(resource)
}

/// The entries of the `Organization-deletion` List, in order. FHIR gives only the code and a
/// date: no primary role, reason or type.
pub fn deletions(list: &Value) -> Result<Vec<OrdDeletion>, String> {
    if list["resourceType"].as_str() != Some("List") {
        return Err("not a List".to_owned());
    }
    Ok(array(&list["entry"])
        .iter()
        .filter_map(|e| {
            let code = text(&e["item"]["identifier"]["value"]).and_then(|c| normalise_code(&c))?;
            let deleted_at = e["date"].as_str().and_then(|d| {
                chrono::DateTime::parse_from_rfc3339(d)
                    .map(|t| t.naive_utc())
                    .ok()
                    .or_else(|| date(&e["date"]).and_then(|d| d.and_hms_opt(0, 0, 0)))
            });
            Some(OrdDeletion {
                code,
                primary_role: None,
                deleted_at,
                reason_code: None,
                reason: None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let file = format!("{}/tests/fixtures/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).expect("fixture");
        serde_json::from_str(&text).expect("json")
    }

    fn day(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    #[test]
    fn a_site_maps_like_its_ord_record() {
        let org = organisation(&fixture("Organization/RVVKC.json")).expect("parses");
        assert_eq!(org.code, "RVVKC");
        assert_eq!(org.name, "KENT & CANTERBURY HOSPITAL");
        assert!(org.active);
        assert_eq!(org.primary_role.as_deref(), Some("RO198"));
        assert_eq!(org.record_class.as_deref(), Some("RC2"));
        assert!(!org.ref_only);
        assert_eq!(org.operational_start, day("1999-04-01"));
        assert_eq!(org.last_change_date, day("2021-07-21"));
        assert_eq!(org.address_line1.as_deref(), Some("ETHELBERT ROAD"));
        assert_eq!(org.town.as_deref(), Some("CANTERBURY"));
        assert_eq!(org.postcode.as_deref(), Some("CT1 3NG"));
        assert_eq!(org.country.as_deref(), Some("ENGLAND"));
        assert!(!org.county_known, "FHIR publishes no county");
        assert!(org.succs.is_empty() && org.rels.is_empty());
    }

    #[test]
    fn the_primary_role_comes_from_the_role_code() {
        let qks = organisation(&fixture("Organization/QKS.json")).expect("parses");
        assert_eq!(qks.primary_role.as_deref(), Some("RO261"));
        let flags: Vec<(&str, bool, bool)> = qks
            .roles
            .iter()
            .map(|r| (r.id.as_str(), r.primary, r.active))
            .collect();
        assert_eq!(
            flags,
            [
                ("RO261", true, true),
                ("RO262", false, false),
                ("RO318", false, true)
            ]
        );
        let rvv = organisation(&fixture("Organization/RVV.json")).expect("parses");
        assert_eq!(rvv.primary_role.as_deref(), Some("RO197"));
        assert!(rvv.has_role("RO57"));
        assert!(rvv.telephone.is_some() && rvv.website.is_some());
    }

    #[test]
    fn affiliations_pages_and_deletions() {
        let bundle = fixture("OrganizationAffiliation/primary-organization-FDC49.json");
        let p = page(&bundle).expect("bundle");
        let rels: Vec<Affiliation> = p.resources.iter().filter_map(affiliation).collect();
        assert_eq!(rels.len(), 3);
        assert!(rels.iter().all(|r| r.id == "RE5"));
        assert_eq!(rels.iter().filter(|r| r.active).count(), 1);

        let page1 = page(&fixture("Organization-lastChangeDate/page1.json")).expect("bundle");
        assert!(page1
            .next
            .as_deref()
            .is_some_and(|n| n.contains("_offset=2")));
        let page2 = page(&fixture("Organization-lastChangeDate/page2.json")).expect("bundle");
        assert_eq!(page2.next, None, "previous is ignored");
        let codes: Vec<String> = page1
            .resources
            .iter()
            .chain(&page2.resources)
            .filter_map(resource_code)
            .collect();
        assert_eq!(codes, ["7A4BV", "QKS", "RVV", "RVVKC"]);

        let gone = deletions(&fixture("List/Organization-deletion.json")).expect("list");
        let codes: Vec<&str> = gone.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["FVG57", "FJE57"]);
        assert_eq!(gone[0].deleted_on(), day("2024-01-17"));
        assert!(page(&fixture("Organization/RVV.json")).is_err());
        assert!(organisation(&fixture("errors/404.json")).is_err());
    }
}
