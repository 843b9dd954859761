//! Sync jobs: one row per `startSync` or scheduled sync, so its state, progress and report
//! outlive the request that started it and the process that ran it.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_sync_jobs"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("sync_jobs"))
                    .col(
                        col("id")
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // queued, running, succeeded or failed.
                    .col(col("state").string().not_null())
                    .col(col("since").date().null())
                    // Not `full`: a reserved word in PostgreSQL.
                    .col(col("full_sync").boolean().not_null().default(false))
                    .col(col("dry_run").boolean().not_null().default(false))
                    .col(col("actor").string().not_null())
                    // admin or schedule. Not `trigger`: a keyword in SQL.
                    .col(col("triggered_by").string().not_null())
                    .col(col("requested_at").timestamp_with_time_zone().not_null())
                    .col(col("started_at").timestamp_with_time_zone().null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .col(col("progress_done").integer().not_null().default(0))
                    .col(col("progress_total").integer().not_null().default(0))
                    .col(col("error").text().null())
                    // The finished sync's report as JSON (dry runs too).
                    .col(col("report").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX ix_sync_jobs_state ON sync_jobs (state)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("sync_jobs")).to_owned())
            .await
    }
}
