//! One background sync (`startSync` or the schedule): its state, progress and report.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// The `since` asked for; `None` = the default.
    pub since: Option<Date>,
    /// A full reconcile. Not `full`: a reserved word in PostgreSQL.
    pub full_sync: bool,
    pub dry_run: bool,
    pub actor: String,
    /// `admin` or `schedule`.
    pub triggered_by: String,
    pub requested_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub progress_done: i32,
    pub progress_total: i32,
    pub error: Option<String>,
    /// The finished sync's report as JSON.
    pub report: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
