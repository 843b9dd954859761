//! Asking the source: the records of the listed codes we track, and of the trusts sites move to,
//! all fetched before the transaction starts (bounded concurrency; the first failure aborts).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use sea_orm::DatabaseConnection;

use crate::errors::AppResult;
use crate::memberships::{self, Edge, Moment};
use crate::ord::OrdOrganisation;
use crate::placement::ParentKind;

use super::{Source, SyncProgress, Tracked, MAX_CONCURRENCY};

/// Fetches every code with bounded concurrency; the first failure aborts the lot.
pub(super) async fn fetch_all(
    source: &dyn Source,
    codes: BTreeSet<String>,
    progress: &dyn SyncProgress,
) -> AppResult<BTreeMap<String, Option<OrdOrganisation>>> {
    let mut out = BTreeMap::new();
    if codes.is_empty() {
        return Ok(out);
    }
    progress.to_fetch(codes.len());
    let width = usize::try_from(source.max_rps())
        .unwrap_or(MAX_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY);
    let mut results = futures::stream::iter(codes.into_iter().map(|code| async move {
        let result = source.organisation(&code).await;
        (code, result)
    }))
    .buffer_unordered(width);
    while let Some((code, result)) = results.next().await {
        // Returning drops the stream, which cancels the requests still in flight.
        let record = result?;
        progress.fetched();
        out.insert(code, record);
    }
    Ok(out)
}

/// Trusts that listed sites move to and that were not listed themselves: their records tell
/// the ICB when their current sites cannot (fetched before the transaction, like the rest).
pub(super) async fn trusts_to_look_up(
    db: &DatabaseConnection,
    tracked: &Tracked,
    records: &BTreeMap<String, Option<OrdOrganisation>>,
) -> AppResult<BTreeSet<String>> {
    let site_ids: Vec<i32> = records
        .keys()
        .filter_map(|code| tracked.sites.get(code).copied())
        .collect();
    let current =
        memberships::parents_of(db, Edge::OrganisationTrust, &site_ids, Moment::Current).await?;
    let trust_codes: HashMap<i32, &str> = tracked
        .trusts
        .iter()
        .map(|(code, id)| (*id, code.as_str()))
        .collect();
    let mut wanted = BTreeSet::new();
    for (code, record) in records {
        let (Some(site), Some(rec)) = (tracked.sites.get(code), record) else {
            continue;
        };
        let Some(rel) = rec.operated_by() else {
            continue;
        };
        let target = rel.target_code.as_str();
        let now = current.get(site).and_then(|t| trust_codes.get(t)).copied();
        let moves_to_trust =
            tracked.parent_kind(target) == Some(ParentKind::Trust) && now != Some(target);
        if moves_to_trust && !records.contains_key(target) {
            wanted.insert(target.to_string());
        }
    }
    Ok(wanted)
}
