//! The `nhs-organisations` command: serve, migrate, seed, sync, apply mergers, print the schema
//! (the commands live in `cli`).
use std::process::ExitCode;

// A read allocates many small values across worker threads; glibc's malloc took a third of
// the server's CPU under load (`bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    nhs_organisations::cli::main().await
}
