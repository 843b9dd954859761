//! The `nhs-organisations` command: serve, migrate, seed, sync, apply mergers, print the schema
//! (the commands live in `cli`).
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    nhs_organisations::cli::main().await
}
