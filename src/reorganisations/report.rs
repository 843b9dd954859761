//! The report every reorganisation returns: records opened, closed or changed, memberships
//! moved, successions recorded and warnings. Reports of operations applied together merge.
use chrono::NaiveDate;

use crate::change_log::RecordKind;
use crate::memberships::Edge;

/// How one record changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordAction {
    /// The record begins to exist (created, or opened) on the date.
    Opened,
    /// The record stops existing on the date (its history is kept).
    Closed,
    /// An attribute (`field`) changes from the date.
    Updated,
}

impl RecordAction {
    /// The action as GraphQL and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordAction::Opened => "OPENED",
            RecordAction::Closed => "CLOSED",
            RecordAction::Updated => "UPDATED",
        }
    }
}

/// One record opened, closed or updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    /// The kind of record (`trust`, `paediatric_diabetes_unit`, ...).
    pub entity: RecordKind,
    pub code: String,
    pub action: RecordAction,
    /// The attribute, for updates.
    pub field: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub effective_on: NaiveDate,
}

/// One membership moved: the child's parent on `edge` is `to` from `effective_on` (it was
/// `from` until the day before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipMove {
    /// The kind of the child (`organisation` for sites).
    pub entity: RecordKind,
    /// Code of the child (the site's ODS code, a PDU's PZ code, an ICB's ODS code).
    pub code: String,
    pub edge: Edge,
    pub from: Option<String>,
    pub to: Option<String>,
    pub effective_on: NaiveDate,
}

/// Why one record succeeds another.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SuccessionKind {
    Merger,
    Split,
    Acquisition,
}

impl SuccessionKind {
    /// The kind as GraphQL and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SuccessionKind::Merger => "MERGER",
            SuccessionKind::Split => "SPLIT",
            SuccessionKind::Acquisition => "ACQUISITION",
        }
    }
}

/// One succession recorded: `successor` takes over from `predecessor` on `effective_on`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccessionRecord {
    pub entity: RecordKind,
    pub predecessor: String,
    pub successor: String,
    pub kind: SuccessionKind,
    pub effective_on: NaiveDate,
}

/// What one or more operations did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReorganisationReport {
    /// True when nothing was changed (the report is what applying would give).
    pub dry_run: bool,
    pub records: Vec<RecordChange>,
    pub moves: Vec<MembershipMove>,
    pub successions: Vec<SuccessionRecord>,
    pub warnings: Vec<String>,
}

impl ReorganisationReport {
    /// Appends another operation's report (in order).
    pub fn extend(&mut self, other: ReorganisationReport) {
        self.dry_run |= other.dry_run;
        self.records.extend(other.records);
        self.moves.extend(other.moves);
        self.successions.extend(other.successions);
        self.warnings.extend(other.warnings);
    }
}

/// The plain-text report of the command line.
impl std::fmt::Display for ReorganisationReport {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            writeln!(out, "dry run: nothing was changed; applying would give:")?;
        }
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        for r in &self.records {
            write!(out, "{} {} {}", r.action.as_str(), r.entity, r.code)?;
            if let Some(f) = &r.field {
                write!(out, " {f}: {} -> {}", or_none(&r.before), or_none(&r.after))?;
            }
            writeln!(out, " from {}", r.effective_on)?;
        }
        for m in &self.moves {
            writeln!(
                out,
                "MOVED {} {} {}: {} -> {} from {}",
                m.entity,
                m.code,
                m.edge.name(),
                or_none(&m.from),
                or_none(&m.to),
                m.effective_on
            )?;
        }
        for s in &self.successions {
            writeln!(
                out,
                "SUCCESSION {} {} -> {} ({}) from {}",
                s.entity,
                s.predecessor,
                s.successor,
                s.kind.as_str(),
                s.effective_on
            )?;
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        Ok(())
    }
}
