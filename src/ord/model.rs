//! The ORD 2-0-0 JSON format: raw serde models and the parsed [`OrdOrganisation`].
//!
//! The raw models (`Raw*`) mirror the wire format and are deliberately lenient: every key
//! may be missing or `null`, unknown keys are ignored, the arrays `Date`, `Role`, `Rel`,
//! `Succ` and `Contact` may arrive as a single object ([`OneOrMany`]), and the numeric ids
//! (`uniqueRoleId`, `UPRN`, ...) may be integers or strings. [`parse_organisation`] turns
//! them into a clean [`OrdOrganisation`] with upper-case codes, real dates and `None`
//! instead of empty strings.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer};

use super::OrdError;

// ---------------------------------------------------------------------------------------
// Role and relationship codes (see FORMAT.md §6 of the ORD fixtures).
// ---------------------------------------------------------------------------------------

/// `RO197` NHS TRUST – primary role of English NHS trusts.
pub const ROLE_NHS_TRUST: &str = "RO197";
/// `RO57` FOUNDATION TRUST – non-primary role carried by foundation trusts.
pub const ROLE_FOUNDATION_TRUST: &str = "RO57";
/// `RO198` NHS TRUST SITE – primary role of English hospital sites.
pub const ROLE_TRUST_SITE: &str = "RO198";
/// `RO142` LOCAL HEALTH BOARD – primary role of the current Welsh LHBs (7A1–7A7).
pub const ROLE_WELSH_LHB: &str = "RO142";
/// `RO148` LOCAL HEALTH BOARD SITE – primary role of Welsh hospital sites.
pub const ROLE_LHB_SITE: &str = "RO148";
/// `RO261` STRATEGIC PARTNERSHIP – the generic primary role ICBs kept from their STP days.
pub const ROLE_STRATEGIC_PARTNERSHIP: &str = "RO261";
/// `RO262` SUSTAINABILITY TRANSFORMATION PARTNERSHIP – the ended STP non-primary role.
pub const ROLE_STP: &str = "RO262";
/// `RO318` INTEGRATED CARE BOARD – ICB non-primary role (from 2022-07-01).
pub const ROLE_INTEGRATED_CARE_BOARD: &str = "RO318";
/// Roles that identify an ICB: its primary `RO261` or its non-primary `RO318`.
pub const ROLE_ICB: [&str; 2] = [ROLE_STRATEGIC_PARTNERSHIP, ROLE_INTEGRATED_CARE_BOARD];
/// `RO319` SUB ICB LOCATION – non-primary role of former CCGs.
pub const ROLE_SUB_ICB_LOCATION: &str = "RO319";
/// `RO98` CLINICAL COMMISSIONING GROUP – primary role of sub-ICB locations.
pub const ROLE_CCG: &str = "RO98";
/// `RO209` NHS ENGLAND (REGION) – the seven commissioning regions (Y56 ... Y63).
pub const ROLE_REGION: &str = "RO209";
/// `RO210` NHS ENGLAND (REGION, LOCAL OFFICE) – historic geography targets of trusts.
pub const ROLE_REGION_LOCAL_OFFICE: &str = "RO210";

/// `RE2` IS A SUB-DIVISION OF – e.g. ICB → region.
pub const REL_SUB_DIVISION_OF: &str = "RE2";
/// `RE4` IS COMMISSIONED BY – e.g. GP practice → sub-ICB location or LHB.
pub const REL_COMMISSIONED_BY: &str = "RE4";
/// `RE5` IS LOCATED IN THE GEOGRAPHY OF – e.g. trust → ICB.
pub const REL_IN_GEOGRAPHY_OF: &str = "RE5";
/// `RE6` IS OPERATED BY – site → trust (England) or site → LHB (Wales).
pub const REL_OPERATED_BY: &str = "RE6";
/// `RE8` IS PARTNER TO – newer partner links; not the same as `RE5`.
pub const REL_PARTNER_TO: &str = "RE8";

/// Coarse kind of organisation, from its primary role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleClass {
    /// A hospital site: `RO198` (English trust site) or `RO148` (Welsh LHB site).
    Site,
    /// An English NHS trust: `RO197`.
    Trust,
    /// A Welsh local health board: `RO142`.
    Lhb,
    /// An integrated care board: `RO261` (or `RO318`).
    Icb,
    /// An NHS England commissioning region: `RO209`.
    Region,
    /// Anything else (GP practices, CCGs, local offices, ...).
    Other,
}

/// Classifies a role code (normally a primary role). Case-insensitive.
///
/// `RO144` (the pre-2009 Welsh LHBs) is deliberately `Other`: current LHBs use `RO142`.
pub fn classify_role(role_id: &str) -> RoleClass {
    let id = role_id.trim().to_ascii_uppercase();
    match id.as_str() {
        ROLE_TRUST_SITE | ROLE_LHB_SITE => RoleClass::Site,
        ROLE_NHS_TRUST => RoleClass::Trust,
        ROLE_WELSH_LHB => RoleClass::Lhb,
        ROLE_STRATEGIC_PARTNERSHIP | ROLE_INTEGRATED_CARE_BOARD => RoleClass::Icb,
        ROLE_REGION => RoleClass::Region,
        _ => RoleClass::Other,
    }
}

// ---------------------------------------------------------------------------------------
// Lenient deserialisation helpers.
// ---------------------------------------------------------------------------------------

/// A JSON value that is normally an array but may be a single object (or `null`/missing,
/// which gives an empty list). Dereferences to a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    /// The entries as a vector.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> std::ops::Deref for OneOrMany<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Option::<Repr<T>>::deserialize(deserializer)? {
            None => Self(Vec::new()),
            Some(Repr::Many(items)) => Self(items),
            Some(Repr::One(item)) => Self(vec![item]),
        })
    }
}

/// Accepts a string or a number (ids such as `uniqueRoleId`, `UPRN`); anything else → `None`.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Accepts `true`/`false`, `"true"`/`"false"` (the metadata endpoints send strings) and 0/1.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        serde_json::Value::Number(n) => n.as_i64().map(|v| v != 0),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------
// Raw wire models.
// ---------------------------------------------------------------------------------------

/// Body of `GET organisations/{code}`: `{"Organisation": {...}}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawOrganisationResponse {
    /// The record; `None` if the key is missing or `null`.
    #[serde(rename = "Organisation", default)]
    pub organisation: Option<RawOrganisation>,
}

