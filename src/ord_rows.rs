//! The one mapping of an ORD record onto our rows, used by the sync (every tracked site and
//! trust) and the mergers (a site created or re-added). A field the record lacks keeps our
//! value: most ORD site records carry no contacts, and a record without any address part (no
//! `GeoLoc`) says nothing about the address. When it has one, every address line follows ORD,
//! so a line ORD no longer has is cleared.
use chrono::NaiveDate;

use crate::entities::{organisation, trust};
use crate::ord::OrdOrganisation;

/// Whether ORD has the organisation open on `today`: status Active and no operational end up
/// to today.
pub fn is_active(rec: &OrdOrganisation, today: NaiveDate) -> bool {
    rec.active && rec.closed_on().is_none_or(|d| d > today)
}

/// Whether the record may describe one of ours. An archived "RefOnly" skeleton (ODS keeps one
/// for each record closed before 31 March 2017: no relationships, successions or contacts) is a
/// reference target only: it never updates, closes, reopens or creates a row.
pub fn is_source_of_truth(rec: &OrdOrganisation) -> bool {
    !rec.ref_only
}

/// Whether the record has any address part.
pub fn has_address(rec: &OrdOrganisation) -> bool {
    [
        &rec.address_line1,
        &rec.address_line2,
        &rec.address_line3,
        &rec.town,
        &rec.county,
        &rec.postcode,
    ]
    .iter()
    .any(|p| p.is_some())
}

/// The columns `site` may change, in the order the sync reports them.
pub const SITE_FIELDS: [organisation::Column; 13] = {
    use organisation::Column as C;
    [
        C::Name,
        C::Address1,
        C::Address2,
        C::Address3,
        C::City,
        C::County,
        C::Postcode,
        C::Telephone,
        C::Website,
        C::Active,
        C::PublishedAt,
        C::OdsDeletedOn,
        C::OdsDeletionReason,
    ]
};

/// The columns `trust` may change, in the order the sync reports them.
pub const TRUST_FIELDS: [trust::Column; 12] = {
    use trust::Column as C;
    [
        C::Name,
        C::AddressLine1,
        C::AddressLine2,
        C::Town,
        C::Postcode,
        C::Country,
        C::Telephone,
        C::Website,
        C::Active,
        C::PublishedAt,
        C::OdsDeletedOn,
        C::OdsDeletionReason,
    ]
};

/// ORD serves the record, so it is published: any deletion mark from its `notifications`
/// (a deletion since undone by republishing) goes.
fn clear_deletion(on: &mut Option<NaiveDate>, reason: &mut Option<String>) {
    *on = None;
    *reason = None;
}

/// `ours` unless ORD has a value.
fn or_ours(ord: &Option<String>, ours: &Option<String>) -> Option<String> {
    ord.clone().or_else(|| ours.clone())
}

/// A site row as ORD describes it on `today`, starting from ours (a blank one for a new site).
pub fn site(
    row: &organisation::Model,
    rec: &OrdOrganisation,
    today: NaiveDate,
) -> organisation::Model {
    let mut out = row.clone();
    out.name = rec.name.clone();
    if has_address(rec) {
        out.address1 = rec.address_line1.clone();
        out.address2 = rec.address_line2.clone();
        out.address3 = rec.address_line3.clone();
        out.city = rec.town.clone();
        if rec.county_known {
            out.county = rec.county.clone();
        }
        out.postcode = rec.postcode.clone();
    }
    out.telephone = or_ours(&rec.telephone, &row.telephone);
    out.website = or_ours(&rec.website, &row.website);
    out.active = is_active(rec, today);
    out.published_at = rec.last_change_date.or(row.published_at);
    clear_deletion(&mut out.ods_deleted_on, &mut out.ods_deletion_reason);
    out
}

