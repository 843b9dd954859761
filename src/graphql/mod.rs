//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod errors;
pub mod loaders;
pub mod query;
pub mod scalars;
pub mod types;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use sea_orm::DatabaseConnection;

pub type AppSchema = Schema<query::QueryRoot, EmptyMutation, EmptySubscription>;

/// Builds the schema over a database connection.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    Schema::build(query::QueryRoot, EmptyMutation, EmptySubscription)
        .extension(loaders::PerRequestLoaders { db: db.clone() })
        .extension(errors::ErrorCodes)
        .data(db)
        .finish()
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    Schema::build(query::QueryRoot, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
