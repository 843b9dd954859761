//! Sites and trusts gain the mark of a deletion at ODS: `ods_deleted_on` (the day ODS deleted
//! the record, from its `notifications`) and `ods_deletion_reason` (ODS's reason). The row and
//! its history stay; a republished record clears both. Distinct from `organisations.deleted_at`,
//! which is our own (merger) soft delete.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_ods_deletions"
    }
}

const TABLES: [&str; 2] = ["organisations", "trusts"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            // One column per statement: SQLite's ALTER TABLE adds one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("ods_deleted_on")).date().null())
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(
                            ColumnDef::new(Alias::new("ods_deletion_reason"))
                                .string()
                                .null(),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            for column in ["ods_deletion_reason", "ods_deleted_on"] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .drop_column(Alias::new(column))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