/// A trust row as ORD describes it on `today`, starting from ours.
pub fn trust(row: &trust::Model, rec: &OrdOrganisation, today: NaiveDate) -> trust::Model {
    let mut out = row.clone();
    out.name = rec.name.clone();
    if has_address(rec) {
        out.address_line1 = rec.address_line1.clone();
        out.address_line2 = rec.address_line2.clone();
        out.town = rec.town.clone();
        out.postcode = rec.postcode.clone();
        out.country = or_ours(&rec.country, &row.country);
    }
    out.telephone = or_ours(&rec.telephone, &row.telephone);
    out.website = or_ours(&rec.website, &row.website);
    out.active = is_active(rec, today);
    out.published_at = rec.last_change_date.or(row.published_at);
    clear_deletion(&mut out.ods_deleted_on, &mut out.ods_deletion_reason);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, d).unwrap_or_default()
    }

    fn record() -> OrdOrganisation {
        OrdOrganisation {
            code: "RVV01".into(),
            name: "WILLIAM HARVEY HOSPITAL".into(),
            active: true,
            operational_start: None,
            operational_end: None,
            last_change_date: Some(day(3)),
            record_class: None,
            ref_only: false,
            address_line1: Some("1 NEW ROAD".into()),
            address_line2: None,
            address_line3: None,
            town: Some("ASHFORD".into()),
            county: None,
            county_known: true,
            postcode: Some("TN24 0LZ".into()),
            country: Some("ENGLAND".into()),
            telephone: None,
            website: None,
            primary_role: None,
            roles: Vec::new(),
            rels: Vec::new(),
            succs: Vec::new(),
        }
    }

    fn ours() -> organisation::Model {
        organisation::Model {
            id: 7,
            ods_code: "RVV01".into(),
            name: "OLD NAME".into(),
            website: Some("https://example.nhs.uk/".into()),
            telephone: Some("01233 633331".into()),
            email: Some("a@example.nhs.uk".into()),
            address1: Some("KENNINGTON ROAD".into()),
            address2: Some("WILLESBOROUGH".into()),
            address3: None,
            city: Some("ASHFORD".into()),
            county: Some("KENT".into()),
            postcode: Some("TN24 0LZ".into()),
            latitude: Some(51.1),
            longitude: Some(0.9),
            active: true,
            published_at: Some(day(1)),
            deleted_at: None,
            ods_deleted_on: None,
            ods_deletion_reason: None,
        }
    }

    #[test]
    fn an_address_follows_ord_line_by_line_and_absent_contacts_keep_ours() {
        let new = site(&ours(), &record(), day(10));
        assert_eq!(new.name, "WILLIAM HARVEY HOSPITAL");
        assert_eq!(new.address1.as_deref(), Some("1 NEW ROAD"));
        assert_eq!(new.address2, None, "a line ORD no longer has is cleared");
        assert_eq!(new.county, None);
        assert_eq!(new.telephone.as_deref(), Some("01233 633331"));
        assert_eq!(new.website.as_deref(), Some("https://example.nhs.uk/"));
        assert_eq!(new.published_at, Some(day(3)));
        // What ORD never has stays ours.
        assert_eq!((new.id, new.email.clone()), (7, ours().email));
        assert_eq!(new.latitude, Some(51.1));
    }

    #[test]
    fn a_record_without_an_address_or_date_keeps_ours() {
        let rec = OrdOrganisation {
            address_line1: None,
            town: None,
            postcode: None,
            last_change_date: None,
            telephone: Some("01233 000000".into()),
            ..record()
        };
        let new = site(&ours(), &rec, day(10));
        assert_eq!(new.address2.as_deref(), Some("WILLESBOROUGH"));
        assert_eq!(new.postcode.as_deref(), Some("TN24 0LZ"));
        assert_eq!(new.published_at, Some(day(1)));
        assert_eq!(new.telephone.as_deref(), Some("01233 000000"));
    }

    #[test]
    fn closed_by_status_or_by_an_operational_end_up_to_today() {
        assert!(is_active(&record(), day(10)));
        let inactive = OrdOrganisation {
            active: false,
            ..record()
        };
        assert!(!is_active(&inactive, day(10)));
        let ends = OrdOrganisation {
            operational_end: Some(day(10)),
            ..record()
        };
        assert!(!is_active(&ends, day(10)));
        assert!(is_active(&ends, day(9)));
        assert!(!site(&ours(), &ends, day(10)).active);
    }

    #[test]
    fn a_trusts_country_follows_ord_only_when_ord_has_one() {
        let row = trust::Model {
            id: 1,
            ods_code: "RVV".into(),
            name: "RVV".into(),
            address_line1: Some("KENT & CANTERBURY HOSPITAL".into()),
            address_line2: Some("ETHELBERT ROAD".into()),
            town: Some("CANTERBURY".into()),
            postcode: Some("CT1 3NG".into()),
            country: Some("ENGLAND".into()),
            telephone: None,
            website: Some("https://www.ekhuft.nhs.uk/".into()),
            active: true,
            published_at: None,
            ods_deleted_on: None,
            ods_deletion_reason: None,
        };
        let rec = OrdOrganisation {
            country: None,
            ..record()
        };
        let new = trust(&row, &rec, day(10));
        assert_eq!(new.country.as_deref(), Some("ENGLAND"));
        assert_eq!(new.address_line2, None);
        assert_eq!(new.town.as_deref(), Some("ASHFORD"));
        assert_eq!(new.website, row.website);
        let welsh = OrdOrganisation {
            country: Some("WALES".into()),
            ..record()
        };
        assert_eq!(
            trust(&row, &welsh, day(10)).country.as_deref(),
            Some("WALES")
        );
    }
}
