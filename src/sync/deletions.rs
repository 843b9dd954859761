//! Whole-record deletions ODS announces in `notifications` (an `Apply` step). A tracked site or
//! trust that ODS deleted after the newest version we hold is kept and marked with the day and
//! the reason (`ods_deleted_on`, `ods_deletion_reason`), reported and change-logged; history is
//! never thrown away. A republished record clears the mark (`ord_rows`).
use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::{organisation, trust};
use crate::memberships::{self, EntityTable};
use crate::ord::OrdDeletion;

use super::apply::{Apply, Diff, ModelOf};
use super::SyncDeletion;

/// The site columns a deletion mark writes.
const SITE_MARK: [organisation::Column; 2] = [
    organisation::Column::OdsDeletedOn,
    organisation::Column::OdsDeletionReason,
];
/// The trust columns a deletion mark writes.
const TRUST_MARK: [trust::Column; 2] = [
    trust::Column::OdsDeletedOn,
    trust::Column::OdsDeletionReason,
];

/// Whether a deletion on `deleted_on` comes after the newest version we hold (ORD's
/// `LastChangeDate` of it, our `published_at`). A record republished after its deletion has a
/// newer `LastChangeDate`, so a deletion on or before that day is undone; a record we never
/// synced has no date, and any deletion is newer.
pub(super) fn deleted_after(published_at: Option<NaiveDate>, deleted_on: NaiveDate) -> bool {
    published_at.is_none_or(|held| deleted_on > held)
}

/// The newest notice of each code (a code can be deleted, republished and deleted again).
fn newest_per_code(notices: &[OrdDeletion]) -> BTreeMap<&str, &OrdDeletion> {
    let mut out: BTreeMap<&str, &OrdDeletion> = BTreeMap::new();
    for n in notices {
        let newer = out
            .get(n.code.as_str())
            .is_none_or(|seen| n.deleted_at > seen.deleted_at);
        if newer {
            out.insert(&n.code, n);
        }
    }
    out
}

/// The reason as stored: ODS's description, else its code.
fn reason_of(notice: &OrdDeletion) -> Option<String> {
    notice
        .reason
        .clone()
        .or_else(|| notice.reason_code.as_ref().map(|c| format!("reason {c}")))
}

impl<'a, C: ConnectionTrait> Apply<'a, C> {
    /// Marks the tracked sites and trusts that `notices` says ODS deleted after the newest
    /// version we hold. `published` holds the codes ORD served a record for in this run: those
    /// exist at ODS now, whatever an older notice says.
    pub(super) async fn deletions(
        &mut self,
        notices: &[OrdDeletion],
        published: &HashSet<String>,
    ) -> Result<(), DbErr> {
        for (code, notice) in newest_per_code(notices) {
            if published.contains(code) {
                continue;
            }
            let site = self.tracked.sites.get(code).copied();
            let is_trust = self.tracked.trusts.contains_key(code);
            if site.is_none() && !is_trust {
                if self.tracked.is_live(code) {
                    self.warn(format!(
                        "{code}: ODS lists it as deleted, but only sites and trusts carry a \
                         deletion mark; left as it is"
                    ));
                }
                continue;
            }
            let Some(day) = notice.deleted_on() else {
                self.warn(format!(
                    "{code}: ODS lists it as deleted without a readable date; left as it is"
                ));
                continue;
            };
            let reason = reason_of(notice);
            if let Some(id) = site {
                self.mark_site(id, code, day, &reason).await?;
            }
            if is_trust {
                self.mark_trust(code, day, &reason).await?;
            }
        }
        Ok(())
    }

