//! The `nhs-organisations` command: serve, migrate, seed, print the schema.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nhs_organisations::config::{DatabaseSettings, ServerSettings};
use nhs_organisations::{db, graphql, http, seed};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "nhs-organisations",
    version,
    about = "UK secondary-care organisations for children, and their NHS hierarchy, as GraphQL"
)]
struct Cli {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, seed an empty database, and serve HTTP (the default).
    Serve(ServerSettings),
    /// Apply pending migrations.
    Migrate,
    /// Load the bundled reference data (idempotent).
    Seed,
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, no backtrace: the reason and what to do.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let url = cli.database.database_url.clone();
    match cli
        .command
        .unwrap_or(Command::Serve(ServerSettings::default_from_env()))
    {
        Command::Schema => {
            print!("{}", graphql::sdl());
        }
        Command::Migrate => {
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            println!("migrations applied");
        }
        Command::Seed => {
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            let report = seed::seed(&conn).await?;
            for (kind, n) in &report.inserted {
                println!("{kind}: {n} new");
            }
            for (edge, n) in &report.memberships {
                println!("{edge}: {n} new memberships");
            }
            for w in &report.warnings {
                println!("warning: {w}");
            }
            if !report.changed_anything() {
                println!("nothing to do: the database already holds the reference data");
            }
        }
        Command::Serve(settings) => {
            let conn = db::connect(&url).await?;
            if let Some(report) = db::prepare(&conn).await? {
                tracing::info!(?report.inserted, "seeded an empty database");
            }
            let state = http::AppState {
                schema: graphql::build_schema(conn.clone()),
                db: conn,
            };
            http::serve(state, &settings).await?;
        }
    }
    Ok(())
}
