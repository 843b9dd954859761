//! Paediatric Diabetes Units gain `name` (the unit's own name, when it has one) and `active`
//! (false once the unit has closed), both with dated history in the change log like other
//! attributes.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_unit_name_active"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("paediatric_diabetes_units"))
                    .add_column(ColumnDef::new(Alias::new("name")).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("paediatric_diabetes_units"))
                    .add_column(
                        ColumnDef::new(Alias::new("active"))
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["active", "name"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("paediatric_diabetes_units"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
