//! Reorganisation mutations: dated trust acquisitions and renames, PDU mergers, splits,
//! creations and updates, ICB reorganisations. The rules live in `crate::reorganisations`; this
//! maps arguments and reports.
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use sea_orm::DatabaseConnection;

use super::mergers::{parse_ods_codes, setting};
use super::scalars::Date;
use super::types::MembershipEdge;
use crate::auth;
use crate::change_log::ChangeSource;
use crate::codes::{OdsCode, PnCode, PzCode, RegionCode};
use crate::errors::AppError;
use crate::reorganisations::{self as reorg, Author};

/// How a record changed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordAction {
    /// The record exists from the date (created).
    Opened,
    /// The record no longer exists from the date (its history is kept).
    Closed,
    /// An attribute (`field`) changes from the date.
    Updated,
}

/// Why one record succeeds another.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SuccessionKind {
    /// Several records became one.
    Merger,
    /// One record became several.
    Split,
    /// A record was taken over by another that carries on.
    Acquisition,
}

impl From<reorg::SuccessionKind> for SuccessionKind {
    fn from(k: reorg::SuccessionKind) -> Self {
        match k {
            reorg::SuccessionKind::Merger => Self::Merger,
            reorg::SuccessionKind::Split => Self::Split,
            reorg::SuccessionKind::Acquisition => Self::Acquisition,
        }
    }
}

impl From<SuccessionKind> for reorg::SuccessionKind {
    fn from(k: SuccessionKind) -> Self {
        match k {
            SuccessionKind::Merger => Self::Merger,
            SuccessionKind::Split => Self::Split,
            SuccessionKind::Acquisition => Self::Acquisition,
        }
    }
}

/// One record opened, closed or updated by the call.
#[derive(SimpleObject, Clone, Debug)]
pub struct RecordChange {
    /// The kind of record, e.g. `trust`, `paediatric_diabetes_unit`, `integrated_care_board`.
    pub entity: String,
    /// The record's code (ODS or PZ code).
    pub code: String,
    /// What happened to it.
    pub action: RecordAction,
    /// The attribute, for an update (e.g. `name`, `active`, `lead_ods_code`).
    pub field: Option<String>,
    /// The attribute's value until the day before (updates only).
    pub before: Option<String>,
    /// The attribute's value from the date; for an opening, the record's name.
    pub after: Option<String>,
    /// The day the change takes effect.
    pub effective_on: Date,
}

/// One membership moved by the call.
#[derive(SimpleObject, Clone, Debug)]
pub struct MembershipMove {
    /// The kind of the child record (`organisation` for a site).
    pub entity: String,
    /// Code of the child (a site's ODS code, a unit's PZ code, a board's ODS code).
    pub code: String,
    /// The edge that moved.
    pub edge: MembershipEdge,
    /// The parent's code until the day before; null when there was none.
    pub from: Option<String>,
    /// The parent's code from the date; null when the membership closes.
    pub to: Option<String>,
    /// The day the move takes effect.
    pub effective_on: Date,
}

/// One succession recorded by the call.
#[derive(SimpleObject, Clone, Debug)]
pub struct RecordedSuccession {
    /// The kind of both records, e.g. `trust`.
    pub entity: String,
    /// Code of the record succeeded.
    pub predecessor: String,
    /// Code of the record that succeeds it.
    pub successor: String,
    /// Why.
    pub kind: SuccessionKind,
    /// The day the succession takes effect.
    pub effective_on: Date,
}

/// What a reorganisation did, or for a dry run would do.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReorganisationReport {
    /// True when nothing was changed (the report is what applying would give).
    pub dry_run: bool,
    /// Every record opened, closed or updated.
    pub records: Vec<RecordChange>,
    /// Every membership moved (site, edge, from, to, date).
    pub moves: Vec<MembershipMove>,
    /// Every succession recorded.
    pub successions: Vec<RecordedSuccession>,
    /// Warnings, e.g. a named site we do not hold (skipped).
    pub warnings: Vec<String>,
}

impl From<reorg::ReorganisationReport> for ReorganisationReport {
    fn from(r: reorg::ReorganisationReport) -> Self {
        Self {
            dry_run: r.dry_run,
            records: r.records.into_iter().map(record).collect(),
            moves: r.moves.into_iter().map(moved).collect(),
            successions: r.successions.into_iter().map(succession).collect(),
            warnings: r.warnings,
        }
    }
}

