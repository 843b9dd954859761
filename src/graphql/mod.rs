//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod errors;
pub mod loaders;
pub mod query;
pub mod scalars;
pub mod sync;
pub mod types;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::ord::OrdClient;

/// Changes to the hierarchy. Every mutation needs an admin key.
#[derive(MergedObject, Default)]
pub struct MutationRoot(sync::SyncMutation);

pub type AppSchema = Schema<query::QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over a database connection. The sync then uses a process-wide ORD client
/// configured from the environment.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    build_schema_with_ord(db, None)
}

/// Builds the schema with the ORD client the sync mutation should use (share it with anything
/// else in the process that calls ORD, so that one rate limit covers them all).
pub fn build_schema_with_ord(db: DatabaseConnection, ord: Option<OrdClient>) -> AppSchema {
    let mut builder = Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
        .extension(loaders::PerRequestLoaders { db: db.clone() })
        .extension(errors::ErrorCodes)
        .data(db);
    if let Some(ord) = ord {
        builder = builder.data(ord);
    }
    builder.finish()
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
        .finish()
        .sdl()
}
