//! Successions (mergers, re-codings) that ORD lists on the records we track, as the sync
//! found them. One row per (code, kind, target); the sync only adds rows it has not seen.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260103_000002_ord_successions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("ord_successions"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The tracked record whose ORD entry lists the succession.
                    .col(ColumnDef::new(Alias::new("ods_code")).string().not_null())
                    .col(ColumnDef::new(Alias::new("entity")).string().not_null())
                    // `predecessor` (target was replaced by ods_code) or `successor`.
                    .col(ColumnDef::new(Alias::new("kind")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("target_code"))
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("target_primary_role"))
                            .string()
                            .null(),
                    )
                    .col(ColumnDef::new(Alias::new("effective_on")).date().null())
                    .col(
                        ColumnDef::new(Alias::new("recorded_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_ord_successions_link \
                 ON ord_successions (ods_code, kind, target_code)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("ord_successions"))
                    .to_owned(),
            )
            .await
    }
}