/// A full organisation record as sent by ORD.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawOrganisation {
    /// `Name`.
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// `Date`: `Operational` and/or `Legal` periods.
    #[serde(rename = "Date")]
    pub date: OneOrMany<RawDate>,
    /// `OrgId`; its `extension` is the ODS code.
    #[serde(rename = "OrgId")]
    pub org_id: Option<RawOrgId>,
    /// `Status`: `Active` or `Inactive`.
    #[serde(rename = "Status")]
    pub status: Option<String>,
    /// `LastChangeDate`, `YYYY-MM-DD`.
    #[serde(rename = "LastChangeDate")]
    pub last_change_date: Option<String>,
    /// `orgRecordClass`: `RC1` (organisation) or `RC2` (site).
    #[serde(rename = "orgRecordClass", alias = "OrgRecordClass")]
    pub org_record_class: Option<String>,
    /// `refOnly`: present (true) on archived skeleton records.
    #[serde(rename = "refOnly", deserialize_with = "lenient_bool")]
    pub ref_only: Option<bool>,
    /// `GeoLoc`.
    #[serde(rename = "GeoLoc")]
    pub geo_loc: Option<RawGeoLoc>,
    /// `Contacts`.
    #[serde(rename = "Contacts")]
    pub contacts: Option<RawContacts>,
    /// `Roles`.
    #[serde(rename = "Roles")]
    pub roles: Option<RawRoles>,
    /// `Rels`.
    #[serde(rename = "Rels")]
    pub rels: Option<RawRels>,
    /// `Succs`.
    #[serde(rename = "Succs")]
    pub succs: Option<RawSuccs>,
}

/// One `Date` entry: `{"Type": "Operational", "Start": "1999-04-01", "End": ...}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDate {
    /// `Operational` or `Legal`.
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    /// Start date string.
    #[serde(rename = "Start")]
    pub start: Option<String>,
    /// End date string, only when ended.
    #[serde(rename = "End")]
    pub end: Option<String>,
}

/// `OrgId`: an object `{root, assigningAuthorityName, extension}` in full records, a
/// plain code string in search summaries; both are accepted.
#[derive(Clone, Debug, Default)]
pub struct RawOrgId {
    /// OID of the code system.
    pub root: Option<String>,
    /// Normally `HSCIC`.
    pub assigning_authority_name: Option<String>,
    /// The ODS code.
    pub extension: Option<String>,
}

impl<'de> Deserialize<'de> for RawOrgId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Object {
            root: Option<String>,
            #[serde(rename = "assigningAuthorityName")]
            assigning_authority_name: Option<String>,
            extension: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Code(String),
            Object(Object),
        }
        Ok(match Option::<Repr>::deserialize(deserializer)? {
            None => Self::default(),
            Some(Repr::Code(code)) => Self {
                extension: Some(code),
                ..Self::default()
            },
            Some(Repr::Object(o)) => Self {
                root: o.root,
                assigning_authority_name: o.assigning_authority_name,
                extension: o.extension,
            },
        })
    }
}

/// `GeoLoc`: `{"Location": {...}}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawGeoLoc {
    /// `Location`.
    #[serde(rename = "Location")]
    pub location: Option<RawLocation>,
}

/// `GeoLoc.Location`: the postal address.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLocation {
    /// `AddrLn1`.
    #[serde(rename = "AddrLn1")]
    pub addr_ln1: Option<String>,
    /// `AddrLn2`.
    #[serde(rename = "AddrLn2")]
    pub addr_ln2: Option<String>,
    /// `AddrLn3`.
    #[serde(rename = "AddrLn3")]
    pub addr_ln3: Option<String>,
    /// `Town`.
    #[serde(rename = "Town")]
    pub town: Option<String>,
    /// `County`.
    #[serde(rename = "County")]
    pub county: Option<String>,
    /// `PostCode`.
    #[serde(rename = "PostCode")]
    pub post_code: Option<String>,
    /// `Country`, e.g. `ENGLAND`, `WALES`.
    #[serde(rename = "Country")]
    pub country: Option<String>,
    /// `UPRN` (an integer on the wire; kept as text).
    #[serde(rename = "UPRN", deserialize_with = "lenient_string")]
    pub uprn: Option<String>,
}

/// `Contacts`: `{"Contact": [...]}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawContacts {
    /// `Contact` entries.
    #[serde(rename = "Contact")]
    pub contact: OneOrMany<RawContact>,
}

/// One contact: `{"type": "tel", "value": "01707 253800"}` (lower-case keys).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawContact {
    /// `tel`, `http`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The number or URL.
    pub value: Option<String>,
}

/// `Roles`: `{"Role": [...]}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRoles {
    /// `Role` entries.
    #[serde(rename = "Role")]
    pub role: OneOrMany<RawRole>,
}

/// One role.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRole {
    /// Role code, e.g. `RO198`.
    pub id: Option<String>,
    /// `uniqueRoleId` (integer or string).
    #[serde(rename = "uniqueRoleId", deserialize_with = "lenient_string")]
    pub unique_role_id: Option<String>,
    /// `primaryRole`: `true` only on the primary role (key absent otherwise).
    #[serde(rename = "primaryRole", deserialize_with = "lenient_bool")]
    pub primary_role: Option<bool>,
    /// `Date`.
    #[serde(rename = "Date")]
    pub date: OneOrMany<RawDate>,
    /// `Status`.
    #[serde(rename = "Status")]
    pub status: Option<String>,
}

/// `Rels`: `{"Rel": [...]}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRels {
    /// `Rel` entries.
    #[serde(rename = "Rel")]
    pub rel: OneOrMany<RawRel>,
}

/// One relationship, from this record to `Target`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRel {
    /// `Date`.
    #[serde(rename = "Date")]
    pub date: OneOrMany<RawDate>,
    /// `Status`.
    #[serde(rename = "Status")]
    pub status: Option<String>,
    /// `Target`.
    #[serde(rename = "Target")]
    pub target: Option<RawTarget>,
    /// Relationship code, e.g. `RE6`.
    pub id: Option<String>,
    /// `uniqueRelId` (integer or string).
    #[serde(rename = "uniqueRelId", deserialize_with = "lenient_string")]
    pub unique_rel_id: Option<String>,
}

/// `Target` of a `Rel` or `Succ`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTarget {
    /// The target's `OrgId`.
    #[serde(rename = "OrgId")]
    pub org_id: Option<RawOrgId>,
    /// The target's primary role.
    #[serde(rename = "PrimaryRoleId")]
    pub primary_role_id: Option<RawPrimaryRoleId>,
}