fn record(c: reorg::RecordChange) -> RecordChange {
    RecordChange {
        entity: c.entity.to_string(),
        code: c.code,
        action: match c.action {
            reorg::RecordAction::Opened => RecordAction::Opened,
            reorg::RecordAction::Closed => RecordAction::Closed,
            reorg::RecordAction::Updated => RecordAction::Updated,
        },
        field: c.field,
        before: c.before,
        after: c.after,
        effective_on: Date(c.effective_on),
    }
}

fn moved(m: reorg::MembershipMove) -> MembershipMove {
    MembershipMove {
        entity: m.entity.to_string(),
        code: m.code,
        edge: m.edge.into(),
        from: m.from,
        to: m.to,
        effective_on: Date(m.effective_on),
    }
}

fn succession(s: reorg::SuccessionRecord) -> RecordedSuccession {
    RecordedSuccession {
        entity: s.entity.to_string(),
        predecessor: s.predecessor,
        successor: s.successor,
        kind: s.kind.into(),
        effective_on: Date(s.effective_on),
    }
}

/// One successor of a PDU split.
#[derive(InputObject, Clone, Debug)]
pub struct UnitSuccessorInput {
    /// PZ code of the successor (created when we do not hold it).
    pub pz_code: String,
    /// ODS codes of the predecessor's sites it takes.
    pub ods_codes: Vec<String>,
    /// The successor's own name.
    pub name: Option<String>,
    /// ODS code of its lead site.
    pub lead_ods_code: Option<String>,
    /// PN code of its diabetes network (required for a new unit).
    pub network_pn_code: Option<String>,
}

/// A board created by an ICB reorganisation.
#[derive(InputObject, Clone, Debug)]
pub struct NewBoardInput {
    /// ODS code of the new board.
    pub ods_code: String,
    /// Its name.
    pub name: String,
    /// Code of its NHS England region (Y56..Y63).
    pub region_code: String,
}

/// One succession between boards.
#[derive(InputObject, Clone, Debug)]
pub struct BoardSuccessionInput {
    /// ODS code of the board succeeded.
    pub predecessor: String,
    /// ODS code of the board that succeeds it.
    pub successor: String,
    /// Why.
    pub kind: SuccessionKind,
}

/// One site whose ICB changes.
#[derive(InputObject, Clone, Debug)]
pub struct SiteMoveInput {
    /// ODS code of the site.
    pub ods_code: String,
    /// ODS code of its ICB from the date.
    pub to_ods_code: String,
}

/// Parses an optional code argument.
fn code<T>(
    raw: Option<String>,
    parse: fn(&str) -> Result<T, AppError>,
) -> Result<Option<T>, AppError> {
    raw.as_deref().map(parse).transpose()
}

/// Parses a list of code arguments.
fn codes<T>(raw: &[String], parse: fn(&str) -> Result<T, AppError>) -> Result<Vec<T>, AppError> {
    raw.iter().map(|c| parse(c)).collect()
}

/// The database and the admin making the call, recorded under the `reorganisation` source.
async fn caller<'a>(ctx: &'a Context<'_>) -> Result<(&'a DatabaseConnection, Author)> {
    let admin = auth::require_admin(ctx).await?;
    let db = ctx.data::<DatabaseConnection>()?;
    Ok((db, Author::new(admin.name, ChangeSource::Reorganisation)))
}

/// Dated reorganisations of trusts, PDUs and ICBs. Every one needs an admin key, is
/// all-or-nothing, and writes each change to the change log with its effective date.
#[derive(Default)]
pub struct ReorganisationMutation;

