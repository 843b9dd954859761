//! The change log: every write records who or what made it, when, and the state before and
//! after, in the same transaction as the write.
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde_json::Value;

use crate::entities::change_log;

/// Declares an enum whose values are stored as text (the column stays text, so the stored
/// values are the contract and no migration is needed): `ALL`, `as_str` (the stored value),
/// `parse` (exactly a stored value), and `Display` and `Serialize` as the stored value (so text
/// and JSON reports read as before). It is also a GraphQL enum (variants in
/// SCREAMING_SNAKE_CASE), described by the doc comments.
macro_rules! stored_as_text {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        // The derive comes first: `#[graphql(...)]` among the attributes is its helper.
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The value as stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value stored as `text` (exact match); `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_as_text;

stored_as_text! {
    /// What made a write (`change_log.source`).
    pub enum ChangeSource {
        /// Loading the bundled reference data (stored as `seed`).
        Seed = "seed",
        /// The ORD sync (stored as `ord-sync`).
        OrdSync = "ord-sync",
        /// A merger: sites created, deleted or restored, memberships updated (`merger`).
        Merger = "merger",
        /// A dated reorganisation (`reorganisation`).
        Reorganisation = "reorganisation",
        /// The bundled history or a history file (`history`).
        History = "history",
    }
}

stored_as_text! {
    /// What a write did to its record (`change_log.action`).
    pub enum ChangeAction {
        /// The record was created (stored as `create`).
        Create = "create",
        /// A field changed (`update`; `field` names it).
        Update = "update",
        /// The record was (soft) deleted (`delete`).
        Delete = "delete",
        /// A deleted record came back (`restore`).
        Restore = "restore",
        /// A membership changed (`membership`; `field` names the edge).
        Membership = "membership",
        /// A succession was recorded (`succession`).
        Succession = "succession",
    }
}

stored_as_text! {
    /// A kind of record (`change_log.entity`, `ord_successions.entity`).
    pub enum RecordKind {
        /// A hospital or community site (stored as `organisation`).
        Organisation = "organisation",
        /// An NHS trust (`trust`).
        Trust = "trust",
        /// A Welsh Local Health Board (`local_health_board`).
        LocalHealthBoard = "local_health_board",
        /// An Integrated Care Board (`integrated_care_board`).
        IntegratedCareBoard = "integrated_care_board",
        /// An NHS England region (`nhs_england_region`).
        NhsEnglandRegion = "nhs_england_region",
        /// A Paediatric Diabetes Unit (`paediatric_diabetes_unit`).
        PaediatricDiabetesUnit = "paediatric_diabetes_unit",
        /// A Paediatric Diabetes Network (`paediatric_diabetes_network`).
        PaediatricDiabetesNetwork = "paediatric_diabetes_network",
        /// An OPEN UK network (`open_uk_network`).
        OpenUkNetwork = "open_uk_network",
        /// A London borough (`london_borough`).
        LondonBorough = "london_borough",
        /// A country (`country`).
        Country = "country",
    }
}

/// Actors that are not admin key names: the seed, the command line, the sync schedule.
const PUBLIC_ACTORS: [&str; 3] = ["seed", "cli", "scheduler"];

/// What clients without an admin key see instead of a key's name.
pub const HIDDEN_ACTOR: &str = "admin";

/// Whether an actor may be shown to anyone (key names are shown to admins only).
pub fn is_public_actor(actor: &str) -> bool {
    PUBLIC_ACTORS.contains(&actor)
}

/// Who makes a set of writes, and when they take effect.
#[derive(Clone, Debug)]
pub struct ChangeContext {
    pub actor: String,
    pub source: ChangeSource,
    pub recorded_at: DateTime<Utc>,
    pub effective_on: NaiveDate,
}

impl ChangeContext {
    pub fn new(actor: impl Into<String>, source: ChangeSource, effective_on: NaiveDate) -> Self {
        Self {
            actor: actor.into(),
            source,
            recorded_at: Utc::now(),
            effective_on,
        }
    }
}

/// One change to record.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The kind of the changed record.
    pub entity: RecordKind,
    /// Natural code of the changed record.
    pub code: String,
    pub action: ChangeAction,
    /// Changed field or edge name, when the change is about one.
    pub field: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Overrides the context's effective date (e.g. ORD's change date).
    pub effective_on: Option<NaiveDate>,
}

impl Change {
    pub fn new(entity: RecordKind, code: impl Into<String>, action: ChangeAction) -> Self {
        Self {
            entity,
            code: code.into(),
            action,
            field: None,
            before: None,
            after: None,
            effective_on: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn before(mut self, v: Option<Value>) -> Self {
        self.before = v;
        self
    }

    pub fn after(mut self, v: Option<Value>) -> Self {
        self.after = v;
        self
    }

    pub fn effective_on(mut self, d: NaiveDate) -> Self {
        self.effective_on = Some(d);
        self
    }
}

/// Inserts the changes (in batches; SQLite caps bound parameters per statement).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    ctx: &ChangeContext,
    changes: Vec<Change>,
) -> Result<(), DbErr> {
    let rows: Vec<change_log::ActiveModel> = changes
        .into_iter()
        .map(|c| change_log::ActiveModel {
            recorded_at: Set(ctx.recorded_at),
            effective_on: Set(c.effective_on.unwrap_or(ctx.effective_on)),
            actor: Set(ctx.actor.clone()),
            source: Set(ctx.source.as_str().to_string()),
            entity: Set(c.entity.as_str().to_string()),
            code: Set(c.code),
            action: Set(c.action.as_str().to_string()),
            field: Set(c.field),
            before: Set(c.before.map(|v| v.to_string())),
            after: Set(c.after.map(|v| v.to_string())),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        change_log::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored text is what the database already holds: it must not change.
    #[test]
    fn stored_values_are_unchanged_and_round_trip() {
        let sources: Vec<&str> = ChangeSource::ALL.map(ChangeSource::as_str).to_vec();
        assert_eq!(
            sources,
            ["seed", "ord-sync", "merger", "reorganisation", "history"]
        );
        let actions: Vec<&str> = ChangeAction::ALL.map(ChangeAction::as_str).to_vec();
        assert_eq!(
            actions,
            [
                "create",
                "update",
                "delete",
                "restore",
                "membership",
                "succession"
            ]
        );
        assert_eq!(RecordKind::ALL.len(), 10);
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        for source in ChangeSource::ALL {
            assert_eq!(ChangeSource::parse(source.as_str()), Some(source));
        }
        for action in ChangeAction::ALL {
            assert_eq!(ChangeAction::parse(action.as_str()), Some(action));
        }
        // Parsing is exact: filters that forgive case do so before parsing.
        assert_eq!(ChangeSource::parse("SEED"), None);
        assert_eq!(
            serde_json::to_value(ChangeSource::OrdSync).ok(),
            Some(serde_json::json!("ord-sync"))
        );
    }
}
