//! A history event already applied (`crate::history`), by its key.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "applied_history_events")]
pub struct Model {
    /// `date kind code`, e.g. `2024-11-01 trust_acquisition RAX`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub effective_on: Date,
    pub kind: String,
    pub actor: String,
    pub applied_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
