//! PostgreSQL only: every write notifies `nhs_organisations_changed` (delivered at commit), so
//! other processes on the same database rebuild their read snapshot at once. SQLite has no
//! notifications; readers there poll the change log's version.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_change_notify"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION nhs_organisations_notify() RETURNS trigger AS $$
             BEGIN PERFORM pg_notify('nhs_organisations_changed', ''); RETURN NULL; END;
             $$ LANGUAGE plpgsql",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER change_log_notify AFTER INSERT ON change_log
             FOR EACH STATEMENT EXECUTE FUNCTION nhs_organisations_notify()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS change_log_notify ON change_log")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS nhs_organisations_notify()")
            .await?;
        Ok(())
    }
}
