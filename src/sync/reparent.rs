//! Moving a site to the trust or health board ORD says operates it, and following the move:
//! its country, ICB and region as `placement` decides them (an `Apply` step).
use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbErr};

use crate::memberships::{self, Edge};
use crate::ord::{OrdOrganisation, REL_OPERATED_BY, ROLE_WELSH_LHB};
use crate::ord_rows;
use crate::placement::{self, ParentKind, SiteFacts};
use crate::placement_facts;

use super::apply::Apply;
use super::SyncMove;

impl<'a, C: ConnectionTrait> Apply<'a, C> {
    /// Moves a site to the trust or health board ORD says operates it (Active RE6): find the
    /// target, stop if already there or untracked, set the parent edge, close the other one,
    /// then place the site under it (`place_moved`). A current parent whose relationship
    /// vanished from ORD (`vanished`) is kept unless a corrected one replaces it, which then
    /// dates the move.
    pub(super) async fn reparent(
        &mut self,
        site: i32,
        code: &str,
        rec: &OrdOrganisation,
        on: NaiveDate,
        active: bool,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let current_trust = self.current(Edge::OrganisationTrust, site).await?;
        let current_board = self
            .current(Edge::OrganisationLocalHealthBoard, site)
            .await?;
        let before = self.parent_code(current_trust, current_board).await?;
        let vanished = before.as_deref().filter(|parent| vanished(rec, parent));
        let Some(rel) = rec.operated_by() else {
            if let Some(parent) = vanished {
                // Never orphan a site on a relationship ODS removed without ending it.
                self.warn(format!(
                    "{code}: its relationship to {parent} is gone from ORD without an end date \
                     and no other operator replaces it; left under {parent}"
                ));
            } else if active {
                self.warn(format!(
                    "{code}: ORD lists no active operating trust or health board; parent left as it was"
                ));
            }
            return Ok(());
        };
        let target = rel.target_code.clone();
        let kind = self.tracked.parent_kind(&target);
        let (new_id, current) = match kind {
            Some(ParentKind::Board) => (self.tracked.lhbs.get(&target).copied(), current_board),
            Some(ParentKind::Trust) => (self.tracked.trusts.get(&target).copied(), current_trust),
            None => (None, current_trust),
        };
        if new_id.is_some() && current == new_id {
            return Ok(());
        }
        let (Some(kind), Some(new_id)) = (kind, new_id) else {
            let to_board = rel.target_primary_role.as_deref() == Some(ROLE_WELSH_LHB);
            let kind = if to_board { "health board" } else { "trust" };
            self.warn(format!(
                "{code}: ORD says it is operated by {kind} {target}, which we do not track; left under {}",
                before.as_deref().unwrap_or("no parent")
            ));
            return Ok(());
        };

        // A corrected relationship replaces the vanished one from its own start: the old one
        // was wrong from then on, whenever ORD got round to saying so.
        let on = match vanished {
            Some(_) => rel.start.filter(|d| *d <= self.today).unwrap_or(on),
            None => on,
        };
        let child = (site, code);
        let moved_on = self
            .set(kind.edge(), child, Some((new_id, &target)), on)
            .await?
            .unwrap_or(on);
        let other = match kind {
            ParentKind::Trust => Edge::OrganisationLocalHealthBoard,
            ParentKind::Board => Edge::OrganisationTrust,
        };
        self.set(other, child, None, on).await?;
        self.place_moved(child, (kind, new_id, &target), rec, on, lookups)
            .await?;
        self.moves.push(SyncMove {
            ods_code: code.to_string(),
            before,
            after: target,
            effective_on: moved_on,
        });
        Ok(())
    }

    /// The code of a site's current parent: its trust, else its health board.
    async fn parent_code(
        &self,
        current_trust: Option<i32>,
        current_board: Option<i32>,
    ) -> Result<Option<String>, DbErr> {
        Ok(match (current_trust, current_board) {
            (Some(t), _) => memberships::codes_of(self.db, memberships::TRUSTS, &[t])
                .await?
                .remove(&t),
            (None, Some(b)) => {
                memberships::codes_of(self.db, memberships::LOCAL_HEALTH_BOARDS, &[b])
                    .await?
                    .remove(&b)
            }
            (None, None) => None,
        })
    }