#[Object]
impl ReorganisationMutation {
    /// The acquired trusts' sites (current on `effectiveOn`) move to the acquiring trust from
    /// that day; the acquired trusts close that day and are recorded as its predecessors. Each
    /// site keeps its ICB and region. An acquiring code we do not hold is created when
    /// `newName` is given (two trusts merging into a new one); with no acquired trusts, that
    /// only creates it.
    async fn acquire_trusts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ODS code of the acquiring trust.")] acquiring_ods_code: String,
        #[graphql(desc = "ODS codes of the trusts it acquires.")] acquired_ods_codes: Vec<String>,
        #[graphql(desc = "The first day of the new arrangement (past, today or future).")]
        effective_on: Date,
        #[graphql(desc = "The acquiring trust's name from `effectiveOn`, when it changes.")]
        new_name: Option<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::AcquireTrusts {
            acquiring_ods_code: OdsCode::parse(&acquiring_ods_code)?,
            acquired_ods_codes: parse_ods_codes(&acquired_ods_codes)?,
            effective_on: effective_on.0,
            new_name,
        };
        let r = reorg::acquire_trusts(db, &request, &author, dry_run.unwrap_or(false)).await?;
        Ok(r.into())
    }

    /// Renames a trust from `effectiveOn` (earlier days keep the old name in `name` asOf and
    /// `attributeHistory`).
    async fn rename_trust(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ODS code of the trust.")] ods_code: String,
        #[graphql(desc = "The trust's name from `effectiveOn`.")] name: String,
        #[graphql(desc = "The first day of the new name (past, today or future).")]
        effective_on: Date,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::RenameTrust {
            ods_code: OdsCode::parse(&ods_code)?,
            name,
            effective_on: effective_on.0,
        };
        let r = reorg::rename_trust(db, &request, &author, dry_run.unwrap_or(false)).await?;
        Ok(r.into())
    }

    /// Merges units: every site of the predecessors (current on `effectiveOn`) moves to the
    /// successor from that day; predecessors other than the successor become inactive and
    /// close, recorded as its predecessors. The successor is one of the predecessors, or a new
    /// unit (created in `networkPnCode`).
    #[allow(clippy::too_many_arguments)]
    async fn merge_paediatric_diabetes_units(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "PZ codes of the units that merge.")] predecessor_pz_codes: Vec<String>,
        #[graphql(desc = "PZ code of the unit they become (new, or one of them).")]
        successor_pz_code: String,
        #[graphql(desc = "The first day of the merged unit (past, today or future).")]
        effective_on: Date,
        #[graphql(desc = "The successor's own name.")] name: Option<String>,
        #[graphql(desc = "ODS code of the successor's lead site.")] lead_ods_code: Option<String>,
        #[graphql(desc = "PN code of the successor's diabetes network (required for a new unit).")]
        network_pn_code: Option<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::MergeUnits {
            predecessor_pz_codes: codes(&predecessor_pz_codes, PzCode::parse)?,
            successor_pz_code: PzCode::parse(&successor_pz_code)?,
            effective_on: effective_on.0,
            name,
            lead_ods_code: code(lead_ods_code, OdsCode::parse)?,
            network_pn_code: code(network_pn_code, PnCode::parse)?,
        };
        let r =
            reorg::merge_paediatric_diabetes_units(db, &request, &author, dry_run.unwrap_or(false))
                .await?;
        Ok(r.into())
    }

    /// Splits a unit: each successor (created, or existing) takes its listed sites from
    /// `effectiveOn`; the unit becomes inactive and closes. A site of the unit that no
    /// successor lists is refused unless `unlistedSitesTo` names the successor that takes it.
    async fn split_paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "PZ code of the unit that splits.")] pz_code: String,
        #[graphql(desc = "The units it splits into, with their sites.")] successors: Vec<
            UnitSuccessorInput,
        >,
        #[graphql(desc = "The first day of the successors (past, today or future).")]
        effective_on: Date,
        #[graphql(desc = "PZ code of the successor that takes every site not listed.")]
        unlisted_sites_to: Option<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::SplitUnit {
            pz_code: PzCode::parse(&pz_code)?,
            successors: successors
                .into_iter()
                .map(|s| {
                    Ok(reorg::UnitSuccessor {
                        pz_code: PzCode::parse(&s.pz_code)?,
                        ods_codes: parse_ods_codes(&s.ods_codes)?,
                        name: s.name,
                        lead_ods_code: code(s.lead_ods_code, OdsCode::parse)?,
                        network_pn_code: code(s.network_pn_code, PnCode::parse)?,
                    })
                })
                .collect::<Result<_, AppError>>()?,
            effective_on: effective_on.0,
            unlisted_sites_to: code(unlisted_sites_to, PzCode::parse)?,
        };
        let r =
            reorg::split_paediatric_diabetes_unit(db, &request, &author, dry_run.unwrap_or(false))
                .await?;
        Ok(r.into())
    }

    /// Changes a unit's name, lead site, network or active flag from `effectiveOn` (each
    /// optional: omit to keep; null clears the name, the lead site or the network).
    #[allow(clippy::too_many_arguments)]
    async fn update_paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "PZ code of the unit.")] pz_code: String,
        #[graphql(desc = "The unit's own name; null clears it.")] name: MaybeUndefined<String>,
        #[graphql(desc = "ODS code of the lead site; null clears it.")]
        lead_ods_code: MaybeUndefined<String>,
        #[graphql(desc = "PN code of the diabetes network; null clears it.")]
        network_pn_code: MaybeUndefined<String>,
        #[graphql(desc = "Whether the unit is active.")] active: Option<bool>,
        #[graphql(desc = "The first day of the change (past, today or future).")]
        effective_on: Date,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::UpdateUnit {
            pz_code: PzCode::parse(&pz_code)?,
            name: setting(name, |n| Ok(n.to_owned()))?,
            lead_ods_code: setting(lead_ods_code, OdsCode::parse)?,
            network_pn_code: setting(network_pn_code, PnCode::parse)?,
            active,
            effective_on: effective_on.0,
        };
        let r =
            reorg::update_paediatric_diabetes_unit(db, &request, &author, dry_run.unwrap_or(false))
                .await?;
        Ok(r.into())
    }

    /// Creates a unit that opens on `effectiveOn` in its network; the listed sites join it
    /// from that day (leaving their current unit).
    #[allow(clippy::too_many_arguments)]
    async fn create_paediatric_diabetes_unit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "PZ code of the new unit.")] pz_code: String,
        #[graphql(desc = "The unit's own name.")] name: Option<String>,
        #[graphql(desc = "ODS code of its lead site.")] lead_ods_code: Option<String>,
        #[graphql(desc = "PN code of its diabetes network.")] network_pn_code: String,
        #[graphql(desc = "ODS codes of the sites that join it.")] ods_codes: Option<Vec<String>>,
        #[graphql(desc = "The day it opens (past, today or future).")] effective_on: Date,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::CreateUnit {
            pz_code: PzCode::parse(&pz_code)?,
            name,
            lead_ods_code: code(lead_ods_code, OdsCode::parse)?,
            network_pn_code: Some(PnCode::parse(&network_pn_code)?),
            ods_codes: parse_ods_codes(&ods_codes.unwrap_or_default())?,
            effective_on: effective_on.0,
        };
        let r =
            reorg::create_paediatric_diabetes_unit(db, &request, &author, dry_run.unwrap_or(false))
                .await?;
        Ok(r.into())
    }

    /// Reorganises ICBs on one day: new boards open in their region, successions are
    /// recorded, each listed site's ICB changes (and its region, when the new board is in
    /// another), and boards left without sites close (reported).
    async fn reorganise_integrated_care_boards(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day of the new boards (past, today or future).")]
        effective_on: Date,
        #[graphql(desc = "Boards created on that day.")] new_boards: Option<Vec<NewBoardInput>>,
        #[graphql(desc = "Which boards succeed which.")] successions: Option<
            Vec<BoardSuccessionInput>,
        >,
        #[graphql(desc = "Sites whose ICB changes.")] site_moves: Option<Vec<SiteMoveInput>>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Report what would happen without changing anything."
        )]
        dry_run: Option<bool>,
    ) -> Result<ReorganisationReport> {
        let (db, author) = caller(ctx).await?;
        let request = reorg::ReorganiseBoards {
            effective_on: effective_on.0,
            new_boards: new_boards
                .unwrap_or_default()
                .into_iter()
                .map(|b| {
                    Ok(reorg::NewBoard {
                        ods_code: OdsCode::parse(&b.ods_code)?,
                        name: b.name,
                        region_code: RegionCode::parse(&b.region_code)?,
                    })
                })
                .collect::<Result<_, AppError>>()?,
            successions: successions
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    Ok(reorg::BoardSuccession {
                        predecessor: OdsCode::parse(&s.predecessor)?,
                        successor: OdsCode::parse(&s.successor)?,
                        kind: s.kind.into(),
                    })
                })
                .collect::<Result<_, AppError>>()?,
            site_moves: site_moves
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    Ok(reorg::SiteMove {
                        ods_code: OdsCode::parse(&m.ods_code)?,
                        to_ods_code: OdsCode::parse(&m.to_ods_code)?,
                    })
                })
                .collect::<Result<_, AppError>>()?,
        };
        let r = reorg::reorganise_integrated_care_boards(
            db,
            &request,
            &author,
            dry_run.unwrap_or(false),
        )
        .await?;
        Ok(r.into())
    }
}
