//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod admin;
pub mod errors;
pub mod limits;
pub mod loaders;
pub mod mergers;
pub mod query;
pub mod reorganisations;
pub mod scalars;
pub mod sync;
pub mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::config::QueryLimits;
use crate::ord::OrdClient;
use crate::snapshot::SnapshotStore;

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

pub type AppSchema = Schema<query::QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over a database connection with the default query limits. Mutations that
/// call ORD then use a process-wide client configured from the environment.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    build_schema_full(db, None, &QueryLimits::default())
}

/// Builds the schema over a database connection and an ORD client (one per process: its
/// rate limit holds across every request, the sync schedule included).
pub fn build_schema_with(db: DatabaseConnection, ord: OrdClient) -> AppSchema {
    build_schema_full(db, Some(ord), &QueryLimits::default())
}

/// Builds the schema with the ORD client mutations should use, if given.
pub fn build_schema_with_ord(db: DatabaseConnection, ord: Option<OrdClient>) -> AppSchema {
    build_schema_full(db, ord, &QueryLimits::default())
}

/// Builds the schema with these query limits.
pub fn build_schema_with_limits(db: DatabaseConnection, limits: &QueryLimits) -> AppSchema {
    build_schema_full(db, None, limits)
}

/// Builds the schema: database, optional ORD client, query limits (with a snapshot store of
/// its own).
pub fn build_schema_full(
    db: DatabaseConnection,
    ord: Option<OrdClient>,
    limits: &QueryLimits,
) -> AppSchema {
    build_schema_over(SnapshotStore::new(db.clone()), db, ord, limits)
}

/// Builds the schema over a snapshot store (reads) and its database (writes).
pub fn build_schema_over(
    store: Arc<SnapshotStore>,
    db: DatabaseConnection,
    ord: Option<OrdClient>,
    limits: &QueryLimits,
) -> AppSchema {
    let mut builder = schema_builder()
        .extension(limits::DocumentLimits(limits.clone()))
        .extension(loaders::PerRequestLoaders {
            store: store.clone(),
        })
        .extension(errors::ErrorCodes)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_recursion)
        .limit_directives(limits.max_directives)
        .data(db)
        .data(store);
    if let Some(ord) = ord {
        builder = builder.data(ord);
    }
    builder.finish()
}

fn schema_builder(
) -> async_graphql::SchemaBuilder<query::QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