    /// Whether our site or trust row of `code` carries a deletion mark (a 404 it explains).
    pub(super) async fn marked_deleted(&self, code: &str) -> Result<bool, DbErr> {
        if let Some(&id) = self.tracked.sites.get(code) {
            let site = organisation::Entity::find_by_id(id).one(self.db).await?;
            if site.is_some_and(|s| s.ods_deleted_on.is_some()) {
                return Ok(true);
            }
        }
        let trust = trust::Entity::find()
            .filter(trust::Column::OdsCode.eq(code))
            .one(self.db)
            .await?;
        Ok(trust.is_some_and(|t| t.ods_deleted_on.is_some()))
    }

    async fn mark_site(
        &mut self,
        id: i32,
        code: &str,
        day: NaiveDate,
        reason: &Option<String>,
    ) -> Result<(), DbErr> {
        let Some(m) = organisation::Entity::find_by_id(id).one(self.db).await? else {
            return Ok(());
        };
        if !deleted_after(m.published_at, day) {
            return Ok(());
        }
        let mut new = m.clone();
        new.ods_deleted_on = Some(day);
        new.ods_deletion_reason = reason.clone();
        let mut am: organisation::ActiveModel = new.clone().into();
        let mut d = Diff::new();
        d.columns((&m, &new), &SITE_MARK, &mut am);
        self.mark(am, memberships::ORGANISATIONS, code, d, (day, reason))
            .await
    }

    async fn mark_trust(
        &mut self,
        code: &str,
        day: NaiveDate,
        reason: &Option<String>,
    ) -> Result<(), DbErr> {
        let Some(m) = trust::Entity::find()
            .filter(trust::Column::OdsCode.eq(code))
            .one(self.db)
            .await?
        else {
            return Ok(());
        };
        if !deleted_after(m.published_at, day) {
            return Ok(());
        }
        let mut new = m.clone();
        new.ods_deleted_on = Some(day);
        new.ods_deletion_reason = reason.clone();
        let mut am: trust::ActiveModel = new.clone().into();
        let mut d = Diff::new();
        d.columns((&m, &new), &TRUST_MARK, &mut am);
        self.mark(am, memberships::TRUSTS, code, d, (day, reason))
            .await
    }

    /// Writes a new or changed mark (reported under `deletions` and as field changes, logged
    /// from the deletion day); an unchanged one writes nothing.
    async fn mark<A>(
        &mut self,
        am: A,
        table: EntityTable,
        code: &str,
        diff: Diff,
        (day, reason): (NaiveDate, &Option<String>),
    ) -> Result<(), DbErr>
    where
        A: sea_orm::ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
        ModelOf<A>: sea_orm::IntoActiveModel<A>,
    {
        if diff.fields.is_empty() {
            return Ok(());
        }
        self.save(am, table, code, diff, day.min(self.today))
            .await?;
        self.deletions.push(SyncDeletion {
            ods_code: code.to_string(),
            entity: table.entity.to_string(),
            deleted_on: day,
            reason: reason.clone(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default()
    }

    fn notice(code: &str, d: u32) -> OrdDeletion {
        OrdDeletion {
            code: code.into(),
            primary_role: None,
            deleted_at: day(d).and_hms_opt(0, 0, 0),
            reason_code: Some("3".into()),
            reason: None,
        }
    }

    #[test]
    fn a_deletion_counts_only_after_the_newest_version_we_hold() {
        assert!(deleted_after(None, day(1)));
        assert!(deleted_after(Some(day(1)), day(2)));
        // Republished the same day or later: the deletion is undone.
        assert!(!deleted_after(Some(day(2)), day(2)));
        assert!(!deleted_after(Some(day(3)), day(2)));
    }

    #[test]
    fn the_newest_notice_of_a_code_wins() {
        let notices = [
            notice("A1", 2),
            notice("B1", 1),
            notice("A1", 5),
            notice("A1", 3),
        ];
        let newest = newest_per_code(&notices);
        assert_eq!(newest.len(), 2);
        assert_eq!(newest["A1"].deleted_on(), Some(day(5)));
        assert_eq!(reason_of(newest["B1"]).as_deref(), Some("reason 3"));
    }
}
