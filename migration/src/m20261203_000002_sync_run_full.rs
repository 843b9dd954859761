//! Sync runs record whether they were a full reconcile, so the `SYNC_FULL_EVERY` schedule knows
//! when the last one ran (across restarts).
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000002_sync_run_full"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("sync_runs"))
                    .add_column(
                        ColumnDef::new(Alias::new("full_sync"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("sync_runs"))
                    .drop_column(Alias::new("full_sync"))
                    .to_owned(),
            )
            .await
    }
}
