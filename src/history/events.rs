//! The history file format (`data/history/events.json`, documented in `docs/history.md`): a
//! JSON array of dated events applied in file order. Fields the service does not act on
//! (`source`, `notes`, `confidence`, the `sites` lists kept for readers) are accepted and kept
//! out of the way. Codes are checked as the file is read.
use chrono::NaiveDate;
use serde::Deserialize;

use crate::codes::{OdsCode, PnCode, PzCode, RegionCode};

/// One dated change, as written in a history file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Event {
    /// The day the change takes effect.
    pub date: NaiveDate,
    /// Where each fact comes from (free text, required so that every change is sourced).
    pub source: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// Codes the event names that the reference data does not hold (applied without them).
    #[serde(default)]
    pub codes_not_in_seed: Vec<String>,
    #[serde(flatten)]
    pub change: Change,
}

/// What an event changes, by `kind` (and `subkind` for `other`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    TrustAcquisition(TrustAcquisition),
    TrustRename(TrustRename),
    IcbReorganisation(IcbReorganisation),
    PduMerger(PduMerger),
    PduSplit(PduSplit),
    Other(Other),
}

/// `acquiring` takes over every current site of `acquired`, which close.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TrustAcquisition {
    pub acquiring: OdsCode,
    pub acquired: Vec<OdsCode>,
    /// The acquiring trust's name from the date; `null` keeps it.
    #[serde(default)]
    pub acquiring_name_after: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TrustRename {
    pub trust: OdsCode,
    pub name_after: String,
}

/// New boards, successions between boards, and the sites whose board changes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct IcbReorganisation {
    pub new_icbs: Vec<NewIcb>,
    pub successions: Vec<IcbSuccession>,
    /// Boards the file says close (checked against the boards left without sites).
    #[serde(default)]
    pub closed_icbs: Vec<String>,
    pub site_moves: Vec<IcbSiteMove>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct NewIcb {
    pub ods_code: OdsCode,
    pub name: String,
    pub region_code: RegionCode,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct IcbSuccession {
    pub predecessor: OdsCode,
    pub successor: OdsCode,
    /// `merger`, `split` or `acquisition`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct IcbSiteMove {
    pub ods_code: OdsCode,
    #[serde(default)]
    pub from_icb: Option<String>,
    pub to_icb: OdsCode,
}

/// `predecessors` close; their current sites move to `successor` (new or one of them).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduMerger {
    pub predecessors: Vec<PzCode>,
    pub successor: PzCode,
    #[serde(default)]
    pub successor_name: Option<String>,
    #[serde(default)]
    pub successor_lead_site: Option<OdsCode>,
    #[serde(default)]
    pub successor_network_code: Option<PnCode>,
}

/// `predecessor` closes; each successor gets its listed sites.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduSplit {
    pub predecessor: PzCode,
    pub successors: Vec<PduSplitSuccessor>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduSplitSuccessor {
    pub pz_code: PzCode,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub network_code: Option<PnCode>,
    #[serde(default)]
    pub lead_site: Option<OdsCode>,
    /// Sites the data holds.
    #[serde(default)]
    pub sites: Vec<OdsCode>,
    /// Sites the file knows the data does not hold (applied without them, with a warning).
    #[serde(default)]
    pub sites_not_in_seed: Vec<OdsCode>,
}

/// The events without a kind of their own.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "subkind", rename_all = "snake_case")]
pub enum Other {
    PduLeadSiteChange(PduLeadSiteChange),
    PduCreated(PduCreated),
}

/// A unit's lead site (and name) changes; listed sites join or leave it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduLeadSiteChange {
    pub pz_code: PzCode,
    #[serde(default)]
    pub lead_site_after: Option<OdsCode>,
    #[serde(default)]
    pub name_after: Option<String>,
    #[serde(default)]
    pub site_moves: Vec<PduSiteMove>,
}

/// A unit with no predecessor.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduCreated {
    pub pz_code: PzCode,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub network_code: Option<PnCode>,
    #[serde(default)]
    pub lead_site: Option<OdsCode>,
    #[serde(default)]
    pub sites: Vec<OdsCode>,
    #[serde(default)]
    pub sites_not_in_seed: Vec<OdsCode>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PduSiteMove {
    pub ods_code: OdsCode,
    #[serde(default)]
    pub from_pdu: Option<String>,
    #[serde(default)]
    pub to_pdu: Option<PzCode>,
}

