//! ORD sync runs: one row per applied (successful, not dry) sync. The newest row is the
//! watermark: without `since`, the next sync asks ORD for changes from the day after it.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260103_000001_sync_runs"
    }
}

fn int(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("sync_runs"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("started_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("finished_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // The LastChangeDate asked of ORD.
                    .col(ColumnDef::new(Alias::new("since")).date().not_null())
                    // The day the sync ran: the watermark.
                    .col(ColumnDef::new(Alias::new("synced_on")).date().not_null())
                    .col(ColumnDef::new(Alias::new("actor")).string().not_null())
                    .col(int("listed"))
                    .col(int("untracked"))
                    .col(int("fetched"))
                    .col(int("changes"))
                    .col(int("warnings"))
                    // The full report as JSON, for audit.
                    .col(ColumnDef::new(Alias::new("report")).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX ix_sync_runs_synced_on ON sync_runs (synced_on)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("sync_runs")).to_owned())
            .await
    }
}
