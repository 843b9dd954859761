//! The hierarchy: entity tables, dated membership tables (one per edge) and the change log.
//!
//! Every edge between two entities lives only in a membership table with `valid_from`
//! (inclusive) and `valid_to` (exclusive, NULL = current). The database forbids two current rows
//! for one child (partial unique index) and overlapping intervals (an exclusion constraint on
//! PostgreSQL, triggers on SQLite). Foreign keys never cascade.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260101_000001_hierarchy"
    }
}

/// (table, child table, parent table) for every membership edge.
pub const MEMBERSHIP_TABLES: &[(&str, &str, &str)] = &[
    ("organisation_trusts", "organisations", "trusts"),
    (
        "organisation_local_health_boards",
        "organisations",
        "local_health_boards",
    ),
    (
        "organisation_integrated_care_boards",
        "organisations",
        "integrated_care_boards",
    ),
    (
        "organisation_nhs_england_regions",
        "organisations",
        "nhs_england_regions",
    ),
    (
        "organisation_paediatric_diabetes_units",
        "organisations",
        "paediatric_diabetes_units",
    ),
    (
        "organisation_open_uk_networks",
        "organisations",
        "open_uk_networks",
    ),
    (
        "organisation_london_boroughs",
        "organisations",
        "london_boroughs",
    ),
    ("organisation_countries", "organisations", "countries"),
    (
        "paediatric_diabetes_unit_networks",
        "paediatric_diabetes_units",
        "paediatric_diabetes_networks",
    ),
    (
        "integrated_care_board_regions",
        "integrated_care_boards",
        "nhs_england_regions",
    ),
];

fn id() -> ColumnDef {
    ColumnDef::new(Alias::new("id"))
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().null().to_owned()
}

fn code(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .string()
        .not_null()
        .unique_key()
        .to_owned()
}

fn required(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .string()
        .not_null()
        .to_owned()
}

fn table(name: &str, columns: Vec<ColumnDef>) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name)).col(id());
    for mut c in columns {
        t.col(&mut c);
    }
    t.to_owned()
}

fn entity_tables() -> Vec<TableCreateStatement> {
    vec![
        table(
            "countries",
            vec![
                code("code"),
                required("name"),
                text("welsh_name"),
                text("boundary_identifier"),
            ],
        ),
        table(
            "nhs_england_regions",
            vec![
                code("region_code"),
                required("name"),
                text("boundary_identifier"),
            ],
        ),
        table(
            "integrated_care_boards",
            vec![
                code("ods_code"),
                required("name"),
                text("boundary_identifier"),
            ],
        ),
        table(
            "local_health_boards",
            vec![
                code("ods_code"),
                required("name"),
                text("welsh_name"),
                text("boundary_identifier"),
            ],
        ),
        table(
            "trusts",
            vec![
                code("ods_code"),
                required("name"),
                text("address_line1"),
                text("address_line2"),
                text("town"),
                text("postcode"),
                text("country"),
                text("telephone"),
                text("website"),
                ColumnDef::new(Alias::new("active"))
                    .boolean()
                    .not_null()
                    .default(true)
                    .to_owned(),
                ColumnDef::new(Alias::new("published_at"))
                    .date()
                    .null()
                    .to_owned(),
            ],
        ),
        table(
            "organisations",
            vec![
                code("ods_code"),
                required("name"),
                text("website"),
                text("telephone"),
                text("email"),
                text("address1"),
                text("address2"),
                text("address3"),
                text("city"),
                text("county"),
                text("postcode"),
                ColumnDef::new(Alias::new("latitude"))
                    .double()
                    .null()
                    .to_owned(),
                ColumnDef::new(Alias::new("longitude"))
                    .double()
                    .null()
                    .to_owned(),
                ColumnDef::new(Alias::new("active"))
                    .boolean()
                    .not_null()
                    .default(true)
                    .to_owned(),
                ColumnDef::new(Alias::new("published_at"))
                    .date()
                    .null()
                    .to_owned(),
                ColumnDef::new(Alias::new("deleted_at"))
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
            ],
        ),
        table(
            "paediatric_diabetes_networks",
            vec![code("pn_code"), required("name")],
        ),
        {
            // A PDU's lead site (for multi-site units); never cascades.
            let mut t = table(
                "paediatric_diabetes_units",
                vec![
                    code("pz_code"),
                    ColumnDef::new(Alias::new("lead_organisation_id"))
                        .integer()
                        .null()
                        .to_owned(),
                ],
            );
            t.foreign_key(
                ForeignKey::create()
                    .name("fk_pdu_lead_organisation")
                    .from(
                        Alias::new("paediatric_diabetes_units"),
                        Alias::new("lead_organisation_id"),
                    )
                    .to(Alias::new("organisations"), Alias::new("id"))
                    .on_delete(ForeignKeyAction::Restrict)
                    .on_update(ForeignKeyAction::Restrict),
            );
            t
        },
        table(
            "open_uk_networks",
            vec![code("code"), required("name"), text("country")],
        ),
        table("london_boroughs", vec![code("gss_code"), required("name")]),
    ]
}

