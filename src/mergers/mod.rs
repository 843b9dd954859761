//! Mergers: adding sites by ODS code (from ORD), deleting them (soft), and editing a site's
//! memberships by hand. The rules are explained in `docs/mergers.md`.
//!
//! Every call runs in one write transaction (`crate::writes`: one writer at a time), and
//! re-reads inside it everything it decides on. A dry run runs exactly the same code and rolls the
//! transaction back, so its report is the one applying would give. Everything ORD is asked for
//! is fetched before the transaction starts: a failing ORD fails the whole call and nothing is
//! written, and no write lock is held while waiting on the network.
//!
//! Which file holds what:
//! - `mod.rs`: the public types (statuses, requests, results, the report and its text form);
//! - `create.rs`: `create_organisations` (fetching from ORD, placing, writing the site);
//! - `delete.rs`: `delete_organisations` and `delete_organisations_on`;
//! - `update.rs`: `update_memberships` (setting, clearing and moving memberships by hand);
//! - `common.rs`: what they share (reading a site's memberships, moving its edges, the
//!   warnings about what a change leaves behind, committing or rolling back).

use chrono::NaiveDate;

use crate::codes::{GssCode, NetworkCode, OdsCode, PzCode, RegionCode};
use crate::entities::organisation;
use crate::memberships::Edge;

/// Most codes one call may name: ORD is asked for each (and maybe for its trust) at no more
/// than `ORD_MAX_RPS` requests a second.
pub const MAX_CODES: usize = 100;

/// The edges of a site, in the order reports list them.
pub const ORGANISATION_EDGES: [Edge; 8] = [
    Edge::OrganisationTrust,
    Edge::OrganisationLocalHealthBoard,
    Edge::OrganisationCountry,
    Edge::OrganisationIntegratedCareBoard,
    Edge::OrganisationNhsEnglandRegion,
    Edge::OrganisationPaediatricDiabetesUnit,
    Edge::OrganisationOpenUkNetwork,
    Edge::OrganisationLondonBorough,
];

/// What happened to one code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MergerStatus {
    /// A new site was added.
    Created,
    /// A deleted site was added back, with its last memberships.
    Restored,
    /// The site was deleted (soft).
    Deleted,
    /// The site's memberships were changed.
    Updated,
    /// Nothing needed changing.
    Unchanged,
    /// The site is already there.
    Conflict,
    /// No such site (ORD answers 404, or we hold no current site with that code).
    NotFound,
    /// Not applied: not a site, no known parent, unknown target code, ...
    Refused,
}

impl MergerStatus {
    /// The status as GraphQL and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MergerStatus::Created => "CREATED",
            MergerStatus::Restored => "RESTORED",
            MergerStatus::Deleted => "DELETED",
            MergerStatus::Updated => "UPDATED",
            MergerStatus::Unchanged => "UNCHANGED",
            MergerStatus::Conflict => "CONFLICT",
            MergerStatus::NotFound => "NOT_FOUND",
            MergerStatus::Refused => "REFUSED",
        }
    }

    /// Whether the code was applied (or, in a dry run, would be).
    pub fn applied(self) -> bool {
        matches!(
            self,
            MergerStatus::Created
                | MergerStatus::Restored
                | MergerStatus::Deleted
                | MergerStatus::Updated
                | MergerStatus::Unchanged
        )
    }
}

/// One membership of a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteMembership {
    pub edge: Edge,
    pub parent_id: i32,
    pub code: String,
    pub valid_from: NaiveDate,
}

/// One membership opened, closed or moved by the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    pub edge: Edge,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The outcome for one code.
#[derive(Clone, Debug, PartialEq)]
pub struct MergerResult {
    pub ods_code: String,
    pub status: MergerStatus,
    /// Why, for anything not applied; what was done otherwise.
    pub message: Option<String>,
    /// The site after the call (a deleted site keeps its row, with `deleted_at`).
    pub organisation: Option<organisation::Model>,
    /// The site's current memberships after the call; for a deleted site, the ones it had.
    pub memberships: Vec<SiteMembership>,
    /// Memberships the call opened or closed.
    pub changes: Vec<MembershipChange>,
    pub warnings: Vec<String>,
}

