//! Database migrations for nhs-organisations. They run on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20260101_000001_hierarchy;
mod m20260102_000001_admin_keys;
mod m20260103_000001_sync_runs;
mod m20260103_000002_ord_successions;
mod m20261201_000001_change_notify;
mod m20261202_000001_history_events;
mod m20261202_000002_unit_name_active;
mod m20261203_000001_ods_deletions;
mod m20261203_000002_sync_run_full;
mod m20261204_000001_sync_jobs;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_hierarchy::Migration),
            Box::new(m20260102_000001_admin_keys::Migration),
            Box::new(m20260103_000001_sync_runs::Migration),
            Box::new(m20260103_000002_ord_successions::Migration),
            Box::new(m20261201_000001_change_notify::Migration),
            Box::new(m20261202_000001_history_events::Migration),
            Box::new(m20261202_000002_unit_name_active::Migration),
            Box::new(m20261203_000001_ods_deletions::Migration),
            Box::new(m20261203_000002_sync_run_full::Migration),
            Box::new(m20261204_000001_sync_jobs::Migration),
        ]
    }
}
