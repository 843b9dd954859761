//! Connecting to SQLite or PostgreSQL, migrating, and first-start seeding.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait,
};

use crate::entities::organisation;
use crate::errors::AppResult;
use crate::seed::{self, SeedReport};

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://nhs-organisations.db";

/// SQLite URLs get `mode=rwc` so that a missing file is created.
fn with_create_mode(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

/// How long a request waits for a pooled connection by default. Short, so that requests fail
/// fast while the database is away instead of piling up.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a connection pool with timeouts that fail fast when the database is away.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with_acquire_timeout(url, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Like `connect`, waiting at most `acquire` for a pooled connection.
pub async fn connect_with_acquire_timeout(
    url: &str,
    acquire: Duration,
) -> Result<DatabaseConnection, DbErr> {
    check_scheme(url)?;
    let url = with_create_mode(url);
    let db = if url.starts_with("sqlite:") {
        connect_sqlite(&url, acquire).await?
    } else {
        let mut opts = ConnectOptions::new(url);
        // A connection attempt never outlasts the acquire timeout: both bound how long a request
        // can wait on an unreachable database.
        opts.max_connections(MAX_CONNECTIONS)
            .min_connections(1)
            .connect_timeout(acquire.min(Duration::from_secs(5)))
            .acquire_timeout(acquire)
            .sqlx_logging(false);
        Database::connect(opts).await?
    };
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // WAL lets readers carry on while a sync or merger writes.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys=ON").await?;
    }
    Ok(db)
}

const MAX_CONNECTIONS: u32 = 16;

/// Refuses an unknown scheme without quoting the URL (it may hold a password).
fn check_scheme(url: &str) -> Result<(), DbErr> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    if matches!(scheme, "sqlite" | "postgres" | "postgresql") {
        return Ok(());
    }
    let shown: String = scheme.chars().take(20).collect();
    Err(DbErr::Custom(format!(
        "DATABASE_URL must start with sqlite:// or postgres://, not {shown:?}://"
    )))
}

/// The SQLite file a URL names, if it names one.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// How long a SQLite write waits for another process's write lock before failing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite through a pool built here rather than by sea-orm, for two things sea-orm cannot set:
/// every connection waits `SQLITE_BUSY_TIMEOUT` for another process's lock, and connections
/// opened while the file was read-only (they stay read-only) are retired when a write meets
/// one (`crate::writes`).
async fn connect_sqlite(url: &str, acquire: Duration) -> Result<DatabaseConnection, DbErr> {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;
    let conn_err = |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e));
    let options = SqliteConnectOptions::from_str(url)
        .map_err(conn_err)?
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(1)
        .acquire_timeout(acquire)
        .before_acquire(|_conn, meta| {
            Box::pin(async move { Ok(!crate::writes::is_retired(meta.age)) })
        })
        .connect_with(options)
        .await
        .map_err(conn_err)?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Connects and applies pending migrations: what every command that uses the database does
/// first.
pub async fn open(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Migrates, and seeds when the database has no organisations yet.
pub async fn prepare(db: &DatabaseConnection) -> AppResult<Option<SeedReport>> {
    migrate(db).await?;
    if organisation::Entity::find().count(db).await? == 0 {
        return Ok(Some(seed::seed(db).await?));
    }
    Ok(None)
}

/// Whether the SQLite file the connection uses has been deleted (SQLite carries on writing to
/// the unlinked file, and the next start would create and seed an empty one).
pub async fn sqlite_file_missing(db: &DatabaseConnection) -> Result<bool, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(false);
    }
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await?;
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let file: String = row.try_get("", "file")?;
        if name == "main" && !file.is_empty() {
            return Ok(!std::path::Path::new(&file).exists());
        }
    }
    Ok(false)
}

/// Checks that the database answers.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