/// `PrimaryRoleId`: `{"id": "RO197", "uniqueRoleId": 41756}` (or a bare code string).
#[derive(Clone, Debug, Default)]
pub struct RawPrimaryRoleId {
    /// Role code.
    pub id: Option<String>,
    /// `uniqueRoleId` (integer or string).
    pub unique_role_id: Option<String>,
}

impl<'de> Deserialize<'de> for RawPrimaryRoleId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Object {
            id: Option<String>,
            #[serde(rename = "uniqueRoleId", deserialize_with = "lenient_string")]
            unique_role_id: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Code(String),
            Object(Object),
        }
        Ok(match Option::<Repr>::deserialize(deserializer)? {
            None => Self::default(),
            Some(Repr::Code(id)) => Self {
                id: Some(id),
                unique_role_id: None,
            },
            Some(Repr::Object(o)) => Self {
                id: o.id,
                unique_role_id: o.unique_role_id,
            },
        })
    }
}

/// `Succs`: `{"Succ": [...]}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSuccs {
    /// `Succ` entries.
    #[serde(rename = "Succ")]
    pub succ: OneOrMany<RawSucc>,
}

/// One succession entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSucc {
    /// `uniqueSuccId` (integer or string).
    #[serde(rename = "uniqueSuccId", deserialize_with = "lenient_string")]
    pub unique_succ_id: Option<String>,
    /// `Date` (normally one `Legal` entry).
    #[serde(rename = "Date")]
    pub date: OneOrMany<RawDate>,
    /// `Predecessor` or `Successor`, from this record's point of view.
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    /// `Target`.
    #[serde(rename = "Target")]
    pub target: Option<RawTarget>,
}

/// Body of `GET sync?LastChangeDate=...`: `{"Organisations": [{"OrgLink": "..."}]}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSyncResponse {
    /// Changed organisations; missing or `null` → empty.
    #[serde(rename = "Organisations")]
    pub organisations: OneOrMany<RawOrgLink>,
}

/// One sync entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawOrgLink {
    /// Absolute URL of the full record, ending in the ODS code.
    #[serde(rename = "OrgLink")]
    pub org_link: Option<String>,
}

/// Body of `GET notifications`: `{"DeletedOrganisations": [...]}`, the whole-record deletions
/// of the last 185 days.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawNotifications {
    /// Deleted records; missing or `null` → empty.
    #[serde(rename = "DeletedOrganisations")]
    pub deleted_organisations: OneOrMany<RawDeletedOrganisation>,
}

/// One deletion notice.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDeletedOrganisation {
    /// `OrgID` (capital D here, unlike `OrgId` elsewhere): the deleted ODS code.
    #[serde(rename = "OrgID", alias = "OrgId", deserialize_with = "lenient_string")]
    pub org_id: Option<String>,
    /// `PrimaryRoleId`: a bare role code here (an object is accepted too).
    #[serde(rename = "PrimaryRoleId")]
    pub primary_role_id: Option<RawPrimaryRoleId>,
    /// `reason`: `{code, description}`, e.g. `3` / `HUMAN ERROR`.
    pub reason: Option<RawCoded>,
    /// `time`: `YYYY-MM-DD HH:MM:SS`, no zone.
    pub time: Option<String>,
    /// `type`: `{code, description}`, e.g. `1` / `Machine`.
    #[serde(rename = "type")]
    pub kind: Option<RawCoded>,
}

/// A `{code, description}` pair of the notifications body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawCoded {
    /// The code (an integer on the wire; kept as text).
    #[serde(deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// Its description.
    pub description: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Parsed, domain-neutral record.
// ---------------------------------------------------------------------------------------

/// One whole-record deletion ODS announced in `notifications`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdDeletion {
    /// ODS code of the deleted record, upper case.
    pub code: String,
    /// Its primary role, upper case.
    pub primary_role: Option<String>,
    /// When ODS deleted it (`time`, no zone given); `None` if missing or unreadable.
    pub deleted_at: Option<NaiveDateTime>,
    /// `reason.code` (1 third party error, 2 org does not exist, 3 human error).
    pub reason_code: Option<String>,
    /// `reason.description`, e.g. `HUMAN ERROR`.
    pub reason: Option<String>,
}

impl OrdDeletion {
    /// The day of the deletion.
    pub fn deleted_on(&self) -> Option<NaiveDate> {
        self.deleted_at.map(|t| t.date())
    }
}

/// One role held by an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdRole {
    /// Role code, upper case (e.g. `RO198`).
    pub id: String,
    /// Whether this is the organisation's primary role.
    pub primary: bool,
    /// `Status == "Active"`.
    pub active: bool,
    /// Operational start (Legal if there is no Operational period).
    pub start: Option<NaiveDate>,
    /// Operational end, if ended.
    pub end: Option<NaiveDate>,
}

/// One relationship from this organisation to another ("this IS OPERATED BY target").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdRel {
    /// Relationship code, upper case (e.g. `RE6`).
    pub id: String,
    /// `Status == "Active"`; ended relationships stay in the record as inactive.
    pub active: bool,
    /// Operational start (Legal if there is no Operational period).
    pub start: Option<NaiveDate>,
    /// Operational end, if ended.
    pub end: Option<NaiveDate>,
    /// ODS code of the target, upper case.
    pub target_code: String,
    /// Primary role of the target, upper case (e.g. `RO197`).
    pub target_primary_role: Option<String>,
}

crate::change_log::stored_as_text! {
    /// Direction of a succession, from this organisation's point of view (stored as
    /// `ord_successions.kind`).
    #[graphql(name = "OrdSuccessionKind")]
    pub enum SuccessionKind {
        /// The target was replaced by this organisation (stored as `predecessor`).
        Predecessor = "predecessor",
        /// The target replaced this organisation (`successor`).
        Successor = "successor",
    }
}

/// One succession (merger / re-coding) link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdSuccession {
    /// Predecessor or successor.
    pub kind: SuccessionKind,
    /// ODS code of the other organisation, upper case.
    pub target_code: String,
    /// Primary role of the other organisation, upper case.
    pub target_primary_role: Option<String>,
    /// Date the succession took effect (Legal, else Operational).
    pub start: Option<NaiveDate>,
}

