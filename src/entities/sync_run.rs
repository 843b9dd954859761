//! One applied ORD sync (the newest is the watermark for the next one).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    /// The `LastChangeDate` asked of ORD.
    pub since: Date,
    /// The day the sync ran; the next default `since` is the day after.
    pub synced_on: Date,
    pub actor: String,
    pub listed: i32,
    pub untracked: i32,
    pub fetched: i32,
    pub changes: i32,
    pub warnings: i32,
    /// The full report as JSON.
    pub report: Option<String>,
    /// A full reconcile (every tracked code fetched). Not `full`: a reserved word in PostgreSQL.
    pub full_sync: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
