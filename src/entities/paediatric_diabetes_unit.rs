//! A Paediatric Diabetes Unit (NPDA PZ code).
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "paediatric_diabetes_units")]
pub struct Model {
    #[sea_orm(primary_key)]
    #[serde(skip)]
    pub id: i32,
    #[sea_orm(unique)]
    pub pz_code: String,
    /// The lead site of a multi-site unit, when one is named.
    pub lead_organisation_id: Option<i32>,
    /// The unit's own name, when it has one (otherwise it is known by its lead site's trust).
    pub name: Option<String>,
    /// False once the unit has closed (merged into or split into others).
    pub active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
