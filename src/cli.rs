//! The `nhs-organisations` command line: its arguments, and one function per command that
//! gathers settings, calls the services and prints their reports. Each command takes only the
//! options it uses (the database for those that open it, ORD for those that call it).
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::anyhow;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use crate::codes::{GssCode, NetworkCode, OdsCode, PnCode, PzCode, RegionCode};
use crate::config::{DatabaseSettings, OrdSettings, ServerSettings};
use crate::mergers::{self, Coordinates, MergerReport, Setting};
use crate::reorganisations as reorg;
use crate::sync::{self, SyncOptions, SyncProgress};
use crate::{auth, change_log, db, graphql, history, http, seed};

#[derive(Parser)]
#[command(
    name = "nhs-organisations",
    version,
    about = "UK secondary-care organisations for children, and their NHS hierarchy, as GraphQL",
    after_help = "Without a command, `serve` runs with its settings from the environment."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, seed an empty database, and serve HTTP (the default).
    Serve(ServeArgs),
    /// Apply pending migrations.
    Migrate(DatabaseSettings),
    /// Load the bundled reference data, then the bundled history (idempotent).
    Seed(DatabaseSettings),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the OpenAPI 3.1 document of the REST routes (JSON).
    Openapi,
    /// Bring the tracked records up to date from the NHS ODS ORD API (all or nothing).
    Sync(SyncArgs),
    /// Manage admin API keys (needed by every mutation).
    #[command(subcommand, name = "admin-key")]
    AdminKey(AdminKeyCommand),
    /// Apply mergers: add or delete sites by ODS code, edit a site's memberships.
    #[command(subcommand)]
    Merger(MergerCommand),
    /// Dated reorganisations: trust acquisitions and renames, PDU mergers, splits, creations
    /// and updates, ICB reorganisations (see docs/reorganisations.md).
    #[command(subcommand)]
    Reorganise(ReorganiseCommand),
    /// Apply dated history events (the format of data/history/events.json; docs/history.md).
    #[command(subcommand)]
    History(HistoryCommand),
    /// Check every site's coordinates against its country, region, ICB, health board and
    /// London borough (docs/seeding.md); exits 1 when an issue is not in the reviewed list.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Check as of this day (YYYY-MM-DD; default today).
    #[arg(long)]
    as_of: Option<chrono::NaiveDate>,
    /// Print the issues as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseSettings,
}

#[derive(Subcommand)]
enum HistoryCommand {
    /// Apply a file of events, all or nothing, skipping events applied before.
    Apply {
        /// The JSON file of events.
        file: std::path::PathBuf,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    ord: OrdSettings,
    #[command(flatten)]
    server: ServerSettings,
}

impl ServeArgs {
    /// What `serve` gets when no command is given: the environment, then defaults.
    fn from_env() -> anyhow::Result<Self> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::try_parse_from(["nhs-organisations"])
            .map(|o| o.args)
            // Without clap's own "error: ": main prints one.
            .map_err(|e| {
                let line = first_line(&e.to_string());
                anyhow!(line.strip_prefix("error: ").unwrap_or(&line).to_string())
            })
    }
}

