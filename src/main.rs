//! The `nhs-organisations` command: serve, migrate, seed, sync, print the schema.
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::anyhow;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nhs_organisations::config::{DatabaseSettings, ServerSettings, SyncSettings};
use nhs_organisations::ord::OrdClient;
use nhs_organisations::sync::{self, SyncOptions, SyncProgress, SyncReport};
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
    #[command(flatten)]
    sync: SyncSettings,
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
    /// Bring the tracked records up to date from the NHS ODS ORD API (all or nothing).
    Sync {
        /// First ORD change date to include, YYYY-MM-DD (at most 185 days ago). Default: the
        /// day after the last sync; the first time, 30 days ago.
        #[arg(long, value_parser = parse_date)]
        since: Option<NaiveDate>,
        /// Report what would change without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
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

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date of the form YYYY-MM-DD"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let url = cli.database.database_url.clone();
    let ord_client = || -> anyhow::Result<OrdClient> {
        let config = cli.sync.ord_config().map_err(|e| anyhow!(e))?;
        Ok(OrdClient::new(config)?)
    };
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
        Command::Sync {
            since,
            dry_run,
            json,
        } => {
            let ord = ord_client()?;
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            // A bar only for a person watching: never in pipes, logs or with --json.
            let bar = (!json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal())
                .then(Bar::new);
            let opts = SyncOptions {
                since,
                dry_run,
                actor: sync::actor::CLI.to_string(),
            };
            let result = match &bar {
                Some(bar) => sync::run(&conn, &ord, opts, bar).await,
                None => sync::run(&conn, &ord, opts, &sync::NoProgress).await,
            };
            if let Some(bar) = &bar {
                bar.0.finish_and_clear();
            }
            let report = result?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
        }
        Command::Serve(settings) => {
            // One ORD client for the process: the mutation and the schedule share its rate limit.
            let ord = ord_client()?;
            let every = cli.sync.schedule().map_err(|e| anyhow!(e))?;
            let conn = db::connect(&url).await?;
            if let Some(report) = db::prepare(&conn).await? {
                tracing::info!(?report.inserted, "seeded an empty database");
            }
            match every {
                Some(every) => {
                    tracing::info!(every_secs = every.as_secs(), "ORD sync schedule on");
                    sync::spawn_schedule(conn.clone(), ord.clone(), every);
                }
                None => tracing::info!("ORD sync schedule off (set SYNC_EVERY to turn it on)"),
            }
            let state = http::AppState {
                schema: graphql::build_schema_with_ord(conn.clone(), Some(ord)),
                db: conn,
            };
            http::serve(state, &settings).await?;
        }
    }
    Ok(())
}

/// The progress bar of `sync` on a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} records, {elapsed} (eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("asking ORD what changed");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(bar)
    }
}

impl SyncProgress for Bar {
    fn to_fetch(&self, n: usize) {
        self.0.set_message("fetching ORD records");
        self.0.inc_length(n as u64);
    }
    fn fetched(&self) {
        self.0.inc(1);
    }
    fn applying(&self) {
        self.0.set_message("applying");
    }
}

/// The human-readable report of `sync`.
fn render(r: &SyncReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let outcome = if r.dry_run {
        "DRY RUN, nothing was changed"
    } else {
        "applied"
    };
    let _ = writeln!(out, "ORD sync of changes since {}: {outcome}.", r.since);
    let _ = writeln!(
        out,
        "listed {}, untracked {}, fetched {}, deleted sites skipped {}, not found {}",
        r.listed,
        r.untracked,
        r.fetched,
        r.skipped_deleted,
        r.not_found.len()
    );
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let _ = writeln!(out, "{}:", plural(r.changes.len(), "change", "changes"));
    for c in &r.changes {
        let _ = writeln!(
            out,
            "  {:<8} {}.{}: {} -> {} (from {})",
            c.ods_code,
            c.entity,
            c.field,
            show(&c.before),
            show(&c.after),
            c.effective_on
        );
    }
    if !r.moves.is_empty() {
        let _ = writeln!(out, "{}:", plural(r.moves.len(), "move", "moves"));
        for m in &r.moves {
            let _ = writeln!(
                out,
                "  {:<8} {} -> {} (from {})",
                m.ods_code,
                show(&m.before),
                m.after,
                m.effective_on
            );
        }
    }
    if !r.closures.is_empty() {
        let _ = writeln!(out, "{}:", plural(r.closures.len(), "closure", "closures"));
        for c in &r.closures {
            let on = c.closed_on.map(|d| format!(" on {d}")).unwrap_or_default();
            let _ = writeln!(out, "  {:<8} {} closed{on}", c.ods_code, c.entity);
        }
    }
    if !r.successions.is_empty() {
        let _ = writeln!(
            out,
            "{}:",
            plural(r.successions.len(), "new succession", "new successions")
        );
        for s in &r.successions {
            let on = s
                .effective_on
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {:<8} {} {}{on}", s.ods_code, s.kind, s.target_code);
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "{}:", plural(r.warnings.len(), "warning", "warnings"));
        for w in &r.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}
