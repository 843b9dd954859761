//! The `nhs-organisations` command: serve, migrate, seed, print the schema.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nhs_organisations::config::{DatabaseSettings, ServerSettings};
use nhs_organisations::{auth, db, graphql, http, seed};
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
    /// Manage admin API keys (needed by every mutation).
    #[command(subcommand, name = "admin-key")]
    AdminKey(AdminKeyCommand),
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create a key; it is printed once, alone on the last line.
    Create { name: String },
    /// Revoke a key; takes effect on the next request.
    Revoke { name: String },
    /// List keys: names and dates, never keys.
    List,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files and journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::AdminKey(cmd) => {
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            match cmd {
                AdminKeyCommand::Create { name } => {
                    let key = auth::create_key(&conn, &name).await?;
                    println!(
                        "Created admin key '{}'. Store it now; it will not be shown again:",
                        name.trim()
                    );
                    println!("{key}");
                }
                AdminKeyCommand::Revoke { name } => {
                    auth::revoke_key(&conn, &name).await?;
                    println!("Revoked admin key '{}'.", name.trim());
                }
                AdminKeyCommand::List => {
                    println!(
                        "{:<24} {:<22} {:<22} status",
                        "name", "created", "last used"
                    );
                    let fmt = |d: Option<chrono::DateTime<chrono::Utc>>| {
                        d.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_else(|| "-".into())
                    };
                    for k in auth::list_keys(&conn).await? {
                        let status = if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        };
                        println!(
                            "{:<24} {:<22} {:<22} {status}",
                            k.name,
                            fmt(Some(k.created_at)),
                            fmt(k.last_used_at)
                        );
                    }
                }
            }
        }
        Command::Serve(settings) => {
            let acquire = std::time::Duration::from_secs(settings.db_acquire_timeout_secs.max(1));
            let conn = db::connect_with_acquire_timeout(&url, acquire).await?;
            if let Some(report) = db::prepare(&conn).await? {
                tracing::info!(?report.inserted, "seeded an empty database");
            }
            let state = http::AppState {
                schema: graphql::build_schema_with(conn.clone(), &settings.limits),
                db: conn,
            };
            http::serve(state, &settings).await?;
        }
    }
    Ok(())
}