#[derive(Args)]
struct SyncArgs {
    /// First ORD change date to include, YYYY-MM-DD (at most 185 days ago). Default: the
    /// day after the last sync; the first time, 30 days ago.
    #[arg(long, value_parser = parse_date, conflicts_with = "full")]
    since: Option<NaiveDate>,
    /// Fetch every tracked record, whatever its change date: how an install whose last sync
    /// is more than 185 days old catches up (minutes at 5 requests per second).
    #[arg(long)]
    full: bool,
    /// Report what would change without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    ord: OrdSettings,
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create a key; it is printed once, alone on the last line.
    Create {
        /// A name for the key's holder (e.g. alice), unique among live keys; used to revoke it.
        name: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Revoke a key; takes effect on the next request.
    Revoke {
        /// The name the key was created with.
        name: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// List keys: names and dates, never keys.
    List {
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

/// The change log names the command line as the actor of CLI mergers.
const CLI_ACTOR: &str = "cli";

#[derive(Subcommand)]
enum MergerCommand {
    /// Add sites by ODS code from ORD (re-adds deleted ones), like `createOrganisations`.
    Create {
        /// ODS codes of the sites.
        #[arg(required = true)]
        codes: Vec<OdsCode>,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Add a site whose parent we do not hold without a parent instead of refusing it.
        #[arg(long)]
        allow_unlinked: bool,
        /// Coordinates of a site, as CODE=LATITUDE,LONGITUDE (repeatable).
        #[arg(long = "coordinates", value_name = "CODE=LAT,LON", value_parser = parse_coordinates)]
        coordinates: Vec<Coordinates>,
        /// The day the change takes effect (YYYY-MM-DD; default today).
        #[arg(long, value_parser = parse_date)]
        effective_on: Option<NaiveDate>,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        ord: OrdSettings,
    },
    /// Delete sites (soft), like `deleteOrganisations`; asks first on a terminal.
    Delete {
        /// ODS codes of the sites.
        #[arg(required = true)]
        codes: Vec<OdsCode>,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// The day the change takes effect (YYYY-MM-DD; default today).
        #[arg(long, value_parser = parse_date)]
        effective_on: Option<NaiveDate>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Set or clear a site's memberships from a day (default today), like
    /// `updateOrganisationMemberships`.
    Memberships(MembershipArgs),
}

#[derive(Args)]
struct MembershipArgs {
    /// ODS code of the site.
    code: OdsCode,
    /// Set the Paediatric Diabetes Unit (PZ code).
    #[arg(long, value_name = "PZ_CODE", conflicts_with = "clear_pdu")]
    pdu: Option<PzCode>,
    /// Clear the Paediatric Diabetes Unit.
    #[arg(long)]
    clear_pdu: bool,
    /// Set the OPEN UK network (e.g. SETPEG).
    #[arg(long, value_name = "CODE", conflicts_with = "clear_open_uk_network")]
    open_uk_network: Option<NetworkCode>,
    /// Clear the OPEN UK network.
    #[arg(long)]
    clear_open_uk_network: bool,
    /// Set the London borough (GSS code, E09...).
    #[arg(long, value_name = "GSS_CODE", conflicts_with = "clear_london_borough")]
    london_borough: Option<GssCode>,
    /// Clear the London borough.
    #[arg(long)]
    clear_london_borough: bool,
    /// Set the parent trust or Local Health Board (ODS code).
    #[arg(long, value_name = "ODS_CODE", conflicts_with = "clear_parent")]
    parent: Option<OdsCode>,
    /// Clear the parent.
    #[arg(long)]
    clear_parent: bool,
    /// Set the Integrated Care Board (ODS code).
    #[arg(long, value_name = "ODS_CODE", conflicts_with = "clear_icb")]
    icb: Option<OdsCode>,
    /// Clear the Integrated Care Board.
    #[arg(long)]
    clear_icb: bool,
    /// Set the NHS England region (Y56..Y63).
    #[arg(long, value_name = "CODE", conflicts_with = "clear_region")]
    region: Option<RegionCode>,
    /// Clear the NHS England region.
    #[arg(long)]
    clear_region: bool,
    /// The day the change takes effect (YYYY-MM-DD; default today).
    #[arg(long, value_parser = parse_date)]
    effective_on: Option<NaiveDate>,
    /// Show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    database: DatabaseSettings,
}

/// The log filter without `RUST_LOG`: info, but the migrator's per-run lines only as warnings
/// (commands say themselves what they migrated).
const DEFAULT_LOG: &str = "info,sea_orm_migration=warn";

/// Logging to stderr at `RUST_LOG` (a bad filter is said once, then info is used).
pub fn init_logging() {
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
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Some(text) = bad_filter {
        let shown: String = text.chars().take(80).collect();
        tracing::warn!("RUST_LOG {shown:?} is not a valid filter (e.g. info, warn,nhs_organisations=debug); logging at info");
    }
}

/// Parses the command line and runs it; every failure is one line on stderr.
pub async fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, as every failure: clap's own first line, without the usage block.
            eprintln!("{} (see --help)", first_line(&e.to_string()));
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    match command {
        Command::Schema => print!("{}", graphql::sdl()),
        Command::Openapi => print!("{}", crate::rest::openapi::json()),
        Command::Migrate(database) => migrate(database.database_url.expose()).await?,
        Command::Seed(database) => {
            let conn = db::open(database.database_url.expose()).await?;
            let report = seed::seed(&conn).await?;
            for w in &report.warnings {
                tracing::debug!("seed rule: {w}");
            }
            print!("{report}");
        }
        Command::AdminKey(cmd) => admin_key(cmd).await?,
        Command::Sync(args) => run_sync(args).await?,
        Command::Merger(cmd) => merger(cmd).await?,
        Command::History(HistoryCommand::Apply {
            file,
            dry_run,
            database,
        }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?;
            let conn = db::open(database.database_url.expose()).await?;
            let report = history::apply_file(&conn, &text, dry_run, CLI_ACTOR).await?;
            print!("{report}");
        }
        Command::Reorganise(cmd) => reorganise(cmd).await?,
        Command::Check(args) => check(args).await?,
        Command::Serve(args) => serve(args).await?,
    }
    Ok(())
}

/// `migrate`: says whether anything was pending.
async fn migrate(url: &str) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    let conn = db::connect(url).await?;
    let pending = migration::Migrator::get_pending_migrations(&conn)
        .await?
        .len();
    db::migrate(&conn).await?;
    match pending {
        0 => println!("no migrations pending: the database is up to date"),
        1 => println!("1 migration applied"),
        n => println!("{n} migrations applied"),
    }
    Ok(())
}

/// `serve`: checks settings, prepares the database, builds the read model, then listens.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        database,
        ord,
        server,
    } = args;
    server.validate().map_err(|e| anyhow!(e))?;
    // One source client for the process (ORD or FHIR, as ODS_SOURCE says): the mutations
    // and the schedules share its rate limit. A bad setup fails at startup, not at a sync.
    let source = ord.source().map_err(|e| anyhow!(e))?;
    tracing::info!(source = source.name(), "ODS source");
    // Display hides the password.
    tracing::debug!(database = %database.database_url, "opening the database");
    let url = database.database_url.expose();
    if let Some(path) = db::sqlite_path(url).filter(|p| !p.exists()) {
        tracing::warn!(
            path = %path.display(),
            "NO DATABASE FILE: creating a new, empty one and seeding it from the bundled data. \
             If this service held data before, its file was moved or deleted: stop now and restore it."
        );
    }
    let acquire = std::time::Duration::from_secs(server.db_acquire_timeout_secs.max(1));
    let conn = db::connect_with_acquire_timeout(url, acquire).await?;
    if let Some(report) = db::prepare(&conn).await? {
        tracing::info!(?report.inserted, "seeded an empty database");
    }
    // Built before listening, as the tests build it.
    let state = http::AppState::start(conn, Some(source), &server).await?;
    http::serve(state, &server).await?;
    Ok(())
}

/// `check`: every issue, one line each (or JSON); fails when any is new.
async fn check(args: CheckArgs) -> anyhow::Result<()> {
    use crate::geography::check;
    let conn = db::open(args.database.database_url.expose()).await?;
    let store = crate::snapshot::SnapshotStore::new(conn);
    let snapshot = store.pinned().await?;
    let day = crate::directory::day(&snapshot, args.as_of, chrono::Utc::now().date_naive())?;
    let issues = check::check(&snapshot, day)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&check::as_json(&issues))?
        );
    } else {
        for i in &issues {
            println!("{}", check::line(i));
        }
    }
    let new = issues.iter().filter(|i| !i.known).count();
    println!(
        "{} issue(s) on {day}: {} reviewed, {new} new",
        issues.len(),
        issues.len() - new
    );
    if new > 0 {
        return Err(anyhow!(
            "{new} new geography issue(s): review them and add them to data/supplement/known_geography_issues.json, or fix the placement"
        ));
    }
    Ok(())
}

