//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod admin;
pub mod errors;
pub mod geography;
pub mod limits;
pub mod loaders;
pub mod mergers;
pub mod query;
pub mod reorganisations;
pub mod scalars;
pub mod sync;
pub mod types;

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{EmptySubscription, MergedObject, Request, Response, Schema};
use sea_orm::DatabaseConnection;

use crate::config::QueryLimits;
use crate::errors::RequestId;
use crate::snapshot::SnapshotStore;
use crate::sync::jobs::SyncJobs;
use crate::sync::SharedSource;

/// Changes to the hierarchy. Every mutation needs an admin key. (Named `Mutation` in the
/// schema, as the query root is `Query`.)
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    sync::SyncMutation,
    mergers::MergerMutation,
    reorganisations::ReorganisationMutation,
    admin::AdminMutation,
);

/// Read access to the hierarchy. No credentials needed, except for the sync jobs (`syncJob`,
/// `syncJobs`: an admin key). Every hierarchy root takes `asOf` (a day; default today) and
/// everything below it answers as of that day.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(query::QueryRoot, sync::SyncJobQuery);

type InnerSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema, and what every request gets around its execution: the document checks of
/// `limits`, its snapshot pin and DataLoader (`loaders`), the error codes of `errors`, and after
/// a mutation a snapshot refresh.
///
/// These run here rather than as async-graphql extensions: with any extension installed,
/// async-graphql sends every field and list item through the extension chain (a boxed future
/// per extension, a `ResolveInfo` with a registry lookup, two type names formatted per list
/// item), which cost about a third of a large read.
#[derive(Clone)]
pub struct AppSchema {
    schema: InnerSchema,
    store: Arc<SnapshotStore>,
    limits: Arc<QueryLimits>,
    jobs: SyncJobs,
}

impl AppSchema {
    /// Runs one request: refused by the document limits, or executed against its snapshot;
    /// either way with every error mapped to its code.
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        let mut request = request.into();
        let request_id = request
            .data
            .get(&std::any::TypeId::of::<RequestId>())
            .and_then(|d| d.downcast_ref::<RequestId>())
            .cloned();
        let mut response = match limits::check_document(&mut request, &self.limits) {
            Err(e) => Response::from_errors(vec![e]),
            Ok(doc) => {
                let mutation = doc
                    .operations
                    .iter()
                    .any(|(_, op)| op.node.ty == OperationType::Mutation);
                let request = loaders::per_request(request, &self.store);
                let response = self.schema.execute(request).await;
                if mutation {
                    // The next request must see the write. A failed rebuild is logged and
                    // retried by the watcher; the write itself stands.
                    let _ = self.store.refresh().await;
                }
                response
            }
        };
        errors::finish(&mut response, request_id.as_ref());
        response
    }

    /// The sync job service the schema's `startSync` uses (the schedules share it).
    pub fn jobs(&self) -> &SyncJobs {
        &self.jobs
    }

    /// The schema in SDL.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

/// Builds the schema over a database connection with the default query limits. Mutations that
/// call ORD then use a process-wide client configured from the environment.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    build_schema_full(db, None, &QueryLimits::default())
}

/// Builds the schema with these query limits.
pub fn build_schema_with_limits(db: DatabaseConnection, limits: &QueryLimits) -> AppSchema {
    build_schema_full(db, None, limits)
}

/// Builds the schema: database, optional ODS source, query limits (with a snapshot store of
/// its own).
pub fn build_schema_full(
    db: DatabaseConnection,
    source: Option<SharedSource>,
    limits: &QueryLimits,
) -> AppSchema {
    build_schema_over(SnapshotStore::new(db.clone()), db, source, limits)
}

/// Builds the schema over a snapshot store (reads) and its database (writes).
pub fn build_schema_over(
    store: Arc<SnapshotStore>,
    db: DatabaseConnection,
    source: Option<SharedSource>,
    limits: &QueryLimits,
) -> AppSchema {
    let jobs = SyncJobs::with_store(db.clone(), store.clone());
    let mut builder = schema_builder()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_recursion)
        .limit_directives(limits.max_directives)
        .data(db)
        .data(store.clone())
        .data(jobs.clone());
    if let Some(source) = source {
        builder = builder.data(source);
    }
    AppSchema {
        schema: builder.finish(),
        store,
        limits: Arc::new(limits.clone()),
        jobs,
    }
}

fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
