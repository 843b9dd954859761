//! The `nhs-organisations` command: serve, migrate, seed, print the schema, apply mergers.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use nhs_organisations::config::{DatabaseSettings, OrdSettings, ServerSettings};
use nhs_organisations::mergers::{self, Coordinates, MergerReport, Setting};
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
    ord: OrdSettings,
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
            let client = ord.client().context("ORD client")?;
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
        Command::Merger(cmd) => {
            let conn = db::connect(&url).await?;
            db::migrate(&conn).await?;
            run_merger(&conn, &cli.ord, cmd).await?;
        }
        Command::Serve(settings) => {
            let ord = cli.ord.client().context("ORD settings")?;
            let conn = db::connect(&url).await?;
            if let Some(report) = db::prepare(&conn).await? {
                tracing::info!(?report.inserted, "seeded an empty database");
            }
            let state = http::AppState {
                schema: graphql::build_schema_with(conn.clone(), ord),
                db: conn,
            };
            http::serve(state, &settings).await?;
        }
    }
    Ok(())
}
