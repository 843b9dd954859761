//! The change log: every write records who or what made it, when, and the state before and
//! after, in the same transaction as the write.
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde_json::Value;

use crate::entities::change_log;

/// Sources of writes, as stored in `change_log.source`.
pub mod source {
    pub const SEED: &str = "seed";
    pub const ORD_SYNC: &str = "ord-sync";
    pub const MERGER: &str = "merger";
    pub const REORGANISATION: &str = "reorganisation";
    pub const HISTORY: &str = "history";
    /// Every source, for checking a filter.
    pub const ALL: [&str; 5] = [SEED, ORD_SYNC, MERGER, REORGANISATION, HISTORY];
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
    pub source: &'static str,
    pub recorded_at: DateTime<Utc>,
    pub effective_on: NaiveDate,
}

impl ChangeContext {
    pub fn new(actor: impl Into<String>, source: &'static str, effective_on: NaiveDate) -> Self {
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
    /// Entity kind, e.g. `organisation`, `trust`.
    pub entity: &'static str,
    /// Natural code of the changed record.
    pub code: String,
    /// `create`, `update`, `delete`, `restore`, `membership`.
    pub action: &'static str,
    /// Changed field or edge name, when the change is about one.
    pub field: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Overrides the context's effective date (e.g. ORD's change date).
    pub effective_on: Option<NaiveDate>,
}

impl Change {
    pub fn new(entity: &'static str, code: impl Into<String>, action: &'static str) -> Self {
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
            source: Set(ctx.source.to_string()),
            entity: Set(c.entity.to_string()),
            code: Set(c.code),
            action: Set(c.action.to_string()),
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
