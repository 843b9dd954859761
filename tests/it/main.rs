//! The integration tests, as one binary: the crate is linked once and the seeded template
//! database is built once per run (`common`). Each module is one area; run one with
//! `cargo test --test it <module>::`.
mod common;

mod admin_keys;
mod bad_input;
mod change_log_paging;
mod compression;
mod concurrent_writes;
mod connections;
mod deep_documents;
mod faults;
mod front_door;
mod geography;
mod graphiql_browser;
mod graphql_api;
mod history;
mod http;
mod http_hardening;
mod mergers;
mod n_plus_one;
mod openapi_file;
mod query_limits;
mod read_only;
mod reorganisations;
mod rest_golden;
mod rest_routes;
mod schema_file;
mod seed;
#[cfg(unix)]
mod shutdown;
mod snapshot;
#[cfg(unix)]
mod startup;
mod sync;
mod sync_deletions;
mod sync_fhir;
mod sync_full;
mod sync_jobs;
