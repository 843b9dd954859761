//! The `nhs-organisations` command: serve, migrate, seed, sync, apply mergers, print the schema.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::anyhow;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nhs_organisations::config::{DatabaseSettings, OrdSettings, ServerSettings, SyncSettings};
use nhs_organisations::mergers::{self, Coordinates, MergerReport, Setting};
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
    /// Print the OpenAPI 3.1 document of the REST routes (JSON).
    Openapi,
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
    /// Apply mergers: add or delete sites by ODS code, edit a site's memberships.
    #[command(subcommand)]
    Merger(MergerCommand),
}

/// The change log names the command line as the actor of CLI mergers.
const CLI_ACTOR: &str = "cli";

#[derive(Subcommand)]
enum MergerCommand {
    /// Add sites by ODS code from ORD (re-adds deleted ones), like `createOrganisations`.
    Create {
        /// ODS codes of the sites.
        #[arg(required = true)]
        codes: Vec<String>,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Add a site whose parent we do not hold without a parent instead of refusing it.
        #[arg(long)]
        allow_unlinked: bool,
        /// Coordinates of a site, as CODE=LATITUDE,LONGITUDE (repeatable).
        #[arg(long = "coordinates", value_name = "CODE=LAT,LON")]
        coordinates: Vec<String>,
    },
    /// Delete sites (soft), like `deleteOrganisations`; asks first on a terminal.
    Delete {
        /// ODS codes of the sites.
        #[arg(required = true)]
        codes: Vec<String>,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Set or clear a site's memberships from today, like `updateOrganisationMemberships`.
    Memberships(MembershipArgs),
}

#[derive(Args)]
struct MembershipArgs {
    /// ODS code of the site.
    code: String,
    /// Set the Paediatric Diabetes Unit (PZ code).
    #[arg(long, value_name = "PZ_CODE", conflicts_with = "clear_pdu")]
    pdu: Option<String>,
    /// Clear the Paediatric Diabetes Unit.
    #[arg(long)]
    clear_pdu: bool,
    /// Set the OPEN UK network (e.g. SETPEG).
    #[arg(long, value_name = "CODE", conflicts_with = "clear_open_uk_network")]
    open_uk_network: Option<String>,
    /// Clear the OPEN UK network.
    #[arg(long)]
    clear_open_uk_network: bool,
    /// Set the London borough (GSS code, E09...).
    #[arg(long, value_name = "GSS_CODE", conflicts_with = "clear_london_borough")]
    london_borough: Option<String>,
    /// Clear the London borough.
    #[arg(long)]
    clear_london_borough: bool,
    /// Set the parent trust or Local Health Board (ODS code).
    #[arg(long, value_name = "ODS_CODE", conflicts_with = "clear_parent")]
    parent: Option<String>,
    /// Clear the parent.
    #[arg(long)]
    clear_parent: bool,
    /// Set the Integrated Care Board (ODS code).
    #[arg(long, value_name = "ODS_CODE", conflicts_with = "clear_icb")]
    icb: Option<String>,
    /// Clear the Integrated Care Board.
    #[arg(long)]
    clear_icb: bool,
    /// Set the NHS England region (Y56..Y63).
    #[arg(long, value_name = "CODE", conflicts_with = "clear_region")]
    region: Option<String>,
    /// Clear the NHS England region.
    #[arg(long)]
    clear_region: bool,
    /// Show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn setting(value: Option<String>, clear: bool) -> Setting {
    match (value, clear) {
        (Some(v), _) => Setting::Set(v),
        (None, true) => Setting::Clear,
        (None, false) => Setting::Keep,
    }
}

/// `CODE=LAT,LON`.
fn parse_coordinates(raw: &str) -> anyhow::Result<Coordinates> {
    let bad = || anyhow::anyhow!("--coordinates {raw:?}: expected CODE=LATITUDE,LONGITUDE");
    let (code, rest) = raw.split_once('=').ok_or_else(bad)?;
    let (lat, lon) = rest.split_once(',').ok_or_else(bad)?;
    Ok(Coordinates {
        ods_code: code.trim().to_string(),
        latitude: lat.trim().parse().map_err(|_| bad())?,
        longitude: lon.trim().parse().map_err(|_| bad())?,
    })
}

/// Prints a report; fails (non-zero exit) when some code was not applied.
fn finish_report(report: &MergerReport) -> anyhow::Result<()> {
    print!("{}", report.render());
    let missed = report.not_applied();
    if missed > 0 {
        anyhow::bail!(
            "{missed} of {} code(s) not applied (CONFLICT, NOT_FOUND or REFUSED above){}",
            report.results.len(),
            if missed < report.results.len() && !report.dry_run {
                "; the others were applied"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Asks on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

async fn run_merger(
    conn: &sea_orm::DatabaseConnection,
    ord: &OrdSettings,
    cmd: MergerCommand,
) -> anyhow::Result<()> {
    match cmd {
        MergerCommand::Create {
            codes,
            dry_run,
            allow_unlinked,
            coordinates,
        } => {
            let client = ord.client().map_err(|e| anyhow!("ORD settings: {e}"))?;
            let request = mergers::CreateRequest {
                ods_codes: codes,
                dry_run,
                allow_unlinked,
                coordinates: coordinates
                    .iter()
                    .map(|c| parse_coordinates(c))
                    .collect::<anyhow::Result<_>>()?,
            };
            let report = mergers::create_organisations(conn, &client, &request, CLI_ACTOR).await?;
            finish_report(&report)
        }
        MergerCommand::Delete {
            codes,
            dry_run,
            yes,
        } => {
            // Never prompt when nobody can answer (scripts, pipes).
            if !dry_run && !yes && std::io::stdin().is_terminal() {
                let preview = mergers::delete_organisations(conn, &codes, true, CLI_ACTOR).await?;
                print!("{}", preview.render());
                let n = preview
                    .results
                    .iter()
                    .filter(|r| r.status == mergers::MergerStatus::Deleted)
                    .count();
                if n == 0 {
                    return finish_report(&preview);
                }
                if !confirm(&format!("Delete {n} site(s)?"))? {
                    anyhow::bail!("cancelled; nothing was deleted");
                }
            }
            let report = mergers::delete_organisations(conn, &codes, dry_run, CLI_ACTOR).await?;
            finish_report(&report)
        }
        MergerCommand::Memberships(a) => {
            let update = mergers::MembershipUpdate {
                ods_code: a.code,
                paediatric_diabetes_unit: setting(a.pdu, a.clear_pdu),
                open_uk_network: setting(a.open_uk_network, a.clear_open_uk_network),
                london_borough: setting(a.london_borough, a.clear_london_borough),
                parent: setting(a.parent, a.clear_parent),
                integrated_care_board: setting(a.icb, a.clear_icb),
                nhs_england_region: setting(a.region, a.clear_region),
                dry_run: a.dry_run,
            };
            let report = mergers::update_memberships(conn, &update, CLI_ACTOR).await?;
            finish_report(&report)
        }
    }
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create a key; it is printed once, alone on the last line.
    Create {
        /// A name for the key's holder (e.g. alice), unique among live keys; used to revoke it.
        name: String,
    },
    /// Revoke a key; takes effect on the next request.
    Revoke {
        /// The name the key was created with.
        name: String,
    },
    /// List keys: names and dates, never keys.
    List,
}

/// The log filter without `RUST_LOG`: info, but the migrator's per-run lines only as warnings
/// (commands say themselves what they migrated).
const DEFAULT_LOG: &str = "info,sea_orm_migration=warn";

#[tokio::main]
async fn main() -> ExitCode {
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(f) => (f, None),
            Err(_) => (EnvFilter::new(DEFAULT_LOG), Some(text)),
        },
        _ => (EnvFilter::new(DEFAULT_LOG), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files and journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(text) = bad_filter {
        let shown: String = text.chars().take(80).collect();
        tracing::warn!("RUST_LOG {shown:?} is not a valid filter (e.g. info, warn,nhs_organisations=debug); logging at info");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, as every failure: clap's own first line, without the usage block.
            let text = e.to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            eprintln!("{} (see --help)", first.trim());
            return ExitCode::from(2);
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, no backtrace: the reason and what to do.
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text is already there (most
/// database errors repeat their source's text).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if out.contains(text.trim()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(text.trim());
    }
    out
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
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(ServerSettings::try_default_from_env().map_err(|e| anyhow!(e))?),
    };
    match command {
        Command::Schema => {
            print!("{}", graphql::sdl());
        }
        Command::Openapi => {
            print!("{}", nhs_organisations::rest::openapi::json());
        }
        Command::Migrate => {
            use migration::MigratorTrait;
            let conn = db::connect(&url).await?;
            let pending = migration::Migrator::get_pending_migrations(&conn)
                .await?
                .len();
            db::migrate(&conn).await?;
            match pending {
                0 => println!("no migrations pending: the database is up to date"),
                1 => println!("1 migration applied"),
                n => println!("{n} migrations applied"),
            }
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
                tracing::debug!("seed rule: {w}");
            }
            if !report.warnings.is_empty() {
                println!(
                    "the known data rules applied ({} notes: rows naming sites not in the data, duplicates; see docs/seeding.md, RUST_LOG=debug lists them)",
                    report.warnings.len()
                );
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
        Command::Merger(cmd) => {
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            run_merger(&conn, &cli.sync, cmd).await?;
        }
        Command::Serve(settings) => {
            settings.validate().map_err(|e| anyhow!(e))?;
            // One ORD client for the process: the mutation and the schedule share its rate limit.
            let ord = ord_client()?;
            if let Some(path) = db::sqlite_path(&url).filter(|p| !p.exists()) {
                tracing::warn!(
                    path = %path.display(),
                    "NO DATABASE FILE: creating a new, empty one and seeding it from the bundled data. \
                     If this service held data before, its file was moved or deleted: stop now and restore it."
                );
            }
            let every = cli.sync.schedule().map_err(|e| anyhow!(e))?;
            let acquire = std::time::Duration::from_secs(settings.db_acquire_timeout_secs.max(1));
            let conn = db::connect_with_acquire_timeout(&url, acquire).await?;
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
            let state = http::AppState::new(conn, Some(ord), &settings.limits);
            // Build the read model before listening, then follow other processes' writes.
            state.store.refresh().await?;
            let poll = std::time::Duration::from_millis(settings.snapshot_poll_ms.max(50));
            state.store.spawn_watch(poll);
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
