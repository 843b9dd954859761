//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod errors;
pub mod loaders;
pub mod mergers;
pub mod query;
pub mod scalars;
pub mod types;

use async_graphql::{EmptySubscription, Schema};
use sea_orm::DatabaseConnection;

use crate::ord::{OrdClient, OrdConfig};

/// Every mutation root, merged.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(mergers::MergerMutation);

pub type AppSchema = Schema<query::QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over a database connection, with an ORD client for production ORD.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    match OrdClient::new(OrdConfig::default()) {
        Ok(ord) => build_schema_with(db, ord),
        Err(e) => {
            // Mutations that need ORD then fail with INTERNAL; reads are unaffected.
            tracing::error!(error = %e, "cannot build the default ORD client");
            schema_builder()
                .extension(loaders::PerRequestLoaders { db: db.clone() })
                .extension(errors::ErrorCodes)
                .data(db)
                .finish()
        }
    }
}

/// Builds the schema over a database connection and an ORD client (one per process: its
/// rate limit holds across every request).
pub fn build_schema_with(db: DatabaseConnection, ord: OrdClient) -> AppSchema {
    schema_builder()
        .extension(loaders::PerRequestLoaders { db: db.clone() })
        .extension(errors::ErrorCodes)
        .data(db)
        .data(ord)
        .finish()
}

fn schema_builder(
) -> async_graphql::SchemaBuilder<query::QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