/// A parsed ORD organisation record. Plain owned data; knows nothing about storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdOrganisation {
    /// ODS code, upper case (`OrgId.extension`).
    pub code: String,
    /// Name as published (ODS uses upper case).
    pub name: String,
    /// `Status == "Active"`.
    pub active: bool,
    /// Start of the `Operational` period.
    pub operational_start: Option<NaiveDate>,
    /// End of the `Operational` period; set when the organisation has closed.
    pub operational_end: Option<NaiveDate>,
    /// `LastChangeDate`.
    pub last_change_date: Option<NaiveDate>,
    /// `orgRecordClass`: `RC1` (organisation) or `RC2` (site).
    pub record_class: Option<String>,
    /// `refOnly`: an archived skeleton record kept for referential integrity.
    pub ref_only: bool,
    /// `AddrLn1`.
    pub address_line1: Option<String>,
    /// `AddrLn2`.
    pub address_line2: Option<String>,
    /// `AddrLn3`.
    pub address_line3: Option<String>,
    /// `Town`.
    pub town: Option<String>,
    /// `County`.
    pub county: Option<String>,
    /// Whether the source publishes county at all (ORD does, FHIR does not): when false,
    /// `county` is unknown rather than absent, and the stored value stays.
    pub county_known: bool,
    /// `PostCode`.
    pub postcode: Option<String>,
    /// `Country`.
    pub country: Option<String>,
    /// First contact of type `tel`.
    pub telephone: Option<String>,
    /// First contact of type `http`.
    pub website: Option<String>,
    /// Id of the role flagged `primaryRole: true`.
    pub primary_role: Option<String>,
    /// All roles, in record order.
    pub roles: Vec<OrdRole>,
    /// All relationships (history included), in record order.
    pub rels: Vec<OrdRel>,
    /// All successions, in record order.
    pub succs: Vec<OrdSuccession>,
}

impl OrdOrganisation {
    /// The trust or Welsh LHB that operates this site: the *Active* `RE6` relationship
    /// whose target's primary role is `RO197` (NHS trust) or `RO142` (Welsh LHB).
    ///
    /// An `RE6` to anything else (e.g. a GP branch's practice) is ignored. Should a record
    /// ever hold several matches, the one that started last wins.
    pub fn operated_by(&self) -> Option<&OrdRel> {
        self.latest_active_rel(REL_OPERATED_BY, &[ROLE_NHS_TRUST, ROLE_WELSH_LHB])
    }

    /// The ICB this organisation sits in: the *Active* `RE5` relationship whose target's
    /// primary role is `RO261` (or `RO318`). Ended links to local offices / HAs are ignored.
    pub fn active_icb(&self) -> Option<&OrdRel> {
        self.latest_active_rel(REL_IN_GEOGRAPHY_OF, &ROLE_ICB)
    }

    /// The NHS England region above this organisation: any *Active* relationship whose
    /// target's primary role is `RO209`. Selected by target role rather than rel id because
    /// ORD uses `RE2` (ICB → region) and `RE5` (e.g. commissioning hubs) for it.
    pub fn active_region(&self) -> Option<&OrdRel> {
        self.rels
            .iter()
            .filter(|r| r.active && r.target_primary_role.as_deref() == Some(ROLE_REGION))
            .max_by_key(|r| r.start)
    }

    /// The date the organisation closed (its operational end), if it has.
    pub fn closed_on(&self) -> Option<NaiveDate> {
        self.operational_end
    }

    /// Classification of the primary role (`Other` when there is none).
    pub fn role_class(&self) -> RoleClass {
        self.primary_role
            .as_deref()
            .map_or(RoleClass::Other, classify_role)
    }

    /// Whether the organisation holds `role_id` (primary or not, active or not).
    pub fn has_role(&self, role_id: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(role_id.trim()))
    }

    /// Codes this organisation replaced.
    pub fn predecessors(&self) -> impl Iterator<Item = &OrdSuccession> {
        self.succs
            .iter()
            .filter(|s| s.kind == SuccessionKind::Predecessor)
    }

    /// Codes that replaced this organisation.
    pub fn successors(&self) -> impl Iterator<Item = &OrdSuccession> {
        self.succs
            .iter()
            .filter(|s| s.kind == SuccessionKind::Successor)
    }

    fn latest_active_rel(&self, rel_id: &str, target_roles: &[&str]) -> Option<&OrdRel> {
        // `max_by_key` returns the last of equal keys; iterate reversed so ties keep record order.
        self.rels
            .iter()
            .rev()
            .filter(|r| {
                r.active
                    && r.id == rel_id
                    && r.target_primary_role
                        .as_deref()
                        .is_some_and(|role| target_roles.contains(&role))
            })
            .max_by_key(|r| r.start)
    }
}

// ---------------------------------------------------------------------------------------
// Parsing.
// ---------------------------------------------------------------------------------------

/// Parses the body of `GET organisations/{code}` into an [`OrdOrganisation`].
///
/// Fails with [`OrdError::InvalidResponse`] (path `organisations`) when the body is not
/// JSON of the documented shape, has no `Organisation` object, or lacks the ODS code
/// (`OrgId.extension`) or `Name`. Everything else is optional.
pub fn parse_organisation(body: &[u8]) -> Result<OrdOrganisation, OrdError> {
    parse_organisation_at(body, "organisations")
}

pub(crate) fn parse_organisation_at(
    body: &[u8],
    url_path: &str,
) -> Result<OrdOrganisation, OrdError> {
    let invalid = |detail: String| OrdError::InvalidResponse {
        url_path: url_path.to_owned(),
        detail,
    };
    let raw: RawOrganisationResponse = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not an ORD organisation document: {e}")))?;
    let org = raw
        .organisation
        .ok_or_else(|| invalid("no \"Organisation\" object in the body".to_owned()))?;
    from_raw(org).map_err(invalid)
}

/// Parses the body of `GET sync?LastChangeDate=...` into ODS codes: the last path segment
/// of each `OrgLink`, upper case, de-duplicated, in response order. A missing or empty
/// `Organisations` gives an empty list; links without a usable code are skipped.
pub fn parse_sync(body: &[u8]) -> Result<Vec<String>, OrdError> {
    parse_sync_at(body, "sync")
}

pub(crate) fn parse_sync_at(body: &[u8], url_path: &str) -> Result<Vec<String>, OrdError> {
    let raw: RawSyncResponse =
        serde_json::from_slice(body).map_err(|e| OrdError::InvalidResponse {
            url_path: url_path.to_owned(),
            detail: format!("not an ORD sync document: {e}"),
        })?;
    let mut seen = std::collections::HashSet::new();
    let mut codes = Vec::with_capacity(raw.organisations.len());
    for entry in raw.organisations.into_vec() {
        let Some(link) = entry.org_link else {
            tracing::warn!(url_path, "ORD sync entry without OrgLink skipped");
            continue;
        };
        match code_from_org_link(&link) {
            Some(code) => {
                if seen.insert(code.clone()) {
                    codes.push(code);
                }
            }
            None => {
                tracing::warn!(url_path, org_link = %link, "ORD sync OrgLink without a valid ODS code skipped")
            }
        }
    }
    Ok(codes)
}

