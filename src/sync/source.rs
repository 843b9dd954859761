//! Where the sync reads ODS from: the ORD API or the FHIR R4 API. Both give the same record
//! model, so the sync's rules (`docs/sync.md`) do not depend on the source; each client
//! knows only its own HTTP and format.
use std::sync::Arc;

use chrono::NaiveDate;
use futures::future::BoxFuture;

use crate::errors::AppResult;
use crate::fhir::FhirClient;
use crate::ord::{OrdClient, OrdDeletion, OrdOrganisation};

/// A record as the sync consumes it, whichever source produced it.
pub type SourceRecord = OrdOrganisation;
/// A whole-record deletion notice, whichever source produced it.
pub type SourceDeletion = OrdDeletion;

/// One ODS source. Implementations are cheap handles over a shared client, so the rate
/// ceiling holds across every caller.
pub trait Source: Send + Sync {
    /// `ord` or `fhir`, for logs and errors.
    fn name(&self) -> &'static str;
    /// The most requests per second this source may send: bounds the fetch concurrency.
    fn max_rps(&self) -> u32;
    /// ODS codes changed on or after `since`, upper case, de-duplicated.
    fn changed_since(&self, since: NaiveDate) -> BoxFuture<'_, AppResult<Vec<String>>>;
    /// The record of `code`, `None` when the source has none.
    fn organisation<'a>(&'a self, code: &'a str) -> BoxFuture<'a, AppResult<Option<SourceRecord>>>;
    /// The whole-record deletions the source announces.
    fn deletions(&self) -> BoxFuture<'_, AppResult<Vec<SourceDeletion>>>;
}

impl Source for OrdClient {
    fn name(&self) -> &'static str {
        "ord"
    }

    fn max_rps(&self) -> u32 {
        self.config().max_rps
    }

    fn changed_since(&self, since: NaiveDate) -> BoxFuture<'_, AppResult<Vec<String>>> {
        Box::pin(async move { Ok(OrdClient::changed_since(self, since).await?) })
    }

    fn organisation<'a>(&'a self, code: &'a str) -> BoxFuture<'a, AppResult<Option<SourceRecord>>> {
        Box::pin(async move { Ok(OrdClient::organisation(self, code).await?) })
    }

    fn deletions(&self) -> BoxFuture<'_, AppResult<Vec<SourceDeletion>>> {
        Box::pin(async move { Ok(OrdClient::deletions(self).await?) })
    }
}

/// The process's source, as `ODS_SOURCE` chose it: one shared handle, so the schedules, the
/// sync mutations and `createOrganisations` share one rate ceiling.
#[derive(Clone)]
pub struct SharedSource(Arc<dyn Source>);

impl SharedSource {
    /// Shares `source`.
    pub fn new(source: Arc<dyn Source>) -> Self {
        Self(source)
    }
}

impl std::ops::Deref for SharedSource {
    type Target = dyn Source;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedSource({})", self.0.name())
    }
}

impl From<OrdClient> for SharedSource {
    fn from(client: OrdClient) -> Self {
        Self(Arc::new(client))
    }
}

impl From<FhirClient> for SharedSource {
    fn from(client: FhirClient) -> Self {
        Self(Arc::new(client))
    }
}
