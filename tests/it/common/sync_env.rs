//! What the sync tests share: a seeded database, a mock ORD, the app over both (as `serve`
//! builds it) and an admin key.
use serde_json::Value;

use super::ord::MockOrd;
use super::{gql_admin, TestDb};
use nhs_organisations::graphql::AppSchema;

pub struct SyncEnv {
    pub db: TestDb,
    pub ord: MockOrd,
    pub schema: AppSchema,
    /// An admin key named as the caller asked (the name is the actor in reports).
    pub key: String,
}

impl SyncEnv {
    /// A fresh seeded database and the app over `ord`, with an admin key named `admin`.
    pub async fn over(ord: MockOrd, admin: &str) -> SyncEnv {
        let db = TestDb::seeded().await;
        let key = nhs_organisations::auth::create_key(&db.db, admin)
            .await
            .expect("admin key");
        let schema = super::app(db.db.clone(), Some(ord.client.clone()))
            .await
            .schema;
        SyncEnv {
            db,
            ord,
            schema,
            key,
        }
    }

    /// The same database, now served over another mock ORD.
    pub async fn with_ord(self, ord: MockOrd) -> SyncEnv {
        let schema = super::app(self.db.db.clone(), Some(ord.client.clone()))
            .await
            .schema;
        SyncEnv {
            ord,
            schema,
            ..self
        }
    }

    /// Runs `syncFromOrd` with `args` (e.g. `since: "2025-01-01"`, or empty), selecting
    /// `fields`: the whole response.
    pub async fn sync_from_ord(&self, args: &str, fields: &str) -> Value {
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({args})")
        };
        gql_admin(
            &self.schema,
            &format!("mutation {{ syncFromOrd{args} {{ {fields} }} }}"),
            &self.key,
        )
        .await
    }
}
