//! One recorded write: who or what made it, when, and the state before and after.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    #[serde(skip)]
    pub id: i32,
    pub recorded_at: DateTimeUtc,
    /// The day the change takes effect (history and `asOf` use this).
    pub effective_on: Date,
    pub actor: String,
    pub source: String,
    pub entity: String,
    pub code: String,
    pub action: String,
    pub field: Option<String>,
    /// JSON snapshot (whole record or membership) before the write.
    pub before: Option<String>,
    /// JSON snapshot after the write.
    pub after: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
