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
    let mut opts = ConnectOptions::new(with_create_mode(url));
    // A connection attempt never outlasts the acquire timeout: both bound how long a request
    // can wait on an unreachable database.
    opts.max_connections(16)
        .min_connections(1)
        .connect_timeout(acquire.min(Duration::from_secs(5)))
        .acquire_timeout(acquire)
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // WAL lets readers carry on while a sync or merger writes.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys=ON").await?;
    }
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

/// Checks that the database answers.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
