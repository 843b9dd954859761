//! A succession (merger or re-coding) ORD lists on a record we track.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ord_successions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The tracked record whose ORD entry lists the succession.
    pub ods_code: String,
    /// Its entity kind (`organisation`, `trust`, ...).
    pub entity: String,
    /// `predecessor` (the target was replaced by `ods_code`) or `successor`.
    pub kind: String,
    pub target_code: String,
    pub target_primary_role: Option<String>,
    pub effective_on: Option<Date>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