fn membership_table(name: &str, child: &str, parent: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .col(id())
        .col(ColumnDef::new(Alias::new("child_id")).integer().not_null())
        .col(ColumnDef::new(Alias::new("parent_id")).integer().not_null())
        .col(ColumnDef::new(Alias::new("valid_from")).date().not_null())
        .col(ColumnDef::new(Alias::new("valid_to")).date().null())
        .check(Expr::cust("valid_to IS NULL OR valid_to >= valid_from"))
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{name}_child"))
                .from(Alias::new(name), Alias::new("child_id"))
                .to(Alias::new(child), Alias::new("id"))
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{name}_parent"))
                .from(Alias::new(name), Alias::new("parent_id"))
                .to(Alias::new(parent), Alias::new("id"))
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

/// SQL that makes the database refuse a second current row or overlapping intervals.
fn membership_constraints(backend: DatabaseBackend, name: &str) -> Vec<String> {
    let mut sql = vec![
        format!(
            "CREATE UNIQUE INDEX ux_{name}_current ON {name} (child_id) WHERE valid_to IS NULL"
        ),
        format!("CREATE INDEX ix_{name}_child ON {name} (child_id, valid_from)"),
        format!("CREATE INDEX ix_{name}_parent ON {name} (parent_id, valid_from)"),
    ];
    match backend {
        DatabaseBackend::Postgres => sql.push(format!(
            "ALTER TABLE {name} ADD CONSTRAINT ex_{name}_overlap EXCLUDE USING gist \
             (child_id WITH =, daterange(valid_from, valid_to, '[)') WITH &&)"
        )),
        _ => {
            // Half-open intervals [from, to); empty ones (from = to) never overlap anything.
            let overlap = |extra: &str| {
                format!(
                    "EXISTS (SELECT 1 FROM {name} m WHERE m.child_id = NEW.child_id{extra} \
                     AND m.valid_from < COALESCE(m.valid_to, '9999-12-31') \
                     AND NEW.valid_from < COALESCE(NEW.valid_to, '9999-12-31') \
                     AND m.valid_from < COALESCE(NEW.valid_to, '9999-12-31') \
                     AND NEW.valid_from < COALESCE(m.valid_to, '9999-12-31'))"
                )
            };
            sql.push(format!(
                "CREATE TRIGGER tr_{name}_overlap_insert BEFORE INSERT ON {name} WHEN {} \
                 BEGIN SELECT RAISE(ABORT, 'overlapping membership interval in {name}'); END",
                overlap("")
            ));
            sql.push(format!(
                "CREATE TRIGGER tr_{name}_overlap_update BEFORE UPDATE ON {name} WHEN {} \
                 BEGIN SELECT RAISE(ABORT, 'overlapping membership interval in {name}'); END",
                overlap(" AND m.id <> NEW.id")
            ));
        }
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS btree_gist")
                .await?;
        }
        for t in entity_tables() {
            manager.create_table(t).await?;
        }
        for (name, child, parent) in MEMBERSHIP_TABLES {
            manager
                .create_table(membership_table(name, child, parent))
                .await?;
            for sql in membership_constraints(backend, name) {
                db.execute_unprepared(&sql).await?;
            }
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("change_log"))
                    .col(id())
                    .col(
                        ColumnDef::new(Alias::new("recorded_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("effective_on")).date().not_null())
                    .col(required("actor"))
                    .col(required("source"))
                    .col(required("entity"))
                    .col(required("code"))
                    .col(required("action"))
                    .col(text("field"))
                    .col(ColumnDef::new(Alias::new("before")).text().null())
                    .col(ColumnDef::new(Alias::new("after")).text().null())
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_change_log_entity_code ON change_log (entity, code, effective_on)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("change_log")).to_owned())
            .await?;
        for (name, _, _) in MEMBERSHIP_TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(Alias::new(*name)).to_owned())
                .await?;
        }
        for t in [
            "london_boroughs",
            "open_uk_networks",
            "paediatric_diabetes_units",
            "paediatric_diabetes_networks",
            "organisations",
            "trusts",
            "local_health_boards",
            "integrated_care_boards",
            "nhs_england_regions",
            "countries",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}
