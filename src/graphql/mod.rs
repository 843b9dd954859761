//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod errors;
pub mod loaders;
pub mod mergers;
pub mod query;
pub mod scalars;
pub mod sync;
pub mod types;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::ord::OrdClient;

/// Changes to the hierarchy. Every mutation needs an admin key.
#[derive(MergedObject, Default)]
pub struct MutationRoot(sync::SyncMutation, mergers::MergerMutation);

pub type AppSchema = Schema<query::QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over a database connection. Mutations that call ORD then use a
/// process-wide client configured from the environment.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    build_schema_with_ord(db, None)
}

/// Builds the schema over a database connection and an ORD client (one per process: its
/// rate limit holds across every request, the sync schedule included).
pub fn build_schema_with(db: DatabaseConnection, ord: OrdClient) -> AppSchema {
    build_schema_with_ord(db, Some(ord))
}

/// Builds the schema with the ORD client mutations should use, if given.
pub fn build_schema_with_ord(db: DatabaseConnection, ord: Option<OrdClient>) -> AppSchema {
    let mut builder = schema_builder()
        .extension(loaders::PerRequestLoaders { db: db.clone() })
        .extension(errors::ErrorCodes)
        .data(db);
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
