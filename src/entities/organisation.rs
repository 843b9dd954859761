//! A hospital or community site.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key)]
    #[serde(skip)]
    pub id: i32,
    #[sea_orm(unique)]
    pub ods_code: String,
    pub name: String,
    pub website: Option<String>,
    pub telephone: Option<String>,
    pub email: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub address3: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub postcode: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub active: bool,
    pub published_at: Option<Date>,
    /// Set when a merger deletes the site; the row and its history stay.
    pub deleted_at: Option<DateTimeUtc>,
    /// The day ODS deleted the record (its `notifications`); cleared when it is republished.
    pub ods_deleted_on: Option<Date>,
    /// ODS's reason for that deletion (e.g. `HUMAN ERROR`).
    pub ods_deletion_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