/// `sync`: a progress bar only for a person watching (never in pipes, logs or with --json).
async fn run_sync(args: SyncArgs) -> anyhow::Result<()> {
    let source = args.ord.source().map_err(|e| anyhow!(e))?;
    let conn = db::open(args.database.database_url.expose()).await?;
    let bar = (!args.json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal())
        .then(Bar::new);
    let opts = SyncOptions {
        since: args.since,
        full: args.full,
        dry_run: args.dry_run,
        actor: sync::actor::CLI.to_string(),
    };
    let result = match &bar {
        Some(bar) => sync::run(&conn, &*source, opts, bar).await,
        None => sync::run(&conn, &*source, opts, &sync::NoProgress).await,
    };
    if let Some(bar) = &bar {
        bar.0.finish_and_clear();
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

async fn admin_key(cmd: AdminKeyCommand) -> anyhow::Result<()> {
    match cmd {
        AdminKeyCommand::Create { name, database } => {
            let conn = db::open(database.database_url.expose()).await?;
            let key = auth::create_key(&conn, &name).await?;
            println!(
                "Created admin key '{}'. Store it now; it will not be shown again:",
                name.trim()
            );
            println!("{key}");
        }
        AdminKeyCommand::Revoke { name, database } => {
            let conn = db::open(database.database_url.expose()).await?;
            auth::revoke_key(&conn, &name).await?;
            println!("Revoked admin key '{}'.", name.trim());
        }
        AdminKeyCommand::List { database } => {
            let conn = db::open(database.database_url.expose()).await?;
            print!("{}", auth::KeyTable(auth::list_keys(&conn).await?));
        }
    }
    Ok(())
}

async fn merger(cmd: MergerCommand) -> anyhow::Result<()> {
    match cmd {
        MergerCommand::Create {
            codes,
            dry_run,
            allow_unlinked,
            coordinates,
            effective_on,
            database,
            ord,
        } => {
            let source = ord
                .source()
                .map_err(|e| anyhow!("ODS source settings: {e}"))?;
            let conn = db::open(database.database_url.expose()).await?;
            let request = mergers::CreateRequest {
                ods_codes: codes,
                dry_run,
                allow_unlinked,
                coordinates,
                effective_on,
            };
            let report =
                mergers::create_organisations(&conn, &*source, &request, CLI_ACTOR).await?;
            finish_report(&report)
        }
        MergerCommand::Delete {
            codes,
            dry_run,
            yes,
            effective_on,
            database,
        } => {
            let conn = db::open(database.database_url.expose()).await?;
            // Never prompt when nobody can answer (scripts, pipes).
            if !dry_run && !yes && std::io::stdin().is_terminal() {
                let preview =
                    mergers::delete_organisations_on(&conn, &codes, true, CLI_ACTOR, effective_on)
                        .await?;
                print!("{preview}");
                let n = preview
                    .results
                    .iter()
                    .filter(|r| r.status == mergers::MergerStatus::Deleted)
                    .count();
                if n == 0 {
                    return check_report(&preview);
                }
                if !confirm(&format!("Delete {n} site(s)?"))? {
                    anyhow::bail!("cancelled; nothing was deleted");
                }
            }
            let report =
                mergers::delete_organisations_on(&conn, &codes, dry_run, CLI_ACTOR, effective_on)
                    .await?;
            finish_report(&report)
        }
        MergerCommand::Memberships(a) => {
            let conn = db::open(a.database.database_url.expose()).await?;
            let update = mergers::MembershipUpdate {
                ods_code: a.code,
                paediatric_diabetes_unit: setting(a.pdu, a.clear_pdu),
                open_uk_network: setting(a.open_uk_network, a.clear_open_uk_network),
                london_borough: setting(a.london_borough, a.clear_london_borough),
                parent: setting(a.parent, a.clear_parent),
                integrated_care_board: setting(a.icb, a.clear_icb),
                nhs_england_region: setting(a.region, a.clear_region),
                dry_run: a.dry_run,
                effective_on: a.effective_on,
            };
            let report = mergers::update_memberships(&conn, &update, CLI_ACTOR).await?;
            finish_report(&report)
        }
    }
}

/// Common options of every `reorganise` command.
#[derive(Args)]
struct DatedArgs {
    /// The first day of the change (YYYY-MM-DD; past, today or future).
    #[arg(long, value_parser = parse_date)]
    effective_on: NaiveDate,
    /// Show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    database: DatabaseSettings,
}

#[derive(Subcommand)]
enum ReorganiseCommand {
    /// The acquired trusts' sites move to the acquiring trust, which may be new (give
    /// --new-name), and the acquired trusts close, like `acquireTrusts`.
    AcquireTrusts {
        /// ODS code of the acquiring trust.
        acquiring: OdsCode,
        /// ODS codes of the acquired trusts.
        #[arg(long = "acquired", required = true, value_name = "ODS_CODE")]
        acquired: Vec<OdsCode>,
        /// The acquiring trust's name from the date.
        #[arg(long)]
        new_name: Option<String>,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Rename a trust from a date, like `renameTrust`.
    RenameTrust {
        /// ODS code of the trust.
        code: OdsCode,
        /// The new name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Merge PDUs into one (new or one of them), like `mergePaediatricDiabetesUnits`.
    MergePdus {
        /// PZ codes of the merging units.
        #[arg(long = "predecessor", required = true, value_name = "PZ_CODE")]
        predecessors: Vec<PzCode>,
        /// PZ code of the unit they become.
        #[arg(long)]
        successor: PzCode,
        #[command(flatten)]
        unit: UnitArgs,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Split a PDU, like `splitPaediatricDiabetesUnit`; successors from a JSON file.
    SplitPdu {
        /// PZ code of the unit that splits.
        code: PzCode,
        /// JSON array of {pzCode, odsCodes, name?, leadOdsCode?, networkPnCode?}.
        #[arg(long, value_name = "FILE")]
        successors: std::path::PathBuf,
        /// PZ code of the successor that takes every site not listed.
        #[arg(long, value_name = "PZ_CODE")]
        unlisted_sites_to: Option<PzCode>,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Create a PDU with its sites, like `createPaediatricDiabetesUnit`.
    CreatePdu {
        /// PZ code of the new unit.
        code: PzCode,
        /// ODS codes of the sites that join it.
        #[arg(long = "site", value_name = "ODS_CODE")]
        sites: Vec<OdsCode>,
        #[command(flatten)]
        unit: UnitArgs,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Change a PDU's name, lead site, network or active flag, like
    /// `updatePaediatricDiabetesUnit`.
    UpdatePdu {
        /// PZ code of the unit.
        code: PzCode,
        #[command(flatten)]
        unit: UnitArgs,
        /// Clear the unit's name.
        #[arg(long, conflicts_with = "name")]
        clear_name: bool,
        /// Clear the lead site.
        #[arg(long, conflicts_with = "lead")]
        clear_lead: bool,
        /// Whether the unit is active.
        #[arg(long)]
        active: Option<bool>,
        #[command(flatten)]
        dated: DatedArgs,
    },
    /// Reorganise ICBs, like `reorganiseIntegratedCareBoards`; the plan from a JSON file.
    Icbs {
        /// JSON {newBoards: [{odsCode, name, regionCode}], successions: [{predecessor,
        /// successor, kind: MERGER|SPLIT|ACQUISITION}], siteMoves: [{odsCode, toOdsCode}]}.
        #[arg(long, value_name = "FILE")]
        plan: std::path::PathBuf,
        #[command(flatten)]
        dated: DatedArgs,
    },
}

/// A unit's name, lead site and network.
#[derive(Args)]
struct UnitArgs {
    /// The unit's own name.
    #[arg(long)]
    name: Option<String>,
    /// ODS code of the lead site.
    #[arg(long, value_name = "ODS_CODE")]
    lead: Option<OdsCode>,
    /// PN code of the diabetes network.
    #[arg(long, value_name = "PN_CODE")]
    network: Option<PnCode>,
}

/// The plan file of `reorganise icbs`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BoardsPlan {
    #[serde(default)]
    new_boards: Vec<reorg::NewBoard>,
    #[serde(default)]
    successions: Vec<reorg::BoardSuccession>,
    #[serde(default)]
    site_moves: Vec<reorg::SiteMove>,
}

/// Reads a JSON file, naming it in the error.
fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

async fn reorganise(cmd: ReorganiseCommand) -> anyhow::Result<()> {
    let author = reorg::Author::new(CLI_ACTOR, change_log::ChangeSource::Reorganisation);
    let report = match cmd {
        ReorganiseCommand::AcquireTrusts {
            acquiring,
            acquired,
            new_name,
            dated,
        } => {
            let request = reorg::AcquireTrusts {
                acquiring_ods_code: acquiring,
                acquired_ods_codes: acquired,
                effective_on: dated.effective_on,
                new_name,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::acquire_trusts(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::RenameTrust { code, name, dated } => {
            let request = reorg::RenameTrust {
                ods_code: code,
                name,
                effective_on: dated.effective_on,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::rename_trust(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::MergePdus {
            predecessors,
            successor,
            unit,
            dated,
        } => {
            let request = reorg::MergeUnits {
                predecessor_pz_codes: predecessors,
                successor_pz_code: successor,
                effective_on: dated.effective_on,
                name: unit.name,
                lead_ods_code: unit.lead,
                network_pn_code: unit.network,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::merge_paediatric_diabetes_units(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::SplitPdu {
            code,
            successors,
            unlisted_sites_to,
            dated,
        } => {
            let request = reorg::SplitUnit {
                pz_code: code,
                successors: read_json(&successors)?,
                effective_on: dated.effective_on,
                unlisted_sites_to,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::split_paediatric_diabetes_unit(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::CreatePdu {
            code,
            sites,
            unit,
            dated,
        } => {
            let request = reorg::CreateUnit {
                pz_code: code,
                name: unit.name,
                lead_ods_code: unit.lead,
                network_pn_code: unit.network,
                ods_codes: sites,
                effective_on: dated.effective_on,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::create_paediatric_diabetes_unit(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::UpdatePdu {
            code,
            unit,
            clear_name,
            clear_lead,
            active,
            dated,
        } => {
            let request = reorg::UpdateUnit {
                pz_code: code,
                name: setting(unit.name, clear_name),
                lead_ods_code: setting(unit.lead, clear_lead),
                network_pn_code: setting(unit.network, false),
                active,
                effective_on: dated.effective_on,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::update_paediatric_diabetes_unit(&conn, &request, &author, dated.dry_run).await?
        }
        ReorganiseCommand::Icbs { plan, dated } => {
            let plan: BoardsPlan = read_json(&plan)?;
            let request = reorg::ReorganiseBoards {
                effective_on: dated.effective_on,
                new_boards: plan.new_boards,
                successions: plan.successions,
                site_moves: plan.site_moves,
            };
            let conn = db::open(dated.database.database_url.expose()).await?;
            reorg::reorganise_integrated_care_boards(&conn, &request, &author, dated.dry_run)
                .await?
        }
    };
    print!("{report}");
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

fn setting<T>(value: Option<T>, clear: bool) -> Setting<T> {
    match (value, clear) {
        (Some(v), _) => Setting::Set(v),
        (None, true) => Setting::Clear,
        (None, false) => Setting::Keep,
    }
}

/// `CODE=LAT,LON`.
fn parse_coordinates(raw: &str) -> Result<Coordinates, String> {
    let bad = || format!("{raw:?}: expected CODE=LATITUDE,LONGITUDE");
    let (code, rest) = raw.split_once('=').ok_or_else(bad)?;
    let (lat, lon) = rest.split_once(',').ok_or_else(bad)?;
    Ok(Coordinates {
        ods_code: OdsCode::parse(code).map_err(|e| e.to_string())?,
        latitude: lat.trim().parse().map_err(|_| bad())?,
        longitude: lon.trim().parse().map_err(|_| bad())?,
    })
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date of the form YYYY-MM-DD"))
}

/// Prints a report; fails (non-zero exit) when some code was not applied.
fn finish_report(report: &MergerReport) -> anyhow::Result<()> {
    print!("{report}");
    check_report(report)
}

/// Fails (non-zero exit) when some code of a printed report was not applied.
fn check_report(report: &MergerReport) -> anyhow::Result<()> {
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

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
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