impl MergerResult {
    fn new(code: &str, status: MergerStatus, message: impl Into<String>) -> Self {
        Self {
            ods_code: code.to_string(),
            status,
            message: Some(message.into()),
            organisation: None,
            memberships: Vec::new(),
            changes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The site's parent on `edge` after the call (none for a deleted site).
    pub fn parent_after(&self, edge: Edge) -> Option<i32> {
        if self.status == MergerStatus::Deleted {
            return None;
        }
        self.memberships
            .iter()
            .find(|m| m.edge == edge)
            .map(|m| m.parent_id)
    }
}

/// What a call did, or for a dry run would do.
#[derive(Clone, Debug, PartialEq)]
pub struct MergerReport {
    pub dry_run: bool,
    pub results: Vec<MergerResult>,
    pub warnings: Vec<String>,
}

impl MergerReport {
    /// Results whose code was not applied.
    pub fn not_applied(&self) -> usize {
        self.results.iter().filter(|r| !r.status.applied()).count()
    }
}

/// The plain-text report of the command line.
impl std::fmt::Display for MergerReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            writeln!(out, "dry run: nothing was changed; applying would give:")?;
        }
        for r in &self.results {
            write!(out, "{} {}", r.ods_code, r.status.as_str())?;
            if let Some(m) = &r.message {
                write!(out, ": {m}")?;
            }
            writeln!(out)?;
            if !r.memberships.is_empty() {
                let list: Vec<String> = r
                    .memberships
                    .iter()
                    .map(|m| format!("{} {}", m.edge.name(), m.code))
                    .collect();
                let label = if r.status == MergerStatus::Deleted {
                    "had"
                } else {
                    "memberships"
                };
                writeln!(out, "  {label}: {}", list.join(", "))?;
            }
            for c in &r.changes {
                writeln!(
                    out,
                    "  {}: {} -> {}",
                    c.edge.name(),
                    c.before.as_deref().unwrap_or("none"),
                    c.after.as_deref().unwrap_or("none")
                )?;
            }
            for w in &r.warnings {
                writeln!(out, "  warning: {w}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Latitude and longitude given for a code being created (ORD has none).
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinates {
    pub ods_code: OdsCode,
    pub latitude: f64,
    pub longitude: f64,
}

/// A `createOrganisations` call.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub ods_codes: Vec<OdsCode>,
    pub dry_run: bool,
    pub allow_unlinked: bool,
    pub coordinates: Vec<Coordinates>,
    /// The day the sites exist and their memberships begin (default today).
    pub effective_on: Option<NaiveDate>,
}

/// One edge of an `updateOrganisationMemberships` call (leave, clear, or set to a code).
pub use crate::placement::Setting;

/// An `updateOrganisationMemberships` call.
#[derive(Clone, Debug)]
pub struct MembershipUpdate {
    pub ods_code: OdsCode,
    pub paediatric_diabetes_unit: Setting<PzCode>,
    pub open_uk_network: Setting<NetworkCode>,
    pub london_borough: Setting<GssCode>,
    /// A trust or Local Health Board ODS code.
    pub parent: Setting<OdsCode>,
    pub integrated_care_board: Setting<OdsCode>,
    pub nhs_england_region: Setting<RegionCode>,
    pub dry_run: bool,
    /// The day the changes take effect (default today).
    pub effective_on: Option<NaiveDate>,
}

impl MembershipUpdate {
    /// An update of `ods_code` that keeps every membership, applied today, for real.
    pub fn new(ods_code: OdsCode) -> Self {
        Self {
            ods_code,
            paediatric_diabetes_unit: Setting::Keep,
            open_uk_network: Setting::Keep,
            london_borough: Setting::Keep,
            parent: Setting::Keep,
            integrated_care_board: Setting::Keep,
            nhs_england_region: Setting::Keep,
            dry_run: false,
            effective_on: None,
        }
    }
}

mod common;
mod create;
mod delete;
mod update;

pub use create::create_organisations;
pub use delete::{delete_organisations, delete_organisations_on};
pub use update::update_memberships;