/// Parses the body of `GET notifications` into deletions, in response order. A missing or empty
/// `DeletedOrganisations` gives an empty list; entries without a usable code are skipped.
pub fn parse_notifications(body: &[u8]) -> Result<Vec<OrdDeletion>, OrdError> {
    parse_notifications_at(body, "notifications")
}

pub(crate) fn parse_notifications_at(
    body: &[u8],
    url_path: &str,
) -> Result<Vec<OrdDeletion>, OrdError> {
    let raw: RawNotifications =
        serde_json::from_slice(body).map_err(|e| OrdError::InvalidResponse {
            url_path: url_path.to_owned(),
            detail: format!("not an ORD notifications document: {e}"),
        })?;
    let mut out = Vec::with_capacity(raw.deleted_organisations.len());
    for entry in raw.deleted_organisations.into_vec() {
        let Some(code) = entry.org_id.as_deref().and_then(normalise_code) else {
            tracing::warn!(url_path, org_id = ?entry.org_id, "ORD deletion notice without a valid ODS code skipped");
            continue;
        };
        let reason = entry.reason.unwrap_or_default();
        out.push(OrdDeletion {
            code,
            primary_role: clean_code(entry.primary_role_id.and_then(|r| r.id)),
            deleted_at: parse_time(entry.time.as_deref()),
            reason_code: clean(reason.code),
            reason: clean(reason.description),
        });
    }
    Ok(out)
}

/// `YYYY-MM-DD HH:MM:SS` (also with a `T`, or a bare date); anything else → `None`.
fn parse_time(value: Option<&str>) -> Option<NaiveDateTime> {
    let value = value?.trim();
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .or_else(|| parse_date(Some(value)).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// The ODS code at the end of an `OrgLink` URL (query such as `?_format=xml` and a
/// trailing `/` ignored), upper case. `None` unless it is 1–16 ASCII letters/digits,
/// which every ODS code is; this also keeps odd input out of request paths.
pub fn code_from_org_link(link: &str) -> Option<String> {
    let without_query = link.split(['?', '#']).next().unwrap_or_default();
    let segment = without_query
        .trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()?;
    normalise_code(segment)
}

/// Upper-cases a plausible ODS code; `None` if it is empty, too long or not alphanumeric.
pub(crate) fn normalise_code(code: &str) -> Option<String> {
    let code = code.trim();
    let plausible =
        !code.is_empty() && code.len() <= 16 && code.bytes().all(|b| b.is_ascii_alphanumeric());
    plausible.then(|| code.to_ascii_uppercase())
}

/// Trims; empty → `None`.
fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Trims and upper-cases codes; empty → `None`.
fn clean_code(value: Option<String>) -> Option<String> {
    clean(value).map(|v| v.to_ascii_uppercase())
}

fn is_active(status: Option<&str>) -> bool {
    status.is_some_and(|s| s.trim().eq_ignore_ascii_case("Active"))
}

/// `YYYY-MM-DD`; anything else (or empty) → `None` rather than failing the whole record.
fn parse_date(value: Option<&str>) -> Option<NaiveDate> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            tracing::debug!(value, "unparseable ORD date ignored");
            None
        }
    }
}

fn date_of_kind<'a>(dates: &'a [RawDate], kind: &str) -> Option<&'a RawDate> {
    dates.iter().find(|d| {
        d.kind
            .as_deref()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case(kind))
    })
}

/// Period of a role or rel: Operational preferred, then Legal, then whatever comes first.
fn period(dates: &[RawDate], preferred: [&str; 2]) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let chosen = date_of_kind(dates, preferred[0])
        .or_else(|| date_of_kind(dates, preferred[1]))
        .or_else(|| dates.first());
    match chosen {
        Some(d) => (parse_date(d.start.as_deref()), parse_date(d.end.as_deref())),
        None => (None, None),
    }
}

fn target_parts(target: Option<RawTarget>) -> (Option<String>, Option<String>) {
    let target = target.unwrap_or_default();
    let code = target
        .org_id
        .and_then(|id| id.extension)
        .and_then(|c| normalise_code(&c));
    let role = clean_code(target.primary_role_id.and_then(|r| r.id));
    (code, role)
}