impl Event {
    /// The event's name in the applied-events table and in reports: date, kind and the code
    /// it is about, e.g. `2024-11-01 trust_acquisition RAX`. Unique within a valid file.
    pub fn key(&self) -> String {
        format!("{} {} {}", self.date, self.kind(), self.subject())
    }

    /// `kind`, or `other:subkind`.
    pub fn kind(&self) -> &'static str {
        match &self.change {
            Change::TrustAcquisition(_) => "trust_acquisition",
            Change::TrustRename(_) => "trust_rename",
            Change::IcbReorganisation(_) => "icb_reorganisation",
            Change::PduMerger(_) => "pdu_merger",
            Change::PduSplit(_) => "pdu_split",
            Change::Other(Other::PduLeadSiteChange(_)) => "other:pdu_lead_site_change",
            Change::Other(Other::PduCreated(_)) => "other:pdu_created",
        }
    }

    /// The code the event is about (for a reorganisation, the boards it creates).
    fn subject(&self) -> String {
        match &self.change {
            Change::TrustAcquisition(a) => a.acquiring.to_string(),
            Change::TrustRename(r) => r.trust.to_string(),
            Change::IcbReorganisation(r) => {
                let codes: Vec<&str> = r.new_icbs.iter().map(|b| b.ods_code.as_str()).collect();
                codes.join("+")
            }
            Change::PduMerger(m) => m.successor.to_string(),
            Change::PduSplit(s) => s.predecessor.to_string(),
            Change::Other(Other::PduLeadSiteChange(c)) => c.pz_code.to_string(),
            Change::Other(Other::PduCreated(c)) => c.pz_code.to_string(),
        }
    }
}

/// Why a history file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a history file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event {index} ({key}) is dated before event {previous}: events are applied in file order, so dates must not go back")]
    OutOfOrder {
        index: usize,
        key: String,
        previous: usize,
    },
    #[error("events {first} and {second} are both {key}")]
    Duplicate {
        first: usize,
        second: usize,
        key: String,
    },
}

/// Parses and checks a history file: dates never go back, keys are unique. Events are numbered
/// from 1 in messages, as in the file.
pub fn parse(text: &str) -> Result<Vec<Event>, FormatError> {
    let events: Vec<Event> = serde_json::from_str(text)?;
    let mut seen = std::collections::HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if i > 0 && e.date < events[i - 1].date {
            return Err(FormatError::OutOfOrder {
                index: i + 1,
                key: e.key(),
                previous: i,
            });
        }
        if let Some(first) = seen.insert(e.key(), i + 1) {
            return Err(FormatError::Duplicate {
                first,
                second: i + 1,
                key: e.key(),
            });
        }
    }
    Ok(events)
}

/// The bundled history (`data/history/events.json`), compiled into the binary.
pub const BUNDLED: &str = include_str!("../../data/history/events.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_file_parses_with_fourteen_events_in_date_order() {
        let events = parse(BUNDLED).expect("bundled history");
        assert_eq!(events.len(), 14);
        let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "trust_acquisition").count(),
            6
        );
        assert_eq!(events[1].key(), "2024-11-01 trust_acquisition RAX");
        let Change::IcbReorganisation(r) = &events[7].change else {
            panic!("event 8 is the ICB reorganisation");
        };
        assert_eq!(r.new_icbs.len(), 6);
        assert_eq!(r.site_moves.len(), 84);
        assert_eq!(r.successions.len(), 16);
    }

    #[test]
    fn unknown_kinds_out_of_order_dates_and_duplicates_are_refused() {
        let unknown = r#"[{"date":"2025-01-01","kind":"trust_split","source":"x"}]"#;
        assert!(matches!(parse(unknown), Err(FormatError::Json(_))));
        let a = r#"{"date":"2025-02-01","kind":"trust_rename","source":"x","trust":"RAX","name_after":"A"}"#;
        let b = r#"{"date":"2025-01-01","kind":"trust_rename","source":"x","trust":"RAL","name_after":"B"}"#;
        assert!(matches!(
            parse(&format!("[{a},{b}]")),
            Err(FormatError::OutOfOrder { index: 2, .. })
        ));
        assert!(matches!(
            parse(&format!("[{a},{a}]")),
            Err(FormatError::Duplicate {
                first: 1,
                second: 2,
                ..
            })
        ));
        let missing_source =
            r#"[{"date":"2025-01-01","kind":"trust_rename","trust":"RAX","name_after":"A"}]"#;
        assert!(parse(missing_source).is_err());
    }
}
