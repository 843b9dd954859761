//! An NHS trust (the parent of English sites).
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "trusts")]
pub struct Model {
    #[sea_orm(primary_key)]
    #[serde(skip)]
    pub id: i32,
    #[sea_orm(unique)]
    pub ods_code: String,
    pub name: String,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    pub telephone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
    pub published_at: Option<Date>,
    /// The day ODS deleted the record (its `notifications`); cleared when it is republished.
    pub ods_deleted_on: Option<Date>,
    /// ODS's reason for that deletion (e.g. `HUMAN ERROR`).
    pub ods_deletion_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