fn from_raw(org: RawOrganisation) -> Result<OrdOrganisation, String> {
    let code = org
        .org_id
        .and_then(|id| id.extension)
        .ok_or_else(|| "record has no OrgId.extension (ODS code)".to_owned())?;
    let code =
        normalise_code(&code).ok_or_else(|| format!("record has an invalid ODS code {code:?}"))?;
    let name = clean(org.name).ok_or_else(|| format!("record {code} has no Name"))?;

    let (operational_start, operational_end) = match date_of_kind(&org.date, "Operational") {
        Some(d) => (parse_date(d.start.as_deref()), parse_date(d.end.as_deref())),
        None => (None, None),
    };

    let location = org.geo_loc.and_then(|g| g.location).unwrap_or_default();

    let contacts = org
        .contacts
        .map(|c| c.contact.into_vec())
        .unwrap_or_default();
    let contact = |kind: &str| {
        contacts
            .iter()
            .filter(|c| {
                c.kind
                    .as_deref()
                    .is_some_and(|k| k.trim().eq_ignore_ascii_case(kind))
            })
            .find_map(|c| clean(c.value.clone()))
    };
    let telephone = contact("tel");
    let website = contact("http");

    let roles: Vec<OrdRole> = org
        .roles
        .map(|r| r.role.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|role| {
            let id = clean_code(role.id)?;
            let (start, end) = period(&role.date, ["Operational", "Legal"]);
            Some(OrdRole {
                id,
                primary: role.primary_role.unwrap_or(false),
                active: is_active(role.status.as_deref()),
                start,
                end,
            })
        })
        .collect();
    let primary_role = roles.iter().find(|r| r.primary).map(|r| r.id.clone());

    let rels = org
        .rels
        .map(|r| r.rel.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|rel| {
            let id = clean_code(rel.id)?;
            let (target_code, target_primary_role) = target_parts(rel.target);
            let (start, end) = period(&rel.date, ["Operational", "Legal"]);
            Some(OrdRel {
                id,
                active: is_active(rel.status.as_deref()),
                start,
                end,
                target_code: target_code?,
                target_primary_role,
            })
        })
        .collect();

    let succs = org
        .succs
        .map(|s| s.succ.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|succ| {
            let kind = match succ.kind.as_deref().map(str::trim) {
                Some(k) if k.eq_ignore_ascii_case("Predecessor") => SuccessionKind::Predecessor,
                Some(k) if k.eq_ignore_ascii_case("Successor") => SuccessionKind::Successor,
                _ => return None,
            };
            let (target_code, target_primary_role) = target_parts(succ.target);
            let (start, _) = period(&succ.date, ["Legal", "Operational"]);
            Some(OrdSuccession {
                kind,
                target_code: target_code?,
                target_primary_role,
                start,
            })
        })
        .collect();

    Ok(OrdOrganisation {
        code,
        name,
        active: is_active(org.status.as_deref()),
        operational_start,
        operational_end,
        last_change_date: parse_date(org.last_change_date.as_deref()),
        record_class: clean_code(org.org_record_class),
        ref_only: org.ref_only.unwrap_or(false),
        address_line1: clean(location.addr_ln1),
        address_line2: clean(location.addr_ln2),
        address_line3: clean(location.addr_ln3),
        town: clean(location.town),
        county: clean(location.county),
        county_known: true,
        postcode: clean(location.post_code),
        country: clean(location.country),
        telephone,
        website,
        primary_role,
        roles,
        rels,
        succs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const ORGS_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ord/organisations"
    );

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{ORGS_DIR}/{name}.json")).expect("fixture readable")
    }

    fn fixture_json(name: &str) -> Value {
        serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
    }

    fn parse(name: &str) -> OrdOrganisation {
        parse_organisation(&fixture(name)).expect("fixture parses")
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    #[test]
    fn every_organisation_fixture_parses() {
        let mut count = 0;
        for entry in std::fs::read_dir(ORGS_DIR).expect("fixture dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let body = std::fs::read(&path).expect("read fixture");
            let org = parse_organisation(&body)
                .unwrap_or_else(|e| panic!("{} failed: {e}", path.display()));
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
            assert_eq!(org.code, stem, "code of {}", path.display());
            assert!(!org.name.is_empty());
            assert!(org.primary_role.is_some(), "{stem} has a primary role");
            assert!(org.last_change_date.is_some(), "{stem} has LastChangeDate");
            count += 1;
        }
        assert_eq!(count, 10, "all organisation fixtures visited");
    }

    #[test]
    fn rvvkc_site_operated_by_rvv() {
        let org = parse("RVVKC");
        assert_eq!(org.code, "RVVKC");
        assert_eq!(org.name, "KENT & CANTERBURY HOSPITAL");
        assert!(org.active);
        assert!(!org.ref_only);
        assert_eq!(org.operational_start, Some(d("1999-04-01")));
        assert_eq!(org.operational_end, None);
        assert_eq!(org.closed_on(), None);
        assert_eq!(org.last_change_date, Some(d("2021-07-21")));
        assert_eq!(org.record_class.as_deref(), Some("RC2"));
        assert_eq!(org.address_line1.as_deref(), Some("ETHELBERT ROAD"));
        assert_eq!(org.address_line2, None);
        assert_eq!(org.town.as_deref(), Some("CANTERBURY"));
        assert_eq!(org.county.as_deref(), Some("KENT"));
        assert_eq!(org.postcode.as_deref(), Some("CT1 3NG"));
        assert_eq!(org.country.as_deref(), Some("ENGLAND"));
        assert_eq!(org.telephone, None);
        assert_eq!(org.website, None);
        assert_eq!(org.primary_role.as_deref(), Some(ROLE_TRUST_SITE));
        assert_eq!(org.role_class(), RoleClass::Site);
        assert_eq!(
            org.roles,
            vec![OrdRole {
                id: "RO198".into(),
                primary: true,
                active: true,
                start: Some(d("1999-04-01")),
                end: None,
            }]
        );
        let parent = org.operated_by().expect("RE6 parent");
        assert_eq!(
            parent,
            &OrdRel {
                id: "RE6".into(),
                active: true,
                start: Some(d("1999-04-01")),
                end: None,
                target_code: "RVV".into(),
                target_primary_role: Some("RO197".into()),
            }
        );
        assert_eq!(org.active_icb(), None);
        assert_eq!(
            org.succs,
            vec![OrdSuccession {
                kind: SuccessionKind::Predecessor,
                target_code: "RGWKC".into(),
                target_primary_role: Some("RO198".into()),
                start: Some(d("1999-04-01")),
            }]
        );
        assert_eq!(org.predecessors().count(), 1);
        assert_eq!(org.successors().count(), 0);
    }

    #[test]
    fn rwr_trust_contacts_and_active_icb() {
        let org = parse("RWR");
        assert_eq!(org.role_class(), RoleClass::Trust);
        assert!(org.has_role(ROLE_FOUNDATION_TRUST));
        assert_eq!(org.roles.len(), 2);
        assert!(!org.roles[1].primary);
        assert_eq!(org.telephone.as_deref(), Some("01707 253800"));
        assert_eq!(org.website.as_deref(), Some("HTTPS://WWW.HPFT.NHS.UK/"));
        assert_eq!(org.address_line2.as_deref(), Some("BEACONSFIELD CLOSE"));
        assert_eq!(org.county, None);
        assert_eq!(org.rels.len(), 7);
        let icb = org.active_icb().expect("active ICB");
        assert_eq!(icb.target_code, "QM7");
        assert_eq!(icb.target_primary_role.as_deref(), Some("RO261"));
        assert_eq!(icb.start, Some(d("2020-04-01")));
        // History is kept but inactive, with Operational dates preferred over Legal.
        let q78 = org
            .rels
            .iter()
            .find(|r| r.target_code == "Q78")
            .expect("Q78");
        assert!(!q78.active);
        assert_eq!(
            (q78.start, q78.end),
            (Some(d("2016-01-29")), Some(d("2019-03-31")))
        );
        assert_eq!(org.operated_by(), None);
        assert_eq!(org.active_region(), None);
        assert_eq!(org.predecessors().count(), 2);
    }

    #[test]
    fn welsh_site_operated_by_lhb() {
        let org = parse("7A4BV");
        assert_eq!(org.role_class(), RoleClass::Site);
        assert_eq!(org.country.as_deref(), Some("WALES"));
        let parent = org.operated_by().expect("LHB parent");
        assert_eq!(parent.target_code, "7A4");
        assert_eq!(parent.target_primary_role.as_deref(), Some(ROLE_WELSH_LHB));
        assert_eq!(org.active_icb(), None);

        let lhb = parse("7A4");
        assert_eq!(lhb.role_class(), RoleClass::Lhb);
        assert_eq!(lhb.operated_by(), None);
    }

    #[test]
    fn rjy_closed_reference_only_trust() {
        let org = parse("RJY");
        assert!(!org.active);
        assert!(org.ref_only);
        assert_eq!(org.operational_start, Some(d("1993-04-01")));
        assert_eq!(org.operational_end, Some(d("2001-03-31")));
        assert_eq!(org.closed_on(), Some(d("2001-03-31")));
        assert_eq!(org.record_class.as_deref(), Some("RC1"));
        assert!(org.rels.is_empty());
        assert!(org.succs.is_empty());
        assert!(!org.roles[0].active);
        assert_eq!(org.roles[0].end, Some(d("2001-03-31")));
        assert_eq!(org.operated_by(), None);
    }

    #[test]
    fn commissioning_hub_has_region_but_no_parent() {
        let org = parse("97T");
        assert_eq!(org.primary_role.as_deref(), Some("RO98"));
        assert_eq!(org.role_class(), RoleClass::Other);
        assert_eq!(org.address_line3.as_deref(), Some("QUARRY HILL"));
        assert_eq!(org.operated_by(), None);
        assert_eq!(org.active_icb(), None);
        assert_eq!(
            org.active_region().map(|r| r.target_code.as_str()),
            Some("Y59")
        );
        assert_eq!(org.operational_start, Some(d("2019-10-25")));
        let codes: Vec<&str> = org.predecessors().map(|s| s.target_code.as_str()).collect();
        assert_eq!(codes, ["14W", "14V"]);
    }

    #[test]
    fn hierarchy_of_composed_fixtures() {
        assert_eq!(
            parse("RVV01").operated_by().map(|r| r.target_code.clone()),
            Some("RVV".into())
        );
        assert_eq!(
            parse("RVV").active_icb().map(|r| r.target_code.clone()),
            Some("QKS".into())
        );
        let qks = parse("QKS");
        assert_eq!(qks.role_class(), RoleClass::Icb);
        assert!(qks.has_role(ROLE_INTEGRATED_CARE_BOARD));
        assert_eq!(
            qks.active_region().map(|r| r.target_code.clone()),
            Some("Y59".into())
        );
        assert_eq!(parse("Y59").role_class(), RoleClass::Region);
    }

    #[test]
    fn operated_by_ignores_inactive_and_non_trust_targets() {
        let mut v = fixture_json("RVVKC");
        let rel = v["Organisation"]["Rels"]["Rel"][0].clone();
        let mut gp = rel.clone();
        gp["Target"]["OrgId"]["extension"] = json!("A81001");
        gp["Target"]["PrimaryRoleId"]["id"] = json!("RO177");
        let mut old = rel.clone();
        old["Status"] = json!("Inactive");
        old["Target"]["OrgId"]["extension"] = json!("RGW");
        // The genuine parent is last, so "first Rel" would be wrong twice over.
        v["Organisation"]["Rels"]["Rel"] = json!([gp, old, rel]);
        let org = parse_organisation(v.to_string().as_bytes()).expect("parses");
        assert_eq!(org.rels.len(), 3);
        assert_eq!(
            org.operated_by().map(|r| r.target_code.as_str()),
            Some("RVV")
        );
    }

    #[test]
    fn single_objects_instead_of_arrays() {
        let mut v = fixture_json("RWR");
        let o = &mut v["Organisation"];
        o["Date"] = o["Date"][0].clone();
        o["Contacts"]["Contact"] = o["Contacts"]["Contact"][1].clone();
        o["Roles"]["Role"] = o["Roles"]["Role"][0].clone();
        o["Roles"]["Role"]["Date"] = o["Roles"]["Role"]["Date"][0].clone();
        o["Rels"]["Rel"] = o["Rels"]["Rel"][0].clone();
        o["Rels"]["Rel"]["Date"] = o["Rels"]["Rel"]["Date"][0].clone();
        o["Succs"]["Succ"] = o["Succs"]["Succ"][0].clone();
        assert!(o["Rels"]["Rel"].is_object());
        let org = parse_organisation(v.to_string().as_bytes()).expect("single objects accepted");
        assert_eq!(org.operational_start, Some(d("2001-04-01")));
        assert_eq!(org.website.as_deref(), Some("HTTPS://WWW.HPFT.NHS.UK/"));
        assert_eq!(org.telephone, None);
        assert_eq!(org.primary_role.as_deref(), Some("RO197"));
        assert_eq!(org.roles.len(), 1);
        assert_eq!(org.roles[0].start, Some(d("2001-04-01")));
        assert_eq!(
            org.active_icb().map(|r| r.target_code.as_str()),
            Some("QM7")
        );
        assert_eq!(org.succs.len(), 1);
        assert_eq!(org.succs[0].target_code, "RQJ");
    }

    #[test]
    fn ids_as_strings_and_flags_as_strings_accepted() {
        let mut v = fixture_json("RVVKC");
        let o = &mut v["Organisation"];
        o["Roles"]["Role"][0]["uniqueRoleId"] = json!("13437");
        o["Roles"]["Role"][0]["primaryRole"] = json!("true");
        o["Rels"]["Rel"][0]["uniqueRelId"] = json!("15806");
        o["Rels"]["Rel"][0]["Target"]["PrimaryRoleId"]["uniqueRoleId"] = json!("41756");
        o["Succs"]["Succ"][0]["uniqueSuccId"] = json!(28060.0);
        o["GeoLoc"]["Location"]["UPRN"] = json!("100062280103");
        o["refOnly"] = json!(false);
        o["SomethingNew"] = json!({"nested": [1, 2, 3]});
        let org = parse_organisation(v.to_string().as_bytes()).expect("parses");
        assert_eq!(org.primary_role.as_deref(), Some("RO198"));
        assert_eq!(
            org.operated_by().map(|r| r.target_code.as_str()),
            Some("RVV")
        );
    }

    #[test]
    fn minimal_record_with_only_name_and_org_id() {
        let body = br#"{"Organisation":{"Name":"SOMEWHERE","OrgId":{"extension":"ab1"}}}"#;
        let org = parse_organisation(body).expect("minimal record parses");
        assert_eq!(
            org,
            OrdOrganisation {
                code: "AB1".into(),
                name: "SOMEWHERE".into(),
                active: false,
                operational_start: None,
                operational_end: None,
                last_change_date: None,
                record_class: None,
                ref_only: false,
                address_line1: None,
                address_line2: None,
                address_line3: None,
                town: None,
                county: None,
                county_known: true,
                postcode: None,
                country: None,
                telephone: None,
                website: None,
                primary_role: None,
                roles: vec![],
                rels: vec![],
                succs: vec![],
            }
        );
        assert_eq!(org.role_class(), RoleClass::Other);
        assert_eq!(org.operated_by(), None);
    }

    #[test]
    fn empty_strings_and_nulls_become_none() {
        let body = br#"{"Organisation":{"Name":" X ","OrgId":{"extension":"X1"},
            "Status":"Active","LastChangeDate":"","orgRecordClass":null,
            "Date":null,"Roles":{"Role":null},"Rels":null,
            "GeoLoc":{"Location":{"AddrLn1":"","Town":"  ","PostCode":"AB1 2CD","UPRN":null}},
            "Contacts":{"Contact":[{"type":"tel","value":""},{"type":"TEL","value":"0123"}]}}}"#;
        let org = parse_organisation(body).expect("parses");
        assert_eq!(org.name, "X");
        assert!(org.active);
        assert_eq!(org.last_change_date, None);
        assert_eq!(org.record_class, None);
        assert_eq!(org.address_line1, None);
        assert_eq!(org.town, None);
        assert_eq!(org.postcode.as_deref(), Some("AB1 2CD"));
        assert_eq!(org.telephone.as_deref(), Some("0123"));
        assert!(org.roles.is_empty() && org.rels.is_empty());
    }

    #[test]
    fn invalid_documents_are_rejected() {
        for body in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"{\"Organisation\":null}",
            b"{\"Organisation\":{\"Name\":\"NO CODE\"}}",
            b"{\"Organisation\":{\"OrgId\":{\"extension\":\"X1\"}}}",
            b"{\"Organisation\":{\"Name\":\"BAD\",\"OrgId\":{\"extension\":\"../x\"}}}",
            b"{\"Organisation\":{\"Name\":\"BAD\",\"OrgId\":{\"extension\":\"X1\"},\"Roles\":7}}",
        ] {
            match parse_organisation(body) {
                Err(OrdError::InvalidResponse { url_path, detail }) => {
                    assert_eq!(url_path, "organisations");
                    assert!(!detail.is_empty());
                }
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn sync_fixture_lists_codes() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ord/sync/LastChangeDate.json"
        ))
        .expect("sync fixture");
        let codes = parse_sync(&body).expect("parses");
        assert_eq!(
            codes,
            ["8HD87", "8HA83", "8HD96", "8GY44", "RVV", "RVVKC", "RVV01", "QKS", "7A4", "7A4BV"]
        );
    }

    #[test]
    fn sync_edge_cases() {
        assert_eq!(parse_sync(b"{}").expect("missing"), Vec::<String>::new());
        assert_eq!(
            parse_sync(br#"{"Organisations":[]}"#).expect("empty"),
            Vec::<String>::new()
        );
        assert_eq!(
            parse_sync(br#"{"Organisations":null}"#).expect("null"),
            Vec::<String>::new()
        );
        let body = br#"{"Organisations":[
            {"OrgLink":"https://x/ORD/2-0-0/organisations/rvv"},
            {"OrgLink":"https://x/ORD/2-0-0/organisations/RVV?_format=xml"},
            {"OrgLink":"https://x/ORD/2-0-0/organisations/QKS/"},
            {"OrgLink":""},
            {"Other":"no link"},
            {"OrgLink":"https://x/ORD/2-0-0/organisations/a%20b"}
        ]}"#;
        assert_eq!(parse_sync(body).expect("parses"), ["RVV", "QKS"]);
        let single = br#"{"Organisations":{"OrgLink":"https://x/organisations/Y59"}}"#;
        assert_eq!(parse_sync(single).expect("single"), ["Y59"]);
        assert!(matches!(
            parse_sync(b"<Organisations/>"),
            Err(OrdError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn notifications_fixture_lists_deletions() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ord/notifications/notifications.json"
        ))
        .expect("notifications fixture");
        let deletions = parse_notifications(&body).expect("parses");
        assert_eq!(deletions.len(), 2);
        assert_eq!(
            deletions[0],
            OrdDeletion {
                code: "I8M8X".into(),
                primary_role: Some("RO96".into()),
                deleted_at: d("2023-09-01").and_hms_opt(0, 0, 0),
                reason_code: Some("3".into()),
                reason: Some("HUMAN ERROR".into()),
            }
        );
        assert_eq!(deletions[1].code, "F3W7C");
        assert_eq!(deletions[1].deleted_on(), Some(d("2023-09-01")));
    }

    #[test]
    fn notifications_edge_cases() {
        assert!(parse_notifications(b"{}").expect("missing").is_empty());
        assert!(parse_notifications(br#"{"DeletedOrganisations":null}"#)
            .expect("null")
            .is_empty());
        let body = br#"{"DeletedOrganisations":[
            {"OrgID":"rvv01","time":"2026-11-30T08:15:00"},
            {"OrgID":"../x","time":"2026-11-30 08:15:00"},
            {"PrimaryRoleId":"RO198"},
            {"OrgID":"RVVKC","time":"yesterday","reason":{"code":"2"}}
        ]}"#;
        let deletions = parse_notifications(body).expect("parses");
        let codes: Vec<&str> = deletions.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["RVV01", "RVVKC"]);
        assert_eq!(deletions[0].deleted_on(), Some(d("2026-11-30")));
        assert_eq!(deletions[1].deleted_at, None);
        assert_eq!(deletions[1].reason_code.as_deref(), Some("2"));
        assert_eq!(deletions[1].reason, None);
        let single = br#"{"DeletedOrganisations":{"OrgID":"Y59","time":"2026-01-02"}}"#;
        assert_eq!(
            parse_notifications(single).expect("single")[0].deleted_on(),
            Some(d("2026-01-02"))
        );
        assert!(matches!(
            parse_notifications(b"<DeletedOrganisations/>"),
            Err(OrdError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn role_classification() {
        assert_eq!(classify_role("RO198"), RoleClass::Site);
        assert_eq!(classify_role("ro148"), RoleClass::Site);
        assert_eq!(classify_role("RO197"), RoleClass::Trust);
        assert_eq!(classify_role("RO142"), RoleClass::Lhb);
        assert_eq!(classify_role("RO144"), RoleClass::Other);
        assert_eq!(classify_role("RO261"), RoleClass::Icb);
        assert_eq!(classify_role("RO318"), RoleClass::Icb);
        assert_eq!(classify_role("RO209"), RoleClass::Region);
        assert_eq!(classify_role("RO177"), RoleClass::Other);
    }
}
