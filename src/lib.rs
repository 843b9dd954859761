//! nhs-organisations: the UK secondary-care organisations where children are cared for, and
//! their place in the NHS hierarchy, served as GraphQL.
pub mod auth;
pub mod boundaries;
pub mod change_log;
pub mod cli;
pub mod codes;
pub mod config;
pub mod db;
pub mod directory;
pub mod entities;
pub mod errors;
pub mod graphiql;
pub mod graphql;
pub mod history;
pub mod http;
pub mod memberships;
pub mod mergers;
pub mod ord;
pub mod reference_data;
pub mod reorganisations;
pub mod response_cache;
pub mod rest;
pub mod seed;
pub mod snapshot;
pub mod sync;
pub mod writes;
