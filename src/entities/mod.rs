//! Plain sea-orm models, one per table. Edges between them are membership rows (`crate::memberships`).
pub mod admin_key;
pub mod applied_history_event;
pub mod change_log;
pub mod country;
pub mod integrated_care_board;
pub mod local_health_board;
pub mod london_borough;
pub mod nhs_england_region;
pub mod open_uk_network;
pub mod ord_succession;
pub mod organisation;
pub mod paediatric_diabetes_network;
pub mod paediatric_diabetes_unit;
pub mod sync_job;
pub mod sync_run;
pub mod trust;
