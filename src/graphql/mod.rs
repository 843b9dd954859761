//! The GraphQL layer: maps records to types and calls services; no rules live here.
pub mod admin;
pub mod errors;
pub mod limits;
pub mod loaders;
pub mod query;
pub mod scalars;
pub mod types;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::config::QueryLimits;

/// Every mutation; each needs an admin key.
#[derive(MergedObject, Default)]
pub struct MutationRoot(admin::AdminMutation);

pub type AppSchema = Schema<query::QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema over a database connection, with the default query limits.
pub fn build_schema(db: DatabaseConnection) -> AppSchema {
    build_schema_with(db, &QueryLimits::default())
}

/// Builds the schema over a database connection, with these query limits.
pub fn build_schema_with(db: DatabaseConnection, limits: &QueryLimits) -> AppSchema {
    Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
        .extension(limits::DocumentLimits(limits.clone()))
        .extension(loaders::PerRequestLoaders { db: db.clone() })
        .extension(errors::ErrorCodes)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_recursion)
        .limit_directives(limits.max_directives)
        .data(db)
        .finish()
}

/// The schema in SDL (what `schema.graphql` holds); needs no database.
pub fn sdl() -> String {
    Schema::build(query::QueryRoot, MutationRoot::default(), EmptySubscription)
        .finish()
        .sdl()
}