    /// The country, ICB and region of a site that moved, as `placement` decides them.
    async fn place_moved(
        &mut self,
        child: (i32, &str),
        (kind, parent_id, parent_code): (ParentKind, i32, &str),
        rec: &OrdOrganisation,
        on: NaiveDate,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let country_id = self.current(Edge::OrganisationCountry, child.0).await?;
        let current_country = self
            .countries
            .iter()
            .find(|(_, id)| Some(**id) == country_id)
            .map(|(c, _)| c.clone());
        let trust = kind == ParentKind::Trust;
        let facts = SiteFacts {
            code: child.1,
            parent: Some(kind),
            parent_in_wales: trust && placement_facts::trust_in_wales(self.db, parent_id).await?,
            address_country: rec.country.as_deref(),
            postcode: rec.postcode.as_deref(),
            current_country: current_country.as_deref(),
        };
        let country = placement::country(&facts);
        if let Some(c) = country {
            self.set_country(child, c, on).await?;
        }
        if placement::has_nhs_england_geography(country, Some(kind)) {
            return self
                .follow_trust(child, (parent_id, parent_code), on, lookups)
                .await;
        }
        // Welsh boards and trusts, and Jersey, are outside NHS England's geography.
        self.set(Edge::OrganisationIntegratedCareBoard, child, None, on)
            .await?;
        self.set(Edge::OrganisationNhsEnglandRegion, child, None, on)
            .await?;
        Ok(())
    }

    /// Gives a site that moved to an English trust the ICB and region `placement` finds for
    /// it; what it cannot tell stays as it was.
    async fn follow_trust(
        &mut self,
        child: (i32, &str),
        (trust_id, trust_code): (i32, &str),
        on: NaiveDate,
        lookups: &BTreeMap<String, Option<OrdOrganisation>>,
    ) -> Result<(), DbErr> {
        let ord_icb = lookups
            .get(trust_code)
            .and_then(Option::as_ref)
            .filter(|t| ord_rows::is_source_of_truth(t))
            .and_then(|t| t.active_icb())
            .map(|rel| rel.target_code.clone());
        let listed = placement::listed_icb(&self.icb_lookup, trust_code).map(str::to_string);
        let site = Some(child.0);
        let facts = placement_facts::trust_facts(
            self.db,
            (trust_id, trust_code),
            site,
            ord_icb.as_deref(),
            listed.as_deref(),
        )
        .await?;
        let geo = placement::trust_geography(&facts, &self.icbs);
        for w in geo.warnings {
            self.warn(format!("{}: {w}", child.1));
        }
        let Some((icb_id, icb)) = geo
            .icb
            .and_then(|c| self.tracked.icbs.get(&c).map(|id| (*id, c)))
        else {
            self.warn(format!(
                "{}: cannot tell the ICB of its new trust {trust_code} (its sites disagree or have \
                 none, and neither ORD nor the bundled lookup names an ICB we track); ICB and \
                 region left as they were",
                child.1
            ));
            return Ok(());
        };
        self.set(
            Edge::OrganisationIntegratedCareBoard,
            child,
            Some((icb_id, &icb)),
            on,
        )
        .await?;
        let region = geo
            .region
            .and_then(|c| self.tracked.regions.get(&c).map(|id| (*id, c)));
        match region {
            Some((id, code)) => {
                self.set(
                    Edge::OrganisationNhsEnglandRegion,
                    child,
                    Some((id, &code)),
                    on,
                )
                .await?;
            }
            None => self.warn(format!(
                "{}: ICB {icb} has no NHS England region; region left as it was",
                child.1
            )),
        }
        Ok(())
    }
}

/// Whether ORD's record has no operated-by (RE6) relationship to `parent` at all, open or
/// ended: ODS deleted it rather than ending it (an incorrect relationship is removed, and a
/// corrected one may be added for the same period). An ended one is an ordinary move or closure.
fn vanished(rec: &OrdOrganisation, parent: &str) -> bool {
    !rec.rels
        .iter()
        .any(|r| r.id == REL_OPERATED_BY && r.target_code == parent)
}
